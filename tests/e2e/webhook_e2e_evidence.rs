//! `custody serve` over real HTTPS, one review with many images on each real registry:
//! every failing image is named with its short digest and the category a developer can
//! act on (untrusted-signer, subject-mismatch, not-found), attested images (including a
//! multi-platform index) pass, and a long denial is summarised.

use crate::support;
use custody::attest::{KeyAlgorithm, SigningKey};
use custody::digest::Digest;
use serde_json::{Value, json};
use support::bundles::PREDICATE;
use support::reviews::{create, object, with_container};
use support::{PolicyDir, Serve, assert_denied, images};
use support::{TestRegistry, attach_statement, multi_platform, push_layout};

const POLICY: &str = "require-e2e";

/// Pushes `e2e/NAME:1.0` with a statement about `about` (default: itself) signed by `key`.
async fn push_with(
    reg: &TestRegistry,
    name: &str,
    key: &SigningKey,
    about: Option<&Digest>,
) -> images::Pushed {
    let pushed = images::push(reg, name, None).await;
    let image = reg.image(&format!("e2e/{name}:1.0"));
    let about = about.unwrap_or(&pushed.digest);
    attach_statement(&reg.client(), &image, &pushed.digest, about, key, PREDICATE).await;
    pushed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failing_image_is_named_with_its_category() {
    let regs = TestRegistry::both();
    let hosts = format!("{},{}", regs[0].host, regs[1].host);
    let policies = PolicyDir::with(POLICY, "enforce");
    let serve = Serve::start(policies.path(), &["--insecure-registry", &hosts]).await;
    let stranger = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let ci = support::fixtures::ci_key();
    for reg in &regs {
        let ctx = format!("{:?}", reg.kind);
        let good = images::push(reg, "good", Some(&ci)).await;
        let multi = multi_platform(&format!("multi on {}", reg.host));
        let multi_digest = push_layout(reg, &multi, "e2e/multi:1.0");
        let multi_ref = reg.image("e2e/multi:1.0");
        attach_statement(
            &reg.client(),
            &multi_ref,
            &multi_digest,
            &multi_digest,
            &ci,
            PREDICATE,
        )
        .await;
        let multi_image = format!("{}/e2e/multi:1.0", reg.host);
        let wrong_key = push_with(reg, "wrong-key", &stranger, None).await;
        let wrong_key_image = wrong_key.image.clone();
        let other = Digest::sha256(b"another image entirely");
        let mismatch = push_with(reg, "mismatch", &ci, Some(&other)).await.image;
        let absent = format!("{}/e2e/absent:1.0", reg.host);

        let mut pod = object("pod", &good.image);
        pod = with_container(&pod, "pod", "multi", &multi_image);
        pod = with_container(&pod, "pod", "wrong-key", &wrong_key_image);
        pod["spec"]["initContainers"] =
            json!([{"name": "init", "image": mismatch, "resources": {}}]);
        pod = with_container(&pod, "pod", "absent", &absent);
        // The same image twice is folded into one lookup and one message block.
        pod = with_container(&pod, "pod", "again", &wrong_key_image);

        let r = serve.validate(&create(&pod)).await;
        assert_denied(
            &ctx,
            &r,
            &[
                "custody denied 3 of 5 images:",
                &format!("- {wrong_key_image} ({})", wrong_key.short()),
                &format!("{POLICY} [untrusted-signer]"),
                &format!("- {mismatch} ("),
                &format!("{POLICY} [subject-mismatch]"),
                &format!("- {absent}\n"),
                &format!("{POLICY} [not-found]"),
            ],
        );
        let message = r["status"]["message"].as_str().unwrap();
        assert!(!message.contains(&good.image), "{ctx}: {message}");
        assert!(!message.contains(&multi_image), "{ctx}: {message}");
        assert_eq!(
            message.matches(&wrong_key_image).count(),
            1,
            "{ctx}: {message}"
        );

        // Without the failing ones, the same pod is admitted.
        let mut ok = object("pod", &good.image);
        ok = with_container(&ok, "pod", "multi", &multi_image);
        let r = serve.validate(&create(&ok)).await;
        assert_eq!(r["allowed"], true, "{ctx}: {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_denial_is_summarised_in_a_few_lines() {
    let reg = TestRegistry::ferro();
    let policies = PolicyDir::with(POLICY, "enforce");
    policies.write("require-e2e-too", "enforce");
    let serve = Serve::start(policies.path(), &["--insecure-registry", &reg.host]).await;
    let mut pod: Option<Value> = None;
    let mut bare = Vec::new();
    for i in 0..6 {
        let p = images::push(&reg, &format!("bare-{i}"), None).await;
        pod = Some(match pod {
            None => object("pod", &p.image),
            Some(o) => with_container(&o, "pod", &format!("c{i}"), &p.image),
        });
        bare.push(p);
    }
    let r = serve.validate(&create(&pod.unwrap())).await;
    assert_denied(
        "six bare images",
        &r,
        &[
            "custody denied 6 of 6 images:",
            &format!("- {} ({})", bare[0].image, bare[0].short()),
            "require-e2e-too",
            "more failures (see custody's decision log)",
        ],
    );
    let message = r["status"]["message"].as_str().unwrap();
    let lines = message.lines().count();
    assert!(lines <= 12, "{lines} lines:\n{message}");
    // Everything is in the decision log.
    let log = serve.decisions_at_least(1).await;
    assert_eq!(log[0]["images"].as_array().unwrap().len(), 6, "{log:?}");
}
