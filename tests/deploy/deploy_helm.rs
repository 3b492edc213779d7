//! The chart passes Helm's own checks: `helm lint --strict` (through helm-python-sdk, see
//! tests/support/deploy/helm.py) with the default values and with every option on.

use crate::support;
use serde_json::json;
use support::deploy::chart;
use support::deploy::fixtures::*;

#[test]
fn helm_lint_strict_passes_with_the_default_values() {
    let report = chart()
        .lint_strict(&json!({}))
        .unwrap_or_else(|report| panic!("helm lint --strict failed: {report}"));
    assert_eq!(report["total_charts_linted"], 1, "{report}");
}

#[test]
fn helm_lint_strict_passes_with_every_option() {
    let report = chart()
        .lint_strict(&everything())
        .unwrap_or_else(|report| panic!("helm lint --strict failed: {report}"));
    assert_eq!(report["total_charts_linted"], 1, "{report}");
}

/// The lint is not a rubber stamp: values the schema refuses fail it.
#[test]
fn helm_lint_strict_fails_on_values_the_schema_refuses() {
    let err = chart()
        .lint_strict(&json!({"replicaCount": "three"}))
        .expect_err("a string replicaCount must fail the lint");
    assert!(err.contains("replicaCount"), "{err}");
}
