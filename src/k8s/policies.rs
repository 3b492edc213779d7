//! Policy bundles from ConfigMaps: a watcher on custody's namespace, filtered by a label
//! selector (default `custody.dev/policy`), turns each ConfigMap into a bundle upsert or
//! removal on a [`PolicySink`]. The ConfigMap's name is the bundle name and its `data`
//! keys are the bundle's files (`policy.yaml`, `*.rego`, `data.json`).
//!
//! A bundle the sink rejects keeps the previous version (the sink's job), and is reported
//! three ways: an error log line, `custody_policy_reload_failures_total`, and a Warning
//! Event on the ConfigMap (`kubectl describe configmap` shows why).

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource as _, ResourceExt as _};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::metrics::metrics;

/// Where ConfigMap bundles go (implemented by the policy store).
pub trait PolicySink: Send + Sync {
    /// Compiles and installs bundle `name` from its files; on `Err` the previous version
    /// (if any) must stay in force. The message is shown to operators as is.
    fn upsert(&self, name: &str, files: BTreeMap<String, String>) -> Result<(), String>;
    /// Removes bundle `name` (no-op when unknown).
    fn remove(&self, name: &str);
}

/// Watches policy ConfigMaps and feeds a [`PolicySink`].
pub struct PolicyWatch {
    client: Client,
    namespace: String,
    selector: String,
    sink: Arc<dyn PolicySink>,
    recorder: Recorder,
    synced: Arc<AtomicBool>,
}

/// The controller name on the Events custody writes.
pub const EVENT_CONTROLLER: &str = "custody";

impl PolicyWatch {
    /// A watch on ConfigMaps in `namespace` matching the label `selector`.
    pub fn new(
        client: Client,
        namespace: impl Into<String>,
        selector: impl Into<String>,
        sink: Arc<dyn PolicySink>,
    ) -> Self {
        let reporter = Reporter {
            controller: EVENT_CONTROLLER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            namespace: namespace.into(),
            selector: selector.into(),
            sink,
            synced: Arc::new(AtomicBool::new(false)),
        }
    }

    /// True once the first complete listing has been applied (a readiness condition).
    pub fn synced(&self) -> Arc<AtomicBool> {
        self.synced.clone()
    }

    /// Runs the watch until the task is dropped; API errors are retried with backoff.
    pub async fn run(self) {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        let config = watcher::Config::default().labels(&self.selector);
        let mut stream = watcher::watcher(api, config).default_backoff().boxed();
        let mut state = WatchState::default();
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => self.handle(&mut state, event).await,
                Err(err) => {
                    tracing::warn!(namespace = %self.namespace, error = %err, "policy ConfigMap watch failed; retrying");
                }
            }
        }
    }

    /// Feeds a sequence of watch events through the same path as [`run`](Self::run).
    #[cfg(test)]
    pub(crate) async fn handle_all(&self, events: Vec<Event<ConfigMap>>) {
        let mut state = WatchState::default();
        for event in events {
            self.handle(&mut state, event).await;
        }
    }

    async fn handle(&self, state: &mut WatchState, event: Event<ConfigMap>) {
        match event {
            Event::Init => state.listing = Some(BTreeSet::new()),
            Event::InitApply(cm) => {
                if let Some(listing) = state.listing.as_mut() {
                    listing.insert(cm.name_any());
                }
                self.apply(state, &cm).await;
            }
            Event::InitDone => {
                let listed = state.listing.take().unwrap_or_default();
                let gone: Vec<String> = state
                    .versions
                    .keys()
                    .filter(|name| !listed.contains(*name))
                    .cloned()
                    .collect();
                for name in gone {
                    self.remove(state, &name);
                }
                self.synced.store(true, Ordering::Relaxed);
                tracing::info!(namespace = %self.namespace, bundles = state.versions.len(), "policy ConfigMaps synced");
            }
            Event::Apply(cm) => self.apply(state, &cm).await,
            Event::Delete(cm) => self.remove(state, &cm.name_any()),
        }
    }

    fn remove(&self, state: &mut WatchState, name: &str) {
        state.versions.remove(name);
        self.sink.remove(name);
        tracing::info!(policy = name, "policy bundle removed (ConfigMap deleted)");
    }

    async fn apply(&self, state: &mut WatchState, cm: &ConfigMap) {
        let name = cm.name_any();
        let version = cm.resource_version().unwrap_or_default();
        if !version.is_empty() && state.versions.get(&name) == Some(&version) {
            return; // Unchanged (a relist): do not recompile.
        }
        state.versions.insert(name.clone(), version);
        if cm.binary_data.as_ref().is_some_and(|b| !b.is_empty()) {
            tracing::warn!(policy = %name, "binaryData keys of a policy ConfigMap are ignored");
        }
        let files = cm.data.clone().unwrap_or_default();
        match self.sink.upsert(&name, files) {
            Ok(()) => tracing::info!(policy = %name, "policy bundle loaded from ConfigMap"),
            Err(message) => self.rejected(cm, &name, &message).await,
        }
    }

    async fn rejected(&self, cm: &ConfigMap, name: &str, message: &str) {
        metrics().policy_reload_failure();
        tracing::error!(policy = %name, namespace = %self.namespace, error = %message, "policy bundle rejected; the previous version stays in force");
        let event = KubeEvent {
            type_: EventType::Warning,
            reason: "PolicyRejected".into(),
            note: Some(truncate(
                &format!("custody kept the previous version of policy {name:?}: {message}"),
                1000,
            )),
            action: "LoadPolicy".into(),
            secondary: None,
        };
        if let Err(err) = self.recorder.publish(&event, &cm.object_ref(&())).await {
            tracing::warn!(policy = %name, error = %err, "could not record the rejection as an Event");
        }
    }
}

#[derive(Default)]
struct WatchState {
    /// Bundle name -> resourceVersion last handed to the sink.
    versions: HashMap<String, String>,
    /// Names seen since the current (re)list started.
    listing: Option<BTreeSet<String>>,
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Feeds ConfigMap bundles into the [`PolicyStore`](crate::policy::PolicyStore) under
/// source keys `configmap:<namespace>/<name>`.
#[derive(Debug, Clone)]
pub struct StoreSink {
    store: crate::policy::PolicyStore,
    namespace: String,
}

impl StoreSink {
    /// A sink for ConfigMaps of `namespace` into `store`.
    pub fn new(store: crate::policy::PolicyStore, namespace: impl Into<String>) -> Self {
        Self {
            store,
            namespace: namespace.into(),
        }
    }

    fn key(&self, name: &str) -> String {
        format!("configmap:{}/{name}", self.namespace)
    }
}

impl PolicySink for StoreSink {
    fn upsert(&self, name: &str, files: BTreeMap<String, String>) -> Result<(), String> {
        self.store
            .upsert(&self.key(name), &files)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn remove(&self, name: &str) {
        self.store.remove(&self.key(name));
    }
}
