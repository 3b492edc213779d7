//! values.yaml against values.schema.json: the defaults validate, typos are rejected,
//! every value is commented, and the schema and the defaults describe the same keys.

use crate::support;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use support::deploy::*;

fn schema() -> Value {
    let text =
        std::fs::read_to_string(root().join("charts/custody/values.schema.json")).expect("schema");
    serde_json::from_str(&text).expect("schema is JSON")
}

#[test]
fn default_values_validate() {
    let (ok, out) = check_values(&chart().defaults);
    assert!(ok, "{out}");
}

#[test]
fn typos_and_bad_values_are_rejected() {
    let bad = [
        (json!({"replicaCont": 3}), "replicaCont"),
        (json!({"webhook": {"failurPolicy": "Fail"}}), "failurPolicy"),
        (json!({"webhook": {"failurePolicy": "fail"}}), "fail"),
        (json!({"webhook": {"timeoutSeconds": 31}}), "31"),
        (
            json!({"webhook": {"mutating": {"resources": ["pod"]}}}),
            "pod",
        ),
        (json!({"resources": {"request": {"cpu": "1"}}}), "request"),
        (json!({"resources": {"limits": {"memory": "lots"}}}), "lots"),
        (json!({"server": {"deadline": "8 seconds"}}), "8 seconds"),
        (json!({"server": {"failOpen": "no"}}), "no"),
        (json!({"image": {"digest": "sha256:abc"}}), "sha256:abc"),
        (json!({"pullSecrets": {"enable": true}}), "enable"),
        (
            json!({"metrics": {"serviceMonitor": {"enabeld": true}}}),
            "enabeld",
        ),
        (
            json!({"webhook": {"excludeNamespaces": ["Kube_System"]}}),
            "Kube_System",
        ),
        (
            json!({"certManager": {"issuerRef": {"kind": "Issuers"}}}),
            "Issuers",
        ),
    ];
    let chart = chart();
    for (overrides, needle) in bad {
        let (ok, out) = check_values(&chart.values(&overrides));
        assert!(!ok, "{overrides} was accepted");
        assert!(
            out.contains(needle),
            "message for {overrides} does not name {needle}: {out}"
        );
    }
}

#[test]
fn a_values_file_with_a_typo_is_rejected() {
    // As an operator would write it: YAML, with one misspelt key deep inside.
    let text = "webhook:\n  timeoutSeconds: 10\n  mutating:\n    enabeled: true\n";
    let values: Value = yaml_serde::from_str(text).expect("yaml");
    let (ok, out) = check_values(&chart().values(&values));
    assert!(!ok);
    assert!(
        out.contains("enabeled") && out.contains("webhook/mutating"),
        "{out}"
    );
}

/// Every object schema with properties is closed; property-less objects are either maps
/// with a typed `additionalProperties` or Kubernetes objects passed through unchanged.
#[test]
fn every_schema_object_is_closed() {
    fn walk(path: &str, s: &Value, open: &mut Vec<String>) {
        if s.get("properties").is_some() && s.get("additionalProperties") != Some(&json!(false)) {
            open.push(path.to_string());
        }
        // Kubernetes objects passed through, and policy options (their keys are checked
        // against the library policy when rendering).
        let passthrough = [
            "affinity.nodeAffinity",
            "affinity.podAffinity",
            "affinity.podAntiAffinity",
            "policies.settings.*.options",
        ];
        if s.get("type") == Some(&json!("object"))
            && s.get("properties").is_none()
            && s.get("additionalProperties").is_none()
            && !passthrough.contains(&path)
            && !path.ends_with("[]")
        {
            open.push(path.to_string());
        }
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(&p, v, open);
            }
        }
        if let Some(items) = s.get("items") {
            walk(&format!("{path}[]"), items, open);
        }
        if let Some(extra) = s.get("additionalProperties").filter(|v| v.is_object()) {
            walk(&format!("{path}.*"), extra, open);
        }
    }
    let mut open = Vec::new();
    walk("", &schema(), &mut open);
    assert!(
        open.is_empty(),
        "objects that accept unknown keys: {open:?}"
    );
}

fn keys(prefix: &str, v: &Value, out: &mut BTreeSet<String>, stop_at: &[&str]) {
    if let Some(map) = v.as_object() {
        for (k, child) in map {
            let p = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            out.insert(p.clone());
            if !stop_at.contains(&p.as_str()) {
                keys(&p, child, out, stop_at);
            }
        }
    }
}

fn schema_keys(prefix: &str, s: &Value, out: &mut BTreeSet<String>) {
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (k, child) in props {
            let p = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            out.insert(p.clone());
            schema_keys(&p, child, out);
        }
    }
}

#[test]
fn schema_and_defaults_describe_the_same_keys() {
    let mut defaults = BTreeSet::new();
    // policies.settings is a map by policy name: its entries are not schema properties.
    keys("", &chart().defaults, &mut defaults, &["policies.settings"]);
    let mut declared = BTreeSet::new();
    schema_keys("", &schema(), &mut declared);
    // Property-less pass-through objects have no default keys (affinity's children).
    let only_in_schema: Vec<_> = declared
        .difference(&defaults)
        .filter(|k| !k.starts_with("affinity."))
        .collect();
    let only_in_defaults: Vec<_> = defaults.difference(&declared).collect();
    assert!(
        only_in_schema.is_empty(),
        "in the schema but not in values.yaml: {only_in_schema:?}"
    );
    assert!(
        only_in_defaults.is_empty(),
        "in values.yaml but not in the schema: {only_in_defaults:?}"
    );
}

/// "A comment on every value": each `key: value` line of values.yaml follows a comment.
#[test]
fn every_value_has_a_comment() {
    let text =
        std::fs::read_to_string(root().join("charts/custody/values.yaml")).expect("values.yaml");
    let mut previous = "";
    let mut missing = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        let is_key =
            !trimmed.starts_with('#') && !trimmed.starts_with('-') && trimmed.contains(':');
        let is_parent = trimmed.ends_with(':');
        if is_key && !is_parent && !previous.starts_with('#') {
            missing.push(trimmed.to_string());
        }
        if !trimmed.is_empty() {
            previous = trimmed;
        }
    }
    assert!(missing.is_empty(), "values without a comment: {missing:?}");
}
