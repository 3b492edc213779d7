//! What the engine answers: per image, each applicable policy's result and a summary of
//! the evidence found, verified and rejected.

use crate::category::Category;
use crate::digest::Digest;
use crate::policy::Mode;
use crate::policy::input::ContainerInfo;
use serde::Serialize;

/// The decision for one image (folded across the containers that use it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageVerdict {
    /// The reference as written.
    pub image: String,
    /// The containers that use it.
    pub containers: Vec<ContainerInfo>,
    /// The resolved digest (None when resolution failed or no policy applied).
    pub digest: Option<Digest>,
    /// Each applicable policy's result, ordered by policy name.
    pub results: Vec<PolicyResult>,
    /// The evidence found for this image.
    pub evidence: EvidenceSummary,
    /// Each control of the loaded policies: its outcome for this image and the evidence
    /// behind it (see [`crate::policy::controls`]).
    pub controls: Vec<crate::policy::controls::ControlOutcome>,
}

impl ImageVerdict {
    /// Whether the image may run: no `enforce` policy failed.
    pub fn admitted(&self) -> bool {
        self.results
            .iter()
            .all(|r| r.allowed || r.mode != Mode::Enforce)
    }

    /// Results that failed, in any mode.
    pub fn failures(&self) -> impl Iterator<Item = &PolicyResult> {
        self.results.iter().filter(|r| !r.allowed)
    }
}

/// One policy's result for one image.
///
/// `allowed` is the policy's own verdict; what it means for admission depends on `mode`:
/// `enforce` refuses when not allowed, `warn` admits with `messages` as warnings, `audit`
/// admits and only records them. `warnings` (Rego `warn`) are shown in every mode.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyResult {
    /// The policy name.
    pub policy: String,
    /// Its mode.
    pub mode: Mode,
    /// Whether the policy passed.
    pub allowed: bool,
    /// Why not, when not allowed.
    pub category: Option<Category>,
    /// The policy's `deny` messages (or the engine's explanation of a failure).
    pub messages: Vec<String>,
    /// The policy's `warn` messages.
    pub warnings: Vec<String>,
}

/// What was found attached to the image, and what became of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceSummary {
    /// Envelopes/bundles found.
    pub found: usize,
    /// Statements verified for at least one policy.
    pub verified: Vec<VerifiedItem>,
    /// Evidence rejected for at least one policy.
    pub rejected: Vec<RejectedItem>,
    /// Referrers the registry left out (unknown format, too large, ...), at most 16
    /// per looked-up digest.
    pub skipped: Vec<SkippedItem>,
    /// Further left-out referrers and layers, counted but not listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub skipped_omitted: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A verified statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedItem {
    /// The predicate type.
    pub predicate_type: String,
    /// The digest it is about.
    pub subject_digest: String,
    /// Where it was found.
    pub source: String,
    /// The blob digest.
    pub blob_digest: String,
    /// `attestor/key` names that signed it.
    pub signers: Vec<String>,
    /// Who signed it: each key id (hex), or for keyless evidence the certificate
    /// identity (`subject (issuer)`).
    pub identities: Vec<String>,
    /// Digest of the manifest that carried it.
    pub manifest_digest: Option<String>,
    /// When it was made (RFC 3339), when known: the referrer manifest's
    /// `org.opencontainers.image.created`, else a time the predicate records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Policies that accepted it.
    pub policies: Vec<String>,
}

/// Rejected evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedItem {
    /// The category.
    pub category: Category,
    /// Why.
    pub reason: String,
    /// The predicate type it claims (unverified).
    pub claimed_predicate_type: Option<String>,
    /// Where it was found.
    pub source: String,
    /// The blob digest.
    pub blob_digest: String,
    /// Policies that rejected it.
    pub policies: Vec<String>,
}

/// Something attached that was not evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SkippedItem {
    /// The category.
    pub category: Category,
    /// Why it was skipped.
    pub reason: String,
    /// Where it was listed.
    pub source: String,
}
