//! Running Pods as the background scan sees them: per pod, the workload it belongs to and
//! the image each running container runs, pinned to the digest the kubelet reports.
//!
//! The digest comes from the container status's `imageID` (`repo@sha256:…`, with or
//! without a `docker-pullable://` prefix) joined to the repository of the spec's image;
//! a container without such a status falls back to the spec's reference (a digest when
//! the spec pins one, else a tag the engine resolves). Init containers have finished by
//! the time a pod runs and are left out, except sidecars (`restartPolicy: Always`).

use k8s_openapi::api::core::v1::{ContainerStatus, ObjectReference, Pod};
use kube::ResourceExt as _;
use std::collections::BTreeMap;

use crate::registry::ImageRef;

/// One container's running image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PodImage {
    /// `registry/repository@sha256:…` when the digest is known, else the spec's reference.
    pub reference: String,
    /// The container's name.
    pub container: String,
    /// `container`, `initContainer` (a sidecar) or `ephemeralContainer`.
    pub kind: &'static str,
}

/// What the scan keeps of one running Pod.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PodInfo {
    /// The pod's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
    /// Its service account (`default` when unset).
    pub service_account: String,
    /// The names of its `imagePullSecrets`.
    pub pull_secrets: Vec<String>,
    /// The pod itself, as an object reference.
    pub pod_ref: ObjectReference,
    /// The pod's controller (its `ownerReferences` entry with `controller: true`), or the
    /// pod itself when it has none: what Events and report results name.
    pub workload: ObjectReference,
    /// The running images, one per container.
    pub images: Vec<PodImage>,
}

/// The scan's view of `pod`; `None` for a pod without name or namespace.
pub(crate) fn pod_info(pod: &Pod) -> Option<PodInfo> {
    let name = pod.metadata.name.clone()?;
    let namespace = pod.metadata.namespace.clone()?;
    let pod_ref = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: Some(name.clone()),
        namespace: Some(namespace.clone()),
        uid: pod.metadata.uid.clone(),
        ..ObjectReference::default()
    };
    let workload = pod
        .owner_references()
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|o| ObjectReference {
            api_version: Some(o.api_version.clone()),
            kind: Some(o.kind.clone()),
            name: Some(o.name.clone()),
            namespace: Some(namespace.clone()),
            uid: Some(o.uid.clone()),
            ..ObjectReference::default()
        })
        .unwrap_or_else(|| pod_ref.clone());
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let mut images = Vec::new();
    if let Some(spec) = spec {
        let statuses = status.and_then(|s| s.container_statuses.as_deref());
        for c in &spec.containers {
            images.push(running(c.image.as_deref(), &c.name, "container", statuses));
        }
        let statuses = status.and_then(|s| s.init_container_statuses.as_deref());
        for c in spec.init_containers.iter().flatten() {
            if c.restart_policy.as_deref() == Some("Always") {
                images.push(running(
                    c.image.as_deref(),
                    &c.name,
                    "initContainer",
                    statuses,
                ));
            }
        }
        let statuses = status.and_then(|s| s.ephemeral_container_statuses.as_deref());
        for c in spec.ephemeral_containers.iter().flatten() {
            images.push(running(
                c.image.as_deref(),
                &c.name,
                "ephemeralContainer",
                statuses,
            ));
        }
    }
    images.retain(|i| !i.reference.is_empty());
    Some(PodInfo {
        service_account: spec
            .and_then(|s| s.service_account_name.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".into()),
        pull_secrets: spec
            .and_then(|s| s.image_pull_secrets.as_ref())
            .map(|v| v.iter().map(|r| r.name.clone()).collect())
            .unwrap_or_default(),
        labels: pod.labels().clone(),
        annotations: pod.annotations().clone(),
        name,
        namespace,
        pod_ref,
        workload,
        images,
    })
}

fn running(
    spec_image: Option<&str>,
    container: &str,
    kind: &'static str,
    statuses: Option<&[ContainerStatus]>,
) -> PodImage {
    let spec_image = spec_image.unwrap_or_default();
    let image_id = statuses
        .and_then(|all| all.iter().find(|s| s.name == container))
        .map(|s| s.image_id.as_str())
        .unwrap_or_default();
    PodImage {
        reference: pinned(spec_image, image_id).unwrap_or_else(|| spec_image.to_owned()),
        container: container.to_owned(),
        kind,
    }
}

/// `registry/repository@digest` from the spec's image and the status's `imageID`.
fn pinned(spec_image: &str, image_id: &str) -> Option<String> {
    let id = image_id
        .strip_prefix("docker-pullable://")
        .or_else(|| image_id.strip_prefix("docker://"))
        .unwrap_or(image_id);
    let (_, digest) = id.rsplit_once('@')?;
    let digest: crate::digest::Digest = digest.parse().ok()?;
    let name = ImageRef::parse(spec_image).ok()?.name();
    Some(format!("{name}@{digest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_digest_pins_the_spec_repository() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            pinned("nginx:1.27", &format!("docker.io/library/nginx@{d}")).as_deref(),
            Some(format!("docker.io/library/nginx@{d}").as_str())
        );
        assert_eq!(
            pinned(
                "127.0.0.1:5000/shop/api:1.0",
                &format!("docker-pullable://127.0.0.1:5000/shop/api@{d}")
            )
            .as_deref(),
            Some(format!("127.0.0.1:5000/shop/api@{d}").as_str())
        );
        // containerd may report only an image id (the config digest): not a pin.
        assert_eq!(pinned("nginx:1.27", &d), None);
        assert_eq!(pinned("nginx:1.27", ""), None);
    }

    #[test]
    fn pods_keep_their_controller_and_running_containers() {
        let d = format!("sha256:{}", "b".repeat(64));
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "web-7f", "uid": "rs1", "controller": true}]},
            "spec": {"containers": [{"name": "web", "image": "r.example/web:1"}],
                "initContainers": [
                    {"name": "setup", "image": "r.example/setup:1"},
                    {"name": "proxy", "image": "r.example/proxy:1", "restartPolicy": "Always"}]},
            "status": {"phase": "Running",
                "containerStatuses": [{"name": "web", "image": "r.example/web:1",
                    "imageID": format!("r.example/web@{d}"), "ready": true, "restartCount": 0}]}
        }))
        .unwrap();
        let info = pod_info(&pod).unwrap();
        assert_eq!(info.workload.kind.as_deref(), Some("ReplicaSet"));
        assert_eq!(info.workload.name.as_deref(), Some("web-7f"));
        assert_eq!(info.service_account, "default");
        let refs: Vec<(&str, &str)> = info
            .images
            .iter()
            .map(|i| (i.container.as_str(), i.reference.as_str()))
            .collect();
        assert_eq!(
            refs,
            vec![
                ("web", format!("r.example/web@{d}").as_str()),
                ("proxy", "r.example/proxy:1"),
            ]
        );
    }
}
