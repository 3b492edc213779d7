//! The one shared harness of the three test binaries (`tests/it`, `tests/e2e`,
//! `tests/deploy`), included by each with `#[path = "../support/mod.rs"] mod support;`:
//!
//! - [`fixtures`]: paths into `tests/data`, the demo CI key, the predicates;
//! - [`cli`]: the one way to run the `custody` binary;
//! - [`serve`]: the one way to start `custody serve` (a child process over HTTPS);
//! - [`in_process`]: the in-process server with a scripted reviewer, and [`tls`]: a
//!   throwaway CA and HTTPS clients;
//! - [`registries`], [`images`], [`attest`]: real registries on 127.0.0.1, tiny real OCI
//!   images pushed with skopeo, signed attestations attached with custody's push API
//!   (the one attach helper, [`attach_statement`]);
//! - [`hostile`], [`net`]: a scriptable hostile HTTP server, a byte-counting proxy and a
//!   registry that never answers;
//! - [`bundles`], [`reviews`], [`verdicts`]: policy bundles for `--policy-dir`,
//!   AdmissionReviews made from `kubectl`-made objects, assertions on the answers;
//! - [`deploy`]: the chart renderer and the schema checks of the deployment tests.
//!
//! Every helper that needs a tool (ferro-oci-server, docker-registry, skopeo, kubectl,
//! python3) panics with a message naming the tool and `scripts/setup` when it is
//! missing: tests never skip silently.
#![allow(dead_code, unused_imports)]

pub mod attest;
pub mod bundles;
pub mod cli;
pub mod deploy;
pub mod fixtures;
pub mod hostile;
pub mod images;
pub mod in_process;
pub mod net;
pub mod python;
pub mod registries;
pub mod reviews;
pub mod serve;
pub mod tls;
pub mod verdicts;

pub use attest::{attach_statement, signed_envelope, statement};
pub use bundles::PolicyDir;
pub use images::{Layout, Pushed, multi_platform, push_layout, single_platform};
pub use registries::{Kind, TestRegistry};
pub use serve::Serve;
pub use verdicts::{assert_admitted, assert_denied, warnings};

/// The first policy result of `image` in a `custody verify -o json` document.
pub fn result_of<'a>(doc: &'a serde_json::Value, image: &str) -> &'a serde_json::Value {
    let img = doc["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"] == image)
        .unwrap_or_else(|| panic!("{image} not in {doc}"));
    &img["results"][0]
}

/// Installs the rustls crypto provider once (reqwest needs one when several are built in).
pub fn init_crypto() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
