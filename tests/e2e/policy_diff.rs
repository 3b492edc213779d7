//! `custody policy diff`: the interpreter against the regorus VM, through the binary.

use crate::support;
use std::path::Path;
use support::cli;

fn custody(args: &[&str]) -> (i32, String) {
    let out = cli::custody(args);
    (cli::code(&out), cli::text(&out))
}

fn bundle(root: &Path, name: &str, rego: &str, tests: &str) -> String {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("policy.yaml"),
        format!("apiVersion: custody.dev/v1\nkind: Policy\nname: {name}\npackage: custody.t\n"),
    )
    .unwrap();
    std::fs::write(dir.join("t.rego"), rego).unwrap();
    std::fs::write(dir.join("tests.yaml"), tests).unwrap();
    dir.display().to_string()
}

const CLEAN: &str = "package custody.t\n\ndeny contains sprintf(\"tag %s is not pinned\", [input.image.tag]) if {\n\tis_string(input.image.tag)\n\tnot startswith(input.image.tag, \"v\")\n}\n";
const CLEAN_TESTS: &str = "cases:\n- name: unpinned\n  input: {image: {tag: latest}}\n  deny: [tag latest is not pinned]\n";

#[test]
fn a_clean_bundle_exits_0_and_counts_its_evaluations() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = bundle(tmp.path(), "clean", CLEAN, CLEAN_TESTS);
    let (code, out) = custody(&["policy", "diff", &dir, "--variants", "40", "--time"]);
    assert_eq!(code, 0, "{out}");
    // Two held-in cases (the example input and one tests.yaml case), 41 inputs each.
    assert!(
        out.contains("clean: clean (2 cases, 82 evaluations) [interpreter "),
        "{out}"
    );
    assert!(out.contains("vm/interpreter "), "{out}");
}

#[test]
fn a_disagreement_exits_1_and_names_case_variant_and_both_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let rego = "package custody.t\n\ndeny contains \"unpinned\" if not startswith(input.image.tag, \"v\")\n";
    let tests = "cases:\n- name: no tag\n  input: {image: {tag: null}}\n  deny: [unpinned]\n";
    let dir = bundle(tmp.path(), "differs", rego, tests);
    let (code, out) = custody(&["policy", "diff", &dir, "--variants", "3"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("differs: "), "{out}");
    assert!(
        out.contains("disagreement(s) in 8 evaluations (2 cases)"),
        "{out}"
    );
    assert!(
        out.contains("case \"no tag\": interpreter error: ")
            && out.contains("| vm deny [\"unpinned\"] warn []"),
        "{out}"
    );
    assert!(out.contains("case \"no tag\" variant "), "{out}");
    // The opt-in is refused for the same reason when the bundle loads.
    std::fs::write(
        Path::new(&dir).join("policy.yaml"),
        "apiVersion: custody.dev/v1\nkind: Policy\nname: differs\npackage: custody.t\nengine: vm\n",
    )
    .unwrap();
    let (code, out) = custody(&["policy", "lint", &dir]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("engine: vm refused: the interpreter and the VM disagree"),
        "{out}"
    );
    // The tool itself still compares a bundle that asks for the VM.
    let (code, out) = custody(&["policy", "diff", &dir, "--variants", "0"]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn a_bundle_the_vm_cannot_run_exits_2_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let rego = "package custody.t\n\ndeny contains \"many\" if {\n\tinput.image.tag == \"many\"\n\tcount(numbers.range(1, 5)) > 3\n}\n";
    bundle(tmp.path(), "ranges", rego, CLEAN_TESTS);
    bundle(tmp.path(), "clean", CLEAN, CLEAN_TESTS);
    let root = tmp.path().display().to_string();
    let (code, out) = custody(&["policy", "diff", &root, "--variants", "2"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("clean: clean (2 cases, 6 evaluations)"),
        "{out}"
    );
    assert!(
        out.contains("ranges: unusable: t.rego calls numbers.range, which custody replaces")
            && out.contains("ignores engine extensions"),
        "{out}"
    );
}
