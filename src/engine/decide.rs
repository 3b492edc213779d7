//! The CPU half of one image's decision: verify evidence per policy, build each
//! policy's input document, evaluate, and categorise failures.

use super::input::InputBuilder;
use super::verdict::{EvidenceSummary, PolicyResult, RejectedItem, SkippedItem, VerifiedItem};
use super::verify::{self, PolicyEvidence, VerifyCache};
use crate::category::Category;
use crate::digest::Digest;
use crate::policy::Bundle;
use crate::policy::input::{
    ContainerInfo, EvaluationInfo, ImageInfo, NamespaceInfo, PlatformInfo, PolicyInput,
    RejectedEvidence, RequestInfo, VerifiedAttestation, WorkloadInfo,
};
use crate::registry::{Evidence, ImageRef, PlatformDigest, Skipped};

/// Everything known about one image once the registry work is done.
pub(crate) struct ImageFacts {
    pub(crate) image: ImageRef,
    pub(crate) digest: Digest,
    pub(crate) media_type: Option<String>,
    pub(crate) platforms: Vec<PlatformDigest>,
    pub(crate) containers: Vec<ContainerInfo>,
    pub(crate) evidence: Vec<Evidence>,
    pub(crate) skipped: Vec<Skipped>,
    pub(crate) skipped_omitted: usize,
}

/// The request context shared by all images.
pub(crate) struct Context {
    pub(crate) workload: WorkloadInfo,
    pub(crate) namespace: NamespaceInfo,
    pub(crate) request: RequestInfo,
    pub(crate) time: chrono::DateTime<chrono::Utc>,
    pub(crate) require_all_platforms: bool,
    /// The controls of the loaded policies.
    pub(crate) catalogue: Vec<crate::policy::controls::ControlSet>,
}

/// Platforms that need their own evidence (attestation manifests in an index have no
/// platform or `unknown/unknown`).
pub(crate) fn real_platforms(platforms: &[PlatformDigest]) -> Vec<(String, &Digest)> {
    platforms
        .iter()
        .filter_map(|p| {
            let plat = p.platform.as_ref()?;
            (plat.os != "unknown").then(|| (plat.to_string(), &p.digest))
        })
        .collect()
}

fn base_input(facts: &ImageFacts, ctx: &Context) -> PolicyInput {
    let mut workload = ctx.workload.clone();
    workload.containers = facts.containers.clone();
    PolicyInput {
        api_version: crate::policy::input::INPUT_API_VERSION.to_owned(),
        kind: crate::policy::input::INPUT_KIND.to_owned(),
        evaluation: EvaluationInfo::at(ctx.time),
        image: ImageInfo {
            reference: facts.image.original.clone(),
            registry: facts.image.registry.clone(),
            repository: facts.image.repository.clone(),
            tag: facts.image.tag.clone(),
            digest: facts.digest.to_string(),
            media_type: facts.media_type.clone(),
            platforms: real_platforms(&facts.platforms)
                .into_iter()
                .map(|(platform, d)| PlatformInfo {
                    platform,
                    digest: d.to_string(),
                })
                .collect(),
        },
        attestations: Vec::new(),
        rejected: Vec::new(),
        workload,
        namespace: ctx.namespace.clone(),
        request: ctx.request.clone(),
        layout: None,
    }
}

/// How the message of a policy whose evaluation failed begins.
pub(crate) const EVALUATION_FAILED: &str = "policy evaluation failed";

/// The category of a denial: `policy-denied` when the policy saw the evidence it reads
/// (or reads none); otherwise why that evidence is missing.
fn deny_category(bundle: &Bundle, ev: &PolicyEvidence, rejected: &[RejectedEvidence]) -> Category {
    if bundle.attestors().is_empty() || !ev.attestations.is_empty() {
        return Category::PolicyDenied;
    }
    let relevant: Vec<&RejectedEvidence> = rejected
        .iter()
        .filter(|r| {
            r.claimed_predicate_type
                .as_deref()
                .is_none_or(|t| bundle.wants_predicate(t))
        })
        .collect();
    Category::most_telling(relevant.iter().map(|r| r.category)).unwrap_or(Category::NoAttestation)
}

fn evaluate_one(
    bundle: &Bundle,
    inputs: &mut InputBuilder,
    ev: &PolicyEvidence,
    skipped: &[RejectedEvidence],
    facts: &ImageFacts,
    ctx: &Context,
    layout: Option<&crate::policy::layout::LayoutResult>,
) -> PolicyResult {
    let mut rejected = ev.rejected.clone();
    if !bundle.attestors().is_empty() {
        rejected.extend(skipped.iter().cloned());
    }
    let mut input = inputs.build(bundle, &ev.attestations, &rejected);
    super::layout::insert(&mut input, layout);
    let mut result = PolicyResult {
        policy: bundle.name().to_owned(),
        mode: bundle.mode(),
        allowed: true,
        category: None,
        messages: Vec::new(),
        warnings: Vec::new(),
    };
    match bundle.evaluate(&input) {
        Ok(outcome) => {
            result.warnings = outcome.warn;
            if !outcome.deny.is_empty() {
                result.allowed = false;
                result.category = Some(deny_category(bundle, ev, &rejected));
                result.messages = outcome.deny;
            }
        }
        Err(e) => {
            let text = e.to_string();
            let timeout = text.contains("time limit") || text.contains("execution time");
            result.allowed = false;
            result.category = Some(if timeout {
                Category::Timeout
            } else {
                Category::PolicyDenied
            });
            result.messages = vec![format!("{EVALUATION_FAILED}: {text}")];
        }
    }
    if ctx.require_all_platforms
        && !bundle.predicate_types().is_empty()
        && !bundle.attestors().is_empty()
    {
        for (platform, digest) in real_platforms(&facts.platforms) {
            let d = digest.to_string();
            if !ev.attestations.iter().any(|a| a.subject_digest == d) {
                result.allowed = false;
                result.category.get_or_insert(Category::NoAttestation);
                result.messages.push(format!(
                    "no verified attestation for platform {platform} ({})",
                    digest.short()
                ));
            }
        }
    }
    result
}

/// Decides one image against the applicable bundles. CPU only; run it off the async
/// workers.
pub(crate) fn decide(
    facts: &ImageFacts,
    bundles: &[Bundle],
    ctx: &Context,
    cache: &VerifyCache,
) -> (Vec<PolicyResult>, EvidenceSummary) {
    let parsed = verify::parse_all(&facts.evidence, cache);
    let mut digests = vec![facts.digest.clone()];
    digests.extend(facts.platforms.iter().map(|p| p.digest.clone()));
    let skipped = verify::skipped_as_rejected(&facts.skipped);
    let mut inputs = InputBuilder::new(&base_input(facts, ctx)).with_shared(cache);
    let mut summary = EvidenceSummary {
        found: facts.evidence.len(),
        skipped: facts
            .skipped
            .iter()
            .map(|s| SkippedItem {
                category: s.reason.category(),
                reason: s.reason.to_string(),
                source: s.source.as_str().to_owned(),
            })
            .collect(),
        skipped_omitted: facts.skipped_omitted,
        ..EvidenceSummary::default()
    };
    let mut results = Vec::with_capacity(bundles.len());
    for bundle in bundles {
        let policy = bundle.name();
        let ev = tracing::debug_span!("verification", policy = %policy, digest = %facts.digest)
            .in_scope(|| {
                let ev = verify::for_policy(bundle, &parsed, &digests, cache);
                tracing::debug!(
                    verified = ev.attestations.len(),
                    rejected = ev.rejected.len(),
                    "verified"
                );
                ev
            });
        summarise(&mut summary, bundle.name(), &ev, &facts.evidence);
        let layout = super::layout::evaluate(bundle, &parsed, &facts.digest, ctx.time);
        let result = tracing::debug_span!("policy", policy = %policy, digest = %facts.digest)
            .in_scope(|| {
                let result = evaluate_one(
                    bundle,
                    &mut inputs,
                    &ev,
                    &skipped,
                    facts,
                    ctx,
                    layout.as_ref(),
                );
                tracing::debug!(allowed = result.allowed, category = ?result.category, "evaluated");
                result
            });
        results.push(result);
    }
    (results, summary)
}

/// The referrer annotation that says when an attestation was made.
const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";

/// Where predicates record when they were made (signed, so preferred over the
/// referrer's unsigned annotation): vulns scans, SLSA v1 and v0.2, custody promotions.
const PREDICATE_TIMES: [&[&str]; 5] = [
    &["metadata", "scanFinishedOn"],
    &["runDetails", "metadata", "finishedOn"],
    &["metadata", "buildFinishedOn"],
    &["promotedAt"],
    &["metadata", "scanStartedOn"],
];

/// When a verified statement was made, if anything says.
fn created(a: &VerifiedAttestation, found: &[Evidence]) -> Option<String> {
    let signed = PREDICATE_TIMES.iter().find_map(|path| {
        path.iter()
            .try_fold(&a.predicate, |v, k| v.get(*k))
            .and_then(|v| v.as_str())
            .filter(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
            .map(str::to_owned)
    });
    signed.or_else(|| {
        let blob = a.source.blob_digest.as_deref()?;
        found
            .iter()
            .find(|e| e.blob_digest.to_string() == blob)
            .and_then(|e| e.annotations.get(CREATED_ANNOTATION).cloned())
    })
}

/// Who signed, for a citation: the key id, or the keyless certificate identity.
fn identity(s: &crate::policy::input::SignerInfo) -> String {
    match &s.identity {
        Some(id) => format!("{} ({})", id.subject, id.issuer),
        None => s.key_id.clone(),
    }
}

fn summarise(summary: &mut EvidenceSummary, policy: &str, ev: &PolicyEvidence, found: &[Evidence]) {
    for a in &ev.attestations {
        let blob = a.source.blob_digest.clone().unwrap_or_default();
        let signers: Vec<String> = a
            .signers
            .iter()
            .map(|s| {
                format!(
                    "{}/{}",
                    s.attestor,
                    s.name
                        .clone()
                        .unwrap_or_else(|| s.key_id[..12.min(s.key_id.len())].to_owned())
                )
            })
            .collect();
        match summary
            .verified
            .iter_mut()
            .find(|v| v.blob_digest == blob && v.subject_digest == a.subject_digest)
        {
            Some(v) => {
                v.policies.push(policy.to_owned());
                for s in signers {
                    if !v.signers.contains(&s) {
                        v.signers.push(s);
                    }
                }
                for i in a.signers.iter().map(identity) {
                    if !v.identities.contains(&i) {
                        v.identities.push(i);
                    }
                }
            }
            None => summary.verified.push(VerifiedItem {
                predicate_type: a.predicate_type.clone(),
                subject_digest: a.subject_digest.clone(),
                source: a.source.kind.clone(),
                blob_digest: blob,
                signers,
                identities: a.signers.iter().map(identity).collect(),
                manifest_digest: a.source.manifest_digest.clone(),
                created: created(a, found),
                policies: vec![policy.to_owned()],
            }),
        }
    }
    for r in &ev.rejected {
        let blob = r.source.blob_digest.clone().unwrap_or_default();
        let category = r.category;
        match summary
            .rejected
            .iter_mut()
            .find(|x| x.blob_digest == blob && x.category == category && x.reason == r.reason)
        {
            Some(x) => x.policies.push(policy.to_owned()),
            None => summary.rejected.push(RejectedItem {
                category,
                reason: r.reason.clone(),
                claimed_predicate_type: r.claimed_predicate_type.clone(),
                source: r.source.kind.clone(),
                blob_digest: blob,
                policies: vec![policy.to_owned()],
            }),
        }
    }
}
