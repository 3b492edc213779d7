//! Key algorithms and key errors.

use super::armor::PemError;
use std::fmt;

/// A signature algorithm family custody accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 with SHA-256.
    EcdsaP256,
    /// ECDSA on NIST P-384 with SHA-384.
    EcdsaP384,
    /// ECDSA on NIST P-521 with SHA-512.
    EcdsaP521,
    /// Ed25519.
    Ed25519,
    /// RSA (PSS or PKCS#1 v1.5, SHA-256); generated keys are 3072 bits.
    Rsa,
}

impl KeyAlgorithm {
    /// A short name for messages: `ecdsa-p256`, `ecdsa-p384`, `ed25519`, `rsa`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::EcdsaP384 => "ecdsa-p384",
            KeyAlgorithm::EcdsaP521 => "ecdsa-p521",
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::Rsa => "rsa",
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for KeyAlgorithm {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "p256" | "p-256" | "ecdsa-p256" | "ecdsa" => Ok(KeyAlgorithm::EcdsaP256),
            "p384" | "p-384" | "ecdsa-p384" => Ok(KeyAlgorithm::EcdsaP384),
            "p521" | "p-521" | "ecdsa-p521" => Ok(KeyAlgorithm::EcdsaP521),
            "ed25519" => Ok(KeyAlgorithm::Ed25519),
            "rsa" => Ok(KeyAlgorithm::Rsa),
            _ => Err(KeyError::UnknownAlgorithmName(s.to_owned())),
        }
    }
}

/// Why a key could not be loaded or made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text is not PEM.
    #[error(transparent)]
    Pem(#[from] PemError),
    /// The PEM holds no block of a kind this function reads.
    #[error("no {wanted} PEM block found (found: {found})")]
    NoKeyBlock {
        /// What was looked for.
        wanted: &'static str,
        /// The labels present.
        found: String,
    },
    /// More than one key where one was expected.
    #[error("found {0} keys in one PEM text; give one key per file")]
    SeveralKeys(usize),
    /// The DER structure is malformed.
    #[error("malformed {what}: {source}")]
    Der {
        /// Which structure.
        what: &'static str,
        /// The DER problem, as the `der` crate reports it.
        source: der::Error,
    },
    /// An algorithm or curve custody does not accept.
    #[error("unsupported key algorithm: {0}")]
    Unsupported(String),
    /// An RSA modulus outside 2048–8192 bits.
    #[error("RSA key of {0} bits is not accepted (2048 to 8192 bits)")]
    RsaSize(usize),
    /// The key bytes are not a valid key (e.g. a point not on the curve).
    #[error("invalid {algorithm} key: {reason}")]
    Invalid {
        /// The algorithm claimed by the key.
        algorithm: KeyAlgorithm,
        /// What was wrong.
        reason: &'static str,
    },
    /// A securesystemslib/in-toto JSON key that could not be read.
    #[error("invalid securesystemslib key: {0}")]
    SslibJson(String),
    /// An unknown `--algorithm`-style name.
    #[error("unknown key algorithm {0:?} (use p256, p384, ed25519 or rsa)")]
    UnknownAlgorithmName(String),
    /// The crypto library refused to generate or sign.
    #[error("crypto operation failed: {0}")]
    Crypto(&'static str),
}
