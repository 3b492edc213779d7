//! `custody serve` over real HTTPS against the real registries (ferro-oci-server with the
//! Referrers API, docker-registry with the tag-schema fallback): a Pod and every workload
//! kind admitted with good evidence and denied without, `/mutate` pinning digests, dry
//! runs, malformed reviews, and the captured kubewarden reviews whose images live on an
//! unreachable docker.io.

use crate::support;
use base64::Engine as _;
use serde_json::Value;
use std::time::{Duration, Instant};
use support::TestRegistry;
use support::bundles::NO_EVIDENCE;
use support::reviews::{KINDS, captured, create, dry_run, object};
use support::{PolicyDir, Serve, assert_admitted, assert_denied, images};

const POLICY: &str = "require-e2e";

async fn serve_for(regs: &[TestRegistry], policies: &PolicyDir, extra: &[&str]) -> Serve {
    let hosts: Vec<&str> = regs.iter().map(|r| r.host.as_str()).collect();
    let insecure = hosts.join(",");
    let mut args = vec!["--insecure-registry", insecure.as_str()];
    args.extend_from_slice(extra);
    Serve::start(policies.path(), &args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_kind_is_admitted_with_evidence_and_denied_without() {
    let regs = TestRegistry::both();
    let policies = PolicyDir::with(POLICY, "enforce");
    let serve = serve_for(&regs, &policies, &[]).await;
    let mut reviewed = 0;
    for reg in &regs {
        let (good, bare) = images::good_and_bare(reg).await;
        for (stem, kind, _) in KINDS {
            let ctx = format!("{kind} on {:?}", reg.kind);
            let r = serve.validate(&create(&object(stem, &good.image))).await;
            assert_admitted(&ctx, &r);
            let r = serve.validate(&create(&object(stem, &bare.image))).await;
            assert_denied(
                &ctx,
                &r,
                &[
                    "custody denied 1 of 1 image:",
                    &format!("- {} ({})", bare.image, bare.short()),
                    &format!("{POLICY} [no-attestation]: {NO_EVIDENCE} {}", bare.digest),
                ],
            );
            assert!(
                !r["status"]["message"]
                    .as_str()
                    .unwrap()
                    .contains(&good.image),
                "{ctx}: {r}"
            );
            assert_eq!(r["status"]["code"], 403, "{ctx}: {r}");
            reviewed += 2;
        }
    }

    // The audit trail: one decision line per review, with kind, digest and policy.
    let log = serve.decisions_at_least(reviewed).await;
    assert_eq!(log.len(), reviewed, "{log:?}\n{}", serve.log());
    let cron = log
        .iter()
        .find(|d| d["kind"] == "CronJob" && d["allowed"] == false)
        .expect("a denied CronJob in the decision log");
    assert_eq!(cron["namespace"], "shop");
    assert_eq!(cron["operation"], "CREATE");
    assert_eq!(cron["user"], "dev@example.com");
    let image = &cron["images"][0];
    assert!(image["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(image["policies"][0]["policy"], POLICY);
    assert_eq!(image["policies"][0]["category"], "no-attestation");
}

fn decoded_patch(response: &Value) -> Vec<Value> {
    assert_eq!(response["patchType"], "JSONPatch", "{response}");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(response["patch"].as_str().expect("patch"))
        .expect("base64 patch");
    serde_json::from_slice(&raw).expect("JSON patch")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutate_pins_verified_images_to_their_digest() {
    let regs = TestRegistry::both();
    let policies = PolicyDir::with(POLICY, "enforce");
    let serve = serve_for(&regs, &policies, &[]).await;
    for reg in &regs {
        let (good, bare) = images::good_and_bare(reg).await;
        for (stem, kind, spec) in KINDS {
            let ctx = format!("{kind} on {:?}", reg.kind);
            let obj = object(stem, &good.image);
            let r = serve.mutate(&create(&obj)).await;
            assert_admitted(&ctx, &r);
            let ops = decoded_patch(&r);
            assert_eq!(ops.len(), 1, "{ctx}: {ops:?}");
            let path = format!("{spec}/containers/0/image");
            assert_eq!(ops[0]["op"], "replace", "{ctx}");
            assert_eq!(ops[0]["path"], path.as_str(), "{ctx}");
            assert_eq!(
                ops[0]["value"],
                format!("{}@{}", good.image, good.digest),
                "{ctx}"
            );
            // The path exists in the object and holds the image as written.
            assert_eq!(obj.pointer(&path).unwrap(), good.image.as_str(), "{ctx}");

            // The mutating webhook never denies: the validating one does. No patch for
            // an image whose evidence fails.
            let r = serve.mutate(&create(&object(stem, &bare.image))).await;
            assert_eq!(r["allowed"], true, "{ctx}: {r}");
            assert!(r.get("patch").is_none(), "{ctx}: {r}");
        }
    }
    // A reference already pinned is left as it is.
    let reg = &regs[0];
    let p = images::push(reg, "pinned", Some(&support::fixtures::ci_key())).await;
    let pinned = format!("{}@{}", p.image, p.digest);
    let r = serve.mutate(&create(&object("pod", &pinned))).await;
    assert_admitted("pinned pod", &r);
    assert!(r.get("patch").is_none(), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_gets_the_same_answer_and_is_logged_as_one() {
    let reg = TestRegistry::ferro();
    let policies = PolicyDir::with(POLICY, "enforce");
    let serve = serve_for(std::slice::from_ref(&reg), &policies, &[]).await;
    let (good, bare) = images::good_and_bare(&reg).await;

    let r = serve
        .validate(&dry_run(create(&object("deployment", &good.image))))
        .await;
    assert_admitted("dry run, good", &r);
    let r = serve
        .validate(&dry_run(create(&object("deployment", &bare.image))))
        .await;
    assert_denied(
        "dry run, bare",
        &r,
        &[
            &bare.image,
            &bare.short(),
            &format!("{POLICY} [no-attestation]"),
        ],
    );
    let log = serve.decisions_at_least(2).await;
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log.iter().all(|d| d["dryRun"] == true), "{log:?}");
    assert_eq!(log[0]["allowed"], true);
    assert_eq!(log[1]["allowed"], false);
}

#[tokio::test]
async fn malformed_reviews_get_a_200_admission_review_denial() {
    let policies = PolicyDir::with(POLICY, "enforce");
    let serve = Serve::start(policies.path(), &[]).await;
    let bodies: [&[u8]; 5] = [
        b"{definitely not json",
        b"",
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
        br#"[1, 2, 3]"#,
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","object":"not an object"}}"#,
    ];
    for path in ["/validate", "/mutate"] {
        for body in bodies {
            let text = String::from_utf8_lossy(body);
            let (status, answer) = serve.post_raw(path, body.to_vec()).await;
            assert_eq!(status, 200, "{path} {text}: {answer}");
            assert_eq!(answer["apiVersion"], "admission.k8s.io/v1", "{answer}");
            assert_eq!(answer["kind"], "AdmissionReview", "{answer}");
            let r = &answer["response"];
            assert_eq!(r["allowed"], false, "{path} {text}: {answer}");
            assert_eq!(r["status"]["code"], 400, "{path} {text}: {answer}");
            let message = r["status"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("could not read the request"),
                "{path} {text}: {message}"
            );
            assert!(r["uid"].is_string(), "{answer}");
        }
    }
    // The uid is salvaged whenever the body has one.
    let (_, answer) = serve.post_raw("/validate", bodies[4].to_vec()).await;
    assert_eq!(answer["response"]["uid"], "u-1", "{answer}");
    // Still serving afterwards.
    assert_eq!(serve.get("/healthz").await.0, 200);
}

#[tokio::test]
async fn captured_reviews_for_an_unreachable_registry_are_denied_in_time() {
    let policies = PolicyDir::with(POLICY, "enforce");
    let deadline = Duration::from_secs(4);
    let serve = Serve::start(policies.path(), &["--decision-deadline", "4s"]).await;
    for file in [
        "kubewarden-pod_sleep_100ms.json",
        "kubewarden-pod_with_privileged_containers.json",
        "kubewarden-pod_without_privileged_containers.json",
    ] {
        let review = captured(file);
        let started = Instant::now();
        let r = serve.validate(&review).await;
        let took = started.elapsed();
        assert!(
            took < deadline + Duration::from_secs(3),
            "{file}: answered after {took:?}"
        );
        assert_eq!(r["allowed"], false, "{file}: {r}");
        let message = r["status"]["message"].as_str().unwrap();
        let images: Vec<&str> = review["request"]["object"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["image"].as_str().unwrap())
            .collect();
        for image in &images {
            assert!(
                message.contains(&format!("- {image}")),
                "{file}: {image} not named:\n{message}"
            );
        }
        assert!(
            message.contains(&format!("{POLICY} [registry-unreachable]"))
                || message.contains(&format!("{POLICY} [timeout]")),
            "{file}: {message}"
        );
        // Explained: the step and the registry, not a bare error code.
        assert!(
            message.contains("docker.io") || message.contains("registry-1.docker.io"),
            "{file}: {message}"
        );
    }
}
