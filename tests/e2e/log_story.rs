//! `--log debug` tells one request's story: every step of the data path (review →
//! image → discovery → verification → policy) logs inside spans that carry the review
//! uid and the image digest, so one request's lines can be picked out of a busy log.

use crate::support;
use support::reviews::{create, object};
use support::{PolicyDir, Serve, TestRegistry, assert_admitted, images};

#[tokio::test]
async fn debug_logs_follow_one_review_through_every_step() {
    let reg = TestRegistry::ferro();
    let good = images::push(&reg, "story", Some(&support::fixtures::ci_key())).await;
    let policies = PolicyDir::with("require-e2e", "enforce");
    let serve = Serve::self_signed_logging("custody=debug", |cmd| {
        cmd.arg("--policy-dir")
            .arg(policies.path())
            .args(["--insecure-registry", &reg.host]);
    })
    .await;
    let review = create(&object("pod", &good.image));
    let uid = review["request"]["uid"].as_str().expect("uid").to_owned();
    assert_admitted("story", &serve.validate(&review).await);

    let log = serve.log();
    let digest = good.digest.to_string();
    let ours: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&format!("uid={uid}")))
        .collect();
    for (step, span, event) in [
        ("review", "review{", "review decided"),
        ("image", "image{", "resolved"),
        ("discovery", "discovery{", "discovered"),
        ("verification", "verification{", "verified"),
        ("policy", "policy{", "evaluated"),
    ] {
        let line = ours
            .iter()
            .find(|l| l.contains(span) && l.contains(event))
            .unwrap_or_else(|| panic!("no {step} line for review {uid}:\n{log}"));
        if step != "review" {
            assert!(
                line.contains(&digest),
                "the {step} line names the image digest {digest}: {line}"
            );
        }
    }
    let policy_line = ours
        .iter()
        .find(|l| l.contains("evaluated"))
        .expect("policy line");
    assert!(policy_line.contains("allowed=true"), "{policy_line}");
    assert!(policy_line.contains("policy=require-e2e"), "{policy_line}");
    let verified = ours
        .iter()
        .find(|l| l.contains("verified"))
        .expect("verified");
    assert!(verified.contains("verified=1"), "{verified}");
}
