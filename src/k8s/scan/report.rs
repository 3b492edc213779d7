//! Scan results as `wgpolicyk8s.io/v1alpha2` PolicyReports: one report per namespace
//! (named [`REPORT_NAME`]), one result per workload × image × policy.
//!
//! A policy's result maps to the report's vocabulary as follows: passed → `pass`; a
//! failure that is about reaching the evidence (registry unreachable, authentication,
//! timeout, a malformed reference) → `error`; any other failure → `fail` for an
//! `enforce` policy (scored) and `warn` for a `warn` or `audit` policy (not scored).

use k8s_openapi::api::core::v1::ObjectReference;
use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::category::Category;
use crate::engine::PolicyResult;
use crate::policy::Mode;

/// The name of the PolicyReport custody writes in each namespace.
pub const REPORT_NAME: &str = "custody";

/// The label on every report custody writes (and the selector it cleans up by).
pub(crate) const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "custody");

/// Longest message kept in a result.
const MAX_MESSAGE: usize = 1024;

/// A result in the report's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ScanResult {
    /// The policy passed.
    Pass,
    /// An `enforce` policy failed: admission would deny this image today.
    Fail,
    /// A `warn` or `audit` policy failed.
    Warn,
    /// The evidence could not be reached or evaluated.
    Error,
}

impl ScanResult {
    /// `pass`, `fail`, `warn` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanResult::Pass => "pass",
            ScanResult::Fail => "fail",
            ScanResult::Warn => "warn",
            ScanResult::Error => "error",
        }
    }

    /// What one policy result means for compliance.
    pub fn of(r: &PolicyResult) -> ScanResult {
        if r.allowed {
            return ScanResult::Pass;
        }
        match r.category {
            Some(
                Category::RegistryUnreachable
                | Category::Auth
                | Category::Timeout
                | Category::BadRequest,
            ) => ScanResult::Error,
            _ if r.mode == Mode::Enforce => ScanResult::Fail,
            _ => ScanResult::Warn,
        }
    }
}

/// One row of a report: a policy's result for one image of one workload.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    /// The workload (the pods' controller, or the pod).
    pub workload: ObjectReference,
    /// The running pods of that workload using the image.
    pub pods: Vec<String>,
    /// The containers running it.
    pub containers: Vec<String>,
    /// The image reference evaluated (`registry/repository@digest` when known).
    pub image: String,
    /// The digest the engine resolved, when it got that far.
    pub digest: Option<String>,
    /// The policy's result.
    pub result: PolicyResult,
    /// When it was evaluated.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// The PolicyReport of `namespace` for `rows` (sorted for stable output).
pub(crate) fn policy_report(namespace: &str, rows: &[Row]) -> Value {
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by(|a, b| {
        let key = |r: &Row| {
            (
                r.workload.kind.clone(),
                r.workload.name.clone(),
                r.image.clone(),
                r.result.policy.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    let mut summary: BTreeMap<&str, u64> = ["pass", "fail", "warn", "error", "skip"]
        .into_iter()
        .map(|k| (k, 0))
        .collect();
    let results: Vec<Value> = sorted
        .iter()
        .map(|row| {
            let outcome = ScanResult::of(&row.result);
            *summary.entry(outcome.as_str()).or_default() += 1;
            result_json(row, outcome)
        })
        .collect();
    json!({
        "apiVersion": "wgpolicyk8s.io/v1alpha2",
        "kind": "PolicyReport",
        "metadata": {
            "name": REPORT_NAME,
            "namespace": namespace,
            "labels": {MANAGED_BY.0: MANAGED_BY.1},
        },
        "summary": summary,
        "results": results,
    })
}

fn result_json(row: &Row, outcome: ScanResult) -> Value {
    let r = &row.result;
    let mut properties = BTreeMap::from([
        ("image".to_owned(), row.image.clone()),
        ("mode".to_owned(), r.mode.as_str().to_owned()),
        ("containers".to_owned(), row.containers.join(",")),
        ("pods".to_owned(), row.pods.join(",")),
    ]);
    if let Some(d) = &row.digest {
        properties.insert("digest".to_owned(), d.clone());
    }
    let message = match outcome {
        ScanResult::Pass if r.warnings.is_empty() => {
            format!("{} satisfies policy {}", row.image, r.policy)
        }
        ScanResult::Pass => r.warnings.join("; "),
        _ => r.messages.join("; "),
    };
    let mut result = json!({
        "source": "custody",
        "policy": r.policy,
        "result": outcome.as_str(),
        "scored": r.mode == Mode::Enforce,
        "message": truncate(&message),
        "timestamp": {
            "seconds": row.at.timestamp(),
            "nanos": row.at.timestamp_subsec_nanos(),
        },
        "resources": [row.workload],
        "properties": properties,
    });
    if let Some(c) = r.category.filter(|_| outcome != ScanResult::Pass) {
        result["category"] = json!(c.as_str());
    }
    let severity = match outcome {
        ScanResult::Fail => Some("high"),
        ScanResult::Warn | ScanResult::Error => Some("medium"),
        ScanResult::Pass => None,
    };
    if let Some(s) = severity {
        result["severity"] = json!(s);
    }
    result
}

fn truncate(s: &str) -> String {
    if s.len() <= MAX_MESSAGE {
        return s.to_owned();
    }
    let mut end = MAX_MESSAGE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(policy: &str, mode: Mode, allowed: bool, category: Option<Category>) -> PolicyResult {
        PolicyResult {
            policy: policy.into(),
            mode,
            allowed,
            category,
            messages: if allowed {
                vec![]
            } else {
                vec![format!("{policy} says no")]
            },
            warnings: vec![],
        }
    }

    #[test]
    fn results_map_to_the_report_vocabulary() {
        let cases = [
            (result("a", Mode::Enforce, true, None), ScanResult::Pass),
            (
                result("a", Mode::Enforce, false, Some(Category::NoAttestation)),
                ScanResult::Fail,
            ),
            (
                result("a", Mode::Warn, false, Some(Category::PolicyDenied)),
                ScanResult::Warn,
            ),
            (
                result("a", Mode::Audit, false, Some(Category::UntrustedSigner)),
                ScanResult::Warn,
            ),
            (
                result(
                    "a",
                    Mode::Enforce,
                    false,
                    Some(Category::RegistryUnreachable),
                ),
                ScanResult::Error,
            ),
            (
                result("a", Mode::Enforce, false, Some(Category::Timeout)),
                ScanResult::Error,
            ),
        ];
        for (r, want) in cases {
            assert_eq!(ScanResult::of(&r), want, "{r:?}");
        }
    }

    #[test]
    fn a_report_counts_and_orders_its_results() {
        let workload = ObjectReference {
            kind: Some("ReplicaSet".into()),
            name: Some("web-7f".into()),
            namespace: Some("shop".into()),
            ..ObjectReference::default()
        };
        let row = |policy: &str, allowed: bool| Row {
            workload: workload.clone(),
            pods: vec!["web-7f-a".into()],
            containers: vec!["web".into()],
            image: "r.example/web@sha256:00".into(),
            digest: Some("sha256:00".into()),
            result: result(
                policy,
                Mode::Enforce,
                allowed,
                Some(Category::NoAttestation),
            ),
            at: chrono::DateTime::from_timestamp(1_700_000_000, 5).unwrap(),
        };
        let report = policy_report("shop", &[row("z-policy", false), row("a-policy", true)]);
        assert_eq!(report["metadata"]["namespace"], "shop");
        assert_eq!(report["summary"]["pass"], 1);
        assert_eq!(report["summary"]["fail"], 1);
        assert_eq!(report["results"][0]["policy"], "a-policy");
        assert!(report["results"][0].get("category").is_none());
        assert_eq!(report["results"][1]["result"], "fail");
        assert_eq!(report["results"][1]["category"], "no-attestation");
        assert_eq!(report["results"][1]["message"], "z-policy says no");
        assert_eq!(report["results"][1]["timestamp"]["seconds"], 1_700_000_000);
        assert_eq!(report["results"][1]["resources"][0]["name"], "web-7f");
    }
}
