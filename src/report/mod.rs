//! The evidence report an auditor reads (`custody report`): for each image (deduplicated
//! by digest), each control's outcome and the evidence or reason behind it, with one
//! summary line per control. The JSON form is `kind: EvidenceReport`
//! ([`REPORT_API_VERSION`]); [`markdown`] and [`html`] render the same document.
//!
//! [`collect::evaluate`] runs the engine exactly as `custody verify` does, one image at a
//! time under bounded concurrency; [`build`] folds the verdicts into the report.

pub mod collect;
pub mod html;
pub mod markdown;

use crate::engine::ImageVerdict;
use crate::policy::Bundle;
use crate::policy::controls::{ControlOutcome, ControlSet, ControlStatus};
use serde::{Deserialize, Serialize};

pub use collect::{EvaluateOptions, Evaluated, Target, evaluate};

/// The `apiVersion` of the report document.
pub const REPORT_API_VERSION: &str = "custody.dev/v1alpha1";
/// The `kind` of the report document.
pub const REPORT_KIND: &str = "EvidenceReport";

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceReport {
    /// Always [`REPORT_API_VERSION`].
    pub api_version: String,
    /// Always [`REPORT_KIND`].
    pub kind: String,
    /// When, at what evaluation time and over what the report was made.
    pub metadata: ReportMetadata,
    /// The policies evaluated and the controls each implements.
    pub policies: Vec<PolicyEntry>,
    /// Per control: its title, policies, and counts over the images.
    pub controls: Vec<ControlSummary>,
    /// Per distinct image digest (and namespace): where it runs and each control's outcome.
    pub images: Vec<ImageEntry>,
    /// Image counts.
    pub summary: ReportSummary,
}

/// When and over what the report was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportMetadata {
    /// When the report was made (RFC 3339 UTC).
    pub generated_at: String,
    /// The evaluation time the policies saw (`--time`, default the generation time).
    pub evaluation_time: String,
    /// `images` (named on the command line) or `kubernetes` (running Pods).
    pub source: String,
    /// The namespace the report is limited to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The custody version that made it.
    pub custody_version: String,
}

/// A policy of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyEntry {
    /// Its name.
    pub name: String,
    /// `enforce`, `warn` or `audit`.
    pub mode: String,
    /// Ids of the controls it declares.
    pub controls: Vec<String>,
}

/// One control over all images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlSummary {
    /// The control id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// The policies implementing it.
    pub policies: Vec<String>,
    /// Images for which it is satisfied.
    pub satisfied: usize,
    /// Images for which it failed.
    pub failed: usize,
    /// Images it does not apply to.
    pub not_applicable: usize,
    /// All images of the report.
    pub images: usize,
}

impl ControlSummary {
    /// `C-02: 41 of 43 images satisfied (1 failed, 1 not applicable)`.
    pub fn line(&self) -> String {
        let mut extra = Vec::new();
        if self.failed > 0 {
            extra.push(format!("{} failed", self.failed));
        }
        if self.not_applicable > 0 {
            extra.push(format!("{} not applicable", self.not_applicable));
        }
        let tail = if extra.is_empty() {
            String::new()
        } else {
            format!(" ({})", extra.join(", "))
        };
        format!(
            "{}: {} of {} image{} satisfied{tail}",
            self.id,
            self.satisfied,
            self.images,
            if self.images == 1 { "" } else { "s" }
        )
    }
}

/// A workload that runs an image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadRef {
    /// Its namespace.
    pub namespace: String,
    /// `Deployment`, `ReplicaSet`, `Pod`, …
    pub kind: String,
    /// Its name.
    pub name: String,
    /// The container that runs the image.
    pub container: String,
}

impl WorkloadRef {
    /// `namespace/Kind/name (container)`.
    pub fn label(&self) -> String {
        format!(
            "{}/{}/{} ({})",
            self.namespace, self.kind, self.name, self.container
        )
    }
}

/// One image (a distinct digest in one namespace).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageEntry {
    /// The first reference that named it.
    pub image: String,
    /// Every reference that resolved to this digest.
    pub references: Vec<String>,
    /// The digest (none when it could not be resolved).
    pub digest: Option<String>,
    /// The namespace it was evaluated for.
    pub namespace: String,
    /// Workloads running it (empty for images named on the command line).
    pub workloads: Vec<WorkloadRef>,
    /// Whether admission would admit it now.
    pub admitted: bool,
    /// Policies that failed, `policy [category]: words` (any mode).
    pub failures: Vec<String>,
    /// Each control's outcome, in catalogue order.
    pub controls: Vec<ControlOutcome>,
}

impl ImageEntry {
    /// The outcome of control `id` for this image.
    pub fn control(&self, id: &str) -> Option<&ControlOutcome> {
        self.controls.iter().find(|c| c.id == id)
    }
}

/// Image counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportSummary {
    /// Distinct images.
    pub images: usize,
    /// Images admission would admit.
    pub admitted: usize,
    /// Images admission would deny.
    pub denied: usize,
}

/// What the report covers, for its metadata.
#[derive(Debug, Clone)]
pub struct Scope {
    /// `images` or `kubernetes`.
    pub source: String,
    /// The namespace it is limited to.
    pub namespace: Option<String>,
    /// The evaluation time.
    pub time: chrono::DateTime<chrono::Utc>,
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn failure_line(r: &crate::engine::PolicyResult) -> String {
    let category = r
        .category
        .map_or_else(|| "policy-denied".to_owned(), |c| c.to_string());
    format!("{} [{category}]: {}", r.policy, r.messages.join("; "))
}

/// Folds evaluated images into the report: one entry per (digest, namespace), in first
/// appearance order; images that did not resolve stay one entry per reference.
pub fn build(bundles: &[Bundle], evaluated: Vec<Evaluated>, scope: &Scope) -> EvidenceReport {
    let catalogue: Vec<ControlSet> = crate::policy::controls::catalogue(bundles);
    let mut images: Vec<ImageEntry> = Vec::new();
    for Evaluated { target, verdict } in evaluated {
        let digest = verdict.digest.as_ref().map(ToString::to_string);
        let existing = digest.as_ref().and_then(|d| {
            images
                .iter_mut()
                .find(|e| e.digest.as_ref() == Some(d) && e.namespace == target.namespace.name)
        });
        match existing {
            Some(e) => {
                if !e.references.contains(&target.image) {
                    e.references.push(target.image.clone());
                }
                for w in target.workloads {
                    if !e.workloads.contains(&w) {
                        e.workloads.push(w);
                    }
                }
            }
            None => images.push(entry(target, &verdict, digest)),
        }
    }
    let controls = catalogue
        .iter()
        .map(|set| {
            let count = |s: ControlStatus| {
                images
                    .iter()
                    .filter(|i| i.control(&set.control.id).map(|c| c.status) == Some(s))
                    .count()
            };
            ControlSummary {
                id: set.control.id.clone(),
                title: set.control.title.clone(),
                policies: set.policies.clone(),
                satisfied: count(ControlStatus::Satisfied),
                failed: count(ControlStatus::Failed),
                not_applicable: count(ControlStatus::NotApplicable),
                images: images.len(),
            }
        })
        .collect();
    let mut sorted: Vec<&Bundle> = bundles.iter().collect();
    sorted.sort_by(|a, b| a.name().cmp(b.name()));
    let admitted = images.iter().filter(|i| i.admitted).count();
    EvidenceReport {
        api_version: REPORT_API_VERSION.to_owned(),
        kind: REPORT_KIND.to_owned(),
        metadata: ReportMetadata {
            generated_at: rfc3339(chrono::Utc::now()),
            evaluation_time: rfc3339(scope.time),
            source: scope.source.clone(),
            namespace: scope.namespace.clone(),
            custody_version: env!("CUSTODY_BUILD_VERSION").to_owned(),
        },
        policies: sorted
            .into_iter()
            .map(|b| PolicyEntry {
                name: b.name().to_owned(),
                mode: b.mode().as_str().to_owned(),
                controls: b.spec().controls.iter().map(|c| c.id.clone()).collect(),
            })
            .collect(),
        controls,
        summary: ReportSummary {
            images: images.len(),
            admitted,
            denied: images.len() - admitted,
        },
        images,
    }
}

fn entry(target: Target, verdict: &ImageVerdict, digest: Option<String>) -> ImageEntry {
    ImageEntry {
        image: target.image.clone(),
        references: vec![target.image],
        digest,
        namespace: target.namespace.name,
        workloads: target.workloads,
        admitted: verdict.admitted(),
        failures: verdict.failures().map(failure_line).collect(),
        controls: verdict.controls.clone(),
    }
}

/// The short form of a `sha256:…` digest for tables (`sha256:0123456789ab`).
pub(crate) fn short_digest(d: &str) -> &str {
    &d[..d.len().min("sha256:".len() + 12)]
}

/// The symbol and word of a status: ✓ satisfied, ✗ failed, – not applicable.
pub fn symbol(status: ControlStatus) -> &'static str {
    match status {
        ControlStatus::Satisfied => "✓",
        ControlStatus::Failed => "✗",
        ControlStatus::NotApplicable => "–",
    }
}

#[cfg(test)]
mod tests;
