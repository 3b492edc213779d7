//! Full keyless verification of one Sigstore DSSE bundle against a trusted root, and
//! the bare ECDSA P-256 verification it is measured against, in the same run.
//!
//! * the sigstore-conformance `happy-path-intoto-in-dsse-v3` bundle from the public-good
//!   instance: leaf chained to the Fulcio intermediate (ECDSA P-384/SHA-384), SCT,
//!   signed entry timestamp, checkpoint + inclusion proof, DSSE signature (P-256)
//! * the same shape from the private test Sigstore (every key P-256)
//! * baseline: aws-lc ECDSA P-256 verification of that bundle's DSSE PAE and signature

use criterion::{Criterion, criterion_group, criterion_main};
use custody::attest::sigstore::testing::{Leaf, TestSigstore};
use custody::attest::sigstore::{IdentityPolicy, TrustedRoot, Verifier, verify_bundle};
use custody::attest::{Envelope, PublicKey, pae};
use std::hint::black_box;

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn bench(c: &mut Criterion) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sigstore-conformance/happy-path-intoto-in-dsse-v3");
    let Ok(bundle) = std::fs::read(dir.join("bundle.sigstore.json")) else {
        eprintln!("the conformance bundle is missing");
        return;
    };
    let Ok(root) = TrustedRoot::public_good() else {
        return;
    };
    let policy = IdentityPolicy::exact(IDENTITY, ISSUER);
    let verifier = Verifier::Identity(&policy);
    assert!(verify_bundle(&bundle, None, &verifier, &root).is_ok());
    c.bench_function(
        "keyless dsse bundle verify (public-good, P-384 chain)",
        |b| b.iter(|| verify_bundle(black_box(&bundle), None, &verifier, &root).is_ok()),
    );

    // The baseline: the bundle's own DSSE signature under its leaf key.
    let value: serde_json::Value = serde_json::from_slice(&bundle).unwrap_or_default();
    let envelope = Envelope::from_json(value["dsseEnvelope"].to_string().as_bytes());
    let cert = value["verificationMaterial"]["certificate"]["rawBytes"]
        .as_str()
        .and_then(|s| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(s).ok()
        })
        .unwrap_or_default();
    let (Ok(envelope), Ok(key)) = (envelope, PublicKey::from_certificate_der(&cert)) else {
        return;
    };
    let message = pae(&envelope.payload_type, &envelope.payload);
    let sig = envelope.signatures[0].sig.clone();
    assert!(key.verify(&message, &sig));
    c.bench_function(
        "baseline: aws-lc ecdsa p256 verify only (same bundle's DSSE)",
        |b| b.iter(|| key.verify(black_box(&message), black_box(&sig))),
    );

    let Ok(sigstore) = TestSigstore::new() else {
        return;
    };
    let leaf = Leaf::github_workflow("org/repo", "release.yml");
    let statement = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"img","digest":{"sha256":"4f0c2a91be77b2e1a4e7c3d0b5c6a8f9e0d1c2b3a4958677685a4b3c2d1e0f9a"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}"#;
    let (Ok(private_bundle), Ok(private_root)) = (
        sigstore.dsse_bundle("application/vnd.in-toto+json", statement, &leaf),
        TrustedRoot::from_json(sigstore.trusted_root_json().as_bytes()),
    ) else {
        return;
    };
    let private_policy = IdentityPolicy::exact(&leaf.subject, &leaf.issuer);
    let private_verifier = Verifier::Identity(&private_policy);
    assert!(
        verify_bundle(
            private_bundle.as_bytes(),
            None,
            &private_verifier,
            &private_root
        )
        .is_ok()
    );
    c.bench_function(
        "keyless dsse bundle verify (private sigstore, all P-256)",
        |b| {
            b.iter(|| {
                verify_bundle(
                    black_box(private_bundle.as_bytes()),
                    None,
                    &private_verifier,
                    &private_root,
                )
                .is_ok()
            })
        },
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
