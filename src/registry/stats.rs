//! Request accounting: how many registry requests a lookup cost and how many of them had
//! to wait for each other (the sequential depth), for tests, benchmarks and metrics.

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

const MAX_RECORDS: usize = 4096;

/// One HTTP request made by the registry client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    /// `GET`, `HEAD`, `PUT`, ...
    pub method: String,
    /// `manifests`, `blobs`, `referrers`, `uploads`, `tags`, `token` or `other`.
    pub kind: &'static str,
    /// A logical clock value taken when the request was sent.
    pub sent: u64,
    /// A logical clock value taken when its response headers arrived (or it failed).
    pub answered: u64,
    /// The HTTP status, if any.
    pub status: Option<u16>,
    /// `resolve`, `discover`, `push` or `other`.
    pub phase: &'static str,
    /// Which round trip of its phase this request is: 1 for requests that need no earlier
    /// answer, n + 1 for requests that needed an answer of round n.
    pub round: u32,
}

tokio::task_local! {
    static ROUND: u32;
    static PHASE: &'static str;
}

/// Runs `f` with its requests attributed to round `round`.
pub(crate) async fn in_round<F: std::future::Future>(round: u32, f: F) -> F::Output {
    ROUND.scope(round, f).await
}

/// Runs `f` with its requests attributed to `phase`.
pub(crate) async fn in_phase<F: std::future::Future>(phase: &'static str, f: F) -> F::Output {
    PHASE.scope(phase, f).await
}

pub(crate) fn current_round() -> u32 {
    ROUND.try_with(|r| *r).unwrap_or(1)
}

pub(crate) fn current_phase() -> &'static str {
    PHASE.try_with(|p| *p).unwrap_or("other")
}

/// Totals since the client was created (or since the last [`super::OciRegistry::reset_stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequestStats {
    /// Every request, token requests included.
    pub total: u64,
    /// Requests by kind.
    pub by_kind: BTreeMap<&'static str, u64>,
    /// Round trips that had to happen one after another: the deepest round of the
    /// `resolve` requests plus the deepest round of the `discover` requests (meaningful
    /// for a log of one lookup).
    pub sequential_depth: usize,
    /// `GET /v2/` requests sent only to open warm connections alongside a first request
    /// to a registry (not in `total`; see `warm_connections` in the registry config).
    pub warm_ups: u64,
}

#[derive(Default)]
pub(crate) struct Recorder {
    clock: AtomicU64,
    records: Mutex<VecDeque<RequestRecord>>,
    warm_ups: AtomicU64,
}

impl Recorder {
    pub(crate) fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst)
    }

    pub(crate) fn record(&self, r: RequestRecord) {
        if let Ok(mut q) = self.records.lock() {
            if q.len() >= MAX_RECORDS {
                q.pop_front();
            }
            q.push_back(r);
        }
    }

    pub(crate) fn records(&self) -> Vec<RequestRecord> {
        self.records
            .lock()
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn note_warm_ups(&self, n: u64) {
        self.warm_ups.fetch_add(n, Ordering::SeqCst);
    }

    pub(crate) fn reset(&self) {
        self.warm_ups.store(0, Ordering::SeqCst);
        if let Ok(mut q) = self.records.lock() {
            q.clear();
        }
    }

    pub(crate) fn stats(&self) -> RequestStats {
        let records = self.records();
        let mut by_kind = BTreeMap::new();
        for r in &records {
            *by_kind.entry(r.kind).or_insert(0) += 1;
        }
        RequestStats {
            total: records.len() as u64,
            by_kind,
            sequential_depth: ["resolve", "discover"]
                .iter()
                .map(|p| {
                    records
                        .iter()
                        .filter(|r| r.phase == *p)
                        .map(|r| r.round as usize)
                        .max()
                        .unwrap_or(0)
                })
                .sum(),
            warm_ups: self.warm_ups.load(Ordering::SeqCst),
        }
    }
}

pub(crate) fn kind_of(path: &str) -> &'static str {
    for k in ["referrers", "manifests", "uploads", "blobs", "tags"] {
        if path.contains(&format!("/{k}/")) {
            return k;
        }
    }
    "other"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_rounds() {
        assert_eq!(kind_of("/v2/a/b/referrers/sha256:x"), "referrers");
        assert_eq!(kind_of("/v2/a/manifests/v1"), "manifests");
        assert_eq!(current_round(), 1);
        assert_eq!(current_phase(), "other");
    }

    #[tokio::test]
    async fn scopes_nest() {
        let (p, r) = in_phase(
            "discover",
            in_round(3, async { (current_phase(), current_round()) }),
        )
        .await;
        assert_eq!((p, r), ("discover", 3));
    }
}
