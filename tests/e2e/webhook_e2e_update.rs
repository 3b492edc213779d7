//! `custody serve` over real HTTPS: CREATE vs UPDATE (only new images are checked, with
//! no registry request for unchanged ones, even after a policy tightens),
//! `pods/ephemeralcontainers`, and the warn and audit modes.

use crate::support;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::TestRegistry;
use support::bundles::{NO_EVIDENCE, deny_all_rego};
use support::net::CountingProxy;
use support::reviews::{create, ephemeral, object, update, with_container};
use support::{PolicyDir, Serve, assert_admitted, assert_denied, images, warnings};

const POLICY: &str = "require-e2e";
const TIGHTENED: &str = "tightened: nothing new may run";

/// `obj` scaled to `n` replicas (an UPDATE that changes no image).
fn scaled(obj: &Value, n: u64) -> Value {
    let mut o = obj.clone();
    o["spec"]["replicas"] = json!(n);
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_checks_only_new_images_and_never_blocks_an_unchanged_one() {
    for reg in TestRegistry::both() {
        let kind = format!("{:?}", reg.kind);
        // Images are referenced through a proxy that counts what custody sends the registry.
        let proxy = CountingProxy::start(&reg.host).await;
        let policies = PolicyDir::with(POLICY, "enforce");
        let serve = Serve::start(policies.path(), &["--insecure-registry", &proxy.host]).await;
        let (good, bare) = images::good_and_bare(&reg).await;
        let (good_ref, bare_ref) = (good.via(&proxy.host), bare.via(&proxy.host));

        let v1 = object("deployment", &good_ref);
        assert_admitted(&kind, &serve.validate(&create(&v1)).await);
        let looked_up = proxy.bytes_sent();
        assert!(looked_up > 0, "{kind}: CREATE must consult the registry");

        // Scaling: nothing new, admitted without a registry request.
        let r = serve.validate(&update(&v1, &scaled(&v1, 3))).await;
        assert_admitted(&kind, &r);
        assert_eq!(
            proxy.bytes_sent(),
            looked_up,
            "{kind}: scaling asked the registry"
        );

        // A new, unattested sidecar: denied, naming only the new image.
        let v2 = with_container(&v1, "deployment", "sidecar", &bare_ref);
        let r = serve.validate(&update(&v1, &v2)).await;
        assert_denied(
            &kind,
            &r,
            &[
                "custody denied 1 of 1 image:",
                &format!("- {bare_ref} ({})", bare.short()),
                &format!("{POLICY} [no-attestation]: {NO_EVIDENCE}"),
            ],
        );
        let message = r["status"]["message"].as_str().unwrap();
        assert!(!message.contains(&good_ref), "{kind}: {message}");
        assert!(
            proxy.bytes_sent() > looked_up,
            "{kind}: the new image was not looked up"
        );

        // The policy tightens: every new image is refused from now on.
        policies.write_rego(POLICY, &deny_all_rego(POLICY, TIGHTENED));
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let r = serve
                .validate(&create(&object("deployment", &good_ref)))
                .await;
            if r["allowed"] == false {
                assert_denied(
                    &kind,
                    &r,
                    &[TIGHTENED, &format!("{POLICY} [policy-denied]")],
                );
                break;
            }
            assert!(
                Instant::now() < until,
                "{kind}: the tightened policy never took effect"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // Scaling the old Deployment is still admitted, with no registry request and no
        // warning; the skipped review leaves no decision line.
        let before = proxy.bytes_sent();
        let r = serve.validate(&update(&v1, &scaled(&v1, 5))).await;
        assert_admitted(&kind, &r);
        assert!(r.get("warnings").is_none(), "{kind}: {r}");
        assert_eq!(
            proxy.bytes_sent(),
            before,
            "{kind}: scaling asked the registry"
        );
        // Other operations are admitted untouched.
        let mut delete = update(&v1, &v1);
        delete["request"]["operation"] = json!("DELETE");
        delete["request"]["object"] = Value::Null;
        assert_admitted(&kind, &serve.validate(&delete).await);
        assert_eq!(
            proxy.bytes_sent(),
            before,
            "{kind}: DELETE asked the registry"
        );
        // A final logged review marks the end of the decision log for this run: no
        // UPDATE of the unchanged image was ever decided.
        let marker = serve.validate(&create(&object("job", &bare_ref))).await;
        assert_eq!(marker["allowed"], false, "{kind}: {marker}");
        let log = serve
            .decisions_until(|log| log.iter().any(|d| d["kind"] == "Job"))
            .await;
        assert_eq!(log.last().unwrap()["kind"], "Job", "{kind}: {log:?}");
        let judged_unchanged = log.iter().any(|d| {
            d["operation"] == "UPDATE"
                && d["images"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|i| i["image"] == good_ref.as_str())
        });
        assert!(!judged_unchanged, "{kind}: {log:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_containers_are_checked_on_the_subresource() {
    for reg in TestRegistry::both() {
        let kind = format!("{:?}", reg.kind);
        let policies = PolicyDir::with(POLICY, "enforce");
        let serve = Serve::start(policies.path(), &["--insecure-registry", &reg.host]).await;
        let (good, bare) = images::good_and_bare(&reg).await;
        let debug = images::push(&reg, "debug", Some(&support::fixtures::ci_key())).await;
        let pod = object("pod", &good.image);

        // `kubectl debug` with an unattested image: denied, naming the debug image only.
        let review = ephemeral(&pod, &bare.image);
        assert_eq!(review["request"]["subResource"], "ephemeralcontainers");
        let r = serve.validate(&review).await;
        assert_denied(
            &kind,
            &r,
            &[
                &format!("- {} ({})", bare.image, bare.short()),
                &format!("{POLICY} [no-attestation]"),
            ],
        );
        assert!(
            !r["status"]["message"]
                .as_str()
                .unwrap()
                .contains(&good.image),
            "{kind}: {r}"
        );

        // With an attested debug image: admitted.
        assert_admitted(&kind, &serve.validate(&ephemeral(&pod, &debug.image)).await);

        // A pod created with an unattested ephemeral container is denied too.
        let mut with_debug = pod.clone();
        with_debug["spec"]["ephemeralContainers"] =
            json!([{"name": "dbg", "image": bare.image, "resources": {}}]);
        assert_denied(
            &kind,
            &serve.validate(&create(&with_debug)).await,
            &[&bare.image, &bare.short()],
        );

        let log = serve.decisions_at_least(3).await;
        let first = &log[0];
        assert_eq!(first["operation"], "UPDATE", "{log:?}");
        assert_eq!(first["images"][0]["image"], bare.image.as_str(), "{log:?}");
        assert_eq!(first["images"].as_array().unwrap().len(), 1, "{log:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warn_and_audit_policies_admit_with_warnings_and_audit_annotations() {
    let reg = TestRegistry::distribution();
    let policies = PolicyDir::with("warn-e2e", "warn");
    policies.write("audit-e2e", "audit");
    let serve = Serve::start(policies.path(), &["--insecure-registry", &reg.host]).await;
    let (good, bare) = images::good_and_bare(&reg).await;

    let r = serve
        .validate(&create(&object("deployment", &bare.image)))
        .await;
    assert_admitted("bare image", &r);
    let w = warnings(&r);
    let label = format!("{} ({})", bare.image, bare.short());
    assert!(
        w.contains(&format!(
            "{label}: warn-e2e [no-attestation]: {NO_EVIDENCE} {}",
            bare.digest
        )),
        "{r}"
    );
    assert!(
        !w.contains("audit-e2e"),
        "audit results are not warnings: {r}"
    );
    let audit = r["auditAnnotations"]["policy-audit-e2e"]
        .as_str()
        .unwrap_or_else(|| panic!("no audit annotation: {r}"));
    assert!(
        audit.contains(&format!(
            "{label}: audit-e2e [no-attestation]: {NO_EVIDENCE}"
        )),
        "{audit}"
    );
    assert_eq!(r["auditAnnotations"].as_object().unwrap().len(), 1, "{r}");

    // With evidence: admitted with neither warnings nor annotations.
    let r = serve
        .validate(&create(&object("deployment", &good.image)))
        .await;
    assert_admitted("good image", &r);
    assert!(r.get("warnings").is_none(), "{r}");
    assert!(r.get("auditAnnotations").is_none(), "{r}");

    // The decision log records both policies with their modes.
    let log = serve.decisions_at_least(1).await;
    let modes: Vec<(&str, &str)> = log[0]["images"][0]["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["policy"].as_str().unwrap(), p["mode"].as_str().unwrap()))
        .collect();
    assert!(modes.contains(&("warn-e2e", "warn")), "{modes:?}");
    assert!(modes.contains(&("audit-e2e", "audit")), "{modes:?}");
    assert_eq!(log[0]["allowed"], true);
}
