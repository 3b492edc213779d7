//! AdmissionReviews as a kube-apiserver sends them, made from the `kubectl`-made objects
//! in `tests/data/admission-review/objects/` with custody's own `synthesize`.

use custody::admission::Operation;
use custody::admission::review::synthesize;
use serde_json::{Value, json};

/// The image written in the object fixtures (swapped for a pushed one).
pub const FIXTURE_IMAGE: &str = "registry.example/shop/app:1.0";

/// The namespace of the synthesized reviews.
pub const NAMESPACE: &str = "shop";

/// Every object fixture: (file stem, kind, JSON pointer of its pod spec).
pub const KINDS: &[(&str, &str, &str)] = &[
    ("pod", "Pod", "/spec"),
    ("deployment", "Deployment", "/spec/template/spec"),
    ("replicaset", "ReplicaSet", "/spec/template/spec"),
    ("statefulset", "StatefulSet", "/spec/template/spec"),
    ("daemonset", "DaemonSet", "/spec/template/spec"),
    ("job", "Job", "/spec/template/spec"),
    ("cronjob", "CronJob", "/spec/jobTemplate/spec/template/spec"),
    (
        "replicationcontroller",
        "ReplicationController",
        "/spec/template/spec",
    ),
];

fn data(rel: &str) -> String {
    super::fixtures::data_text(&format!("admission-review/{rel}"))
}

/// The object fixture `stem` with its image replaced by `image`.
pub fn object(stem: &str, image: &str) -> Value {
    let text = data(&format!("objects/{stem}.json"));
    assert!(text.contains(FIXTURE_IMAGE), "{stem}.json has no image");
    serde_json::from_str(&text.replace(FIXTURE_IMAGE, image)).expect("object JSON")
}

/// A captured review from `tests/data/admission-review/`.
pub fn captured(file: &str) -> Value {
    serde_json::from_str(&data(file)).expect("captured review JSON")
}

/// The review for creating `object` in [`NAMESPACE`].
pub fn create(object: &Value) -> Value {
    synthesize(object, Operation::Create, NAMESPACE, "dev@example.com")
}

/// The review for updating `old` to `new`.
pub fn update(old: &Value, new: &Value) -> Value {
    let mut r = synthesize(new, Operation::Update, NAMESPACE, "dev@example.com");
    r["request"]["oldObject"] = old.clone();
    r["request"]["options"] = json!({"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1"});
    r
}

/// `review` marked as a dry run (`kubectl apply --dry-run=server`).
pub fn dry_run(mut review: Value) -> Value {
    review["request"]["dryRun"] = json!(true);
    review
}

/// The pod spec of `object` (of fixture `stem`'s kind), mutably.
pub fn pod_spec<'a>(object: &'a mut Value, stem: &str) -> &'a mut Value {
    let pointer = KINDS
        .iter()
        .find(|(s, _, _)| *s == stem)
        .map(|(_, _, p)| *p)
        .expect("known fixture");
    object.pointer_mut(pointer).expect("pod spec")
}

/// `object` with one more container (`name`, `image`) in its pod spec.
pub fn with_container(object: &Value, stem: &str, name: &str, image: &str) -> Value {
    let mut o = object.clone();
    let containers = pod_spec(&mut o, stem)["containers"]
        .as_array_mut()
        .expect("containers");
    containers.push(json!({"name": name, "image": image, "resources": {}}));
    o
}

/// The review `kubectl debug` makes: an UPDATE of `pods/ephemeralcontainers` adding an
/// ephemeral container running `image` to `pod`.
pub fn ephemeral(pod: &Value, image: &str) -> Value {
    let mut new = pod.clone();
    new["spec"]["ephemeralContainers"] = json!([{
        "name": "debugger-x7k2p", "image": image, "targetContainerName": "web",
        "stdin": true, "tty": true, "resources": {}
    }]);
    let mut r = update(pod, &new);
    let req = &mut r["request"];
    req["subResource"] = json!("ephemeralcontainers");
    req["requestSubResource"] = json!("ephemeralcontainers");
    r
}
