//! The installation runs: the real `custody serve` binary, started with the exact
//! environment the chart's Deployment gives it and the certificate deploy/gen-tls.sh
//! makes, answers the probes, the metrics scrape and an AdmissionReview over HTTPS,
//! verified against that CA under the Service's DNS name. Only what a cluster provides
//! is replaced: the listen address (a free loopback port), the mounted certificate
//! paths, and `CUSTODY_KUBERNETES` (no API server here), the policy ConfigMaps becoming
//! a `CUSTODY_POLICY_DIR` with the same files.

use crate::support;
use serde_json::{Value, json};
use std::net::SocketAddr;
use support::Serve;
use support::deploy::*;

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

#[tokio::test]
async fn the_chart_environment_starts_a_working_server() {
    let objects = render(json!({"webhook": {"mutating": {"enabled": true}}}));
    let container = &one(&objects, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["args"], json!(["serve"]));
    let (dir, _) = deploy_with_tls();
    let tls = dir.path().join("deploy/tls");
    let port = support::net::free_port();
    let mut env = Vec::new();
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
        env.push((name, value));
    }
    assert!(env.iter().any(|(name, _)| name == "CUSTODY_MUTATE_KINDS"));
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
    let ca = std::fs::read_to_string(tls.join("ca.crt")).expect("ca.crt");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    // Up to 60 s for the process to listen (a bounded wait, not a timing assertion).
    let server = Serve::with_ca(&ca, "custody.custody.svc", addr, |cmd| {
        cmd.env_clear()
            .envs(env)
            .env("CUSTODY_POLICY_DIR", &policies);
    })
    .await;
    let (status, _) = server.get("/readyz").await;
    assert_eq!(status, 200, "/readyz");
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
        let response = server.send(path, &review).await;
        assert_eq!(response["uid"], "deploy-serve-1", "{path}: {response}");
        // The default policy (require-provenance, warn mode) admits and says why it
        // would not have: here the registry cannot be reached.
        assert_eq!(response["allowed"], true, "{path}: {response}");
        let warnings = response["warnings"].to_string();
        assert!(
            warnings.contains("require-provenance [registry-unreachable]"),
            "{path}: {response}"
        );
    }
    // Every family the PrometheusRule's alerts read is there once reviews were answered
    // (a family with labels appears with its first sample).
    let (_, text) = server.get("/metrics").await;
    for family in [
        "custody_reviews_total{",
        "custody_review_duration_seconds_bucket{",
        "custody_policy_reload_failures_total ",
    ] {
        assert!(
            text.contains(family),
            "/metrics lacks {family}, which the PrometheusRule uses: {text}"
        );
    }
}
