//! Public keys from policy files and bundles: PEM text (SPKI, certificates, with the
//! DER inside), raw DER and securesystemslib JSON. Parsing never panics, and a key
//! written back as PEM reads as the same key with the same key id.
#![no_main]

use custody::attest::PublicKey;
use libfuzzer_sys::fuzz_target;

fn round_trip(key: &PublicKey) {
    let again = PublicKey::from_pem(&key.to_pem()).expect("a key's own PEM reads back");
    assert_eq!(again.spki_der(), key.spki_der());
    assert_eq!(again.key_id(), key.key_id());
    assert_eq!(again.algorithm(), key.algorithm());
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for read in [
            PublicKey::from_pem,
            PublicKey::from_text,
            PublicKey::from_securesystemslib_json,
        ] {
            if let Ok(key) = read(text) {
                round_trip(&key);
            }
        }
    }
    for read in [
        PublicKey::from_spki_der,
        PublicKey::from_certificate_der,
        PublicKey::from_ed25519_bytes,
    ] {
        if let Ok(key) = read(data) {
            round_trip(&key);
        }
    }
});
