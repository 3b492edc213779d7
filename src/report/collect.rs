//! Evaluating the report's images: each distinct (reference, namespace) once, through the
//! same [`Engine`] (and so the same registry and verification caches) as `custody
//! verify`, at most `concurrency` at a time, with a progress callback.

use super::WorkloadRef;
use crate::engine::{CheckRequest, Engine, ImageUse, ImageVerdict, Workload};
use crate::policy::input::{NamespaceInfo, RequestInfo};
use crate::registry::Credentials;
use futures::StreamExt as _;
use std::time::Duration;

/// One image to evaluate, where, and who runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The reference (for running Pods, `name@digest` of what runs).
    pub image: String,
    /// The namespace it runs in (name and labels: policies select by them).
    pub namespace: NamespaceInfo,
    /// Workloads that run it.
    pub workloads: Vec<WorkloadRef>,
}

/// An evaluated target.
#[derive(Debug, Clone)]
pub struct Evaluated {
    /// What was evaluated.
    pub target: Target,
    /// The engine's verdict.
    pub verdict: ImageVerdict,
}

/// How the images are evaluated.
#[derive(Debug, Clone)]
pub struct EvaluateOptions {
    /// Evaluation time given to policies (`None`: now).
    pub time: Option<chrono::DateTime<chrono::Utc>>,
    /// Registry credentials (`--docker-config`).
    pub credentials: Credentials,
    /// Deadline of each image's decision.
    pub deadline: Duration,
    /// Images evaluated at once.
    pub concurrency: usize,
}

/// Folds targets naming the same reference in the same namespace into one (their
/// workloads merged), in first-appearance order.
pub fn dedup(targets: Vec<Target>) -> Vec<Target> {
    let mut out: Vec<Target> = Vec::new();
    for t in targets {
        match out
            .iter_mut()
            .find(|o| o.image == t.image && o.namespace.name == t.namespace.name)
        {
            Some(o) => {
                for w in t.workloads {
                    if !o.workloads.contains(&w) {
                        o.workloads.push(w);
                    }
                }
            }
            None => out.push(t),
        }
    }
    out
}

fn request(target: &Target, opts: &EvaluateOptions) -> CheckRequest {
    let first = target.workloads.first();
    let container = first.map_or("image", |w| w.container.as_str());
    CheckRequest {
        images: vec![ImageUse::container(&target.image, container)],
        workload: Workload {
            kind: first.map(|w| w.kind.clone()).unwrap_or_default(),
            name: first.map(|w| w.name.clone()).unwrap_or_default(),
            ..Workload::default()
        },
        namespace: target.namespace.clone(),
        request: RequestInfo {
            operation: "CREATE".into(),
            user: "custody-report".into(),
            ..RequestInfo::default()
        },
        credentials: opts.credentials.clone(),
        time: opts.time,
    }
}

/// Evaluates every target (deduplicated first), at most `opts.concurrency` at a time;
/// `progress(done, total)` is called after each. Results keep the targets' order.
pub async fn evaluate(
    engine: &Engine,
    targets: Vec<Target>,
    opts: &EvaluateOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<Evaluated> {
    let targets = dedup(targets);
    let total = targets.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let work = targets.into_iter().enumerate().map(|(i, target)| {
        let done = &done;
        async move {
            let req = request(&target, opts);
            let deadline = tokio::time::Instant::now() + opts.deadline;
            let verdict = engine.check(&req, deadline).await.into_iter().next();
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(n, total);
            (i, target, verdict)
        }
    });
    let mut results: Vec<(usize, Target, Option<ImageVerdict>)> = futures::stream::iter(work)
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    results.sort_by_key(|(i, _, _)| *i);
    results
        .into_iter()
        .filter_map(|(_, target, verdict)| verdict.map(|verdict| Evaluated { target, verdict }))
        .collect()
}

/// Targets from the containers running in a cluster: one per (running reference,
/// namespace), with the namespace's labels.
pub fn from_running(
    running: Vec<crate::k8s::pods::RunningContainer>,
    labels: &std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
) -> Vec<Target> {
    let targets = running
        .into_iter()
        .map(|c| Target {
            namespace: NamespaceInfo {
                labels: labels.get(&c.namespace).cloned().unwrap_or_default(),
                name: c.namespace.clone(),
            },
            workloads: vec![WorkloadRef {
                namespace: c.namespace,
                kind: c.owner_kind,
                name: c.owner_name,
                container: c.container,
            }],
            image: c.image,
        })
        .collect();
    dedup(targets)
}
