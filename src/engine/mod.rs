//! The decision for one request: per unique image, in parallel, under one deadline:
//! resolve → discover (in every [`EvidenceSource`]: the registry, and any added) → verify each envelope against each applicable policy's attestors
//! → parse statements → keep those about the image's digest → build the input → evaluate.
//!
//! Registry work runs on the async workers; verification and Rego (CPU) run in
//! `spawn_blocking` under a semaphore. When the deadline passes, the image gets a
//! `timeout` result naming the step it was waiting on — never an allow.
//!
//! ```no_run
//! # async fn demo(registry: std::sync::Arc<dyn custody::registry::Registry>) {
//! use custody::engine::{CheckRequest, Engine, EngineConfig, ImageUse};
//! use custody::policy::PolicyStore;
//! let store = PolicyStore::new();
//! store.load_dir(std::path::Path::new("policies")).unwrap();
//! let engine = Engine::new(registry, store, EngineConfig::default());
//! let req = CheckRequest {
//!     images: vec![ImageUse::container("ghcr.io/acme/api:1.0", "api")],
//!     ..CheckRequest::default()
//! };
//! let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(8);
//! for verdict in engine.check(&req, deadline).await {
//!     println!("{} admitted={}", verdict.image, verdict.admitted());
//! }
//! # }
//! ```

mod decide;
mod decisions;
mod failure;
mod input;
mod layout;
mod request;
mod source;
mod verdict;
mod verify;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use failure::{StepFailure, fail_all, task_failed, too_many_images};
pub use request::{CheckRequest, ImageUse, Workload};
pub use source::{EvidenceSource, RegistryEvidence};
pub use verdict::{
    EvidenceSummary, ImageVerdict, PolicyResult, RejectedItem, SkippedItem, VerifiedItem,
};

use crate::category::Category;
use crate::digest::Digest;
use crate::policy::input::{ContainerInfo, WorkloadInfo};
use crate::policy::{Bundle, MatchTarget, Mode, PolicyStore, controls};
use crate::registry::{Discovery, ImageRef, Registry};
use decide::{Context, ImageFacts};
use futures::StreamExt;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::Instrument as _;

/// Engine settings shared by the webhook and the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Verifications/evaluations allowed to run at once (default: available CPUs).
    pub cpu_workers: usize,
    /// Require verified evidence for every platform manifest of a multi-platform image
    /// (each platform digest is also searched for attestations).
    pub require_all_platforms: bool,
    /// What happens to an image that no policy applies to (and to every image when no
    /// bundle is loaded).
    pub no_policy: NoPolicyAction,
    /// Most distinct images one request may name; beyond it every image is denied
    /// (`too-large`) without asking any registry.
    pub max_images: usize,
    /// Images of one request looked up at once.
    pub parallel_images: usize,
    /// With `require_all_platforms`: most platforms of one index that are checked (more
    /// is a `too-large` denial), and how many of their lookups run at once.
    pub max_platforms: usize,
}

/// Platform lookups of one image run at once (with `--require-all-platforms`).
const PARALLEL_PLATFORMS: usize = 4;

/// What custody does with an image that no policy applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoPolicyAction {
    /// Admit silently.
    Allow,
    /// Admit, with a warning naming the image (shown by kubectl).
    #[default]
    Warn,
    /// Refuse, with category `no-policy`.
    Deny,
}

impl NoPolicyAction {
    /// `allow`, `warn` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            NoPolicyAction::Allow => "allow",
            NoPolicyAction::Warn => "warn",
            NoPolicyAction::Deny => "deny",
        }
    }

    /// The result reported for an image no policy applies to (none when allowed).
    pub(crate) fn result(self, image: &str) -> Option<PolicyResult> {
        crate::metrics::metrics().image_without_policy(self.as_str());
        let mode = match self {
            NoPolicyAction::Allow => return None,
            NoPolicyAction::Warn => Mode::Warn,
            NoPolicyAction::Deny => Mode::Enforce,
        };
        Some(PolicyResult {
            policy: NO_POLICY.to_owned(),
            mode,
            allowed: false,
            category: Some(Category::NoPolicy),
            messages: vec![format!(
                "no policy applies to {image} (no-policy-action: {})",
                self.as_str()
            )],
            warnings: Vec::new(),
        })
    }
}

impl std::str::FromStr for NoPolicyAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "allow" => Ok(NoPolicyAction::Allow),
            "warn" => Ok(NoPolicyAction::Warn),
            "deny" => Ok(NoPolicyAction::Deny),
            other => Err(format!("{other:?}: expected allow, warn or deny")),
        }
    }
}

/// The policy name results about images without any policy are filed under.
pub const NO_POLICY: &str = "no-policy";

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            cpu_workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            require_all_platforms: false,
            no_policy: NoPolicyAction::default(),
            max_images: 64,
            parallel_images: 8,
            max_platforms: 32,
        }
    }
}

/// Decides whether images may run, per the policies in a [`PolicyStore`].
#[derive(Clone)]
pub struct Engine {
    /// Resolves tags to digests and lists platforms.
    registry: Arc<dyn Registry>,
    /// Where evidence is discovered: the registry first, then any added source.
    sources: Vec<Arc<dyn EvidenceSource>>,
    store: PolicyStore,
    config: EngineConfig,
    cpu: Arc<Semaphore>,
    verified: Arc<verify::VerifyCache>,
    decisions: Arc<decisions::DecisionCache>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// How far one image got, for the timeout message.
struct Progress {
    step: &'static str,
    digest: Option<Digest>,
}

impl Engine {
    /// A new engine over `registry` (which resolves images and is the first evidence
    /// source) and the bundles of `store`.
    pub fn new(registry: Arc<dyn Registry>, store: PolicyStore, config: EngineConfig) -> Engine {
        let permits = config.cpu_workers.max(1);
        Engine {
            sources: vec![Arc::new(RegistryEvidence(registry.clone()))],
            registry,
            store,
            config,
            cpu: Arc::new(Semaphore::new(permits)),
            verified: Arc::new(verify::VerifyCache::default()),
            decisions: Arc::new(decisions::DecisionCache::default()),
        }
    }

    /// The same engine (registry client and caches, policies, verification cache) with
    /// its own limit of `cpu_workers` verifications/evaluations at once: for background
    /// work that must not take admission's slots.
    pub fn with_own_cpu_limit(&self, cpu_workers: usize) -> Engine {
        let mut engine = self.clone();
        engine.config.cpu_workers = cpu_workers.max(1);
        engine.cpu = Arc::new(Semaphore::new(engine.config.cpu_workers));
        engine
    }

    /// The engine with one more place to discover evidence in, asked after those it has.
    pub fn with_evidence_source(mut self, source: Arc<dyn EvidenceSource>) -> Engine {
        self.sources.push(source);
        self
    }

    /// Verifications/evaluations running right now (for the in-flight gauge).
    pub fn evaluations_in_flight(&self) -> usize {
        self.config
            .cpu_workers
            .max(1)
            .saturating_sub(self.cpu.available_permits())
    }

    /// The engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The policy store the engine reads (one snapshot per request).
    pub fn store(&self) -> &PolicyStore {
        &self.store
    }

    /// Decides every unique image of `req` in parallel; images past `deadline` get a
    /// `timeout` result. One verdict per unique image reference, in first-use order.
    pub async fn check(&self, req: &CheckRequest, deadline: Instant) -> Vec<ImageVerdict> {
        let snapshot = self.store.snapshot();
        let bundles: Vec<Bundle> = snapshot.bundles().into_iter().cloned().collect();
        let catalogue = controls::catalogue(&bundles);
        let ctx = Arc::new(Context {
            workload: WorkloadInfo {
                kind: req.workload.kind.clone(),
                namespace: req.namespace.name.clone(),
                name: req.workload.name.clone(),
                labels: req.workload.labels.clone(),
                annotations: req.workload.annotations.clone(),
                service_account_name: req.workload.service_account_name.clone(),
                containers: Vec::new(),
            },
            namespace: req.namespace.clone(),
            request: req.request.clone(),
            // Whole seconds: policies that read the time are remembered for the second.
            time: req
                .time
                .unwrap_or_else(|| chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 0)),
            require_all_platforms: self.config.require_all_platforms,
            catalogue: catalogue.clone(),
        });
        let mut folded: Vec<(String, Vec<ContainerInfo>)> = Vec::new();
        for u in &req.images {
            let c = ContainerInfo {
                name: u.container.clone(),
                kind: u.container_kind.clone(),
            };
            match folded.iter_mut().find(|(i, _)| *i == u.image) {
                Some((_, cs)) => cs.push(c),
                None => folded.push((u.image.clone(), vec![c])),
            }
        }
        if folded.len() > self.config.max_images {
            let mut verdicts = too_many_images(folded, self.config.max_images);
            for v in &mut verdicts {
                v.controls = controls::outcomes(&catalogue, v);
            }
            return verdicts;
        }
        let work: Vec<_> = folded
            .into_iter()
            .map(|(image, containers)| {
                let span = tracing::info_span!(
                    "image",
                    image = %image,
                    digest = tracing::field::Empty
                );
                self.check_image(image, containers, &bundles, ctx.clone(), req, deadline)
                    .instrument(span)
            })
            .collect();
        futures::stream::iter(work)
            .buffered(self.config.parallel_images.max(1))
            .collect()
            .await
    }

    async fn check_image(
        &self,
        image: String,
        containers: Vec<ContainerInfo>,
        bundles: &[Bundle],
        ctx: Arc<Context>,
        req: &CheckRequest,
        deadline: Instant,
    ) -> ImageVerdict {
        let parsed = ImageRef::parse(&image);
        let ns = &req.namespace;
        let applicable: Vec<Bundle> = bundles
            .iter()
            .filter(|b| match &parsed {
                Ok(r) => b.matcher().matches(&MatchTarget {
                    namespace: &ns.name,
                    namespace_labels: &ns.labels,
                    image_name: &r.name(),
                }),
                Err(_) => b.matcher().matches_namespace(&ns.name, &ns.labels),
            })
            .cloned()
            .collect();
        let mut verdict = ImageVerdict {
            image: image.clone(),
            containers,
            digest: parsed.as_ref().ok().and_then(|r| r.digest.clone()),
            results: Vec::new(),
            evidence: EvidenceSummary::default(),
            controls: Vec::new(),
        };
        if applicable.is_empty() {
            verdict.results = self.config.no_policy.result(&image).into_iter().collect();
            verdict.controls = controls::outcomes(&ctx.catalogue, &verdict);
            return verdict;
        }
        let r = match parsed {
            Ok(r) => r,
            Err(e) => {
                verdict.results = fail_all(&applicable, Category::BadRequest, &e.to_string());
                verdict.controls = controls::outcomes(&ctx.catalogue, &verdict);
                return verdict;
            }
        };
        let progress = Arc::new(Mutex::new(Progress {
            step: "resolving the image",
            digest: None,
        }));
        let work = self.work(
            r,
            verdict.containers.clone(),
            &applicable,
            ctx.clone(),
            req,
            &progress,
        );
        match tokio::time::timeout_at(deadline, work).await {
            Ok(Ok((digest, results, summary))) => {
                verdict.digest = Some(digest);
                verdict.results = results;
                verdict.evidence = summary;
            }
            Ok(Err(f)) => {
                verdict.digest = progress.lock().ok().and_then(|p| p.digest.clone());
                verdict.results = fail_all(&applicable, f.category, &f.message);
            }
            Err(_) => {
                let (step, digest) = progress
                    .lock()
                    .map(|p| (p.step, p.digest.clone()))
                    .unwrap_or(("deciding", None));
                verdict.digest = digest;
                let msg = format!("{image}: decision deadline passed while {step}");
                tracing::warn!(%image, step, "decision deadline passed");
                verdict.results = fail_all(&applicable, Category::Timeout, &msg);
            }
        }
        verdict.controls = controls::outcomes(&ctx.catalogue, &verdict);
        verdict
    }

    async fn work(
        &self,
        r: ImageRef,
        containers: Vec<ContainerInfo>,
        applicable: &[Bundle],
        ctx: Arc<Context>,
        req: &CheckRequest,
        progress: &Mutex<Progress>,
    ) -> Result<(Digest, Vec<PolicyResult>, EvidenceSummary), StepFailure> {
        let set_step = |s: &'static str| {
            if let Ok(mut p) = progress.lock() {
                p.step = s;
            }
        };
        let creds = &req.credentials;
        let resolved = self.registry.resolve(&r, creds).await?;
        let digest = resolved.digest.clone();
        tracing::Span::current().record("digest", tracing::field::display(&digest));
        tracing::debug!("resolved");
        if let Ok(mut p) = progress.lock() {
            p.digest = Some(digest.clone());
        }
        let mut platforms = resolved.platforms.clone();
        if self.config.require_all_platforms && platforms.is_empty() {
            set_step("listing the platforms of the image index");
            platforms = self.registry.platforms(&r, &digest, creds).await?;
        }
        let mut evidence = Vec::new();
        let mut skipped = Vec::new();
        let mut skipped_omitted = 0;
        if applicable
            .iter()
            .any(|b| !b.attestors().is_empty() || b.layout().is_some())
        {
            set_step("discovering attestations");
            let mut subjects = vec![digest.clone()];
            if self.config.require_all_platforms {
                let real = decide::real_platforms(&platforms);
                if real.len() > self.config.max_platforms {
                    return Err(StepFailure {
                        category: Category::TooLarge,
                        message: format!(
                            "{r}: the image index lists {} platforms; --require-all-platforms checks at most {}",
                            real.len(),
                            self.config.max_platforms
                        ),
                    });
                }
                subjects.extend(real.into_iter().map(|(_, d)| d.clone()));
            }
            let lookups: Vec<_> = subjects
                .iter()
                .flat_map(|d| self.sources.iter().map(move |s| (d, s)))
                .map(|(d, s)| {
                    let span = tracing::debug_span!("discovery", subject = %d, source = %s.name());
                    let lookup = s.discover(&r, d, creds);
                    async move {
                        let found = lookup.await;
                        match &found {
                            Ok(f) => tracing::debug!(
                                evidence = f.evidence.len(),
                                skipped = f.skipped.len() + f.skipped_omitted,
                                "discovered"
                            ),
                            Err(e) => tracing::debug!(error = %e, "discovery failed"),
                        }
                        found
                    }
                    .instrument(span)
                })
                .collect();
            let found_all: Vec<_> = futures::stream::iter(lookups)
                .buffered(PARALLEL_PLATFORMS)
                .collect()
                .await;
            for found in found_all {
                let Discovery {
                    evidence: ev,
                    skipped: sk,
                    skipped_omitted: omitted,
                    ..
                } = found?;
                skipped_omitted += omitted;
                for e in ev {
                    if !evidence.iter().any(|x: &crate::registry::Evidence| {
                        x.blob_digest == e.blob_digest && x.subject == e.subject
                    }) {
                        evidence.push(e);
                    }
                }
                skipped.extend(sk);
            }
        }
        let facts = ImageFacts {
            image: r,
            digest: digest.clone(),
            media_type: resolved.media_type,
            platforms,
            containers,
            evidence,
            skipped,
            skipped_omitted,
        };
        let key = decisions::key(&facts, applicable, &ctx);
        if let Some(known) = key.as_deref().and_then(|k| self.decisions.get(k)) {
            return Ok((digest, known.0.clone(), known.1.clone()));
        }
        set_step("waiting for a verification slot");
        let permit = self
            .cpu
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StepFailure {
                category: Category::Timeout,
                message: "the engine is shutting down".into(),
            })?;
        set_step("verifying attestations and evaluating policies");
        let bundles = applicable.to_vec();
        let cache = self.verified.clone();
        let span = tracing::Span::current();
        let (results, summary) = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let _permit = permit;
            let _in_flight = crate::metrics::metrics().evaluation_in_flight();
            decide::decide(&facts, &bundles, &ctx, &cache)
        })
        .await
        .map_err(task_failed)?;
        if let Some(key) = key {
            self.decisions
                .put(key, &Arc::new((results.clone(), summary.clone())));
        }
        Ok((digest, results, summary))
    }
}
