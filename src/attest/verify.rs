//! Verifying a DSSE envelope against the keys a policy trusts.
//!
//! Rules (see docs/threat-model.md):
//! - The signatures are over `pae(payloadType, payload)`, so the payload type is signed.
//! - A signature counts for a trusted key only if it verifies under that key; the
//!   envelope's `keyid` only decides which key is tried first.
//! - The threshold counts **distinct** trusted keys (by SPKI): a key listed twice in
//!   the trust set, or signing twice, counts once.
//! - On success the exact payload bytes that were verified are handed back.

use super::dsse::{Envelope, EnvelopeError};
use super::keys::TrustedKey;
use crate::category::Category;

/// More signatures than this on one envelope is refused (each may be tried against
/// every trusted key).
pub const MAX_SIGNATURES: usize = 32;

/// A verified envelope: what was signed and by which trusted keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signed payload type.
    pub payload_type: String,
    /// The signed payload, exactly the bytes the signatures cover.
    pub payload: Vec<u8>,
    /// The distinct trusted keys whose signatures verified, in the order found.
    pub signers: Vec<Signer>,
}

/// A trusted key that verified a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The key's [`key_id`](super::PublicKey::key_id).
    pub key_id: String,
    /// The trusted key's name, if it has one.
    pub name: Option<String>,
    /// For keyless evidence: the signing certificate's identity (SAN, OIDC issuer,
    /// Fulcio extensions); the key id is then that certificate's key.
    pub identity: Option<crate::attest::sigstore::CertificateIdentity>,
}

impl Signer {
    /// The name, or a short key id.
    pub fn display_name(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => format!("key {}", &self.key_id[..12.min(self.key_id.len())]),
        }
    }
}

/// Why an envelope did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The envelope itself is malformed.
    #[error(transparent)]
    Malformed(#[from] EnvelopeError),
    /// The threshold is 0 or larger than the number of distinct trusted keys.
    #[error("threshold {threshold} cannot be met with {keys} distinct trusted key(s)")]
    InvalidThreshold {
        /// The threshold asked for.
        threshold: usize,
        /// Distinct trusted keys.
        keys: usize,
    },
    /// The envelope has no signatures at all.
    #[error("the envelope has no signatures")]
    NoSignatures,
    /// More signatures than [`MAX_SIGNATURES`].
    #[error("the envelope has {0} signatures (at most {MAX_SIGNATURES} are examined)")]
    TooManySignatures(usize),
    /// Nothing verified, and at least one signature names a trusted key or names no key.
    #[error(
        "none of the {signatures} signature(s) verifies with the {keys} trusted key(s){}",
        claim_note(.claims_trusted)
    )]
    BadSignature {
        /// Signatures on the envelope.
        signatures: usize,
        /// Distinct trusted keys tried.
        keys: usize,
        /// Whether a signature's keyid named a trusted key.
        claims_trusted: bool,
    },
    /// Nothing verified, and every signature names a key that is not trusted.
    #[error("signed only by untrusted key id(s): {}", .keyids.join(", "))]
    UntrustedSigner {
        /// The keyids the envelope names.
        keyids: Vec<String>,
    },
    /// Some trusted keys verified, but fewer than the threshold.
    #[error("{} of {threshold} required trusted signer(s) verified ({})", .signers.len(), .signers.iter().map(Signer::display_name).collect::<Vec<_>>().join(", "))]
    ThresholdNotMet {
        /// The threshold.
        threshold: usize,
        /// Those that did verify.
        signers: Vec<Signer>,
    },
    /// A keyless Sigstore bundle failed a check of Sigstore verification (the error
    /// names it), or its certificate's identity is not one the attestor trusts.
    #[error("keyless: {0}")]
    Keyless(crate::attest::sigstore::SigstoreError),
}

impl VerifyError {
    /// The denial category.
    ///
    /// The rule: when no trusted key verifies anything, the keyid hints decide the
    /// wording. If every signature names a key id that is not one of the trusted keys,
    /// the evidence was made by someone the policy does not trust: `untrusted-signer`.
    /// If a signature names a trusted key (a forged or tampered envelope) or names no
    /// key at all (we cannot tell), it is `bad-signature`. Malformed envelopes and
    /// envelopes without signatures are `bad-signature`; too many signatures is
    /// `too-large`. Trusted signers below the threshold, or a threshold no envelope
    /// could meet, is `untrusted-signer` (not enough of the right signers). The
    /// category never changes whether the envelope is accepted: all are rejections.
    pub fn category(&self) -> Category {
        match self {
            VerifyError::Malformed(_)
            | VerifyError::NoSignatures
            | VerifyError::BadSignature { .. } => Category::BadSignature,
            VerifyError::TooManySignatures(_) => Category::TooLarge,
            VerifyError::InvalidThreshold { .. }
            | VerifyError::UntrustedSigner { .. }
            | VerifyError::ThresholdNotMet { .. } => Category::UntrustedSigner,
            VerifyError::Keyless(e) => e.category(),
        }
    }
}

fn claim_note(claims_trusted: &bool) -> &'static str {
    if *claims_trusted {
        " although a signature names a trusted key id (altered or forged)"
    } else {
        " (signed by a key the policy does not list, or altered after signing)"
    }
}

/// Verifies `envelope` against `trusted` keys, requiring `threshold` distinct keys.
pub fn verify_envelope(
    envelope: &Envelope,
    trusted: &[TrustedKey],
    threshold: usize,
) -> Result<Verified, VerifyError> {
    let mut keys: Vec<&TrustedKey> = Vec::with_capacity(trusted.len());
    for k in trusted {
        if !keys.iter().any(|seen| seen.key == k.key) {
            keys.push(k);
        }
    }
    if threshold == 0 || threshold > keys.len() {
        return Err(VerifyError::InvalidThreshold {
            threshold,
            keys: keys.len(),
        });
    }
    if envelope.signatures.is_empty() {
        return Err(VerifyError::NoSignatures);
    }
    if envelope.signatures.len() > MAX_SIGNATURES {
        return Err(VerifyError::TooManySignatures(envelope.signatures.len()));
    }
    let message = envelope.pae();
    let mut verified: Vec<usize> = Vec::new();
    let mut claims_trusted = false;
    let mut anonymous = false;
    let mut foreign_ids: Vec<String> = Vec::new();
    for sig in &envelope.signatures {
        let hinted = sig
            .keyid
            .as_deref()
            .and_then(|id| keys.iter().position(|k| k.key.answers_to(id)));
        match (&sig.keyid, hinted) {
            (None, _) => anonymous = true,
            (Some(_), Some(_)) => claims_trusted = true,
            (Some(id), None) => foreign_ids.push(id.clone()),
        }
        let order = hinted
            .into_iter()
            .chain((0..keys.len()).filter(|&i| Some(i) != hinted));
        for i in order {
            if verified.contains(&i) {
                continue;
            }
            if keys[i].key.verify(&message, &sig.sig) {
                verified.push(i);
                break;
            }
        }
    }
    let signers: Vec<Signer> = verified
        .iter()
        .map(|&i| Signer {
            key_id: keys[i].key.key_id().to_owned(),
            name: keys[i].name.clone(),
            identity: None,
        })
        .collect();
    if signers.len() >= threshold {
        return Ok(Verified {
            payload_type: envelope.payload_type.clone(),
            payload: envelope.payload.clone(),
            signers,
        });
    }
    if !signers.is_empty() {
        return Err(VerifyError::ThresholdNotMet { threshold, signers });
    }
    if claims_trusted || anonymous {
        return Err(VerifyError::BadSignature {
            signatures: envelope.signatures.len(),
            keys: keys.len(),
            claims_trusted,
        });
    }
    foreign_ids.dedup();
    Err(VerifyError::UntrustedSigner {
        keyids: foreign_ids,
    })
}

/// Parses and verifies an envelope's JSON in one step.
pub fn verify_json(
    bytes: &[u8],
    trusted: &[TrustedKey],
    threshold: usize,
) -> Result<Verified, VerifyError> {
    let envelope = Envelope::from_json(bytes)?;
    verify_envelope(&envelope, trusted, threshold)
}
