//! The Rego half of a bundle: compiled once, warmed once, cloned per evaluation, and
//! its answers remembered by what it reads of the input (see [`super::memo`]).

use super::diagnostic::diagnostic;
use super::dialect::{self, RegoVersion};
use super::memo::{self, Memo};
use super::vm::{VmError, VmRego};
use regorus::utils::limits::ExecutionTimerConfig;
use std::num::NonZeroU32;
use std::time::Duration;

/// Default evaluation time limit for one policy over one image.
pub const DEFAULT_EVAL_TIMEOUT: Duration = Duration::from_secs(1);

/// Work units between clock reads of the evaluation time limit (reading the clock at
/// every step costs more than small policies do).
pub(crate) const TIMER_CHECK_INTERVAL: NonZeroU32 = match NonZeroU32::new(64) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};

pub use super::outcome::Outcome;

/// A compiled, warmed Rego policy.
pub struct CompiledRego {
    engine: regorus::Engine,
    deny_rule: Option<String>,
    warn_rule: Option<String>,
    /// Remembered answers; `None` when the policy depends on the world or its
    /// `policy.yaml` turns memoising off.
    memo: Option<Memo>,
    /// The VM program evaluating instead of the interpreter (`engine: vm`, admitted
    /// only after a clean differential run; see [`super::vm_diff`]).
    vm: Option<VmRego>,
}

impl std::fmt::Debug for CompiledRego {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledRego")
            .field("deny_rule", &self.deny_rule)
            .field("warn_rule", &self.warn_rule)
            .finish_non_exhaustive()
    }
}

/// Why Rego could not be compiled or evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegoError {
    /// A `.rego` file does not parse.
    #[error("{file}:{}{message}", if message.contains('\n') { "\n" } else { " " })]
    Parse {
        /// The file.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// `data.json` is not valid JSON or could not be merged.
    #[error("data.json: {0}")]
    Data(String),
    /// `deny`/`warn` would not be a set of messages, or data shadows the rules.
    #[error("{0}")]
    Shape(String),
    /// No file declares `deny` or `warn` in the policy's package.
    #[error(
        "no rule `deny` or `warn` in package {0} (set `package:` in policy.yaml or rename the package)"
    )]
    NoRules(String),
    /// Evaluation failed (a runtime error or the time limit).
    #[error("evaluation of {rule} failed:{}{message}", if message.contains('\n') { "\n" } else { " " })]
    Eval {
        /// The rule being evaluated.
        rule: String,
        /// What went wrong.
        message: String,
    },
}

impl CompiledRego {
    /// Parses the files in `version`'s dialect, merges `data`, finds `deny`/`warn` in
    /// `package` and warms the engine with `warm_input`. With `memoise`, answers are
    /// remembered by the parts of the input the policy reads (see [`super::memo`]).
    ///
    /// Refused: a `deny`/`warn` that would be an object (see [`super::dialect`]), data
    /// that defines a path of one of the files' packages, and a warm evaluation that
    /// fails or gives `deny`/`warn` of another shape than a set of strings.
    pub fn compile(
        package: &str,
        files: &[(String, String)],
        data: Option<&str>,
        version: RegoVersion,
        timeout: Duration,
        memoise: bool,
        warm_input: &regorus::Value,
    ) -> Result<CompiledRego, RegoError> {
        let mut engine = regorus::Engine::new();
        super::limits::install(&mut engine).map_err(|e| RegoError::Parse {
            file: "<custody>".to_owned(),
            message: diagnostic(&e),
        })?;
        engine.set_rego_v0(version == RegoVersion::V0);
        engine.set_execution_timer_config(ExecutionTimerConfig {
            limit: timeout,
            check_interval: TIMER_CHECK_INTERVAL,
        });
        let wanted = format!("data.{package}");
        let mut in_package = Vec::new();
        let mut packages = vec![format!("data.{EVAL_PACKAGE}")];
        for (name, text) in files {
            let text = &match version {
                RegoVersion::V0 => dialect::normalise_v0(text),
                RegoVersion::V1 => text.clone(),
            };
            let pkg =
                engine
                    .add_policy(name.clone(), text.clone())
                    .map_err(|e| RegoError::Parse {
                        file: name.clone(),
                        message: diagnostic(&e),
                    })?;
            if pkg == wanted {
                dialect::check_rule_shapes(name, text, version).map_err(RegoError::Shape)?;
                in_package.push(name.clone());
            }
            packages.push(pkg);
        }
        if let Some(data) = data {
            let json: serde_json::Value =
                serde_json::from_str(data).map_err(|e| RegoError::Data(e.to_string()))?;
            dialect::check_data_paths(&json, &packages).map_err(RegoError::Data)?;
            engine
                .add_data(regorus::Value::from(json))
                .map_err(|e| RegoError::Data(diagnostic(&e)))?;
        }
        let declares = |rule: &str| -> Result<bool, RegoError> {
            for file in &in_package {
                let found = engine
                    .has_declared_rule_rooted_at(file, rule)
                    .map_err(|e| RegoError::Parse {
                        file: file.clone(),
                        message: diagnostic(&e),
                    })?;
                if found {
                    return Ok(true);
                }
            }
            Ok(false)
        };
        let deny_rule = declares("deny")?.then(|| format!("{wanted}.deny"));
        let warn_rule = declares("warn")?.then(|| format!("{wanted}.warn"));
        if deny_rule.is_none() && warn_rule.is_none() {
            return Err(RegoError::NoRules(package.to_owned()));
        }
        // One synthetic rule gathers both, so that rules shared by `deny` and `warn` are
        // evaluated once per evaluation (each `eval_rule` starts from a clean state).
        let fields: Vec<String> = [("deny", &deny_rule), ("warn", &warn_rule)]
            .iter()
            .filter_map(|(k, r)| r.as_ref().map(|r| format!("\"{k}\": {r}")))
            .collect();
        let gather = format!(
            "package {EVAL_PACKAGE}\n\nresult := {{{}}}\n",
            fields.join(", ")
        );
        engine
            .add_policy("<custody>".to_owned(), gather)
            .map_err(|e| RegoError::Parse {
                file: "<custody>".to_owned(),
                message: diagnostic(&e),
            })?;
        let memo = (memoise
            && files
                .iter()
                .all(|(_, text)| memo::world_dependent(text).is_none()))
        .then(|| Memo::new(memo::input_reads(files.iter().map(|(_, t)| t.as_str()))));
        let mut compiled = CompiledRego {
            engine,
            deny_rule,
            warn_rule,
            memo,
            vm: None,
        };
        // Warm: prepares the interpreter once so that clones start ready.
        let mut warm = compiled.engine.clone();
        warm.set_input(warm_input.clone());
        compiled.run(&mut warm)?;
        compiled.engine = warm;
        Ok(compiled)
    }

    /// The answer for `input`: remembered, or evaluated (and then remembered).
    pub fn evaluate(&self, input: &regorus::Value) -> Result<Outcome, RegoError> {
        let Some(memo) = &self.memo else {
            return self.evaluate_fresh(input);
        };
        let key = memo.key(input);
        if let Some(known) = memo.get(&key) {
            crate::metrics::metrics().cache_request(MEMO_CACHE, "hit");
            return Ok(known);
        }
        crate::metrics::metrics().cache_request(MEMO_CACHE, "miss");
        let outcome = self.evaluate_fresh(input)?;
        memo.put(key, &outcome);
        Ok(outcome)
    }

    /// The memo, if answers are remembered.
    pub fn memo(&self) -> Option<&Memo> {
        self.memo.as_ref()
    }

    /// Evaluates over `input` on a clone of the warmed engine, never from the memo.
    /// On the VM when the bundle runs there.
    pub fn evaluate_fresh(&self, input: &regorus::Value) -> Result<Outcome, RegoError> {
        match &self.vm {
            Some(vm) => self.evaluate_on(vm, input),
            None => self.evaluate_interpreter(input),
        }
    }

    /// Evaluates over `input` with the interpreter, whatever the bundle's engine.
    pub fn evaluate_interpreter(&self, input: &regorus::Value) -> Result<Outcome, RegoError> {
        let mut engine = self.engine.clone();
        engine.set_input(input.clone());
        self.run(&mut engine)
    }

    /// Compiles the policy for the regorus VM (see [`super::vm`]); `files` and `data` are
    /// the ones it was compiled from.
    pub(crate) fn compile_vm(
        &self,
        files: &[(String, String)],
        data: Option<&str>,
        timeout: Duration,
    ) -> Result<VmRego, VmError> {
        VmRego::compile(&self.engine, &eval_rule(), files, data, timeout)
    }

    /// Evaluates over `input` on `vm` (compiled by [`Self::compile_vm`]).
    pub(crate) fn evaluate_on(
        &self,
        vm: &VmRego,
        input: &regorus::Value,
    ) -> Result<Outcome, RegoError> {
        let value = vm
            .eval(&eval_rule(), input)
            .map_err(|message| RegoError::Eval {
                rule: self.main_rule(),
                message,
            })?;
        self.outcome(&value)
    }

    /// From now on, evaluates on `vm` instead of the interpreter.
    pub(crate) fn use_vm(&mut self, vm: VmRego) {
        self.vm = Some(vm);
    }

    /// Whether evaluations run on the VM.
    pub fn on_vm(&self) -> bool {
        self.vm.is_some()
    }

    fn main_rule(&self) -> String {
        self.deny_rule
            .clone()
            .or_else(|| self.warn_rule.clone())
            .unwrap_or_default()
    }

    fn run(&self, engine: &mut regorus::Engine) -> Result<Outcome, RegoError> {
        let value = engine.eval_rule(eval_rule()).map_err(|e| RegoError::Eval {
            rule: self.main_rule(),
            message: diagnostic(&e),
        })?;
        self.outcome(&value)
    }

    fn outcome(&self, value: &regorus::Value) -> Result<Outcome, RegoError> {
        let rule_name = |field: &str| match field {
            "deny" => self.deny_rule.clone().unwrap_or_default(),
            _ => self.warn_rule.clone().unwrap_or_default(),
        };
        let field = |name: &str| {
            messages(&value[name]).map_err(|message| RegoError::Eval {
                rule: rule_name(name),
                message,
            })
        };
        Ok(Outcome {
            deny: field("deny")?,
            warn: field("warn")?,
        })
    }
}

/// The `cache` label of memo lookups in `custody_cache_requests_total`.
pub const MEMO_CACHE: &str = "policy-memo";

/// The package of the synthetic rule that gathers `deny` and `warn`.
const EVAL_PACKAGE: &str = "custody__eval";

fn eval_rule() -> String {
    format!("data.{EVAL_PACKAGE}.result")
}

/// The messages of a `deny`/`warn` value: undefined (no rule fired) or a set (or array)
/// of strings. Anything else is an error, never a message: an object printed as JSON
/// (or `{}` from an empty partial object) would deny with a message nobody wrote, and a
/// `false` would admit what a broken policy never judged.
fn messages(value: &regorus::Value) -> Result<Vec<String>, String> {
    let items: Vec<&regorus::Value> = match value {
        regorus::Value::Undefined => Vec::new(),
        regorus::Value::Set(s) => s.iter().collect(),
        regorus::Value::Array(a) => a.iter().collect(),
        other => {
            return Err(format!("must be a set of strings, got {}", kind_of(other)));
        }
    };
    let mut msgs = Vec::with_capacity(items.len());
    for v in items {
        match v.as_string() {
            Ok(s) => msgs.push(s.to_string()),
            Err(_) => {
                return Err(format!(
                    "must be a set of strings, but holds {}",
                    kind_of(v)
                ));
            }
        }
    }
    msgs.sort();
    msgs.dedup();
    Ok(msgs)
}

fn kind_of(v: &regorus::Value) -> String {
    let kind = match v {
        regorus::Value::Null => "null",
        regorus::Value::Bool(_) => "a boolean",
        regorus::Value::Number(_) => "a number",
        regorus::Value::String(_) => "a string",
        regorus::Value::Array(_) => "an array",
        regorus::Value::Set(_) => "a set",
        regorus::Value::Object(_) => "an object",
        regorus::Value::Undefined => "undefined",
    };
    let json = v.to_json_str().unwrap_or_default();
    let shown = if json.chars().count() > 60 {
        format!("{}…", json.chars().take(60).collect::<String>())
    } else {
        json
    };
    format!("{kind} ({shown})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(text: &str) -> Result<CompiledRego, RegoError> {
        CompiledRego::compile(
            "custody.t",
            &[("t.rego".into(), text.into())],
            Some(r#"{"limits": {"max": 2}}"#),
            RegoVersion::V1,
            DEFAULT_EVAL_TIMEOUT,
            true,
            &regorus::Value::new_object(),
        )
    }

    fn input(json: &str) -> regorus::Value {
        regorus::Value::from_json_str(json).unwrap()
    }

    #[test]
    fn deny_and_warn_messages() {
        let p = compile(
            "package custody.t\n\ndeny contains msg if {\n\tinput.n > data.limits.max\n\tmsg := sprintf(\"n=%d too big\", [input.n])\n}\n\nwarn contains \"odd\" if input.n % 2 == 1\n",
        )
        .unwrap();
        assert_eq!(
            p.evaluate(&input(r#"{"n": 1}"#)).unwrap().deny,
            Vec::<String>::new()
        );
        let out = p.evaluate(&input(r#"{"n": 3}"#)).unwrap();
        assert_eq!(out.deny, vec!["n=3 too big".to_string()]);
        assert_eq!(out.warn, vec!["odd".to_string()]);
        // Clones do not leak state between evaluations.
        assert!(p.evaluate(&input(r#"{"n": 2}"#)).unwrap().deny.is_empty());
    }

    #[test]
    fn only_warn_is_fine_but_neither_is_an_error() {
        assert!(compile("package custody.t\n\nwarn contains \"w\" if true\n").is_ok());
        assert!(matches!(
            compile("package custody.t\n\nallow := true\n"),
            Err(RegoError::NoRules(_))
        ));
        assert!(matches!(
            compile("package other\n\ndeny contains \"x\" if true\n"),
            Err(RegoError::NoRules(_))
        ));
    }

    #[test]
    fn syntax_errors_name_the_file() {
        let err = compile("package custody.t\n\ndeny contains msg if {\n").unwrap_err();
        assert!(
            matches!(err, RegoError::Parse { ref file, .. } if file == "t.rego"),
            "{err}"
        );
    }

    #[test]
    fn v0_syntax_is_rejected_as_v1() {
        assert!(compile("package custody.t\n\ndeny[msg] { msg := \"x\" }\n").is_err());
    }

    fn compile_as(
        text: &str,
        version: RegoVersion,
        data: Option<&str>,
    ) -> Result<CompiledRego, RegoError> {
        CompiledRego::compile(
            "custody.t",
            &[("t.rego".into(), text.into())],
            data,
            version,
            DEFAULT_EVAL_TIMEOUT,
            true,
            &regorus::Value::new_object(),
        )
    }

    #[test]
    fn v0_policies_deny_exactly_what_they_say() {
        let texts = [
            "package custody.t\n\ndeny[msg] {\n\tinput.n > 2\n\tmsg := sprintf(\"n=%d\", [input.n])\n}\n",
            "package custody.t\n\nimport future.keywords.if\n\ndeny[msg] if {\n\tinput.n > 2\n\tmsg := sprintf(\"n=%d\", [input.n])\n}\n",
            "package custody.t\n\nimport future.keywords\n\ndeny contains msg if {\n\tinput.n > 2\n\tmsg := sprintf(\"n=%d\", [input.n])\n}\n",
        ];
        for text in texts {
            assert_eq!(RegoVersion::detect([text]), RegoVersion::V0, "{text}");
            let p =
                compile_as(text, RegoVersion::V0, None).unwrap_or_else(|e| panic!("{e}: {text}"));
            assert!(
                p.evaluate(&input(r#"{"n": 1}"#)).unwrap().deny.is_empty(),
                "{text}"
            );
            assert_eq!(
                p.evaluate(&input(r#"{"n": 3}"#)).unwrap().deny,
                vec!["n=3"],
                "{text}"
            );
        }
    }

    #[test]
    fn a_deny_that_is_not_a_set_of_strings_is_refused() {
        // v0 style compiled as v1: `deny[msg] if` is an object.
        let err =
            compile("package custody.t\n\ndeny[msg] if {\n\tinput.n > 2\n\tmsg := \"x\"\n}\n")
                .expect_err("refused");
        assert!(err.to_string().contains("deny contains msg if"), "{err}");
        // Shapes the text check cannot see are refused when warming...
        let err = compile("package custody.t\n\ndeny := {\"a\": 1}\n").expect_err("refused");
        assert!(
            err.to_string().contains("must be a set of strings"),
            "{err}"
        );
        let err = compile("package custody.t\n\nwarn contains 7 if true\n").expect_err("refused");
        assert!(err.to_string().contains("holds a number"), "{err}");
        // ...and, when they depend on the input, at evaluation: an error, never a message.
        let p = compile("package custody.t\n\ndeny := true if input.n > 2\n").unwrap();
        assert!(p.evaluate(&input(r#"{"n": 1}"#)).unwrap().deny.is_empty());
        let err = p.evaluate(&input(r#"{"n": 3}"#)).unwrap_err();
        assert!(
            err.to_string()
                .contains("must be a set of strings, got a boolean"),
            "{err}"
        );
    }

    #[test]
    fn data_cannot_replace_the_rules() {
        let text = "package custody.t\n\ndeny contains \"always\" if true\n";
        let err = compile_as(
            text,
            RegoVersion::V1,
            Some(r#"{"custody": {"t": {"deny": []}}}"#),
        )
        .expect_err("refused");
        assert!(matches!(err, RegoError::Data(_)), "{err}");
        assert!(err.to_string().contains("data.custody.t"), "{err}");
        let ok = compile_as(text, RegoVersion::V1, Some(r#"{"custody": {"config": 1}}"#)).unwrap();
        assert_eq!(ok.evaluate(&input("{}")).unwrap().deny, vec!["always"]);
    }

    #[test]
    fn runtime_errors_surface() {
        let p = compile(
            "package custody.t\n\ndeny contains msg if {\n\tmsg := concat(\",\", input.n)\n}\n",
        )
        .unwrap();
        let err = p.evaluate(&input(r#"{"n": 1}"#)).unwrap_err();
        assert!(matches!(err, RegoError::Eval { .. }), "{err}");
    }

    #[test]
    fn remembered_answers_follow_what_the_policy_reads() {
        let p = compile(
            "package custody.t\n\ndeny contains sprintf(\"%s may not\", [input.request.user]) if input.request.user != \"ok\"\n",
        )
        .unwrap();
        let memo = p.memo().expect("memoised");
        let as_user = |u: &str| {
            input(&format!(
                r#"{{"request": {{"user": "{u}", "uid": "{u}-1"}}, "evaluation": {{"timeNs": 1}}}}"#
            ))
        };
        assert_eq!(
            p.evaluate(&as_user("eve")).unwrap().deny,
            vec!["eve may not"]
        );
        assert!(p.evaluate(&as_user("ok")).unwrap().deny.is_empty());
        assert_eq!(
            p.evaluate(&as_user("eve")).unwrap().deny,
            vec!["eve may not"]
        );
        assert_eq!(
            p.evaluate(&as_user("bob")).unwrap().deny,
            vec!["bob may not"]
        );
        assert_eq!(memo.len(), 3);
        let text = crate::metrics::metrics().render();
        assert!(
            text.contains(&format!("cache=\"{MEMO_CACHE}\",result=\"hit\"")),
            "{text}"
        );
    }

    #[test]
    fn world_dependent_policies_and_failures_are_not_remembered() {
        let p = compile(
            "package custody.t\n\ndeny contains \"late\" if time.now_ns() > input.deadline\n",
        )
        .unwrap();
        assert!(p.memo().is_none());
        let p = compile(
            "package custody.t\n\ndeny contains msg if {\n\tmsg := concat(\",\", input.n)\n}\n",
        )
        .unwrap();
        assert!(p.evaluate(&input(r#"{"n": 1}"#)).is_err());
        assert!(p.memo().expect("memoised").is_empty());
        let off = CompiledRego::compile(
            "custody.t",
            &[(
                "t.rego".into(),
                "package custody.t\n\ndeny contains \"x\" if input.n\n".into(),
            )],
            None,
            RegoVersion::V1,
            DEFAULT_EVAL_TIMEOUT,
            false,
            &regorus::Value::new_object(),
        )
        .unwrap();
        assert!(off.memo().is_none());
    }

    #[test]
    fn the_time_limit_stops_runaway_policies() {
        let p = CompiledRego::compile(
            "custody.t",
            &[(
                "t.rego".into(),
                "package custody.t\n\ndeny contains \"x\" if {\n\tinput.go\n\tcount([n | some a in numbers.range(1, 5000); some b in numbers.range(1, 5000); n := a * b]) > 0\n}\n".into(),
            )],
            None,
            RegoVersion::V1,
            Duration::from_millis(20),
            true,
            &regorus::Value::new_object(),
        )
        .unwrap();
        let err = p.evaluate(&input(r#"{"go": true}"#)).unwrap_err();
        assert!(err.to_string().to_lowercase().contains("time"), "{err}");
    }
}
