//! What the engine is asked: the images of one workload, and who asks where.

use crate::policy::input::{NamespaceInfo, RequestInfo};
use crate::registry::Credentials;
use std::collections::BTreeMap;

/// One decision request: the images of a workload (as written), where it runs, and who
/// asked. Built by `admission` from an AdmissionReview and by `custody verify` from flags.
#[derive(Debug, Clone, Default)]
pub struct CheckRequest {
    /// Every image use; duplicates are folded by the engine.
    pub images: Vec<ImageUse>,
    /// The workload.
    pub workload: Workload,
    /// The namespace (name and labels).
    pub namespace: NamespaceInfo,
    /// The request (operation, user, groups, dry run).
    pub request: RequestInfo,
    /// Registry credentials for this workload (pull secrets and defaults).
    pub credentials: Credentials,
    /// Evaluation time given to policies; `None` means now, in whole seconds.
    pub time: Option<chrono::DateTime<chrono::Utc>>,
}

/// One container's use of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUse {
    /// The image reference exactly as written.
    pub image: String,
    /// The container's name.
    pub container: String,
    /// `container`, `initContainer`, `ephemeralContainer` or `imageVolume`.
    pub container_kind: String,
}

impl ImageUse {
    /// A regular container using `image`.
    pub fn container(image: &str, name: &str) -> ImageUse {
        ImageUse {
            image: image.to_owned(),
            container: name.to_owned(),
            container_kind: "container".to_owned(),
        }
    }
}

/// The workload (Pod or pod controller) the images belong to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workload {
    /// `Pod`, `Deployment`, ...
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
    /// The pod's service account.
    pub service_account_name: String,
}
