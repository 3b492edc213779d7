//! Sigstore bundle v0.3 with DSSE content: write, read, verify with public keys.

use crate::support;
use custody::attest::bundle::{Bundle, BundleError, verify_bundle};
use custody::attest::{
    INTOTO_PAYLOAD_TYPE, KeyAlgorithm, PublicKey, SigningKey, Statement, TrustedKey, sign_envelope,
};
use support::fixtures::data_bytes as data;

#[test]
fn custody_bundles_round_trip_and_verify_with_the_same_rules() {
    let k = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let other = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let env = sign_envelope(INTOTO_PAYLOAD_TYPE, b"{}", &[&k]).unwrap();
    let bundle = Bundle::new(env, k.public_key());
    let json = bundle.to_json();
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        doc["mediaType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    assert_eq!(
        doc["verificationMaterial"]["publicKey"]["hint"],
        k.public_key().sigstore_key_hint()
    );
    let parsed = Bundle::from_json(json.as_bytes()).unwrap();
    assert_eq!(parsed, bundle);
    let trusted = [TrustedKey::new(Some("ci".into()), k.public_key().clone())];
    assert_eq!(verify_bundle(&parsed, &trusted, 1).unwrap().payload, b"{}");
    let wrong = [TrustedKey::new(None, other.public_key().clone())];
    assert!(verify_bundle(&parsed, &wrong, 1).is_err());
    // Tampering with the payload inside the bundle breaks it.
    let mut tampered = parsed.clone();
    tampered.envelope.payload = b"{ }".to_vec();
    assert!(verify_bundle(&tampered, &trusted, 1).is_err());
}

#[test]
fn the_public_key_hint_matches_sigstore_clients() {
    // sigstore-conformance writes the hint as base64(SHA-256(SPKI DER)).
    let key = PublicKey::from_pem(
        std::str::from_utf8(&data("sigstore-conformance/managed-key-happy-path/key.pub")).unwrap(),
    )
    .unwrap();
    let bundle: serde_json::Value = serde_json::from_slice(&data(
        "sigstore-conformance/managed-key-happy-path/bundle.sigstore.json",
    ))
    .unwrap();
    assert_eq!(
        bundle["verificationMaterial"]["publicKey"]["hint"],
        key.sigstore_key_hint()
    );
    assert!(key.answers_to(&key.sigstore_key_hint()));
}

#[test]
fn message_signature_bundles_are_refused_clearly() {
    let err = Bundle::from_json(&data(
        "sigstore-conformance/managed-key-happy-path/bundle.sigstore.json",
    ))
    .unwrap_err();
    assert_eq!(err, BundleError::NotDsse("messageSignature".into()));
}

#[test]
fn conformance_dsse_bundles_parse_and_their_signatures_check() {
    // The keyless cases: custody never trusts the certificate, but its key lets us check
    // that the DSSE content was read exactly (happy path verifies, the _fail case does not).
    let happy = Bundle::from_json(&data(
        "sigstore-conformance/happy-path-intoto-in-dsse-v3/bundle.sigstore.json",
    ))
    .unwrap();
    let cert_key = PublicKey::from_certificate_der(happy.certificate.as_ref().unwrap()).unwrap();
    let as_trusted = [TrustedKey::new(Some("leaf".into()), cert_key)];
    let v = verify_bundle(&happy, &as_trusted, 1).unwrap();
    let st = Statement::parse(&v.payload).unwrap();
    assert_eq!(st.subjects[0].name, "a.txt");
    let bad = Bundle::from_json(&data(
        "sigstore-conformance/dsse-invalid-sig_fail/bundle.sigstore.json",
    ))
    .unwrap();
    let bad_key = PublicKey::from_certificate_der(bad.certificate.as_ref().unwrap()).unwrap();
    assert!(verify_bundle(&bad, &[TrustedKey::new(None, bad_key)], 1).is_err());
}

#[test]
fn unknown_media_types_and_garbage_are_refused() {
    assert!(matches!(
        Bundle::from_json(b"[]"),
        Err(BundleError::Json(_))
    ));
    let other = br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v9+json","dsseEnvelope":{}}"#;
    assert!(matches!(
        Bundle::from_json(other),
        Err(BundleError::MediaType(_))
    ));
}
