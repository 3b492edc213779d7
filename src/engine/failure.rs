//! How one image's work ends without an evaluation: a failed step (registry, deadline,
//! limits, custody's own task) denies every applicable policy under its category.

use super::{ContainerInfo, EvidenceSummary, ImageVerdict, PolicyResult};
use crate::category::Category;
use crate::policy::{Bundle, Mode};
use crate::registry::RegistryError;

/// A failure that ends one image's work before evaluation.
pub(super) struct StepFailure {
    pub(super) category: Category,
    pub(super) message: String,
}

/// A verification task that did not return (it panicked, or the runtime is shutting
/// down): custody's own failure, filed `internal`, never the policy's verdict.
pub(super) fn task_failed(e: tokio::task::JoinError) -> StepFailure {
    StepFailure {
        category: Category::Internal,
        message: format!("verification task failed: {e}"),
    }
}

impl From<RegistryError> for StepFailure {
    fn from(e: RegistryError) -> Self {
        StepFailure {
            category: e.category(),
            message: e.to_string(),
        }
    }
}

/// Every image denied, none looked up: the request names more distinct images than one
/// decision may claim registry lookups and memory for.
pub(super) fn too_many_images(
    folded: Vec<(String, Vec<ContainerInfo>)>,
    max: usize,
) -> Vec<ImageVerdict> {
    let count = folded.len();
    let message = format!(
        "the object names {count} distinct images; custody checks at most {max} per request (--max-images-per-review)"
    );
    folded
        .into_iter()
        .map(|(image, containers)| ImageVerdict {
            image,
            containers,
            digest: None,
            results: vec![PolicyResult {
                policy: "custody".to_owned(),
                mode: Mode::Enforce,
                allowed: false,
                category: Some(Category::TooLarge),
                messages: vec![message.clone()],
                warnings: Vec::new(),
            }],
            evidence: EvidenceSummary::default(),
            controls: Vec::new(),
        })
        .collect()
}

pub(super) fn fail_all(bundles: &[Bundle], category: Category, message: &str) -> Vec<PolicyResult> {
    bundles
        .iter()
        .map(|b| PolicyResult {
            policy: b.name().to_owned(),
            mode: b.mode(),
            allowed: false,
            category: Some(category),
            messages: vec![message.to_owned()],
            warnings: Vec::new(),
        })
        .collect()
}
