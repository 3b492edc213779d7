//! `custody serve` end to end: the real binary over HTTPS, a real registry
//! (docker-registry) with signed provenance attached, the shipped `require-provenance`
//! policy, and a registry that never answers. Pods with attested images are admitted,
//! others denied with the category; the stalled registry yields a `timeout` denial
//! within the deadline; metrics count decisions per policy.

use crate::support;
use serde_json::{Value, json};
use support::images::push_with_provenance;
use support::net::Stall;
use support::{Serve, TestRegistry, fixtures};

/// Pushes an image, optionally with signed provenance; returns its reference.
async fn image(reg: &TestRegistry, name: &str, attested: bool) -> String {
    let key = fixtures::ci_key();
    let evidence = attested.then_some((&key, None));
    push_with_provenance(reg, &format!("server-e2e/{name}:1.0"), evidence)
        .await
        .0
}

fn pod_review(uid: &str, image: &str) -> Value {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("pod-{uid}"), "namespace": "shop"},
        "spec": {"containers": [{"name": "app", "image": image}]},
    });
    let mut review = custody::admission::review::synthesize(
        &pod,
        custody::admission::Operation::Create,
        "shop",
        "alice",
    );
    review["request"]["uid"] = json!(uid);
    review
}

#[tokio::test]
async fn serve_admits_attested_images_and_denies_the_rest() {
    support::init_crypto();
    let reg = TestRegistry::distribution();
    let good = image(&reg, "good", true).await;
    let bare = image(&reg, "bare", false).await;
    let stall = Stall::start().await;
    let stalled = &stall.host;
    let policy = fixtures::library().join("require-provenance");
    let mut s = Serve::start(
        &policy,
        &[
            "--kubernetes=false",
            "--insecure-registry",
            &format!("{},{stalled}", reg.host),
            "--decision-deadline",
            "2s",
        ],
    )
    .await;

    assert_eq!(s.get("/readyz").await.0, 200);

    let r = s.validate(&pod_review("good", &good)).await;
    assert_eq!(r["uid"], "good");
    assert_eq!(r["allowed"], true, "{r}");

    let r = s.validate(&pod_review("bare", &bare)).await;
    assert_eq!(r["uid"], "bare");
    assert_eq!(r["allowed"], false, "{r}");
    let message = r["status"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("no-attestation"), "{message}");
    assert!(message.contains("require-provenance"), "{message}");

    // A registry that never answers: an explicit timeout denial, not a hang or an allow.
    let r = s
        .validate(&pod_review("stalled", &format!("{stalled}/app/api:1.0")))
        .await;
    assert_eq!(r["uid"], "stalled");
    assert_eq!(r["allowed"], false, "{r}");
    let message = r["status"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("timeout"), "{message}");

    // Digest pinning on /mutate for the admitted image.
    let r = s.mutate(&pod_review("pin", &good)).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(r["patchType"], "JSONPatch", "{r}");

    let (_, metrics) = s.get("/metrics").await;
    assert!(
        metrics.contains(r#"custody_decisions_total{outcome="denied",policy="require-provenance",mode="enforce"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"custody_decisions_total{outcome="allowed",policy="require-provenance",mode="enforce"}"#),
        "{metrics}"
    );

    // Registry and cache metrics are fed by the registry client: the second review of
    // the good image found its tag in the cache.
    assert!(
        metrics.contains(r#"custody_registry_requests_total{result="ok"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"custody_cache_requests_total{cache="tag",result="hit"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"custody_cache_requests_total{cache="tag",result="miss"}"#),
        "{metrics}"
    );

    let status = s.terminate().await;
    assert!(status.success(), "{status}");
}
