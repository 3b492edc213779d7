//! Signed certificate timestamps embedded in the leaf (RFC 6962 §3.3): at least one must
//! be signed by a CT log of the trusted root over the precertificate the log saw.

use super::error::{Check, SigstoreError, fail};
use super::sigalg::{Hash, sha256};
use super::trusted_root::TrustedRoot;
use super::x509::{Certificate, OID_SCT_LIST};
use der::Decode;
use der::asn1::OctetStringRef;

fn bad(reason: &str) -> SigstoreError {
    SigstoreError::new(Check::Sct, reason.to_owned())
}

/// A TLS-style reader.
struct Tls<'a>(&'a [u8]);

impl<'a> Tls<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SigstoreError> {
        if self.0.len() < n {
            return Err(bad("the SCT list is truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn uint(&mut self, n: usize) -> Result<u64, SigstoreError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn vec16(&mut self) -> Result<&'a [u8], SigstoreError> {
        let n = self.uint(2)? as usize;
        self.take(n)
    }
}

struct Sct<'a> {
    log_id: &'a [u8],
    timestamp_ms: u64,
    extensions: &'a [u8],
    signature: &'a [u8],
}

fn parse_list(ext_value: &[u8]) -> Result<Vec<Sct<'_>>, SigstoreError> {
    let tls = <&OctetStringRef>::from_der(ext_value)
        .map_err(|_| bad("the SCT extension is not an OCTET STRING"))?
        .as_bytes();
    let mut list = Tls(tls);
    let mut items = Tls(list.vec16()?);
    if !list.0.is_empty() {
        return Err(bad("trailing bytes after the SCT list"));
    }
    let mut out = Vec::new();
    while !items.0.is_empty() {
        let mut s = Tls(items.vec16()?);
        if s.uint(1)? != 0 {
            continue; // an SCT version custody does not know: not counted
        }
        let log_id = s.take(32)?;
        let timestamp_ms = s.uint(8)?;
        let extensions = s.vec16()?;
        let _hash = s.uint(1)?;
        let _sig_alg = s.uint(1)?;
        let signature = s.vec16()?;
        if !s.0.is_empty() {
            return Err(bad("trailing bytes in an SCT"));
        }
        out.push(Sct {
            log_id,
            timestamp_ms,
            extensions,
            signature,
        });
    }
    Ok(out)
}

/// Verifies that one SCT in `leaf` is signed by a CT log of `root` (trusted at the SCT's
/// time) over the precertificate issued by `issuer`.
pub(crate) fn verify_scts(
    leaf: &Certificate,
    issuer: &Certificate,
    root: &TrustedRoot,
) -> Result<(), SigstoreError> {
    let Some(ext) = leaf.extension(OID_SCT_LIST) else {
        return fail(
            Check::Sct,
            "the certificate carries no signed certificate timestamp",
        );
    };
    let scts = parse_list(&ext.value)?;
    let tbs = leaf.precert_tbs()?;
    let issuer_key_hash = sha256(&issuer.spki);
    let mut known_log = false;
    for sct in &scts {
        let Some(log) = root.ctlog(sct.log_id) else {
            continue;
        };
        known_log = true;
        let mut signed = Vec::with_capacity(tbs.len() + 64);
        signed.extend_from_slice(&[0, 0]); // v1, certificate_timestamp
        signed.extend_from_slice(&sct.timestamp_ms.to_be_bytes());
        signed.extend_from_slice(&[0, 1]); // precert_entry
        signed.extend_from_slice(&issuer_key_hash);
        let len = tbs.len() as u32;
        signed.extend_from_slice(&len.to_be_bytes()[1..]);
        signed.extend_from_slice(&tbs);
        signed.extend_from_slice(&(sct.extensions.len() as u16).to_be_bytes());
        signed.extend_from_slice(sct.extensions);
        let secs = (sct.timestamp_ms / 1000) as i64;
        if log.key.verify(Hash::Sha256, &signed, sct.signature) && log.validity.contains(secs) {
            return Ok(());
        }
    }
    if known_log {
        fail(
            Check::Sct,
            "no signed certificate timestamp verifies under its CT log's key",
        )
    } else {
        fail(
            Check::Sct,
            "no signed certificate timestamp is from a CT log of the trusted root",
        )
    }
}
