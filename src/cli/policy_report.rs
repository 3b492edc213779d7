//! What `custody policy test` prints: one record per test (Rego `test_*` rule or
//! `tests.yaml` case) or per bundle that could not be tested, as text, JSON or JUnit XML.

use serde::Serialize;
use std::fmt::Write as _;
use std::time::Duration;

/// The output format of `custody policy test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Lines for people, then `PASS: n/m` as `opa test` prints it.
    Text,
    /// One JSON document: a summary and every result.
    Json,
    /// JUnit XML (`testsuites`/`testsuite`/`testcase`/`failure`/`error`), one suite per bundle.
    Junit,
}

/// What kind of thing a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A Rego `test_*` rule in a `*_test.rego` file.
    Rego,
    /// A case of `tests.yaml`.
    Case,
    /// The bundle itself (it does not load, or its tests do not compile).
    Bundle,
}

/// How a test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Passed.
    Pass,
    /// Ran and did not give what was expected.
    Fail,
    /// Could not run to an answer.
    Error,
}

/// One result.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// The bundle directory's name.
    pub bundle: String,
    /// What was run.
    pub kind: Kind,
    /// The file that holds it.
    pub file: String,
    /// `data.<package>.test_x`, the case's name, or the file that did not load.
    pub name: String,
    /// How it ended.
    pub status: Status,
    /// Why it failed or errored (each may span lines).
    pub messages: Vec<String>,
    /// How long it ran, in milliseconds.
    #[serde(rename = "durationMs")]
    pub duration_ms: f64,
}

impl Record {
    /// A record that ran for `took`.
    pub fn new(bundle: &str, kind: Kind, file: &str, name: &str, took: Duration) -> Record {
        Record {
            bundle: bundle.to_owned(),
            kind,
            file: file.to_owned(),
            name: name.to_owned(),
            status: Status::Pass,
            messages: Vec::new(),
            duration_ms: took.as_secs_f64() * 1000.0,
        }
    }

    /// The record with `status` and `messages`.
    pub fn with(mut self, status: Status, messages: Vec<String>) -> Record {
        self.status = status;
        self.messages = messages;
        self
    }
}

/// Counts over all records.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    /// Records.
    pub total: usize,
    /// Passed.
    pub passed: usize,
    /// Failed.
    pub failed: usize,
    /// Errored.
    pub errors: usize,
}

impl Summary {
    /// Counts `records`.
    pub fn of<'a>(records: impl IntoIterator<Item = &'a Record>) -> Summary {
        let records: Vec<&Record> = records.into_iter().collect();
        let count = |s: Status| records.iter().filter(|r| r.status == s).count();
        Summary {
            total: records.len(),
            passed: count(Status::Pass),
            failed: count(Status::Fail),
            errors: count(Status::Error),
        }
    }
}

/// Renders `records` in `format`; with `fail_only` passing ones are left out (the
/// summary still counts them), and text lists passing ones only when `verbose`.
pub fn render(records: &[Record], format: Format, fail_only: bool, verbose: bool) -> String {
    let summary = Summary::of(records);
    let shown: Vec<&Record> = records
        .iter()
        .filter(|r| r.status != Status::Pass || !fail_only)
        .collect();
    match format {
        Format::Text => text(&shown, summary, verbose && !fail_only),
        Format::Json => {
            let doc = serde_json::json!({ "summary": summary, "results": shown });
            format!("{doc:#}\n")
        }
        // The counts of a JUnit document are those of the test cases it holds.
        Format::Junit => junit(&shown, Summary::of(shown.iter().copied())),
    }
}

fn text(records: &[&Record], s: Summary, verbose: bool) -> String {
    let mut out = String::new();
    for r in records {
        let tag = match r.status {
            Status::Pass if !verbose => continue,
            Status::Pass => "ok  ",
            Status::Fail => "FAIL",
            Status::Error => "ERROR",
        };
        let _ = writeln!(out, "{tag} {}: {}", r.bundle, r.name);
        for m in &r.messages {
            for line in m.lines() {
                let _ = writeln!(out, "      {line}");
            }
        }
    }
    let _ = writeln!(out, "PASS: {}/{}", s.passed, s.total);
    if s.failed > 0 {
        let _ = writeln!(out, "FAIL: {}/{}", s.failed, s.total);
    }
    if s.errors > 0 {
        let _ = writeln!(out, "ERROR: {}/{}", s.errors, s.total);
    }
    out
}

/// Escapes text for an XML attribute or element.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 allows no other control characters.
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn seconds(ms: f64) -> String {
    format!("{:.3}", ms / 1000.0)
}

fn junit(records: &[&Record], s: Summary) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let total_ms: f64 = records.iter().map(|r| r.duration_ms).sum();
    let _ = writeln!(
        out,
        "<testsuites name=\"custody policy test\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{}\">",
        s.total,
        s.failed,
        s.errors,
        seconds(total_ms)
    );
    let mut bundles: Vec<&str> = records.iter().map(|r| r.bundle.as_str()).collect();
    bundles.dedup();
    for bundle in bundles {
        let mine: Vec<&&Record> = records.iter().filter(|r| r.bundle == bundle).collect();
        let n = |st: Status| mine.iter().filter(|r| r.status == st).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{}\">",
            xml(bundle),
            mine.len(),
            n(Status::Fail),
            n(Status::Error),
            seconds(mine.iter().map(|r| r.duration_ms).sum())
        );
        for r in mine {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" time=\"{}\"",
                xml(&format!("{}.{}", r.bundle, r.file)),
                xml(&r.name),
                xml(&r.file),
                seconds(r.duration_ms)
            );
            let element = match r.status {
                Status::Pass => {
                    out.push_str("/>\n");
                    continue;
                }
                Status::Fail => "failure",
                Status::Error => "error",
            };
            let body = r.messages.join("\n");
            let first = r
                .messages
                .first()
                .and_then(|m| m.lines().next())
                .unwrap_or(element);
            let _ = writeln!(
                out,
                ">\n      <{element} message=\"{}\" type=\"{element}\">{}</{element}>\n    </testcase>",
                xml(first),
                xml(&body)
            );
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records() -> Vec<Record> {
        vec![
            Record::new(
                "b",
                Kind::Rego,
                "b_test.rego",
                "data.b.test_ok",
                Duration::ZERO,
            ),
            Record::new(
                "b",
                Kind::Case,
                "tests.yaml",
                "a <case> & \"more\"",
                Duration::ZERO,
            )
            .with(Status::Fail, vec!["- deny: x\n+ deny: y".to_owned()]),
        ]
    }

    #[test]
    fn text_has_opa_summary_lines() {
        let out = render(&records(), Format::Text, false, false);
        assert!(out.contains("FAIL b: a <case>"), "{out}");
        assert!(!out.contains("test_ok"), "{out}");
        assert!(out.ends_with("PASS: 1/2\nFAIL: 1/2\n"), "{out}");
    }

    #[test]
    fn junit_escapes_and_fail_only_drops_passes() {
        let out = render(&records(), Format::Junit, true, false);
        assert!(
            out.contains("name=\"a &lt;case&gt; &amp; &quot;more&quot;\""),
            "{out}"
        );
        assert!(out.contains("<failure message=\"- deny: x\""), "{out}");
        assert!(!out.contains("test_ok"), "{out}");
        assert!(
            out.contains("tests=\"1\" failures=\"1\" errors=\"0\""),
            "{out}"
        );
    }
}
