//! Sigstore bundles whose content is a DSSE envelope, verified with public keys.
//!
//! custody reads bundles of media types `application/vnd.dev.sigstore.bundle+json;
//! version=0.1|0.2|0.3` and `application/vnd.dev.sigstore.bundle.v0.3+json` whose content
//! is `dsseEnvelope`, and writes v0.3 bundles with `publicKey` verification material.
//! Verification is exactly [`verify_envelope`]: the envelope's signatures against the
//! policy's trusted keys. The bundle's verification material (a key hint, or a
//! certificate) and its transparency-log entries are carried but not trusted: a
//! certificate in a bundle never makes its key trusted, and custody does not check
//! Rekor inclusion (see docs/threat-model.md).

use super::b64;
use super::dsse::{Envelope, EnvelopeError};
use super::keys::{PublicKey, TrustedKey};
use super::verify::{Verified, VerifyError, verify_envelope};
use serde_json::{Value, json};

/// The media type custody writes.
pub const BUNDLE_V03_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const LEGACY_MEDIA_TYPES: [&str; 3] = [
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
];

/// A Sigstore bundle holding a DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The bundle's media type.
    pub media_type: String,
    /// The DSSE envelope it carries.
    pub envelope: Envelope,
    /// `verificationMaterial.publicKey.hint`, if the material is a public key.
    pub public_key_hint: Option<String>,
    /// The leaf certificate (DER), if the material is a certificate (not trusted).
    pub certificate: Option<Vec<u8>>,
    /// How many transparency-log entries the bundle carries (not verified).
    pub tlog_entries: usize,
}

/// Why a bundle cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Not JSON, or the wrong shape.
    #[error("not a Sigstore bundle: {0}")]
    Json(String),
    /// A media type custody does not read.
    #[error("unsupported Sigstore bundle media type {0:?}")]
    MediaType(String),
    /// Content other than a DSSE envelope (e.g. a `messageSignature`).
    #[error("the bundle holds a {0}, not a DSSE envelope (custody reads attestation bundles)")]
    NotDsse(String),
    /// The DSSE envelope inside is malformed.
    #[error("the bundle's DSSE envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// Verification material that is not base64.
    #[error("the bundle's certificate is not base64")]
    Certificate,
}

impl BundleError {
    /// The denial category: an unusable bundle is a bad signature.
    pub fn category(&self) -> crate::category::Category {
        crate::category::Category::BadSignature
    }
}

/// Whether a JSON value looks like a Sigstore bundle (has a sigstore bundle `mediaType`).
pub fn is_bundle(value: &Value) -> bool {
    value
        .get("mediaType")
        .and_then(Value::as_str)
        .is_some_and(|m| m.starts_with("application/vnd.dev.sigstore.bundle"))
}

impl Bundle {
    /// Wraps an envelope signed by `key` in a v0.3 bundle with public-key material (the
    /// hint is the base64 SHA-256 of the key's SubjectPublicKeyInfo, as Sigstore
    /// clients write it).
    pub fn new(envelope: Envelope, key: &PublicKey) -> Bundle {
        Bundle {
            media_type: BUNDLE_V03_MEDIA_TYPE.to_owned(),
            envelope,
            public_key_hint: Some(key.sigstore_key_hint()),
            certificate: None,
            tlog_entries: 0,
        }
    }

    /// Parses a bundle from JSON bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Bundle, BundleError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| BundleError::Json(e.to_string()))?;
        Bundle::from_value(&value)
    }

    /// Parses a bundle from a JSON value.
    pub fn from_value(value: &Value) -> Result<Bundle, BundleError> {
        let media_type = value
            .get("mediaType")
            .and_then(Value::as_str)
            .ok_or_else(|| BundleError::Json("no mediaType".to_owned()))?;
        if media_type != BUNDLE_V03_MEDIA_TYPE && !LEGACY_MEDIA_TYPES.contains(&media_type) {
            return Err(BundleError::MediaType(media_type.to_owned()));
        }
        let Some(dsse) = value.get("dsseEnvelope") else {
            let content = if value.get("messageSignature").is_some() {
                "messageSignature"
            } else {
                "no content"
            };
            return Err(BundleError::NotDsse(content.to_owned()));
        };
        let envelope = Envelope::from_json(dsse.to_string().as_bytes())?;
        let material = value
            .get("verificationMaterial")
            .ok_or_else(|| BundleError::Json("no verificationMaterial".to_owned()))?;
        let public_key_hint = material
            .get("publicKey")
            .and_then(|k| k.get("hint"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let cert_b64 = material
            .get("certificate")
            .and_then(|c| c.get("rawBytes"))
            .or_else(|| {
                material
                    .get("x509CertificateChain")
                    .and_then(|c| c.get("certificates"))
                    .and_then(|c| c.get(0))
                    .and_then(|c| c.get("rawBytes"))
            })
            .and_then(Value::as_str);
        let certificate = match cert_b64 {
            Some(text) => Some(b64::decode(text).map_err(|_| BundleError::Certificate)?),
            None => None,
        };
        let tlog_entries = material
            .get("tlogEntries")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        Ok(Bundle {
            media_type: media_type.to_owned(),
            envelope,
            public_key_hint,
            certificate,
            tlog_entries,
        })
    }

    /// The bundle as v0.3 JSON with public-key verification material.
    pub fn to_json(&self) -> String {
        let envelope: Value = serde_json::from_str(&self.envelope.to_json()).unwrap_or(Value::Null);
        json!({
            "mediaType": BUNDLE_V03_MEDIA_TYPE,
            "verificationMaterial": {
                "publicKey": { "hint": self.public_key_hint.clone().unwrap_or_default() },
                "tlogEntries": [],
                "timestampVerificationData": {},
            },
            "dsseEnvelope": envelope,
        })
        .to_string()
    }
}

impl Bundle {
    /// The envelope, with the bundle's public-key hint as the keyid hint of any
    /// signature that has none (a hint only ever orders the keys tried).
    pub fn envelope_with_hints(&self) -> Envelope {
        let mut envelope = self.envelope.clone();
        if let Some(hint) = self.public_key_hint.as_ref().filter(|h| !h.is_empty()) {
            for sig in &mut envelope.signatures {
                if sig.keyid.is_none() {
                    sig.keyid = Some(hint.clone());
                }
            }
        }
        envelope
    }
}

/// Verifies a bundle's DSSE envelope against trusted keys with the envelope rules
/// ([`verify_envelope`] on [`Bundle::envelope_with_hints`]).
pub fn verify_bundle(
    bundle: &Bundle,
    trusted: &[TrustedKey],
    threshold: usize,
) -> Result<Verified, VerifyError> {
    verify_envelope(&bundle.envelope_with_hints(), trusted, threshold)
}
