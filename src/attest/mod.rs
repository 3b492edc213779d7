//! The verification core: keys and signatures, DSSE envelopes, in-toto Statements.
//!
//! Everything here is a plain function over bytes: no network, no clock, no global
//! state. The flow the engine follows is
//!
//! ```text
//! open_envelope(format, &blob) → verify_envelope(&envelope, &trusted_keys, threshold)
//!   → Verified { payload_type, payload, signers } → open_statement(&verified)
//!   → subject_among(&statement, &image_digests)
//! ```
//!
//! ([`evidence`] is that path, shared by the engine and `custody attestations`.)
//!
//! Nothing downstream re-reads the envelope: only the payload bytes handed back by
//! [`verify_envelope`] are parsed.
//!
//! ```
//! use custody::attest::{sign_envelope, verify_envelope, KeyAlgorithm, SigningKey, TrustedKey};
//! let key = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
//! let env = sign_envelope("text/plain", b"hi", &[&key]).unwrap();
//! let trusted = [TrustedKey::new(Some("ci".into()), key.public_key().clone())];
//! let verified = verify_envelope(&env, &trusted, 1).unwrap();
//! assert_eq!(verified.payload, b"hi");
//! assert_eq!(verified.signers[0].name.as_deref(), Some("ci"));
//! ```

mod algorithm;
pub(crate) mod armor;
pub(crate) mod b64;
pub mod bundle;
pub(crate) mod dsse;
pub mod evidence;
mod keyid;
mod keys;
mod oid;
mod sign;
pub mod sigstore;
mod statement;
mod verify;

/// A DER decoding error (from the `der` crate), as [`KeyError::Der`] carries it.
pub use ::der::Error as DerError;
pub use armor::PemError;
pub use b64::{decode as base64_decode, encode as base64_encode};
pub use dsse::{Envelope, EnvelopeError, Signature, pae, sign_envelope};
pub use evidence::{EvidenceFormat, OpenError, open_envelope, open_statement, subject_among};
pub use keyid::{CanonicalError, canonical_json};
pub use keys::{KeyAlgorithm, KeyError, PublicKey, RSA_MAX_BITS, RSA_MIN_BITS, TrustedKey};
pub use sign::SigningKey;
pub use statement::{
    INTOTO_PAYLOAD_TYPE, STATEMENT_V01, STATEMENT_V1, Statement, StatementError, Subject,
};
pub use verify::{MAX_SIGNATURES, Signer, Verified, VerifyError, verify_envelope, verify_json};
