//! Parse + verify one P-256 DSSE envelope (the DSSE spec vector, DER signature), and
//! the same for a freshly signed in-toto envelope with the key under a threshold of 1.
//! Two baselines in the same run: the bare aws-lc-rs ECDSA P-256 verification of the
//! same PAE and signature (the floor no envelope code can go under), and parsing alone,
//! so the figure splits into cryptography and custody's own work.

use criterion::{Criterion, criterion_group, criterion_main};
use custody::attest::{
    Envelope, INTOTO_PAYLOAD_TYPE, KeyAlgorithm, PublicKey, SigningKey, TrustedKey, sign_envelope,
    verify_json,
};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dsse");
    let pem = std::fs::read_to_string(dir.join("p256.pub")).unwrap_or_default();
    let envelope = std::fs::read(dir.join("envelope-der-signature.json")).unwrap_or_default();
    let Ok(key) = PublicKey::from_pem(&pem) else {
        eprintln!("tests/data/dsse/p256.pub is missing or unreadable");
        return;
    };
    let trusted = [TrustedKey::new(Some("spec".into()), key.clone())];
    assert!(verify_json(&envelope, &trusted, 1).is_ok());
    c.bench_function("dsse parse+verify p256 (spec vector)", |b| {
        b.iter(|| verify_json(black_box(&envelope), black_box(&trusted), 1).is_ok())
    });
    let parsed = Envelope::from_json(&envelope).expect("spec vector parses");
    let message = parsed.pae();
    let sig = parsed.signatures[0].sig.clone();
    assert!(key.verify(&message, &sig));
    c.bench_function(
        "baseline: aws-lc ecdsa p256 verify only (spec vector)",
        |b| b.iter(|| key.verify(black_box(&message), black_box(&sig))),
    );
    c.bench_function("baseline: envelope parse only (spec vector)", |b| {
        b.iter(|| Envelope::from_json(black_box(&envelope)).is_ok())
    });

    let Ok(signer) = SigningKey::generate(KeyAlgorithm::EcdsaP256) else {
        return;
    };
    let statement = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"registry.example/app","digest":{"sha256":"4f0c2a91be77b2e1a4e7c3d0b5c6a8f9e0d1c2b3a4958677685a4b3c2d1e0f9a"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"https://example.com/build/v1"}}}"#;
    let Ok(env) = sign_envelope(INTOTO_PAYLOAD_TYPE, statement, &[&signer]) else {
        return;
    };
    let json = env.to_json().into_bytes();
    let trusted = [TrustedKey::new(None, signer.public_key().clone())];
    c.bench_function("dsse parse+verify p256 (in-toto statement)", |b| {
        b.iter(|| verify_json(black_box(&json), black_box(&trusted), 1).is_ok())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
