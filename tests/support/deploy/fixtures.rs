//! Values and accessors shared by the chart tests.

use serde_json::{Value, json};

/// Every optional feature switched on at once.
pub fn everything() -> Value {
    json!({
        "image": {"digest": format!("sha256:{}", "ab".repeat(32))},
        "imagePullSecrets": [{"name": "regcred"}],
        "serviceAccount": {"annotations": {"iam.example/role": "custody"}},
        "server": {
            "preStopSleepSeconds": 5,
            "extraEnv": [{"name": "CUSTODY_INSECURE_REGISTRIES", "value": "registry.local:5000"}],
            "extraVolumes": [{"name": "docker", "secret": {"secretName": "docker-config"}}],
            "extraVolumeMounts": [{"name": "docker", "mountPath": "/docker", "readOnly": true}]
        },
        "pullSecrets": {"enabled": true},
        "trustedRoot": {"existingConfigMap": "sigstore-private"},
        "webhook": {
            "excludeNamespaces": ["monitoring"],
            "namespaceMatchExpressions": [{"key": "team", "operator": "Exists"}],
            "objectMatchExpressions": [{"key": "skip", "operator": "DoesNotExist"}],
            "matchConditions": [{"name": "not-node", "expression": "!request.userInfo.username.startsWith('system:node:')"}],
            "mutating": {"enabled": true, "resources": ["pods", "deployments", "cronjobs"]}
        },
        "certManager": {"enabled": true},
        "policies": {"files": {"in-house": {"policy.yaml": "name: in-house\n", "main.rego": "package custody\n"}}},
        "priorityClassName": "high",
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]}]}]}}},
        "podAnnotations": {"example.com/team": "platform"},
        "podLabels": {"team": "platform"},
        "networkPolicy": {"enabled": true, "restrictEgress": true,
            "ingressFrom": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]},
        "metrics": {"serviceMonitor": {"enabled": true, "labels": {"release": "prom"}},
                    "prometheusRule": {"enabled": true}}
    })
}

/// The webhooks of every webhook configuration, validating first.
pub fn webhooks(objects: &[Value]) -> Vec<&Value> {
    let mut out = Vec::new();
    for kind in [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ] {
        for cfg in super::of_kind(objects, kind) {
            out.extend(cfg["webhooks"].as_array().expect("webhooks list"));
        }
    }
    out
}

/// The container's environment variable `name`.
pub fn env<'a>(deployment: &'a Value, name: &str) -> &'a Value {
    deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no env {name}"))
}
