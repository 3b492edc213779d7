//! `custody policy test` as `opa test` and `kyverno test` users expect it: Rego `test_*`
//! rules of `*_test.rego` files beside the YAML cases, `--run`, `-o json|junit`,
//! `--fail-only`, exit codes 0/1/2, and regorus diagnostics with their caret line. The
//! library's Rego tests are also run by OPA 1.x (tests/interop/opa/rego_tests.py) and
//! must pass or fail there alike.

use crate::support;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use support::cli;

const POLICY: &str =
    "package custody.p\n\ndeny contains \"bad image\" if input.image.repository == \"bad\"\n";

/// Allow and deny paths that pass, one false, one undefined, one evaluation error.
const TESTS: &str = r#"package custody.p_test

import data.custody.p

test_admits_a_good_image if count(p.deny) == 0 with input as {"image": {"repository": "good"}}

test_denies_a_bad_image if p.deny == {"bad image"} with input as {"image": {"repository": "bad"}}

test_false_fails := false

test_undefined_fails if input.nothing

test_divides_by_zero if 1 / 0 == 1
"#;

const CASES: &str = "cases:\n  - name: case admits good\n    input: {image: {repository: good}}\n    deny: []\n  - name: case denies bad\n    input: {image: {repository: bad}}\n    deny: [bad image]\n";

/// A directory with bundle `p`: POLICY, `p_test.rego` = `tests` and, if given, tests.yaml.
fn bundle(tests: &str, cases: Option<&str>) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("policy.yaml"),
        "apiVersion: custody.dev/v1\nkind: Policy\nname: p\ndescription: d\n",
    )
    .unwrap();
    std::fs::write(dir.join("p.rego"), POLICY).unwrap();
    std::fs::write(dir.join("p_test.rego"), tests).unwrap();
    if let Some(c) = cases {
        std::fs::write(dir.join("tests.yaml"), c).unwrap();
    }
    tmp
}

fn test_cmd(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["policy", "test", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    cli::run(&args)
}

/// `-o json` results as name -> status.
fn statuses(json: &str) -> BTreeMap<String, String> {
    let doc: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn rego_tests_pass_fail_and_err_like_opa_test() {
    let tmp = bundle(TESTS, None);
    let (code, out, err) = test_cmd(tmp.path(), &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        !out.contains("test_admits_a_good_image"),
        "passes are not listed: {out}"
    );
    assert!(
        out.contains(
            "FAIL p: data.custody.p_test.test_false_fails\n      evaluated to false, not true"
        ),
        "{out}"
    );
    assert!(out.contains("FAIL p: data.custody.p_test.test_undefined_fails\n      evaluated to undefined, not true"), "{out}");
    assert!(
        out.contains("ERROR p: data.custody.p_test.test_divides_by_zero"),
        "{out}"
    );
    assert!(out.ends_with("PASS: 2/5\nFAIL: 2/5\nERROR: 1/5\n"), "{out}");
    // -v lists the passing ones too.
    let (_, out, _) = test_cmd(tmp.path(), &["-v"]);
    assert!(
        out.contains("ok   p: data.custody.p_test.test_denies_a_bad_image"),
        "{out}"
    );
    // Only passing tests selected: exit 0.
    let (code, out, err) = test_cmd(tmp.path(), &["--run", "admits|denies"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, "PASS: 2/2\n");
}

#[test]
fn run_filters_rego_tests_and_cases_alike() {
    let tmp = bundle(TESTS, Some(CASES));
    let (code, out, err) = test_cmd(tmp.path(), &["--run", "good", "-o", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let got = statuses(&out);
    let want: BTreeMap<String, String> = [
        ("data.custody.p_test.test_admits_a_good_image", "pass"),
        ("case admits good", "pass"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(got, want);
    // Anchored on the full Rego name, as `opa test --run` is used.
    let (code, out, _) = test_cmd(
        tmp.path(),
        &["--run", r"^data\.custody\.p_test\.test_den", "-o", "json"],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(statuses(&out).len(), 1, "{out}");
    // Nothing selected, or an invalid expression: unusable input.
    let (code, _, err) = test_cmd(tmp.path(), &["--run", "no-such-test"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no test matches"), "{err}");
    let (code, _, err) = test_cmd(tmp.path(), &["--run", "(unclosed"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn json_output_has_every_result_and_a_summary() {
    let tmp = bundle(TESTS, Some(CASES));
    let (code, out, err) = test_cmd(tmp.path(), &["-o", "json"]);
    assert_eq!(code, 1, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["summary"],
        serde_json::json!({"total": 7, "passed": 4, "failed": 2, "errors": 1})
    );
    let got = statuses(&out);
    assert_eq!(got["data.custody.p_test.test_divides_by_zero"], "error");
    assert_eq!(got["data.custody.p_test.test_undefined_fails"], "fail");
    assert_eq!(got["case denies bad"], "pass");
    let error = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"] == "error")
        .unwrap();
    assert_eq!(error["kind"], "rego");
    assert_eq!(error["file"], "p_test.rego");
    assert!(
        error["messages"][0]
            .as_str()
            .unwrap()
            .contains("divide by zero"),
        "{error}"
    );
    // --fail-only keeps the summary, drops the passes.
    let (_, out, _) = test_cmd(tmp.path(), &["-o", "json", "--fail-only"]);
    let got = statuses(&out);
    assert_eq!(got.len(), 3, "{out}");
    assert!(got.values().all(|s| s != "pass"), "{out}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["summary"]["total"], 7);
}

/// Parses JUnit XML with Python's xml.etree and returns, per testcase,
/// `name<TAB>failure|error|pass<TAB>message`, after a first line of testsuites counts.
fn junit_summary(xml: &str) -> Vec<String> {
    let script = r#"
import sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
assert root.tag == "testsuites", root.tag
print(root.get("tests"), root.get("failures"), root.get("errors"))
for suite in root.findall("testsuite"):
    for case in suite.findall("testcase"):
        kind = "pass"
        msg = ""
        for k in ("failure", "error"):
            e = case.find(k)
            if e is not None:
                kind, msg = k, e.get("message")
        print(suite.get("name") + "/" + case.get("name"), kind, msg, sep="\t")
"#;
    let out = support::python::python3(&["-c", script], xml.as_bytes(), "scripts/setup");
    assert!(out.status.success(), "not JUnit XML: {xml}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn junit_output_is_xml_ci_systems_read() {
    let tmp = bundle(TESTS, Some(CASES));
    let (code, out, err) = test_cmd(tmp.path(), &["-o", "junit"]);
    assert_eq!(code, 1, "{err}");
    let lines = junit_summary(&out);
    assert_eq!(lines[0], "7 2 1", "{out}");
    assert!(
        lines.contains(&"p/data.custody.p_test.test_admits_a_good_image\tpass\t".to_owned()),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&"p/case denies bad\tpass\t".to_owned()),
        "{lines:#?}"
    );
    assert!(
        lines.contains(
            &"p/data.custody.p_test.test_false_fails\tfailure\tevaluated to false, not true"
                .to_owned()
        ),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("p/data.custody.p_test.test_divides_by_zero\terror\t")),
        "{lines:#?}"
    );
    // --fail-only: only the failing and erring test cases.
    let (_, out, _) = test_cmd(tmp.path(), &["-o", "junit", "--fail-only"]);
    let lines = junit_summary(&out);
    assert_eq!(lines[0], "3 2 1", "{out}");
    assert_eq!(lines.len(), 4, "{lines:#?}");
}

#[test]
fn fail_only_text_prints_failures_and_the_summary() {
    let tmp = bundle(TESTS, Some(CASES));
    let (code, out, _) = test_cmd(tmp.path(), &["-v", "--fail-only"]);
    assert_eq!(code, 1);
    assert!(!out.contains("ok "), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("FAIL p:")).count(),
        2,
        "{out}"
    );
    assert!(out.ends_with("PASS: 4/7\nFAIL: 2/7\nERROR: 1/7\n"), "{out}");
}

/// Checks that the diagnostic in `out` names `file:line:col` on its `-->` line and puts
/// its caret under that column of the quoted source line (which contains `source`).
fn caret_under(out: &str, file: &str, line: usize, source: &str) {
    let lines: Vec<&str> = out.lines().collect();
    let arrow = format!("--> {file}:{line}:");
    let at = lines
        .iter()
        .position(|l| l.contains(&arrow))
        .unwrap_or_else(|| panic!("no {arrow:?}: {out}"));
    let col: usize = lines[at]
        .rsplit(':')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let i = (at..lines.len())
        .find(|&i| lines[i].contains(source))
        .unwrap_or_else(|| panic!("no line with {source:?}: {out}"));
    let (src, caret) = (lines[i], lines[i + 1]);
    let start = src.find(source).unwrap() - source.find(source.trim_start()).unwrap();
    let start = src[..start].rfind("| ").map(|p| p + 2).unwrap_or(start);
    assert_eq!(
        caret.find('^'),
        Some(start + col - 1),
        "caret not under column {col}:\n{src}\n{caret}"
    );
}

#[test]
fn a_rego_error_is_printed_with_its_line_breaks_and_caret() {
    // A test file that does not parse: test and lint both say where, with a caret.
    let tmp = bundle(
        "package custody.p_test\n\ntest_x if {\n\tx := 1 +\n\ty := 2\n}\n",
        None,
    );
    let (code, out, err) = test_cmd(tmp.path(), &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("ERROR p: p_test.rego\n"), "{out}");
    caret_under(&out, "p_test.rego", 5, "y := 2");
    assert!(out.contains("PASS: 0/1\nERROR: 1/1"), "{out}");
    let (code, out, _) = cli::run(&["policy", "lint", tmp.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("error p: p_test.rego:\n--> p_test.rego:5:"),
        "{out}"
    );
    caret_under(&out, "p_test.rego", 5, "y := 2");
    // The policy's own module: the same, never flattened onto one line.
    let tmp = bundle(TESTS, None);
    std::fs::write(
        tmp.path().join("p/p.rego"),
        "package custody.p\n\ndeny contains msg if {\n  msg := concat(\",\" [])\n}\n",
    )
    .unwrap();
    let (code, out, _) = cli::run(&["policy", "lint", tmp.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("p.rego:\n--> p.rego:4:"), "flattened: {out}");
    assert!(out.contains("--> p.rego:4:"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with('|') && l.trim_end().ends_with('^')),
        "{out}"
    );
    // An evaluation error inside a test: its location and caret too.
    let tmp = bundle(TESTS, None);
    let (_, out, _) = test_cmd(tmp.path(), &["--run", "divides"]);
    caret_under(
        &out,
        "p_test.rego",
        13,
        "test_divides_by_zero if 1 / 0 == 1",
    );
}

#[test]
fn the_library_rego_tests_pass_and_opa_agrees_on_each() {
    let library = support::fixtures::library();
    let (code, out, err) = cli::run(&["policy", "test", library.to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let script = support::fixtures::root().join("tests/interop/opa/rego_tests.py");
    let mut compared = 0;
    for entry in std::fs::read_dir(&library).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.join("policy.yaml").is_file() {
            continue;
        }
        let name = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let ours: BTreeMap<String, String> = doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["bundle"] == name.as_str() && r["kind"] == "rego")
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_owned(),
                    r["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert!(
            ours.len() >= 3,
            "{name} has fewer than 3 Rego tests: {ours:?}"
        );
        assert!(
            ours.keys().any(|t| t.contains("admits")),
            "{name}: no allow-path test"
        );
        assert!(
            ours.keys().any(|t| t.contains("denies")),
            "{name}: no deny-path test"
        );
        let opa = Command::new("python3")
            .arg(&script)
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            opa.status.success(),
            "OPA (pip opa-golib-python-bindings, scripts/setup) did not run: {}",
            String::from_utf8_lossy(&opa.stderr)
        );
        let theirs: BTreeMap<String, String> = serde_json::from_slice(&opa.stdout).unwrap();
        assert_eq!(ours, theirs, "{name}: custody and OPA disagree");
        compared += ours.len();
    }
    assert!(compared >= 30, "{compared}");
}
