//! The Helm chart, rendered by the test renderer in `deploy_support` (Helm itself cannot be
//! installed here) and checked against the Kubernetes schemas and our safety rules:
//! webhooks, namespace exclusions, deadline, Deployment hardening, RBAC.

use crate::support;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use support::deploy::fixtures::*;
use support::deploy::*;

#[test]
fn default_render_validates_against_kubernetes_schemas() {
    let objects = render(none());
    let (ok, out) = check_k8s(&objects);
    assert!(ok, "{out}");
    assert_typed(&objects);
    // The defaults also work on the oldest Kubernetes the chart admits.
    let oldest = min_kube_version();
    assert_eq!(oldest, "1.25.0");
    let (ok, out) = check_k8s_version(&objects, &oldest);
    assert!(ok, "{out}");
    assert_eq!(
        inventory(&objects),
        [
            "ClusterRole/custody",
            "ClusterRoleBinding/custody",
            "ConfigMap/require-provenance",
            "Deployment/custody",
            // The `helm test` hook (templates/tests/); `helm install` does not create it.
            "Pod/custody-test-readyz",
            "PodDisruptionBudget/custody",
            "Role/custody",
            "RoleBinding/custody",
            "Secret/custody-tls",
            "Service/custody",
            "ServiceAccount/custody",
            "ValidatingWebhookConfiguration/custody",
        ]
    );
}

#[test]
fn every_option_renders_valid_objects() {
    let objects = render_as("prod", "security", everything());
    let (ok, out) = check_k8s(&objects);
    assert!(ok, "{out}");
    assert_typed(&objects);
    let names = inventory(&objects);
    for expected in [
        "Certificate/prod-custody-tls",
        "Certificate/prod-custody-ca",
        "Issuer/prod-custody-ca",
        "Issuer/prod-custody-selfsigned",
        "ClusterRole/prod-custody-pull-secrets",
        "ConfigMap/in-house",
        "MutatingWebhookConfiguration/prod-custody",
        "NetworkPolicy/prod-custody",
        "PrometheusRule/prod-custody",
        "ServiceMonitor/prod-custody",
    ] {
        assert!(
            names.contains(&expected.to_string()),
            "{expected} missing from {names:?}"
        );
    }
    assert!(
        !names.iter().any(|n| n.starts_with("Secret/")),
        "cert-manager owns the Secret"
    );
    let deployment = one(&objects, "Deployment");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("custody@sha256:{}", "ab".repeat(32))
    );
}

#[test]
fn invalid_objects_are_caught_by_the_schema_check() {
    // The check itself must fail on a misspelt field, or every test above proves nothing.
    let mut objects = render(none());
    let deployment = objects
        .iter_mut()
        .find(|o| o["kind"] == "Deployment")
        .expect("deployment");
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContex"] = json!({});
    let (ok, out) = check_k8s(&objects);
    assert!(!ok, "a misspelt field passed: {out}");
    assert!(out.contains("securityContex"), "{out}");
    let deployment = objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("deployment");
    let problem = typed_round_trip(deployment).expect("the typed round trip must notice");
    assert!(problem.contains("Deployment/custody"), "{problem}");
}

#[test]
fn webhooks_follow_the_safe_defaults() {
    let objects = render_as(
        "custody",
        "custody",
        json!({"webhook": {"mutating": {"enabled": true}}}),
    );
    let hooks = webhooks(&objects);
    assert_eq!(hooks.len(), 2);
    for hook in &hooks {
        assert_eq!(hook["failurePolicy"], "Fail");
        assert_eq!(hook["sideEffects"], "None");
        assert_eq!(hook["matchPolicy"], "Equivalent");
        assert_eq!(hook["admissionReviewVersions"], json!(["v1"]));
        assert_eq!(hook["timeoutSeconds"], 10);
        assert_eq!(hook["clientConfig"]["service"]["name"], "custody");
        assert_eq!(hook["clientConfig"]["service"]["namespace"], "custody");
        assert_eq!(hook["clientConfig"]["service"]["port"], 443);
        for rule in hook["rules"].as_array().expect("rules") {
            assert_eq!(rule["operations"], json!(["CREATE", "UPDATE"]));
            assert_eq!(rule["apiVersions"], json!(["v1"]));
            assert_eq!(rule["scope"], "Namespaced");
        }
    }
    assert_eq!(hooks[0]["clientConfig"]["service"]["path"], "/validate");
    assert_eq!(hooks[1]["clientConfig"]["service"]["path"], "/mutate");
    let checked: Vec<String> = hooks[0]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .flat_map(|r| {
            let group = r["apiGroups"][0].as_str().expect("group").to_string();
            r["resources"]
                .as_array()
                .expect("resources")
                .iter()
                .map(move |x| format!("{group}/{}", x.as_str().expect("resource")))
        })
        .collect();
    assert_eq!(
        checked,
        [
            "/pods",
            "/pods/ephemeralcontainers",
            "/replicationcontrollers",
            "apps/deployments",
            "apps/replicasets",
            "apps/statefulsets",
            "apps/daemonsets",
            "batch/jobs",
            "batch/cronjobs"
        ]
    );
    // The mutating webhook only rewrites pods by default, and the server is told so.
    assert_eq!(hooks[1]["rules"].as_array().expect("rules").len(), 1);
    assert_eq!(hooks[1]["rules"][0]["resources"], json!(["pods"]));
    assert_eq!(
        env(one(&objects, "Deployment"), "CUSTODY_MUTATE_KINDS")["value"],
        "Pod"
    );
    let all = render(everything());
    assert_eq!(
        env(one(&all, "Deployment"), "CUSTODY_MUTATE_KINDS")["value"],
        "Pod,Deployment,CronJob"
    );
}

#[test]
fn mutating_webhook_is_off_by_default() {
    assert!(of_kind(&render(none()), "MutatingWebhookConfiguration").is_empty());
}

/// The lock-out guard: whatever the values, kube-system and the release namespace are
/// excluded from every webhook, and the opt-out label is honoured.
#[test]
fn kube_system_and_own_namespace_are_always_excluded() {
    let cases = [
        ("custody", "custody", none()),
        ("custody", "security", everything()),
        (
            "guard",
            "platform",
            json!({"webhook": {"excludeNamespaces": ["a", "b"], "mutating": {"enabled": true}}}),
        ),
        (
            "x",
            "kube-admission",
            json!({"webhook": {"namespaceMatchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["kube-system"]}]}}),
        ),
    ];
    for (release, namespace, values) in cases {
        let objects = render_as(release, namespace, values);
        let hooks = webhooks(&objects);
        assert!(!hooks.is_empty());
        for hook in hooks {
            let exprs = hook["namespaceSelector"]["matchExpressions"]
                .as_array()
                .expect("expressions");
            let guard = exprs
                .iter()
                .find(|e| e["key"] == "kubernetes.io/metadata.name" && e["operator"] == "NotIn")
                .unwrap_or_else(|| panic!("{release}/{namespace}: no exclusion in {hook}"));
            let excluded = guard["values"].as_array().expect("values");
            assert!(
                excluded.contains(&json!("kube-system")),
                "{release}/{namespace}: {excluded:?}"
            );
            assert!(
                excluded.contains(&json!(namespace)),
                "{release}/{namespace}: {excluded:?}"
            );
            assert!(
                exprs.iter().any(|e| e["key"] == "custody.dev/ignore"
                    && e["operator"] == "NotIn"
                    && e["values"] == json!(["true"])),
                "opt-out label missing: {exprs:?}"
            );
            // Selector expressions are ANDed: extra ones can only narrow, never re-include.
            assert!(hook["namespaceSelector"].get("matchLabels").is_none());
        }
    }
}

#[test]
fn decision_deadline_is_below_the_webhook_timeout() {
    for values in [
        none(),
        json!({"webhook": {"timeoutSeconds": 5}, "server": {"deadline": "4s"}}),
    ] {
        let objects = render(values);
        let deployment = one(&objects, "Deployment");
        let deadline = env(deployment, "CUSTODY_DECISION_DEADLINE")["value"]
            .as_str()
            .expect("deadline");
        let deadline = humantime::parse_duration(deadline).expect("deadline parses");
        for hook in webhooks(&objects) {
            let timeout = Duration::from_secs(hook["timeoutSeconds"].as_u64().expect("timeout"));
            assert!(
                deadline < timeout,
                "deadline {deadline:?} must stay below timeout {timeout:?}"
            );
        }
    }
}

#[test]
fn a_deadline_not_below_the_timeout_fails_the_install() {
    let chart = chart();
    for (deadline, timeout) in [("10s", 10), ("12000ms", 10), ("30s", 5)] {
        let values = chart.values(
            &json!({"server": {"deadline": deadline}, "webhook": {"timeoutSeconds": timeout}}),
        );
        let err = chart.refusal(&values);
        assert!(
            err.contains("must be below webhook.timeoutSeconds"),
            "{err}"
        );
    }
    for (deadline, timeout) in [("9s", 10), ("9999ms", 10), ("1s", 2)] {
        let values = chart.values(
            &json!({"server": {"deadline": deadline}, "webhook": {"timeoutSeconds": timeout}}),
        );
        chart
            .render("custody", "custody", &values, &BTreeMap::new())
            .unwrap_or_else(|e| panic!("{deadline} < {timeout}s was refused: {e}"));
    }
}

#[test]
fn deployment_is_hardened_and_highly_available() {
    let objects = render(none());
    let deployment = one(&objects, "Deployment");
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 2);
    assert_eq!(spec["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = &pod["containers"][0];
    assert_eq!(c["args"], json!(["serve"]));
    assert_eq!(
        c["ports"],
        json!([{"name": "https", "containerPort": 8443, "protocol": "TCP"}])
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(c[probe]["httpGet"]["scheme"], "HTTPS");
        assert_eq!(c[probe]["httpGet"]["port"], "https");
    }
    assert_eq!(
        c["resources"]["requests"],
        json!({"cpu": "100m", "memory": "128Mi"})
    );
    assert_eq!(
        c["resources"]["limits"],
        json!({"cpu": "1", "memory": "256Mi"})
    );
    assert_eq!(env(deployment, "CUSTODY_LISTEN")["value"], "0.0.0.0:8443");
    assert_eq!(env(deployment, "CUSTODY_KUBERNETES")["value"], "true");
    assert_eq!(env(deployment, "CUSTODY_SERVICE_NAME")["value"], "custody");
    assert_eq!(env(deployment, "CUSTODY_TLS_CERT")["value"], "/tls/tls.crt");
    assert_eq!(env(deployment, "CUSTODY_TLS_KEY")["value"], "/tls/tls.key");
    assert_eq!(env(deployment, "CUSTODY_FAIL_OPEN")["value"], "false");
    assert_eq!(env(deployment, "CUSTODY_NO_POLICY_ACTION")["value"], "warn");
    assert_eq!(
        env(deployment, "CUSTODY_POLICY_CONFIGMAP_SELECTOR")["value"],
        "custody.dev/policy"
    );
    assert_eq!(
        env(deployment, "CUSTODY_NAMESPACE")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    let mounts = c["volumeMounts"].as_array().expect("mounts");
    assert!(
        mounts
            .iter()
            .any(|m| m["mountPath"] == "/tls" && m["readOnly"] == true)
    );
    let spread = pod["topologySpreadConstraints"].as_array().expect("spread");
    assert!(
        spread
            .iter()
            .any(|s| s["topologyKey"] == "kubernetes.io/hostname")
    );
    let selector = &spec["selector"]["matchLabels"];
    for s in spread {
        assert_eq!(&s["labelSelector"]["matchLabels"], selector);
    }
    let pdb = one(&objects, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], selector);
    let service = one(&objects, "Service");
    assert_eq!(&service["spec"]["selector"], selector);
    assert_eq!(service["spec"]["ports"][0]["port"], 443);
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "https");
}

fn rules_of(objects: &[Value], kind: &str, name: &str) -> Vec<Value> {
    of_kind(objects, kind)
        .into_iter()
        .find(|o| o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))["rules"]
        .as_array()
        .expect("rules")
        .clone()
}

#[test]
fn rbac_is_least_privilege() {
    let plain = render(none());
    assert_eq!(
        rules_of(&plain, "Role", "custody"),
        [
            json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "watch"]}),
            json!({"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]}),
        ]
    );
    assert_eq!(
        rules_of(&plain, "ClusterRole", "custody"),
        [
            json!({"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]})
        ]
    );
    let with_pull = render(json!({"pullSecrets": {"enabled": true}}));
    assert_eq!(
        rules_of(&with_pull, "ClusterRole", "custody-pull-secrets"),
        [json!({"apiGroups": [""], "resources": ["secrets", "serviceaccounts"], "verbs": ["get"]})]
    );
    assert_eq!(
        env(one(&with_pull, "Deployment"), "CUSTODY_PULL_SECRET_AUTH")["value"],
        "true"
    );
    assert_eq!(
        env(one(&plain, "Deployment"), "CUSTODY_PULL_SECRET_AUTH")["value"],
        "false"
    );
    for objects in [&plain, &with_pull, &render(everything())] {
        for o in objects
            .iter()
            .filter(|o| o["kind"] == "Role" || o["kind"] == "ClusterRole")
        {
            let text = o["rules"].to_string();
            assert!(!text.contains('*'), "wildcard in {o}");
            if o["metadata"]["name"] != "custody-pull-secrets" {
                assert!(
                    !text.contains("secrets"),
                    "secrets access without pullSecrets: {o}"
                );
            }
        }
        for binding in objects
            .iter()
            .filter(|o| o["kind"].as_str().is_some_and(|k| k.ends_with("Binding")))
        {
            assert_eq!(binding["subjects"].as_array().expect("subjects").len(), 1);
            assert_eq!(binding["subjects"][0]["kind"], "ServiceAccount");
        }
    }
}

/// Whatever the release is called, the objects refer to each other by the same names:
/// the webhooks call the Service, the certificate names it, the pods run as the bound
/// ServiceAccount and mount the TLS Secret.
#[test]
fn names_agree_across_objects_for_any_release() {
    let long = "a-very-long-release-name-that-goes-on-and-on-past-the-dns-label-limit";
    let cases = [
        ("custody", json!({}), "custody", "custody"),
        ("prod", json!({}), "prod-custody", "prod-custody"),
        ("x", json!({"fullnameOverride": "guard"}), "guard", "guard"),
        (
            "x",
            json!({"serviceAccount": {"create": false, "name": "existing"}}),
            "x-custody",
            "existing",
        ),
        (long, json!({}), &long[..63], &long[..63]),
    ];
    for (release, values, fullname, account) in cases {
        let objects = render_as(release, "sec", values.clone());
        let service = one(&objects, "Service")["metadata"]["name"]
            .as_str()
            .expect("service")
            .to_string();
        assert_eq!(
            service,
            fullname.trim_end_matches('-'),
            "{release} {values}"
        );
        assert!(service.len() <= 63);
        let dns = format!("{service}.sec.svc");
        for hook in webhooks(&objects) {
            assert_eq!(hook["clientConfig"]["service"]["name"], service.as_str());
        }
        let secret = one(&objects, "Secret");
        let crt = decode_b64(&secret["data"]["tls.crt"]);
        let text = x509_text(&crt);
        assert!(
            text.contains(&format!("Subject: CN = {dns}\n"))
                && text.contains(&format!("DNS:{dns}, DNS:{dns}.cluster.local")),
            "{text}"
        );
        let deployment = one(&objects, "Deployment");
        let pod = &deployment["spec"]["template"]["spec"];
        assert_eq!(pod["serviceAccountName"], account);
        assert_eq!(
            pod["volumes"][0]["secret"]["secretName"],
            secret["metadata"]["name"]
        );
        assert_eq!(
            env(deployment, "CUSTODY_SERVICE_NAME")["value"],
            service.as_str()
        );
        for binding in objects
            .iter()
            .filter(|o| o["kind"].as_str().is_some_and(|k| k.ends_with("Binding")))
        {
            assert_eq!(binding["subjects"][0]["name"], account);
            assert_eq!(binding["subjects"][0]["namespace"], "sec");
        }
        let accounts = of_kind(&objects, "ServiceAccount");
        if values.pointer("/serviceAccount/create") == Some(&json!(false)) {
            assert!(accounts.is_empty());
        } else {
            assert_eq!(accounts[0]["metadata"]["name"], account);
        }
    }
}

fn decode_b64(v: &Value) -> String {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("base64"))
        .expect("base64");
    String::from_utf8(bytes).expect("utf-8")
}
