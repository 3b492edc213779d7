//! The test-only Go template interpreter behaves like Go's text/template and Helm on the
//! constructs the chart uses (examples from the text/template and sprig documentation),
//! and refuses what it does not know.

use crate::support;
use serde_json::{Value, json};
use std::cell::Cell;
use std::collections::BTreeMap;
use support::deploy::chart::Chart;
use support::deploy::exec::Exec;
use support::deploy::gotmpl::parse;
use support::deploy::helm::Functions;

fn run(src: &str, data: Value) -> Result<String, String> {
    let mut defines = BTreeMap::new();
    let nodes = parse(src, &mut defines)?;
    let files = BTreeMap::from([
        ("files/p/a.rego".to_string(), "package a\n".to_string()),
        ("files/p/b/c.txt".to_string(), "nested".to_string()),
    ]);
    let existing = BTreeMap::new();
    let funcs = Functions {
        files: &files,
        existing: &existing,
        generated: Cell::new(0),
    };
    let exec = Exec {
        defines: &defines,
        funcs: &funcs,
    };
    exec.render(&nodes, &data)
}

fn ok(src: &str, data: Value) -> String {
    run(src, data).unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn trim_markers_and_comments() {
    assert_eq!(ok("{{23 -}} < {{- 45}}", json!({})), "23<45");
    assert_eq!(ok("a\n  {{- /* gone */ -}}\n  b", json!({})), "ab");
    assert_eq!(ok("a {{/* kept spaces */}} b", json!({})), "a  b");
}

#[test]
fn conditionals_and_truthiness() {
    let src = "{{ if .a }}A{{ else if .b }}B{{ else }}C{{ end }}";
    assert_eq!(ok(src, json!({"a": 1})), "A");
    assert_eq!(ok(src, json!({"a": 0, "b": "x"})), "B");
    assert_eq!(ok(src, json!({"a": [], "b": {}})), "C");
    assert_eq!(
        ok("{{ and 1 0 2 }} {{ or 0 \"\" 3 }} {{ not .x }}", json!({})),
        "0 3 true"
    );
    assert_eq!(
        ok(
            "{{ with .m }}{{ .k }}{{ else }}none{{ end }}",
            json!({"m": {"k": "v"}})
        ),
        "v"
    );
    assert_eq!(
        ok(
            "{{ with .m }}{{ .k }}{{ else }}none{{ end }}",
            json!({"m": {}})
        ),
        "none"
    );
}

#[test]
fn range_orders_maps_by_key_and_scopes_variables() {
    let data = json!({"m": {"b": 2, "a": 1, "c": 3}, "l": ["x", "y"]});
    assert_eq!(
        ok(
            "{{ range $k, $v := .m }}{{ $k }}={{ $v }};{{ end }}",
            data.clone()
        ),
        "a=1;b=2;c=3;"
    );
    assert_eq!(
        ok(
            "{{ range $i, $v := .l }}{{ $i }}{{ $v }}{{ end }}",
            data.clone()
        ),
        "0x1y"
    );
    assert_eq!(
        ok(
            "{{ range .l }}[{{ . }}]{{ else }}empty{{ end }}",
            json!({"l": []})
        ),
        "empty"
    );
    // Assignment reaches the outer variable; a declaration inside a block does not leak.
    assert_eq!(
        ok(
            "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}",
            json!({})
        ),
        "2"
    );
    let err = run("{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}", json!({})).expect_err("scope");
    assert!(err.contains("undefined variable $y"), "{err}");
    // `$` stays the root inside range.
    assert_eq!(
        ok(
            "{{ range .l }}{{ $.n }}{{ end }}",
            json!({"l": [1, 2], "n": "z"})
        ),
        "zz"
    );
}

#[test]
fn pipelines_functions_and_defines() {
    let src = r#"{{- define "t" -}}<{{ . }}>{{- end -}}{{ include "t" "a" | quote }} {{ printf "%s-%d-%q" "x" 3 "q\"" }}"#;
    assert_eq!(ok(src, json!({})), r#""<a>" x-3-"q\"""#);
    assert_eq!(
        ok(
            "{{ .v | default \"d\" }} {{ default \"d\" .w }}",
            json!({"v": "", "w": "w"})
        ),
        "d w"
    );
    assert_eq!(
        ok("{{ \"abcdef-\" | trunc 7 | trimSuffix \"-\" }}", json!({})),
        "abcdef"
    );
    assert_eq!(
        ok(
            "x:{{ toYaml .m | nindent 2 }}",
            json!({"m": {"b": [1], "a": "s"}})
        ),
        "x:\n  a: s\n  b:\n  - 1"
    );
}

#[test]
fn sprig_collections_and_files() {
    assert_eq!(
        ok(
            "{{ has 2 (list 1 2) }} {{ hasKey .m \"a\" }} {{ index .m \"a\" }}",
            json!({"m": {"a": 5}})
        ),
        "true true 5"
    );
    assert_eq!(
        ok("{{ join \",\" (append (list \"a\") \"b\") }}", json!({})),
        "a,b"
    );
    assert_eq!(
        ok(
            "{{ index (dict \"k\" \"v\") \"k\" }} {{ base \"x/y/z.rego\" }}",
            json!({})
        ),
        "v z.rego"
    );
    assert_eq!(
        ok(
            "{{ range $p, $_ := .Files.Glob \"files/p/*\" }}{{ $p }}{{ end }}",
            json!({})
        ),
        "files/p/a.rego"
    );
    assert_eq!(
        ok("{{ .Files.Get \"files/p/a.rego\" | quote }}", json!({})),
        "\"package a\\n\""
    );
    assert_eq!(ok("[{{ .Files.Get \"missing\" }}]", json!({})), "[]");
}

#[test]
fn unknown_constructs_and_nil_fields_are_errors() {
    for (src, needle) in [
        ("{{ .a.b }}", "cannot take field b"),
        ("{{ frobnicate 1 }}", "unsupported function frobnicate"),
        ("{{ template \"x\" }}", "unsupported action template"),
        ("{{ if true }}open", "if without end"),
        ("{{ .Files.Glob \"**/*.rego\" }}", "unsupported glob"),
        ("{{ fail \"stop here\" }}", "fail: stop here"),
        ("{{ .m }}", "refusing to print a collection"),
    ] {
        let err = run(src, json!({"a": null, "m": {"k": 1}})).expect_err(src);
        assert!(err.contains(needle), "{src}: {err}");
    }
}

#[test]
fn the_chart_parses_completely() {
    let chart = Chart::load(&support::deploy::root().join("charts/custody"));
    for name in [
        "custody.name",
        "custody.fullname",
        "custody.labels",
        "custody.webhookCommon",
        "custody.webhookRules",
        "custody.mutateKinds",
    ] {
        assert!(chart.defines.contains_key(name), "{name} not defined");
    }
    assert!(chart.templates.len() >= 10);
}
