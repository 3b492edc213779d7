//! The HTTP routes. Review handlers only move bytes between the request and the
//! [`Reviewer`]; they add the body-size and body-time limits, the concurrency limit, a
//! last-resort time bound, panic isolation and metrics.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use futures::FutureExt as _;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

use super::fallback;
use super::reviewer::{Outcome, ReviewOutcome, Reviewer};
use crate::metrics::metrics;

/// An extra readiness condition (for example "policy ConfigMaps listed once").
pub type ReadyCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Limits the review routes apply.
#[derive(Debug, Clone)]
pub(crate) struct RouteLimits {
    pub(crate) max_body_bytes: usize,
    pub(crate) request_body_timeout: Duration,
    pub(crate) max_concurrent_reviews: usize,
    pub(crate) review_bound: Duration,
    pub(crate) fail_open: bool,
    pub(crate) bench_allow_route: bool,
}

#[derive(Clone)]
pub(crate) struct AppState {
    reviewer: Arc<dyn Reviewer>,
    checks: Arc<Vec<ReadyCheck>>,
    limits: Arc<RouteLimits>,
    permits: Arc<Semaphore>,
    /// Request-body bytes held at once, in KiB: every review reserves its body's size
    /// (or the body limit when none is declared) before reading it, and keeps it until
    /// answered, so many connections and streams cannot together hold unbounded bodies.
    body_budget: Arc<Semaphore>,
    shutting_down: Arc<AtomicBool>,
}

/// The most request-body bytes held at once across all reviews.
pub(crate) const BODY_BUDGET_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Validate,
    Mutate,
}

impl Endpoint {
    fn as_str(self) -> &'static str {
        match self {
            Endpoint::Validate => "validate",
            Endpoint::Mutate => "mutate",
        }
    }
}

/// Builds the router; `shutting_down` flips `/readyz` to 503 while draining.
pub(crate) fn router(
    reviewer: Arc<dyn Reviewer>,
    checks: Vec<ReadyCheck>,
    limits: RouteLimits,
    shutting_down: Arc<AtomicBool>,
) -> Router {
    let bench = limits.bench_allow_route;
    let state = AppState {
        reviewer,
        checks: Arc::new(checks),
        permits: Arc::new(Semaphore::new(limits.max_concurrent_reviews.max(1))),
        // Rounded up like each reservation, so that a body at the limit always fits.
        body_budget: Arc::new(Semaphore::new(
            BODY_BUDGET_BYTES.max(limits.max_body_bytes).div_ceil(1024),
        )),
        limits: Arc::new(limits),
        shutting_down,
    };
    let mut router = Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text));
    if bench {
        router = router.route("/bench/allow", post(bench_allow));
    }
    router.with_state(state)
}

async fn validate(State(state): State<AppState>, request: Request) -> Response {
    review(state, Endpoint::Validate, request).await
}

async fn mutate(State(state): State<AppState>, request: Request) -> Response {
    review(state, Endpoint::Mutate, request).await
}

fn json_response(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Reads a request body within the size and time limits; `None` when it took too long.
async fn read_body(limits: &RouteLimits, body: Body) -> Option<Result<Bytes, axum::Error>> {
    tokio::time::timeout(
        limits.request_body_timeout,
        axum::body::to_bytes(body, limits.max_body_bytes),
    )
    .await
    .ok()
}

/// HTTP 408 for a body that was not received in time: a denial review (uid unknown),
/// and on HTTP/1.1 the connection is closed rather than left to the slow client.
fn body_timeout(limits: &RouteLimits, version: Version, endpoint: &str) -> Response {
    let secs = limits.request_body_timeout.as_secs_f64();
    tracing::warn!(
        endpoint,
        timeout_secs = secs,
        "request body not received in time"
    );
    let message =
        format!("custody: bad-request: the request body was not received within {secs:.1}s");
    let body = fallback::deny(b"", 408, &message);
    let mut response = (
        StatusCode::REQUEST_TIMEOUT,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    if version < Version::HTTP_2 {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn review(state: AppState, endpoint: Endpoint, request: Request) -> Response {
    let started = Instant::now();
    let _in_flight = metrics().review_in_flight();
    let limits = &state.limits;
    let deadline = tokio::time::Instant::from_std(started + limits.review_bound);
    let (parts, body) = request.into_parts();

    // Reserve the body's bytes first (within the body time limit): a review that cannot
    // get them in time is answered like a slow body.
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let want = declared
        .unwrap_or(limits.max_body_bytes)
        .min(limits.max_body_bytes);
    let kib = u32::try_from(want.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
    let reserve = state.body_budget.clone().acquire_many_owned(kib);
    let _body_bytes = match tokio::time::timeout(limits.request_body_timeout, reserve).await {
        Ok(Ok(permit)) => permit,
        _ => {
            let m = metrics();
            m.review(endpoint.as_str(), Outcome::Error.as_str());
            m.observe_review(endpoint.as_str(), started.elapsed());
            return body_timeout(limits, parts.version, endpoint.as_str());
        }
    };

    let outcome = match read_body(limits, body).await {
        None => {
            let m = metrics();
            m.review(endpoint.as_str(), Outcome::Error.as_str());
            m.decision(Outcome::Error.as_str(), "none", "none");
            m.observe_review(endpoint.as_str(), started.elapsed());
            return body_timeout(limits, parts.version, endpoint.as_str());
        }
        Some(Err(err)) => {
            // Over the limit or a broken read: still a well-formed denial, uid unknown.
            tracing::warn!(endpoint = endpoint.as_str(), error = %err, "unreadable review body");
            let message = format!(
                "custody: bad-request: the request body could not be read (limit {} bytes): {err}",
                limits.max_body_bytes
            );
            error_outcome(fallback::deny(b"", 413, &message))
        }
        Some(Ok(bytes)) => decide(&state, endpoint, bytes, deadline).await,
    };

    let m = metrics();
    m.review(endpoint.as_str(), outcome.outcome.as_str());
    if outcome.policies.is_empty() {
        // Reviews where no policy applied are counted under policy="none".
        m.decision(outcome.outcome.as_str(), "none", "none");
    }
    for p in &outcome.policies {
        m.decision(p.outcome.as_str(), &p.policy, &p.mode);
    }
    let elapsed = started.elapsed();
    m.observe_review(endpoint.as_str(), elapsed);
    tracing::debug!(
        endpoint = endpoint.as_str(),
        outcome = outcome.outcome.as_str(),
        elapsed_ms = elapsed.as_secs_f64() * 1000.0,
        "review answered"
    );
    json_response(outcome.body)
}

fn error_outcome(body: Bytes) -> ReviewOutcome {
    ReviewOutcome {
        body,
        outcome: Outcome::Error,
        policies: Vec::new(),
    }
}

fn overran(state: &AppState, body: &[u8], waiting_for: &str) -> ReviewOutcome {
    let secs = state.limits.review_bound.as_secs_f64();
    tracing::error!(
        waiting_for,
        bound_secs = secs,
        "review overran the server's bound"
    );
    if state.limits.fail_open {
        error_outcome(fallback::allow_with_warning(
            body,
            &format!(
                "custody: no decision within {secs:.1}s ({waiting_for}); admitted because fail-open is configured"
            ),
        ))
    } else {
        error_outcome(fallback::deny(
            body,
            504,
            &format!("custody: timeout: no decision within {secs:.1}s ({waiting_for})"),
        ))
    }
}

async fn decide(
    state: &AppState,
    endpoint: Endpoint,
    body: Bytes,
    deadline: tokio::time::Instant,
) -> ReviewOutcome {
    let permit =
        match tokio::time::timeout_at(deadline, state.permits.clone().acquire_owned()).await {
            Err(_) => return overran(state, &body, "waiting for a free review slot"),
            Ok(Err(_)) => {
                return error_outcome(fallback::deny(
                    &body,
                    503,
                    "custody: the server is shutting down",
                ));
            }
            Ok(Ok(permit)) => permit,
        };
    let reviewer = state.reviewer.clone();
    let input = body.clone();
    let call = async move {
        match endpoint {
            Endpoint::Validate => reviewer.validate(input).await,
            Endpoint::Mutate => reviewer.mutate(input).await,
        }
    };
    let result = tokio::time::timeout_at(deadline, AssertUnwindSafe(call).catch_unwind()).await;
    drop(permit);
    match result {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_panic)) => {
            tracing::error!(
                endpoint = endpoint.as_str(),
                "the reviewer panicked; answering with a denial"
            );
            error_outcome(fallback::deny(
                &body,
                500,
                "custody: internal error while deciding this request",
            ))
        }
        Err(_) => overran(state, &body, "waiting for the reviewer"),
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.shutting_down.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    let mut problems = Vec::new();
    if let Err(e) = state.reviewer.ready() {
        problems.push(e);
    }
    for check in state.checks.iter() {
        if let Err(e) = check() {
            problems.push(e);
        }
    }
    if problems.is_empty() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        let text = format!("not ready: {}\n", problems.join("; "));
        (StatusCode::SERVICE_UNAVAILABLE, text).into_response()
    }
}

async fn metrics_text() -> Response {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        metrics().render(),
    )
        .into_response()
}

/// The always-allow baseline for the load benchmark: reads the body, answers a constant.
async fn bench_allow(State(state): State<AppState>, body: Body) -> Response {
    const ALLOW: &[u8] = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"","allowed":true}}"#;
    let _ = read_body(&state.limits, body).await;
    json_response(Bytes::from_static(ALLOW))
}
