//! The regorus VM (RVM) as a second evaluator of a bundle's Rego.
//!
//! regorus 0.14 can compile a policy into a register-VM program
//! (`Compiler::compile_from_policy`) and run it on a `RegoVM`. custody evaluates with
//! the tree-walking interpreter ([`super::rego`]); a bundle may opt in to the VM with
//! `engine: vm` in `policy.yaml`, and is loaded that way only when the interpreter and the
//! VM agree on its cases and their variants (see [`super::vm_diff`]).
//!
//! What the VM does not do that custody relies on: it resolves calls against regorus's
//! own builtin table and never consults an engine's extensions, so custody's bounded
//! `numbers.range`/`numbers.range_step` ([`super::limits`]) would silently become the
//! unbounded originals. A bundle calling them is refused for the VM
//! ([`VmError::Extension`]) instead of being evaluated without the bound.

use super::diagnostic::diagnostic;
use super::rego::{RegoError, TIMER_CHECK_INTERVAL};
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::{Program, RegoVM};
use regorus::utils::limits::ExecutionTimerConfig;
use std::sync::Arc;
use std::time::Duration;

/// The builtins custody replaces with its own bounded versions (see [`super::limits`]).
pub const REPLACED_BUILTINS: [&str; 2] = ["numbers.range_step", "numbers.range"];

/// Why a bundle cannot run on the VM.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VmError {
    /// The Rego calls a builtin custody replaces; the VM would call regorus's original.
    #[error(
        "{file} calls {builtin}, which custody replaces with a bounded version (at most {max} elements); the regorus VM ignores engine extensions and would call the unbounded builtin"
    , max = super::limits::MAX_RANGE_ELEMENTS)]
    Extension {
        /// The file calling it.
        file: String,
        /// The builtin.
        builtin: String,
    },
    /// The VM compiler refuses the policy (an unsupported construct, say).
    #[error("the regorus VM compiler refuses the policy: {0}")]
    Compile(String),
    /// `data.json` cannot be given to the VM.
    #[error("the regorus VM refuses data.json: {0}")]
    Data(String),
}

/// A bundle's Rego compiled for the VM: the program, the policy it came from (for
/// default rules) and the data document. Evaluated on a fresh VM per input.
pub struct VmRego {
    policy: regorus::CompiledPolicy,
    program: Arc<Program>,
    data: regorus::Value,
    timeout: Duration,
}

impl std::fmt::Debug for VmRego {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VmRego")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl VmRego {
    /// Compiles `entry` of `engine` (which holds the bundle's files and data) for the VM.
    /// `files` are the bundle's Rego sources, checked for calls of [`REPLACED_BUILTINS`].
    pub(crate) fn compile(
        engine: &regorus::Engine,
        entry: &str,
        files: &[(String, String)],
        data: Option<&str>,
        timeout: Duration,
    ) -> Result<VmRego, VmError> {
        if let Some((file, builtin)) = replaced_builtin_call(files) {
            return Err(VmError::Extension { file, builtin });
        }
        let mut engine = engine.clone();
        let entry_rc: regorus::Rc<str> = regorus::Rc::from(entry);
        let policy = engine
            .compile_with_entrypoint(&entry_rc)
            .map_err(|e| VmError::Compile(diagnostic(&e)))?;
        let program = Compiler::compile_from_policy(&policy, &[entry])
            .map_err(|e| VmError::Compile(e.to_string()))?;
        let data = match data {
            Some(text) => {
                regorus::Value::from_json_str(text).map_err(|e| VmError::Data(diagnostic(&e)))?
            }
            None => regorus::Value::new_object(),
        };
        let vm = VmRego {
            policy,
            program,
            data,
            timeout,
        };
        vm.machine().map_err(|e| VmError::Data(e.to_string()))?;
        Ok(vm)
    }

    fn machine(&self) -> Result<RegoVM, RegoError> {
        let mut vm = RegoVM::new_with_policy(self.policy.clone());
        vm.load_program(self.program.clone());
        vm.set_data(self.data.clone())
            .map_err(|e| RegoError::Eval {
                rule: "data".to_owned(),
                message: e.to_string(),
            })?;
        vm.set_execution_timer_config(Some(ExecutionTimerConfig {
            limit: self.timeout,
            check_interval: TIMER_CHECK_INTERVAL,
        }));
        Ok(vm)
    }

    /// Evaluates the entry point over `input` on a fresh VM: the raw value.
    pub(crate) fn eval(
        &self,
        entry: &str,
        input: &regorus::Value,
    ) -> Result<regorus::Value, String> {
        let mut vm = self.machine().map_err(|e| e.to_string())?;
        vm.set_input(input.clone());
        vm.execute_entry_point_by_name(entry)
            .map_err(|e| e.to_string())
    }
}

/// The first call of a builtin custody replaces, as `(file, builtin)`; comments ignored.
fn replaced_builtin_call(files: &[(String, String)]) -> Option<(String, String)> {
    for (name, text) in files {
        for line in text.lines() {
            let code = line.split('#').next().unwrap_or_default();
            for builtin in REPLACED_BUILTINS {
                let mut rest = code;
                while let Some(at) = rest.find(builtin) {
                    let after = rest[at + builtin.len()..].trim_start();
                    let before_ok = rest[..at]
                        .chars()
                        .next_back()
                        .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.'));
                    if before_ok && after.starts_with('(') {
                        return Some((name.clone(), builtin.to_owned()));
                    }
                    rest = &rest[at + builtin.len()..];
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_of_replaced_builtins_are_found_outside_comments() {
        let f = |t: &str| replaced_builtin_call(&[("p.rego".into(), t.into())]);
        assert_eq!(
            f("x := numbers.range(1, 3)"),
            Some(("p.rego".into(), "numbers.range".into()))
        );
        assert_eq!(
            f("x := numbers.range_step(1, 3, 1)").map(|(_, b)| b),
            Some("numbers.range_step".into())
        );
        assert_eq!(f("# numbers.range(1, 3)\nx := 1"), None);
        assert_eq!(f("x := my.numbers.range(1, 2)"), None);
    }

    /// Why the VM may not run a bundle that calls `numbers.range`: it ignores the
    /// extension custody installs and produces what the interpreter refuses.
    #[test]
    fn the_vm_ignores_custodys_bounded_range() {
        let mut engine = regorus::Engine::new();
        super::super::limits::install(&mut engine).unwrap();
        engine
            .add_policy(
                "t.rego".into(),
                "package t\n\nn := count(numbers.range(1, 200000))\n".into(),
            )
            .unwrap();
        assert!(engine.clone().eval_rule("data.t.n".into()).is_err());
        let entry = regorus::Rc::from("data.t.n");
        let policy = engine.compile_with_entrypoint(&entry).unwrap();
        let program = Compiler::compile_from_policy(&policy, &["data.t.n"]).unwrap();
        let mut vm = RegoVM::new_with_policy(policy);
        vm.load_program(program);
        vm.set_data(regorus::Value::new_object()).unwrap();
        let n = vm.execute_entry_point_by_name("data.t.n").unwrap();
        assert_eq!(n.as_i64().unwrap(), 200_000);
    }
}
