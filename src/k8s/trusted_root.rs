//! The trusted root from a ConfigMap: one ConfigMap in custody's namespace, key
//! `trusted_root.json`, watched and applied to the process's trusted root store
//! (`crate::policy::trust_root`). A ConfigMap whose root does not load, or that is
//! deleted, leaves the previous root in force (logged, and counted as a reload failure).

use crate::policy::trust_root::TrustedRootStore;
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The ConfigMap key holding the trusted root.
pub const TRUSTED_ROOT_KEY: &str = "trusted_root.json";

/// Watches the trusted-root ConfigMap.
pub struct TrustedRootWatch {
    client: Client,
    namespace: String,
    name: String,
    store: &'static TrustedRootStore,
    synced: Arc<AtomicBool>,
}

impl TrustedRootWatch {
    /// A watch on ConfigMap `name` in `namespace`, applied to the process's trusted root.
    pub fn new(client: Client, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        TrustedRootWatch {
            client,
            namespace: namespace.into(),
            name: name.into(),
            store: crate::policy::trust_root::global(),
            synced: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The same watch applied to another store (tests keep the process's root untouched).
    pub fn with_store(mut self, store: &'static TrustedRootStore) -> Self {
        self.store = store;
        self
    }

    /// True once the first listing has been applied (a readiness condition).
    pub fn synced(&self) -> Arc<AtomicBool> {
        self.synced.clone()
    }

    /// Runs until the task is dropped; API errors are retried with backoff.
    pub async fn run(self) {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        let config = watcher::Config::default().fields(&format!("metadata.name={}", self.name));
        let mut stream = watcher::watcher(api, config).default_backoff().boxed();
        let mut version = String::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(Event::InitApply(cm) | Event::Apply(cm)) => apply(self.store, &cm, &mut version),
                Ok(Event::InitDone) => self.synced.store(true, Ordering::Relaxed),
                Ok(Event::Delete(cm)) => tracing::warn!(
                    configmap = %cm.name_any(),
                    "trusted root ConfigMap deleted; the previous root stays in force"
                ),
                Ok(Event::Init) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "trusted root ConfigMap watch failed; retrying")
                }
            }
        }
    }
}

fn apply(store: &TrustedRootStore, cm: &ConfigMap, version: &mut String) {
    let v = cm.resource_version().unwrap_or_default();
    if !v.is_empty() && v == *version {
        return;
    }
    *version = v;
    let Some(text) = cm.data.as_ref().and_then(|d| d.get(TRUSTED_ROOT_KEY)) else {
        crate::metrics::metrics().policy_reload_failure();
        tracing::warn!(configmap = %cm.name_any(), "the trusted root ConfigMap has no {TRUSTED_ROOT_KEY} key; the previous root stays in force");
        return;
    };
    match store.replace_from_json(text.as_bytes()) {
        Ok(summary) => tracing::info!(configmap = %cm.name_any(), %summary, "trusted root loaded"),
        Err(err) => {
            crate::metrics::metrics().policy_reload_failure();
            tracing::warn!(configmap = %cm.name_any(), error = %err, "trusted root failed to load; the previous root stays in force");
        }
    }
}
