//! The policy library as installed: the chart's and deploy/'s copies equal `policies/`,
//! and both turn a policy into the same labelled ConfigMap.

mod deploy_support;

use deploy_support::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The files of a policy directory that are shipped: policy.yaml, data.json, *.rego
/// except tests (*_test.rego); the same rule as scripts/sync-policies.
fn shipped(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("policy dir").flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let ships = name == "policy.yaml"
            || name == "data.json"
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
    for name in library.keys() {
        let component = root()
            .join("deploy/policies")
            .join(name)
            .join("kustomization.yaml");
        assert!(
            component.is_file(),
            "{} missing: run scripts/sync-policies",
            component.display()
        );
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
    let mut text = std::fs::read_to_string(&kustomization).expect("read");
    text.push_str("components:\n  - policies/demo\n");
    std::fs::write(&kustomization, text).expect("write");
    let from_deploy = kustomize(&deploy);
    let (ok, out) = check_k8s(&from_deploy);
    assert!(ok, "{out}");
    let deploy_cm = one(&from_deploy, "ConfigMap").clone();

    let mut chart = chart();
    for (name, content) in shipped(&chart_files.join("demo")) {
        chart
            .files
            .insert(format!("files/policies/demo/{name}"), content);
    }
    let values = chart.values(&json!({"policies": {"library": ["demo"]}}));
    let rendered: Vec<Value> = chart
        .render("custody", "custody", &values, &BTreeMap::new())
        .expect("render")
        .into_iter()
        .map(|(_, o)| o)
        .collect();
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
    let rendered: Vec<Value> = chart
        .render("custody", "custody", &values, &BTreeMap::new())
        .expect("render")
        .into_iter()
        .map(|(_, o)| o)
        .collect();
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
    let err = chart
        .render("custody", "custody", &values, &BTreeMap::new())
        .expect_err("a misspelt policy name must fail");
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
    let values = chart.values(&json!({"policies": {"library": names}}));
    let rendered: Vec<Value> = chart
        .render("custody", "custody", &values, &BTreeMap::new())
        .expect("render")
        .into_iter()
        .map(|(_, o)| o)
        .collect();
    let from_chart = of_kind(&rendered, "ConfigMap");
    assert_eq!(from_chart.len(), names.len());
    let (deploy_tmp, _) = deploy_with_tls();
    let deploy = deploy_tmp.path().join("deploy");
    let kustomization = deploy.join("kustomization.yaml");
    let mut text = std::fs::read_to_string(&kustomization).expect("read");
    if !names.is_empty() {
        text.push_str("components:\n");
        for name in &names {
            text.push_str(&format!("  - policies/{name}\n"));
        }
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
