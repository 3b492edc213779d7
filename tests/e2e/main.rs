//! End-to-end tests: real registries (ferro-oci-server, docker-registry), images pushed
//! with skopeo, the real `custody` binary (CLI and `custody serve` over HTTPS), and the
//! interoperability checks with securesystemslib, in-toto and @sigstore/sign. Every tool
//! comes from `scripts/setup`; a missing one fails the test that needs it, naming it.

#[path = "../support/mod.rs"]
mod support;

mod attest_cli;
mod attest_interop;
mod attest_interop_sigstore_js;
mod background_scan;
mod cli_habits;
mod cli_review;
mod hostile_limits;
mod intoto_layouts;
mod keyless;
mod log_story;
mod policy_cli;
mod policy_diff;
mod policy_input_schema;
mod policy_tests;
mod registry_attest_cli;
mod registry_cases;
mod registry_cli;
mod registry_costs;
mod registry_harness;
mod registry_interop_oci;
mod registry_oci_client;
mod registry_warm;
mod report;
mod server_binary;
mod server_e2e;
mod server_limits;
mod verify_e2e;
mod webhook_e2e_deadline;
mod webhook_e2e_evidence;
mod webhook_e2e_reload;
mod webhook_e2e_update;
mod webhook_e2e_workloads;
