//! The webhook server over real HTTPS (in-process): probes, metrics, HTTP/2, and that
//! no input yields anything but a 200 AdmissionReview on the review routes.

use crate::support;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::in_process::{Scripted, start};
use support::tls::{TestCa, client, review_body, review_response};

#[tokio::test]
async fn probes_follow_reviewer_and_extra_checks() {
    let ca = TestCa::new("probes CA");
    let reviewer = Arc::new(Scripted::default());
    let extra = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = extra.clone();
    let check: custody::server::ReadyCheck = Arc::new(move || {
        if flag.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err("configmaps not listed".into())
        }
    });
    let mut srv = start(&ca, reviewer.clone(), vec![check], |_| {}).await;
    let http = client(&ca.pem, false);

    let health = http.get(srv.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let ready = http.get(srv.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let text = ready.text().await.unwrap();
    assert!(text.contains("policies not loaded"), "{text}");
    assert!(text.contains("configmaps not listed"), "{text}");

    reviewer.ready.store(true, Ordering::Relaxed);
    let ready = http.get(srv.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "the extra check still fails");
    extra.store(true, Ordering::Relaxed);
    let ready = http.get(srv.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    let missing = http.get(srv.url("/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    srv.shutdown();
    srv.join().await;
}

#[tokio::test]
async fn malformed_and_oversized_bodies_get_200_admission_denials() {
    let ca = TestCa::new("malformed CA");
    let mut srv = start(&ca, Arc::new(Scripted::default()), vec![], |c| {
        c.max_body_bytes = 64 * 1024;
    })
    .await;
    let http = client(&ca.pem, false);

    for body in [
        "this is not json".to_owned(),
        String::new(),
        "{\"request\":".to_owned(),
        "[1,2,3]".to_owned(),
    ] {
        let resp = http
            .post(srv.url("/validate"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let r = review_response(resp).await;
        assert_eq!(r["allowed"], false, "body {body:?}");
        assert_eq!(r["uid"], "", "body {body:?}");
        assert!(
            r["status"]["message"]
                .as_str()
                .unwrap()
                .contains("bad-request")
        );
    }

    // Too large: the server itself answers, without reading the rest.
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(200 * 1024));
    let resp = http
        .post(srv.url("/validate"))
        .body(huge)
        .send()
        .await
        .unwrap();
    let r = review_response(resp).await;
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 413);

    // A reviewer panic is contained: a denial carrying the request's uid.
    let resp = http
        .post(srv.url("/mutate"))
        .body(review_body("uid-panic", "panic"))
        .send()
        .await
        .unwrap();
    let r = review_response(resp).await;
    assert_eq!(r["uid"], "uid-panic");
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 500);

    // The server keeps serving afterwards.
    let resp = http
        .post(srv.url("/validate"))
        .body(review_body("uid-ok", "fine"))
        .send()
        .await
        .unwrap();
    let r = review_response(resp).await;
    assert_eq!(r["uid"], "uid-ok");
    assert_eq!(r["allowed"], true);
    srv.shutdown();
    srv.join().await;
}

#[tokio::test]
async fn a_reviewer_past_the_bound_is_answered_by_the_server() {
    let ca = TestCa::new("bound CA");
    let http = client(&ca.pem, false);
    for fail_open in [false, true] {
        let mut srv = start(&ca, Arc::new(Scripted::default()), vec![], |c| {
            c.review_bound = Duration::from_millis(200);
            c.fail_open = fail_open;
        })
        .await;
        let resp = http
            .post(srv.url("/validate"))
            .body(review_body("uid-hang", "hang"))
            .send()
            .await
            .unwrap();
        let r = review_response(resp).await;
        assert_eq!(r["uid"], "uid-hang");
        if fail_open {
            assert_eq!(r["allowed"], true);
            assert!(r["warnings"][0].as_str().unwrap().contains("fail-open"));
        } else {
            assert_eq!(r["allowed"], false);
            assert!(r["status"]["message"].as_str().unwrap().contains("timeout"));
        }
        srv.shutdown();
        srv.join().await;
    }
}

#[tokio::test]
async fn http2_and_http1_both_work() {
    let ca = TestCa::new("h2 CA");
    let mut srv = start(&ca, Arc::new(Scripted::default()), vec![], |_| {}).await;
    for (http1_only, expected) in [
        (false, reqwest::Version::HTTP_2),
        (true, reqwest::Version::HTTP_11),
    ] {
        let http = client(&ca.pem, http1_only);
        let resp = http
            .post(srv.url("/validate"))
            .body(review_body("uid-v", "fine"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.version(), expected);
        let r = review_response(resp).await;
        assert_eq!(r["allowed"], true);
    }
    srv.shutdown();
    srv.join().await;
}

#[tokio::test]
async fn metrics_count_reviews_and_decisions() {
    let ca = TestCa::new("metrics CA");
    let mut srv = start(&ca, Arc::new(Scripted::default()), vec![], |_| {}).await;
    let http = client(&ca.pem, false);
    let resp = http
        .post(srv.url("/validate"))
        .body(review_body("uid-m", "fine"))
        .send()
        .await
        .unwrap();
    review_response(resp).await;
    let resp = http.get(srv.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let ctype = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        ctype.starts_with("application/openmetrics-text; version=1.0.0"),
        "{ctype}"
    );
    let text = resp.text().await.unwrap();
    assert!(
        text.contains(
            r#"custody_decisions_total{outcome="allowed",policy="scripted",mode="enforce"}"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"custody_reviews_total{endpoint="validate",outcome="allowed"}"#));
    assert!(
        text.contains(r#"custody_review_duration_seconds_bucket{le="+Inf",endpoint="validate"}"#)
    );
    // OpenMetrics names a counter family without `_total`; its samples carry it. A
    // family with labels appears with its first sample.
    for (family, kind) in [
        ("custody_reviews", "counter"),
        ("custody_decisions", "counter"),
        ("custody_review_duration_seconds", "histogram"),
        ("custody_evaluations_in_flight", "gauge"),
        ("custody_policy_reload_failures", "counter"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} {kind}\n")),
            "{family} missing: {text}"
        );
    }
    // Process-wide counters: other tests in this binary may have counted failures.
    assert!(
        text.contains("\ncustody_policy_reload_failures_total "),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    srv.shutdown();
    srv.join().await;
}
