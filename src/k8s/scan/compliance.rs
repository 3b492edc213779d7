//! Compliance transitions: which workloads fell out of compliance (or came back) since
//! the previous pass, so that Events are recorded on changes only, not every interval.
//!
//! A workload × image × policy is *out* when its result is `fail` or `warn`, *in* when
//! `pass`; an `error` (evidence unreachable) changes nothing. The first time the scan sees
//! a result that is out counts as a transition (after a restart custody does not know what
//! it reported before).

use std::collections::{BTreeMap, HashMap};

use super::publish::Transition;
use super::report::{Row, ScanResult};

type Key = (String, String, String);

/// The last known state per workload × image × policy.
#[derive(Debug, Default)]
pub(crate) struct Compliance {
    out: HashMap<Key, bool>,
}

fn workload_key(row: &Row) -> String {
    let w = &row.workload;
    format!(
        "{}/{}/{}",
        w.namespace.as_deref().unwrap_or_default(),
        w.kind.as_deref().unwrap_or_default(),
        w.name.as_deref().unwrap_or_default()
    )
}

impl Compliance {
    /// Takes this pass's rows; returns one transition per workload whose state changed.
    /// Entries for workloads, images or policies no longer present are forgotten.
    pub(crate) fn update(&mut self, rows: &[Row]) -> Vec<Transition> {
        let mut changed: BTreeMap<(String, bool), Transition> = BTreeMap::new();
        let mut present: HashMap<Key, ()> = HashMap::new();
        for row in rows {
            let wk = workload_key(row);
            let key = (wk.clone(), row.image.clone(), row.result.policy.clone());
            present.insert(key.clone(), ());
            let out = match ScanResult::of(&row.result) {
                ScanResult::Pass => false,
                ScanResult::Fail | ScanResult::Warn => true,
                ScanResult::Error => continue,
            };
            let before = self.out.insert(key, out);
            let is_transition = match before {
                Some(prev) => prev != out,
                None => out,
            };
            if !is_transition {
                continue;
            }
            let line = if out {
                let category = row
                    .result
                    .category
                    .map(|c| format!(" [{}]", c.as_str()))
                    .unwrap_or_default();
                format!(
                    "{} policy {}{category}: {}",
                    row.image,
                    row.result.policy,
                    row.result.messages.join("; ")
                )
            } else {
                format!("{} policy {}", row.image, row.result.policy)
            };
            changed
                .entry((wk, out))
                .or_insert_with(|| Transition {
                    workload: row.workload.clone(),
                    out,
                    lines: Vec::new(),
                })
                .lines
                .push(line);
        }
        self.out.retain(|k, _| present.contains_key(k));
        changed.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::Category;
    use crate::engine::PolicyResult;
    use crate::policy::Mode;
    use k8s_openapi::api::core::v1::ObjectReference;

    fn row(allowed: bool, category: Option<Category>) -> Row {
        Row {
            workload: ObjectReference {
                kind: Some("ReplicaSet".into()),
                name: Some("web-7f".into()),
                namespace: Some("shop".into()),
                ..ObjectReference::default()
            },
            pods: vec!["web-7f-a".into(), "web-7f-b".into()],
            containers: vec!["web".into()],
            image: "r.example/web@sha256:00".into(),
            digest: None,
            result: PolicyResult {
                policy: "require-sbom".into(),
                mode: Mode::Enforce,
                allowed,
                category,
                messages: vec!["no SBOM".into()],
                warnings: vec![],
            },
            at: chrono::Utc::now(),
        }
    }

    #[test]
    fn events_only_on_changes_and_errors_change_nothing() {
        let mut c = Compliance::default();
        assert!(
            c.update(&[row(true, None)]).is_empty(),
            "first pass, compliant"
        );
        assert!(c.update(&[row(true, None)]).is_empty());
        let t = c.update(&[row(false, Some(Category::NoAttestation))]);
        assert_eq!(t.len(), 1);
        assert!(t[0].out);
        assert!(t[0].lines[0].contains("require-sbom [no-attestation]: no SBOM"));
        assert!(
            c.update(&[row(false, Some(Category::NoAttestation))])
                .is_empty(),
            "still out: no second event"
        );
        assert!(
            c.update(&[row(false, Some(Category::RegistryUnreachable))])
                .is_empty()
        );
        let back = c.update(&[row(true, None)]);
        assert_eq!(back.len(), 1);
        assert!(!back[0].out);
        // Forgotten when gone; failing at first sight is a transition.
        assert!(c.update(&[]).is_empty());
        assert_eq!(
            c.update(&[row(false, Some(Category::NoAttestation))]).len(),
            1
        );
    }
}
