//! The background scan (`custody serve --background-scan`) against a fake apiserver and a
//! real registry: the kube client runs over a tower Service that answers the Pod list and
//! watch as the apiserver does (Pods built from the `kubectl create … --dry-run=client -o
//! json` objects in tests/data/admission-review/objects/, given the metadata and status the
//! controllers and kubelet add), and records what custody writes. Images are real OCI
//! images on ferro-oci-server, one with a signed attestation and one without.
//!
//! Checked: the PolicyReports written (validated against the vendored wgpolicyk8s.io
//! v1alpha2 CRD's OpenAPI v3 schema with Python's jsonschema, every object closed so that a
//! field the apiserver would prune fails), pods the policies do not select left out, a
//! stale report deleted, Events on transitions only, the running-images and control
//! gauges, a re-run on the interval, and a policy change and a trusted-root change each
//! triggering a re-evaluation. And the installation:
//! the chart's `server.backgroundScan` and `policyReports.installCRD` and deploy/'s
//! `background-scan` component and `crds/` (off by default, least-privilege RBAC, the
//! chart and deploy/ agreeing, valid objects).

use crate::support;

use custody::engine::{Engine, EngineConfig};
use custody::k8s::testing::{Answer, FakeApiserver, Seen};
use custody::k8s::{BackgroundScan, ScanConfig};
use custody::policy::PolicyStore;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::TestRegistry;
use support::bundles::{deny_all_rego, policy_yaml, require_evidence_rego};
use support::reviews::object;
use support::{PolicyDir, images};

/// The fake apiserver: a Pod list and watch, PolicyReports and Events.
#[derive(Clone)]
struct ApiServer {
    server: FakeApiserver,
}

impl ApiServer {
    fn new(pods: Vec<Value>, added: Vec<Value>) -> ApiServer {
        let first_watch = AtomicBool::new(true);
        let server = FakeApiserver::new(move |req| answer(&pods, &added, &first_watch, req));
        ApiServer { server }
    }

    fn seen(&self) -> Vec<Seen> {
        self.server.seen()
    }

    fn client(&self) -> kube::Client {
        self.server.client("default")
    }

    /// The bodies of PolicyReport applies to `namespace`, in order.
    fn applied(&self, namespace: &str) -> Vec<Value> {
        let path =
            format!("/apis/wgpolicyk8s.io/v1alpha2/namespaces/{namespace}/policyreports/custody");
        self.seen()
            .into_iter()
            .filter(|s| s.method == "PATCH" && s.uri.contains(&path))
            .map(|s| serde_json::from_str(&s.body).unwrap())
            .collect()
    }

    /// The Events recorded, in order.
    fn events(&self) -> Vec<Value> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "POST" && s.uri.contains("/apis/events.k8s.io/v1/"))
            .map(|s| serde_json::from_str(&s.body).unwrap())
            .collect()
    }
}

/// How the fake apiserver answers one request.
fn answer(pods: &[Value], added: &[Value], first_watch: &AtomicBool, req: &Seen) -> Answer {
    let (method, uri, body) = (req.method.as_str(), req.uri.as_str(), req.body.as_str());
    let text = |code: u16, v: Value| Answer::json(code, &v);
    if method == "GET" && uri.starts_with("/api/v1/pods") && uri.contains("watch=true") {
        // The first watch delivers the pods added after the list, then stays open.
        let lines: String = if first_watch.swap(false, Ordering::SeqCst) {
            added
                .iter()
                .map(|p| json!({"type": "ADDED", "object": p}).to_string() + "\n")
                .collect()
        } else {
            String::new()
        };
        return Answer::Open(lines);
    }
    if method == "GET" && uri.starts_with("/api/v1/pods") {
        assert!(
            uri.contains("fieldSelector=status.phase%3DRunning"),
            "the scan lists running pods only: {uri}"
        );
        let list = json!({"apiVersion": "v1", "kind": "PodList",
            "metadata": {"resourceVersion": "1000"}, "items": pods});
        return text(200, list);
    }
    if method == "GET" && uri.starts_with("/apis/wgpolicyk8s.io/v1alpha2/policyreports") {
        // A report an earlier run left in a namespace that runs nothing any more.
        let stale = json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
            "metadata": {"name": "custody", "namespace": "gone", "resourceVersion": "5",
                "labels": {"app.kubernetes.io/managed-by": "custody"}},
            "summary": {"pass": 1}, "results": []});
        let list = json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReportList",
            "metadata": {"resourceVersion": "1000"}, "items": [stale]});
        return text(200, list);
    }
    if method == "PATCH" && uri.contains("/policyreports/custody") {
        let mut applied: Value = serde_json::from_str(body).unwrap();
        applied["metadata"]["resourceVersion"] = json!("1001");
        return text(200, applied);
    }
    if method == "DELETE" && uri.contains("/policyreports/custody") {
        return text(
            200,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        );
    }
    if method == "POST" && uri.contains("/apis/events.k8s.io/v1/namespaces/") {
        return text(201, serde_json::from_str(body).unwrap());
    }
    text(
        404,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("no route for {method} {uri}"), "reason": "NotFound", "code": 404}),
    )
}

/// A running Pod as the apiserver serves it: `template` (a kubectl-made Pod, or a pod
/// template) with the metadata the controllers add and the status the kubelet reports.
fn running_pod(
    template: &Value,
    name: &str,
    namespace: &str,
    owner: Option<(&str, &str)>,
    image_id: &str,
) -> Value {
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod"});
    pod["metadata"] = template["metadata"].clone();
    pod["spec"] = template["spec"].clone();
    let meta = &mut pod["metadata"];
    meta["name"] = json!(name);
    meta["namespace"] = json!(namespace);
    meta["uid"] = json!(format!("uid-{name}"));
    meta["resourceVersion"] = json!("900");
    meta["creationTimestamp"] = json!("2026-11-30T08:00:00Z");
    meta["managedFields"] = json!([{"manager": "kube-controller-manager", "operation": "Update"}]);
    if let Some((kind, owner_name)) = owner {
        meta["labels"]["pod-template-hash"] = json!("7d9c5b8f4");
        meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": kind, "name": owner_name,
            "uid": format!("uid-{owner_name}"), "controller": true, "blockOwnerDeletion": true}]);
    }
    pod["spec"]["serviceAccountName"] = json!("default");
    pod["spec"]["nodeName"] = json!("node-1");
    let container = &pod["spec"]["containers"][0];
    pod["status"] = json!({
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{
            "name": container["name"], "image": container["image"], "imageID": image_id,
            "ready": true, "started": true, "restartCount": 0,
            "state": {"running": {"startedAt": "2026-11-30T08:00:05Z"}}}]
    });
    pod
}

/// Validates `report` against the CRD's schema with Python's jsonschema, every object
/// schema with properties closed (what the apiserver would prune is an error here).
fn validate_against_crd(report: &Value) {
    let crd = format!(
        "{}/deploy/crds/wgpolicyk8s.io_policyreports.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let script = r#"
import json, sys, yaml, jsonschema
crd = yaml.safe_load(open(sys.argv[1]))
version = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha2"][0]
schema = version["schema"]["openAPIV3Schema"]
def close(s):
    if isinstance(s, dict):
        if s.get("type") == "object" and "properties" in s and "additionalProperties" not in s:
            s["additionalProperties"] = False
        for v in s.values():
            close(v)
    elif isinstance(s, list):
        for v in s:
            close(v)
close(schema)
report = json.load(sys.stdin)
errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(report), key=str)
for e in errors:
    print("/".join(map(str, e.path)), e.message)
sys.exit(1 if errors else 0)
"#;
    let out = support::python::python3(
        &["-c", script, &crd],
        report.to_string().as_bytes(),
        "scripts/setup installs jsonschema and pyyaml",
    );
    assert!(
        out.status.success(),
        "the PolicyReport does not validate against the CRD schema:\n{}{}\n{report:#}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn until<T>(what: &str, within: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + within;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < end, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The result for `image` in `report`.
fn result_for<'a>(report: &'a Value, image: &str) -> Option<&'a Value> {
    report["results"]
        .as_array()?
        .iter()
        .find(|r| r["properties"]["image"] == image)
}

const POLICY: &str = "gate";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_pods_are_reported_revisited_and_re_evaluated_when_policies_or_the_root_change() {
    support::init_crypto();
    let reg = TestRegistry::ferro();
    let good = images::push(&reg, "good", Some(&support::fixtures::ci_key())).await;
    let bare = images::push(&reg, "bare", None).await;
    let good_ref = format!("{}/e2e/good@{}", reg.host, good.digest);
    let bare_ref = format!("{}/e2e/bare@{}", reg.host, bare.digest);

    // The policy implements control C-01 and applies everywhere but kube-system.
    let policies = PolicyDir::empty();
    policies.write_files(POLICY, "enforce", &require_evidence_rego(POLICY));
    let yaml = policy_yaml(POLICY, "enforce")
        + "match:\n  exclude:\n    namespaces: [kube-system]\n"
        + "controls:\n  - {id: C-01, title: only signed builds may be deployed}\n";
    std::fs::write(policies.bundle(POLICY).join("policy.yaml"), yaml).unwrap();
    let store = PolicyStore::new();
    let _watch = custody::policy::watch::watch_dir(store.clone(), policies.path()).unwrap();
    assert_eq!(store.snapshot().len(), 1, "{:?}", store.last_errors());

    // Listed: a Deployment's pod running the attested image (by tag; the kubelet reports
    // the digest) and a kube-system pod no policy selects. Added by the watch later: a
    // bare Pod (`kubectl run`) running the image without evidence.
    let deployment = object("deployment", &good.image);
    let template = &deployment["spec"]["template"];
    let web = running_pod(
        template,
        "web-7d9c5b8f4-x2x9q",
        "shop",
        Some(("ReplicaSet", "web-7d9c5b8f4")),
        &format!("{}/e2e/good@{}", reg.host, good.digest),
    );
    let system = running_pod(
        &object("pod", &bare.image),
        "proxy",
        "kube-system",
        None,
        &format!("{}/e2e/bare@{}", reg.host, bare.digest),
    );
    let bare_pod = running_pod(
        &object("pod", &bare.image),
        "web",
        "shop",
        None,
        &format!("docker-pullable://{}/e2e/bare@{}", reg.host, bare.digest),
    );
    // The attested image also runs in a second namespace (a Deployment "api" there).
    let api_pod = running_pod(
        template,
        "api-5f6d7c8b9-k4m2p",
        "shop2",
        Some(("ReplicaSet", "api-5f6d7c8b9")),
        &format!("{}/e2e/good@{}", reg.host, good.digest),
    );
    let api = ApiServer::new(
        vec![web.clone(), system.clone(), api_pod],
        vec![bare_pod.clone()],
    );
    let engine = Engine::new(
        Arc::new(reg.client()),
        store.clone(),
        EngineConfig::default(),
    );
    // An interval far beyond the test: every re-evaluation below follows a change.
    let config = ScanConfig {
        check_every: Duration::from_millis(100),
        ..ScanConfig::new(Duration::from_secs(3600))
    };
    let scan =
        tokio::spawn(BackgroundScan::new(api.client(), engine.clone(), config.clone()).run());

    // Both shop pods reported: the attested image passes, the bare one fails.
    let first = until(
        "a report with both shop images",
        Duration::from_secs(30),
        || {
            api.applied("shop")
                .into_iter()
                .find(|r| result_for(r, &good_ref).is_some() && result_for(r, &bare_ref).is_some())
        },
    )
    .await;
    validate_against_crd(&first);
    assert_eq!(first["apiVersion"], "wgpolicyk8s.io/v1alpha2");
    assert_eq!(first["kind"], "PolicyReport");
    assert_eq!(
        first["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "custody"
    );
    assert_eq!(
        first["summary"],
        json!({"pass": 1, "fail": 1, "warn": 0, "error": 0, "skip": 0})
    );
    let pass = result_for(&first, &good_ref).unwrap();
    assert_eq!(pass["policy"], POLICY);
    assert_eq!(pass["result"], "pass");
    assert_eq!(pass["source"], "custody");
    assert_eq!(pass["scored"], true);
    assert_eq!(pass["resources"][0]["kind"], "ReplicaSet");
    assert_eq!(pass["resources"][0]["name"], "web-7d9c5b8f4");
    assert_eq!(pass["properties"]["pods"], "web-7d9c5b8f4-x2x9q");
    assert_eq!(pass["properties"]["digest"], good.digest.to_string());
    let fail = result_for(&first, &bare_ref).unwrap();
    assert_eq!(fail["result"], "fail");
    assert_eq!(fail["category"], "no-attestation");
    assert_eq!(fail["severity"], "high");
    assert!(
        fail["message"]
            .as_str()
            .unwrap()
            .contains("no verified e2e evidence"),
        "{fail}"
    );
    assert_eq!(fail["resources"][0]["kind"], "Pod");
    assert_eq!(fail["resources"][0]["name"], "web");
    assert!(fail["timestamp"]["seconds"].as_i64().unwrap() > 1_700_000_000);

    // One registry lookup per distinct digest: the attested image runs in two namespaces
    // and is evaluated in both, but resolved and discovered once (cache misses count
    // lookups); the kube-system image is never looked up.
    let shop2 = until("the shop2 report", Duration::from_secs(10), || {
        api.applied("shop2").into_iter().next()
    })
    .await;
    assert_eq!(result_for(&shop2, &good_ref).unwrap()["result"], "pass");
    let lookups = |cache: &str| {
        let m = custody::metrics::metrics().render();
        support::serve::sample(
            &m,
            &format!("custody_cache_requests_total{{cache=\"{cache}\",result=\"miss\"}}"),
        )
    };
    assert_eq!(lookups("discover"), 2.0);
    assert_eq!(lookups("tag"), 2.0);

    // Nothing for kube-system (no policy selects it); the stale report is deleted.
    assert!(api.applied("kube-system").is_empty());
    until("the stale report deleted", Duration::from_secs(10), || {
        api.seen()
            .iter()
            .any(|s| {
                s.method == "DELETE" && s.uri.contains("/namespaces/gone/policyreports/custody")
            })
            .then_some(())
    })
    .await;

    // The bare Pod fell out of compliance: one Warning Event on it.
    let event = until("an OutOfCompliance event", Duration::from_secs(10), || {
        api.events()
            .into_iter()
            .find(|e| e["reason"] == "OutOfCompliance")
    })
    .await;
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["regarding"]["kind"], "Pod");
    assert_eq!(event["regarding"]["name"], "web");
    assert_eq!(event["metadata"]["namespace"], "shop");
    assert!(
        event["note"]
            .as_str()
            .unwrap()
            .contains("gate [no-attestation]"),
        "{event}"
    );

    // custody_running_images counts distinct running images per policy and result.
    let metrics = custody::metrics::metrics().render();
    assert!(
        metrics.contains("custody_running_images{policy=\"gate\",result=\"pass\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("custody_running_images{policy=\"gate\",result=\"fail\"} 1"),
        "{metrics}"
    );
    // One of the two running images the control applies to satisfies it.
    assert!(
        metrics.contains("custody_control_satisfied{control=\"C-01\"} 0.5"),
        "{metrics}"
    );

    // A policy change (the rewritten bundle reloads the store) re-evaluates at once (the
    // interval is an hour): the attested image now fails too, and its ReplicaSet gets an
    // Event.
    let before = api.applied("shop").len();
    policies.write_rego(
        POLICY,
        &deny_all_rego(POLICY, "gate v2: this image is no longer accepted"),
    );
    let after = until(
        "a report under the new policy",
        Duration::from_secs(20),
        || {
            api.applied("shop")
                .into_iter()
                .skip(before)
                .find(|r| result_for(r, &good_ref).is_some_and(|g| g["result"] == "fail"))
        },
    )
    .await;
    validate_against_crd(&after);
    let now_failing = result_for(&after, &good_ref).unwrap();
    assert!(
        now_failing["message"].as_str().unwrap().contains("gate v2"),
        "{now_failing}"
    );
    assert_eq!(after["summary"]["fail"], 2);
    let rs_event = until(
        "an Event on the ReplicaSet",
        Duration::from_secs(10),
        || {
            api.events().into_iter().find(|e| {
                e["reason"] == "OutOfCompliance" && e["regarding"]["kind"] == "ReplicaSet"
            })
        },
    )
    .await;
    assert_eq!(rs_event["regarding"]["name"], "web-7d9c5b8f4");
    let metrics = custody::metrics::metrics().render();
    assert!(
        metrics.contains("custody_control_satisfied{control=\"C-01\"} 0.0\n"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("custody_running_images{policy=\"gate\",result=\"pass\"}"),
        "{metrics}"
    );
    assert_eq!(rs_event["regarding"]["uid"], "uid-web-7d9c5b8f4");
    assert!(
        rs_event["note"].as_str().unwrap().contains("gate v2"),
        "{rs_event}"
    );

    // A new trusted root (what a trusted-root file or ConfigMap reload does) re-evaluates
    // every running image too, long before the interval: newer timestamps.
    let seconds = |r: &Value| {
        result_for(r, &good_ref).unwrap()["timestamp"]["seconds"]
            .as_i64()
            .unwrap()
    };
    let last = seconds(api.applied("shop").last().unwrap());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = api.applied("shop").len();
    let root = std::fs::read(format!(
        "{}/tests/data/sigstore-trusted-roots/staging.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    custody::policy::trust_root::global()
        .replace_from_json(&root)
        .unwrap();
    until(
        "a re-evaluation after the trusted root changed",
        Duration::from_secs(20),
        || {
            api.applied("shop")
                .into_iter()
                .skip(before)
                .find(|r| seconds(r) > last)
        },
    )
    .await;

    // Re-evaluations after a reload use admission's caches: still no new lookup.
    assert_eq!(lookups("discover"), 2.0);
    assert_eq!(lookups("tag"), 2.0);

    // It only reads Pods and writes reports and Events: no other request, and nothing
    // that would evict or change a workload.
    for s in api.seen() {
        let allowed = (s.method == "GET" && s.uri.starts_with("/api/v1/pods"))
            || s.uri.starts_with("/apis/wgpolicyk8s.io/v1alpha2/")
            || (s.method == "POST" && s.uri.starts_with("/apis/events.k8s.io/v1/"));
        assert!(allowed, "unexpected request {} {}", s.method, s.uri);
    }
    scan.abort();

    // A second scan with a 2 s interval: the images are evaluated again on the interval
    // (newer timestamps, same verdicts), and a workload that stays out of compliance gets
    // its Event once, not every interval.
    let api = ApiServer::new(vec![web, system, bare_pod], vec![]);
    let config = ScanConfig {
        interval: Duration::from_secs(2),
        ..config
    };
    let scan = tokio::spawn(BackgroundScan::new(api.client(), engine, config).run());
    let stamp = |r: &Value, image: &str| {
        result_for(r, image).unwrap()["timestamp"]["seconds"]
            .as_i64()
            .unwrap()
    };
    let first = until("the second scan's report", Duration::from_secs(30), || {
        api.applied("shop").into_iter().next()
    })
    .await;
    let t0 = stamp(&first, &bare_ref);
    let later = until(
        "a re-evaluation on the interval",
        Duration::from_secs(15),
        || {
            api.applied("shop")
                .into_iter()
                .find(|r| stamp(r, &bare_ref) > t0 && stamp(r, &good_ref) > t0)
        },
    )
    .await;
    validate_against_crd(&later);
    assert_eq!(later["summary"]["fail"], 2);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(api.applied("shop").len() >= 3, "{:#?}", api.applied("shop"));
    let reasons: Vec<String> = api
        .events()
        .iter()
        .map(|e| {
            format!(
                "{} {}/{}",
                e["reason"], e["regarding"]["kind"], e["regarding"]["name"]
            )
        })
        .collect();
    assert_eq!(
        reasons.len(),
        2,
        "one event per workload that is out of compliance: {reasons:#?}"
    );
    scan.abort();
}

/// The rules of the ClusterRole `name`.
fn cluster_rules(objects: &[Value], name: &str) -> Value {
    support::deploy::of_kind(objects, "ClusterRole")
        .into_iter()
        .find(|o| o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no ClusterRole {name}"))["rules"]
        .clone()
}

fn env_names(objects: &[Value]) -> Vec<String> {
    support::deploy::one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_chart_and_deploy_install_the_scan_only_when_asked_with_least_privilege() {
    use support::deploy::*;
    // Off by default: no flag, no RBAC for it, no CRD.
    let plain = render(none());
    assert!(
        !env_names(&plain)
            .iter()
            .any(|n| n.starts_with("CUSTODY_BACKGROUND_SCAN"))
    );
    assert!(
        !inventory(&plain)
            .iter()
            .any(|i| i.contains("background-scan") || i.contains("CustomResourceDefinition")),
        "{:?}",
        inventory(&plain)
    );

    // On: the flag and its concurrency, a ClusterRole with exactly what the scan uses.
    let on = render(
        json!({"server": {"backgroundScan": "1h", "backgroundScanConcurrency": 2},
        "policyReports": {"installCRD": true}}),
    );
    let (ok, out) = check_k8s(&on);
    assert!(ok, "{out}");
    let deployment = one(&on, "Deployment");
    assert_eq!(
        fixtures::env(deployment, "CUSTODY_BACKGROUND_SCAN")["value"],
        "1h"
    );
    assert_eq!(
        fixtures::env(deployment, "CUSTODY_BACKGROUND_SCAN_CONCURRENCY")["value"],
        "2"
    );
    assert_eq!(
        cluster_rules(&on, "custody-background-scan"),
        json!([
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]},
            {"apiGroups": ["wgpolicyk8s.io"], "resources": ["policyreports"],
             "verbs": ["get", "list", "create", "update", "patch", "delete"]},
            {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]}
        ])
    );
    let binding = of_kind(&on, "ClusterRoleBinding")
        .into_iter()
        .find(|b| b["metadata"]["name"] == "custody-background-scan")
        .expect("the scan's ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], "custody-background-scan");
    assert_eq!(binding["subjects"][0]["name"], "custody");

    // The CRD: the vendored file, the same bytes in the chart and in deploy/.
    let deploy_crd =
        std::fs::read_to_string(root().join("deploy/crds/wgpolicyk8s.io_policyreports.yaml"))
            .unwrap();
    let chart_crd = std::fs::read_to_string(
        root().join("charts/custody/files/crds/wgpolicyk8s.io_policyreports.yaml"),
    )
    .unwrap();
    assert_eq!(
        deploy_crd, chart_crd,
        "charts/custody/files/crds/ differs from deploy/crds/"
    );
    let crd = one(&on, "CustomResourceDefinition");
    assert_eq!(crd["metadata"]["name"], "policyreports.wgpolicyk8s.io");
    assert_eq!(crd["spec"]["versions"][0]["name"], "v1alpha2");
    let vendored: Value = yaml_serde::from_str(&deploy_crd).unwrap();
    assert_eq!(crd["spec"], vendored["spec"]);
    let crds = kustomize(&root().join("deploy/crds"));
    assert_eq!(inventory(&crds), inventory(std::slice::from_ref(crd)));

    // deploy/'s component agrees with the chart (the CRD is applied on its own).
    let (dir, _) = deploy_with_tls();
    let path = dir.path().join("deploy/kustomization.yaml");
    let text = std::fs::read_to_string(&path).unwrap() + "  - background-scan\n";
    std::fs::write(&path, text).unwrap();
    let deploy = kustomize(&dir.path().join("deploy"));
    let (ok, out) = check_k8s(&deploy);
    assert!(ok, "{out}");
    let rendered = render(json!({"server": {"backgroundScan": "1h"}}));
    assert_eq!(
        cluster_rules(&deploy, "custody-background-scan"),
        cluster_rules(&rendered, "custody-background-scan")
    );
    assert_eq!(env_names(&deploy), env_names(&rendered));
    for name in [
        "CUSTODY_BACKGROUND_SCAN",
        "CUSTODY_BACKGROUND_SCAN_CONCURRENCY",
    ] {
        assert_eq!(
            fixtures::env(one(&deploy, "Deployment"), name)["value"],
            fixtures::env(one(&rendered, "Deployment"), name)["value"],
            "{name}"
        );
    }

    // Bad values are refused before anything renders.
    let loaded = chart();
    for (overrides, needle) in [
        (json!({"server": {"backgroundScan": "hourly"}}), "hourly"),
        (json!({"server": {"backgroundScanConcurrency": 0}}), "0"),
        (json!({"policyReports": {"install": true}}), "install"),
    ] {
        let (ok, out) = check_values(&loaded.values(&overrides));
        assert!(!ok, "{overrides} was accepted");
        assert!(out.contains(needle), "{overrides}: {out}");
    }
}
