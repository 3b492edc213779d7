//! Verification rules, and every way an attacker or a broken producer gets it wrong.

use custody::attest::{
    Envelope, INTOTO_PAYLOAD_TYPE, KeyAlgorithm, PublicKey, Signature, SigningKey, TrustedKey,
    VerifyError, sign_envelope, verify_envelope, verify_json,
};
use custody::category::Category;

fn key(alg: KeyAlgorithm) -> SigningKey {
    SigningKey::generate(alg).unwrap()
}

fn trust(name: &str, k: &SigningKey) -> TrustedKey {
    TrustedKey::new(Some(name.to_owned()), k.public_key().clone())
}

const PAYLOAD: &[u8] = br#"{"_type":"https://in-toto.io/Statement/v1"}"#;

#[test]
fn every_algorithm_signs_and_verifies_and_round_trips_through_pem() {
    for alg in crate::support::fixtures::ALGORITHMS {
        let k = key(alg);
        // The private key survives PKCS#8 PEM, the public key SPKI PEM.
        let reloaded = SigningKey::from_pem(&k.to_pkcs8_pem().unwrap()).unwrap();
        assert_eq!(reloaded.public_key(), k.public_key(), "{alg}");
        let public = PublicKey::from_pem(&k.public_key_pem()).unwrap();
        assert_eq!(public.algorithm(), alg);
        assert_eq!(public.key_id(), k.public_key().key_id());
        let env = sign_envelope(INTOTO_PAYLOAD_TYPE, PAYLOAD, &[&reloaded]).unwrap();
        let json = env.to_json();
        let v = verify_json(json.as_bytes(), &[TrustedKey::new(None, public)], 1).unwrap();
        assert_eq!(v.payload, PAYLOAD, "{alg}");
        assert_eq!(v.signers[0].key_id, k.public_key().key_id());
    }
}

#[test]
fn tampered_payload_is_a_bad_signature() {
    let k = key(KeyAlgorithm::EcdsaP256);
    let mut env = sign_envelope(INTOTO_PAYLOAD_TYPE, PAYLOAD, &[&k]).unwrap();
    env.payload.push(b' ');
    let err = verify_envelope(&env, &[trust("ci", &k)], 1).unwrap_err();
    assert_bad_signature_claiming_trust(&err);
    assert_eq!(err.category(), Category::BadSignature);
}

#[test]
fn changed_payload_type_is_a_bad_signature() {
    let k = key(KeyAlgorithm::Ed25519);
    let mut env = sign_envelope(INTOTO_PAYLOAD_TYPE, PAYLOAD, &[&k]).unwrap();
    env.payload_type = "application/json".to_owned();
    let err = verify_envelope(&env, &[trust("ci", &k)], 1).unwrap_err();
    assert_eq!(err.category(), Category::BadSignature);
}

#[test]
fn non_ascii_payload_type_verifies_and_is_bound() {
    let k = key(KeyAlgorithm::EcdsaP256);
    let env = sign_envelope("application/vnd.ßeta+json", PAYLOAD, &[&k]).unwrap();
    let parsed = Envelope::from_json(env.to_json().as_bytes()).unwrap();
    assert!(verify_envelope(&parsed, &[trust("ci", &k)], 1).is_ok());
    let mut changed = parsed.clone();
    changed.payload_type = "application/vnd.ssta+json".to_owned(); // same char count, fewer bytes
    assert!(verify_envelope(&changed, &[trust("ci", &k)], 1).is_err());
}

#[test]
fn wrong_key_is_rejected() {
    let signer = key(KeyAlgorithm::EcdsaP256);
    let other = key(KeyAlgorithm::EcdsaP256);
    let env = sign_envelope(INTOTO_PAYLOAD_TYPE, PAYLOAD, &[&signer]).unwrap();
    let err = verify_envelope(&env, &[trust("other", &other)], 1).unwrap_err();
    // The keyid names the signer, which is not trusted.
    assert!(
        matches!(&err, VerifyError::UntrustedSigner { keyids } if keyids == &[signer.public_key().key_id().to_owned()])
    );
    assert_eq!(err.category(), Category::UntrustedSigner);
    // Without a keyid hint custody cannot tell a stranger from tampering: bad-signature.
    let mut anonymous = env.clone();
    anonymous.signatures[0].keyid = None;
    let err = verify_envelope(&anonymous, &[trust("other", &other)], 1).unwrap_err();
    assert_eq!(err.category(), Category::BadSignature);
}

#[test]
fn untrusted_key_claiming_a_trusted_keyid_is_rejected() {
    let trusted = key(KeyAlgorithm::EcdsaP256);
    let attacker = key(KeyAlgorithm::EcdsaP256);
    let mut env = sign_envelope(INTOTO_PAYLOAD_TYPE, PAYLOAD, &[&attacker]).unwrap();
    env.signatures[0].keyid = Some(trusted.public_key().key_id().to_owned());
    let err = verify_envelope(&env, &[trust("ci", &trusted)], 1).unwrap_err();
    assert_bad_signature_claiming_trust(&err);
    // Also with the in-toto key id spelling of the hint.
    env.signatures[0].keyid = Some(trusted.public_key().intoto_key_id().to_owned());
    assert!(verify_envelope(&env, &[trust("ci", &trusted)], 1).is_err());
}

#[test]
fn keyid_is_only_a_hint() {
    // A genuine signature whose keyid names another key (or garbage) still verifies.
    let a = key(KeyAlgorithm::EcdsaP256);
    let b = key(KeyAlgorithm::Ed25519);
    let mut env = sign_envelope(INTOTO_PAYLOAD_TYPE, PAYLOAD, &[&a]).unwrap();
    env.signatures[0].keyid = Some(b.public_key().key_id().to_owned());
    let v = verify_envelope(&env, &[trust("b", &b), trust("a", &a)], 1).unwrap();
    assert_eq!(v.signers[0].name.as_deref(), Some("a"));
    env.signatures[0].keyid = Some("not-a-key-id".to_owned());
    assert!(verify_envelope(&env, &[trust("a", &a)], 1).is_ok());
}

#[test]
fn one_key_twice_does_not_meet_a_threshold_of_two() {
    let k = key(KeyAlgorithm::EcdsaP256);
    let other = key(KeyAlgorithm::EcdsaP256);
    // One key signing twice (ECDSA signatures differ each time).
    let env = sign_envelope(INTOTO_PAYLOAD_TYPE, PAYLOAD, &[&k, &k]).unwrap();
    assert_ne!(env.signatures[0].sig, env.signatures[1].sig);
    let err = verify_envelope(&env, &[trust("ci", &k), trust("other", &other)], 2).unwrap_err();
    assert!(
        matches!(&err, VerifyError::ThresholdNotMet { signers, threshold: 2 } if signers.len() == 1),
        "{err}"
    );
    assert_eq!(err.category(), Category::UntrustedSigner);
    // The same key listed twice in the trust set (under two names) counts once.
    let err = verify_envelope(&env, &[trust("ci", &k), trust("ci-again", &k)], 2).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::InvalidThreshold {
                threshold: 2,
                keys: 1
            }
        ),
        "{err}"
    );
    // The same signature copied under two keyids counts once.
    let mut copied = sign_envelope(INTOTO_PAYLOAD_TYPE, PAYLOAD, &[&k]).unwrap();
    let mut dup = copied.signatures[0].clone();
    dup.keyid = Some(other.public_key().key_id().to_owned());
    copied.signatures.push(dup);
    assert!(verify_envelope(&copied, &[trust("ci", &k), trust("other", &other)], 2).is_err());
}

#[test]
fn two_distinct_keys_meet_a_threshold_of_two() {
    let a = key(KeyAlgorithm::EcdsaP256);
    let b = key(KeyAlgorithm::Rsa);
    let c = key(KeyAlgorithm::Ed25519);
    let env = sign_envelope(INTOTO_PAYLOAD_TYPE, PAYLOAD, &[&a, &b]).unwrap();
    let v = verify_envelope(&env, &[trust("c", &c), trust("b", &b), trust("a", &a)], 2).unwrap();
    let names: Vec<_> = v.signers.iter().map(|s| s.name.clone().unwrap()).collect();
    assert_eq!(names, ["a", "b"]);
    assert!(verify_envelope(&env, &[trust("c", &c), trust("b", &b), trust("a", &a)], 3).is_err());
}

#[test]
fn truncated_and_non_base64_signatures_are_rejected() {
    let k = key(KeyAlgorithm::EcdsaP256);
    let mut env = sign_envelope(INTOTO_PAYLOAD_TYPE, PAYLOAD, &[&k]).unwrap();
    let full = env.signatures[0].sig.clone();
    env.signatures[0].sig.truncate(full.len() - 1);
    assert_eq!(
        verify_envelope(&env, &[trust("ci", &k)], 1)
            .unwrap_err()
            .category(),
        Category::BadSignature
    );
    env.signatures[0].sig.clear();
    assert!(verify_envelope(&env, &[trust("ci", &k)], 1).is_err());
    let json = sign_envelope(INTOTO_PAYLOAD_TYPE, PAYLOAD, &[&k])
        .unwrap()
        .to_json();
    let mut doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    doc["signatures"][0]["sig"] = serde_json::Value::String("not*base64".into());
    let err = verify_json(doc.to_string().as_bytes(), &[trust("ci", &k)], 1).unwrap_err();
    assert!(matches!(err, VerifyError::Malformed(_)), "{err}");
    assert_eq!(err.category(), Category::BadSignature);
}

#[test]
fn empty_signature_list_is_rejected() {
    let k = key(KeyAlgorithm::EcdsaP256);
    let env = Envelope {
        payload_type: INTOTO_PAYLOAD_TYPE.to_owned(),
        payload: PAYLOAD.to_vec(),
        signatures: vec![],
    };
    let err = verify_envelope(&env, &[trust("ci", &k)], 1).unwrap_err();
    assert_eq!(err, VerifyError::NoSignatures);
    assert_eq!(err.category(), Category::BadSignature);
    let json = br#"{"payload":"e30","payloadType":"application/vnd.in-toto+json","signatures":[]}"#;
    assert_eq!(
        verify_json(json, &[trust("ci", &k)], 1).unwrap_err(),
        VerifyError::NoSignatures
    );
}

#[test]
fn zero_threshold_or_no_keys_never_verifies() {
    let k = key(KeyAlgorithm::EcdsaP256);
    let env = sign_envelope(INTOTO_PAYLOAD_TYPE, PAYLOAD, &[&k]).unwrap();
    assert!(matches!(
        verify_envelope(&env, &[trust("ci", &k)], 0),
        Err(VerifyError::InvalidThreshold { .. })
    ));
    assert!(matches!(
        verify_envelope(&env, &[], 1),
        Err(VerifyError::InvalidThreshold { .. })
    ));
}

#[test]
fn too_many_signatures_are_refused() {
    let k = key(KeyAlgorithm::Ed25519);
    let mut env = sign_envelope(INTOTO_PAYLOAD_TYPE, PAYLOAD, &[&k]).unwrap();
    let sig = env.signatures[0].clone();
    env.signatures = vec![
        Signature {
            keyid: None,
            sig: vec![0; 64]
        };
        custody::attest::MAX_SIGNATURES
    ];
    env.signatures.push(sig);
    let err = verify_envelope(&env, &[trust("ci", &k)], 1).unwrap_err();
    assert_eq!(err.category(), Category::TooLarge);
}

#[test]
fn cross_algorithm_signatures_do_not_verify() {
    // An Ed25519 signature is 64 bytes like a raw P-256 one; it must not pass as one.
    let ed = key(KeyAlgorithm::Ed25519);
    let p256 = key(KeyAlgorithm::EcdsaP256);
    let mut env = sign_envelope(INTOTO_PAYLOAD_TYPE, PAYLOAD, &[&ed]).unwrap();
    env.signatures[0].keyid = None;
    assert!(verify_envelope(&env, &[trust("p256", &p256)], 1).is_err());
}

#[test]
fn verified_payload_is_exactly_the_signed_bytes() {
    let k = key(KeyAlgorithm::EcdsaP384);
    let payload = b"\x00\xffbinary \r\n payload";
    let env = sign_envelope("application/octet-stream", payload, &[&k]).unwrap();
    let v = verify_json(env.to_json().as_bytes(), &[trust("ci", &k)], 1).unwrap();
    assert_eq!(v.payload, payload);
    assert_eq!(v.payload_type, "application/octet-stream");
}

#[test]
fn keys_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PublicKey>();
    assert_send_sync::<TrustedKey>();
    assert_send_sync::<SigningKey>();
    assert_send_sync::<Envelope>();
    let k = key(KeyAlgorithm::EcdsaP256);
    let trusted = std::sync::Arc::new(vec![trust("ci", &k)]);
    let env = sign_envelope(INTOTO_PAYLOAD_TYPE, PAYLOAD, &[&k]).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (trusted, env) = (trusted.clone(), env.clone());
            std::thread::spawn(move || verify_envelope(&env, &trusted, 1).is_ok())
        })
        .collect();
    assert!(handles.into_iter().all(|h| h.join().unwrap()));
}

/// A bad signature from a signer whose key id claims a trusted key.
fn assert_bad_signature_claiming_trust(err: &VerifyError) {
    assert!(
        matches!(
            err,
            VerifyError::BadSignature {
                claims_trusted: true,
                ..
            }
        ),
        "{err}"
    );
}
