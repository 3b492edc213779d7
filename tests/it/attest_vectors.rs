//! The verifier against vectors other projects produced (tests/data/SOURCES.md).

use crate::support;
use base64::Engine as _;
use custody::attest::{
    Envelope, PublicKey, Statement, TrustedKey, VerifyError, canonical_json, pae, verify_envelope,
};
use custody::category::Category;
use custody::digest::Digest;
use serde_json::Value;
use support::fixtures::{data_bytes as data, data_text as text};

fn trusted(name: &str, pem: &str) -> TrustedKey {
    TrustedKey::new(Some(name.to_owned()), PublicKey::from_pem(pem).unwrap())
}

// ---- DSSE spec vector -------------------------------------------------------------

#[test]
fn dsse_spec_pae_matches_published_bytes() {
    assert_eq!(
        pae("http://example.com/HelloWorld", b"hello world"),
        data("dsse/pae.txt")
    );
}

#[test]
fn dsse_spec_vector_verifies_in_raw_and_der_encodings() {
    let key = [trusted("spec", &text("dsse/p256.pub"))];
    for file in [
        "dsse/envelope-raw-rs-signature.json",
        "dsse/envelope-der-signature.json",
    ] {
        let env = Envelope::from_json(&data(file)).unwrap();
        let v = verify_envelope(&env, &key, 1).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(v.payload, b"hello world");
        assert_eq!(v.payload_type, "http://example.com/HelloWorld");
        assert_eq!(v.signers.len(), 1);
        assert_eq!(v.signers[0].key_id, key[0].key.key_id());
    }
    // The raw signature is 64 bytes, the DER one is not: both encodings were exercised.
    let raw = Envelope::from_json(&data("dsse/envelope-raw-rs-signature.json")).unwrap();
    let der = Envelope::from_json(&data("dsse/envelope-der-signature.json")).unwrap();
    assert_eq!(raw.signatures[0].sig.len(), 64);
    assert_eq!(der.signatures[0].sig[0], 0x30);
}

#[test]
fn dsse_spec_vector_fails_when_payload_or_type_changes() {
    let key = [trusted("spec", &text("dsse/p256.pub"))];
    for file in [
        "dsse/envelope-raw-rs-signature.json",
        "dsse/envelope-der-signature.json",
    ] {
        let mut env = Envelope::from_json(&data(file)).unwrap();
        env.payload = b"hello world!".to_vec();
        let err = verify_envelope(&env, &key, 1).unwrap_err();
        assert_eq!(err.category(), Category::BadSignature, "{err}");
        let mut env = Envelope::from_json(&data(file)).unwrap();
        env.payload_type = "http://example.com/HelloWorlD".to_owned();
        assert!(verify_envelope(&env, &key, 1).is_err());
    }
}

// ---- in-toto-golang DSSE layout and links ------------------------------------------

/// Returns the layout's keys as (in-toto key id, key) pairs, checking that the key id
/// custody computes equals the id the layout lists the key under.
fn layout_keys(layout_payload: &[u8]) -> Vec<(String, PublicKey)> {
    let layout: Value = serde_json::from_slice(layout_payload).unwrap();
    let keys = layout["keys"].as_object().unwrap();
    assert!(!keys.is_empty());
    keys.iter()
        .map(|(id, obj)| {
            let key = PublicKey::from_pem(obj["keyval"]["public"].as_str().unwrap()).unwrap();
            assert_eq!(key.intoto_key_id(), id, "in-toto key id of the layout key");
            assert_eq!(obj["keyid"].as_str(), Some(id.as_str()));
            (id.clone(), key)
        })
        .collect()
}

#[test]
fn intoto_golang_dsse_layouts_and_links_verify_with_the_layout_keys() {
    let alice = trusted("alice", &text("intoto-golang/alice.pub"));
    let cases: [(&str, &[(&str, &str)]); 2] = [
        ("intoto-golang/demo.dsse.layout", &[]),
        (
            "intoto-golang/dsse-only.root.layout",
            &[
                ("intoto-golang/clone-dsse.776a00e2.link", "clone-dsse"),
                (
                    "intoto-golang/update-version-dsse.776a00e2.link",
                    "update-version-dsse",
                ),
                ("intoto-golang/package-dsse.2f89b927.link", "package-dsse"),
            ],
        ),
    ];
    for (layout_file, links) in cases {
        let env = Envelope::from_json(&data(layout_file)).unwrap();
        // The layout's keyid hint is alice's in-toto key id.
        assert_eq!(
            env.signatures[0].keyid.as_deref(),
            Some(alice.key.intoto_key_id())
        );
        let verified = verify_envelope(&env, std::slice::from_ref(&alice), 1).unwrap();
        let keys = layout_keys(&verified.payload);
        let layout: Value = serde_json::from_slice(&verified.payload).unwrap();
        for (link_file, step_name) in links {
            let link = Envelope::from_json(&data(link_file)).unwrap();
            let step = layout["steps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == *step_name)
                .unwrap();
            let functionaries: Vec<TrustedKey> = step["pubkeys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| {
                    let (_, key) = keys
                        .iter()
                        .find(|(kid, _)| kid == id.as_str().unwrap())
                        .unwrap();
                    TrustedKey::new(Some(step_name.to_string()), key.clone())
                })
                .collect();
            let v = verify_envelope(&link, &functionaries, 1)
                .unwrap_or_else(|e| panic!("{link_file}: {e}"));
            let body: Value = serde_json::from_slice(&v.payload).unwrap();
            assert_eq!(body["name"], *step_name);
            // The link is not signed by the layout owner.
            assert!(verify_envelope(&link, std::slice::from_ref(&alice), 1).is_err());
        }
    }
}

#[test]
fn intoto_golang_layout_key_ids_match_the_files_they_came_from() {
    let alice = PublicKey::from_pem(&text("intoto-golang/alice.pub")).unwrap();
    let dan = PublicKey::from_pem(&text("intoto-golang/dan.pub")).unwrap();
    assert_eq!(
        alice.intoto_key_id(),
        "70ca5750c2eda80b18f41f4ec5f92146789b5d68dd09577be422a0159bd13680"
    );
    assert_eq!(
        dan.intoto_key_id(),
        "b7d643dec0a051096ee5d87221b5d91a33daa658699d30903e1cefb90c418401"
    );
}

#[test]
fn intoto_golang_legacy_layout_and_link_verify_over_canonical_json() {
    // Pre-DSSE metadata: hex RSA-PSS signatures over the canonical JSON of "signed".
    let check = |file: &str, key: &PublicKey| {
        let doc: Value = serde_json::from_slice(&data(file)).unwrap();
        let signed = canonical_json(&doc["signed"]).unwrap();
        let sig = hex::decode(doc["signatures"][0]["sig"].as_str().unwrap()).unwrap();
        assert_eq!(
            doc["signatures"][0]["keyid"].as_str(),
            Some(key.intoto_key_id())
        );
        assert!(key.verify(&signed, &sig), "{file}");
        let mut tampered = signed.clone();
        tampered[10] ^= 1;
        assert!(!key.verify(&tampered, &sig), "{file} tampered");
    };
    let alice = PublicKey::from_pem(&text("intoto-golang/alice.pub")).unwrap();
    let dan = PublicKey::from_pem(&text("intoto-golang/dan.pub")).unwrap();
    check("intoto-golang/demo.layout", &alice);
    check("intoto-golang/write-code.b7d643de.link", &dan);
    // The layout lists dan under the id custody computes.
    let layout: Value = serde_json::from_slice(&data("intoto-golang/demo.layout")).unwrap();
    assert!(layout["signed"]["keys"].get(dan.intoto_key_id()).is_some());
}

// ---- in-toto attestation-verifier: three Ed25519 envelopes --------------------------

fn attestation_verifier_key() -> TrustedKey {
    let key = PublicKey::from_text(&text("attestation-verifier/key.pub")).unwrap();
    assert_eq!(
        key.intoto_key_id(),
        "fe1c6281c5ff13e35286cc67e5a1fb3e6575b840a6c39ca4267d3805eb17288a"
    );
    TrustedKey::new(Some("functionary".into()), key)
}

#[test]
fn attestation_verifier_envelopes_verify_and_parse() {
    let key = [attestation_verifier_key()];
    let foo = Digest::sha256(b"");
    let expected = [
        ("clone", "https://in-toto.io/attestation/link/v0.3"),
        ("test", "https://in-toto.io/attestation/test-result/v0.1"),
        ("build", "https://slsa.dev/provenance/v1"),
    ];
    for (step, predicate_type) in expected {
        let file = format!("attestation-verifier/test-data/{step}.fe1c6281.json");
        let env = Envelope::from_json(&data(&file)).unwrap();
        let v = verify_envelope(&env, &key, 1).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(v.signers[0].name.as_deref(), Some("functionary"));
        let st = Statement::parse(&v.payload).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(st.type_uri, "https://in-toto.io/Statement/v1");
        assert_eq!(st.predicate_type, predicate_type);
        // Every step's subject is an artifact; clone's "foo" is the empty file.
        if step == "clone" {
            assert!(st.matches_digest(&foo));
            assert_eq!(st.subjects[0].name, "foo");
        }
    }
}

#[test]
fn attestation_verifier_clone_uses_the_protobuf_type_spelling_which_is_accepted() {
    let env =
        Envelope::from_json(&data("attestation-verifier/test-data/clone.fe1c6281.json")).unwrap();
    let payload: Value = serde_json::from_slice(&env.payload).unwrap();
    assert!(payload.get("_type").is_none());
    assert_eq!(payload["type"], "https://in-toto.io/Statement/v1");
    // Accepted as an alias (documented in statement.rs and docs/threat-model.md) ...
    assert!(Statement::parse(&env.payload).is_ok());
    // ... but never together with the spec spelling, and never with an unknown type.
    let mut both = payload.clone();
    both["_type"] = Value::String("https://in-toto.io/Statement/v1".into());
    assert!(Statement::parse(both.to_string().as_bytes()).is_err());
    let mut unknown = payload.clone();
    unknown["type"] = Value::String("https://example.com/NotAStatement".into());
    assert!(Statement::parse(unknown.to_string().as_bytes()).is_err());
}

#[test]
fn attestation_verifier_envelope_rejected_with_another_ed25519_key() {
    let carol = trusted("carol", &text("intoto-golang/carol.pub"));
    let env =
        Envelope::from_json(&data("attestation-verifier/test-data/build.fe1c6281.json")).unwrap();
    let err = verify_envelope(&env, &[carol], 1).unwrap_err();
    // The keyid names a key carol is not: untrusted signer.
    assert!(matches!(err, VerifyError::UntrustedSigner { .. }), "{err}");
    assert_eq!(err.category(), Category::UntrustedSigner);
}

#[test]
fn base64_variants_of_a_real_envelope_still_verify() {
    let key = [attestation_verifier_key()];
    let raw = text("attestation-verifier/test-data/test.fe1c6281.json");
    let mut doc: Value = serde_json::from_str(&raw).unwrap();
    let std = base64::engine::general_purpose::STANDARD;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = std.decode(doc["payload"].as_str().unwrap()).unwrap();
    let sig = std
        .decode(doc["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    doc["payload"] = Value::String(url.encode(&payload));
    doc["signatures"][0]["sig"] = Value::String(url.encode(&sig));
    let env = Envelope::from_json(doc.to_string().as_bytes()).unwrap();
    assert_eq!(verify_envelope(&env, &key, 1).unwrap().payload, payload);
}
