//! in-toto and securesystemslib key ids, and the canonical JSON they (and pre-DSSE
//! in-toto metadata) are computed over.
//!
//! Both are the SHA-256 of the canonical JSON (OLPC canonical JSON as securesystemslib
//! writes it: sorted keys, no whitespace, strings escaping only `"` and `\`) of the key
//! object without its private part. in-toto-golang (and layouts written by the in-toto
//! reference tools) include `"keyid_hash_algorithms": ["sha256", "sha512"]` and the PEM
//! without its final newline; securesystemslib ≥ 0.26 leaves the hash algorithms out and
//! keeps the newline that pyca/cryptography writes. Ed25519 keys carry the raw key in hex.

use super::algorithm::KeyAlgorithm;
use olpc_cjson::CanonicalFormatter;
use serde::Serialize;
use serde_json::{Map, Value};
use unicode_normalization::is_nfc;

/// Why a value has no canonical form that securesystemslib would write too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// Canonical JSON has integers only.
    #[error("canonical JSON has no floating-point numbers (found {0})")]
    Float(String),
    /// olpc-cjson writes strings in Unicode NFC; securesystemslib writes them as they
    /// are, so a string not in NFC would be signed over other bytes (and two spellings
    /// would share one signature).
    #[error("canonical JSON: the string {0:?} is not in Unicode NFC")]
    NotNfc(String),
    /// olpc-cjson orders keys by their escaped bytes, securesystemslib by the keys
    /// themselves; the two differ when a key is another followed by a control
    /// character, a space or `!`, or holds `"` or `\`.
    #[error("canonical JSON: the keys {0:?} order differently in olpc-cjson and securesystemslib")]
    KeyOrder(Vec<String>),
    /// The serializer failed.
    #[error("canonical JSON: {0}")]
    Serialize(String),
}

/// A key as olpc-cjson sorts it: quoted, with `"` and `\` escaped.
fn escaped_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 2);
    out.push('"');
    for c in key.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Refuses what olpc-cjson would write otherwise than securesystemslib.
fn check(value: &Value) -> Result<(), CanonicalError> {
    let nfc = |s: &str| {
        if is_nfc(s) {
            Ok(())
        } else {
            Err(CanonicalError::NotNfc(s.to_owned()))
        }
    };
    match value {
        Value::Number(n) if n.is_f64() => Err(CanonicalError::Float(n.to_string())),
        Value::String(s) => nfc(s),
        Value::Array(items) => items.iter().try_for_each(check),
        Value::Object(map) => {
            let mut by_key: Vec<&str> = map.keys().map(String::as_str).collect();
            by_key.sort_unstable();
            let mut by_escaped = by_key.clone();
            by_escaped.sort_by_cached_key(|k| escaped_key(k));
            if by_key != by_escaped {
                return Err(CanonicalError::KeyOrder(
                    by_key.into_iter().map(str::to_owned).collect(),
                ));
            }
            for (k, v) in map {
                nfc(k)?;
                check(v)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The canonical JSON bytes of `value` as securesystemslib and in-toto sign them
/// (OLPC canonical JSON: keys sorted, no whitespace, only `"` and `\` escaped,
/// integers only), written by `olpc-cjson`. Values on which olpc-cjson and
/// securesystemslib would disagree are refused (see [`CanonicalError`]).
pub fn canonical_json(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    check(value)?;
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, CanonicalFormatter::new());
    value
        .serialize(&mut ser)
        .map_err(|e| CanonicalError::Serialize(e.to_string()))?;
    Ok(out)
}

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

fn key_object(keytype: &str, scheme: &str, public: &str, with_hash_algorithms: bool) -> Vec<u8> {
    let mut m = Map::new();
    if with_hash_algorithms {
        m.insert(
            "keyid_hash_algorithms".to_owned(),
            serde_json::json!(["sha256", "sha512"]),
        );
    }
    m.insert("keytype".to_owned(), Value::from(keytype));
    m.insert("keyval".to_owned(), serde_json::json!({ "public": public }));
    m.insert("scheme".to_owned(), Value::from(scheme));
    // PEM text and the fixed names are ASCII: nothing here can be refused.
    canonical_json(&Value::Object(m)).unwrap_or_default()
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
            sha256_hex(&key_object(keytype, scheme, &intoto_public, true)),
            sha256_hex(&key_object(keytype, scheme, &sslib_public, false)),
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

    fn olpc(value: &Value) -> String {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, CanonicalFormatter::new());
        value.serialize(&mut ser).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn key_object_is_sorted_and_compact() {
        assert_eq!(
            String::from_utf8(key_object("ed25519", "ed25519", "ab", true)).unwrap(),
            r#"{"keyid_hash_algorithms":["sha256","sha512"],"keytype":"ed25519","keyval":{"public":"ab"},"scheme":"ed25519"}"#
        );
    }

    #[test]
    fn sorts_compacts_and_escapes_minimally() {
        let v: Value =
            serde_json::from_str(r#"{"b": [1, true, null, -2], "a": "x\"y\\z\n\u00e9"}"#).unwrap();
        assert_eq!(
            String::from_utf8(canonical_json(&v).unwrap()).unwrap(),
            "{\"a\":\"x\\\"y\\\\z\n\u{e9}\",\"b\":[1,true,null,-2]}"
        );
        assert!(matches!(
            canonical_json(&serde_json::json!({"f": 1.5})),
            Err(CanonicalError::Float(_))
        ));
    }

    /// Where olpc-cjson and securesystemslib's `encode_canonical` differ, and that
    /// custody refuses those values rather than sign or check other bytes.
    #[test]
    fn values_olpc_cjson_writes_differently_are_refused() {
        // NFC: securesystemslib keeps "e" + U+0301; olpc-cjson writes U+00E9.
        let nfd = serde_json::json!({"name": "e\u{301}"});
        assert_eq!(olpc(&nfd), "{\"name\":\"\u{e9}\"}");
        assert!(matches!(
            canonical_json(&nfd),
            Err(CanonicalError::NotNfc(_))
        ));
        // Key order: securesystemslib sorts "a" before "a b"; olpc-cjson compares the
        // quoted keys, and ' ' sorts before '"'.
        let keys = serde_json::json!({"a": 1, "a b": 2});
        assert_eq!(olpc(&keys), "{\"a b\":2,\"a\":1}");
        assert!(matches!(
            canonical_json(&keys),
            Err(CanonicalError::KeyOrder(_))
        ));
        // Keys with a space that is not after a shared prefix are fine.
        let fine = serde_json::json!({"b c": 1, "a": 2});
        assert_eq!(canonical_json(&fine).unwrap(), br#"{"a":2,"b c":1}"#);
    }
}
