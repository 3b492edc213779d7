//! The differential run: a bundle's held-in cases (its `tests.yaml` cases and the
//! documented example input) and deterministic variants of each, evaluated by the
//! interpreter and by the regorus VM, with every disagreement reported.
//!
//! Two evaluations agree when both give the same `deny` and `warn` messages, or both
//! fail (an evaluation error denies either way; the engines word errors differently).

use super::bundle::{Bundle, TESTS_FILE};
use super::input::PolicyInput;
use super::outcome::Outcome;
use super::rego::RegoError;
use super::testcases::{TestFile, case_input};
use super::variants;
use super::vm::{VmError, VmRego};
use std::path::Path;
use std::time::{Duration, Instant};

/// The example input document of `docs/policy-input.md`, a held-in case of every bundle.
pub const EXAMPLE_INPUT: &str = include_str!("../../docs/policy-input.example.json");

/// Variants per held-in case when a bundle with `engine: vm` loads.
pub const LOAD_VARIANTS: usize = 64;

/// One input evaluated by both engines.
#[derive(Debug, Clone)]
pub struct HeldIn {
    /// The case name (`example input` for the documented example).
    pub name: String,
    /// The input document.
    pub input: serde_json::Value,
}

/// Where the engines answered differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    /// The held-in case.
    pub case: String,
    /// The variant number (`None`: the case itself) and its mutations.
    pub variant: Option<(usize, String)>,
    /// What the interpreter answered.
    pub interpreter: String,
    /// What the VM answered.
    pub vm: String,
}

impl std::fmt::Display for Disagreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.variant {
            None => write!(f, "case {:?}", self.case)?,
            Some((n, how)) => write!(f, "case {:?} variant {n} ({how})", self.case)?,
        }
        write!(f, ": interpreter {} | vm {}", self.interpreter, self.vm)
    }
}

/// The result of a differential run over one bundle.
#[derive(Debug, Clone, Default)]
pub struct DiffReport {
    /// Held-in cases evaluated.
    pub cases: usize,
    /// Inputs evaluated by both engines (cases and variants).
    pub evaluations: usize,
    /// Every disagreement.
    pub disagreements: Vec<Disagreement>,
    /// Cases whose input could not be built (name: why), not evaluated.
    pub skipped: Vec<String>,
}

impl DiffReport {
    /// No disagreement.
    pub fn clean(&self) -> bool {
        self.disagreements.is_empty()
    }
}

/// The held-in cases of `bundle`: its `tests.yaml` cases (`dir` resolves
/// `predicateFile`) and the example input with the bundle's policy fields; cases whose
/// input cannot be built are returned as `name: why`.
pub fn held_in(bundle: &Bundle, dir: Option<&Path>) -> (Vec<HeldIn>, Vec<String>) {
    let mut cases = Vec::new();
    let mut skipped = Vec::new();
    match serde_json::from_str::<PolicyInput>(EXAMPLE_INPUT) {
        Ok(mut example) => {
            example.evaluation.set_policy(bundle.spec());
            match serde_json::to_value(&example) {
                Ok(input) => cases.push(HeldIn {
                    name: "example input".to_owned(),
                    input,
                }),
                Err(e) => skipped.push(format!("example input: {e}")),
            }
        }
        Err(e) => skipped.push(format!("example input: {e}")),
    }
    if let Some(text) = bundle.files().get(TESTS_FILE) {
        match yaml_serde::from_str::<TestFile>(text) {
            Ok(file) => {
                for case in &file.cases {
                    match case_input(bundle, case, dir) {
                        Ok(input) => cases.push(HeldIn {
                            name: case.name.clone(),
                            input,
                        }),
                        Err(e) => skipped.push(format!("{}: {e}", case.name)),
                    }
                }
            }
            Err(e) => skipped.push(format!("{TESTS_FILE}: {e}")),
        }
    }
    (cases, skipped)
}

/// Compiles `bundle` for the VM and runs the differential over its held-in cases with
/// `variants` variants each. `Err`: the VM cannot run the bundle at all.
pub fn diff_bundle(
    bundle: &Bundle,
    dir: Option<&Path>,
    variants: usize,
) -> Result<DiffReport, VmError> {
    let vm = bundle.compile_vm()?;
    Ok(diff_with(bundle, &vm, dir, variants))
}

/// The differential run of `bundle` against `vm` (compiled by [`Bundle::compile_vm`]).
pub fn diff_with(bundle: &Bundle, vm: &VmRego, dir: Option<&Path>, count: usize) -> DiffReport {
    let (cases, skipped) = held_in(bundle, dir);
    let mut report = DiffReport {
        cases: cases.len(),
        skipped,
        ..DiffReport::default()
    };
    for (i, case) in cases.iter().enumerate() {
        let value = regorus::Value::from(case.input.clone());
        let by_interpreter = bundle.rego().evaluate_interpreter(&value);
        let by_vm = bundle.rego().evaluate_on(vm, &value);
        compare(&mut report, &case.name, None, &by_interpreter, &by_vm);
        for n in 0..count {
            let (input, how) = variants::variant(&case.input, i as u64, n as u64);
            let value = regorus::Value::from(input);
            let a = bundle.rego().evaluate_interpreter(&value);
            let b = bundle.rego().evaluate_on(vm, &value);
            compare(&mut report, &case.name, Some((n, how)), &a, &b);
        }
    }
    report
}

/// Mean time of one evaluation of the held-in cases by the interpreter and by `vm`,
/// interleaved case by case over `rounds` rounds (never from the memo).
pub fn time_engines(
    bundle: &Bundle,
    vm: &VmRego,
    dir: Option<&Path>,
    rounds: u32,
) -> (Duration, Duration) {
    let (cases, _) = held_in(bundle, dir);
    let values: Vec<regorus::Value> = cases
        .iter()
        .map(|c| regorus::Value::from(c.input.clone()))
        .collect();
    let (mut interpreter, mut on_vm) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        for value in &values {
            let started = Instant::now();
            let _ = bundle.rego().evaluate_interpreter(value);
            interpreter += started.elapsed();
            let started = Instant::now();
            let _ = bundle.rego().evaluate_on(vm, value);
            on_vm += started.elapsed();
        }
    }
    let n = u32::try_from(values.len())
        .unwrap_or(u32::MAX)
        .saturating_mul(rounds)
        .max(1);
    (interpreter / n, on_vm / n)
}

fn compare(
    report: &mut DiffReport,
    case: &str,
    variant: Option<(usize, String)>,
    a: &Result<Outcome, RegoError>,
    b: &Result<Outcome, RegoError>,
) {
    report.evaluations += 1;
    let agree = match (a, b) {
        (Ok(x), Ok(y)) => x == y,
        (Err(_), Err(_)) => true,
        _ => false,
    };
    if !agree {
        report.disagreements.push(Disagreement {
            case: case.to_owned(),
            variant,
            interpreter: show(a),
            vm: show(b),
        });
    }
}

fn show(r: &Result<Outcome, RegoError>) -> String {
    match r {
        Ok(o) => format!("deny {:?} warn {:?}", o.deny, o.warn),
        Err(e) => format!("error: {e}"),
    }
}

#[cfg(test)]
#[path = "vm_diff_tests.rs"]
mod tests;
