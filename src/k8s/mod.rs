//! What custody reads from the Kubernetes API (kube-rs), and nothing else uses kube:
//!
//! - [`PolicyWatch`]: policy bundles from labelled ConfigMaps in custody's namespace,
//!   fed to a [`PolicySink`], with Warning Events on rejected bundles;
//! - [`NamespaceLabels`]: namespace labels for policies' namespace selectors;
//! - [`PullSecrets`]: the `imagePullSecrets` of a pod and its ServiceAccount;
//! - [`TrustedRootWatch`]: the Sigstore trusted root from one ConfigMap;
//! - [`pods`]: the containers running in the cluster (`custody report --kubernetes`).
//! - [`BackgroundScan`]: running Pods re-evaluated on an interval, reported as
//!   PolicyReports, gauges and Events (only with `--background-scan`).
//!
//! RBAC this needs (least privilege): `configmaps` list/watch in custody's namespace;
//! `namespaces` list/watch (cluster); `serviceaccounts` and `secrets` get (cluster, or
//! per namespace); `events.k8s.io/events` create/patch in custody's namespace. The
//! background scan adds (cluster): `pods` list/watch, `wgpolicyk8s.io/policyreports`
//! get/list/create/update/patch/delete, `events.k8s.io/events` create/patch.

mod namespaces;
pub mod pods;
mod policies;
mod pull_secrets;
pub mod scan;
pub mod testing;
mod trusted_root;

pub use namespaces::NamespaceLabels;
pub use policies::{EVENT_CONTROLLER, PolicySink, PolicyWatch, StoreSink};
pub use pull_secrets::{PullSecret, PullSecretKind, PullSecrets};
pub use scan::{BackgroundScan, ScanConfig};
pub use trusted_root::{TRUSTED_ROOT_KEY, TrustedRootWatch};

/// The label that marks a ConfigMap as a policy bundle (the default selector).
pub const POLICY_LABEL: &str = "custody.dev/policy";

/// Why the Kubernetes client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    /// No in-cluster service account and no usable kubeconfig.
    #[error("connecting to the Kubernetes API (in-cluster or kubeconfig): {0}")]
    Connect(#[source] kube::Error),
}

/// A client from the in-cluster environment or the local kubeconfig.
pub async fn client() -> Result<kube::Client, K8sError> {
    kube::Client::try_default().await.map_err(K8sError::Connect)
}

#[cfg(test)]
mod tests;
