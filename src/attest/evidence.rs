//! Opening one piece of evidence, the one way the engine and `custody attestations`
//! read it: the blob (a DSSE envelope, or a Sigstore bundle carrying one) → its
//! [`Envelope`] ([`open_envelope`]) → verified by the caller's keys or attestors →
//! the in-toto [`Statement`] of the verified payload ([`open_statement`]) → the image
//! digest it is about ([`subject_among`]). Each refusal carries its category.

use super::{Envelope, INTOTO_PAYLOAD_TYPE, Statement, StatementError, Verified};
use crate::category::Category;
use crate::digest::Digest;
use serde::Serialize;
use std::fmt;

/// The format of a piece of evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvidenceFormat {
    /// A DSSE envelope (`application/vnd.dsse.envelope.v1+json`).
    DsseEnvelope,
    /// A Sigstore bundle v0.x (`application/vnd.dev.sigstore.bundle.v0.3+json`).
    SigstoreBundle,
}

impl EvidenceFormat {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceFormat::DsseEnvelope => "dsse-envelope",
            EvidenceFormat::SigstoreBundle => "sigstore-bundle",
        }
    }
}

impl fmt::Display for EvidenceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a piece of evidence could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The blob is not a readable envelope (or bundle with one): `bad-signature`.
    #[error("{0}")]
    Unreadable(String),
    /// The signed payload is of another type than an in-toto statement: `bad-request`.
    #[error("signed payload type {0:?} is not an in-toto statement")]
    NotInToto(String),
    /// The signed payload claims to be a statement but is not a valid one:
    /// `bad-request`.
    #[error("signed payload is not an in-toto statement: {0}")]
    BadStatement(StatementError),
}

impl OpenError {
    /// The denial category: an unreadable envelope cannot carry a valid signature; a
    /// validly signed payload that is not a statement is a request custody cannot use.
    pub fn category(&self) -> Category {
        match self {
            OpenError::Unreadable(_) => Category::BadSignature,
            OpenError::NotInToto(_) | OpenError::BadStatement(_) => Category::BadRequest,
        }
    }
}

/// The DSSE envelope `bytes` carry in `format`. A Sigstore bundle is read for its
/// `dsseEnvelope` only (what the signature covers); its verification material is the
/// keyless verifier's business.
pub fn open_envelope(format: EvidenceFormat, bytes: &[u8]) -> Result<Envelope, OpenError> {
    let unreadable = |e: String| OpenError::Unreadable(e);
    match format {
        EvidenceFormat::DsseEnvelope => {
            Envelope::from_json(bytes).map_err(|e| unreadable(e.to_string()))
        }
        EvidenceFormat::SigstoreBundle => {
            let v: serde_json::Value = serde_json::from_slice(bytes)
                .map_err(|e| unreadable(format!("not a Sigstore bundle: {e}")))?;
            let dsse = v.get("dsseEnvelope").ok_or_else(|| {
                unreadable("Sigstore bundle carries no DSSE envelope (message signatures are not attestations)".into())
            })?;
            let bytes = serde_json::to_vec(dsse).map_err(|e| unreadable(e.to_string()))?;
            Envelope::from_json(&bytes).map_err(|e| unreadable(e.to_string()))
        }
    }
}

/// The in-toto statement of a verified payload (only the signed bytes are read).
pub fn open_statement(verified: &Verified) -> Result<Statement, OpenError> {
    if verified.payload_type != INTOTO_PAYLOAD_TYPE {
        return Err(OpenError::NotInToto(verified.payload_type.clone()));
    }
    Statement::parse(&verified.payload).map_err(OpenError::BadStatement)
}

/// The first of `digests` (the image digest, then its platforms) `statement` is about,
/// or why none is (`subject-mismatch`, in words naming what it is about).
pub fn subject_among<'a>(
    statement: &Statement,
    digests: &'a [Digest],
) -> Result<&'a Digest, String> {
    if let Some(d) = digests.iter().find(|d| statement.matches_digest(d)) {
        return Ok(d);
    }
    let about: Vec<String> = statement
        .subjects
        .iter()
        .flat_map(|s| {
            s.digest
                .iter()
                .map(|(alg, hex)| format!("{alg}:{}", &hex[..hex.len().min(12)]))
        })
        .collect();
    Err(format!(
        "the signed statement is about {}, not {}",
        if about.is_empty() {
            "no digest".to_owned()
        } else {
            about.join(", ")
        },
        digests.first().map(Digest::short).unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::{KeyAlgorithm, SigningKey, TrustedKey, sign_envelope, verify_envelope};

    fn verified(payload_type: &str, payload: &[u8]) -> (Envelope, Verified) {
        let key = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let env = sign_envelope(payload_type, payload, &[&key]).unwrap();
        let trusted = [TrustedKey::new(None, key.public_key().clone())];
        let v = verify_envelope(&env, &trusted, 1).unwrap();
        (env, v)
    }

    #[test]
    fn a_signed_payload_that_is_not_a_statement_is_bad_request() {
        let (_, v) = verified("text/plain", b"hello");
        let err = open_statement(&v).unwrap_err();
        assert_eq!(err.category(), Category::BadRequest);
        assert!(err.to_string().contains("\"text/plain\""), "{err}");
        let (_, v) = verified(INTOTO_PAYLOAD_TYPE, b"{\"_type\": 1}");
        let err = open_statement(&v).unwrap_err();
        assert_eq!(err.category(), Category::BadRequest);
    }

    #[test]
    fn envelopes_open_from_both_formats_and_garbage_is_bad_signature() {
        let (env, _) = verified("text/plain", b"x");
        let json = env.to_json();
        let from_dsse = open_envelope(EvidenceFormat::DsseEnvelope, json.as_bytes()).unwrap();
        let bundle = format!(
            r#"{{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{json}}}"#
        );
        let from_bundle = open_envelope(EvidenceFormat::SigstoreBundle, bundle.as_bytes()).unwrap();
        assert_eq!(from_dsse, from_bundle);
        for (format, bytes) in [
            (EvidenceFormat::DsseEnvelope, &b"not json"[..]),
            (EvidenceFormat::SigstoreBundle, &b"{}"[..]),
            (EvidenceFormat::SigstoreBundle, &b"[1"[..]),
        ] {
            let err = open_envelope(format, bytes).unwrap_err();
            assert_eq!(err.category(), Category::BadSignature, "{err}");
        }
    }
}
