//! `custody policy test|lint` over the shipped library and over broken bundles.

use crate::support;
use std::path::Path;
use support::cli;

fn custody(args: &[&str]) -> (i32, String) {
    let out = cli::custody(args);
    (cli::code(&out), cli::text(&out))
}

fn library() -> String {
    support::fixtures::library().display().to_string()
}

#[test]
fn the_library_passes_its_own_cases() {
    let (code, out) = custody(&["policy", "test", &library()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("PASS: ") && !out.contains("FAIL"), "{out}");
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
    support::fixtures::copy_files(&Path::new(&library()).join("allowed-registries"), &dir);
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
    // The bundle's Rego tests still pass; its two cases fail.
    assert!(out.ends_with("FAIL: 2/8\n"), "{out}");
}

#[test]
fn a_bundle_that_does_not_compile_fails_test_and_lint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("require-sbom");
    support::fixtures::copy_files(&Path::new(&library()).join("require-sbom"), &dir);
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

/// A bundle of `rego` (package `custody.p`) with no cases, in a fresh directory.
fn bundle_with(rego: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("policy.yaml"),
        "apiVersion: custody.dev/v1\nkind: Policy\nname: p\n",
    )
    .unwrap();
    std::fs::write(dir.join("p.rego"), rego).unwrap();
    tmp
}

#[test]
fn rego_as_people_write_it_lints_or_is_refused_with_what_to_write() {
    // OPA v0 style, detected: compiles, and its deny is a set of messages.
    let v0 = bundle_with(
        "package custody.p\n\nimport future.keywords.if\n\ndeny[msg] if {\n\tinput.image.digest == \"x\"\n\tmsg := \"x\"\n}\n",
    );
    let (code, out) = custody(&["policy", "lint", v0.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    // The same head in a module with nothing that marks it v0 is an object: refused.
    let object = bundle_with("package custody.p\n\ndeny[msg] if {\n\tmsg := input.x\n}\n");
    let (code, out) = custody(&["policy", "lint", object.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("deny contains msg if"), "{out}");
    // Data that would shadow the package's rules: refused.
    let shadow = bundle_with("package custody.p\n\ndeny contains \"always\" if true\n");
    std::fs::write(
        shadow.path().join("p/data.json"),
        r#"{"custody": {"p": {"deny": []}}}"#,
    )
    .unwrap();
    let (code, out) = custody(&["policy", "lint", shadow.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("data.custody.p"), "{out}");
}

#[test]
fn a_policy_that_outgrows_the_memory_ceiling_is_a_broken_bundle() {
    // ~100 MiB of strings built while warming, under a 48 MiB ceiling: stopped, and the
    // bundle is refused instead of the process growing until it is killed.
    let pad = "x".repeat(1000);
    let hungry = bundle_with(&format!(
        "package custody.p\n\npad := \"{pad}\"\n\nbig := [s | some i in numbers.range(1, 100000); s := sprintf(\"%v%s\", [i, pad])]\n\ndeny contains \"too many\" if count(big) > 1\n"
    ));
    // A generous time limit, so that the memory ceiling is what stops it.
    std::fs::write(
        hungry.path().join("p/policy.yaml"),
        "apiVersion: custody.dev/v1\nkind: Policy\nname: p\nevaluationTimeout: 60s\n",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let (code, out) = custody(&[
        "--policy-memory-limit",
        "48MiB",
        "policy",
        "lint",
        hungry.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.to_lowercase().contains("memory"), "{out}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    // A huge numbers.range from the input is an evaluation error, never an abort.
    let range = bundle_with(
        "package custody.p\n\ndeny contains \"n\" if count(numbers.range(1, 1000000000000)) > 0\n",
    );
    let (code, out) = custody(&["policy", "lint", range.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("more than custody allows"), "{out}");
}
