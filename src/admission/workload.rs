//! Finding the pod spec inside each kind of workload, and the images it runs.

use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use serde::Serialize;
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

/// Reads the pod spec out of the `spec` of an object of this kind (its JSON text), with
/// the kind's k8s-openapi type. `Ok(None)` for kinds that make no pods and for workloads
/// without a pod template.
pub fn read_pod_spec(group: &str, kind: &str, spec: &str) -> serde_json::Result<Option<PodSpec>> {
    use k8s_openapi::api::{apps, batch, core};
    fn template(t: Option<PodTemplateSpec>) -> Option<PodSpec> {
        t.and_then(|t| t.spec)
    }
    fn read<T: serde::de::DeserializeOwned>(spec: &str) -> serde_json::Result<T> {
        serde_json::from_str(spec)
    }
    Ok(match (group, kind) {
        ("", "Pod") => Some(read::<PodSpec>(spec)?),
        ("", "ReplicationController") => {
            template(read::<core::v1::ReplicationControllerSpec>(spec)?.template)
        }
        ("apps", "Deployment") => template(Some(read::<apps::v1::DeploymentSpec>(spec)?.template)),
        ("apps", "ReplicaSet") => template(read::<apps::v1::ReplicaSetSpec>(spec)?.template),
        ("apps", "StatefulSet") => {
            template(Some(read::<apps::v1::StatefulSetSpec>(spec)?.template))
        }
        ("apps", "DaemonSet") => template(Some(read::<apps::v1::DaemonSetSpec>(spec)?.template)),
        ("batch", "Job") => template(Some(read::<batch::v1::JobSpec>(spec)?.template)),
        ("batch", "CronJob") => read::<batch::v1::CronJobSpec>(spec)?
            .job_template
            .spec
            .and_then(|job| template(Some(job.template))),
        _ => None,
    })
}

/// Reads the pod template of an object whose pod spec (at `pointer`) is `spec`.
pub fn pod_template(spec: Option<&PodSpec>, pointer: &str) -> PodTemplate {
    let Some(spec) = spec else {
        return PodTemplate::default();
    };
    let mut images: Vec<ImageUse> = Vec::new();
    let lists = [
        (
            ContainerKind::InitContainer,
            "initContainers",
            named(spec.init_containers.as_deref(), |c| {
                (&c.name, c.image.as_ref())
            }),
        ),
        (
            ContainerKind::Container,
            "containers",
            named(Some(spec.containers.as_slice()), |c| {
                (&c.name, c.image.as_ref())
            }),
        ),
        (
            ContainerKind::EphemeralContainer,
            "ephemeralContainers",
            named(spec.ephemeral_containers.as_deref(), |c| {
                (&c.name, c.image.as_ref())
            }),
        ),
    ];
    for (kind, list, containers) in lists {
        for (i, (name, image)) in containers.into_iter().enumerate() {
            // Workload templates may leave `image` empty for a controller to fill in.
            let Some(image) = image.filter(|s| !s.trim().is_empty()) else {
                continue;
            };
            let container = ContainerRef {
                name: name.to_owned(),
                kind,
                pointer: format!("{pointer}/{list}/{i}/image"),
            };
            add_use(&mut images, image, container);
        }
    }
    // Image volumes (`volumes[].image.reference`): the kubelet pulls and mounts them, so
    // an unchecked one would be a way around every policy.
    for (i, v) in spec.volumes.iter().flatten().enumerate() {
        let Some(image) = v
            .image
            .as_ref()
            .and_then(|s| s.reference.as_ref())
            .filter(|s| !s.trim().is_empty())
        else {
            continue;
        };
        let volume = ContainerRef {
            name: v.name.clone(),
            kind: ContainerKind::ImageVolume,
            pointer: format!("{pointer}/volumes/{i}/image/reference"),
        };
        add_use(&mut images, image, volume);
    }
    let pull_secrets = spec
        .image_pull_secrets
        .iter()
        .flatten()
        .map(|s| s.name.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    PodTemplate {
        images,
        service_account: spec.service_account_name.clone().unwrap_or_default(),
        pull_secrets,
    }
}

/// `(name, image)` of each container of a list.
type Named<'a> = Vec<(&'a str, Option<&'a String>)>;

/// `(name, image)` of each item of a container list.
fn named<'a, T>(
    items: Option<&'a [T]>,
    fields: impl Fn(&'a T) -> (&'a String, Option<&'a String>),
) -> Named<'a> {
    items
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let (name, image) = fields(c);
            (name.as_str(), image)
        })
        .collect()
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
    use serde_json::{Value, json};

    /// The pod template of a Pod object given as JSON.
    fn pod(object: Value) -> PodTemplate {
        let spec = read_pod_spec("", "Pod", &object["spec"].to_string()).unwrap();
        pod_template(spec.as_ref(), "/spec")
    }

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
        // Each kind's spec is read with its own k8s-openapi type.
        let template =
            json!({"template": {"spec": {"containers": [{"name": "c", "image": "a:1"}]}}});
        for (g, k, _) in cases {
            let spec = match k {
                "Pod" => json!({"containers": [{"name": "c", "image": "a:1"}]}),
                "CronJob" => json!({"schedule": "@daily", "jobTemplate": {"spec": template}}),
                _ => template.clone(),
            };
            let read = read_pod_spec(g, k, &spec.to_string()).unwrap().unwrap();
            assert_eq!(read.containers[0].image.as_deref(), Some("a:1"), "{g}/{k}");
        }
        assert_eq!(read_pod_spec("", "ConfigMap", "{}").unwrap(), None);
        // A field of the wrong type is an error, not a guess.
        assert!(read_pod_spec("", "Pod", r#"{"containers": [{"name": 7}]}"#).is_err());
        assert_eq!(pod_spec_pointer("example.com", "Deployment"), None);
    }

    #[test]
    fn folds_duplicates_and_reads_every_container_list() {
        let t = pod(json!({"spec": {
            "serviceAccountName": "builder",
            "imagePullSecrets": [{"name": "regcred"}, {}],
            "initContainers": [{"name": "init", "image": "busybox:1"}],
            "containers": [{"name": "a", "image": "app:1"}, {"name": "b", "image": "app:1"},
                           {"name": "c", "image": ""}],
            "ephemeralContainers": [{"name": "dbg", "image": "debug:2"}]
        }}));
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
        let t = pod(json!({"spec": {
            "containers": [{"name": "a", "image": "app:1"}],
            "volumes": [
                {"name": "cfg", "configMap": {"name": "x"}},
                {"name": "models", "image": {"reference": "models:7", "pullPolicy": "IfNotPresent"}},
                {"name": "same", "image": {"reference": "app:1"}},
                {"name": "blank", "image": {"reference": " "}}
            ]
        }}));
        let imgs: Vec<&str> = t.images.iter().map(|u| u.image.as_str()).collect();
        assert_eq!(imgs, ["app:1", "models:7"]);
        let vol = &t.images[1].containers[0];
        assert_eq!(vol.kind, ContainerKind::ImageVolume);
        assert_eq!(vol.name, "models");
        assert_eq!(vol.pointer, "/spec/volumes/1/image/reference");
        assert_eq!(t.images[0].containers[1].kind, ContainerKind::ImageVolume);
        // In a workload template too.
        let dep = json!({"template": {"spec": {"containers": [],
            "volumes": [{"name": "v", "image": {"reference": "data:1"}}]}}});
        let spec = read_pod_spec("apps", "Deployment", &dep.to_string()).unwrap();
        let t = pod_template(spec.as_ref(), "/spec/template/spec");
        assert_eq!(t.images[0].image, "data:1");
    }

    #[test]
    fn update_checks_only_new_images() {
        let old = pod(json!({"spec": {"containers": [{"name": "a", "image": "app:1"}]}}));
        let new = pod(
            json!({"spec": {"containers": [{"name": "a", "image": "app:1"}, {"name": "s", "image": "side:3"}]}}),
        );
        let fresh = new_images(&new.images, &old.images);
        assert_eq!(fresh.len(), 1);
        assert_eq!(fresh[0].image, "side:3");
        assert!(new_images(&old.images, &old.images).is_empty());
    }
}
