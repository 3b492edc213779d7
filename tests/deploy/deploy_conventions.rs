//! Chart conventions the peers' charts have (issue #15): security contexts overridable for
//! OpenShift, the webhook port and hostNetwork, a full topologySpreadConstraints list, a
//! registry mirror, probe overrides and a startup probe, labels and annotations on the
//! webhook configurations, cert-manager's namespace excluded, the previous CA kept across a
//! rotation, Artifact Hub metadata and a `helm test` hook. Rendered by Helm.

use crate::support;
use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use support::deploy::fixtures::*;
use support::deploy::*;

fn pod(objects: &[Value]) -> &Value {
    &one(objects, "Deployment")["spec"]["template"]["spec"]
}

fn b64(v: &Value) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("base64 text"))
        .expect("base64");
    String::from_utf8(bytes).expect("utf-8")
}

fn valid(objects: &[Value]) {
    let (ok, out) = check_k8s(objects);
    assert!(ok, "{out}");
}

#[test]
fn security_contexts_are_restricted_by_default_and_overridable_for_openshift() {
    let objects = render(none());
    let spec = pod(&objects);
    assert_eq!(
        spec["securityContext"],
        json!({"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532,
               "seccompProfile": {"type": "RuntimeDefault"}})
    );
    assert_eq!(
        spec["containers"][0]["securityContext"],
        json!({"runAsNonRoot": true, "allowPrivilegeEscalation": false,
               "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]},
               "seccompProfile": {"type": "RuntimeDefault"}})
    );
    // OpenShift's restricted SCC assigns the user and group: null removes the defaults.
    let objects = render(json!({"podSecurityContext": {"runAsUser": null, "runAsGroup": null}}));
    let ctx = &pod(&objects)["securityContext"];
    assert_eq!(
        ctx,
        &json!({"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}})
    );
    valid(&objects);
    // The schema still refuses what is not a security context field.
    let err = chart()
        .render(
            "custody",
            "custody",
            &json!({"securityContext": {"privileged": true}}),
            &BTreeMap::new(),
        )
        .expect_err("an unknown securityContext key must be refused");
    assert!(err.contains("privileged"), "{err}");
}

#[test]
fn the_webhook_port_and_host_network_follow_the_values() {
    let plain = render(none());
    assert!(pod(&plain).get("hostNetwork").is_none());
    let objects = render(json!({"server": {"port": 10250}, "hostNetwork": true,
                                "networkPolicy": {"enabled": true}}));
    let spec = pod(&objects);
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(spec["dnsPolicy"], "ClusterFirstWithHostNet");
    let container = &spec["containers"][0];
    assert_eq!(container["ports"][0]["containerPort"], 10250);
    assert_eq!(
        env(one(&objects, "Deployment"), "CUSTODY_LISTEN")["value"],
        "0.0.0.0:10250"
    );
    // The Service and the webhooks still use 443 and reach the pod through the port name.
    let svc = one(&objects, "Service");
    assert_eq!(svc["spec"]["ports"][0]["port"], 443);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "https");
    assert_eq!(
        one(&objects, "NetworkPolicy")["spec"]["ingress"][0]["ports"][0]["port"],
        10250
    );
    valid(&objects);
}

#[test]
fn a_full_topology_spread_list_replaces_the_generated_one() {
    let generated = render(none());
    assert_eq!(
        pod(&generated)["topologySpreadConstraints"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let mine = json!([{"maxSkew": 2, "topologyKey": "topology.kubernetes.io/region",
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "custody"}}}]);
    let objects = render(json!({"topologySpreadConstraints": mine}));
    assert_eq!(pod(&objects)["topologySpreadConstraints"], mine);
    valid(&objects);
    let off = render(json!({"topologySpread": {"enabled": false}}));
    assert!(pod(&off).get("topologySpreadConstraints").is_none());
}

#[test]
fn image_registry_prefixes_the_repository_for_mirrors() {
    let objects = render(json!({"image": {"registry": "mirror.example.com:5000/proxy/"}}));
    assert_eq!(
        pod(&objects)["containers"][0]["image"],
        "mirror.example.com:5000/proxy/custody:0.1.0"
    );
    let digest = format!("sha256:{}", "cd".repeat(32));
    let objects = render(json!({"image": {"registry": "mirror.example.com", "digest": digest}}));
    assert_eq!(
        pod(&objects)["containers"][0]["image"],
        format!("mirror.example.com/custody@{digest}")
    );
    assert_eq!(
        pod(&render(none()))["containers"][0]["image"],
        "custody:0.1.0"
    );
}

#[test]
fn probes_have_a_startup_probe_by_default_and_can_be_overridden() {
    let objects = render(none());
    let c = &pod(&objects)["containers"][0];
    assert_eq!(c["startupProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["startupProbe"]["failureThreshold"], 30);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let objects = render(json!({
        "startupProbe": null,
        "livenessProbe": {"periodSeconds": 30, "failureThreshold": 6},
        "readinessProbe": {"timeoutSeconds": 4}
    }));
    let c = &pod(&objects)["containers"][0];
    assert!(c.get("startupProbe").is_none(), "{c}");
    assert_eq!(c["livenessProbe"]["periodSeconds"], 30);
    assert_eq!(c["livenessProbe"]["failureThreshold"], 6);
    assert_eq!(c["livenessProbe"]["httpGet"]["scheme"], "HTTPS");
    assert_eq!(c["readinessProbe"]["timeoutSeconds"], 4);
    assert_eq!(c["readinessProbe"]["periodSeconds"], 5);
    valid(&objects);
}

#[test]
fn webhook_configurations_carry_extra_labels_and_annotations() {
    let objects = render(json!({
        "webhook": {"labels": {"team": "platform"}, "annotations": {"owner": "sec"},
                    "mutating": {"enabled": true}},
        "certManager": {"enabled": true}
    }));
    for kind in [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ] {
        let meta = &one(&objects, kind)["metadata"];
        assert_eq!(meta["labels"]["team"], "platform", "{kind}");
        assert_eq!(
            meta["labels"]["app.kubernetes.io/name"], "custody",
            "{kind}"
        );
        assert_eq!(meta["annotations"]["owner"], "sec", "{kind}");
        assert_eq!(
            meta["annotations"]["cert-manager.io/inject-ca-from"], "custody/custody-tls",
            "{kind}"
        );
    }
    valid(&objects);
    let plain = render(none());
    assert!(
        one(&plain, "ValidatingWebhookConfiguration")["metadata"]
            .get("annotations")
            .is_none()
    );
}

fn excluded(objects: &[Value]) -> Vec<Value> {
    webhooks(objects)[0]["namespaceSelector"]["matchExpressions"][0]["values"]
        .as_array()
        .expect("values")
        .clone()
}

#[test]
fn cert_managers_namespace_is_excluded_in_cert_manager_mode() {
    assert_eq!(
        excluded(&render(none())),
        vec![json!("kube-system"), json!("custody")]
    );
    let objects = render(json!({"certManager": {"enabled": true}}));
    assert_eq!(
        excluded(&objects),
        vec![
            json!("kube-system"),
            json!("custody"),
            json!("cert-manager")
        ]
    );
    let objects = render(json!({"certManager": {"enabled": true, "namespace": "security"}}));
    assert!(excluded(&objects).contains(&json!("security")));
    let chart = chart();
    let notes = chart
        .render_notes(
            "custody",
            "custody",
            &chart.values(&json!({"certManager": {"enabled": true}})),
        )
        .expect("NOTES.txt");
    assert!(
        notes.contains("Never checked: kube-system, custody, cert-manager,"),
        "{notes}"
    );
}

const OLD_CA: &str = "-----BEGIN CERTIFICATE-----\nb2xkIGNh\n-----END CERTIFICATE-----\n";

/// A rotation (the Secret deleted, then `helm upgrade`): the webhooks trust the new CA and
/// the one the running pods' certificate still chains to, so no review fails meanwhile.
#[test]
fn a_rotation_keeps_the_previous_ca_in_the_bundle() {
    let chart = chart();
    let old = base64::engine::general_purpose::STANDARD.encode(OLD_CA);
    let current = BTreeMap::from([(
        "admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration//custody".to_string(),
        json!({"webhooks": [{"name": "validate.custody.dev", "clientConfig": {"caBundle": old}}]}),
    )]);
    let values = chart.values(&json!({"webhook": {"mutating": {"enabled": true}}}));
    let objects: Vec<Value> = chart.objects_with(&values, &current);
    let secret = one(&objects, "Secret");
    let new_ca = b64(&secret["data"]["ca.crt"]);
    assert!(
        !new_ca.contains("b2xkIGNh"),
        "the Secret holds the new CA only"
    );
    assert!(x509_text(&new_ca).contains("CN = custody-ca"));
    for hook in webhooks(&objects) {
        let bundle = b64(&hook["clientConfig"]["caBundle"]);
        assert_eq!(bundle, format!("{new_ca}{OLD_CA}"));
    }
    // A Secret that lost its certificate but kept ca.crt: that CA is the previous one.
    let half = BTreeMap::from([(
        "v1/Secret/custody/custody-tls".to_string(),
        json!({"data": {"ca.crt": old}}),
    )]);
    let objects: Vec<Value> = chart.objects_with(&values, &half);
    let new_ca = b64(&one(&objects, "Secret")["data"]["ca.crt"]);
    for hook in webhooks(&objects) {
        assert_eq!(
            b64(&hook["clientConfig"]["caBundle"]),
            format!("{new_ca}{OLD_CA}")
        );
    }
    // A first install has nothing to keep: the bundle is the new CA alone.
    let fresh = render(none());
    let secret = one(&fresh, "Secret");
    assert_eq!(
        webhooks(&fresh)[0]["clientConfig"]["caBundle"],
        secret["data"]["ca.crt"]
    );
}

#[test]
fn chart_yaml_has_artifact_hub_metadata() {
    let meta: Value = yaml_serde::from_str(
        &std::fs::read_to_string(root().join("charts/custody/Chart.yaml")).expect("Chart.yaml"),
    )
    .expect("Chart.yaml is YAML");
    for key in ["home", "icon"] {
        assert!(
            meta[key]
                .as_str()
                .is_some_and(|u| u.starts_with("https://")),
            "{key}"
        );
    }
    assert!(!meta["sources"].as_array().expect("sources").is_empty());
    let ann = &meta["annotations"];
    assert_eq!(ann["artifacthub.io/license"], "Apache-2.0");
    for key in ["artifacthub.io/links", "artifacthub.io/changes"] {
        let list: Vec<Value> =
            yaml_serde::from_str(ann[key].as_str().expect(key)).expect("a YAML list");
        assert!(!list.is_empty(), "{key}");
    }
    let changes: Vec<Value> =
        yaml_serde::from_str(ann["artifacthub.io/changes"].as_str().expect("changes"))
            .expect("changes");
    for c in &changes {
        let kind = c["kind"].as_str().expect("kind");
        assert!(
            [
                "added",
                "changed",
                "deprecated",
                "removed",
                "fixed",
                "security"
            ]
            .contains(&kind),
            "{kind}"
        );
    }
}

#[test]
fn helm_test_hook_calls_readyz_over_https() {
    let objects = render(none());
    let pods = of_kind(&objects, "Pod");
    assert_eq!(pods.len(), 1);
    let test = pods[0];
    assert_eq!(test["metadata"]["annotations"]["helm.sh/hook"], "test");
    let c = &test["spec"]["containers"][0];
    let cmd: Vec<&str> = c["command"]
        .as_array()
        .expect("command")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(cmd.first(), Some(&"curl"));
    assert!(cmd.contains(&"--fail"), "{cmd:?}");
    let at = cmd.iter().position(|a| *a == "--cacert").expect("--cacert");
    assert_eq!(cmd[at + 1], "/tls/ca.crt");
    assert_eq!(cmd.last(), Some(&"https://custody.custody.svc:443/readyz"));
    assert_eq!(
        test["spec"]["volumes"][0]["secret"]["secretName"],
        "custody-tls"
    );
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    valid(&objects);
    let off = render(json!({"helmTest": {"enabled": false}}));
    assert!(of_kind(&off, "Pod").is_empty());
}
