//! The review service: one AdmissionReview body in, one AdmissionReview response out.
//! It joins the pure admission module to the decision engine, enforces the decision
//! deadline, and writes the decision log. `custody serve` (through the server's
//! [`Reviewer`] seam) and `custody review` both call [`Webhook::review`].

mod checker;
mod cluster;

pub use checker::EngineChecker;
pub use cluster::{FixedLabels, NamespaceLabelSource, PodCredentialSource};

use async_trait::async_trait;
use bytes::Bytes;
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument as _;

use crate::admission::{self, AdmissionRequest, DecisionOptions, ImageUse, Plan, RequestExt};
use crate::category::Category;
use crate::engine::{ImageVerdict, PolicyResult};
use crate::policy::Mode;
use crate::server::{Outcome, PolicyOutcome, ReviewOutcome, Reviewer};

/// What decides the images of one review (the engine, or a fake in tests).
#[async_trait]
pub trait Checker: Send + Sync + 'static {
    /// Verdicts for `images` of `request`, answered before `deadline`.
    async fn check(
        &self,
        request: &AdmissionRequest,
        template: &admission::PodTemplate,
        images: &[ImageUse],
        deadline: Instant,
    ) -> Vec<ImageVerdict>;
    /// `Ok` when decisions can be made; otherwise why not.
    fn ready(&self) -> Result<(), String>;
}

/// How the service decides.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// Turning verdicts into a decision (fail-open, message length).
    pub decision: DecisionOptions,
    /// Time budget for one decision; keep it below the webhook's `timeoutSeconds`.
    pub deadline: Duration,
    /// Kinds whose images `/mutate` pins to digests (e.g. `Pod`, `Deployment`).
    pub pin_kinds: BTreeSet<String>,
    /// Write one JSON line per decision to standard output.
    pub decision_log: bool,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        WebhookOptions {
            decision: DecisionOptions::default(),
            deadline: Duration::from_secs(8),
            pin_kinds: admission::workload::POD_KINDS
                .iter()
                .map(|k| (*k).to_owned())
                .collect(),
            decision_log: true,
        }
    }
}

/// The review service.
pub struct Webhook<C> {
    checker: Arc<C>,
    options: WebhookOptions,
}

impl<C: Checker> Webhook<C> {
    /// A service over `checker`.
    pub fn new(checker: Arc<C>, options: WebhookOptions) -> Self {
        Webhook { checker, options }
    }

    /// Answers one AdmissionReview body; `mutate` selects the digest-pinning endpoint.
    pub async fn review(&self, body: &[u8], mutate: bool) -> ReviewOutcome {
        let started = Instant::now();
        let req = match admission::parse(body) {
            Ok(r) => r,
            Err(e) => {
                let uid = admission::review::salvage_uid(body);
                tracing::warn!(%uid, error = %e, "unreadable admission review");
                return outcome(
                    admission::response::reject_unreadable(&uid, &e.to_string()),
                    Outcome::Error,
                    vec![],
                );
            }
        };
        let span = tracing::info_span!(
            "review",
            uid = %req.uid,
            kind = %req.kind.kind,
            namespace = %req.namespace_name(),
            mutate
        );
        self.review_parsed(req, started, mutate)
            .instrument(span)
            .await
    }

    /// The rest of [`Webhook::review`], inside the review's span.
    async fn review_parsed(
        &self,
        req: AdmissionRequest,
        started: Instant,
        mutate: bool,
    ) -> ReviewOutcome {
        let (template, images) = match admission::plan(&req) {
            Plan::Skip(why) => {
                tracing::debug!(uid = %req.uid, kind = %req.kind.kind, reason = why, "admitted without checks");
                return outcome(admission::response::allow(&req), Outcome::Allowed, vec![]);
            }
            Plan::Check { template, images } => (template, images),
        };
        let deadline = started + self.options.deadline;
        // The engine answers timeouts itself; this bound catches anything that does not.
        let grace = Duration::from_millis(200);
        let verdicts = match tokio::time::timeout_at(
            (deadline + grace).into(),
            self.checker.check(&req, &template, &images, deadline),
        )
        .await
        {
            Ok(v) => v,
            Err(_) => timed_out(&images, self.options.deadline),
        };
        let mut opts = self.options.decision.clone();
        opts.pin_digests = mutate && self.options.pin_kinds.contains(&req.kind.kind);
        let decision = if mutate {
            // The mutating webhook only pins; the validating one judges.
            let mut d = admission::decide(&verdicts, &images, &opts);
            if !d.allowed {
                d = admission::Decision {
                    allowed: true,
                    ..admission::Decision::default()
                };
            }
            d
        } else {
            admission::decide(&verdicts, &images, &opts)
        };
        if self.options.decision_log && !mutate {
            log_decision(&req, &verdicts, &decision, started.elapsed());
        }
        let overall = if decision.allowed {
            Outcome::Allowed
        } else {
            Outcome::Denied
        };
        let policies = verdicts
            .iter()
            .flat_map(|v| v.results.iter().map(policy_outcome))
            .collect();
        tracing::debug!(
            allowed = decision.allowed,
            images = verdicts.len(),
            "review decided"
        );
        outcome(
            admission::response::respond(&req, &decision),
            overall,
            policies,
        )
    }
}

fn outcome(body: Bytes, o: Outcome, policies: Vec<PolicyOutcome>) -> ReviewOutcome {
    ReviewOutcome {
        body,
        outcome: o,
        policies,
    }
}

fn policy_outcome(r: &PolicyResult) -> PolicyOutcome {
    PolicyOutcome {
        policy: r.policy.clone(),
        mode: r.mode.as_str().to_owned(),
        outcome: if r.allowed {
            Outcome::Allowed
        } else {
            Outcome::Denied
        },
    }
}

/// Verdicts for a checker that did not answer in time: every image times out.
fn timed_out(images: &[ImageUse], deadline: Duration) -> Vec<ImageVerdict> {
    images
        .iter()
        .map(|u| ImageVerdict {
            image: u.image.clone(),
            containers: Vec::new(),
            digest: None,
            evidence: Default::default(),
            controls: Vec::new(),
            results: vec![PolicyResult {
                policy: "custody".into(),
                mode: Mode::Enforce,
                allowed: false,
                category: Some(Category::Timeout),
                messages: vec![format!(
                    "no decision within the {}s deadline",
                    deadline.as_secs_f32()
                )],
                warnings: vec![],
            }],
        })
        .collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DecisionRecord<'a> {
    ts: String,
    msg: &'static str,
    uid: &'a str,
    operation: &'a str,
    kind: &'a str,
    namespace: &'a str,
    name: String,
    user: &'a str,
    groups: &'a [String],
    dry_run: bool,
    allowed: bool,
    duration_ms: f64,
    images: Vec<ImageRecord<'a>>,
}

#[derive(Serialize)]
struct ImageRecord<'a> {
    image: &'a str,
    digest: Option<String>,
    policies: Vec<PolicyRecord<'a>>,
    controls: &'a [crate::policy::controls::ControlOutcome],
}

#[derive(Serialize)]
struct PolicyRecord<'a> {
    policy: &'a str,
    mode: &'static str,
    allowed: bool,
    category: Option<Category>,
    messages: &'a [String],
}

/// Writes the audit trail: one JSON line per decision on standard output.
fn log_decision(
    req: &AdmissionRequest,
    verdicts: &[ImageVerdict],
    d: &admission::Decision,
    took: Duration,
) {
    let record = DecisionRecord {
        ts: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        msg: "decision",
        uid: &req.uid,
        operation: req.operation_name(),
        kind: &req.kind.kind,
        namespace: req.namespace_name(),
        name: req.display_name(),
        user: req.user(),
        groups: req.groups(),
        dry_run: req.dry_run,
        allowed: d.allowed,
        duration_ms: took.as_secs_f64() * 1000.0,
        images: verdicts
            .iter()
            .map(|v| ImageRecord {
                image: &v.image,
                digest: v.digest.as_ref().map(ToString::to_string),
                policies: v
                    .results
                    .iter()
                    .map(|r| PolicyRecord {
                        policy: &r.policy,
                        mode: r.mode.as_str(),
                        allowed: r.allowed,
                        category: r.category,
                        messages: &r.messages,
                    })
                    .collect(),
                controls: &v.controls,
            })
            .collect(),
    };
    if let Ok(line) = serde_json::to_string(&record) {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
    }
}

#[async_trait]
impl<C: Checker> Reviewer for Webhook<C> {
    async fn validate(&self, body: Bytes) -> ReviewOutcome {
        self.review(&body, false).await
    }

    async fn mutate(&self, body: Bytes) -> ReviewOutcome {
        self.review(&body, true).await
    }

    fn ready(&self) -> Result<(), String> {
        self.checker.ready()
    }
}
