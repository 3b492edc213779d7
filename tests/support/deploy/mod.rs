//! Shared by the `deploy_*` integration tests: the chart rendered by Helm's own engine
//! (helm-python-sdk, see chart.rs and helm.py), the Python schema checks and
//! `kubectl kustomize` for `deploy/`. Missing tools fail the tests with the install line.
#![allow(dead_code)]

pub mod chart;
pub mod fixtures;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Install line printed when the Python side is missing.
pub const PIP: &str = "pip install kubernetes-validate jsonschema pyyaml";

pub use super::fixtures::root;

/// The chart, loaded.
pub fn chart() -> chart::Chart {
    chart::Chart::load(&root().join("charts/custody"))
}

/// Renders the chart as release `custody` in namespace `custody` (what deploy/ installs).
pub fn render(overrides: Value) -> Vec<Value> {
    render_as("custody", "custody", overrides)
}

/// Renders the chart with Helm, which checks the merged values against
/// values.schema.json first.
pub fn render_as(release: &str, namespace: &str, overrides: Value) -> Vec<Value> {
    chart()
        .render(release, namespace, &overrides, &BTreeMap::new())
        .unwrap_or_else(|e| panic!("rendering the chart: {e}"))
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

fn python(args: &[&str]) -> (bool, String) {
    let script = root().join("tests/support/deploy/validate.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("python3 is required for the deployment tests ({e}); then: {PIP}")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(
        out.status.code(),
        Some(3),
        "{text}\nPython packages missing: {PIP}"
    );
    assert_ne!(out.status.code(), Some(2), "bad validate.py usage: {text}");
    (out.status.success(), text)
}

fn temp_file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("writing temp file");
    (dir, path)
}

/// Validates values (merged or partial) against values.schema.json: (valid, messages).
/// Null-valued keys are dropped first, as Helm does when it coalesces values.
pub fn check_values(values: &Value) -> (bool, String) {
    let values = chart::without_nulls(values);
    let (_dir, path) = temp_file("values.json", &values.to_string());
    let schema = root().join("charts/custody/values.schema.json");
    python(&["values", &schema.to_string_lossy(), &path.to_string_lossy()])
}

/// Validates objects against the Kubernetes 1.34 (and CRD subset) schemas: (valid, messages).
pub fn check_k8s(objects: &[Value]) -> (bool, String) {
    check_k8s_version(objects, "1.34.0")
}

/// The oldest Kubernetes the chart supports (Chart.yaml `kubeVersion: ">=X.Y.Z-0"`).
pub fn min_kube_version() -> String {
    let text =
        std::fs::read_to_string(root().join("charts/custody/Chart.yaml")).expect("Chart.yaml");
    let line = text
        .lines()
        .find(|l| l.starts_with("kubeVersion:"))
        .expect("kubeVersion");
    // kubeVersion: ">=1.25.0-0" -> 1.25.0
    line.split(">=")
        .nth(1)
        .expect(">=")
        .trim_matches(|c| c == '"' || c == ' ')
        .trim_end_matches("-0")
        .to_string()
}

/// Validates objects against the schemas of one Kubernetes version.
pub fn check_k8s_version(objects: &[Value], version: &str) -> (bool, String) {
    let text = objects
        .iter()
        .map(|o| serde_json::to_string(o).expect("json"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    let (_dir, path) = temp_file("objects.yaml", &text);
    python(&["k8s", "--version", version, &path.to_string_lossy()])
}

/// Validates YAML files as they are on disk.
pub fn check_k8s_files(paths: &[PathBuf]) -> (bool, String) {
    let mut args = vec!["k8s".to_string()];
    args.extend(paths.iter().map(|p| p.to_string_lossy().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    python(&args)
}

/// Fails loudly unless kubectl embeds kustomize v4 or later (components, `labels`,
/// `replacements`); Debian 12's kubernetes-client (1.20, kustomize v2) is too old.
fn require_kustomize_v4() {
    let out = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .unwrap_or_else(|e| panic!("kubectl (1.21 or later) is required to build deploy/: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    let major = text
        .lines()
        .find_map(|l| l.strip_prefix("Kustomize Version: v"))
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    assert!(
        major.is_some_and(|m| m >= 4),
        "kubectl with kustomize v4+ (kubectl 1.21 or later) is required to build deploy/; found:\n{text}"
    );
}

/// `kubectl kustomize DIR`, parsed; kubectl ships kustomize and needs no cluster.
pub fn kustomize(dir: &Path) -> Vec<Value> {
    require_kustomize_v4();
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("kubectl is required to render deploy/ ({e}); install it with apt-get install kubectl"));
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    chart::yaml_docs(&String::from_utf8_lossy(&out.stdout)).expect("kustomize output is YAML")
}

/// Copies deploy/ to a temp dir and generates its TLS files with deploy/gen-tls.sh.
pub fn deploy_with_tls() -> (tempfile::TempDir, Vec<Value>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let status = Command::new("cp")
        .arg("-r")
        .arg(root().join("deploy"))
        .arg(dir.path())
        .status()
        .expect("cp");
    assert!(status.success());
    let deploy = dir.path().join("deploy");
    let out = Command::new("sh")
        .arg(deploy.join("gen-tls.sh"))
        .current_dir(&deploy)
        .output()
        .expect("running deploy/gen-tls.sh");
    assert!(
        out.status.success(),
        "deploy/gen-tls.sh failed (needs openssl): {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let objects = kustomize(&deploy);
    (dir, objects)
}

/// The objects of one kind.
pub fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// The single object of a kind; panics when there is not exactly one.
pub fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(objects, kind);
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}

/// kind/name of every object, sorted.
pub fn inventory(objects: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or("?"),
                o["metadata"]["name"].as_str().unwrap_or("?")
            )
        })
        .collect();
    v.sort();
    v
}

/// An empty overrides object.
pub fn none() -> Value {
    json!({})
}

/// Deserialises an object into its k8s-openapi 0.29 type and serialises it back: a field
/// the type does not know is dropped, so a round trip that changes the object names an
/// unknown or mistyped field. Custom resources (cert-manager, Prometheus Operator) are
/// left to the schema check. Returns a description of the problem, if any.
pub fn typed_round_trip(o: &Value) -> Option<String> {
    use k8s_openapi::api::{admissionregistration, apps, core, networking, policy, rbac};
    fn trip<T: serde::de::DeserializeOwned + serde::Serialize>(o: &Value) -> Result<Value, String> {
        let typed: T = serde_json::from_value(o.clone()).map_err(|e| e.to_string())?;
        serde_json::to_value(typed).map_err(|e| e.to_string())
    }
    let key = (
        o["apiVersion"].as_str().unwrap_or(""),
        o["kind"].as_str().unwrap_or(""),
    );
    let back = match key {
        ("v1", "ConfigMap") => trip::<core::v1::ConfigMap>(o),
        ("v1", "Namespace") => trip::<core::v1::Namespace>(o),
        ("v1", "Pod") => trip::<core::v1::Pod>(o),
        ("v1", "Secret") => trip::<core::v1::Secret>(o),
        ("v1", "Service") => trip::<core::v1::Service>(o),
        ("v1", "ServiceAccount") => trip::<core::v1::ServiceAccount>(o),
        ("apps/v1", "Deployment") => trip::<apps::v1::Deployment>(o),
        ("policy/v1", "PodDisruptionBudget") => trip::<policy::v1::PodDisruptionBudget>(o),
        ("networking.k8s.io/v1", "NetworkPolicy") => trip::<networking::v1::NetworkPolicy>(o),
        ("rbac.authorization.k8s.io/v1", "Role") => trip::<rbac::v1::Role>(o),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => trip::<rbac::v1::RoleBinding>(o),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => trip::<rbac::v1::ClusterRole>(o),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            trip::<rbac::v1::ClusterRoleBinding>(o)
        }
        ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration") => {
            trip::<admissionregistration::v1::ValidatingWebhookConfiguration>(o)
        }
        ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration") => {
            trip::<admissionregistration::v1::MutatingWebhookConfiguration>(o)
        }
        ("cert-manager.io/v1", _) | ("monitoring.coreos.com/v1", _) => return None,
        (api, kind) => return Some(format!("no k8s-openapi type for {api} {kind}")),
    };
    let name = o["metadata"]["name"].as_str().unwrap_or("?");
    match back {
        Err(e) => Some(format!("{}/{name}: {e}", key.1)),
        Ok(back) => first_difference(o, &back, "").map(|at| {
            format!(
                "{}/{name}: {at} is lost in a round trip through k8s-openapi",
                key.1
            )
        }),
    }
}

/// The JSON path of the first difference between two values, if any.
pub fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                let p = format!("{path}.{k}");
                match y.get(k) {
                    Some(w) => {
                        if let Some(d) = first_difference(v, w, &p) {
                            return Some(d);
                        }
                    }
                    None => return Some(p),
                }
            }
            y.keys()
                .find(|k| !x.contains_key(*k))
                .map(|k| format!("{path}.{k}"))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| first_difference(v, w, &format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some(path.to_string()),
    }
}

/// Every object survives a typed round trip (see [`typed_round_trip`]).
pub fn assert_typed(objects: &[Value]) {
    let problems: Vec<String> = objects.iter().filter_map(typed_round_trip).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `openssl ARGS` run in `dir`; its stdout. Fails loudly without openssl (deploy/'s
/// gen-tls.sh needs it too).
pub fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("openssl is required to inspect certificates: {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A PEM certificate as `openssl x509 -text` prints it (subject, SANs, issuer...).
pub fn x509_text(pem: &str) -> String {
    let (dir, _) = temp_file("cert.pem", pem);
    openssl(dir.path(), &["x509", "-in", "cert.pem", "-noout", "-text"])
}
