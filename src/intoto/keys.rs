//! Functionary keys as layouts list them: securesystemslib key objects
//! (`{keytype, scheme, keyval: {public}}`, `keyid_hash_algorithms` in the legacy
//! convention), each under its key id: the SHA-256 of the key object's canonical JSON.
//!
//! Both conventions are accepted: securesystemslib ≥ 1.0 computes the id over
//! `{keytype, scheme, keyval}`; in-toto-golang, in-toto-rs and older in-toto python
//! include `keyid_hash_algorithms`. The id is recomputed from the object as written,
//! so whichever convention the layout used, the id must be the key's own. A key whose
//! id does not check, or whose type custody does not support, is kept as unusable:
//! links it signed do not count, and the reason is reported.

use super::error::LoadError;
use crate::attest::{PublicKey, canonical_json};
use serde_json::{Map, Value};

/// A key listed in a layout.
#[derive(Debug, Clone)]
pub struct LayoutKey {
    /// The id it is listed under.
    pub id: String,
    /// The key, or why it cannot be used.
    pub key: Result<PublicKey, String>,
}

/// Reads the key object listed under `id`.
pub(crate) fn layout_key(id: &str, v: &Value) -> Result<LayoutKey, LoadError> {
    let what = format!("layout key {id}");
    let obj = v
        .as_object()
        .ok_or_else(|| LoadError::format(&what, "a key is a JSON object"))?;
    let key = check_key(id, obj);
    Ok(LayoutKey {
        id: id.to_owned(),
        key,
    })
}

fn check_key(id: &str, obj: &Map<String, Value>) -> Result<PublicKey, String> {
    let field = |name: &str| {
        obj.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("missing string field {name:?}"))
    };
    let keytype = field("keytype")?;
    let scheme = field("scheme")?;
    let public = obj
        .get("keyval")
        .and_then(|k| k.get("public"))
        .and_then(Value::as_str)
        .ok_or("missing keyval.public")?;
    let computed = key_id(obj)?;
    if !computed.eq_ignore_ascii_case(id) {
        return Err(format!(
            "listed under id {id} but its key object hashes to {computed}"
        ));
    }
    if let Some(inner) = obj.get("keyid").and_then(Value::as_str)
        && !inner.eq_ignore_ascii_case(id)
    {
        return Err(format!(
            "listed under id {id} but says its keyid is {inner}"
        ));
    }
    let key = match keytype {
        "ed25519" => {
            let raw = hex::decode(public).map_err(|_| "ed25519 keyval.public is not hex")?;
            PublicKey::from_ed25519_bytes(&raw)
        }
        "rsa" | "ecdsa" | "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" => {
            PublicKey::from_pem(public)
        }
        other => return Err(format!("unsupported keytype {other:?}")),
    }
    .map_err(|e| e.to_string())?;
    let scheme_fits = match keytype {
        "ed25519" => scheme == "ed25519",
        "rsa" => matches!(scheme, "rsassa-pss-sha256" | "rsa-pkcs1v15-sha256"),
        _ => scheme.starts_with("ecdsa-sha2-nistp"),
    };
    if !scheme_fits {
        return Err(format!(
            "unsupported scheme {scheme:?} for keytype {keytype:?}"
        ));
    }
    Ok(key)
}

/// The key id of a key object as written: SHA-256 over the canonical JSON of
/// `keytype`, `scheme`, `keyval.public` and, if present, `keyid_hash_algorithms`.
pub(crate) fn key_id(obj: &Map<String, Value>) -> Result<String, String> {
    let mut m = Map::new();
    for name in ["keytype", "scheme", "keyid_hash_algorithms"] {
        if let Some(v) = obj.get(name) {
            m.insert(name.to_owned(), v.clone());
        }
    }
    let public = obj
        .get("keyval")
        .and_then(|k| k.get("public"))
        .cloned()
        .ok_or("missing keyval.public")?;
    m.insert("keyval".to_owned(), serde_json::json!({ "public": public }));
    let bytes = canonical_json(&Value::Object(m)).map_err(|e| e.to_string())?;
    Ok(hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        &bytes,
    )))
}

/// The securesystemslib (≥ 1.0) key object for `key`, and its id: what `custody layout
/// sign` and `custody link record` name their signatures by, and what in-toto python
/// computes from the same PEM.
pub fn sslib_key_object(key: &PublicKey) -> (String, Value) {
    use crate::attest::KeyAlgorithm as A;
    let (keytype, scheme, public) = match key.algorithm() {
        A::Ed25519 => ("ed25519", "ed25519", hex::encode(key.raw_bytes())),
        A::Rsa => ("rsa", "rsassa-pss-sha256", key.to_pem()),
        A::EcdsaP256 => ("ecdsa", "ecdsa-sha2-nistp256", key.to_pem()),
        A::EcdsaP384 => ("ecdsa", "ecdsa-sha2-nistp384", key.to_pem()),
        A::EcdsaP521 => ("ecdsa", "ecdsa-sha2-nistp521", key.to_pem()),
    };
    let mut obj = serde_json::json!({
        "keytype": keytype,
        "scheme": scheme,
        "keyval": {"public": public},
    });
    let id = match &obj {
        Value::Object(m) => key_id(m).unwrap_or_default(),
        _ => String::new(),
    };
    if let Value::Object(m) = &mut obj {
        m.insert("keyid".to_owned(), Value::String(id.clone()));
    }
    (id, obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::{KeyAlgorithm, SigningKey};

    #[test]
    fn both_conventions_check_and_a_wrong_id_is_refused() {
        let key = SigningKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let public = key.public_key();
        let (id, obj) = sslib_key_object(public);
        assert_eq!(id, public.securesystemslib_key_id());
        let lk = layout_key(&id, &obj).unwrap();
        assert!(lk.key.is_ok());
        let mut legacy = obj.clone();
        legacy["keyid_hash_algorithms"] = serde_json::json!(["sha256", "sha512"]);
        legacy.as_object_mut().unwrap().remove("keyid");
        let lid = public.intoto_key_id();
        assert!(layout_key(lid, &legacy).unwrap().key.is_ok());
        let wrong = layout_key(lid, &obj).unwrap();
        assert!(wrong.key.unwrap_err().contains("hashes to"));
    }
}
