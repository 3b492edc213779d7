//! `custody serve` end to end: the real binary over HTTPS, a real registry
//! (docker-registry) with signed provenance attached, the shipped `require-provenance`
//! policy, and a registry that never answers. Pods with attested images are admitted,
//! others denied with the category; the stalled registry yields a `timeout` denial
//! within the deadline; metrics count decisions per policy.

mod server_common;
mod support;

use custody::attest::SigningKey;
use custody::registry::{Artifact, Credentials, DSSE_MEDIA_TYPE};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;
use support::{TestRegistry, push_layout, signed_envelope, single_platform, statement};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

const SLSA_V1: &str = "https://slsa.dev/provenance/v1";

fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

fn ci_key() -> SigningKey {
    let pem = std::fs::read_to_string(format!("{}/tests/data/policy/keys/ci.key", root())).unwrap();
    SigningKey::from_pem(&pem).unwrap()
}

fn provenance() -> Value {
    let text = std::fs::read_to_string(format!(
        "{}/tests/data/policy/predicates/slsa-provenance-v1.json",
        root()
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Pushes an image, optionally with signed provenance; returns its reference.
async fn image(reg: &TestRegistry, name: &str, attested: bool) -> String {
    let layout = single_platform(&format!("server e2e {name}"));
    let tag = format!("server-e2e/{name}:1.0");
    let digest = push_layout(reg, &layout, &tag);
    if attested {
        let body = statement(&digest, SLSA_V1, provenance());
        let artifact = Artifact {
            artifact_type: DSSE_MEDIA_TYPE.to_owned(),
            media_type: DSSE_MEDIA_TYPE.to_owned(),
            data: signed_envelope(&ci_key(), &body),
            annotations: BTreeMap::from([(
                "in-toto.io/predicate-type".to_owned(),
                SLSA_V1.to_owned(),
            )]),
        };
        reg.client()
            .attach(
                &reg.image(&tag),
                &digest,
                &artifact,
                &Credentials::anonymous(),
            )
            .await
            .expect("attach");
    }
    format!("{}/{tag}", reg.host)
}

/// A "registry" that accepts connections and never answers.
async fn stalled_registry() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    (host, task)
}

struct Serve {
    child: Child,
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn serve(extra: &[&str]) -> Serve {
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    let mut child = Command::new(env!("CARGO_BIN_EXE_custody"))
        .args([
            "--log",
            "info",
            "serve",
            "--self-signed",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--kubernetes=false", "--self-signed-ca-out"])
        .arg(&ca_path)
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting custody serve");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.split("serving https://").nth(1) {
                return rest.trim().to_owned();
            }
        }
        panic!("custody serve exited before listening");
    })
    .await
    .expect("custody serve did not start");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let port = addr.rsplit(':').next().unwrap().to_owned();
    let ca = std::fs::read_to_string(&ca_path).unwrap();
    Serve {
        child,
        base: format!("https://localhost:{port}"),
        http: server_common::client(&ca, false),
        _dir: dir,
    }
}

fn pod_review(uid: &str, image: &str) -> Value {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("pod-{uid}"), "namespace": "shop"},
        "spec": {"containers": [{"name": "app", "image": image}]},
    });
    let mut review = custody::admission::review::synthesize(&pod, "CREATE", "shop", "alice");
    review["request"]["uid"] = json!(uid);
    review
}

async fn post(s: &Serve, path: &str, review: &Value) -> Value {
    let resp = s
        .http
        .post(format!("{}{path}", s.base))
        .json(review)
        .send()
        .await
        .unwrap();
    server_common::review_response(resp).await
}

#[tokio::test]
async fn serve_admits_attested_images_and_denies_the_rest() {
    support::init_crypto();
    let reg = TestRegistry::distribution();
    let good = image(&reg, "good", true).await;
    let bare = image(&reg, "bare", false).await;
    let (stalled, _stall_task) = stalled_registry().await;
    let policy = format!("{}/policies/require-provenance", root());
    let mut s = serve(&[
        "--policy-dir",
        &policy,
        "--insecure-registry",
        &format!("{},{stalled}", reg.host),
        "--decision-deadline",
        "2s",
    ])
    .await;

    assert_eq!(
        s.http
            .get(format!("{}/readyz", s.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let r = post(&s, "/validate", &pod_review("good", &good)).await;
    assert_eq!(r["uid"], "good");
    assert_eq!(r["allowed"], true, "{r}");

    let r = post(&s, "/validate", &pod_review("bare", &bare)).await;
    assert_eq!(r["uid"], "bare");
    assert_eq!(r["allowed"], false, "{r}");
    let message = r["status"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("no-attestation"), "{message}");
    assert!(message.contains("require-provenance"), "{message}");

    // A registry that never answers: an explicit timeout denial, not a hang or an allow.
    let r = post(
        &s,
        "/validate",
        &pod_review("stalled", &format!("{stalled}/app/api:1.0")),
    )
    .await;
    assert_eq!(r["uid"], "stalled");
    assert_eq!(r["allowed"], false, "{r}");
    let message = r["status"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("timeout"), "{message}");

    // Digest pinning on /mutate for the admitted image.
    let r = post(&s, "/mutate", &pod_review("pin", &good)).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(r["patchType"], "JSONPatch", "{r}");

    let metrics = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"custody_decisions_total{outcome="denied",policy="require-provenance",mode="enforce"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"custody_decisions_total{outcome="allowed",policy="require-provenance",mode="enforce"}"#),
        "{metrics}"
    );

    // Registry and cache metrics are fed by the registry client: the second review of
    // the good image found its tag in the cache.
    assert!(
        metrics.contains(r#"custody_registry_requests_total{result="ok"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"custody_cache_requests_total{cache="tag",result="hit"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"custody_cache_requests_total{cache="tag",result="miss"}"#),
        "{metrics}"
    );

    let pid = s.child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(60), s.child.wait())
        .await
        .expect("custody serve did not stop")
        .unwrap();
    assert!(status.success(), "{status}");
}
