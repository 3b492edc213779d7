//! `PolicyStore`: atomic swaps, and a broken bundle never replaces a working one, both
//! for a directory (including the watched path) and for ConfigMap-style file maps.

use custody::policy::PolicyStore;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

const RULES: &str = "package custody.demo\n\ndeny contains \"v1\" if input.image.tag == \"bad\"\n";
const RULES_V2: &str =
    "package custody.demo\n\ndeny contains \"v2\" if input.image.tag == \"bad\"\n";
const BROKEN: &str = "package custody.demo\n\ndeny contains msg if {\n";

fn spec(name: &str) -> String {
    format!("apiVersion: custody.dev/v1\nkind: Policy\nname: {name}\npackage: custody.demo\n")
}

fn files(name: &str, rego: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("policy.yaml".to_owned(), spec(name));
    m.insert("policy.rego".to_owned(), rego.to_owned());
    m
}

fn write_bundle(dir: &Path, name: &str, rego: &str) {
    std::fs::create_dir_all(dir).unwrap();
    for (f, text) in files(name, rego) {
        std::fs::write(dir.join(f), text).unwrap();
    }
}

fn deny_of(store: &PolicyStore, name: &str) -> Vec<String> {
    let snap = store.snapshot();
    let b = snap.get(name).expect("bundle present");
    let mut input = custody::policy::PolicyInput::empty(chrono::Utc::now());
    input.image.tag = Some("bad".into());
    b.evaluate(&custody::policy::to_rego_value(&input))
        .unwrap()
        .deny
}

#[test]
fn configmap_path_keeps_the_working_version() {
    let store = PolicyStore::new();
    assert!(
        store
            .upsert("configmap:custody/demo", &files("demo", RULES))
            .unwrap()
    );
    let before = store.snapshot();
    assert_eq!(deny_of(&store, "demo"), vec!["v1"]);

    let err = store
        .upsert("configmap:custody/demo", &files("demo", BROKEN))
        .unwrap_err();
    assert!(err.to_string().contains("policy.rego"), "{err}");
    assert_eq!(deny_of(&store, "demo"), vec!["v1"]);
    assert_eq!(store.failure_count(), 1);
    assert!(store.last_errors().contains_key("configmap:custody/demo"));
    // The snapshot a request holds is untouched by later swaps.
    assert!(
        store
            .upsert("configmap:custody/demo", &files("demo", RULES_V2))
            .unwrap()
    );
    assert_eq!(deny_of(&store, "demo"), vec!["v2"]);
    assert_eq!(
        before
            .get("demo")
            .unwrap()
            .evaluate(&custody::policy::to_rego_value(&{
                let mut i = custody::policy::PolicyInput::empty(chrono::Utc::now());
                i.image.tag = Some("bad".into());
                i
            }))
            .unwrap()
            .deny,
        vec!["v1"]
    );
    assert!(store.last_errors().is_empty());
    // Unchanged files are not recompiled.
    assert!(
        !store
            .upsert("configmap:custody/demo", &files("demo", RULES_V2))
            .unwrap()
    );
    // Duplicate names from another source are refused.
    assert!(
        store
            .upsert("configmap:custody/other", &files("demo", RULES))
            .is_err()
    );
    assert!(store.remove("configmap:custody/demo"));
    assert!(store.snapshot().is_empty());
}

#[test]
fn directory_reload_keeps_the_working_version_and_removes_deleted_bundles() {
    let tmp = tempfile::tempdir().unwrap();
    write_bundle(&tmp.path().join("demo"), "demo", RULES);
    write_bundle(&tmp.path().join("other"), "other", RULES);
    let store = PolicyStore::new();
    let report = store.load_dir(tmp.path()).unwrap();
    assert_eq!(report.loaded.len(), 2, "{report:?}");
    assert!(report.failed.is_empty());

    std::fs::write(tmp.path().join("demo/policy.rego"), BROKEN).unwrap();
    let report = store.load_dir(tmp.path()).unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(deny_of(&store, "demo"), vec!["v1"]);

    std::fs::write(tmp.path().join("demo/policy.rego"), RULES_V2).unwrap();
    std::fs::remove_dir_all(tmp.path().join("other")).unwrap();
    let report = store.load_dir(tmp.path()).unwrap();
    assert_eq!(report.loaded, vec!["demo".to_string()]);
    assert_eq!(report.removed.len(), 1);
    assert_eq!(deny_of(&store, "demo"), vec!["v2"]);
    assert!(store.snapshot().get("other").is_none());
}

fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_watched_directory_reloads_and_survives_a_broken_edit() {
    let tmp = tempfile::tempdir().unwrap();
    write_bundle(&tmp.path().join("demo"), "demo", RULES);
    let store = PolicyStore::new();
    let _watch = custody::policy::watch::watch_dir(store.clone(), tmp.path()).unwrap();
    assert_eq!(deny_of(&store, "demo"), vec!["v1"]);

    std::fs::write(tmp.path().join("demo/policy.rego"), BROKEN).unwrap();
    wait_for("the failure to be recorded", || store.failure_count() > 0);
    assert_eq!(deny_of(&store, "demo"), vec!["v1"]);

    std::fs::write(tmp.path().join("demo/policy.rego"), RULES_V2).unwrap();
    wait_for("v2", || deny_of(&store, "demo") == vec!["v2"]);
}
