//! `custody envelope verify` as a person debugging a denial runs it.

use crate::support;
use custody::attest::bundle::Bundle;
use custody::attest::{INTOTO_PAYLOAD_TYPE, KeyAlgorithm, SigningKey, sign_envelope};
use support::cli::{custody, stdout as out};
use support::fixtures::{data, s};

#[test]
fn verifies_the_dsse_spec_vector() {
    let key = data("dsse/p256.pub");
    for file in [
        "dsse/envelope-raw-rs-signature.json",
        "dsse/envelope-der-signature.json",
    ] {
        let o = custody(&["envelope", "verify", "--key", s(&key), s(&data(file))]);
        assert_eq!(o.status.code(), Some(0), "{file}: {}", out(&o));
        let text = out(&o);
        assert!(
            text.contains("payload type: http://example.com/HelloWorld"),
            "{text}"
        );
        assert!(
            text.contains("signer: p256.pub (ecdsa-p256, key id "),
            "{text}"
        );
    }
}

#[test]
fn prints_statement_subjects_and_predicate_type_with_key_names() {
    let key = data("attestation-verifier/key.pub");
    let spec = format!("functionary={}", s(&key));
    let o = custody(&[
        "envelope",
        "verify",
        "--key",
        &spec,
        s(&data("attestation-verifier/test-data/build.fe1c6281.json")),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let text = out(&o);
    assert!(text.contains("signer: functionary (ed25519"), "{text}");
    assert!(
        text.contains("predicate type: https://slsa.dev/provenance/v1"),
        "{text}"
    );
    assert!(text.contains("subject: bin/foo sha256:"), "{text}");
}

#[test]
fn wrong_key_exits_1_with_the_reason() {
    let o = custody(&[
        "envelope",
        "verify",
        "--key",
        s(&data("intoto-golang/carol.pub")),
        s(&data("attestation-verifier/test-data/build.fe1c6281.json")),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        out(&o).contains("not verified: signed only by untrusted key id(s)"),
        "{}",
        out(&o)
    );
    assert!(out(&o).contains("[untrusted-signer]"));
}

#[test]
fn threshold_and_tampering_and_unusable_input() {
    let dir = tempfile::tempdir().unwrap();
    let a = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let b = SigningKey::generate(KeyAlgorithm::Rsa).unwrap();
    let a_pub = dir.path().join("a.pub");
    let b_pub = dir.path().join("b.pub");
    std::fs::write(&a_pub, a.public_key_pem()).unwrap();
    std::fs::write(&b_pub, b.public_key_pem()).unwrap();
    let env = sign_envelope(INTOTO_PAYLOAD_TYPE, br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"ab"}}],"predicateType":"p"}"#, &[&a, &b]).unwrap();
    let env_path = dir.path().join("env.json");
    std::fs::write(&env_path, env.to_json()).unwrap();
    let two = [
        "envelope",
        "verify",
        "--key",
        s(&a_pub),
        "--key",
        s(&b_pub),
        "--threshold",
        "2",
        s(&env_path),
    ];
    let o = custody(&two);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).contains("verified: 2 of 2"));
    // The same key twice cannot make a threshold of 2: unusable arguments.
    let o = custody(&[
        "envelope",
        "verify",
        "--key",
        s(&a_pub),
        "--key",
        s(&a_pub),
        "--threshold",
        "2",
        s(&env_path),
    ]);
    assert_eq!(o.status.code(), Some(2));
    // Tampered payload.
    let mut tampered = env.clone();
    tampered.payload.push(b' ');
    std::fs::write(&env_path, tampered.to_json()).unwrap();
    let o = custody(&two);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("[bad-signature]"), "{}", out(&o));
    // Not an envelope, not a key, missing file.
    std::fs::write(&env_path, "{\"hello\": 1}").unwrap();
    assert_eq!(custody(&two).status.code(), Some(2));
    assert_eq!(
        custody(&["envelope", "verify", "--key", s(&env_path), s(&env_path)])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        custody(&[
            "envelope",
            "verify",
            "--key",
            s(&a_pub),
            "/nonexistent.json"
        ])
        .status
        .code(),
        Some(2)
    );
}

#[test]
fn reads_sigstore_bundles_and_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let k = SigningKey::generate(KeyAlgorithm::Ed25519).unwrap();
    let key_path = dir.path().join("k.pub");
    std::fs::write(&key_path, k.public_key_pem()).unwrap();
    let env = sign_envelope("text/plain", b"hello", &[&k]).unwrap();
    let bundle_path = dir.path().join("b.sigstore.json");
    std::fs::write(
        &bundle_path,
        Bundle::new(env.clone(), k.public_key()).to_json(),
    )
    .unwrap();
    let o = custody(&["envelope", "verify", "--key", s(&key_path), s(&bundle_path)]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let lines_path = dir.path().join("lines.json");
    let mut bad = env.clone();
    bad.payload = b"hellO".to_vec();
    std::fs::write(
        &lines_path,
        format!("{}\n{}\n", env.to_json(), bad.to_json()),
    )
    .unwrap();
    let o = custody(&["envelope", "verify", "--key", s(&key_path), s(&lines_path)]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("envelope 2:"));
}

#[test]
fn keygen_writes_a_usable_pair_with_private_mode_0600_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    for alg in ["p256", "p384", "ed25519", "rsa"] {
        let prefix = dir.path().join(alg);
        let mut args = vec!["keygen", "--out", s(&prefix)];
        if alg != "p256" {
            args.extend(["--algorithm", alg]);
        }
        let o = custody(&args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{alg}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let key_path = dir.path().join(format!("{alg}.key"));
        let pub_path = dir.path().join(format!("{alg}.pub"));
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{alg}");
        let key = SigningKey::from_pem(&std::fs::read_to_string(&key_path).unwrap()).unwrap();
        let public =
            custody::attest::PublicKey::from_pem(&std::fs::read_to_string(&pub_path).unwrap())
                .unwrap();
        assert_eq!(key.public_key(), &public);
        assert_eq!(key.algorithm(), alg.parse().unwrap());
        assert!(out(&o).contains(public.key_id()));
        // Running again refuses and leaves the key untouched.
        let before = std::fs::read(&key_path).unwrap();
        let o = custody(&args);
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains("refusing to overwrite"));
        assert_eq!(std::fs::read(&key_path).unwrap(), before);
    }
    // Only the public half existing is refused too, and no private key is left behind.
    let prefix = dir.path().join("half");
    std::fs::write(dir.path().join("half.pub"), "x").unwrap();
    assert_eq!(
        custody(&["keygen", "--out", s(&prefix)]).status.code(),
        Some(2)
    );
    assert!(!dir.path().join("half.key").exists());
}

#[test]
fn verified_intoto_links_exit_0_and_say_they_are_not_statements() {
    // The in-toto-golang DSSE layout is signed by alice; its payload is a layout.
    let o = custody(&[
        "envelope",
        "verify",
        "--key",
        s(&data("intoto-golang/alice.pub")),
        s(&data("intoto-golang/demo.dsse.layout")),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        out(&o).contains("payload: in-toto layout metadata"),
        "{}",
        out(&o)
    );
    // A legacy (pre-DSSE) layout is not an envelope at all.
    let o = custody(&[
        "envelope",
        "verify",
        "--key",
        s(&data("intoto-golang/alice.pub")),
        s(&data("intoto-golang/demo.layout")),
    ]);
    assert_eq!(o.status.code(), Some(2));
}
