//! What the scan writes to the cluster: PolicyReports (server-side apply, field manager
//! `custody`, only when a report's content changed; deleted when its namespace no longer
//! runs anything a policy selects) and Events on workloads whose compliance changed.
//!
//! Every write failure is logged (once per distinct message) and retried on a later
//! pass; nothing here can affect admission.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

use super::report::{MANAGED_BY, REPORT_NAME};
use crate::k8s::EVENT_CONTROLLER;

/// Writes reports and events, remembering what it wrote.
pub(crate) struct Publisher {
    client: Client,
    resource: ApiResource,
    recorder: Recorder,
    /// Namespace -> the report last applied there (`Null`: found at start, not ours yet).
    written: BTreeMap<String, Value>,
    /// Whether the reports left by an earlier run have been listed.
    listed: bool,
    last_error: Option<String>,
}

/// A change in a workload's compliance, for one Event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Transition {
    /// The workload.
    pub workload: ObjectReference,
    /// Out of compliance now (Warning `OutOfCompliance`), or back in (Normal `BackInCompliance`).
    pub out: bool,
    /// One line per image × policy that changed.
    pub lines: Vec<String>,
}

impl Publisher {
    pub(crate) fn new(client: Client) -> Self {
        let gvk = GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", "PolicyReport");
        let reporter = Reporter {
            controller: EVENT_CONTROLLER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Publisher {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            resource: ApiResource::from_gvk(&gvk),
            written: BTreeMap::new(),
            listed: false,
            last_error: None,
        }
    }

    fn api(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, &self.resource)
    }

    fn failed(&mut self, what: &str, err: &kube::Error) {
        let message = format!("{what}: {err}");
        if self.last_error.as_deref() != Some(message.as_str()) {
            tracing::warn!(error = %message, "background scan could not write to the Kubernetes API; retrying on the next pass");
            self.last_error = Some(message);
        }
    }

    /// Finds the reports an earlier run left (so that stale ones get deleted).
    async fn list_existing(&mut self) {
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &self.resource);
        let params = ListParams::default().labels(&format!("{}={}", MANAGED_BY.0, MANAGED_BY.1));
        match api.list(&params).await {
            Ok(list) => {
                for item in list.items {
                    let is_ours = item.metadata.name.as_deref() == Some(REPORT_NAME);
                    if let (true, Some(ns)) = (is_ours, item.metadata.namespace) {
                        self.written.entry(ns).or_insert(Value::Null);
                    }
                }
                self.listed = true;
            }
            Err(err) => self.failed("listing PolicyReports", &err),
        }
    }

    /// Makes the cluster hold exactly `reports` (namespace -> PolicyReport).
    pub(crate) async fn reports(&mut self, reports: &BTreeMap<String, Value>) {
        if !self.listed {
            self.list_existing().await;
        }
        for (namespace, report) in reports {
            if self.written.get(namespace) == Some(report) {
                continue;
            }
            let params = PatchParams::apply(EVENT_CONTROLLER).force();
            match self
                .api(namespace)
                .patch(REPORT_NAME, &params, &Patch::Apply(report))
                .await
            {
                Ok(_) => {
                    self.written.insert(namespace.clone(), report.clone());
                }
                Err(err) => self.failed(
                    &format!("applying PolicyReport {namespace}/{REPORT_NAME}"),
                    &err,
                ),
            }
        }
        let gone: BTreeSet<String> = self
            .written
            .keys()
            .filter(|ns| !reports.contains_key(*ns))
            .cloned()
            .collect();
        for namespace in gone {
            match self
                .api(&namespace)
                .delete(REPORT_NAME, &DeleteParams::default())
                .await
            {
                Ok(_) => {
                    self.written.remove(&namespace);
                }
                Err(kube::Error::Api(status)) if status.code == 404 => {
                    self.written.remove(&namespace);
                }
                Err(err) => self.failed(
                    &format!("deleting PolicyReport {namespace}/{REPORT_NAME}"),
                    &err,
                ),
            }
        }
    }

    /// Records one Event per transition on its workload.
    pub(crate) async fn events(&mut self, transitions: &[Transition]) {
        for t in transitions {
            let (type_, reason, verb) = if t.out {
                (
                    EventType::Warning,
                    "OutOfCompliance",
                    "fell out of compliance",
                )
            } else {
                (
                    EventType::Normal,
                    "BackInCompliance",
                    "is back in compliance",
                )
            };
            let kind = t.workload.kind.as_deref().unwrap_or("workload");
            let name = t.workload.name.as_deref().unwrap_or_default();
            let note = truncate(&format!("{kind} {name} {verb}: {}", t.lines.join("; ")));
            let event = Event {
                type_,
                reason: reason.into(),
                note: Some(note),
                action: "BackgroundScan".into(),
                secondary: None,
            };
            if let Err(err) = self.recorder.publish(&event, &t.workload).await {
                self.failed(
                    &format!("recording a {reason} Event on {kind} {name}"),
                    &err,
                );
            }
        }
    }
}

/// Events notes are limited to 1 KiB by the API.
fn truncate(s: &str) -> String {
    const MAX: usize = 1000;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
