//! `custody review`: the webhook's answer for a file, without a cluster or a server.

use crate::support;
use std::path::Path;
use std::process::Output;
use support::cli::{custody, text};

/// `custody review PATH` with the library policies, its images on a registry that
/// refuses connections (127.0.0.1:9), and `extra` flags.
fn review_unreachable(path: &Path, extra: &[&str]) -> Output {
    let path = path.to_str().unwrap();
    let mut args = vec![
        "review",
        path,
        "--policies",
        "policies",
        "--insecure-registry",
        "127.0.0.1:9",
    ];
    args.extend_from_slice(extra);
    custody(&args)
}

#[test]
fn a_bare_object_from_kubectl_is_reviewed_as_a_create() {
    // 127.0.0.1:9 refuses connections: a bounded, explained denial, exit 1.
    let dir = tempfile::tempdir().unwrap();
    let obj =
        std::fs::read_to_string("tests/data/admission-review/objects/deployment.json").unwrap();
    let obj = obj.replace("registry.example/shop/app:1.0", "127.0.0.1:9/shop/app:1.0");
    let path = dir.path().join("deployment.json");
    std::fs::write(&path, obj).unwrap();
    let out = review_unreachable(&path, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("denied: custody denied 1 of 1 image:"), "{t}");
    assert!(t.contains("- 127.0.0.1:9/shop/app:1.0"), "{t}");
    assert!(t.contains("[registry-unreachable]"), "{t}");

    let json = review_unreachable(&path, &["-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON answer");
    assert_eq!(v["kind"], "AdmissionReview");
    assert_eq!(v["response"]["allowed"], false);
    assert_eq!(v["response"]["status"]["code"], 403);
}

#[test]
fn kinds_without_pods_are_admitted_and_unreadable_input_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cm = dir.path().join("cm.json");
    std::fs::write(
        &cm,
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#,
    )
    .unwrap();
    let out = custody(&["review", cm.to_str().unwrap(), "--policies", "policies"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("admitted"));

    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "this is not a review").unwrap();
    let out = custody(&["review", junk.to_str().unwrap(), "--policies", "policies"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("could not read the request"),
        "{}",
        text(&out)
    );

    let out = custody(&[
        "review",
        cm.to_str().unwrap(),
        "--policies",
        Path::new("no/such/dir").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn an_image_volume_is_checked_like_a_container() {
    // A Pod whose only unverifiable image is mounted as an image volume: it must be
    // judged (and here denied), not admitted as "1 of 1 image".
    let dir = tempfile::tempdir().unwrap();
    let obj = std::fs::read_to_string("tests/data/admission-review/objects/pod.json").unwrap();
    let mut pod: serde_json::Value = serde_json::from_str(&obj).unwrap();
    pod["spec"]["containers"][0]["image"] = "127.0.0.1:9/shop/app:1.0".into();
    pod["spec"]["volumes"] = serde_json::json!([
        {"name": "models", "image": {"reference": "127.0.0.1:9/shop/models:7"}}
    ]);
    let path = dir.path().join("pod.json");
    std::fs::write(&path, pod.to_string()).unwrap();
    let out = review_unreachable(&path, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("custody denied 2 of 2 images"), "{t}");
    assert!(t.contains("127.0.0.1:9/shop/models:7"), "{t}");
}

#[test]
fn a_trusted_root_is_taken_from_the_file_given() {
    let dir = tempfile::tempdir().unwrap();
    let obj = std::fs::read_to_string("tests/data/admission-review/objects/pod.json").unwrap();
    let path = dir.path().join("pod.json");
    std::fs::write(
        &path,
        obj.replace("registry.example/shop/app:1.0", "127.0.0.1:9/shop/app:1.0"),
    )
    .unwrap();
    // A usable root: the review runs (and is denied: the registry is unreachable).
    let staging = "tests/data/sigstore-trusted-roots/staging.json";
    let out = review_unreachable(&path, &["--trusted-root", staging]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // An unusable one is unusable input, never a silent fall-back to the built-in root.
    let broken = dir.path().join("root.json");
    std::fs::write(&broken, "{\"mediaType\": 7}").unwrap();
    let out = review_unreachable(&path, &["--trusted-root", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("cannot be used"), "{}", text(&out));
}
