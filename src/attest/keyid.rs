//! in-toto and securesystemslib key ids.
//!
//! Both are the SHA-256 of the canonical JSON (OLPC canonical JSON as securesystemslib
//! writes it: sorted keys, no whitespace, strings escaping only `"` and `\`) of the key
//! object without its private part. in-toto-golang (and layouts written by the in-toto
//! reference tools) include `"keyid_hash_algorithms": ["sha256", "sha512"]` and the PEM
//! without its final newline; securesystemslib ≥ 0.26 leaves the hash algorithms out and
//! keeps the newline that pyca/cryptography writes. Ed25519 keys carry the raw key in hex.

use super::algorithm::KeyAlgorithm;
use super::canonical::canonical_string;

/// The key type and default signing scheme in-toto assigns to an algorithm.
fn type_and_scheme(algorithm: KeyAlgorithm) -> (&'static str, &'static str) {
    match algorithm {
        KeyAlgorithm::EcdsaP256 => ("ecdsa", "ecdsa-sha2-nistp256"),
        KeyAlgorithm::EcdsaP384 => ("ecdsa", "ecdsa-sha2-nistp384"),
        KeyAlgorithm::EcdsaP521 => ("ecdsa", "ecdsa-sha2-nistp521"),
        KeyAlgorithm::Ed25519 => ("ed25519", "ed25519"),
        KeyAlgorithm::Rsa => ("rsa", "rsassa-pss-sha256"),
    }
}

fn key_object(keytype: &str, scheme: &str, public: &str, with_hash_algorithms: bool) -> String {
    // Keys in sorted order: keyid_hash_algorithms < keytype < keyval < scheme.
    let mut out = String::from("{");
    if with_hash_algorithms {
        out.push_str("\"keyid_hash_algorithms\":[\"sha256\",\"sha512\"],");
    }
    out.push_str(&format!(
        "\"keytype\":{},\"keyval\":{{\"public\":{}}},\"scheme\":{}}}",
        canonical_string(keytype),
        canonical_string(public),
        canonical_string(scheme)
    ));
    out
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data))
}

/// Returns (in-toto-golang key id, securesystemslib default key id, every key id this
/// key may be named by) for a key whose algorithm-specific bytes are `raw` and whose
/// SPKI PEM (with final newline) is `pem`. RSA keys are also named under the
/// `rsa-pkcs1v15-sha256` scheme.
pub(crate) fn intoto_and_sslib_ids(
    algorithm: KeyAlgorithm,
    raw: &[u8],
    pem: &str,
) -> (String, String, Vec<String>) {
    let (keytype, scheme) = type_and_scheme(algorithm);
    let (intoto_public, sslib_public) = match algorithm {
        KeyAlgorithm::Ed25519 => (hex::encode(raw), hex::encode(raw)),
        _ => (pem.trim().to_owned(), pem.to_owned()),
    };
    let ids = |scheme: &str| {
        (
            sha256_hex(key_object(keytype, scheme, &intoto_public, true).as_bytes()),
            sha256_hex(key_object(keytype, scheme, &sslib_public, false).as_bytes()),
        )
    };
    let (intoto, sslib) = ids(scheme);
    let mut all = vec![intoto.clone(), sslib.clone()];
    if algorithm == KeyAlgorithm::Rsa {
        let (a, b) = ids("rsa-pkcs1v15-sha256");
        all.extend([a, b]);
    }
    (intoto, sslib, all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_object_is_sorted_and_compact() {
        assert_eq!(
            key_object("ed25519", "ed25519", "ab", true),
            r#"{"keyid_hash_algorithms":["sha256","sha512"],"keytype":"ed25519","keyval":{"public":"ab"},"scheme":"ed25519"}"#
        );
    }
}
