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
}

/// Totals since the client was created (or since the last [`super::OciRegistry::reset_stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequestStats {
    /// Every request, token requests included.
    pub total: u64,
    /// Requests by kind.
    pub by_kind: BTreeMap<&'static str, u64>,
    /// The longest chain of requests each sent only after the previous one was answered.
    pub sequential_depth: usize,
}

#[derive(Default)]
pub(crate) struct Recorder {
    clock: AtomicU64,
    records: Mutex<VecDeque<RequestRecord>>,
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

    pub(crate) fn reset(&self) {
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
            sequential_depth: sequential_depth(&records),
        }
    }
}

/// Longest chain r1 → r2 → … where each request was sent after the previous was answered.
pub(crate) fn sequential_depth(records: &[RequestRecord]) -> usize {
    let mut sorted: Vec<&RequestRecord> = records.iter().collect();
    sorted.sort_by_key(|r| r.sent);
    let mut depth = vec![1usize; sorted.len()];
    for i in 0..sorted.len() {
        for j in 0..i {
            if sorted[j].answered < sorted[i].sent {
                depth[i] = depth[i].max(depth[j] + 1);
            }
        }
    }
    depth.into_iter().max().unwrap_or(0)
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

    fn r(sent: u64, answered: u64) -> RequestRecord {
        RequestRecord {
            method: "GET".into(),
            kind: "other",
            sent,
            answered,
            status: Some(200),
        }
    }

    #[test]
    fn depth_counts_chains_not_parallel_requests() {
        assert_eq!(sequential_depth(&[]), 0);
        // HEAD, listing, then three manifests in parallel, then three blobs in parallel.
        let recs = [
            r(0, 1),
            r(2, 3),
            r(4, 7),
            r(5, 8),
            r(6, 9),
            r(10, 13),
            r(11, 14),
            r(12, 15),
        ];
        assert_eq!(sequential_depth(&recs), 4);
        assert_eq!(kind_of("/v2/a/b/referrers/sha256:x"), "referrers");
        assert_eq!(kind_of("/v2/a/manifests/v1"), "manifests");
    }
}
