//! A strict, minimal X.509 certificate reader: the fields Sigstore verification needs,
//! each kept as its DER bytes so names compare byte for byte and the TBS can be rebuilt
//! without the SCT extension.

use super::error::{Check, SigstoreError};
use super::sigalg::VerifyKey;
use super::time::{UnixTime, parse_der_time};
use crate::attest::der;

/// `basicConstraints`.
pub(crate) const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
/// `keyUsage`.
pub(crate) const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
/// `extKeyUsage`.
pub(crate) const OID_EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
/// `subjectAltName`.
pub(crate) const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];
/// The embedded SCT list (1.3.6.1.4.1.11129.2.4.2).
pub(crate) const OID_SCT_LIST: &[u8] =
    &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02];
/// id-kp-codeSigning.
pub(crate) const OID_KP_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
/// id-kp-timeStamping.
pub(crate) const OID_KP_TIME_STAMPING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

const CONTEXT_0: u8 = 0xa0;
const CONTEXT_3: u8 = 0xa3;
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;

/// One extension, as DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Extension {
    /// The extension OID (content bytes).
    pub(crate) oid: Vec<u8>,
    /// Whether it is marked critical.
    pub(crate) critical: bool,
    /// The extnValue OCTET STRING's contents.
    pub(crate) value: Vec<u8>,
    /// The whole Extension element.
    raw: Vec<u8>,
}

/// A parsed certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Certificate {
    /// The whole certificate DER.
    pub(crate) der: Vec<u8>,
    /// The TBSCertificate element (tag and length included): what the issuer signed.
    pub(crate) tbs: Vec<u8>,
    /// TBS fields before the extensions, as DER (for rebuilding the precertificate TBS).
    tbs_prefix: Vec<u8>,
    /// The issuer Name DER.
    pub(crate) issuer: Vec<u8>,
    /// The subject Name DER.
    pub(crate) subject: Vec<u8>,
    /// notBefore, Unix seconds.
    pub(crate) not_before: UnixTime,
    /// notAfter, Unix seconds.
    pub(crate) not_after: UnixTime,
    /// The SubjectPublicKeyInfo DER.
    pub(crate) spki: Vec<u8>,
    /// The outer signatureAlgorithm OID.
    pub(crate) sig_alg: Vec<u8>,
    /// The signature bits.
    pub(crate) signature: Vec<u8>,
    /// The extensions, in order.
    pub(crate) extensions: Vec<Extension>,
}

fn err(what: &str) -> SigstoreError {
    SigstoreError::new(Check::Certificate, format!("malformed certificate: {what}"))
}

fn derr(what: &'static str) -> impl Fn(der::DerError) -> SigstoreError {
    move |e| err(&format!("{what}: {e}"))
}

fn alg_oid(alg: &[u8]) -> Result<Vec<u8>, SigstoreError> {
    let mut r = der::Reader::new(alg);
    Ok(r.read(der::OID).map_err(derr("algorithm"))?.to_vec())
}

impl Certificate {
    /// Parses a DER certificate.
    pub(crate) fn from_der(data: &[u8]) -> Result<Certificate, SigstoreError> {
        let outer = der::read_single(data, der::SEQUENCE).map_err(derr("certificate"))?;
        let mut r = der::Reader::new(outer);
        let tbs = r.read_raw(der::SEQUENCE).map_err(derr("tbsCertificate"))?;
        let sig_alg = alg_oid(r.read(der::SEQUENCE).map_err(derr("signatureAlgorithm"))?)?;
        let bits = r.read(der::BIT_STRING).map_err(derr("signature"))?;
        r.finish().map_err(derr("certificate"))?;
        let signature = match bits.split_first() {
            Some((0, s)) => s.to_vec(),
            _ => return Err(err("signature has unused bits")),
        };
        let tbs_body = der::read_single(tbs, der::SEQUENCE).map_err(derr("tbsCertificate"))?;
        let mut t = der::Reader::new(tbs_body);
        let start = tbs_body.len();
        if t.peek_tag() == Some(CONTEXT_0) {
            t.read(CONTEXT_0).map_err(derr("version"))?;
        }
        t.read(der::INTEGER).map_err(derr("serialNumber"))?;
        let inner_alg = alg_oid(t.read(der::SEQUENCE).map_err(derr("signature"))?)?;
        if inner_alg != sig_alg {
            return Err(err("the two signature algorithms differ"));
        }
        let issuer = t.read_raw(der::SEQUENCE).map_err(derr("issuer"))?.to_vec();
        let validity = t.read(der::SEQUENCE).map_err(derr("validity"))?;
        let mut v = der::Reader::new(validity);
        let (tag, nb) = v.read_any().map_err(derr("notBefore"))?;
        let not_before = parse_der_time(tag, nb).map_err(|_| err("notBefore"))?;
        let (tag, na) = v.read_any().map_err(derr("notAfter"))?;
        let not_after = parse_der_time(tag, na).map_err(|_| err("notAfter"))?;
        v.finish().map_err(derr("validity"))?;
        let subject = t.read_raw(der::SEQUENCE).map_err(derr("subject"))?.to_vec();
        let spki = t
            .read_raw(der::SEQUENCE)
            .map_err(derr("subjectPublicKeyInfo"))?
            .to_vec();
        let mut prefix_end = start - t.remaining_len();
        let mut extensions = Vec::new();
        while !t.is_empty() {
            let before = t.remaining_len();
            let (tag, content) = t.read_any().map_err(derr("tbsCertificate"))?;
            match tag {
                0x81 | 0x82 => prefix_end += before - t.remaining_len(),
                CONTEXT_3 => extensions = read_extensions(content)?,
                _ => return Err(err("unexpected TBS field")),
            }
        }
        Ok(Certificate {
            der: data.to_vec(),
            tbs: tbs.to_vec(),
            tbs_prefix: tbs_body[..prefix_end].to_vec(),
            issuer,
            subject,
            not_before,
            not_after,
            spki,
            sig_alg,
            signature,
            extensions,
        })
    }

    /// The extension with `oid`, if present.
    pub(crate) fn extension(&self, oid: &[u8]) -> Option<&Extension> {
        self.extensions.iter().find(|e| e.oid == oid)
    }

    /// Whether `issuer`'s key signed this certificate (names must match too).
    pub(crate) fn is_issued_by(&self, issuer: &Certificate) -> bool {
        if self.issuer != issuer.subject {
            return false;
        }
        match VerifyKey::from_spki(&issuer.spki) {
            Ok(key) => key.verify_with_oid(&self.sig_alg, &self.tbs, &self.signature),
            Err(_) => false,
        }
    }

    /// Whether the certificate is self-signed (a root).
    pub(crate) fn is_self_signed(&self) -> bool {
        self.is_issued_by(self)
    }

    /// Whether `t` lies within notBefore..=notAfter.
    pub(crate) fn valid_at(&self, t: UnixTime) -> bool {
        t >= self.not_before && t <= self.not_after
    }

    /// `basicConstraints.cA`.
    pub(crate) fn is_ca(&self) -> Result<bool, SigstoreError> {
        let Some(ext) = self.extension(OID_BASIC_CONSTRAINTS) else {
            return Ok(false);
        };
        let body = der::read_single(&ext.value, der::SEQUENCE).map_err(derr("basicConstraints"))?;
        let mut r = der::Reader::new(body);
        if r.peek_tag() == Some(BOOLEAN) {
            let b = r.read(BOOLEAN).map_err(derr("basicConstraints"))?;
            return Ok(b == [0xff]);
        }
        Ok(false)
    }

    /// Whether keyUsage (if present) allows digitalSignature.
    pub(crate) fn allows_digital_signature(&self) -> Result<bool, SigstoreError> {
        let Some(ext) = self.extension(OID_KEY_USAGE) else {
            return Ok(true);
        };
        let bits = der::read_single(&ext.value, der::BIT_STRING).map_err(derr("keyUsage"))?;
        Ok(bits.get(1).is_some_and(|b| b & 0x80 != 0))
    }

    /// The extended key usages, if the extension is present.
    pub(crate) fn ext_key_usages(&self) -> Result<Option<Vec<Vec<u8>>>, SigstoreError> {
        let Some(ext) = self.extension(OID_EXT_KEY_USAGE) else {
            return Ok(None);
        };
        let body = der::read_single(&ext.value, der::SEQUENCE).map_err(derr("extKeyUsage"))?;
        let mut r = der::Reader::new(body);
        let mut out = Vec::new();
        while !r.is_empty() {
            out.push(r.read(der::OID).map_err(derr("extKeyUsage"))?.to_vec());
        }
        Ok(Some(out))
    }

    /// The TBSCertificate with the SCT-list extension removed: what a CT log signed
    /// for the precertificate (RFC 6962 §3.2).
    pub(crate) fn precert_tbs(&self) -> Vec<u8> {
        let exts: Vec<u8> = self
            .extensions
            .iter()
            .filter(|e| e.oid != OID_SCT_LIST)
            .flat_map(|e| e.raw.iter().copied())
            .collect();
        let mut body = self.tbs_prefix.clone();
        if !exts.is_empty() {
            body.extend(der::write(CONTEXT_3, &der::write(der::SEQUENCE, &exts)));
        }
        der::write(der::SEQUENCE, &body)
    }
}

fn read_extensions(content: &[u8]) -> Result<Vec<Extension>, SigstoreError> {
    let list = der::read_single(content, der::SEQUENCE).map_err(derr("extensions"))?;
    let mut r = der::Reader::new(list);
    let mut out: Vec<Extension> = Vec::new();
    while !r.is_empty() {
        let raw = r.read_raw(der::SEQUENCE).map_err(derr("extension"))?;
        let mut e =
            der::Reader::new(der::read_single(raw, der::SEQUENCE).map_err(derr("extension"))?);
        let oid = e.read(der::OID).map_err(derr("extension"))?.to_vec();
        let critical = if e.peek_tag() == Some(BOOLEAN) {
            e.read(BOOLEAN).map_err(derr("extension"))? == [0xff]
        } else {
            false
        };
        let value = e.read(OCTET_STRING).map_err(derr("extension"))?.to_vec();
        e.finish().map_err(derr("extension"))?;
        if out.iter().any(|x| x.oid == oid) {
            return Err(err("an extension appears twice"));
        }
        out.push(Extension {
            oid,
            critical,
            value,
            raw: raw.to_vec(),
        });
    }
    Ok(out)
}
