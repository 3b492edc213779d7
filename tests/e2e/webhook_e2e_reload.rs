//! `custody serve` over real HTTPS while its `--policy-dir` changes: a bundle rewritten
//! while reviews are in flight (every answer complete and from the old or the new policy,
//! the new one in force afterwards), a broken bundle that does not replace the working
//! one, `/readyz` following the directory, and `/metrics` counting decisions by outcome,
//! policy and mode.

use crate::support;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::TestRegistry;
use support::bundles::deny_all_rego;
use support::reviews::{create, object};
use support::serve::sample;
use support::{PolicyDir, Serve, assert_admitted, images};

const POLICY: &str = "gate";
const V2: &str = "gate v2: this image is no longer accepted";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Old,
    New,
}

/// Old policy: admitted. New policy: denied with [`V2`]. Anything else fails the test.
fn classify(r: &Value) -> Answer {
    if r["allowed"] == true && r.get("status").is_none() {
        return Answer::Old;
    }
    let message = r["status"]["message"].as_str().unwrap_or_default();
    assert!(
        r["allowed"] == false
            && r["status"]["code"] == 403
            && message.contains(&format!("{POLICY} [policy-denied]: {V2}")),
        "neither the old nor the new policy's answer: {r}"
    );
    Answer::New
}

/// Runs `loops` sequential review loops until `stop`; returns each loop's answers.
fn reviewing(
    serve: &Arc<Serve>,
    review: &Value,
    loops: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<Answer>>> {
    (0..loops)
        .map(|_| {
            let (serve, review, stop) = (serve.clone(), review.clone(), stop.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    answers.push(classify(&serve.validate(&review).await));
                }
                answers
            })
        })
        .collect()
}

/// Waits (bounded) until a fresh review gets `want`.
async fn until_answer(serve: &Serve, review: &Value, want: Answer) {
    let until = Instant::now() + Duration::from_secs(30);
    while classify(&serve.validate(review).await) != want {
        assert!(
            Instant::now() < until,
            "never answered {want:?}\n{}",
            serve.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_reload_under_load_gives_old_or_new_answers_never_errors() {
    let reg = TestRegistry::ferro();
    let policies = PolicyDir::with(POLICY, "enforce");
    let serve = Arc::new(Serve::start(policies.path(), &["--insecure-registry", &reg.host]).await);
    let good = images::push(&reg, "good", Some(&support::fixtures::ci_key())).await;
    let review = create(&object("deployment", &good.image));
    assert_eq!(classify(&serve.validate(&review).await), Answer::Old);

    // Reviews in flight while the bundle is rewritten in place.
    let stop = Arc::new(AtomicBool::new(false));
    let loops = reviewing(&serve, &review, 4, &stop);
    tokio::time::sleep(Duration::from_millis(300)).await;
    policies.write_rego(POLICY, &deny_all_rego(POLICY, V2));
    until_answer(&serve, &review, Answer::New).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let mut all = Vec::new();
    for l in loops {
        let answers = l.await.expect("a review loop failed");
        // Sequential reviews never go back to the old policy once the new one answered.
        if let Some(first_new) = answers.iter().position(|a| *a == Answer::New) {
            assert!(
                answers[first_new..].iter().all(|a| *a == Answer::New),
                "{answers:?}"
            );
        }
        all.extend(answers);
    }
    assert!(
        all.contains(&Answer::Old),
        "no review ran before the reload"
    );
    assert!(all.contains(&Answer::New), "no review ran after the reload");

    // A broken rewrite of the same bundle, and a broken new bundle, while reviews run:
    // the working version stays in force.
    let metrics = serve.get("/metrics").await.1;
    let failures = sample(&metrics, "custody_policy_reload_failures_total");
    let stop = Arc::new(AtomicBool::new(false));
    let loops = reviewing(&serve, &review, 4, &stop);
    policies.write_rego(POLICY, "package custody.gate\n\ndeny contains msg if {{{\n");
    let broken = policies.bundle("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("policy.yaml"), "name: [not, a, name\n").unwrap();
    serve
        .metrics_until("a counted reload failure", |m| {
            sample(m, "custody_policy_reload_failures_total") > failures
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    for l in loops {
        let answers = l.await.expect("a review loop failed");
        assert!(answers.iter().all(|a| *a == Answer::New), "{answers:?}");
    }
    for _ in 0..3 {
        assert_eq!(classify(&serve.validate(&review).await), Answer::New);
    }
    assert_eq!(serve.get("/readyz").await.0, 200);
    assert!(
        serve.log().contains("policy bundle failed to load"),
        "{}",
        serve.log()
    );

    // Fixing the bundle back to the first version restores the old answer.
    std::fs::remove_dir_all(&broken).unwrap();
    policies.write(POLICY, "enforce");
    until_answer(&serve, &review, Answer::Old).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_policy_dir_and_metrics_count_decisions() {
    let reg = TestRegistry::ferro();
    // A bundle broken at startup has no earlier version to keep: not ready, and the
    // reason names it.
    let policies = PolicyDir::empty();
    policies.write_files(
        "require-e2e",
        "enforce",
        "package custody.require_e2e\n\ndeny[msg] if {\n",
    );
    let serve = Serve::start(policies.path(), &["--insecure-registry", &reg.host]).await;
    assert_eq!(serve.get("/healthz").await.0, 200);
    let (status, text) = serve.get("/readyz").await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("failed to load at startup"), "{text}");
    assert!(text.contains("require-e2e"), "{text}");
    let m = serve.get("/metrics").await.1;
    assert_eq!(sample(&m, "custody_policy_bundles_unenforced"), 1.0, "{m}");

    policies.write("require-e2e", "enforce");
    policies.write("advise-e2e", "warn");
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, text) = serve.get("/readyz").await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < until,
            "never ready: {text}\n{}",
            serve.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (good, bare) = images::good_and_bare(&reg).await;
    for _ in 0..2 {
        let r = serve.validate(&create(&object("job", &good.image))).await;
        assert_admitted("good", &r);
    }
    let r = serve.validate(&create(&object("job", &bare.image))).await;
    assert_eq!(r["allowed"], false, "{r}");

    let m = serve
        .metrics_until("three validate reviews", |m| {
            sample(
                m,
                "custody_review_duration_seconds_count{endpoint=\"validate\"}",
            ) >= 3.0
        })
        .await;
    let series = |outcome: &str, policy: &str, mode: &str| {
        sample(
            &m,
            &format!(
                "custody_decisions_total{{outcome=\"{outcome}\",policy=\"{policy}\",mode=\"{mode}\"}}"
            ),
        )
    };
    assert_eq!(series("allowed", "require-e2e", "enforce"), 2.0, "{m}");
    assert_eq!(series("denied", "require-e2e", "enforce"), 1.0, "{m}");
    assert_eq!(series("allowed", "advise-e2e", "warn"), 2.0, "{m}");
    assert_eq!(series("denied", "advise-e2e", "warn"), 1.0, "{m}");
    let reviews = |outcome: &str| {
        sample(
            &m,
            &format!("custody_reviews_total{{endpoint=\"validate\",outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!(reviews("allowed"), 2.0, "{m}");
    assert_eq!(reviews("denied"), 1.0, "{m}");
    assert_eq!(
        sample(
            &m,
            "custody_review_duration_seconds_count{endpoint=\"validate\"}"
        ),
        3.0,
        "{m}"
    );
    assert_eq!(sample(&m, "custody_reviews_in_flight"), 0.0, "{m}");
    assert_eq!(sample(&m, "custody_evaluations_in_flight"), 0.0, "{m}");
    // Registry requests and cache lookups: the second review of the good image was
    // answered from the tag and discovery caches.
    assert!(
        sample(&m, "custody_registry_requests_total{result=\"ok\"}") >= 3.0,
        "{m}"
    );
    for cache in ["tag", "discover"] {
        let hits = format!("custody_cache_requests_total{{cache=\"{cache}\",result=\"hit\"}}");
        let misses = format!("custody_cache_requests_total{{cache=\"{cache}\",result=\"miss\"}}");
        assert!(sample(&m, &hits) >= 1.0, "{cache} hits: {m}");
        assert!(sample(&m, &misses) >= 2.0, "{cache} misses: {m}");
    }

    // A bundle's policy.yaml deleted: a failed reload, the policy stays in force.
    std::fs::remove_file(policies.bundle("require-e2e").join("policy.yaml")).unwrap();
    serve
        .metrics_until("a counted reload failure", |m| {
            sample(m, "custody_policy_reload_failures_total") >= 2.0
        })
        .await;
    let r = serve.validate(&create(&object("job", &bare.image))).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(serve.get("/readyz").await.0, 200);

    // Every bundle removed: still ready, and every image gets the no-policy action
    // (default warn: admitted with a warning naming the image).
    std::fs::remove_dir_all(policies.bundle("require-e2e")).unwrap();
    std::fs::remove_dir_all(policies.bundle("advise-e2e")).unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let r = serve.validate(&create(&object("job", &bare.image))).await;
        if r["allowed"] == true {
            let w = support::warnings(&r);
            assert!(
                w.contains("no policy applies to") && w.contains(&bare.image),
                "{r}"
            );
            break;
        }
        assert!(
            Instant::now() < until,
            "the removed policies still apply: {r}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(serve.get("/readyz").await.0, 200);
    let m = serve.get("/metrics").await.1;
    assert!(
        sample(&m, "custody_images_without_policy_total{action=\"warn\"}") >= 1.0,
        "{m}"
    );
}
