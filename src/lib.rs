//! custody: a Kubernetes admission controller that admits an image only when signed
//! in-toto attestations attached to its digest satisfy the cluster's Rego policies.
//!
//! The core modules ([`admission`], [`attest`], [`intoto`], [`policy`], [`engine`],
//! [`category`]) are plain functions and types with no knowledge of axum, kube or clap.
//! The engine finds evidence through [`engine::EvidenceSource`]s (the OCI registry
//! first) and resolves images through the [`registry`] trait; the Kubernetes client
//! lives only in [`k8s`], axum only in [`server`]. The command line (clap) is the
//! `custody` binary's (`src/main.rs`, `src/cli/`), not part of this library's API.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::todo,
        clippy::unimplemented
    )
)]
#![warn(missing_docs)]

// The global allocator is mimalloc, installed by regorus' `allocator-memory-limits`
// feature (its vendored mimalloc counts allocations, which is what lets a Rego
// evaluation be stopped at a memory ceiling; see `policy::limits`). mimalloc rather than
// the system allocator also matters for speed: regorus' evaluator makes and drops many
// small values, and with glibc's malloc a quarter of an evaluation was spent in
// malloc/free (docs/benchmarks.md).

pub mod admission;
pub mod attest;
pub mod category;
pub mod digest;
pub mod engine;
pub mod intoto;
pub mod k8s;
pub mod metrics;
pub mod policy;
pub mod registry;
pub mod report;
pub mod server;
pub mod units;
pub mod webhook;
