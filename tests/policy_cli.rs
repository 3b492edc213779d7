//! `custody policy test|lint` over the shipped library and over broken bundles.

use std::path::Path;
use std::process::Command;

fn custody(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_custody"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn library() -> String {
    format!("{}/policies", env!("CARGO_MANIFEST_DIR"))
}

fn copy_bundle(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.path().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn the_library_passes_its_own_cases() {
    let (code, out) = custody(&["policy", "test", &library()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" passed, 0 failed"), "{out}");
}

#[test]
fn every_library_policy_has_cases_that_admit_and_deny() {
    let (code, out) = custody(&["policy", "lint", "--strict", &library()]);
    assert_eq!(code, 0, "{out}");
    for name in [
        "require-provenance",
        "require-sbom",
        "vulnerability-gate",
        "require-tests-passed",
        "require-promotion",
        "allowed-registries",
    ] {
        assert!(
            out.contains(&format!("ok    {name}")),
            "{name} missing: {out}"
        );
    }
}

#[test]
fn a_failing_case_prints_a_diff_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("allowed-registries");
    copy_bundle(&Path::new(&library()).join("allowed-registries"), &dir);
    std::fs::write(
        dir.join("tests.yaml"),
        "cases:\n  - name: wrongly expects an admit\n    input:\n      image: {registry: docker.io, repository: library/nginx}\n    deny: []\n  - name: expects a message that never comes\n    deny: [nope]\n",
    )
    .unwrap();
    let (code, out) = custody(&["policy", "test", tmp.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL allowed-registries: wrongly expects an admit"),
        "{out}"
    );
    assert!(
        out.contains("+ deny: image docker.io/library/nginx is not from an allowed registry"),
        "{out}"
    );
    assert!(out.contains("- deny: nope"), "{out}");
    assert!(out.contains("0 passed, 2 failed"), "{out}");
}

#[test]
fn a_bundle_that_does_not_compile_fails_test_and_lint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("require-sbom");
    copy_bundle(&Path::new(&library()).join("require-sbom"), &dir);
    std::fs::write(
        dir.join("sbom.rego"),
        "package custody.require_sbom\n\ndeny contains msg if {\n",
    )
    .unwrap();
    let (code, out) = custody(&["policy", "test", tmp.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("bundle does not load"), "{out}");
    let (code, out) = custody(&["policy", "lint", tmp.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("error require-sbom"), "{out}");
}

#[test]
fn a_missing_directory_is_unusable_input() {
    let (code, out) = custody(&["policy", "test", "/nonexistent/custody-policies"]);
    assert_eq!(code, 2, "{out}");
}
