//! Rego unit tests, as `opa test` runs them: every rule named `test_*` in a bundle's
//! `*_test.rego` files, compiled together with the bundle's other modules and its
//! `data.json`. A test passes when it evaluates to `true`, fails when it is `false`,
//! undefined or any other value, and errs when its evaluation fails.

use super::bundle::{Bundle, DATA_FILE};
use super::diagnostic::diagnostic;
use super::dialect::{self, RegoVersion};
use super::rego::TIMER_CHECK_INTERVAL;
use regorus::utils::limits::ExecutionTimerConfig;
use std::time::{Duration, Instant};

/// The file name suffix of Rego test files.
pub const TEST_SUFFIX: &str = "_test.rego";

/// Whether a bundle file named `name` holds Rego tests.
pub fn is_test_file(name: &str) -> bool {
    name.ends_with(TEST_SUFFIX)
}

/// Why the tests of a bundle could not run at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegoTestError {
    /// A module (test or policy) does not compile.
    #[error("{file}:{}{message}", if message.contains('\n') { "\n" } else { " " })]
    Compile {
        /// The file.
        file: String,
        /// regorus's diagnostic, line breaks and caret kept.
        message: String,
    },
    /// `data.json` is not valid JSON or could not be merged.
    #[error("{DATA_FILE}: {0}")]
    Data(String),
}

/// What one test rule gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `true`.
    Pass,
    /// `false`, undefined or another value (its JSON, or `undefined`).
    Fail(String),
    /// The evaluation failed (regorus's diagnostic).
    Error(String),
}

/// The result of one `test_*` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegoTest {
    /// The file that declares it.
    pub file: String,
    /// Its full name, `data.<package>.<rule>`.
    pub name: String,
    /// What it gave.
    pub verdict: Verdict,
    /// How long it took.
    pub duration: Duration,
}

/// Names of the rules whose head starts a line with `test_` (functions, followed by `(`,
/// are not tests), in order of first appearance, each once.
fn candidate_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for line in text.lines() {
        if !line.starts_with("test_") {
            continue;
        }
        let end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(line.len());
        let (name, rest) = line.split_at(end);
        if rest.trim_start().starts_with('(') || names.iter().any(|n| n == name) {
            continue;
        }
        names.push(name.to_owned());
    }
    names
}

/// The engine with every `.rego` file of the bundle (tests included) and its data, in
/// the bundle's dialect; returns it and each test file's package.
fn compile(bundle: &Bundle) -> Result<(regorus::Engine, Vec<(String, String)>), RegoTestError> {
    let files = bundle.files();
    let rego: Vec<(&String, &String)> =
        files.iter().filter(|(n, _)| n.ends_with(".rego")).collect();
    let version = bundle
        .spec()
        .rego_version
        // The policy's dialect, detected as the bundle does: from its own modules (a
        // test's `count(x) == 0 with input as {` would look like a v0 rule head).
        .unwrap_or_else(|| {
            RegoVersion::detect(
                rego.iter()
                    .filter(|(n, _)| !is_test_file(n))
                    .map(|(_, t)| t.as_str()),
            )
        });
    let mut engine = regorus::Engine::new();
    super::limits::install(&mut engine).map_err(|e| RegoTestError::Compile {
        file: "<custody>".to_owned(),
        message: diagnostic(&e),
    })?;
    engine.set_rego_v0(version == RegoVersion::V0);
    engine.set_execution_timer_config(ExecutionTimerConfig {
        limit: bundle.timeout(),
        check_interval: TIMER_CHECK_INTERVAL,
    });
    let mut packages = Vec::new();
    for (name, text) in rego {
        let text = match version {
            RegoVersion::V0 => dialect::normalise_v0(text),
            RegoVersion::V1 => text.clone(),
        };
        let package =
            engine
                .add_policy(name.clone(), text)
                .map_err(|e| RegoTestError::Compile {
                    file: name.clone(),
                    message: diagnostic(&e),
                })?;
        if is_test_file(name) {
            packages.push((name.clone(), package));
        }
    }
    if let Some(data) = files.get(DATA_FILE) {
        let json: serde_json::Value =
            serde_json::from_str(data).map_err(|e| RegoTestError::Data(e.to_string()))?;
        engine
            .add_data(regorus::Value::from(json))
            .map_err(|e| RegoTestError::Data(diagnostic(&e)))?;
    }
    Ok((engine, packages))
}

/// Whether the bundle has Rego test files.
pub fn has_tests(bundle: &Bundle) -> bool {
    bundle.files().keys().any(|n| is_test_file(n))
}

/// Compiles the bundle's test files with its modules, without running them (for lint).
pub fn check(bundle: &Bundle) -> Result<(), RegoTestError> {
    compile(bundle).map(|_| ())
}

/// Runs the bundle's Rego tests whose full name `wanted` accepts, each on a fresh clone
/// of the compiled engine, in file then declaration order.
pub fn run(bundle: &Bundle, wanted: &dyn Fn(&str) -> bool) -> Result<Vec<RegoTest>, RegoTestError> {
    if !has_tests(bundle) {
        return Ok(Vec::new());
    }
    let (engine, packages) = compile(bundle)?;
    let mut results = Vec::new();
    for (file, package) in packages {
        let text = bundle
            .files()
            .get(&file)
            .map(String::as_str)
            .unwrap_or_default();
        for rule in candidate_names(text) {
            let declared = engine
                .has_declared_rule_rooted_at(&file, &rule)
                .map_err(|e| RegoTestError::Compile {
                    file: file.clone(),
                    message: diagnostic(&e),
                })?;
            let name = format!("{package}.{rule}");
            if !declared || !wanted(&name) {
                continue;
            }
            let started = Instant::now();
            let verdict = match engine.clone().eval_rule(name.clone()) {
                Ok(regorus::Value::Bool(true)) => Verdict::Pass,
                Ok(regorus::Value::Undefined) => Verdict::Fail("undefined".to_owned()),
                Ok(other) => Verdict::Fail(other.to_json_str().unwrap_or_else(|_| "?".to_owned())),
                Err(e) => Verdict::Error(diagnostic(&e)),
            };
            results.push(RegoTest {
                file: file.clone(),
                name,
                verdict,
                duration: started.elapsed(),
            });
        }
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn bundle(extra: &[(&str, &str)]) -> Bundle {
        let mut files = BTreeMap::new();
        files.insert(
            "policy.yaml".to_owned(),
            "apiVersion: custody.dev/v1\nkind: Policy\nname: p\n".to_owned(),
        );
        files.insert(
            "p.rego".to_owned(),
            "package custody.p\n\ndeny contains \"no\" if input.bad\n".to_owned(),
        );
        for (n, t) in extra {
            files.insert((*n).to_owned(), (*t).to_owned());
        }
        Bundle::from_files("test", &files).unwrap()
    }

    #[test]
    fn names_are_rule_heads_at_line_start_once_each() {
        let text = "package x\n\ntest_a if true\ntest_a if false\n  test_b if true\ntest_f(x) := x\ntest_c := true\n# test_d if true\n";
        assert_eq!(candidate_names(text), ["test_a", "test_c"]);
    }

    #[test]
    fn true_passes_false_and_undefined_fail_errors_err() {
        let b = bundle(&[(
            "p_test.rego",
            "package custody.p_test\n\nimport data.custody.p\n\ntest_denies if \"no\" in p.deny with input as {\"bad\": true}\ntest_admits if count(p.deny) == 0 with input as {\"bad\": false}\ntest_false if false\ntest_undefined if input.nothing\ntest_error if 1 / 0 == 1\n",
        )]);
        let r = run(&b, &|_| true).unwrap();
        let got: Vec<(&str, &Verdict)> = r.iter().map(|t| (t.name.as_str(), &t.verdict)).collect();
        assert_eq!(got[0], ("data.custody.p_test.test_denies", &Verdict::Pass));
        assert_eq!(got[1].1, &Verdict::Pass);
        assert!(matches!(got[2].1, Verdict::Fail(_)), "{got:?}");
        assert_eq!(got[3].1, &Verdict::Fail("undefined".to_owned()));
        assert!(matches!(got[4].1, Verdict::Error(_)), "{got:?}");
        let only = run(&b, &|n| n.ends_with("test_false")).unwrap();
        assert_eq!(only.len(), 1);
    }

    #[test]
    fn test_files_are_not_part_of_the_policy() {
        // A test file in the policy's own package that would deny everything.
        let b = bundle(&[(
            "p_test.rego",
            "package custody.p\n\ndeny contains \"test\" if true\ntest_x if true\n",
        )]);
        let input = crate::policy::warm_input(b.spec());
        assert!(b.evaluate(&input).unwrap().deny.is_empty());
    }

    #[test]
    fn a_test_file_that_does_not_parse_is_a_compile_error_with_its_caret() {
        let b = bundle(&[(
            "p_test.rego",
            "package custody.p_test\n\ntest_x if {\n  x := 1 +\n  y := 2\n}\n",
        )]);
        let err = run(&b, &|_| true).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("p_test.rego:\n"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with("|") && l.ends_with('^')),
            "{text}"
        );
    }
}
