//! The chart's optional parts and certificates: the generated CA and its reuse on
//! upgrade, cert-manager, monitoring, NetworkPolicy and the install notes.

use crate::support;
use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use support::deploy::fixtures::*;
use support::deploy::*;

fn decode(b64: &Value) -> String {
    let text: String = b64
        .as_str()
        .expect("base64 text")
        .split_whitespace()
        .collect();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .expect("base64"),
    )
    .expect("utf-8")
}

#[test]
fn generated_certificate_matches_the_service_and_the_ca_bundle() {
    let objects = render_as(
        "custody",
        "custody",
        json!({"webhook": {"mutating": {"enabled": true}}}),
    );
    let secret = one(&objects, "Secret");
    assert_eq!(secret["type"], "kubernetes.io/tls");
    let ca = decode(&secret["data"]["ca.crt"]);
    let crt = decode(&secret["data"]["tls.crt"]);
    let key = decode(&secret["data"]["tls.key"]);
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, pem) in [("ca.crt", &ca), ("tls.crt", &crt), ("tls.key", &key)] {
        std::fs::write(dir.path().join(name), pem).expect("writing PEM");
    }
    let ca_text = openssl(dir.path(), &["x509", "-in", "ca.crt", "-noout", "-subject"]);
    assert!(
        ca_text.contains("CN=custody-ca") || ca_text.contains("CN = custody-ca"),
        "{ca_text}"
    );
    let crt_text = openssl(dir.path(), &["x509", "-in", "tls.crt", "-noout", "-text"]);
    assert!(
        crt_text.contains("DNS:custody.custody.svc, DNS:custody.custody.svc.cluster.local"),
        "{crt_text}"
    );
    // Signed by the CA in the bundle, and the key is the certificate's.
    let verified = openssl(dir.path(), &["verify", "-CAfile", "ca.crt", "tls.crt"]);
    assert!(verified.contains("tls.crt: OK"), "{verified}");
    let from_crt = openssl(dir.path(), &["x509", "-in", "tls.crt", "-noout", "-pubkey"]);
    let from_key = openssl(dir.path(), &["pkey", "-in", "tls.key", "-pubout"]);
    assert_eq!(from_crt, from_key);
    for hook in webhooks(&objects) {
        assert_eq!(hook["clientConfig"]["caBundle"], secret["data"]["ca.crt"]);
    }
    let deployment = one(&objects, "Deployment");
    let volumes = deployment["spec"]["template"]["spec"]["volumes"].to_string();
    assert!(
        volumes.contains("\"secretName\":\"custody-tls\""),
        "{volumes}"
    );
}

#[test]
fn an_existing_certificate_is_kept_across_upgrades() {
    let chart = chart();
    let values = chart.values(&json!({"webhook": {"mutating": {"enabled": true}}}));
    let data = json!({"ca.crt": "Q0E=", "tls.crt": "Q1JU", "tls.key": "S0VZ"});
    let existing = BTreeMap::from([(
        "v1/Secret/custody/custody-tls".to_string(),
        json!({"apiVersion": "v1", "kind": "Secret", "data": data}),
    )]);
    let objects: Vec<Value> = chart.objects_with(&values, &existing);
    assert_eq!(one(&objects, "Secret")["data"], data);
    for hook in webhooks(&objects) {
        assert_eq!(hook["clientConfig"]["caBundle"], "Q0E=");
    }
    // A Secret missing a key is regenerated rather than half-reused.
    let broken = BTreeMap::from([(
        "v1/Secret/custody/custody-tls".to_string(),
        json!({"data": {"ca.crt": "Q0E="}}),
    )]);
    let objects: Vec<Value> = chart.objects_with(&values, &broken);
    assert_ne!(one(&objects, "Secret")["data"]["ca.crt"], "Q0E=");
}

#[test]
fn cert_manager_replaces_the_generated_certificate() {
    let objects = render(
        json!({"certManager": {"enabled": true}, "webhook": {"mutating": {"enabled": true}}}),
    );
    assert!(of_kind(&objects, "Secret").is_empty());
    for kind in [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ] {
        let cfg = one(&objects, kind);
        assert_eq!(
            cfg["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            "custody/custody-tls"
        );
        assert!(cfg["webhooks"][0]["clientConfig"].get("caBundle").is_none());
    }
    let serving = of_kind(&objects, "Certificate")
        .into_iter()
        .find(|c| c["metadata"]["name"] == "custody-tls")
        .expect("serving certificate");
    assert_eq!(serving["spec"]["secretName"], "custody-tls");
    assert_eq!(
        serving["spec"]["dnsNames"],
        json!(["custody.custody.svc", "custody.custody.svc.cluster.local"])
    );
    // With an existing issuer the chart creates no CA of its own.
    let objects = render(json!({"certManager": {"enabled": true,
        "issuerRef": {"name": "corp-ca", "kind": "ClusterIssuer"}}}));
    assert!(of_kind(&objects, "Issuer").is_empty());
    let certs = of_kind(&objects, "Certificate");
    assert_eq!(certs.len(), 1);
    assert_eq!(
        certs[0]["spec"]["issuerRef"],
        json!({"name": "corp-ca", "kind": "ClusterIssuer"})
    );
    let (ok, out) = check_k8s(&objects);
    assert!(ok, "{out}");
}

#[test]
fn monitoring_scrapes_https_and_alerts_name_the_release() {
    let objects = render_as("custody", "security", everything());
    let monitor = one(&objects, "ServiceMonitor");
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], "https");
    assert_eq!(endpoint["path"], "/metrics");
    assert_eq!(endpoint["scheme"], "https");
    assert_eq!(endpoint["tlsConfig"]["serverName"], "custody.security.svc");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prom");
    let rule = one(&objects, "PrometheusRule");
    let rules = rule["spec"]["groups"][0]["rules"]
        .as_array()
        .expect("rules");
    assert!(rules.len() >= 4);
    for r in rules {
        let expr = r["expr"].as_str().expect("expr");
        assert!(
            expr.contains("namespace=\"security\",job=\"custody\"")
                || expr.contains("custody\\\\.dev"),
            "{expr}"
        );
        assert!(
            ["critical", "warning"].contains(&r["labels"]["severity"].as_str().expect("severity"))
        );
        assert!(
            r["annotations"]["runbook"]
                .as_str()
                .expect("runbook")
                .starts_with("docs/operations.md#")
        );
    }
}

#[test]
fn network_policy_opens_only_the_webhook_port() {
    let objects = render(json!({"networkPolicy": {"enabled": true}}));
    let np = one(&objects, "NetworkPolicy");
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress"]));
    assert_eq!(
        np["spec"]["ingress"],
        json!([{"ports": [{"port": 8443, "protocol": "TCP"}]}])
    );
    let objects = render(everything());
    let np = one(&objects, "NetworkPolicy");
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(
        np["spec"]["ingress"][0]["from"],
        json!([{"ipBlock": {"cidr": "10.0.0.0/8"}}])
    );
}

#[test]
fn install_notes_name_the_break_glass_command() {
    let chart = chart();
    let notes = chart
        .render_notes("custody", "custody", &chart.values(&none()))
        .expect("NOTES.txt renders");
    assert!(
        notes.contains("kubectl delete validatingwebhookconfiguration custody\n"),
        "{notes}"
    );
    assert!(
        notes.contains("Never checked: kube-system, custody,"),
        "{notes}"
    );
    let values = chart.values(&json!({"webhook": {"mutating": {"enabled": true}}}));
    let notes = chart
        .render_notes("prod", "sec", &values)
        .expect("NOTES.txt renders");
    assert!(
        notes.contains("kubectl delete validatingwebhookconfiguration prod-custody && kubectl delete mutatingwebhookconfiguration prod-custody"),
        "{notes}"
    );
}

#[test]
fn pre_stop_sleep_extends_the_grace_period() {
    let plain = render(none());
    let pod = &one(&plain, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    assert!(pod["containers"][0].get("lifecycle").is_none());
    let slept = render(json!({"server": {"preStopSleepSeconds": 5}}));
    let pod = &one(&slept, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["terminationGracePeriodSeconds"], 35);
    assert_eq!(
        pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"],
        5
    );
}

/// The values examples in docs/operations.md are valid values and render valid objects.
#[test]
fn operations_guide_values_examples_work() {
    let text = std::fs::read_to_string(root().join("docs/operations.md")).expect("operations.md");
    let chart = chart();
    let keys: Vec<String> = chart
        .defaults
        .as_object()
        .expect("values")
        .keys()
        .cloned()
        .collect();
    let mut checked = 0;
    for block in text.split("```yaml\n").skip(1) {
        let yaml = block.split("```").next().expect("block");
        let Ok(example) = yaml_serde::from_str::<Value>(yaml) else {
            continue;
        };
        let is_values = example
            .as_object()
            .is_some_and(|o| !o.is_empty() && o.keys().all(|k| keys.contains(k)));
        if !is_values {
            continue;
        }
        // Examples may use library policies; enable the ones they configure.
        let mut example = example;
        if let Some(settings) = example
            .pointer("/policies/settings")
            .and_then(Value::as_object)
        {
            let names: Vec<Value> = settings.keys().map(|k| json!(k)).collect();
            example["policies"]["library"] = Value::Array(names);
        }
        let objects = render(example);
        let (ok, out) = check_k8s(&objects);
        assert!(ok, "{yaml}\n{out}");
        checked += 1;
    }
    assert!(checked >= 2, "found only {checked} values examples");
}

/// A trusted root in the values becomes a ConfigMap the server watches; an existing one is
/// named instead; both at once fail the install; the default sets neither.
#[test]
fn a_trusted_root_is_a_configmap_the_server_watches() {
    fn trusted_root_env(objects: &[Value]) -> Option<String> {
        one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .expect("env")
            .iter()
            .find(|e| e["name"] == "CUSTODY_TRUSTED_ROOT_CONFIGMAP")
            .map(|e| e["value"].as_str().expect("value").to_owned())
    }
    let plain = render(none());
    assert_eq!(trusted_root_env(&plain), None);
    assert!(
        !plain
            .iter()
            .any(|o| o["metadata"]["name"] == "custody-trusted-root"),
        "no trusted-root ConfigMap by default"
    );

    let json_text =
        std::fs::read_to_string(root().join("tests/data/sigstore-trusted-roots/staging.json"))
            .expect("staging root");
    let objects = render(json!({"trustedRoot": {"json": json_text}}));
    assert_eq!(
        trusted_root_env(&objects).as_deref(),
        Some("custody-trusted-root")
    );
    let cm = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "custody-trusted-root")
        .expect("the trusted-root ConfigMap");
    assert_eq!(cm["metadata"]["namespace"], "custody");
    assert_eq!(
        cm["data"]["trusted_root.json"].as_str(),
        Some(json_text.as_str()),
        "the root is carried byte for byte"
    );
    assert!(
        cm["metadata"]["labels"].get("custody.dev/policy").is_none(),
        "the root is not mistaken for a policy bundle"
    );
    let (ok, out) = check_k8s(&objects);
    assert!(ok, "{out}");
    assert_typed(&objects);

    let objects = render(json!({"trustedRoot": {"existingConfigMap": "sigstore-private"}}));
    assert_eq!(
        trusted_root_env(&objects).as_deref(),
        Some("sigstore-private")
    );

    let chart = chart();
    let values = chart.values(
        &json!({"trustedRoot": {"json": json_text, "existingConfigMap": "sigstore-private"}}),
    );
    let err = chart.refusal(&values);
    assert!(
        err.contains("set json or existingConfigMap, not both"),
        "{err}"
    );
    let (ok, _) = check_values(&json!({"trustedRoot": {"jsonn": "{}"}}));
    assert!(!ok, "a misspelt trustedRoot key must be rejected");
}
