//! in-toto and securesystemslib key ids.
//!
//! Both are the SHA-256 of the canonical JSON (OLPC canonical JSON as securesystemslib
//! writes it: sorted keys, no whitespace, strings escaping only `"` and `\`) of the key
//! object without its private part. in-toto-golang (and layouts written by the in-toto
//! reference tools) include `"keyid_hash_algorithms": ["sha256", "sha512"]` and the PEM
//! without its final newline; securesystemslib ≥ 0.26 leaves the hash algorithms out and
//! keeps the newline that pyca/cryptography writes. Ed25519 keys carry the raw key in hex.

use super::keys::KeyAlgorithm;

/// The key type and default signing scheme in-toto assigns to an algorithm.
fn type_and_scheme(algorithm: KeyAlgorithm) -> (&'static str, &'static str) {
    match algorithm {
        KeyAlgorithm::EcdsaP256 => ("ecdsa", "ecdsa-sha2-nistp256"),
        KeyAlgorithm::EcdsaP384 => ("ecdsa", "ecdsa-sha2-nistp384"),
        KeyAlgorithm::Ed25519 => ("ed25519", "ed25519"),
        KeyAlgorithm::Rsa => ("rsa", "rsassa-pss-sha256"),
    }
}

/// A JSON string in canonical form: only `"` and `\` are escaped; every other
/// character, newlines included, is written as is.
pub(crate) fn canonical_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
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

/// Returns (in-toto-golang key id, securesystemslib default key id) for a key whose
/// algorithm-specific bytes are `raw` and whose SPKI PEM (with final newline) is `pem`.
pub(crate) fn intoto_and_sslib_ids(
    algorithm: KeyAlgorithm,
    raw: &[u8],
    pem: &str,
) -> (String, String) {
    let (keytype, scheme) = type_and_scheme(algorithm);
    let (intoto_public, sslib_public) = match algorithm {
        KeyAlgorithm::Ed25519 => (hex::encode(raw), hex::encode(raw)),
        _ => (pem.trim().to_owned(), pem.to_owned()),
    };
    (
        sha256_hex(key_object(keytype, scheme, &intoto_public, true).as_bytes()),
        sha256_hex(key_object(keytype, scheme, &sslib_public, false).as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_strings_escape_only_quote_and_backslash() {
        assert_eq!(canonical_string("a\"b\\c\nd"), "\"a\\\"b\\\\c\nd\"");
    }

    #[test]
    fn key_object_is_sorted_and_compact() {
        assert_eq!(
            key_object("ed25519", "ed25519", "ab", true),
            r#"{"keyid_hash_algorithms":["sha256","sha512"],"keytype":"ed25519","keyval":{"public":"ab"},"scheme":"ed25519"}"#
        );
    }
}
