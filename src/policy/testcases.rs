//! Data-driven policy tests: a bundle's `tests.yaml` lists cases (input -> expected
//! `deny`/`warn` messages) that `custody policy test` runs.
//!
//! A case's `input` is deep-merged over a complete base document
//! ([`PolicyInput::empty`](super::input::PolicyInput::empty) at [`BASE_TIME`]); objects
//! merge key by key, anything else replaces. Attestations may omit the fields that do not
//! matter to the test; they are filled with defaults (see `docs/policies.md`).

use super::bundle::{Bundle, TESTS_FILE};
use super::input::PolicyInput;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::path::Path;

/// The evaluation time of the base document.
pub const BASE_TIME: &str = "2026-06-01T00:00:00Z";

/// The parsed `tests.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The cases.
    pub cases: Vec<TestCase>,
}

/// One case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// What the case shows.
    pub name: String,
    /// Merged over the base input document.
    #[serde(default)]
    pub input: Option<Value>,
    /// Merged over the bundle's options.
    #[serde(default)]
    pub options: Option<Value>,
    /// Expected `deny` messages (order does not matter); default none.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Expected `warn` messages; not checked when omitted.
    #[serde(default)]
    pub warn: Option<Vec<String>>,
}

/// The result of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// The case name.
    pub name: String,
    /// Expected messages that did not appear (`deny: ...` / `warn: ...`).
    pub missing: Vec<String>,
    /// Messages that appeared but were not expected.
    pub unexpected: Vec<String>,
    /// An evaluation error, if any.
    pub error: Option<String>,
}

impl CaseResult {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.error.is_none()
    }
}

/// Deep-merges `over` into `base`: objects key by key, other values replace.
pub fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// Builds the full input document of a case for `bundle`; `dir` (the bundle's directory)
/// resolves attestations' `predicateFile`.
pub fn case_input(bundle: &Bundle, case: &TestCase, dir: Option<&Path>) -> Result<Value, String> {
    let time = chrono::DateTime::parse_from_rfc3339(BASE_TIME)
        .map_err(|e| e.to_string())?
        .with_timezone(&chrono::Utc);
    let mut base = PolicyInput::empty(time);
    base.evaluation.set_policy(bundle.spec());
    if let Some(o) = &case.options {
        merge(&mut base.evaluation.options, o);
    }
    let mut doc = serde_json::to_value(&base).map_err(|e| e.to_string())?;
    if let Some(i) = &case.input {
        merge(&mut doc, i);
    }
    fix_time(&mut doc)?;
    let attestors: Vec<String> = bundle.attestors().iter().map(|a| a.name.clone()).collect();
    fill_attestations(&mut doc, &attestors, dir)?;
    // The result must still be a valid document.
    serde_json::from_value::<PolicyInput>(doc.clone())
        .map_err(|e| format!("case input is not a valid input document: {e}"))?;
    Ok(doc)
}

fn fix_time(doc: &mut Value) -> Result<(), String> {
    let Some(eval) = doc.get_mut("evaluation") else {
        return Ok(());
    };
    let Some(t) = eval.get("time").and_then(Value::as_str) else {
        return Ok(());
    };
    let parsed = chrono::DateTime::parse_from_rfc3339(t)
        .map_err(|e| format!("evaluation.time {t:?}: {e}"))?;
    let ns = parsed.timestamp_nanos_opt().unwrap_or(0);
    eval["timeNs"] = json!(ns);
    Ok(())
}

fn fill_attestations(
    doc: &mut Value,
    attestors: &[String],
    dir: Option<&Path>,
) -> Result<(), String> {
    let digest = doc["image"]["digest"].clone();
    let repo = format!(
        "{}/{}",
        doc["image"]["registry"].as_str().unwrap_or_default(),
        doc["image"]["repository"].as_str().unwrap_or_default()
    );
    let Some(list) = doc.get_mut("attestations").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    for att in list.iter_mut() {
        let Some(obj) = att.as_object_mut() else {
            continue;
        };
        if let Some(file) = obj.remove("predicateFile") {
            let file = file.as_str().unwrap_or_default().to_owned();
            let base = dir.ok_or("predicateFile needs a bundle directory")?;
            let text = std::fs::read_to_string(base.join(&file))
                .map_err(|e| format!("predicateFile {file}: {e}"))?;
            let body: Value =
                serde_json::from_str(&text).map_err(|e| format!("predicateFile {file}: {e}"))?;
            obj.insert("predicate".to_owned(), body);
        }
        let hex = digest
            .as_str()
            .and_then(|d| d.split_once(':'))
            .map(|(alg, h)| {
                let mut m = Map::new();
                m.insert(alg.to_owned(), json!(h));
                Value::Object(m)
            })
            .unwrap_or_else(|| json!({}));
        let defaults = [
            ("statementType", json!("https://in-toto.io/Statement/v1")),
            ("predicate", json!({})),
            ("subjects", json!([{ "name": repo, "digest": hex }])),
            ("subjectDigest", digest.clone()),
            ("attestors", json!(attestors)),
            ("signers", json!([])),
            (
                "source",
                json!({"kind": "referrers-api", "format": "dsse-envelope", "manifestDigest": null, "blobDigest": null, "artifactType": null}),
            ),
        ];
        for (k, v) in defaults {
            obj.entry(k).or_insert(v);
        }
    }
    Ok(())
}

/// Runs every case of a bundle's `tests.yaml` (no file: no cases); `dir` is the bundle's
/// directory, for `predicateFile`.
pub fn run_cases(bundle: &Bundle, dir: Option<&Path>) -> Result<Vec<CaseResult>, String> {
    let Some(text) = bundle.files().get(TESTS_FILE) else {
        return Ok(Vec::new());
    };
    let file: TestFile = yaml_serde::from_str(text).map_err(|e| format!("{TESTS_FILE}: {e}"))?;
    Ok(file
        .cases
        .iter()
        .map(|c| run_case(bundle, c, dir))
        .collect())
}

fn run_case(bundle: &Bundle, case: &TestCase, dir: Option<&Path>) -> CaseResult {
    let mut result = CaseResult {
        name: case.name.clone(),
        missing: Vec::new(),
        unexpected: Vec::new(),
        error: None,
    };
    let input = match case_input(bundle, case, dir) {
        Ok(i) => regorus::Value::from(i),
        Err(e) => {
            result.error = Some(e);
            return result;
        }
    };
    let outcome = match bundle.evaluate(&input) {
        Ok(o) => o,
        Err(e) => {
            result.error = Some(e.to_string());
            return result;
        }
    };
    diff("deny", &case.deny, &outcome.deny, &mut result);
    if let Some(warn) = &case.warn {
        diff("warn", warn, &outcome.warn, &mut result);
    }
    result
}

fn diff(kind: &str, want: &[String], got: &[String], result: &mut CaseResult) {
    for w in want {
        if !got.contains(w) {
            result.missing.push(format!("{kind}: {w}"));
        }
    }
    for g in got {
        if !want.contains(g) {
            result.unexpected.push(format!("{kind}: {g}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_objects_and_replace_arrays() {
        let mut a = json!({"a": {"b": 1, "c": [1, 2]}, "d": 1});
        merge(&mut a, &json!({"a": {"c": [3], "e": true}}));
        assert_eq!(a, json!({"a": {"b": 1, "c": [3], "e": true}, "d": 1}));
    }
}
