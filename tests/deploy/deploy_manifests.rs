//! deploy/: every manifest validates, `kubectl kustomize` builds it (with the TLS files
//! gen-tls.sh writes), and the result agrees with the chart's default render on names,
//! ports, paths, webhook rules, RBAC and the pod spec.

use crate::support;
use base64::Engine as _;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use support::deploy::*;

fn manifest_files() -> Vec<PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("deploy/").flatten() {
            let path = entry.path();
            // deploy/policies/ holds policy bundles (custody's format), not manifests.
            if path.is_dir() && !path.ends_with("deploy/policies") {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml")
                && path.file_name().is_some_and(|n| n != "kustomization.yaml")
            {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join("deploy"), &mut out);
    out.sort();
    out
}

#[test]
fn every_manifest_file_validates() {
    let files = manifest_files();
    assert!(files.len() >= 7, "{files:?}");
    let (ok, out) = check_k8s_files(&files);
    assert!(ok, "{out}");
}

#[test]
fn kustomize_build_validates_and_trusts_its_own_ca() {
    let (dir, objects) = deploy_with_tls();
    let (ok, out) = check_k8s(&objects);
    assert!(ok, "{out}");
    // kustomize wraps base64 over lines; the API accepts that, k8s-openapi wants it joined.
    let joined: Vec<Value> = objects.iter().cloned().map(join_base64).collect();
    assert_typed(&joined);
    let (ok, out) = check_k8s_version(&objects, &min_kube_version());
    assert!(ok, "{out}");
    let secret = one(&objects, "Secret");
    assert_eq!(secret["metadata"]["name"], "custody-tls");
    assert_eq!(secret["type"], "kubernetes.io/tls");
    let strip = |v: &Value| -> String { v.as_str().expect("base64").split_whitespace().collect() };
    let hook = &one(&objects, "ValidatingWebhookConfiguration")["webhooks"][0];
    assert_eq!(
        strip(&hook["clientConfig"]["caBundle"]),
        strip(&secret["data"]["ca.crt"])
    );
    let ca = base64::engine::general_purpose::STANDARD
        .decode(strip(&secret["data"]["ca.crt"]))
        .expect("caBundle is base64");
    assert!(String::from_utf8_lossy(&ca).starts_with("-----BEGIN CERTIFICATE-----"));
    // The serving certificate verifies against that CA and names the Service.
    let tls = dir.path().join("deploy/tls");
    let verify = Command::new("openssl")
        .args(["verify", "-purpose", "sslserver", "-CAfile"])
        .arg(tls.join("ca.crt"))
        .arg(tls.join("tls.crt"))
        .output()
        .expect("openssl");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let san = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(tls.join("tls.crt"))
        .output()
        .expect("openssl");
    assert!(String::from_utf8_lossy(&san.stdout).contains("DNS:custody.custody.svc"));
}

fn join_base64(mut o: Value) -> Value {
    let join = |v: &mut Value| {
        if let Some(s) = v.as_str() {
            *v = Value::String(s.split_whitespace().collect());
        }
    };
    if o["kind"] == "Secret"
        && let Some(data) = o.get_mut("data").and_then(Value::as_object_mut)
    {
        data.values_mut().for_each(join);
    }
    if let Some(hooks) = o.get_mut("webhooks").and_then(Value::as_array_mut) {
        for h in hooks {
            if let Some(ca) = h.pointer_mut("/clientConfig/caBundle") {
                join(ca);
            }
        }
    }
    o
}

#[test]
fn deploy_excludes_kube_system_and_its_own_namespace() {
    let (_dir, objects) = with_components(&["mutating"]);
    let namespace = one(&objects, "Namespace")["metadata"]["name"].clone();
    assert_eq!(namespace, "custody");
    let mut hooks = Vec::new();
    for kind in [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ] {
        hooks.extend(
            one(&objects, kind)["webhooks"]
                .as_array()
                .expect("hooks")
                .clone(),
        );
    }
    assert_eq!(hooks.len(), 2);
    for hook in hooks {
        let exprs = hook["namespaceSelector"]["matchExpressions"]
            .as_array()
            .expect("exprs");
        let guard = exprs
            .iter()
            .find(|e| e["key"] == "kubernetes.io/metadata.name" && e["operator"] == "NotIn")
            .expect("namespace exclusion");
        let excluded = guard["values"].as_array().expect("values");
        assert!(excluded.contains(&json!("kube-system")), "{}", hook["name"]);
        assert!(excluded.contains(&namespace), "{}", hook["name"]);
        assert!(
            exprs
                .iter()
                .any(|e| e["key"] == "custody.dev/ignore" && e["operator"] == "NotIn")
        );
        assert_eq!(hook["clientConfig"]["service"]["namespace"], namespace);
    }
    // Every namespaced object lives in the excluded namespace.
    for o in &objects {
        if let Some(ns) = o["metadata"].get("namespace") {
            assert_eq!(ns, &namespace, "{}", o["metadata"]["name"]);
        }
    }
}

#[test]
fn deploy_deadline_is_below_the_webhook_timeout() {
    let (_dir, objects) = deploy_with_tls();
    let env =
        one(&objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"].clone();
    let deadline = env
        .as_array()
        .expect("env")
        .iter()
        .find(|e| e["name"] == "CUSTODY_DECISION_DEADLINE")
        .expect("CUSTODY_DECISION_DEADLINE")["value"]
        .clone();
    let deadline = humantime::parse_duration(deadline.as_str().expect("string")).expect("duration");
    let hook = &one(&objects, "ValidatingWebhookConfiguration")["webhooks"][0];
    let timeout = Duration::from_secs(hook["timeoutSeconds"].as_u64().expect("timeout"));
    assert!(deadline < timeout, "{deadline:?} >= {timeout:?}");
}

/// Drops what legitimately differs between a Helm release and the kustomize build:
/// labels, generated TLS material.
fn comparable(mut o: Value) -> Value {
    if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("labels");
        meta.remove("annotations");
    }
    if let Some(t) = o
        .pointer_mut("/spec/template/metadata")
        .and_then(Value::as_object_mut)
    {
        t.remove("labels");
    }
    if let Some(hooks) = o.get_mut("webhooks").and_then(Value::as_array_mut) {
        for h in hooks {
            if let Some(c) = h.get_mut("clientConfig").and_then(Value::as_object_mut) {
                c.remove("caBundle");
            }
        }
    }
    if o["kind"] == "Secret" {
        o["data"] = json!({});
    }
    // A policy.yaml the chart merged settings into is the same YAML, not the same text.
    if o["kind"] == "ConfigMap"
        && let Some(spec) = o.pointer("/data/policy.yaml").and_then(Value::as_str)
    {
        let parsed: Value = yaml_serde::from_str(spec).expect("policy.yaml is YAML");
        o["data"]["policy.yaml"] = parsed;
    }
    o
}

fn assert_agree(chart: &[Value], deploy: &[Value]) {
    // `helm install` does not create `helm test` hooks; deploy/ has no equivalent.
    let chart: Vec<Value> = chart
        .iter()
        .filter(|o| o["metadata"]["annotations"]["helm.sh/hook"] != "test")
        .cloned()
        .collect();
    let chart = chart.as_slice();
    let deploy: Vec<Value> = deploy
        .iter()
        .filter(|o| o["kind"] != "Namespace")
        .cloned()
        .collect();
    assert_eq!(
        inventory(chart),
        inventory(&deploy),
        "chart and deploy/ install different objects"
    );
    for c in chart {
        let d = deploy
            .iter()
            .find(|d| d["kind"] == c["kind"] && d["metadata"]["name"] == c["metadata"]["name"])
            .expect("same inventory");
        assert_eq!(
            comparable(c.clone()),
            comparable(d.clone()),
            "{}/{} differs between the chart and deploy/",
            c["kind"],
            c["metadata"]["name"]
        );
    }
    // Selector labels are what ties Service, PDB and spread to the pods: identical too.
    let pods =
        |objs: &[Value]| one(objs, "Deployment")["spec"]["template"]["metadata"]["labels"].clone();
    let (cp, dp) = (pods(chart), pods(&deploy));
    for key in ["app.kubernetes.io/name", "app.kubernetes.io/instance"] {
        assert_eq!(cp[key], dp[key], "{key}");
    }
}

#[test]
fn deploy_agrees_with_the_chart_defaults() {
    let (_dir, deploy) = deploy_with_tls();
    assert_agree(&render(none()), &deploy);
}

/// deploy/ built with the given components enabled besides the default ones (the
/// `components:` list is the last thing in deploy/kustomization.yaml).
fn with_components(components: &[&str]) -> (tempfile::TempDir, Vec<Value>) {
    let (dir, _) = deploy_with_tls();
    let path = dir.path().join("deploy/kustomization.yaml");
    let mut text = std::fs::read_to_string(&path).expect("read");
    assert!(
        text.contains("\ncomponents:\n"),
        "deploy/kustomization.yaml ends with its components"
    );
    for c in components {
        text.push_str(&format!("  - {c}\n"));
    }
    std::fs::write(&path, text).expect("write");
    let deploy = kustomize(&dir.path().join("deploy"));
    let (ok, out) = check_k8s(&deploy);
    assert!(ok, "{out}");
    assert_typed(&deploy.iter().cloned().map(join_base64).collect::<Vec<_>>());
    (dir, deploy)
}

#[test]
fn pull_secrets_component_agrees_with_the_chart_option() {
    let (_dir, deploy) = with_components(&["pull-secrets"]);
    assert_agree(&render(json!({"pullSecrets": {"enabled": true}})), &deploy);
}

#[test]
fn mutating_component_agrees_with_the_chart_option() {
    let (_dir, deploy) = with_components(&["mutating", "pull-secrets"]);
    let chart = render(
        json!({"pullSecrets": {"enabled": true}, "webhook": {"mutating": {"enabled": true}}}),
    );
    assert_agree(&chart, &deploy);
    let strip = |v: &Value| -> String { v.as_str().expect("base64").split_whitespace().collect() };
    let ca = strip(&one(&deploy, "Secret")["data"]["ca.crt"]);
    let hook = &one(&deploy, "MutatingWebhookConfiguration")["webhooks"][0];
    assert_eq!(strip(&hook["clientConfig"]["caBundle"]), ca);
}

#[test]
fn the_agreement_check_notices_a_difference() {
    let (_dir, deploy) = deploy_with_tls();
    let chart = render(json!({"webhook": {"timeoutSeconds": 12}}));
    let result = std::panic::catch_unwind(|| assert_agree(&chart, &deploy));
    assert!(result.is_err(), "a different timeout went unnoticed");
}
