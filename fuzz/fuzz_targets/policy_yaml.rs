//! `policy.yaml` as the policy loader reads it (the YAML, the match rules, the attestors
//! and their keys). Never panics, and a spec written back as YAML reads as the same spec.
#![no_main]

use custody::policy::{Attestor, Matcher, PolicySpec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = yaml_serde::from_str::<PolicySpec>(text) else {
        return;
    };
    let _ = spec.rego_package();
    let _ = Matcher::compile(&spec.match_rules);
    for attestor in &spec.attestors {
        let _ = Attestor::from_spec(attestor);
    }
    let written = yaml_serde::to_string(&spec).expect("a spec serializes");
    let again: PolicySpec = yaml_serde::from_str(&written).expect("a written spec reads back");
    assert_eq!(again, spec, "{written}");
});
