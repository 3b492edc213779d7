//! What the webhook needs to know about the cluster, as two small traits: the labels of
//! a namespace (for policies' namespace selectors) and the registry credentials of a pod
//! (its pull secrets and its service account's). `crate::k8s` implements both against
//! the API server; `custody review` and tests give fixed answers. The webhook itself
//! never talks to Kubernetes.

use async_trait::async_trait;
use std::collections::BTreeMap;

use crate::registry::Credentials;

/// The labels of a namespace.
#[async_trait]
pub trait NamespaceLabelSource: Send + Sync {
    /// The labels of `namespace` (empty when it is unknown).
    async fn labels(&self, namespace: &str) -> BTreeMap<String, String>;
}

/// The same labels for every namespace (the CLI's `--namespace-label`).
#[derive(Debug, Clone, Default)]
pub struct FixedLabels(pub BTreeMap<String, String>);

#[async_trait]
impl NamespaceLabelSource for FixedLabels {
    async fn labels(&self, _namespace: &str) -> BTreeMap<String, String> {
        self.0.clone()
    }
}

/// The registry credentials a pod brings.
#[async_trait]
pub trait PodCredentialSource: Send + Sync {
    /// Credentials from the pull secrets `secrets` of a pod in `namespace` and those of
    /// its `service_account`; secrets that cannot be read are left out.
    async fn credentials(
        &self,
        namespace: &str,
        secrets: &[String],
        service_account: Option<&str>,
    ) -> Credentials;
}
