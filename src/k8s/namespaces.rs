//! Namespace labels for policies' namespace selectors (an AdmissionReview does not carry
//! them): a metadata-only reflector over Namespaces, with a direct GET for a namespace
//! the cache has not seen yet (one created a moment before its first pod).

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Client};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Looks up a namespace's labels from a watched cache.
#[derive(Clone)]
pub struct NamespaceLabels {
    client: Client,
    store: Store<PartialObjectMeta<Namespace>>,
    ready: Arc<AtomicBool>,
}

impl NamespaceLabels {
    /// Starts the reflector on the current runtime; it runs until the runtime stops.
    pub fn start(client: Client) -> Self {
        let (store, writer) = reflector::store();
        let api: Api<PartialObjectMeta<Namespace>> = Api::all(client.clone());
        let ready = Arc::new(AtomicBool::new(false));
        let stream = reflector::reflector(
            writer,
            watcher(api, watcher::Config::default()).default_backoff(),
        );
        tokio::spawn(async move {
            let mut stream = stream.boxed();
            while let Some(item) = stream.next().await {
                if let Err(err) = item {
                    tracing::warn!(error = %err, "namespace watch failed; retrying");
                }
            }
        });
        let flag = ready.clone();
        let waiter = store.clone();
        tokio::spawn(async move {
            if waiter.wait_until_ready().await.is_ok() {
                flag.store(true, Ordering::Relaxed);
            }
        });
        Self {
            client,
            store,
            ready,
        }
    }

    /// True once the first listing arrived (a readiness condition).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// The labels of namespace `name`: from the cache, else from the API; `None` when
    /// the namespace does not exist or cannot be read (logged).
    pub async fn labels(&self, name: &str) -> Option<BTreeMap<String, String>> {
        if let Some(ns) = self.store.get(&ObjectRef::new(name)) {
            return Some(ns.metadata.labels.clone().unwrap_or_default());
        }
        let api: Api<Namespace> = Api::all(self.client.clone());
        match api.get_metadata_opt(name).await {
            Ok(found) => found.map(|ns| ns.metadata.labels.unwrap_or_default()),
            Err(err) => {
                tracing::warn!(namespace = name, error = %err, "could not read namespace labels");
                None
            }
        }
    }
}

#[async_trait::async_trait]
impl crate::webhook::NamespaceLabelSource for NamespaceLabels {
    async fn labels(&self, namespace: &str) -> BTreeMap<String, String> {
        NamespaceLabels::labels(self, namespace)
            .await
            .unwrap_or_default()
    }
}
