//! Shared code of the `webhook_e2e*` tests: the real `custody serve` binary as a child
//! process over HTTPS ([`serve`]), policy bundles written to a `--policy-dir`
//! ([`bundles`]), images with and without signed evidence on the real registries of
//! `tests/support` ([`images`]), AdmissionReviews made from `kubectl`-made objects
//! ([`reviews`]), and TCP helpers: a byte-counting proxy and a registry that never answers
//! ([`net`]).
//!
//! Use it with `mod support; mod webhook_support;`.
#![allow(dead_code, unused_imports)]

pub mod bundles;
pub mod images;
pub mod net;
pub mod reviews;
pub mod serve;

pub use bundles::PolicyDir;
pub use images::Pushed;
pub use serve::Serve;

/// Asserts that `response` denies and that its message names every one of `needles`.
#[track_caller]
pub fn assert_denied(ctx: &str, response: &serde_json::Value, needles: &[&str]) {
    assert_eq!(
        response["allowed"], false,
        "{ctx}: expected a denial: {response}"
    );
    let message = response["status"]["message"].as_str().unwrap_or_default();
    for n in needles {
        assert!(
            message.contains(n),
            "{ctx}: the denial should name {n:?}:\n{message}"
        );
    }
}

/// Asserts that `response` admits (no denial status).
#[track_caller]
pub fn assert_admitted(ctx: &str, response: &serde_json::Value) {
    assert_eq!(
        response["allowed"], true,
        "{ctx}: expected an admission: {response}"
    );
    assert!(response.get("status").is_none(), "{ctx}: {response}");
}

/// The warnings of `response` joined by newlines.
pub fn warnings(response: &serde_json::Value) -> String {
    response["warnings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|w| w.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}
