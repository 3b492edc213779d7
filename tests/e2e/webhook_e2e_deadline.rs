//! `custody serve` over real HTTPS against registries that stall past the decision
//! deadline: a listener that never answers (stuck resolving the tag) and a registry that
//! resolves the image but drips its referrers listing (stuck discovering attestations).
//! Fail-closed: an explicit `[timeout]` denial naming the image and the step, well before
//! the apiserver would give up. With `--fail-open`: admitted with a warning.

use crate::support;
use serde_json::Value;
use std::time::{Duration, Instant};
use support::hostile::{Body, Fixture, Hostile, Reply};
use support::net::Stall;
use support::reviews::{create, object};
use support::{PolicyDir, Serve, assert_denied, warnings};

const POLICY: &str = "require-e2e";
const DEADLINE: Duration = Duration::from_secs(2);
/// Generous: the deadline plus the server's own bound plus slack for a loaded machine.
const ANSWERED_WITHIN: Duration = Duration::from_secs(6);

/// A registry that serves `app:v1` but sends its referrers listing one byte every 5s.
async fn dripping_referrers() -> (Hostile, custody::digest::Digest) {
    let (server, subject, _) = Fixture::new(None)
        .serve(
            |_, fx| Reply::ok("application/octet-stream", fx.blob.clone()),
            |_, fx| {
                Some(Reply {
                    status: 200,
                    headers: vec![(
                        "Content-Type".into(),
                        "application/vnd.oci.image.index.v1+json".into(),
                    )],
                    body: Body::Drip(fx.listing.clone(), Duration::from_secs(5)),
                })
            },
        )
        .await;
    (server, subject)
}

async fn timed(serve: &Serve, review: &Value) -> Value {
    let started = Instant::now();
    let r = serve.validate(review).await;
    let took = started.elapsed();
    assert!(
        took < ANSWERED_WITHIN,
        "answered after {took:?} with a {DEADLINE:?} deadline: {r}"
    );
    r
}

fn start_args(hosts: &str, fail_open: bool) -> Vec<&str> {
    let mut args = vec!["--insecure-registry", hosts, "--decision-deadline", "2s"];
    if fail_open {
        args.push("--fail-open");
    }
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalling_registry_is_denied_in_time_with_the_step() {
    let stall = Stall::start().await;
    let (drip, subject) = dripping_referrers().await;
    let hosts = format!("{},{}", stall.host, drip.host);
    let policies = PolicyDir::with(POLICY, "enforce");
    let serve = Serve::start(policies.path(), &start_args(&hosts, false)).await;

    let stuck = format!("{}/stall/app:1.0", stall.host);
    let r = timed(&serve, &create(&object("deployment", &stuck))).await;
    assert_denied(
        "stalled resolve",
        &r,
        &[
            &format!("- {stuck}"),
            &format!("{POLICY} [timeout]"),
            "decision deadline passed while resolving the image",
        ],
    );
    assert!(
        stall.accepted() > 0,
        "custody never reached the stalling registry"
    );

    let slow = format!("{}/app:v1", drip.host);
    let r = timed(&serve, &create(&object("pod", &slow))).await;
    assert_denied(
        "stalled discovery",
        &r,
        &[
            &format!("- {slow} ({})", subject.short()),
            &format!("{POLICY} [timeout]"),
            "decision deadline passed while discovering attestations",
        ],
    );
    assert!(drip.count("/referrers/") > 0, "{:?}", drip.requests());

    // Both at once, in one review: each image is named, the answer is still in time.
    let two = support::reviews::with_container(
        &object("deployment", &stuck),
        "deployment",
        "slow",
        &slow,
    );
    let r = timed(&serve, &create(&two)).await;
    assert_denied(
        "two stalled images",
        &r,
        &["custody denied 2 of 2 images:", &stuck, &slow],
    );

    // The decision log records the timeouts.
    let log = serve.decisions_at_least(3).await;
    assert_eq!(
        log[0]["images"][0]["policies"][0]["category"], "timeout",
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_fail_open_a_stalling_registry_is_admitted_with_a_warning() {
    let stall = Stall::start().await;
    let (drip, subject) = dripping_referrers().await;
    let hosts = format!("{},{}", stall.host, drip.host);
    let policies = PolicyDir::with(POLICY, "enforce");
    let serve = Serve::start(policies.path(), &start_args(&hosts, true)).await;

    let stuck = format!("{}/stall/app:1.0", stall.host);
    let r = timed(&serve, &create(&object("deployment", &stuck))).await;
    assert_eq!(r["allowed"], true, "{r}");
    let w = warnings(&r);
    assert!(w.contains("admitted by fail-open"), "{w}");
    assert!(w.contains(&stuck), "{w}");
    assert!(w.contains(&format!("{POLICY} [timeout]")), "{w}");
    assert!(w.contains("while resolving the image"), "{w}");

    let slow = format!("{}/app:v1", drip.host);
    let r = timed(&serve, &create(&object("pod", &slow))).await;
    assert_eq!(r["allowed"], true, "{r}");
    let w = warnings(&r);
    assert!(w.contains(&format!("{slow} ({})", subject.short())), "{w}");
    assert!(w.contains("while discovering attestations"), "{w}");

    // Fail-open covers only infrastructure failures: missing evidence is still denied.
    let (bare_server, bare_subject, _) = Fixture::new(None)
        .serve(
            |_, _| Reply::status(404),
            |_, _| {
                Some(Reply::ok(
                    "application/vnd.oci.image.index.v1+json",
                    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#.to_vec(),
                ))
            },
        )
        .await;
    drop(serve);
    let hosts = format!("{hosts},{}", bare_server.host);
    let serve = Serve::start(policies.path(), &start_args(&hosts, true)).await;
    let bare = format!("{}/app:v1", bare_server.host);
    let r = timed(&serve, &create(&object("pod", &bare))).await;
    assert_denied(
        "fail-open, no evidence",
        &r,
        &[
            &format!("- {bare} ({})", bare_subject.short()),
            &format!("{POLICY} [no-attestation]"),
        ],
    );
}
