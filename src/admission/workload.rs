//! Finding the pod spec inside each kind of workload, and the images it runs.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;

/// Which list of the pod spec a container comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ContainerKind {
    /// `spec.containers`.
    Container,
    /// `spec.initContainers`.
    InitContainer,
    /// `spec.ephemeralContainers`.
    EphemeralContainer,
    /// `spec.volumes[].image` (a Kubernetes image volume: its image is pulled and
    /// mounted, so it is checked like a container's).
    ImageVolume,
}

impl ContainerKind {
    const ALL: [(ContainerKind, &'static str); 3] = [
        (ContainerKind::InitContainer, "initContainers"),
        (ContainerKind::Container, "containers"),
        (ContainerKind::EphemeralContainer, "ephemeralContainers"),
    ];
}

/// One container that runs an image (or an image volume that mounts one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerRef {
    /// The container's name.
    pub name: String,
    /// Which list it is in.
    pub kind: ContainerKind,
    /// JSON pointer to its `image` field (used for digest pinning).
    #[serde(skip)]
    pub pointer: String,
}

/// An image and every container of the object that runs it (duplicates folded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageUse {
    /// The image reference exactly as written in the spec.
    pub image: String,
    /// The containers (and image volumes) that use it.
    pub containers: Vec<ContainerRef>,
}

/// The pod-bearing part of an admitted object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodTemplate {
    /// The images, in spec order (init containers first, image volumes last), folded.
    pub images: Vec<ImageUse>,
    /// `serviceAccountName` (empty when unset: the namespace's `default`).
    pub service_account: String,
    /// Names of the `imagePullSecrets`.
    pub pull_secrets: Vec<String>,
}

/// The kinds whose objects make pods (and so are judged at apply time).
pub const POD_KINDS: &[&str] = &[
    "Pod",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "ReplicationController",
];

/// Where the pod spec sits in an object of this kind, or `None` if the kind makes no pods.
pub fn pod_spec_pointer(group: &str, kind: &str) -> Option<&'static str> {
    match (group, kind) {
        ("", "Pod") => Some("/spec"),
        ("", "ReplicationController")
        | ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        | ("batch", "Job") => Some("/spec/template/spec"),
        ("batch", "CronJob") => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// Reads the pod template of `object`, whose pod spec is at `pointer`.
pub fn pod_template(object: &Value, pointer: &str) -> PodTemplate {
    let Some(spec) = object.pointer(pointer) else {
        return PodTemplate::default();
    };
    let mut images: Vec<ImageUse> = Vec::new();
    for (kind, list) in ContainerKind::ALL {
        let Some(containers) = spec.get(list).and_then(Value::as_array) else {
            continue;
        };
        for (i, c) in containers.iter().enumerate() {
            // Workload templates may leave `image` empty for a controller to fill in.
            let Some(image) = c
                .get("image")
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
            else {
                continue;
            };
            let container = ContainerRef {
                name: name_of(c),
                kind,
                pointer: format!("{pointer}/{list}/{i}/image"),
            };
            add_use(&mut images, image, container);
        }
    }
    // Image volumes (`volumes[].image.reference`): the kubelet pulls and mounts them, so
    // an unchecked one would be a way around every policy.
    if let Some(volumes) = spec.get("volumes").and_then(Value::as_array) {
        for (i, v) in volumes.iter().enumerate() {
            let Some(image) = v
                .pointer("/image/reference")
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
            else {
                continue;
            };
            let volume = ContainerRef {
                name: name_of(v),
                kind: ContainerKind::ImageVolume,
                pointer: format!("{pointer}/volumes/{i}/image/reference"),
            };
            add_use(&mut images, image, volume);
        }
    }
    let str_at = |k: &str| spec.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let pull_secrets = spec
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.get("name").and_then(Value::as_str))
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    PodTemplate {
        images,
        service_account: str_at("serviceAccountName"),
        pull_secrets,
    }
}

fn name_of(item: &Value) -> String {
    item.get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

fn add_use(images: &mut Vec<ImageUse>, image: &str, user: ContainerRef) {
    match images.iter_mut().find(|u| u.image == image) {
        Some(u) => u.containers.push(user),
        None => images.push(ImageUse {
            image: image.to_owned(),
            containers: vec![user],
        }),
    }
}

/// The images of `new` that `old` did not already run: on UPDATE only these are checked,
/// so scaling or relabelling an old workload is never blocked by a newer policy.
pub fn new_images(new: &[ImageUse], old: &[ImageUse]) -> Vec<ImageUse> {
    let before: BTreeSet<&str> = old.iter().map(|u| u.image.as_str()).collect();
    new.iter()
        .filter(|u| !before.contains(u.image.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_pod_bearing_kind_has_its_spec_found() {
        let cases = [
            ("", "Pod", "/spec"),
            ("apps", "Deployment", "/spec/template/spec"),
            ("apps", "ReplicaSet", "/spec/template/spec"),
            ("apps", "StatefulSet", "/spec/template/spec"),
            ("apps", "DaemonSet", "/spec/template/spec"),
            ("batch", "Job", "/spec/template/spec"),
            ("", "ReplicationController", "/spec/template/spec"),
            ("batch", "CronJob", "/spec/jobTemplate/spec/template/spec"),
        ];
        for (g, k, p) in cases {
            assert_eq!(pod_spec_pointer(g, k), Some(p), "{g}/{k}");
        }
        assert_eq!(pod_spec_pointer("", "ConfigMap"), None);
        assert_eq!(pod_spec_pointer("example.com", "Deployment"), None);
    }

    #[test]
    fn folds_duplicates_and_reads_every_container_list() {
        let pod = json!({"spec": {
            "serviceAccountName": "builder",
            "imagePullSecrets": [{"name": "regcred"}, {}],
            "initContainers": [{"name": "init", "image": "busybox:1"}],
            "containers": [{"name": "a", "image": "app:1"}, {"name": "b", "image": "app:1"},
                           {"name": "c", "image": ""}],
            "ephemeralContainers": [{"name": "dbg", "image": "debug:2"}]
        }});
        let t = pod_template(&pod, "/spec");
        let imgs: Vec<&str> = t.images.iter().map(|u| u.image.as_str()).collect();
        assert_eq!(imgs, ["busybox:1", "app:1", "debug:2"]);
        assert_eq!(t.images[1].containers.len(), 2);
        assert_eq!(
            t.images[1].containers[1].pointer,
            "/spec/containers/1/image"
        );
        assert_eq!(
            t.images[2].containers[0].kind,
            ContainerKind::EphemeralContainer
        );
        assert_eq!(t.service_account, "builder");
        assert_eq!(t.pull_secrets, vec!["regcred"]);
    }

    #[test]
    fn image_volumes_are_images() {
        let pod = json!({"spec": {
            "containers": [{"name": "a", "image": "app:1"}],
            "volumes": [
                {"name": "cfg", "configMap": {"name": "x"}},
                {"name": "models", "image": {"reference": "models:7", "pullPolicy": "IfNotPresent"}},
                {"name": "same", "image": {"reference": "app:1"}},
                {"name": "blank", "image": {"reference": " "}}
            ]
        }});
        let t = pod_template(&pod, "/spec");
        let imgs: Vec<&str> = t.images.iter().map(|u| u.image.as_str()).collect();
        assert_eq!(imgs, ["app:1", "models:7"]);
        let vol = &t.images[1].containers[0];
        assert_eq!(vol.kind, ContainerKind::ImageVolume);
        assert_eq!(vol.name, "models");
        assert_eq!(vol.pointer, "/spec/volumes/1/image/reference");
        assert_eq!(t.images[0].containers[1].kind, ContainerKind::ImageVolume);
        // In a workload template too.
        let dep = json!({"spec": {"template": {"spec": {"containers": [],
            "volumes": [{"name": "v", "image": {"reference": "data:1"}}]}}}});
        let t = pod_template(&dep, "/spec/template/spec");
        assert_eq!(t.images[0].image, "data:1");
    }

    #[test]
    fn update_checks_only_new_images() {
        let old = pod_template(
            &json!({"spec": {"containers": [{"name": "a", "image": "app:1"}]}}),
            "/spec",
        );
        let new = pod_template(
            &json!({"spec": {"containers": [{"name": "a", "image": "app:1"}, {"name": "s", "image": "side:3"}]}}),
            "/spec",
        );
        let fresh = new_images(&new.images, &old.images);
        assert_eq!(fresh.len(), 1);
        assert_eq!(fresh[0].image, "side:3");
        assert!(new_images(&old.images, &old.images).is_empty());
    }
}
