//! Registry errors: each names the image and the step, never a secret.

use crate::category::Category;
use crate::digest::Digest;

/// A failed registry operation. Messages name the image and the step; they never contain
/// credentials or tokens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The reference does not parse.
    #[error(transparent)]
    Reference(#[from] super::RefError),
    /// The repository, tag, manifest or blob does not exist.
    #[error("{image}: {step}: not found in the registry")]
    NotFound {
        /// The image.
        image: String,
        /// The step, e.g. `resolve tag`.
        step: &'static str,
    },
    /// The registry refused our credentials (401/403), or a token could not be obtained.
    #[error("{image}: {step}: registry refused access ({status}){hint}")]
    Auth {
        /// The image.
        image: String,
        /// The step.
        step: &'static str,
        /// The HTTP status.
        status: u16,
        /// Whether credentials were sent (as a hint for the reader).
        hint: &'static str,
    },
    /// Connection refused, DNS failure, TLS failure, reset.
    #[error("{image}: {step}: registry unreachable: {reason}")]
    Unreachable {
        /// The image.
        image: String,
        /// The step.
        step: &'static str,
        /// What went wrong (no secrets).
        reason: String,
    },
    /// 5xx, or 429 that did not clear within the retries.
    #[error("{image}: {step}: registry answered HTTP {status}{detail}")]
    Status {
        /// The image.
        image: String,
        /// The step.
        step: &'static str,
        /// The HTTP status.
        status: u16,
        /// The registry's error code/message, shortened.
        detail: String,
    },
    /// A manifest, blob or listing exceeded a limit.
    #[error("{image}: {step}: {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The image.
        image: String,
        /// The step.
        step: &'static str,
        /// The advertised or observed size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A list in the registry's answer is longer than custody reads (e.g. an image index
    /// with thousands of platforms).
    #[error("{image}: {step}: {count} {what}, more than the limit of {limit}")]
    TooMany {
        /// The image.
        image: String,
        /// The step.
        step: &'static str,
        /// What was counted.
        what: &'static str,
        /// How many there were.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The registry sent bytes that do not hash to the digest asked for.
    #[error("{image}: {step}: registry sent content for {expected} that hashes to {actual}")]
    DigestMismatch {
        /// The image.
        image: String,
        /// The step.
        step: &'static str,
        /// The digest asked for.
        expected: Digest,
        /// What the bytes hash to.
        actual: Digest,
    },
    /// A request or the whole lookup ran out of time.
    #[error("{image}: {step}: timed out")]
    Timeout {
        /// The image.
        image: String,
        /// The step.
        step: &'static str,
    },
    /// A redirect was refused: a loop, too many, or to plain HTTP on a host not named
    /// insecure.
    #[error("{image}: {step}: {reason}")]
    Redirects {
        /// The image.
        image: String,
        /// The step.
        step: &'static str,
        /// Why the redirect was not followed.
        reason: String,
    },
    /// The registry's answer could not be understood.
    #[error("{image}: {step}: unexpected answer from the registry: {reason}")]
    Protocol {
        /// The image.
        image: String,
        /// The step.
        step: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The configuration or local input is unusable (bad CA file, bad credentials file).
    #[error("registry configuration: {0}")]
    Config(String),
}

impl RegistryError {
    /// The denial category a person can act on.
    pub fn category(&self) -> Category {
        match self {
            RegistryError::Reference(_) | RegistryError::Config(_) => Category::BadRequest,
            RegistryError::NotFound { .. } => Category::NotFound,
            RegistryError::Auth { .. } => Category::Auth,
            RegistryError::Unreachable { .. }
            | RegistryError::Status { .. }
            | RegistryError::DigestMismatch { .. }
            | RegistryError::Redirects { .. }
            | RegistryError::Protocol { .. } => Category::RegistryUnreachable,
            RegistryError::TooLarge { .. } | RegistryError::TooMany { .. } => Category::TooLarge,
            RegistryError::Timeout { .. } => Category::Timeout,
        }
    }

    /// Whether this failure may clear on its own (worth caching only briefly).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RegistryError::Unreachable { .. }
                | RegistryError::Status { .. }
                | RegistryError::Timeout { .. }
        )
    }
}
