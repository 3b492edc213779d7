//! What runs in a cluster, for `custody report --kubernetes`: every container of every
//! Pod (one LIST, paged), the digest it actually runs (from the container status, when
//! the kubelet reported one), its owning workload, and its namespace's labels.
//!
//! RBAC: `pods` list (cluster, or in the one namespace asked for) and `namespaces` list
//! (or get of that one namespace).

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::ListParams;
use kube::{Api, Client};
use std::collections::BTreeMap;

/// Pods fetched per LIST page.
const PAGE: u32 = 500;

/// One container image use of a running Pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningContainer {
    /// The Pod's namespace.
    pub namespace: String,
    /// The owning workload's kind (`ReplicaSet`, `StatefulSet`, …), or `Pod`.
    pub owner_kind: String,
    /// The owning workload's name, or the Pod's.
    pub owner_name: String,
    /// The Pod's name.
    pub pod: String,
    /// The container's name.
    pub container: String,
    /// `container`, `initContainer` or `ephemeralContainer`.
    pub container_kind: String,
    /// The image as the Pod spec writes it.
    pub spec_image: String,
    /// The reference to check: `name@digest` of what runs when the kubelet reported a
    /// digest, else the spec's reference.
    pub image: String,
}

/// Why the cluster could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// Listing Pods failed.
    #[error("listing pods{scope}: {source}")]
    Pods {
        /// ` in namespace X`, or empty.
        scope: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Reading namespace labels failed.
    #[error("reading namespaces: {0}")]
    Namespaces(#[source] kube::Error),
}

/// Every container of every Pod (in `namespace`, or all), in API order.
pub async fn running_containers(
    client: &Client,
    namespace: Option<&str>,
) -> Result<Vec<RunningContainer>, ListError> {
    let api: Api<Pod> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let mut out = Vec::new();
    let mut params = ListParams::default().limit(PAGE);
    loop {
        let page = api.list(&params).await.map_err(|source| ListError::Pods {
            scope: namespace
                .map(|n| format!(" in namespace {n}"))
                .unwrap_or_default(),
            source,
        })?;
        for pod in &page.items {
            out.extend(containers_of(pod));
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    Ok(out)
}

/// The labels of each namespace (or of the one asked for).
pub async fn namespace_labels(
    client: &Client,
    namespace: Option<&str>,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, ListError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let items = match namespace {
        Some(ns) => match api.get_opt(ns).await.map_err(ListError::Namespaces)? {
            Some(n) => vec![n],
            None => Vec::new(),
        },
        None => {
            api.list(&ListParams::default())
                .await
                .map_err(ListError::Namespaces)?
                .items
        }
    };
    Ok(items
        .into_iter()
        .filter_map(|n| {
            let name = n.metadata.name?;
            Some((name, n.metadata.labels.unwrap_or_default()))
        })
        .collect())
}

fn containers_of(pod: &Pod) -> Vec<RunningContainer> {
    let meta = &pod.metadata;
    let namespace = meta.namespace.clone().unwrap_or_default();
    let pod_name = meta.name.clone().unwrap_or_default();
    let (owner_kind, owner_name) = meta
        .owner_references
        .as_ref()
        .and_then(|o| o.iter().find(|r| r.controller == Some(true)).or(o.first()))
        .map(|r| (r.kind.clone(), r.name.clone()))
        .unwrap_or_else(|| ("Pod".to_owned(), pod_name.clone()));
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    let status = pod.status.as_ref();
    let running = |kind: &str, name: &str| -> Option<String> {
        let list = match kind {
            "initContainer" => status?.init_container_statuses.as_ref(),
            "ephemeralContainer" => status?.ephemeral_container_statuses.as_ref(),
            _ => status?.container_statuses.as_ref(),
        }?;
        list.iter()
            .find(|s| s.name == name)
            .map(|s| s.image_id.clone())
    };
    let mut uses: Vec<(&str, String, Option<String>)> = Vec::new();
    for c in &spec.containers {
        uses.push(("container", c.name.clone(), c.image.clone()));
    }
    for c in spec.init_containers.iter().flatten() {
        uses.push(("initContainer", c.name.clone(), c.image.clone()));
    }
    for c in spec.ephemeral_containers.iter().flatten() {
        uses.push(("ephemeralContainer", c.name.clone(), c.image.clone()));
    }
    uses.into_iter()
        .filter_map(|(kind, name, image)| {
            let spec_image = image?;
            let image = running(kind, &name)
                .and_then(|id| pinned(&spec_image, &id))
                .unwrap_or_else(|| spec_image.clone());
            Some(RunningContainer {
                namespace: namespace.clone(),
                owner_kind: owner_kind.clone(),
                owner_name: owner_name.clone(),
                pod: pod_name.clone(),
                container: name,
                container_kind: kind.to_owned(),
                spec_image,
                image,
            })
        })
        .collect()
}

/// `name@digest` from the spec reference and a status `imageID`
/// (`docker-pullable://nginx@sha256:…`, `docker.io/library/nginx@sha256:…`); `None`
/// when the status names no repository digest.
pub fn pinned(spec_image: &str, image_id: &str) -> Option<String> {
    let (_, hex) = image_id.rsplit_once("@sha256:")?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let base = match spec_image.split_once('@') {
        Some((b, _)) => b,
        None => spec_image,
    };
    let slash = base.rfind('/').map_or(0, |i| i + 1);
    let name = match base[slash..].rfind(':') {
        Some(colon) => &base[..slash + colon],
        None => base,
    };
    Some(format!("{name}@sha256:{hex}"))
}

#[cfg(test)]
mod tests {
    use super::pinned;

    #[test]
    fn pins_the_running_digest_to_the_spec_name() {
        let d = "a".repeat(64);
        assert_eq!(
            pinned(
                "127.0.0.1:5000/shop/api:1.0",
                &format!("docker-pullable://x@sha256:{d}")
            ),
            Some(format!("127.0.0.1:5000/shop/api@sha256:{d}"))
        );
        assert_eq!(
            pinned("nginx", &format!("docker.io/library/nginx@sha256:{d}")),
            Some(format!("nginx@sha256:{d}"))
        );
        assert_eq!(pinned("nginx:1", &format!("sha256:{d}")), None);
        assert_eq!(pinned("nginx:1", ""), None);
    }
}
