//! Process-wide metrics, exposed in the OpenMetrics text format by `prometheus-client`.
//!
//! Every module increments through [`metrics()`], a global [`Metrics`] (tests may build
//! their own with [`Metrics::new`]). The families and their labels are fixed here so that
//! dashboards can rely on them (counter samples carry the `_total` suffix):
//!
//! | family | type | labels |
//! |---|---|---|
//! | `custody_reviews_total` | counter | `endpoint`, `outcome` |
//! | `custody_decisions_total` | counter | `outcome`, `policy`, `mode` |
//! | `custody_review_duration_seconds` | histogram | `endpoint` |
//! | `custody_registry_requests_total` | counter | `result` |
//! | `custody_cache_requests_total` | counter | `cache`, `result` |
//! | `custody_evaluations_in_flight` | gauge | |
//! | `custody_reviews_in_flight` | gauge | |
//! | `custody_policy_reload_failures_total` | counter | |
//! | `custody_tls_reloads_total` | counter | `result` |
//! | `custody_images_without_policy_total` | counter | `action` |
//! | `custody_policy_bundles_unenforced` | gauge | |
//! | `custody_connections_open` | gauge | |
//! | `custody_connections_closed_total` | counter | `reason` |
//! | `custody_running_images` | gauge | `policy`, `result` (background scan) |
//! | `custody_control_satisfied` | gauge | `control` (background scan) |

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// Upper bounds (seconds) of the review latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

static GLOBAL: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process-wide metrics registry.
pub fn metrics() -> &'static Metrics {
    &GLOBAL
}

/// Label names and values, in the family's label order.
type Labels = Vec<(&'static str, String)>;

fn labels(names: &[&'static str], values: &[&str]) -> Labels {
    names
        .iter()
        .zip(values)
        .map(|(n, v)| (*n, (*v).to_owned()))
        .collect()
}

/// A counter family with its label names.
#[derive(Debug, Clone)]
struct Counters {
    names: &'static [&'static str],
    family: Family<Labels, Counter>,
}

impl Counters {
    fn inc(&self, values: &[&str]) {
        self.family.get_or_create(&labels(self.names, values)).inc();
    }
}

/// A gauge family whose whole set of values is replaced at once (a scan's results).
#[derive(Debug, Clone)]
struct ReplacedGauges {
    names: &'static [&'static str],
    family: Family<Labels, Gauge<f64, AtomicU64>>,
}

impl ReplacedGauges {
    fn replace(&self, values: BTreeMap<Vec<String>, f64>) {
        self.family.clear();
        for (key, v) in values {
            let key: Vec<&str> = key.iter().map(String::as_str).collect();
            self.family.get_or_create(&labels(self.names, &key)).set(v);
        }
    }
}

type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Counters, gauges and histograms of a custody process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reviews: Counters,
    decisions: Counters,
    registry_requests: Counters,
    cache_requests: Counters,
    tls_reloads: Counters,
    without_policy: Counters,
    connections_closed: Counters,
    connections_open: Gauge,
    policy_reload_failures: Counter,
    unenforced_bundles: Gauge,
    evaluations_in_flight: Gauge,
    reviews_in_flight: Gauge,
    review_duration: Histograms,
    running_images: ReplacedGauges,
    controls_satisfied: ReplacedGauges,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Decrements an in-flight gauge when dropped.
#[derive(Debug)]
pub struct InFlightGuard<'a> {
    gauge: &'a Gauge,
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// Registers a counter family named `name` (its samples are `name_total`).
fn counters(
    registry: &mut Registry,
    name: &str,
    help: &str,
    names: &'static [&'static str],
) -> Counters {
    let c = Counters {
        names,
        family: Family::default(),
    };
    registry.register(name, help, c.family.clone());
    c
}

fn gauge(registry: &mut Registry, name: &str, help: &str) -> Gauge {
    let g = Gauge::default();
    registry.register(name, help, g.clone());
    g
}

fn replaced(
    registry: &mut Registry,
    name: &str,
    help: &str,
    names: &'static [&'static str],
) -> ReplacedGauges {
    let g = ReplacedGauges {
        names,
        family: Family::default(),
    };
    registry.register(name, help, g.family.clone());
    g
}

impl Metrics {
    /// An empty registry (the process uses [`metrics()`]; tests may build their own).
    pub fn new() -> Self {
        let mut r = Registry::default();
        let reviews = counters(
            &mut r,
            "custody_reviews",
            "AdmissionReviews answered, by endpoint and overall outcome",
            &["endpoint", "outcome"],
        );
        let decisions = counters(
            &mut r,
            "custody_decisions",
            "Policy results per review, by outcome, policy and mode",
            &["outcome", "policy", "mode"],
        );
        let review_duration: Histograms = Family::new_with_constructor(latency_histogram);
        r.register(
            "custody_review_duration_seconds",
            "Time to answer an AdmissionReview, by endpoint",
            review_duration.clone(),
        );
        let registry_requests = counters(
            &mut r,
            "custody_registry_requests",
            "HTTP requests made to registries, by result",
            &["result"],
        );
        let cache_requests = counters(
            &mut r,
            "custody_cache_requests",
            "Cache lookups, by cache and result (hit or miss)",
            &["cache", "result"],
        );
        let tls_reloads = counters(
            &mut r,
            "custody_tls_reloads",
            "Attempts to load a changed serving certificate, by result",
            &["result"],
        );
        let without_policy = counters(
            &mut r,
            "custody_images_without_policy",
            "Images no policy applies to, by the action taken (allow, warn, deny)",
            &["action"],
        );
        let unenforced_bundles = gauge(
            &mut r,
            "custody_policy_bundles_unenforced",
            "Policy sources that failed to load with no earlier version in force",
        );
        let connections_closed = counters(
            &mut r,
            "custody_connections_closed",
            "Client connections the server closed, by reason (idle-timeout, evicted)",
            &["reason"],
        );
        let connections_open = gauge(
            &mut r,
            "custody_connections_open",
            "Client connections open now (including those in their TLS handshake)",
        );
        let policy_reload_failures = Counter::default();
        r.register(
            "custody_policy_reload_failures",
            "Policy bundles that failed to load or reload",
            policy_reload_failures.clone(),
        );
        let evaluations_in_flight = gauge(
            &mut r,
            "custody_evaluations_in_flight",
            "Policy evaluations running now",
        );
        let reviews_in_flight = gauge(
            &mut r,
            "custody_reviews_in_flight",
            "AdmissionReviews being answered now",
        );
        let running_images = replaced(
            &mut r,
            "custody_running_images",
            "Distinct running images per policy and result (pass, fail, warn, error), from the background scan",
            &["policy", "result"],
        );
        let controls_satisfied = replaced(
            &mut r,
            "custody_control_satisfied",
            "Share (0 to 1) of the running images a control applies to that satisfy it, from the background scan",
            &["control"],
        );
        Metrics {
            registry: r,
            reviews,
            decisions,
            registry_requests,
            cache_requests,
            tls_reloads,
            without_policy,
            connections_closed,
            connections_open,
            policy_reload_failures,
            unenforced_bundles,
            evaluations_in_flight,
            reviews_in_flight,
            review_duration,
            running_images,
            controls_satisfied,
        }
    }

    /// Counts one answered review on `endpoint` (`validate`/`mutate`) with its overall
    /// `outcome` (`allowed`, `denied`, `error`).
    pub fn review(&self, endpoint: &str, outcome: &str) {
        self.reviews.inc(&[endpoint, outcome]);
    }

    /// Counts one policy's result in one review: `outcome` is that policy's own result
    /// (`allowed`, `denied`, `error`), `mode` its mode (`enforce`, `warn`, `audit`).
    pub fn decision(&self, outcome: &str, policy: &str, mode: &str) {
        self.decisions.inc(&[outcome, policy, mode]);
    }

    /// Records how long one review took on `endpoint`.
    pub fn observe_review(&self, endpoint: &str, elapsed: Duration) {
        self.review_duration
            .get_or_create(&labels(&["endpoint"], &[endpoint]))
            .observe(elapsed.as_secs_f64());
    }

    /// Counts one registry HTTP request by `result` (for example `ok`, `not-found`,
    /// `auth`, `error`, `timeout`).
    pub fn registry_request(&self, result: &str) {
        self.registry_requests.inc(&[result]);
    }

    /// Counts one cache lookup in `cache` (for example `digest`, `discovery`,
    /// `verified`) with `result` `hit` or `miss`.
    pub fn cache_request(&self, cache: &str, result: &str) {
        self.cache_requests.inc(&[cache, result]);
    }

    /// Counts a policy bundle that failed to load or reload (directory or ConfigMap).
    pub fn policy_reload_failure(&self) {
        self.policy_reload_failures.inc();
    }

    /// Counts a TLS certificate reload attempt by `result` (`ok` or `error`).
    pub fn tls_reload(&self, result: &str) {
        self.tls_reloads.inc(&[result]);
    }

    /// Counts an image that no policy applies to, by the `--no-policy-action` taken
    /// (`allow`, `warn`, `deny`).
    pub fn image_without_policy(&self, action: &str) {
        self.without_policy.inc(&[action]);
    }

    /// Sets how many policy sources failed to load and have no earlier version in force
    /// (custody is not ready while this is above zero).
    pub fn set_unenforced_bundles(&self, n: usize) {
        self.unenforced_bundles
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Marks one policy evaluation (verification + Rego) as running until the guard drops.
    pub fn evaluation_in_flight(&self) -> InFlightGuard<'_> {
        in_flight(&self.evaluations_in_flight)
    }

    /// Marks one client connection as open until the guard drops.
    pub fn connection_open(&self) -> InFlightGuard<'_> {
        in_flight(&self.connections_open)
    }

    /// Counts a client connection the server closed by `reason` (`idle-timeout`, or
    /// `evicted` to make room under `--max-connections`).
    pub fn connection_closed(&self, reason: &str) {
        self.connections_closed.inc(&[reason]);
    }

    /// Marks one review as being answered until the guard drops.
    pub fn review_in_flight(&self) -> InFlightGuard<'_> {
        in_flight(&self.reviews_in_flight)
    }

    /// Replaces `custody_running_images`: label values `[policy, result]` -> distinct
    /// running images (set by the background scan after each pass).
    pub fn set_running_images(&self, values: BTreeMap<Vec<String>, f64>) {
        self.running_images.replace(values);
    }

    /// Replaces `custody_control_satisfied`: label values `[control]` -> the share
    /// (0 to 1) of running images the control applies to that satisfy it.
    pub fn set_controls_satisfied(&self, values: BTreeMap<Vec<String>, f64>) {
        self.controls_satisfied.replace(values);
    }

    /// Renders every family in the OpenMetrics text format ([`CONTENT_TYPE`]), which
    /// Prometheus scrapes natively.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail; an encoder error would leave a partial page.
        if let Err(e) = encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "encoding metrics");
        }
        out
    }
}

fn in_flight(gauge: &Gauge) -> InFlightGuard<'_> {
    gauge.inc();
    InFlightGuard { gauge }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_escaped_labels() {
        let m = Metrics::new();
        m.decision("denied", "needs-\"slsa\"", "enforce");
        m.decision("denied", "needs-\"slsa\"", "enforce");
        m.cache_request("digest", "hit");
        m.policy_reload_failure();
        let text = m.render();
        assert!(text.contains(
            "custody_decisions_total{outcome=\"denied\",policy=\"needs-\\\"slsa\\\"\",mode=\"enforce\"} 2"
        ));
        assert!(text.contains("custody_cache_requests_total{cache=\"digest\",result=\"hit\"} 1"));
        assert!(text.contains("custody_policy_reload_failures_total 1"));
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::new();
        m.observe_review("validate", Duration::from_millis(3));
        m.observe_review("validate", Duration::from_secs(20));
        let text = m.render();
        assert!(text.contains(
            "custody_review_duration_seconds_bucket{le=\"0.001\",endpoint=\"validate\"} 0"
        ));
        assert!(text.contains(
            "custody_review_duration_seconds_bucket{le=\"0.005\",endpoint=\"validate\"} 1"
        ));
        assert!(text.contains(
            "custody_review_duration_seconds_bucket{le=\"10.0\",endpoint=\"validate\"} 1"
        ));
        assert!(text.contains(
            "custody_review_duration_seconds_bucket{le=\"+Inf\",endpoint=\"validate\"} 2"
        ));
        assert!(text.contains("custody_review_duration_seconds_count{endpoint=\"validate\"} 2"));
    }

    #[test]
    fn in_flight_guard_decrements() {
        let m = Metrics::new();
        {
            let _a = m.evaluation_in_flight();
            let _b = m.evaluation_in_flight();
            assert!(m.render().contains("custody_evaluations_in_flight 2"));
        }
        assert!(m.render().contains("custody_evaluations_in_flight 0"));
    }
}
