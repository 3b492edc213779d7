//! Every single-byte change and every truncation of a signed envelope is either rejected
//! or verifies to exactly the original payload and type (an encoding-only change, such
//! as base64 padding or JSON whitespace). Nothing panics. The same for key DER.

use custody::attest::{
    INTOTO_PAYLOAD_TYPE, KeyAlgorithm, PublicKey, SigningKey, TrustedKey, sign_envelope,
    verify_json,
};

const PAYLOAD: &[u8] = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"00"}}],"predicateType":"p"}"#;

#[test]
fn mutated_envelopes_never_verify_to_something_else() {
    for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519] {
        let key = SigningKey::generate(alg).unwrap();
        let trusted = [TrustedKey::new(None, key.public_key().clone())];
        let json = sign_envelope(INTOTO_PAYLOAD_TYPE, PAYLOAD, &[&key])
            .unwrap()
            .to_json()
            .into_bytes();
        assert!(verify_json(&json, &trusted, 1).is_ok());
        let mut accepted = 0;
        let check = |bytes: &[u8], accepted: &mut usize| {
            if let Ok(v) = verify_json(bytes, &trusted, 1) {
                assert_eq!(v.payload, PAYLOAD, "{}", String::from_utf8_lossy(bytes));
                assert_eq!(v.payload_type, INTOTO_PAYLOAD_TYPE);
                *accepted += 1;
            }
        };
        for i in 0..json.len() {
            for replacement in [b'A', b'a', b'/', b'_', b' ', b'"', b'{', 0xff] {
                if json[i] == replacement {
                    continue;
                }
                let mut m = json.clone();
                m[i] = replacement;
                check(&m, &mut accepted);
            }
            check(&json[..i], &mut accepted);
        }
        // Accepted mutations are the keyid hint (only a hint) and encoding-only changes;
        // the assertion in `check` is what matters. Most mutations must be rejected.
        assert!(
            accepted < json.len() * 4,
            "{alg}: {accepted} mutations accepted"
        );
    }
}

#[test]
fn mutated_key_der_never_panics_and_never_yields_another_working_key() {
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let msg = b"message";
    let sig = key.sign(msg).unwrap();
    let der = key.public_key().spki_der().to_vec();
    for i in 0..der.len() {
        for delta in [1u8, 0x80, 0xff] {
            let mut m = der.clone();
            m[i] = m[i].wrapping_add(delta);
            if let Ok(k) = PublicKey::from_spki_der(&m) {
                assert!(!k.verify(msg, &sig), "byte {i} +{delta} still verifies");
            }
        }
        let _ = PublicKey::from_spki_der(&der[..i]);
    }
}
