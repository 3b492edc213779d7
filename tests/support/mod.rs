//! Shared integration-test harness: real registries on 127.0.0.1, tiny real OCI images
//! pushed with skopeo, signed attestations attached with custody's push API, and a
//! scriptable hostile HTTP server for error paths.
//!
//! Use it from an integration test with `mod support;`. Every helper that needs a tool
//! (ferro-oci-server, docker-registry, skopeo) panics with a message naming the tool and
//! `scripts/setup` when it is missing: tests never skip silently.
#![allow(dead_code, unused_imports)]

pub mod attest;
pub mod hostile;
pub mod images;
pub mod registries;

pub use attest::{attach_statement, signed_envelope, statement};
pub use images::{Layout, multi_platform, push_layout, single_platform};
pub use registries::{Kind, TestRegistry};

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
