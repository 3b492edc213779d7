//! The policy library as installed: the chart's and deploy/'s copies equal `policies/`,
//! and both turn a policy into the same labelled ConfigMap.

use crate::support;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use support::deploy::*;

/// The files of a policy directory that are shipped: policy.yaml, data.json, *.rego
/// except tests (*_test.rego); the same rule as scripts/sync-policies.
fn shipped(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("policy dir").flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let ships = name == "policy.yaml"
            || name == "data.json"
            || name.ends_with(".layout")
            || (name.ends_with(".rego") && !name.ends_with("_test.rego"));
        if ships && entry.path().is_file() {
            out.insert(
                name,
                std::fs::read_to_string(entry.path()).expect("policy file"),
            );
        }
    }
    out
}

/// Policy directories (those with a policy.yaml) under `dir`, by name.
fn policy_dirs(dir: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .flatten()
        .filter(|e| e.path().join("policy.yaml").is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().to_string(),
                shipped(&e.path()),
            )
        })
        .collect()
}

#[test]
fn chart_and_deploy_copies_equal_the_policy_library() {
    let library = policy_dirs(&root().join("policies"));
    for copy in ["charts/custody/files/policies", "deploy/policies"] {
        let copies = policy_dirs(&root().join(copy));
        assert_eq!(
            copies.keys().collect::<Vec<_>>(),
            library.keys().collect::<Vec<_>>(),
            "{copy} is out of date with policies/: run scripts/sync-policies"
        );
        for (name, files) in &library {
            let copied = &copies[name];
            assert_eq!(
                copied.keys().collect::<Vec<_>>(),
                files.keys().collect::<Vec<_>>(),
                "{copy}/{name} ships other files than policies/{name}: run scripts/sync-policies"
            );
            for (file, content) in files {
                assert!(
                    &copied[file] == content,
                    "{copy}/{name}/{file} differs from policies/{name}/{file}: run scripts/sync-policies"
                );
            }
        }
    }
    for (name, files) in &library {
        let dir = root().join("deploy/policies").join(name);
        for component in [
            dir.join("kustomization.yaml"),
            dir.join("warn/kustomization.yaml"),
        ] {
            assert!(
                component.is_file(),
                "{} missing: run scripts/sync-policies",
                component.display()
            );
        }
        // The warn variant: the same files, policy.yaml differing only in its mode line.
        let warn = shipped(&dir.join("warn"));
        assert_eq!(
            warn.keys().collect::<Vec<_>>(),
            files.keys().collect::<Vec<_>>(),
            "{name}/warn"
        );
        for (file, content) in files {
            let expected = if file == "policy.yaml" {
                content
                    .lines()
                    .map(|l| {
                        if l.starts_with("mode:") {
                            "mode: warn"
                        } else {
                            l
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
                    + "\n"
            } else {
                content.clone()
            };
            assert!(
                warn[file] == expected,
                "deploy/policies/{name}/warn/{file} is stale: run scripts/sync-policies"
            );
        }
    }
}

fn sync(src: &Path, chart: &Path, deploy: &Path) {
    let out = Command::new("sh")
        .arg(root().join("scripts/sync-policies"))
        .args([src, chart, deploy])
        .output()
        .expect("running scripts/sync-policies");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A small library: one policy with a test file that must not ship.
fn fake_library(dir: &Path) {
    let demo = dir.join("demo");
    std::fs::create_dir_all(&demo).expect("mkdir");
    std::fs::write(demo.join("policy.yaml"), "name: demo\nmode: enforce\n").expect("write");
    std::fs::write(
        demo.join("main.rego"),
        "package custody.demo\n\ndeny contains \"no\" if false\n",
    )
    .expect("write");
    std::fs::write(demo.join("main_test.rego"), "package custody.demo_test\n").expect("write");
    std::fs::write(demo.join("data.json"), "{\"allowed\": [\"a\\\"b\"]}\n").expect("write");
    std::fs::create_dir_all(dir.join("not-a-policy")).expect("mkdir");
}

#[test]
fn chart_and_deploy_ship_the_same_policy_configmap() {
    let tmp = tempfile::tempdir().expect("tmp");
    let lib = tmp.path().join("policies");
    fake_library(&lib);
    // deploy/ copy with TLS, plus the synced component enabled.
    let (deploy_tmp, _) = deploy_with_tls();
    let deploy = deploy_tmp.path().join("deploy");
    let chart_files = tmp.path().join("chart-files");
    sync(&lib, &chart_files, &deploy.join("policies"));
    assert!(
        !chart_files.join("demo/main_test.rego").exists(),
        "policy tests must not ship"
    );
    assert!(!chart_files.join("not-a-policy").exists());
    let kustomization = deploy.join("kustomization.yaml");
    let text = std::fs::read_to_string(&kustomization).expect("read");
    // Only the demo policy: the synced fake library replaced the real one.
    let mut text = text[..text.rfind("\ncomponents:\n").expect("components") + 1].to_string();
    text.push_str("components:\n  - policies/demo\n");
    std::fs::write(&kustomization, text).expect("write");
    let from_deploy = kustomize(&deploy);
    let (ok, out) = check_k8s(&from_deploy);
    assert!(ok, "{out}");
    let deploy_cm = of_kind(&from_deploy, "ConfigMap")
        .into_iter()
        .find(|c| c["metadata"]["name"] == "demo")
        .expect("the demo ConfigMap")
        .clone();

    let mut chart = chart();
    for (name, content) in shipped(&chart_files.join("demo")) {
        chart
            .files
            .insert(format!("files/policies/demo/{name}"), content);
    }
    let values = chart.values(&json!({"policies": {"library": ["demo"], "settings": null}}));
    let rendered: Vec<Value> = chart.objects(&values);
    let chart_cm = one(&rendered, "ConfigMap");
    let (ok, out) = check_k8s(&rendered);
    assert!(ok, "{out}");

    assert_eq!(chart_cm["metadata"]["name"], "demo");
    assert_eq!(deploy_cm["metadata"]["name"], "demo");
    assert_eq!(
        chart_cm["metadata"]["namespace"],
        deploy_cm["metadata"]["namespace"]
    );
    for cm in [chart_cm, &deploy_cm] {
        assert_eq!(cm["metadata"]["labels"]["custody.dev/policy"], "true");
        assert_eq!(
            cm["metadata"]["annotations"]["custody.dev/policy-name"],
            "demo"
        );
    }
    assert_eq!(chart_cm["data"], deploy_cm["data"]);
    assert_eq!(
        chart_cm["data"]
            .as_object()
            .expect("data")
            .keys()
            .collect::<Vec<_>>(),
        ["data.json", "main.rego", "policy.yaml"]
    );
    assert_eq!(
        chart_cm["data"]["data.json"],
        "{\"allowed\": [\"a\\\"b\"]}\n"
    );
}

#[test]
fn policy_files_override_library_files_and_add_bundles() {
    let mut chart = chart();
    chart.files.insert(
        "files/policies/demo/policy.yaml".into(),
        "name: demo\n".into(),
    );
    chart
        .files
        .insert("files/policies/demo/main.rego".into(), "package a\n".into());
    let values = chart.values(&json!({"policies": {
        "library": ["demo"],
        "files": {
            "demo": {"policy.yaml": "name: demo\nattestors: [mine]\n"},
            "extra": {"policy.yaml": "name: extra\n", "x.rego": "package x\n"}
        }
    }}));
    let (ok, out) = check_values(&values);
    assert!(ok, "{out}");
    let rendered: Vec<Value> = chart.objects(&values);
    let cms = of_kind(&rendered, "ConfigMap");
    assert_eq!(cms.len(), 2);
    assert_eq!(
        cms[0]["data"],
        json!({"main.rego": "package a\n", "policy.yaml": "name: demo\nattestors: [mine]\n"})
    );
    assert_eq!(cms[1]["metadata"]["name"], "extra");
    assert_eq!(
        cms[1]["data"],
        json!({"policy.yaml": "name: extra\n", "x.rego": "package x\n"})
    );
}

#[test]
fn an_unknown_library_policy_fails_the_install() {
    let chart = chart();
    let values = chart.values(&json!({"policies": {"library": ["require-provenanse"]}}));
    let err = chart.refusal(&values);
    assert!(
        err.contains("unknown policy \"require-provenanse\""),
        "{err}"
    );
    // Names that are not DNS labels are already rejected by the schema.
    let (ok, _) = check_values(&json!({"policies": {"library": ["Require_Provenance"]}}));
    assert!(!ok);
    let (ok, _) = check_values(&json!({"policies": {"files": {"x": {"policy.yml": ""}}}}));
    assert!(!ok, "a misspelt policy file name must be rejected");
}

/// Every policy of the library, installed both ways, gives the same ConfigMaps (with the
/// library's files byte for byte). Runs over whatever `policies/` holds; the copy test
/// above ties the copies to it.
#[test]
fn every_library_policy_installs_identically_with_helm_and_kustomize() {
    let names: Vec<String> = policy_dirs(&root().join("charts/custody/files/policies"))
        .into_keys()
        .collect();
    let chart = chart();
    let values = chart.values(&json!({"policies": {"library": names, "settings": null}}));
    let rendered: Vec<Value> = chart.objects(&values);
    let from_chart = of_kind(&rendered, "ConfigMap");
    assert_eq!(from_chart.len(), names.len());
    let (deploy_tmp, _) = deploy_with_tls();
    let deploy = deploy_tmp.path().join("deploy");
    let kustomization = deploy.join("kustomization.yaml");
    let text = std::fs::read_to_string(&kustomization).expect("read");
    // Replace the default components with every library policy in enforce mode.
    let mut text = text[..text.rfind("\ncomponents:\n").expect("components") + 1].to_string();
    text.push_str("components:\n");
    for name in &names {
        text.push_str(&format!("  - policies/{name}\n"));
    }
    std::fs::write(&kustomization, text).expect("write");
    let built = kustomize(&deploy);
    let from_deploy = of_kind(&built, "ConfigMap");
    assert_eq!(from_deploy.len(), names.len());
    let mut all = rendered.clone();
    all.extend(built.iter().cloned());
    let (ok, out) = check_k8s(&all);
    assert!(ok, "{out}");
    for name in &names {
        let find = |cms: &[&Value]| -> Value {
            (*cms
                .iter()
                .find(|c| c["metadata"]["name"] == name.as_str())
                .expect("configmap"))
            .clone()
        };
        let (c, d) = (find(&from_chart), find(&from_deploy));
        assert_eq!(c["data"], d["data"], "{name}");
        let files = shipped(&root().join("policies").join(name));
        assert_eq!(
            c["data"],
            json!(files),
            "{name}: ConfigMap data differs from policies/{name}"
        );
    }
}

/// What the chart ships loads in custody's own policy store exactly as the server's
/// ConfigMap watcher would feed it, and each ConfigMap is named like its policy.
#[test]
fn shipped_policy_configmaps_load_in_the_policy_store() {
    let names: Vec<String> = policy_dirs(&root().join("charts/custody/files/policies"))
        .into_keys()
        .collect();
    let chart = chart();
    let values = chart.values(&json!({"policies": {"library": names}}));
    let rendered: Vec<Value> = chart.objects(&values);
    let store = custody::policy::PolicyStore::new();
    for cm in of_kind(&rendered, "ConfigMap") {
        let name = cm["metadata"]["name"].as_str().expect("name");
        let files: BTreeMap<String, String> =
            serde_json::from_value(cm["data"].clone()).expect("string data");
        let key = format!("configmap:custody/{name}");
        store
            .upsert(&key, &files)
            .unwrap_or_else(|e| panic!("{name} does not load: {e}"));
        let snapshot = store.snapshot();
        let bundle = snapshot
            .bundles()
            .into_iter()
            .find(|b| b.files() == &files)
            .expect("loaded bundle");
        assert_eq!(bundle.name(), name, "ConfigMap and policy names differ");
    }
    assert_eq!(store.snapshot().len(), names.len());
}

/// `policies.settings` turns a library policy into the operator's: mode, attestors and
/// options merged into its policy.yaml, which still loads in the policy store.
#[test]
fn settings_merge_into_a_library_policy() {
    let name = "require-provenance";
    let chart = chart();
    if !chart
        .files
        .contains_key(&format!("files/policies/{name}/policy.yaml"))
    {
        panic!("the library lacks {name}: run scripts/sync-policies");
    }
    let pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE106rMpfu04QYSNOinq/2yM8J8e51\nXSE37ca4STBtINcIMYd6BSz/SSvPvo0yVpM6iPa8I2YLlkYJjSnbKn8ayA==\n-----END PUBLIC KEY-----\n";
    let settings = json!({
        "mode": "warn",
        "attestors": [{"name": "corp", "keys": [{"name": "corp-ci", "pem": pem}]}],
        "options": {"allowedSourceRepos": ["https://git.example.com/*"]}
    });
    let values =
        chart.values(&json!({"policies": {"library": [name], "settings": {name: settings}}}));
    let (ok, out) = check_values(&values);
    assert!(ok, "{out}");
    let rendered: Vec<Value> = chart.objects(&values);
    let cm = one(&rendered, "ConfigMap");
    let spec_text = cm["data"]["policy.yaml"].as_str().expect("policy.yaml");
    let spec: Value = yaml_serde::from_str(spec_text).expect("policy.yaml is YAML");
    let library: Value =
        yaml_serde::from_str(&chart.files[&format!("files/policies/{name}/policy.yaml")])
            .expect("library policy.yaml");
    assert_eq!(spec["mode"], "warn");
    assert_eq!(spec["attestors"][0]["name"], "corp");
    assert_eq!(spec["attestors"].as_array().expect("attestors").len(), 1);
    assert_eq!(
        spec["options"]["allowedSourceRepos"],
        json!(["https://git.example.com/*"])
    );
    // Untouched options and fields stay as the library has them.
    assert_eq!(
        spec["options"]["allowedBuilders"],
        library["options"]["allowedBuilders"]
    );
    assert_eq!(spec["predicateTypes"], library["predicateTypes"]);
    assert_eq!(spec["name"], library["name"]);
    let files: BTreeMap<String, String> = serde_json::from_value(cm["data"].clone()).expect("data");
    let store = custody::policy::PolicyStore::new();
    store
        .upsert("configmap:custody/require-provenance", &files)
        .unwrap_or_else(|e| panic!("the merged policy does not load: {e}"));
    let snapshot = store.snapshot();
    let bundle = snapshot.bundles().into_iter().next().expect("bundle");
    assert_eq!(bundle.mode().as_str(), "warn");

    // Settings for a policy that is not enabled change nothing; a misspelt one is refused.
    let values = chart.values(
        &json!({"policies": {"library": ["allowed-registries"], "settings": {name: {"mode": "warn"}}}}),
    );
    let rendered: Vec<Value> = chart.objects(&values);
    assert_eq!(
        inventory(
            &of_kind(&rendered, "ConfigMap")
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        ),
        ["ConfigMap/allowed-registries"]
    );
    let (ok, _) =
        check_values(&chart.values(&json!({"policies": {"settings": {name: {"mod": "warn"}}}})));
    assert!(!ok);
    let values = chart.values(&json!({"policies": {"library": [name],
        "settings": {name: {"options": {"allowedBuilder": []}}}}}));
    let err = chart.refusal(&values);
    assert!(
        err.contains("options.allowedBuilder: require-provenance has no such option"),
        "{err}"
    );
}

/// custody is not ready without a policy (and then, with failurePolicy Fail, blocks pod
/// creation), so an installation without one is refused; the default has one, in warn mode.
#[test]
fn an_installation_without_policies_is_refused() {
    let chart = chart();
    let defaults = render(json!({}));
    let cm = one(&defaults, "ConfigMap");
    assert_eq!(cm["metadata"]["name"], "require-provenance");
    let spec: Value =
        yaml_serde::from_str(cm["data"]["policy.yaml"].as_str().expect("policy.yaml"))
            .expect("YAML");
    assert_eq!(spec["mode"], "warn");
    let values = chart.values(&json!({"policies": {"library": []}}));
    let err = chart.refusal(&values);
    assert!(err.contains("custody needs at least one policy"), "{err}");
    // deploy/ ships the same default policy, in warn mode.
    let (_dir, built) = deploy_with_tls();
    let cms = of_kind(&built, "ConfigMap");
    assert_eq!(cms.len(), 1);
    let spec: Value =
        yaml_serde::from_str(cms[0]["data"]["policy.yaml"].as_str().expect("policy.yaml"))
            .expect("YAML");
    assert_eq!(spec["mode"], "warn");
}

/// The names `policies.settings` accepts are exactly the library's policies.
#[test]
fn settings_accept_exactly_the_library_names() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("charts/custody/values.schema.json")).expect("schema"),
    )
    .expect("JSON");
    let allowed: Vec<String> = schema
        .pointer("/properties/policies/properties/settings/propertyNames/enum")
        .and_then(Value::as_array)
        .expect("settings names")
        .iter()
        .map(|v| v.as_str().expect("name").to_string())
        .collect();
    let library: Vec<String> = policy_dirs(&root().join("policies")).into_keys().collect();
    assert_eq!(
        allowed, library,
        "update values.schema.json with the library's policy names"
    );
    let (ok, out) = check_values(
        &chart()
            .values(&json!({"policies": {"settings": {"require-provenence": {"mode": "warn"}}}})),
    );
    assert!(!ok && out.contains("require-provenence"), "{out}");
}
