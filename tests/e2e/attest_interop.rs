//! Interoperability with Python securesystemslib, both ways.
//!
//! Needs `python3` with `securesystemslib[crypto]` (`pip install 'securesystemslib[crypto]'`);
//! the tests fail loudly, never skip, when it is missing.

use custody::attest::{
    Envelope, INTOTO_PAYLOAD_TYPE, KeyAlgorithm, PublicKey, SigningKey, Statement, TrustedKey,
    sign_envelope, verify_envelope,
};
use custody::category::Category;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script(name: &str) -> PathBuf {
    crate::support::fixtures::root()
        .join("tests/interop")
        .join(name)
}

fn python(args: &[&str]) -> Output {
    let out = Command::new("python3")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("python3 is required for the securesystemslib interop tests: {e}")
        });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("pip install"),
        "securesystemslib is missing: run `pip install 'securesystemslib[crypto]'` ({stderr})"
    );
    out
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap()
}

const KINDS: [(&str, KeyAlgorithm); 6] = [
    ("ecdsa-p256", KeyAlgorithm::EcdsaP256),
    ("ecdsa-p384", KeyAlgorithm::EcdsaP384),
    ("ecdsa-p521", KeyAlgorithm::EcdsaP521),
    ("ed25519", KeyAlgorithm::Ed25519),
    ("rsa-pss", KeyAlgorithm::Rsa),
    ("rsa-pkcs1", KeyAlgorithm::Rsa),
];

#[test]
fn securesystemslib_envelopes_verify_in_custody() {
    let dir = tempfile::tempdir().unwrap();
    let out = python(&[
        script("sslib_sign.py").to_str().unwrap(),
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "sslib_sign.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all_keys: Vec<TrustedKey> = KINDS
        .iter()
        .map(|(kind, _)| {
            TrustedKey::new(
                Some(kind.to_string()),
                PublicKey::from_pem(&read(dir.path(), &format!("{kind}.pub"))).unwrap(),
            )
        })
        .collect();
    for (i, (kind, alg)) in KINDS.iter().enumerate() {
        let key = &all_keys[i];
        assert_eq!(key.key.algorithm(), *alg, "{kind}");
        // securesystemslib's default keyid is recognised as a hint for this key.
        assert!(
            key.key
                .answers_to(read(dir.path(), &format!("{kind}.keyid")).trim()),
            "{kind} keyid"
        );
        let env =
            Envelope::from_json(read(dir.path(), &format!("{kind}.json")).as_bytes()).unwrap();
        let v = verify_envelope(&env, std::slice::from_ref(key), 1)
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(v.payload_type, INTOTO_PAYLOAD_TYPE);
        let st = Statement::parse(&v.payload).unwrap();
        assert_eq!(
            st.predicate_type,
            "https://example.com/securesystemslib-interop/v1"
        );
        // Among all six keys, exactly the right one is the signer.
        let v = verify_envelope(&env, &all_keys, 1).unwrap();
        assert_eq!(v.signers.len(), 1);
        assert_eq!(v.signers[0].name.as_deref(), Some(*kind));
        // Any other key alone rejects it, as an untrusted signer (the keyid is foreign).
        let other = &all_keys[(i + 1) % all_keys.len()];
        let err = verify_envelope(&env, std::slice::from_ref(other), 1).unwrap_err();
        assert_eq!(err.category(), Category::UntrustedSigner, "{kind}: {err}");
    }
    // The securesystemslib JSON form of the Ed25519 key is the same key.
    let json_key = PublicKey::from_text(&read(dir.path(), "ed25519.sslib.json")).unwrap();
    assert_eq!(json_key, all_keys[3].key);
}

#[test]
fn custody_envelopes_verify_in_securesystemslib() {
    let dir = tempfile::tempdir().unwrap();
    let payload = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"00"}}],"predicateType":"https://example.com/custody-interop/v1","predicate":{}}"#;
    for alg in crate::support::fixtures::ALGORITHMS {
        let key = SigningKey::generate(alg).unwrap();
        let pub_path = dir.path().join(format!("{alg}.pub"));
        std::fs::write(&pub_path, key.public_key_pem()).unwrap();
        let env = sign_envelope(INTOTO_PAYLOAD_TYPE, payload, &[&key]).unwrap();
        let env_path = dir.path().join(format!("{alg}.json"));
        std::fs::write(&env_path, env.to_json()).unwrap();
        let verify = |path: &Path, threshold: &str, keys: &[&Path]| {
            let mut args = vec![
                script("sslib_verify.py").to_str().unwrap().to_owned(),
                path.to_str().unwrap().to_owned(),
                threshold.to_owned(),
            ];
            args.extend(keys.iter().map(|k| k.to_str().unwrap().to_owned()));
            python(&args.iter().map(String::as_str).collect::<Vec<_>>())
        };
        let out = verify(&env_path, "1", &[&pub_path]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{alg}: securesystemslib rejected custody's envelope: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("custody-interop"), "{stdout}");
        // And securesystemslib does reject a tampered one (the check can fail).
        let mut tampered = env.clone();
        tampered.payload[5] ^= 1;
        let bad_path = dir.path().join(format!("{alg}.bad.json"));
        std::fs::write(&bad_path, tampered.to_json()).unwrap();
        let out = verify(&bad_path, "1", &[&pub_path]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{alg}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // A two-key envelope meets a threshold of two in securesystemslib too.
    let a = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let b = SigningKey::generate(KeyAlgorithm::Ed25519).unwrap();
    let env = sign_envelope(INTOTO_PAYLOAD_TYPE, payload, &[&a, &b]).unwrap();
    let (pa, pb, pe) = (
        dir.path().join("a.pub"),
        dir.path().join("b.pub"),
        dir.path().join("ab.json"),
    );
    std::fs::write(&pa, a.public_key_pem()).unwrap();
    std::fs::write(&pb, b.public_key_pem()).unwrap();
    std::fs::write(&pe, env.to_json()).unwrap();
    let out = python(&[
        script("sslib_verify.py").to_str().unwrap(),
        pe.to_str().unwrap(),
        "2",
        pa.to_str().unwrap(),
        pb.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
