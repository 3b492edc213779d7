//! The trusted root (`trusted_root.json`, Sigstore protobuf-specs `TrustedRoot`): the
//! transparency logs, certificate authorities, CT logs and timestamp authorities a
//! verifier trusts, each with the time range it is trusted for.

use super::error::{Check, SigstoreError, fail};
use super::sigalg::VerifyKey;
use super::time::{Validity, parse_rfc3339};
use super::x509::Certificate;
use crate::attest::b64;
use crate::attest::keys::rsa_spki;
use serde_json::Value;

/// The public-good Sigstore production trusted root, as shipped by sigstore-python
/// (the built-in default).
const PUBLIC_GOOD: &str = include_str!("public_good_trusted_root.json");

/// A transparency or CT log key.
#[derive(Debug, Clone)]
pub(crate) struct LogKey {
    /// The log id (SHA-256 of the key's SPKI for Rekor v1 and CT; the signed-note key
    /// id for Rekor v2).
    pub(crate) log_id: Vec<u8>,
    /// The log's key.
    pub(crate) key: VerifyKey,
    /// When entries signed by this key are trusted.
    pub(crate) validity: Validity,
    /// The log's URL (for messages).
    pub(crate) base_url: String,
}

/// A certificate or timestamp authority.
#[derive(Debug, Clone)]
pub(crate) struct Authority {
    /// The authority's URI (for messages).
    pub(crate) uri: String,
    /// The chain, leaf-most first, root last.
    pub(crate) chain: Vec<Certificate>,
    /// When the authority is trusted.
    pub(crate) validity: Validity,
}

/// A trusted root: whom custody believes for keyless verification.
#[derive(Debug, Clone)]
pub struct TrustedRoot {
    pub(crate) tlogs: Vec<LogKey>,
    pub(crate) ctlogs: Vec<LogKey>,
    pub(crate) cas: Vec<Authority>,
    pub(crate) tsas: Vec<Authority>,
}

fn bad(reason: impl Into<String>) -> SigstoreError {
    SigstoreError::new(Check::TrustedRoot, reason)
}

fn validity(v: Option<&Value>, what: &str) -> Result<Validity, SigstoreError> {
    let v = v.ok_or_else(|| bad(format!("{what} has no validFor")))?;
    let start = v
        .get("start")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{what}: validFor has no start")))?;
    let start = parse_rfc3339(start).ok_or_else(|| bad(format!("{what}: bad validFor.start")))?;
    let end = match v.get("end") {
        None | Some(Value::Null) => None,
        Some(e) => Some(
            e.as_str()
                .and_then(parse_rfc3339)
                .ok_or_else(|| bad(format!("{what}: bad validFor.end")))?,
        ),
    };
    Ok(Validity { start, end })
}

fn b64_field(v: Option<&Value>, what: &str) -> Result<Vec<u8>, SigstoreError> {
    let text = v
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{what} is missing")))?;
    b64::decode(text).map_err(|_| bad(format!("{what} is not base64")))
}

/// The entries of the list `field` of the root (none when absent), numbered.
fn entries<'a>(root: &'a Value, field: &str) -> impl Iterator<Item = (usize, &'a Value)> {
    root.get(field)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
}

fn logs(root: &Value, field: &str) -> Result<Vec<LogKey>, SigstoreError> {
    let mut out = Vec::new();
    for (i, log) in entries(root, field) {
        let what = format!("{field}[{i}]");
        let pk = log
            .get("publicKey")
            .ok_or_else(|| bad(format!("{what} has no publicKey")))?;
        let validity = validity(pk.get("validFor"), &format!("{what}.publicKey"))?;
        let mut spki = b64_field(pk.get("rawBytes"), &format!("{what}.publicKey.rawBytes"))?;
        let details = pk.get("keyDetails").and_then(Value::as_str).unwrap_or("");
        if details.starts_with("PKCS1_RSA") {
            spki = rsa_spki(&spki).map_err(|e| bad(format!("{what}: {e}")))?;
        }
        let key = VerifyKey::from_spki(&spki).map_err(|e| bad(format!("{what}: {e}")))?;
        let log_id = b64_field(
            log.get("logId").and_then(|l| l.get("keyId")),
            &format!("{what}.logId.keyId"),
        )?;
        out.push(LogKey {
            log_id,
            key,
            validity,
            base_url: log
                .get("baseUrl")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        });
    }
    Ok(out)
}

fn authorities(root: &Value, field: &str) -> Result<Vec<Authority>, SigstoreError> {
    let mut out = Vec::new();
    for (i, ca) in entries(root, field) {
        let what = format!("{field}[{i}]");
        let validity = validity(ca.get("validFor"), &what)?;
        let certs = ca
            .get("certChain")
            .and_then(|c| c.get("certificates"))
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("{what} has no certChain")))?;
        let mut chain = Vec::new();
        for (j, c) in certs.iter().enumerate() {
            let der = b64_field(c.get("rawBytes"), &format!("{what}.certChain[{j}]"))?;
            chain.push(
                Certificate::from_der(&der)
                    .map_err(|e| bad(format!("{what}.certChain[{j}]: {}", e.reason)))?,
            );
        }
        if chain.is_empty() {
            return Err(bad(format!("{what} has an empty certChain")));
        }
        out.push(Authority {
            uri: ca
                .get("uri")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            chain,
            validity,
        });
    }
    Ok(out)
}

impl TrustedRoot {
    /// Reads a `trusted_root.json`. Every log key and authority must say from when it is
    /// trusted (`validFor.start`); a missing bound is an error, never "forever".
    pub fn from_json(bytes: &[u8]) -> Result<TrustedRoot, SigstoreError> {
        let root: Value =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        let media_type = root.get("mediaType").and_then(Value::as_str).unwrap_or("");
        if !media_type.starts_with("application/vnd.dev.sigstore.trustedroot") {
            return fail(
                Check::TrustedRoot,
                format!("unexpected mediaType {media_type:?}"),
            );
        }
        let trusted = TrustedRoot {
            tlogs: logs(&root, "tlogs")?,
            ctlogs: logs(&root, "ctlogs")?,
            cas: authorities(&root, "certificateAuthorities")?,
            tsas: authorities(&root, "timestampAuthorities")?,
        };
        if trusted.tlogs.is_empty() && trusted.tsas.is_empty() {
            return fail(
                Check::TrustedRoot,
                "neither a transparency log nor a timestamp authority is trusted",
            );
        }
        Ok(trusted)
    }

    /// The built-in default: the Sigstore public-good production root.
    pub fn public_good() -> Result<TrustedRoot, SigstoreError> {
        TrustedRoot::from_json(PUBLIC_GOOD.as_bytes())
    }

    /// The transparency log with `log_id`.
    pub(crate) fn tlog(&self, log_id: &[u8]) -> Option<&LogKey> {
        self.tlogs.iter().find(|l| l.log_id == log_id)
    }

    /// The CT log with `log_id`.
    pub(crate) fn ctlog(&self, log_id: &[u8]) -> Option<&LogKey> {
        self.ctlogs.iter().find(|l| l.log_id == log_id)
    }

    /// A one-line summary (counts of each kind of trusted party).
    pub fn summary(&self) -> String {
        format!(
            "{} transparency log(s), {} certificate authority(ies), {} CT log(s), {} timestamp authority(ies)",
            self.tlogs.len(),
            self.cas.len(),
            self.ctlogs.len(),
            self.tsas.len()
        )
    }
}
