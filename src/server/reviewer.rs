//! The seam between the HTTP server and the decision: the server hands a [`Reviewer`] the
//! raw request body and gets back the AdmissionReview response bytes plus labels for
//! metrics. The server knows nothing about admission; the reviewer nothing about HTTP.
//!
//! Contract (what the server relies on):
//! - `validate`/`mutate` always return a complete `admission.k8s.io/v1` AdmissionReview
//!   JSON body, whatever the input: a body that is not JSON, not an AdmissionReview, or
//!   lacks `request.uid` still gets a denial (uid `""` when it cannot be read) with a
//!   `bad-request` message. The server answers it with HTTP 200.
//! - They honour the decision deadline themselves (an explicit `timeout` denial, or an
//!   allow with a warning under fail-open). The server only adds a last-resort bound a
//!   little past the deadline, answered by [`fallback`](super::fallback).
//! - `ready` is cheap (called on every `/readyz`): `Ok` once policies are loaded and a
//!   decision can be made.

use async_trait::async_trait;
use bytes::Bytes;

use super::fallback;

/// The overall result of one review, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The request was admitted (possibly with warnings or a patch).
    Allowed,
    /// The request was denied by a policy (or for lack of evidence).
    Denied,
    /// The review could not be decided (bad request, internal failure, deadline).
    Error,
}

impl Outcome {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
        }
    }
}

/// One policy's result within a review, as counted in `custody_decisions_total`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyOutcome {
    /// The policy (bundle) name.
    pub policy: String,
    /// Its mode: `enforce`, `warn` or `audit`.
    pub mode: String,
    /// That policy's own result (a `warn` policy that failed is `Denied` here even
    /// though the review was allowed).
    pub outcome: Outcome,
}

/// What a reviewer hands back to the server.
#[derive(Debug, Clone)]
pub struct ReviewOutcome {
    /// The complete AdmissionReview response JSON.
    pub body: Bytes,
    /// The overall result.
    pub outcome: Outcome,
    /// Per-policy results (empty when no policy applied).
    pub policies: Vec<PolicyOutcome>,
}

/// Decides AdmissionReviews. Implemented over the admission module and the engine; the
/// server only moves bytes.
#[async_trait]
pub trait Reviewer: Send + Sync + 'static {
    /// Answers a validating AdmissionReview (`/validate`).
    async fn validate(&self, body: Bytes) -> ReviewOutcome;
    /// Answers a mutating AdmissionReview (`/mutate`, digest pinning).
    async fn mutate(&self, body: Bytes) -> ReviewOutcome;
    /// `Ok` when decisions can be made (policies loaded); otherwise why not.
    fn ready(&self) -> Result<(), String>;
}

/// A reviewer that denies everything with a fixed message: what `custody serve` runs
/// until a real reviewer is wired in, and a handy stand-in for tests.
#[derive(Debug, Clone)]
pub struct DenyAll {
    message: String,
}

impl DenyAll {
    /// Denies every review with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    fn answer(&self, body: &[u8]) -> ReviewOutcome {
        ReviewOutcome {
            body: fallback::deny(body, 403, &self.message),
            outcome: Outcome::Denied,
            policies: Vec::new(),
        }
    }
}

#[async_trait]
impl Reviewer for DenyAll {
    async fn validate(&self, body: Bytes) -> ReviewOutcome {
        self.answer(&body)
    }

    async fn mutate(&self, body: Bytes) -> ReviewOutcome {
        self.answer(&body)
    }

    fn ready(&self) -> Result<(), String> {
        Ok(())
    }
}
