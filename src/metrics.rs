//! Process-wide metrics in the Prometheus text exposition format.
//!
//! Every module increments through [`metrics()`], a global [`Metrics`] (tests may build
//! their own with [`Metrics::new`]). The families and their labels are fixed here so that
//! dashboards can rely on them:
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
//!
//! No crate dependency: the text format is small and this keeps the hot path to a mutex
//! on a short map per family.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

/// Upper bounds (seconds) of the review latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static GLOBAL: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process-wide metrics registry.
pub fn metrics() -> &'static Metrics {
    &GLOBAL
}

/// A counter family keyed by its label values (in the family's label order).
#[derive(Debug, Default)]
struct CounterFamily {
    values: Mutex<BTreeMap<Vec<String>, u64>>,
}

impl CounterFamily {
    fn inc(&self, labels: &[&str]) {
        self.add(labels, 1);
    }

    fn add(&self, labels: &[&str], n: u64) {
        let mut map = self.values.lock().unwrap_or_else(|e| e.into_inner());
        // Look up by borrowed labels first so the common path does not allocate.
        if let Some(v) = map
            .iter_mut()
            .find(|(k, _)| k.iter().map(String::as_str).eq(labels.iter().copied()))
            .map(|(_, v)| v)
        {
            *v += n;
            return;
        }
        map.insert(labels.iter().map(|s| (*s).to_owned()).collect(), n);
    }

    fn snapshot(&self) -> Vec<(Vec<String>, u64)> {
        let map = self.values.lock().unwrap_or_else(|e| e.into_inner());
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

/// A gauge family whose whole set of values is replaced at once (a scan's results).
#[derive(Debug, Default)]
struct GaugeFamily {
    values: Mutex<BTreeMap<Vec<String>, f64>>,
}

impl GaugeFamily {
    fn replace(&self, values: BTreeMap<Vec<String>, f64>) {
        *self.values.lock().unwrap_or_else(|e| e.into_inner()) = values;
    }

    fn render(&self, out: &mut String, name: &str, help: &str, labels: &[&str]) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        let map = self.values.lock().unwrap_or_else(|e| e.into_inner());
        for (values, n) in map.iter() {
            let pairs: Vec<String> = labels
                .iter()
                .zip(values.iter())
                .map(|(l, v)| format!("{l}=\"{}\"", escape(v)))
                .collect();
            let _ = writeln!(out, "{name}{{{}}} {n}", pairs.join(","));
        }
    }
}

#[derive(Debug, Clone, Default)]
struct HistogramData {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Counters, gauges and histograms of a custody process.
#[derive(Debug, Default)]
pub struct Metrics {
    reviews: CounterFamily,
    decisions: CounterFamily,
    registry_requests: CounterFamily,
    cache_requests: CounterFamily,
    tls_reloads: CounterFamily,
    without_policy: CounterFamily,
    connections_closed: CounterFamily,
    connections_open: AtomicI64,
    policy_reload_failures: AtomicU64,
    unenforced_bundles: AtomicI64,
    evaluations_in_flight: AtomicI64,
    reviews_in_flight: AtomicI64,
    review_duration: Mutex<BTreeMap<String, HistogramData>>,
    running_images: GaugeFamily,
    controls_satisfied: GaugeFamily,
}

/// Decrements an in-flight gauge when dropped.
#[derive(Debug)]
pub struct InFlightGuard<'a> {
    gauge: &'a AtomicI64,
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.gauge.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// An empty registry (the process uses [`metrics()`]; tests may build their own).
    pub fn new() -> Self {
        Self::default()
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
        let secs = elapsed.as_secs_f64();
        let mut map = self
            .review_duration
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let data = match map.get_mut(endpoint) {
            Some(d) => d,
            None => map.entry(endpoint.to_owned()).or_default(),
        };
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *bound {
                data.buckets[i] += 1;
            }
        }
        data.count += 1;
        data.sum += secs;
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
        self.policy_reload_failures.fetch_add(1, Ordering::Relaxed);
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
            .store(i64::try_from(n).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// Marks one policy evaluation (verification + Rego) as running until the guard drops.
    pub fn evaluation_in_flight(&self) -> InFlightGuard<'_> {
        self.evaluations_in_flight.fetch_add(1, Ordering::Relaxed);
        InFlightGuard {
            gauge: &self.evaluations_in_flight,
        }
    }

    /// Marks one client connection as open until the guard drops.
    pub fn connection_open(&self) -> InFlightGuard<'_> {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        InFlightGuard {
            gauge: &self.connections_open,
        }
    }

    /// Counts a client connection the server closed by `reason` (`idle-timeout`, or
    /// `evicted` to make room under `--max-connections`).
    pub fn connection_closed(&self, reason: &str) {
        self.connections_closed.inc(&[reason]);
    }

    /// Marks one review as being answered until the guard drops.
    pub fn review_in_flight(&self) -> InFlightGuard<'_> {
        self.reviews_in_flight.fetch_add(1, Ordering::Relaxed);
        InFlightGuard {
            gauge: &self.reviews_in_flight,
        }
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

    /// Renders every family in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        counter(
            &mut out,
            "custody_reviews_total",
            "AdmissionReviews answered, by endpoint and overall outcome.",
            &["endpoint", "outcome"],
            &self.reviews,
        );
        counter(
            &mut out,
            "custody_decisions_total",
            "Policy results per review, by outcome, policy and mode.",
            &["outcome", "policy", "mode"],
            &self.decisions,
        );
        self.render_histogram(&mut out);
        counter(
            &mut out,
            "custody_registry_requests_total",
            "HTTP requests made to registries, by result.",
            &["result"],
            &self.registry_requests,
        );
        counter(
            &mut out,
            "custody_cache_requests_total",
            "Cache lookups, by cache and result (hit or miss).",
            &["cache", "result"],
            &self.cache_requests,
        );
        counter(
            &mut out,
            "custody_tls_reloads_total",
            "Attempts to load a changed serving certificate, by result.",
            &["result"],
            &self.tls_reloads,
        );
        counter(
            &mut out,
            "custody_images_without_policy_total",
            "Images no policy applies to, by the action taken (allow, warn, deny).",
            &["action"],
            &self.without_policy,
        );
        scalar(
            &mut out,
            "custody_policy_bundles_unenforced",
            "gauge",
            "Policy sources that failed to load with no earlier version in force.",
            self.unenforced_bundles.load(Ordering::Relaxed) as f64,
        );
        counter(
            &mut out,
            "custody_connections_closed_total",
            "Client connections the server closed, by reason (idle-timeout, evicted).",
            &["reason"],
            &self.connections_closed,
        );
        scalar(
            &mut out,
            "custody_connections_open",
            "gauge",
            "Client connections open now (including those in their TLS handshake).",
            self.connections_open.load(Ordering::Relaxed) as f64,
        );
        scalar(
            &mut out,
            "custody_policy_reload_failures_total",
            "counter",
            "Policy bundles that failed to load or reload.",
            self.policy_reload_failures.load(Ordering::Relaxed) as f64,
        );
        scalar(
            &mut out,
            "custody_evaluations_in_flight",
            "gauge",
            "Policy evaluations running now.",
            self.evaluations_in_flight.load(Ordering::Relaxed) as f64,
        );
        scalar(
            &mut out,
            "custody_reviews_in_flight",
            "gauge",
            "AdmissionReviews being answered now.",
            self.reviews_in_flight.load(Ordering::Relaxed) as f64,
        );
        self.running_images.render(
            &mut out,
            "custody_running_images",
            "Distinct running images per policy and result (pass, fail, warn, error), from the background scan.",
            &["policy", "result"],
        );
        self.controls_satisfied.render(
            &mut out,
            "custody_control_satisfied",
            "Share (0 to 1) of the running images a control applies to that satisfy it, from the background scan.",
            &["control"],
        );
        out
    }

    fn render_histogram(&self, out: &mut String) {
        let name = "custody_review_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time to answer an AdmissionReview, by endpoint."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        let map = self
            .review_duration
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for (endpoint, data) in map {
            let ep = escape(&endpoint);
            for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{endpoint=\"{ep}\",le=\"{bound}\"}} {}",
                    data.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{endpoint=\"{ep}\",le=\"+Inf\"}} {}",
                data.count
            );
            let _ = writeln!(out, "{name}_sum{{endpoint=\"{ep}\"}} {}", data.sum);
            let _ = writeln!(out, "{name}_count{{endpoint=\"{ep}\"}} {}", data.count);
        }
    }
}

fn counter(out: &mut String, name: &str, help: &str, labels: &[&str], family: &CounterFamily) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    for (values, n) in family.snapshot() {
        let pairs: Vec<String> = labels
            .iter()
            .zip(values.iter())
            .map(|(l, v)| format!("{l}=\"{}\"", escape(v)))
            .collect();
        let _ = writeln!(out, "{name}{{{}}} {n}", pairs.join(","));
    }
}

fn scalar(out: &mut String, name: &str, kind: &str, help: &str, value: f64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(value: &str) -> String {
    let mut s = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
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
            "custody_review_duration_seconds_bucket{endpoint=\"validate\",le=\"0.001\"} 0"
        ));
        assert!(text.contains(
            "custody_review_duration_seconds_bucket{endpoint=\"validate\",le=\"0.005\"} 1"
        ));
        assert!(
            text.contains(
                "custody_review_duration_seconds_bucket{endpoint=\"validate\",le=\"10\"} 1"
            )
        );
        assert!(text.contains(
            "custody_review_duration_seconds_bucket{endpoint=\"validate\",le=\"+Inf\"} 2"
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
