//! What one Rego evaluation may claim besides time.
//!
//! regorus checks its evaluation time limit between evaluation steps, not inside a
//! builtin, and a builtin may allocate in one call what no step counts: before its first
//! element `numbers.range(1, n)` reserves room for `n` values, so `n = 10^12` (say, from
//! an annotation the pod author chose) aborts the process on allocation failure. custody
//! therefore
//!
//! - replaces the builtins whose output size comes from a number, `numbers.range` and
//!   `numbers.range_step`, with versions that refuse more than [`MAX_RANGE_ELEMENTS`]
//!   elements (an evaluation error, which denies), and
//! - sets a ceiling on the process heap while Rego runs ([`set_memory_ceiling`]): regorus,
//!   built with `allocator-memory-limits`, counts every allocation and stops an
//!   evaluation (or the warming of a bundle at load) once the heap passes it.
//!
//! Every other builtin's output is bounded by its inputs, which are bounded by the
//! review's body limit and the evidence byte budgets.

use regorus::Value;

/// Most elements `numbers.range`/`numbers.range_step` may produce in one call.
pub const MAX_RANGE_ELEMENTS: i64 = 100_000;

/// The default heap ceiling for Rego evaluation (`--policy-memory-limit`): below the
/// chart's 256 MiB memory limit by the process's non-heap memory (code, allocator
/// overhead), so that a runaway policy fails (and denies) before the kernel kills the
/// pod, yet above what a busy replica holds legitimately (the registry caches alone may
/// hold 128 MiB), so that a full cache never starts failing evaluations.
pub const DEFAULT_MEMORY_CEILING: u64 = 224 * 1024 * 1024;

/// Sets the heap size at which Rego evaluations stop with an error (`None`: no ceiling).
/// Process-wide: regorus compares the whole process heap with it while evaluating.
pub fn set_memory_ceiling(bytes: Option<u64>) {
    regorus::set_global_memory_limit(bytes);
}

/// Installs the bounded replacements of `numbers.range` and `numbers.range_step` on
/// `engine` (extensions are looked up before builtins).
pub(crate) fn install(engine: &mut regorus::Engine) -> anyhow::Result<()> {
    engine.add_extension(
        "numbers.range".to_owned(),
        2,
        Box::new(|args: Vec<Value>| {
            let (a, b) = (
                int(&args, 0, "numbers.range")?,
                int(&args, 1, "numbers.range")?,
            );
            range(a, b, 1, "numbers.range")
        }),
    )?;
    engine.add_extension(
        "numbers.range_step".to_owned(),
        3,
        Box::new(|args: Vec<Value>| {
            let name = "numbers.range_step";
            let (a, b, step) = (
                int(&args, 0, name)?,
                int(&args, 1, name)?,
                int(&args, 2, name)?,
            );
            if step <= 0 {
                anyhow::bail!("{name}: step must be a positive integer");
            }
            range(a, b, step, name)
        }),
    )?;
    Ok(())
}

fn int(args: &[Value], i: usize, name: &str) -> anyhow::Result<i64> {
    let v = args
        .get(i)
        .ok_or_else(|| anyhow::anyhow!("{name}: missing operand {}", i + 1))?;
    let integer = v.as_number().is_ok_and(|n| n.is_integer());
    match (integer, v.as_i64()) {
        (true, Ok(n)) => Ok(n),
        _ => anyhow::bail!("{name}: operand {} must be an integer", i + 1),
    }
}

/// `a, a±step, …` up to and including `b` when reached (descending when `b < a`), as
/// OPA's `numbers.range` and `numbers.range_step` are.
fn range(a: i64, b: i64, step: i64, name: &str) -> anyhow::Result<Value> {
    let span = i128::from(b) - i128::from(a);
    let count = span.abs() / i128::from(step) + 1;
    if count > i128::from(MAX_RANGE_ELEMENTS) {
        anyhow::bail!(
            "{name}: {count} elements, more than custody allows in one call ({MAX_RANGE_ELEMENTS})"
        );
    }
    let signed = if b < a { -step } else { step };
    let values: Vec<Value> = (0..count)
        .filter_map(|k| i64::try_from(i128::from(a) + k * i128::from(signed)).ok())
        .map(Value::from)
        .collect();
    Ok(Value::from(values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(query: &str) -> anyhow::Result<Value> {
        let mut engine = regorus::Engine::new();
        install(&mut engine)?;
        engine.add_policy("t.rego".into(), format!("package t\n\nx := {query}\n"))?;
        engine.eval_rule("data.t.x".into())
    }

    fn ints(v: &Value) -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect()
    }

    #[test]
    fn ranges_are_opas() {
        assert_eq!(ints(&eval("numbers.range(1, 4)").unwrap()), [1, 2, 3, 4]);
        assert_eq!(ints(&eval("numbers.range(2, -1)").unwrap()), [2, 1, 0, -1]);
        assert_eq!(ints(&eval("numbers.range(3, 3)").unwrap()), [3]);
        assert_eq!(
            ints(&eval("numbers.range_step(0, 10, 4)").unwrap()),
            [0, 4, 8]
        );
        assert_eq!(
            ints(&eval("numbers.range_step(10, 0, 5)").unwrap()),
            [10, 5, 0]
        );
        assert!(eval("numbers.range_step(0, 10, 0)").is_err());
        assert!(eval("numbers.range(1.5, 3)").is_err());
    }

    #[test]
    fn huge_ranges_are_refused_without_allocating() {
        for q in [
            "numbers.range(1, 1000000000000)",
            "numbers.range(-9223372036854775808, 9223372036854775807)",
            "numbers.range_step(0, 1000000000000, 2)",
        ] {
            let err = eval(q).unwrap_err();
            assert!(
                format!("{err:#}").contains("more than custody allows"),
                "{q}: {err:#}"
            );
        }
        assert_eq!(
            eval("count(numbers.range(1, 100000))")
                .unwrap()
                .as_i64()
                .unwrap(),
            100_000
        );
    }
}
