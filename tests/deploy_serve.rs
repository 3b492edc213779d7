//! The installation runs: the real `custody serve` binary, started with the exact
//! environment the chart's Deployment gives it and the certificate deploy/gen-tls.sh
//! makes, answers the probes, the metrics scrape and an AdmissionReview over HTTPS,
//! verified against that CA under the Service's DNS name. Only what a cluster provides
//! is replaced: the listen address (a free loopback port), the mounted certificate
//! paths, and `CUSTODY_KUBERNETES` (no API server here), the policy ConfigMaps becoming
//! a `CUSTODY_POLICY_DIR` with the same files.

mod deploy_support;

use deploy_support::*;
use serde_json::{Value, json};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The container's environment from the rendered Deployment, with the downward-API
/// namespace resolved as the kubelet would.
fn chart_env(objects: &[Value], namespace: &str) -> Vec<(String, String)> {
    let container = &one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    container["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| {
            let name = e["name"].as_str().expect("name").to_string();
            let value = match e["value"].as_str() {
                Some(v) => v.to_string(),
                None => {
                    assert_eq!(
                        e["valueFrom"]["fieldRef"]["fieldPath"], "metadata.namespace",
                        "{e}"
                    );
                    namespace.to_string()
                }
            };
            (name, value)
        })
        .collect()
}

#[test]
fn the_chart_environment_starts_a_working_server() {
    let objects = render(json!({"webhook": {"mutating": {"enabled": true}}}));
    let container = &one(&objects, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["args"], json!(["serve"]));
    let (dir, _) = deploy_with_tls();
    let tls = dir.path().join("deploy/tls");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_custody"));
    cmd.arg("serve")
        .env_clear()
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut seen = Vec::new();
    for (name, value) in chart_env(&objects, "custody") {
        let value = match name.as_str() {
            "CUSTODY_LISTEN" => {
                assert_eq!(value, "0.0.0.0:8443");
                format!("127.0.0.1:{port}")
            }
            "CUSTODY_TLS_CERT" => tls
                .join(value.trim_start_matches("/tls/"))
                .to_string_lossy()
                .to_string(),
            "CUSTODY_TLS_KEY" => tls
                .join(value.trim_start_matches("/tls/"))
                .to_string_lossy()
                .to_string(),
            "CUSTODY_KUBERNETES" => {
                assert_eq!(value, "true");
                "false".to_string()
            }
            _ => value,
        };
        seen.push(name.clone());
        cmd.env(name, value);
    }
    assert!(seen.contains(&"CUSTODY_MUTATE_KINDS".to_string()));
    // The chart's policy ConfigMaps, as the directory of bundles the watcher would build.
    let policies = dir.path().join("policies");
    let configmaps = of_kind(&objects, "ConfigMap");
    assert!(
        !configmaps.is_empty(),
        "the chart installs at least one policy"
    );
    for cm in configmaps {
        let bundle = policies.join(cm["metadata"]["name"].as_str().expect("name"));
        std::fs::create_dir_all(&bundle).expect("bundle dir");
        for (file, content) in cm["data"].as_object().expect("data") {
            std::fs::write(bundle.join(file), content.as_str().expect("text")).expect("write");
        }
    }
    cmd.env("CUSTODY_POLICY_DIR", &policies);
    let _server = Server(cmd.spawn().expect("starting custody serve"));

    let ca = std::fs::read(tls.join("ca.crt")).expect("ca.crt");
    let host = "custody.custody.svc";
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("CA")])
        .resolve(host, addr)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let base = format!("https://{host}:{port}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        // Up to ~30 s for the process to listen (a bounded wait, not a timing assertion).
        let mut healthy = false;
        for _ in 0..300 {
            if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
                healthy = r.status().is_success();
                if healthy {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            healthy,
            "custody serve never answered /healthz with the chart's environment"
        );
        let ready = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("readyz");
        assert!(ready.status().is_success(), "/readyz: {}", ready.status());
        let metrics = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("metrics");
        let text = metrics.text().await.expect("metrics text");
        for family in ["custody_reviews_total", "custody_review_duration_seconds"] {
            assert!(
                text.contains(family),
                "/metrics lacks {family}, which the PrometheusRule uses"
            );
        }
        let review = json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "deploy-serve-1",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "namespace": "default",
                "operation": "CREATE",
                "userInfo": {"username": "dev"},
                "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                    "spec": {"containers": [{"name": "c", "image": "127.0.0.1:1/app:1"}]}}
            }
        });
        for path in ["/validate", "/mutate"] {
            let answer: Value = client
                .post(format!("{base}{path}"))
                .json(&review)
                .send()
                .await
                .expect(path)
                .json()
                .await
                .expect("an AdmissionReview answer");
            assert_eq!(answer["kind"], "AdmissionReview", "{path}: {answer}");
            assert_eq!(
                answer["response"]["uid"], "deploy-serve-1",
                "{path}: {answer}"
            );
            // The default policy (require-provenance, warn mode) admits and says why it
            // would not have: here the registry cannot be reached.
            assert_eq!(answer["response"]["allowed"], true, "{path}: {answer}");
            let warnings = answer["response"]["warnings"].to_string();
            assert!(
                warnings.contains("require-provenance [registry-unreachable]"),
                "{path}: {answer}"
            );
        }
    });
}
