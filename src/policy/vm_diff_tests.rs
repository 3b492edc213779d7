//! The differential run and the `engine: vm` opt-in.

use super::*;
use crate::policy::bundle::BundleError;
use crate::policy::store::PolicyStore;
use std::collections::BTreeMap;

fn files(engine: Option<&str>, rego: &str, tests: &str) -> BTreeMap<String, String> {
    let mut spec = "apiVersion: custody.dev/v1\nkind: Policy\nname: t\n".to_owned();
    if let Some(e) = engine {
        spec.push_str(&format!("engine: {e}\n"));
    }
    BTreeMap::from([
        ("policy.yaml".to_owned(), spec),
        ("t.rego".to_owned(), rego.to_owned()),
        ("tests.yaml".to_owned(), tests.to_owned()),
    ])
}

/// A policy both engines evaluate alike.
const CLEAN: &str = "package custody.t\n\ndeny contains sprintf(\"tag %s is not pinned\", [input.image.tag]) if {\n\tis_string(input.image.tag)\n\tnot startswith(input.image.tag, \"v\")\n}\n";
const CLEAN_TESTS: &str = "cases:\n- name: pinned\n  input: {image: {tag: v1}}\n- name: unpinned\n  input: {image: {tag: latest}}\n  deny: [tag latest is not pinned]\n";

/// A builtin given the wrong type: the interpreter fails (and so denies), the VM treats
/// the call as undefined (and here admits). The library's `allowed-registries` and
/// others disagree this way on variants with a null field.
const DISAGREES: &str =
    "package custody.t\n\ndeny contains \"unpinned\" if not startswith(input.image.tag, \"v\")\n";
const DISAGREES_TESTS: &str =
    "cases:\n- name: no tag\n  input: {image: {tag: null}}\n  deny: [unpinned]\n";

#[test]
fn a_clean_bundle_runs_on_the_vm_when_it_asks() {
    let b = Bundle::from_files("t", &files(Some("vm"), CLEAN, CLEAN_TESTS)).unwrap();
    assert!(b.on_vm());
    let report = diff_bundle(&b, None, 100).unwrap();
    assert!(report.clean(), "{:?}", report.disagreements);
    assert_eq!(report.cases, 3, "example input and two cases");
    assert_eq!(report.evaluations, 3 * 101);
    let input = |tag: &str| {
        let mut doc: serde_json::Value = serde_json::from_str(EXAMPLE_INPUT).unwrap();
        doc["image"]["tag"] = serde_json::json!(tag);
        regorus::Value::from(doc)
    };
    assert_eq!(
        b.evaluate(&input("latest")).unwrap().deny,
        vec!["tag latest is not pinned"]
    );
    assert!(b.evaluate(&input("v2")).unwrap().deny.is_empty());
}

#[test]
fn the_interpreter_stays_the_default() {
    let b = Bundle::from_files("t", &files(None, CLEAN, CLEAN_TESTS)).unwrap();
    assert!(!b.on_vm());
    let b = Bundle::from_files("t", &files(Some("interpreter"), CLEAN, CLEAN_TESTS)).unwrap();
    assert!(!b.on_vm());
}

#[test]
fn a_disagreement_is_reported_and_refuses_the_vm() {
    let interpreted = Bundle::from_files("t", &files(None, DISAGREES, DISAGREES_TESTS)).unwrap();
    let report = diff_bundle(&interpreted, None, 0).unwrap();
    let d = report
        .disagreements
        .iter()
        .find(|d| d.case == "no tag")
        .unwrap_or_else(|| panic!("{:?}", report.disagreements));
    assert_eq!(d.variant, None);
    assert!(
        d.interpreter.starts_with("error: ") && d.interpreter.contains("startswith"),
        "{d}"
    );
    assert_eq!(d.vm, "deny [\"unpinned\"] warn []");
    let err = Bundle::from_files("t", &files(Some("vm"), DISAGREES, DISAGREES_TESTS))
        .expect_err("refused");
    assert!(matches!(err, BundleError::Vm { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("engine: vm refused"), "{text}");
    assert!(text.contains("case \"no tag\""), "{text}");
}

#[test]
fn a_disagreement_found_only_by_a_variant_refuses_the_vm() {
    // The interpreter fails on `concat` over a null (and so denies); the VM treats the
    // call as undefined and admits. No held-in case has a null there; variants do.
    let rego = "package custody.t\n\nfields := [input.apiVersion, input.kind, input.evaluation.policy, input.evaluation.mode, input.evaluation.time, input.image.reference, input.image.registry, input.image.repository]\n\ndeny contains \"odd\" if startswith(concat(\"\", fields), \"zzz\")\n";
    let tests = "cases:\n- name: pinned\n  input: {image: {tag: v1}}\n";
    let interpreted = Bundle::from_files("t", &files(None, rego, tests)).unwrap();
    let report = diff_bundle(&interpreted, None, LOAD_VARIANTS).unwrap();
    assert!(!report.clean());
    assert!(
        report.disagreements.iter().all(|d| d.variant.is_some()),
        "{:?}",
        report.disagreements
    );
    let err = Bundle::from_files("t", &files(Some("vm"), rego, tests)).expect_err("refused");
    assert!(err.to_string().contains("variant"), "{err}");
}

#[test]
fn a_bundle_the_vm_cannot_run_is_refused_and_says_why() {
    let rego = "package custody.t\n\ndeny contains \"too many\" if {\n\tinput.image.tag == \"many\"\n\tcount(numbers.range(1, 5)) > 3\n}\n";
    let interpreted = Bundle::from_files("t", &files(None, rego, CLEAN_TESTS)).unwrap();
    let err = diff_bundle(&interpreted, None, 1).expect_err("unusable");
    assert_eq!(
        err,
        VmError::Extension {
            file: "t.rego".into(),
            builtin: "numbers.range".into()
        }
    );
    let err = Bundle::from_files("t", &files(Some("vm"), rego, CLEAN_TESTS)).expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("calls numbers.range") && text.contains("ignores engine extensions"),
        "{text}"
    );
}

#[test]
fn a_refused_bundle_is_not_loaded_like_any_broken_bundle() {
    let root = tempfile::tempdir().unwrap();
    for (name, rego, tests) in [
        ("ok", CLEAN, CLEAN_TESTS),
        ("bad", DISAGREES, DISAGREES_TESTS),
    ] {
        let dir = root.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        for (file, text) in files(Some("vm"), rego, tests) {
            let text = text
                .replace("name: t", &format!("name: {name}"))
                .replace("package custody.t", &format!("package custody.{name}"));
            std::fs::write(dir.join(file), text).unwrap();
        }
    }
    let store = PolicyStore::new();
    let report = store.load_dir(root.path()).unwrap();
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    assert!(
        report.failed[0]
            .1
            .to_string()
            .contains("engine: vm refused")
    );
    let snapshot = store.snapshot();
    assert!(snapshot.get("ok").is_some_and(Bundle::on_vm));
    assert!(snapshot.get("bad").is_none());
    assert_eq!(store.broken_at_startup().len(), 1);
}
