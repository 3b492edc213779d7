//! The background scan (`custody serve --background-scan INTERVAL`): continuous
//! compliance of what already runs. It never evicts or blocks anything; it reports.
//!
//! - A kube-rs reflector watches Pods in phase `Running` (cluster-wide, `managedFields`
//!   dropped); only the images of pods a loaded policy selects (namespace and image
//!   pattern, as at admission) are evaluated.
//! - Each distinct running image (`registry/repository@digest`, see [`pods`]) is
//!   evaluated by the admission [`Engine`] (same registry client, same caches) as if the
//!   pod were created now; in each namespace that runs it, one after another, so the
//!   registry is asked once per digest and the other namespaces hit the caches. Distinct
//!   digests are evaluated `concurrency` at a time. A result is reused until it is
//!   `interval` old, so each digest costs at most one lookup per interval.
//! - Every result is dropped (everything is re-evaluated) when the policy store's
//!   generation or the trusted root's generation changes: the directory and ConfigMap
//!   watchers and the trusted-root watchers bump those on every successful reload, and
//!   the scan checks them every `check_every`.
//! - Results go to `wgpolicyk8s.io/v1alpha2` PolicyReports (one per namespace), the
//!   gauges `custody_running_images{policy,result}` and
//!   `custody_control_satisfied{control}` ([`gauges`]), and Events on workloads whose
//!   compliance changed ([`compliance`]).

mod compliance;
mod gauges;
mod pods;
mod publish;
mod report;

pub use report::{REPORT_NAME, ScanResult};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Client, ResourceExt as _};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

use crate::engine::{CheckRequest, Engine, ImageUse, ImageVerdict, Workload};
use crate::k8s::{NamespaceLabels, PullSecrets};
use crate::policy::input::{NamespaceInfo, RequestInfo};
use crate::policy::{Bundle, MatchTarget};
use crate::registry::{Credentials, ImageRef};
use pods::PodInfo;
use report::Row;

/// How the background scan runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanConfig {
    /// How old a result may get before its image is evaluated again.
    pub interval: Duration,
    /// Distinct image digests evaluated at once.
    pub concurrency: usize,
    /// How often the scan looks for new pods, policy or trusted-root reloads, and results
    /// that are due.
    pub check_every: Duration,
    /// Time allowed for one image's evaluation (a `timeout` result after it).
    pub deadline: Duration,
}

impl ScanConfig {
    /// Defaults for `interval`: 4 digests at once, checks every 2 s, 30 s per image.
    pub fn new(interval: Duration) -> ScanConfig {
        ScanConfig {
            interval,
            concurrency: DEFAULT_CONCURRENCY,
            check_every: Duration::from_secs(2),
            deadline: Duration::from_secs(30),
        }
    }
}

/// The default of `--background-scan-concurrency`.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// Verifications/evaluations the scan runs at once (its own, apart from admission's).
const SCAN_CPU_WORKERS: usize = 1;

/// Watches running Pods and reports their compliance.
pub struct BackgroundScan {
    client: Client,
    engine: Engine,
    config: ScanConfig,
    namespaces: Option<NamespaceLabels>,
    pull_secrets: Option<PullSecrets>,
    defaults: Credentials,
}

/// One image evaluated in one namespace.
#[derive(Debug, Clone)]
struct Evaluation {
    verdict: ImageVerdict,
    at: chrono::DateTime<chrono::Utc>,
    due: Instant,
}

/// (image reference, namespace).
type GroupKey = (String, String);

/// What the scan remembers between passes.
struct State {
    evaluations: HashMap<GroupKey, Evaluation>,
    generations: Option<(u64, u64)>,
    pod_changes: u64,
    compliance: compliance::Compliance,
    publisher: publish::Publisher,
}

impl BackgroundScan {
    /// A scan of the cluster behind `client`, deciding with `engine` (give it the
    /// webhook's engine: registry client and caches are shared). Its verification and
    /// Rego run one at a time, on a slot of their own, so the scan never takes
    /// admission's evaluation slots.
    pub fn new(client: Client, engine: Engine, config: ScanConfig) -> BackgroundScan {
        BackgroundScan {
            client,
            engine: engine.with_own_cpu_limit(SCAN_CPU_WORKERS),
            config,
            namespaces: None,
            pull_secrets: None,
            defaults: Credentials::anonymous(),
        }
    }

    /// Namespace labels for policies' namespace selectors (none: every namespace has
    /// no labels).
    pub fn with_namespace_labels(mut self, namespaces: NamespaceLabels) -> BackgroundScan {
        self.namespaces = Some(namespaces);
        self
    }

    /// Registry credentials as at admission: the pods' pull secrets (when enabled), then
    /// `defaults`.
    pub fn with_credentials(
        mut self,
        pull_secrets: Option<PullSecrets>,
        defaults: Credentials,
    ) -> BackgroundScan {
        self.pull_secrets = pull_secrets;
        self.defaults = defaults;
        self
    }

    /// Runs until the task is dropped; API errors are logged and retried.
    pub async fn run(self) {
        let (store, writer) = reflector::store();
        let api: Api<Pod> = Api::all(self.client.clone());
        let config = watcher::Config::default().fields("status.phase=Running");
        let changes = Arc::new(AtomicU64::new(0));
        let counter = changes.clone();
        let watch = async move {
            let mut stream = watcher(api, config)
                .default_backoff()
                .modify(|pod: &mut Pod| pod.managed_fields_mut().clear())
                .reflect(writer)
                .boxed();
            while let Some(item) = stream.next().await {
                match item {
                    Ok(_) => {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "background scan: pod watch failed; retrying")
                    }
                }
            }
        };
        tokio::select! {
            () = watch => {},
            () = self.scan_loop(store, changes) => {},
        }
    }

    async fn scan_loop(&self, pods: Store<Pod>, changes: Arc<AtomicU64>) {
        if pods.wait_until_ready().await.is_err() {
            return;
        }
        tracing::info!(interval = ?self.config.interval, concurrency = self.config.concurrency, "background scan started");
        let mut state = State {
            evaluations: HashMap::new(),
            generations: None,
            pod_changes: u64::MAX,
            compliance: compliance::Compliance::default(),
            publisher: publish::Publisher::new(self.client.clone()),
        };
        loop {
            let generations = (
                self.engine.store().snapshot().generation(),
                crate::policy::trust_root::global().generation(),
            );
            let reloaded = state.generations != Some(generations);
            if reloaded {
                if state.generations.is_some() {
                    tracing::info!(
                        "background scan: policies or trusted root changed; re-evaluating every running image"
                    );
                }
                state.evaluations.clear();
                state.generations = Some(generations);
            }
            let seen = changes.load(Ordering::Relaxed);
            let now = Instant::now();
            let due = state.evaluations.values().any(|e| e.due <= now);
            if reloaded || due || seen != state.pod_changes {
                state.pod_changes = seen;
                self.pass(pods.state(), &mut state).await;
            }
            tokio::time::sleep(self.config.check_every).await;
        }
    }

    /// One pass: evaluates what is new or due, then publishes reports, gauges, events.
    async fn pass(&self, pods: Vec<Arc<Pod>>, state: &mut State) {
        let snapshot = self.engine.store().snapshot();
        let bundles = snapshot.bundles();
        let infos: Vec<PodInfo> = pods.iter().filter_map(|p| pods::pod_info(p)).collect();
        let mut labels: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for ns in infos
            .iter()
            .map(|p| p.namespace.clone())
            .collect::<BTreeSet<_>>()
        {
            let l = match &self.namespaces {
                Some(n) => n.labels(&ns).await.unwrap_or_default(),
                None => BTreeMap::new(),
            };
            labels.insert(ns, l);
        }
        // (reference, namespace) -> (pod index, image index) of every selected use.
        let mut groups: BTreeMap<GroupKey, Vec<(usize, usize)>> = BTreeMap::new();
        for (pi, info) in infos.iter().enumerate() {
            let ns_labels = labels.get(&info.namespace).cloned().unwrap_or_default();
            for (ii, image) in info.images.iter().enumerate() {
                if selected(&bundles, &info.namespace, &ns_labels, &image.reference) {
                    groups
                        .entry((image.reference.clone(), info.namespace.clone()))
                        .or_default()
                        .push((pi, ii));
                }
            }
        }
        state.evaluations.retain(|k, _| groups.contains_key(k));
        let now = Instant::now();
        let mut stale: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (reference, ns) in groups.keys() {
            let fresh = state
                .evaluations
                .get(&(reference.clone(), ns.clone()))
                .is_some_and(|e| e.due > now);
            if !fresh {
                stale.entry(reference.clone()).or_default().push(ns.clone());
            }
        }
        let work = stale.into_iter().map(|(reference, namespaces)| {
            let (infos, groups, labels) = (&infos, &groups, &labels);
            async move {
                let mut out = Vec::new();
                for ns in namespaces {
                    let key = (reference.clone(), ns);
                    let uses = groups.get(&key).map(Vec::as_slice).unwrap_or_default();
                    let ns_labels = labels.get(&key.1).cloned().unwrap_or_default();
                    let verdict = self.evaluate(&key, uses, infos, ns_labels).await;
                    out.push((key, verdict));
                }
                out
            }
        });
        let done: Vec<Vec<(GroupKey, Option<ImageVerdict>)>> = futures::stream::iter(work)
            .buffer_unordered(self.config.concurrency.max(1))
            .collect()
            .await;
        let at = chrono::Utc::now();
        let due = Instant::now() + self.config.interval;
        for (key, verdict) in done.into_iter().flatten() {
            if let Some(verdict) = verdict {
                state
                    .evaluations
                    .insert(key, Evaluation { verdict, at, due });
            }
        }
        let rows = rows(&infos, &groups, &state.evaluations);
        gauges::running_images(&rows);
        let all: Vec<Bundle> = bundles.iter().map(|b| (*b).clone()).collect();
        gauges::controls(
            &crate::policy::controls::catalogue(&all),
            state
                .evaluations
                .iter()
                .map(|((r, _), e)| (r.as_str(), &e.verdict)),
        );
        let mut reports: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        let mut by_ns: BTreeMap<&str, Vec<Row>> = BTreeMap::new();
        for row in &rows {
            let ns = row.workload.namespace.as_deref().unwrap_or_default();
            by_ns.entry(ns).or_default().push(row.clone());
        }
        for (ns, rows) in by_ns {
            reports.insert(ns.to_owned(), report::policy_report(ns, &rows));
        }
        state.publisher.reports(&reports).await;
        let transitions = state.compliance.update(&rows);
        state.publisher.events(&transitions).await;
    }

    /// Evaluates one image as used by the pods of one namespace (the first pod stands
    /// for the workload in the policy input).
    async fn evaluate(
        &self,
        key: &GroupKey,
        uses: &[(usize, usize)],
        infos: &[PodInfo],
        ns_labels: BTreeMap<String, String>,
    ) -> Option<ImageVerdict> {
        let (reference, namespace) = key;
        let first = infos.get(uses.first()?.0)?;
        let mut images: Vec<ImageUse> = Vec::new();
        for (pi, ii) in uses.iter().filter(|(pi, _)| *pi == uses[0].0) {
            if let Some(image) = infos.get(*pi).and_then(|p| p.images.get(*ii)) {
                images.push(ImageUse {
                    image: reference.clone(),
                    container: image.container.clone(),
                    container_kind: image.kind.to_owned(),
                });
            }
        }
        let mut credentials = match &self.pull_secrets {
            Some(reader) => {
                reader
                    .credentials(namespace, &first.pull_secrets, Some(&first.service_account))
                    .await
            }
            None => Credentials::anonymous(),
        };
        credentials.extend(&self.defaults);
        let request = CheckRequest {
            images,
            workload: Workload {
                kind: "Pod".into(),
                name: first.name.clone(),
                labels: first.labels.clone(),
                annotations: first.annotations.clone(),
                service_account_name: first.service_account.clone(),
            },
            namespace: NamespaceInfo {
                name: namespace.clone(),
                labels: ns_labels,
            },
            request: RequestInfo {
                operation: "CREATE".into(),
                ..RequestInfo::default()
            },
            credentials,
            time: None,
        };
        let deadline = Instant::now() + self.config.deadline;
        self.engine
            .check(&request, deadline)
            .await
            .into_iter()
            .next()
    }
}

/// Whether any loaded policy applies to `reference` in `namespace`.
fn selected(
    bundles: &[&Bundle],
    namespace: &str,
    labels: &BTreeMap<String, String>,
    reference: &str,
) -> bool {
    let name = ImageRef::parse(reference).map(|r| r.name());
    bundles.iter().any(|b| match &name {
        Ok(image_name) => b.matcher().matches(&MatchTarget {
            namespace,
            namespace_labels: labels,
            image_name,
        }),
        Err(_) => b.matcher().matches_namespace(namespace, labels),
    })
}

/// The report rows: per namespace, workload and image, each policy's latest result.
fn rows(
    infos: &[PodInfo],
    groups: &BTreeMap<GroupKey, Vec<(usize, usize)>>,
    evaluations: &HashMap<GroupKey, Evaluation>,
) -> Vec<Row> {
    let mut out = Vec::new();
    for (key, uses) in groups {
        let Some(eval) = evaluations.get(key) else {
            continue;
        };
        // workload uid/name -> (pods, containers)
        let mut by_workload: BTreeMap<String, (usize, BTreeSet<String>, BTreeSet<String>)> =
            BTreeMap::new();
        for (pi, ii) in uses {
            let (Some(info), Some(image)) = (
                infos.get(*pi),
                infos.get(*pi).and_then(|p| p.images.get(*ii)),
            ) else {
                continue;
            };
            let w = &info.workload;
            let wk = format!(
                "{}/{}",
                w.kind.as_deref().unwrap_or_default(),
                w.name.as_deref().unwrap_or_default()
            );
            let entry = by_workload
                .entry(wk)
                .or_insert_with(|| (*pi, BTreeSet::new(), BTreeSet::new()));
            entry.1.insert(info.name.clone());
            entry.2.insert(image.container.clone());
        }
        for (first, pods, containers) in by_workload.into_values() {
            let Some(info) = infos.get(first) else {
                continue;
            };
            for result in &eval.verdict.results {
                out.push(Row {
                    workload: info.workload.clone(),
                    pods: pods.iter().cloned().collect(),
                    containers: containers.iter().cloned().collect(),
                    image: key.0.clone(),
                    digest: eval.verdict.digest.as_ref().map(ToString::to_string),
                    result: result.clone(),
                    at: eval.at,
                });
            }
        }
    }
    out
}
