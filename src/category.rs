//! The categories every denial is filed under: each names something a person can act on.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an image was not admitted, in words a developer can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// The image, tag or digest does not exist in the registry.
    NotFound,
    /// The registry could not be reached or answered with a server error.
    RegistryUnreachable,
    /// The registry refused our credentials (or we had none).
    Auth,
    /// No attestation of a type the policy needs was found.
    NoAttestation,
    /// An attestation's signature did not verify.
    BadSignature,
    /// An attestation verified, but with a key the policy does not trust.
    UntrustedSigner,
    /// A signed statement is about another digest.
    SubjectMismatch,
    /// A manifest, blob or listing exceeded a configured limit.
    TooLarge,
    /// The decision deadline ran out.
    Timeout,
    /// The Rego policy denied the verified evidence.
    PolicyDenied,
    /// The request itself could not be understood.
    BadRequest,
    /// No policy applies to the image (reported per `--no-policy-action`).
    NoPolicy,
}

impl Category {
    /// The kebab-case name used in messages, logs, metrics and the Rego input.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::NotFound => "not-found",
            Category::RegistryUnreachable => "registry-unreachable",
            Category::Auth => "auth",
            Category::NoAttestation => "no-attestation",
            Category::BadSignature => "bad-signature",
            Category::UntrustedSigner => "untrusted-signer",
            Category::SubjectMismatch => "subject-mismatch",
            Category::TooLarge => "too-large",
            Category::Timeout => "timeout",
            Category::PolicyDenied => "policy-denied",
            Category::BadRequest => "bad-request",
            Category::NoPolicy => "no-policy",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
