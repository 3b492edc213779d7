//! Verification errors: each names the check that failed.

use std::fmt;

/// The check of Sigstore verification that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Check {
    /// Reading the bundle (JSON shape, media type, encodings).
    Bundle,
    /// Reading the trusted root.
    TrustedRoot,
    /// The signing certificate itself (parse, key usage, validity at signing time).
    Certificate,
    /// The chain from the signing certificate to a Fulcio CA of the trusted root.
    Chain,
    /// The signed certificate timestamp against a CT log of the trusted root.
    Sct,
    /// An RFC 3161 timestamp against a TSA of the trusted root.
    Timestamp,
    /// A transparency-log entry (log known, index, required proofs present).
    Tlog,
    /// The signed entry timestamp (Rekor's inclusion promise).
    SignedEntryTimestamp,
    /// The RFC 6962 inclusion proof.
    InclusionProof,
    /// The checkpoint (signed note) the inclusion proof ends in.
    Checkpoint,
    /// The log entry body against the bundle's content.
    LogEntryBody,
    /// The artifact's signature (DSSE envelope or message signature).
    Signature,
    /// The artifact (or its digest) against the signed content.
    Artifact,
    /// The certificate's identity against the policy.
    Identity,
}

impl Check {
    /// A stable kebab-case name for messages and reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Bundle => "bundle",
            Check::TrustedRoot => "trusted-root",
            Check::Certificate => "certificate",
            Check::Chain => "certificate-chain",
            Check::Sct => "sct",
            Check::Timestamp => "rfc3161-timestamp",
            Check::Tlog => "tlog-entry",
            Check::SignedEntryTimestamp => "signed-entry-timestamp",
            Check::InclusionProof => "inclusion-proof",
            Check::Checkpoint => "checkpoint",
            Check::LogEntryBody => "log-entry-body",
            Check::Signature => "signature",
            Check::Artifact => "artifact",
            Check::Identity => "identity",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a Sigstore bundle did not verify: the check that failed and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{check}: {reason}")]
pub struct SigstoreError {
    /// The failed check.
    pub check: Check,
    /// What was wrong.
    pub reason: String,
}

impl SigstoreError {
    /// Builds an error for `check`.
    pub(crate) fn new(check: Check, reason: impl Into<String>) -> Self {
        SigstoreError {
            check,
            reason: reason.into(),
        }
    }

    /// Whether the input itself was unusable (a bundle or trusted root that cannot be
    /// read) rather than evidence that failed a check.
    pub fn is_unusable_input(&self) -> bool {
        matches!(self.check, Check::Bundle | Check::TrustedRoot)
    }

    /// The denial category: a certificate whose identity the policy does not name is
    /// an untrusted signer; evidence that fails any other check is a bad signature.
    pub fn category(&self) -> crate::category::Category {
        match self.check {
            Check::Identity => crate::category::Category::UntrustedSigner,
            _ => crate::category::Category::BadSignature,
        }
    }
}

/// Shorthand for a failed `check`.
pub(crate) fn fail<T>(check: Check, reason: impl Into<String>) -> Result<T, SigstoreError> {
    Err(SigstoreError::new(check, reason))
}
