//! The admission module against AdmissionReviews a real apiserver sent (kubewarden's
//! captures) and objects made by `kubectl create --dry-run=client`: every pod-bearing kind
//! yields its images, with the JSON pointer a digest-pinning patch needs.

use crate::support;
use custody::admission::{self, Operation, Plan, RequestExt, review};
use serde_json::Value;
use support::fixtures::data_bytes;

fn data(rel: &str) -> Vec<u8> {
    data_bytes(&format!("admission-review/{rel}"))
}

fn planned_images(body: &[u8]) -> (Vec<String>, Vec<String>) {
    let req = admission::parse(body).expect("review parses");
    match admission::plan(&req) {
        Plan::Check { images, .. } => (
            images.iter().map(|u| u.image.clone()).collect(),
            images
                .iter()
                .flat_map(|u| u.containers.iter().map(|c| c.pointer.clone()))
                .collect(),
        ),
        Plan::Skip(why) => panic!("expected a check, got skip: {why}"),
    }
}

#[test]
fn captured_pod_reviews_yield_their_images() {
    for f in [
        "kubewarden-pod_with_privileged_containers.json",
        "kubewarden-pod_without_privileged_containers.json",
    ] {
        let (images, pointers) = planned_images(&data(f));
        assert_eq!(images, ["alpine", "nginx"], "{f}");
        assert_eq!(
            pointers,
            ["/spec/containers/0/image", "/spec/containers/1/image"],
            "{f}"
        );
        let req = admission::parse(&data(f)).unwrap();
        assert_eq!(req.user(), "kubernetes-admin");
        assert_eq!(req.namespace_name(), "default");
    }
}

#[test]
fn numeric_annotation_values_do_not_break_parsing() {
    let req = admission::parse(&data("kubewarden-pod_sleep_100ms.json")).unwrap();
    assert_eq!(
        req.annotations()["kubewarden.sleep_duration_milliseconds"],
        "100"
    );
}

#[test]
fn every_workload_kind_made_by_kubectl_is_checked_at_apply_time() {
    let cases = [
        ("deployment", "/spec/template/spec/containers/0/image"),
        ("replicaset", "/spec/template/spec/containers/0/image"),
        ("statefulset", "/spec/template/spec/containers/0/image"),
        ("daemonset", "/spec/template/spec/containers/0/image"),
        (
            "replicationcontroller",
            "/spec/template/spec/containers/0/image",
        ),
        ("job", "/spec/template/spec/containers/0/image"),
        (
            "cronjob",
            "/spec/jobTemplate/spec/template/spec/containers/0/image",
        ),
    ];
    for (kind, pointer) in cases {
        let object: Value = serde_json::from_slice(&data(&format!("objects/{kind}.json"))).unwrap();
        let review = review::synthesize(&object, Operation::Create, "shop", "dev@example.com");
        let (images, pointers) = planned_images(review.to_string().as_bytes());
        assert_eq!(images, ["registry.example/shop/app:1.0"], "{kind}");
        assert_eq!(pointers, [pointer], "{kind}");
        // The synthesized review holds the pointer's target, as a patch would need.
        assert_eq!(
            review["request"]["object"].pointer(pointer).unwrap(),
            "registry.example/shop/app:1.0"
        );
    }
}

#[test]
fn ephemeral_container_updates_check_only_the_debug_image() {
    let mut old: Value =
        serde_json::from_slice(&data("kubewarden-pod_without_privileged_containers.json")).unwrap();
    let pod = old["request"]["object"].clone();
    let mut new_pod = pod.clone();
    new_pod["spec"]["ephemeralContainers"] =
        serde_json::json!([{"name": "debugger", "image": "registry.example/tools/debug:2"}]);
    old["request"]["operation"] = "UPDATE".into();
    old["request"]["subResource"] = "ephemeralcontainers".into();
    old["request"]["oldObject"] = pod;
    old["request"]["object"] = new_pod;
    let (images, pointers) = planned_images(old.to_string().as_bytes());
    assert_eq!(images, ["registry.example/tools/debug:2"]);
    assert_eq!(pointers, ["/spec/ephemeralContainers/0/image"]);
}
