//! In-process integration tests: the library through its public API, and the webhook
//! server in process. Nothing outside Cargo is needed: `cargo test --test it`.

#[path = "../support/mod.rs"]
mod support;

mod admission_plan;
mod attest_bundle;
mod attest_keys;
mod attest_mutation;
mod attest_statement;
mod attest_vectors;
mod attest_verify;
mod policy_store;
mod registry_hostile;
mod server_http;
mod server_rotation;
mod server_shutdown;
mod webhook_service;
