//! Policy bundles: `policy.yaml` + Rego + optional `data.json`, the Rego input contract,
//! regorus evaluation, and the [`PolicyStore`] that reloads them atomically.
//!
//! A bundle comes from a directory or a ConfigMap's data map (the same file names), is
//! compiled and warmed once, and evaluated on a clone of the warmed engine per image.

pub mod attestors;
pub mod bundle;
pub mod controls;
pub(crate) mod diagnostic;
pub mod dialect;
pub mod input;
pub mod layout;
pub mod limits;
pub mod matcher;
pub mod memo;
pub mod outcome;
pub mod rego;
pub mod regotests;
pub mod spec;
pub mod store;
pub mod testcases;
pub mod trust_root;
pub(crate) mod variants;
pub mod vm;
pub mod vm_diff;
pub mod watch;

pub use attestors::Attestor;
pub use bundle::{Bundle, BundleError};
pub use input::PolicyInput;
pub use matcher::{MatchTarget, Matcher};
pub use rego::{Outcome, RegoError};
pub use spec::{Mode, PolicySpec};
pub use store::{LoadReport, PolicyStore, Snapshot, StoreError};

/// Converts an input document into the value regorus evaluates.
pub fn to_rego_value(input: &PolicyInput) -> regorus::Value {
    match serde_json::to_value(input) {
        Ok(v) => regorus::Value::from(v),
        Err(_) => regorus::Value::new_object(),
    }
}

/// The input a bundle is warmed with: a complete document with no evidence.
pub(crate) fn warm_input(spec: &PolicySpec) -> regorus::Value {
    let mut input = input::PolicyInput::empty(chrono::Utc::now());
    input.evaluation.set_policy(spec);
    to_rego_value(&input)
}
