//! A Sigstore bundle attached by sigstore-js (`@sigstore/oci`, signed with a local key by
//! `@sigstore/sign`'s DSSEBundleBuilder, no witnesses) is found by custody on both real
//! registries and verifies with the producer's public key.
//!
//! Needs node and `npm ci` in tests/interop/oci (scripts/setup); fails loudly otherwise.

use crate::support;
use custody::attest::bundle::{Bundle, verify_bundle};
use custody::attest::{PublicKey, Statement, TrustedKey};
use custody::registry::{EvidenceFormat, Registry, Source};
use std::process::Command;
use support::{TestRegistry, push_layout, single_platform};

#[tokio::test]
async fn sigstore_js_bundle_attached_with_sigstore_oci_is_found_and_verifies() {
    let script = support::fixtures::root().join("tests/interop/oci/attach_bundle.js");
    let dir = tempfile::tempdir().unwrap();
    for reg in TestRegistry::both() {
        let digest = push_layout(&reg, &single_platform("sigstore-js"), "team/sjs:v1");
        let pub_path = dir.path().join(format!("{:?}.pub", reg.kind));
        let out = Command::new(support::registries::tool("node"))
            .arg(&script)
            .arg(format!("{}/team/sjs", reg.host))
            .arg(digest.to_string())
            .arg(&pub_path)
            .output()
            .expect("run node");
        assert!(
            out.status.success(),
            "@sigstore/oci attach failed on {:?} (exit {:?}; run `npm ci` in tests/interop/oci): {}{}",
            reg.kind,
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let found = reg
            .client()
            .discover(&reg.image("team/sjs:v1"), &digest, &reg.creds())
            .await
            .unwrap();
        assert_eq!(found.evidence.len(), 1, "{:?}: {found:?}", reg.kind);
        let e = &found.evidence[0];
        assert_eq!(e.format, EvidenceFormat::SigstoreBundle);
        let expect = if reg.has_referrers_api() {
            Source::ReferrersApi
        } else {
            Source::TagSchema
        };
        assert_eq!(e.source, expect, "{:?}", reg.kind);
        let key = PublicKey::from_pem(&std::fs::read_to_string(&pub_path).unwrap()).unwrap();
        let bundle = Bundle::from_json(&e.bytes).unwrap();
        let verified = verify_bundle(
            &bundle,
            &[TrustedKey::new(Some("sigstore-js".into()), key)],
            1,
        )
        .unwrap();
        let st = Statement::parse(&verified.payload).unwrap();
        assert_eq!(
            st.predicate_type,
            "https://example.com/sigstore-oci-interop/v1"
        );
        assert!(st.matches_digest(&digest));
    }
}
