//! The k8s module against a kube `Client` over a canned-response transport (no apiserver).

use super::testing::{Answer, FakeApiserver, Seen};
use super::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::watcher::Event;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// (method, path fragment, responses in turn; `None` hangs).
type Route = (String, String, Vec<Option<(u16, String)>>);

/// A fake API server answering by the first route whose (method, path fragment) matches;
/// a route's responses are used in turn, the last one repeating. `None` means "hang
/// forever" (an open watch with nothing to say); no route is a 404.
#[derive(Clone, Default)]
struct Mock {
    routes: Arc<Mutex<Vec<Route>>>,
    server: Arc<Mutex<Option<FakeApiserver>>>,
}

impl Mock {
    fn route(self, method: &str, fragment: &str, responses: Vec<Option<(u16, String)>>) -> Self {
        self.routes
            .lock()
            .unwrap()
            .push((method.into(), fragment.into(), responses));
        self
    }

    fn seen(&self) -> Vec<Seen> {
        self.server
            .lock()
            .unwrap()
            .as_ref()
            .map(FakeApiserver::seen)
            .unwrap_or_default()
    }

    fn client(&self) -> kube::Client {
        let routes = self.routes.clone();
        let server = FakeApiserver::new(move |req| {
            let mut routes = routes.lock().unwrap();
            let answer = routes
                .iter_mut()
                .find(|(m, f, _)| *m == req.method && req.uri.contains(f.as_str()))
                .map(|(_, _, responses)| {
                    if responses.len() > 1 {
                        responses.remove(0)
                    } else {
                        responses[0].clone()
                    }
                });
            match answer {
                None => Answer::not_found("not found"),
                Some(None) => Answer::Open(String::new()),
                Some(Some((code, text))) => Answer::Json(code, text),
            }
        });
        let client = server.client("custody");
        *self.server.lock().unwrap() = Some(server);
        client
    }
}

fn cm(name: &str, rv: &str, files: &[(&str, &str)]) -> serde_json::Value {
    let data: BTreeMap<&str, &str> = files.iter().copied().collect();
    serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "custody", "resourceVersion": rv, "uid": format!("uid-{name}"),
                     "labels": {"custody.dev/policy": "true"}},
        "data": data,
    })
}

fn list(items: &[serde_json::Value]) -> String {
    serde_json::json!({"apiVersion": "v1", "kind": "ConfigMapList",
        "metadata": {"resourceVersion": "100"}, "items": items})
    .to_string()
}

fn watch_lines(events: &[(&str, serde_json::Value)]) -> String {
    events
        .iter()
        .map(|(t, o)| format!("{}\n", serde_json::json!({"type": t, "object": o})))
        .collect()
}

/// Records calls; rejects any bundle with a `broken.rego` file.
#[derive(Default)]
struct RecordingSink {
    calls: Mutex<Vec<String>>,
}

impl PolicySink for RecordingSink {
    fn upsert(&self, name: &str, files: BTreeMap<String, String>) -> Result<(), String> {
        let keys: Vec<&str> = files.keys().map(String::as_str).collect();
        self.calls
            .lock()
            .unwrap()
            .push(format!("upsert {name} {}", keys.join(",")));
        if files.contains_key("broken.rego") {
            Err("broken.rego:1: unexpected token".into())
        } else {
            Ok(())
        }
    }
    fn remove(&self, name: &str) {
        self.calls.lock().unwrap().push(format!("remove {name}"));
    }
}

impl RecordingSink {
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("gave up waiting for {what}");
}

#[tokio::test]
async fn configmaps_become_bundle_upserts_removals_and_rejection_events() {
    let good = cm(
        "require-slsa",
        "1",
        &[
            ("policy.yaml", "mode: enforce"),
            ("policy.rego", "package p"),
        ],
    );
    let bad = cm(
        "broken",
        "2",
        &[("policy.yaml", "mode: enforce"), ("broken.rego", "package")],
    );
    let good2 = cm(
        "require-slsa",
        "3",
        &[("policy.yaml", "mode: warn"), ("policy.rego", "package p")],
    );
    let mock = Mock::default()
        .route(
            "POST",
            "/apis/events.k8s.io/v1/namespaces/custody/events",
            vec![Some((201, "{}".into()))],
        )
        .route(
            "GET",
            "watch=true",
            vec![
                Some((
                    200,
                    watch_lines(&[("MODIFIED", good2.clone()), ("DELETED", good2)]),
                )),
                None,
            ],
        )
        .route(
            "GET",
            "/api/v1/namespaces/custody/configmaps",
            vec![Some((200, list(&[good, bad])))],
        );
    let sink = Arc::new(RecordingSink::default());
    let watch = PolicyWatch::new(mock.client(), "custody", POLICY_LABEL, sink.clone());
    let synced = watch.synced();
    let failures_before = crate::metrics::metrics().render();
    let task = tokio::spawn(watch.run());

    wait_for("four sink calls", || sink.calls().len() >= 4).await;
    wait_for("the rejection event", || {
        mock.seen().iter().any(|s| s.method == "POST")
    })
    .await;
    task.abort();

    assert_eq!(
        sink.calls(),
        vec![
            "upsert require-slsa policy.rego,policy.yaml",
            "upsert broken broken.rego,policy.yaml",
            "upsert require-slsa policy.rego,policy.yaml",
            "remove require-slsa",
        ]
    );
    assert!(synced.load(std::sync::atomic::Ordering::Relaxed));
    let seen = mock.seen();
    let list_call = seen.iter().find(|s| !s.uri.contains("watch=true")).unwrap();
    assert!(
        list_call.uri.contains("labelSelector=custody.dev%2Fpolicy"),
        "{}",
        list_call.uri
    );
    let event = seen.iter().find(|s| s.method == "POST").unwrap();
    let body: serde_json::Value = serde_json::from_str(&event.body).unwrap();
    assert_eq!(body["reason"], "PolicyRejected");
    assert_eq!(body["type"], "Warning");
    assert_eq!(body["regarding"]["name"], "broken");
    assert!(
        body["note"]
            .as_str()
            .unwrap()
            .contains("broken.rego:1: unexpected token")
    );
    assert!(failures_before != crate::metrics::metrics().render());
}

#[tokio::test]
async fn a_relist_removes_bundles_that_disappeared_and_skips_unchanged_ones() {
    let mock = Mock::default().route("POST", "/events", vec![Some((201, "{}".into()))]);
    let sink = Arc::new(RecordingSink::default());
    let watch = PolicyWatch::new(mock.client(), "custody", POLICY_LABEL, sink.clone());
    let a: ConfigMap = serde_json::from_value(cm("a", "1", &[("policy.yaml", "x")])).unwrap();
    let b: ConfigMap = serde_json::from_value(cm("b", "1", &[("policy.yaml", "x")])).unwrap();
    let events = vec![
        Event::Init,
        Event::InitApply(a.clone()),
        Event::InitApply(b.clone()),
        Event::InitDone,
        // The watch broke; the relist finds only `b`, unchanged.
        Event::Init,
        Event::InitApply(b),
        Event::InitDone,
    ];
    watch.handle_all(events).await;
    assert_eq!(
        sink.calls(),
        vec!["upsert a policy.yaml", "upsert b policy.yaml", "remove a"]
    );
}

fn secret_json(name: &str, key: &str, payload: &str) -> String {
    use base64::Engine as _;
    let enc = base64::engine::general_purpose::STANDARD.encode(payload);
    serde_json::json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "team"}, "type": "kubernetes.io/dockerconfigjson",
        "data": {key: enc}})
    .to_string()
}

#[tokio::test]
async fn pull_secrets_of_pod_and_service_account_are_read_and_cached() {
    let sa = serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "builder", "namespace": "team"},
        "imagePullSecrets": [{"name": "from-sa"}, {"name": "pod-secret"}, {"name": "gone"}]})
    .to_string();
    let mock = Mock::default()
        .route("GET", "/serviceaccounts/builder", vec![Some((200, sa))])
        .route(
            "GET",
            "/secrets/pod-secret",
            vec![Some((
                200,
                secret_json("pod-secret", ".dockerconfigjson", r#"{"auths":{}}"#),
            ))],
        )
        .route(
            "GET",
            "/secrets/from-sa",
            vec![Some((
                200,
                secret_json("from-sa", ".dockercfg", r#"{"r.example":{}}"#),
            ))],
        );
    let reader = PullSecrets::new(mock.client(), Duration::from_secs(60));
    let pod = vec!["pod-secret".to_owned()];
    let got = reader.for_pod("team", &pod, Some("builder")).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].name, "team/pod-secret");
    assert_eq!(got[0].kind, PullSecretKind::DockerConfigJson);
    assert_eq!(&got[0].payload[..], br#"{"auths":{}}"#);
    assert_eq!(got[1].kind, PullSecretKind::DockerCfg);
    assert!(
        !format!("{got:?}").contains("auths"),
        "payloads must not be printed"
    );

    let calls = mock.seen().len();
    let again = reader.for_pod("team", &pod, Some("builder")).await;
    assert_eq!(again, got);
    assert_eq!(
        mock.seen().len(),
        calls,
        "second lookup must come from the cache"
    );
}

#[tokio::test]
async fn namespace_labels_come_from_the_cache_or_a_direct_get() {
    let listing =
        serde_json::json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList",
        "metadata": {"resourceVersion": "7"},
        "items": [{"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                   "metadata": {"name": "team-a", "labels": {"tier": "prod"}}}]})
        .to_string();
    let fresh = serde_json::json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
        "metadata": {"name": "fresh", "labels": {"tier": "dev"}}})
    .to_string();
    let mock = Mock::default()
        .route("GET", "watch=true", vec![None])
        .route("GET", "/api/v1/namespaces/fresh", vec![Some((200, fresh))])
        // /api/v1/namespaces/missing: no route, so the apiserver's 404 Status.
        .route("GET", "/api/v1/namespaces?", vec![Some((200, listing))]);
    let labels = NamespaceLabels::start(mock.client());
    wait_for("the namespace cache", || labels.is_ready()).await;
    let a = labels.labels("team-a").await.unwrap();
    assert_eq!(a.get("tier").map(String::as_str), Some("prod"));
    let f = labels.labels("fresh").await.unwrap();
    assert_eq!(f.get("tier").map(String::as_str), Some("dev"));
    assert!(labels.labels("missing").await.is_none());
}

#[test]
fn the_store_sink_reports_a_broken_bundle_and_keeps_the_store_unchanged() {
    let store = crate::policy::PolicyStore::new();
    let sink = StoreSink::new(store.clone(), "custody");
    let files: BTreeMap<String, String> =
        [("README".to_owned(), "no policy here".to_owned())].into();
    let err = sink.upsert("empty", files).unwrap_err();
    assert!(err.contains("policy.yaml"), "{err}");
    assert!(store.snapshot().is_empty());
    assert!(store.last_errors().contains_key("configmap:custody/empty"));
    sink.remove("empty");
    assert!(store.snapshot().is_empty());
}

/// The trusted-root ConfigMap is applied as it is listed and changed; a root that does not
/// load, a ConfigMap without the key, or a deletion leaves the previous root in force.
#[tokio::test]
async fn the_trusted_root_configmap_is_applied_and_a_broken_one_keeps_the_previous() {
    use crate::attest::sigstore::TrustedRoot;
    use crate::policy::trust_root::TrustedRootStore;
    static STORE: TrustedRootStore = TrustedRootStore::new();

    let staging = include_str!("../../tests/data/sigstore-trusted-roots/staging.json");
    let private = crate::attest::sigstore::testing::TestSigstore::new()
        .unwrap()
        .trusted_root_json();
    let summary = |json: &str| TrustedRoot::from_json(json.as_bytes()).unwrap().summary();
    assert_ne!(
        summary(staging),
        summary(&private),
        "two distinguishable roots"
    );

    let root_cm = |rv: &str, key: &str, text: &str| {
        serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "sigstore-root", "namespace": "custody", "resourceVersion": rv},
            "data": {key: text},
        })
    };
    let mock = Mock::default()
        .route(
            "GET",
            "watch=true",
            vec![
                Some((
                    200,
                    watch_lines(&[
                        (
                            "MODIFIED",
                            root_cm("2", TRUSTED_ROOT_KEY, "{\"mediaType\": 7}"),
                        ),
                        ("MODIFIED", root_cm("3", "trusted-root.json", staging)),
                        ("MODIFIED", root_cm("4", TRUSTED_ROOT_KEY, &private)),
                        ("DELETED", root_cm("4", TRUSTED_ROOT_KEY, &private)),
                    ]),
                )),
                None,
            ],
        )
        .route(
            "GET",
            "/api/v1/namespaces/custody/configmaps",
            vec![Some((
                200,
                list(&[root_cm("1", TRUSTED_ROOT_KEY, staging)]),
            ))],
        );
    let failures = || {
        crate::metrics::metrics()
            .render()
            .lines()
            .find(|l| l.starts_with("custody_policy_reload_failures_total"))
            .map(str::to_owned)
    };
    let failures_before = failures();
    let watch = TrustedRootWatch::new(mock.client(), "custody", "sigstore-root").with_store(&STORE);
    let synced = watch.synced();
    let task = tokio::spawn(watch.run());
    wait_for("the listed root and the later change", || {
        STORE.current().map(|(_, g)| g).unwrap_or(0) >= 2
    })
    .await;
    // Let the DELETED event be handled too.
    wait_for("the watch to read every event", || {
        mock.seen()
            .iter()
            .filter(|s| s.uri.contains("watch=true"))
            .count()
            >= 2
    })
    .await;
    task.abort();

    assert!(synced.load(std::sync::atomic::Ordering::Relaxed));
    let (root, generation) = STORE.current().unwrap();
    assert_eq!(
        generation, 2,
        "only the two loadable roots were applied (the broken one, the wrong key and the deletion were not)"
    );
    assert_eq!(
        root.summary(),
        summary(&private),
        "the last good root is in force"
    );
    assert_ne!(
        failures(),
        failures_before,
        "the broken root counts as a reload failure"
    );
    let list_call = mock
        .seen()
        .into_iter()
        .find(|s| !s.uri.contains("watch=true"))
        .unwrap();
    assert!(
        list_call
            .uri
            .contains("fieldSelector=metadata.name%3Dsigstore-root"),
        "{}",
        list_call.uri
    );
}
