//! The producer side: signing layouts (`custody layout sign`) and links (`custody
//! link record`). Signatures are named by the signer's securesystemslib key id (what
//! in-toto python computes from the same public key).

use super::metadata::{dsse_message, metablock_signature};
use super::model::Link;
use crate::attest::{
    Envelope, INTOTO_PAYLOAD_TYPE, KeyError, Signature, SigningKey, canonical_json,
};
use serde_json::{Map, Value};

/// Why signing failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The input is not a layout in a form custody signs.
    #[error("{0}")]
    Input(String),
    /// The key refused to sign.
    #[error(transparent)]
    Key(#[from] KeyError),
}

fn defaults(obj: &mut Map<String, Value>, fields: &[(&str, Value)]) {
    for (name, value) in fields {
        obj.entry((*name).to_owned())
            .or_insert_with(|| value.clone());
    }
}

/// Fills the fields in-toto's layout model always has, so that every verifier signs
/// and checks the same canonical bytes.
fn complete_layout(layout: &mut Value) -> Result<(), SignError> {
    let obj = layout
        .as_object_mut()
        .ok_or_else(|| SignError::Input("the layout is not a JSON object".into()))?;
    if obj.get("_type").and_then(Value::as_str) != Some("layout") {
        return Err(SignError::Input(
            "the JSON is not a layout (\"_type\": \"layout\")".into(),
        ));
    }
    if !obj.contains_key("expires") {
        return Err(SignError::Input("the layout has no \"expires\"".into()));
    }
    defaults(
        obj,
        &[
            ("steps", Value::Array(vec![])),
            ("inspect", Value::Array(vec![])),
            ("keys", Value::Object(Map::new())),
            ("readme", Value::String(String::new())),
        ],
    );
    for (list, kind) in [("steps", "step"), ("inspect", "inspection")] {
        if let Some(Value::Array(items)) = obj.get_mut(list) {
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                defaults(
                    item,
                    &[
                        ("_type", Value::String(kind.to_owned())),
                        ("expected_materials", Value::Array(vec![])),
                        ("expected_products", Value::Array(vec![])),
                    ],
                );
                if kind == "step" {
                    defaults(
                        item,
                        &[
                            ("pubkeys", Value::Array(vec![])),
                            ("expected_command", Value::Array(vec![])),
                            ("threshold", Value::from(1)),
                        ],
                    );
                } else {
                    defaults(item, &[("run", Value::Array(vec![]))]);
                }
            }
        }
    }
    Ok(())
}

/// Signs a layout given as a bare layout object, a metablock (a signature is added,
/// replacing one by the same key) or a DSSE envelope (likewise). A bare layout is
/// completed with the fields in-toto's model always has and becomes a metablock, or
/// a DSSE envelope when `dsse` is set. Returns the signed JSON.
pub fn sign_layout(input: &[u8], key: &SigningKey, dsse: bool) -> Result<String, SignError> {
    let keyid = key.public_key().securesystemslib_key_id().to_owned();
    let value: Value =
        serde_json::from_slice(input).map_err(|e| SignError::Input(format!("not JSON: {e}")))?;
    if value.get("payloadType").is_some() {
        let mut env = Envelope::from_json(input).map_err(|e| SignError::Input(e.to_string()))?;
        let payload: Value = serde_json::from_slice(&env.payload)
            .map_err(|e| SignError::Input(format!("the DSSE payload is not JSON: {e}")))?;
        if env.payload_type != INTOTO_PAYLOAD_TYPE
            || payload.get("_type").and_then(Value::as_str) != Some("layout")
        {
            return Err(SignError::Input(
                "the DSSE envelope does not hold an in-toto layout".into(),
            ));
        }
        env.signatures
            .retain(|s| s.keyid.as_deref() != Some(keyid.as_str()));
        env.signatures.push(Signature {
            keyid: Some(keyid),
            sig: key.sign(&env.pae())?,
        });
        return Ok(env.to_json());
    }
    let (mut signed, mut signatures, bare) = match value {
        Value::Object(mut obj) if obj.contains_key("signed") => {
            let signed = obj.remove("signed").unwrap_or(Value::Null);
            let sigs = match obj.remove("signatures") {
                Some(Value::Array(s)) => s,
                _ => Vec::new(),
            };
            (signed, sigs, false)
        }
        other => (other, Vec::new(), true),
    };
    if bare {
        complete_layout(&mut signed)?;
    } else if signed.get("_type").and_then(Value::as_str) != Some("layout") {
        return Err(SignError::Input(
            "the metablock does not hold a layout".into(),
        ));
    }
    if dsse {
        if !signatures.is_empty() {
            return Err(SignError::Input(
                "--dsse needs an unsigned layout (a signed metablock cannot change form)".into(),
            ));
        }
        let payload = serde_json::to_vec(&signed).map_err(|e| SignError::Input(e.to_string()))?;
        let env = Envelope {
            payload_type: INTOTO_PAYLOAD_TYPE.to_owned(),
            signatures: vec![Signature {
                keyid: Some(keyid),
                sig: key.sign(&dsse_message(&payload))?,
            }],
            payload,
        };
        return Ok(env.to_json());
    }
    let bytes = canonical_json(&signed).map_err(|e| SignError::Input(e.to_string()))?;
    signatures.retain(|s| s.get("keyid").and_then(Value::as_str) != Some(keyid.as_str()));
    signatures.push(metablock_signature(&keyid, &key.sign(&bytes)?));
    let out = serde_json::json!({"signed": signed, "signatures": signatures});
    serde_json::to_string_pretty(&out).map_err(|e| SignError::Input(e.to_string()))
}

/// A link as a DSSE envelope (payload: the `_type: link` object), as
/// `in-toto-run --use-dsse` writes it.
pub fn sign_dsse_link(link: &Link, key: &SigningKey) -> Result<String, SignError> {
    let payload =
        serde_json::to_vec(&link.to_value()).map_err(|e| SignError::Input(e.to_string()))?;
    let env = Envelope {
        payload_type: INTOTO_PAYLOAD_TYPE.to_owned(),
        signatures: vec![Signature {
            keyid: Some(key.public_key().securesystemslib_key_id().to_owned()),
            sig: key.sign(&dsse_message(&payload))?,
        }],
        payload,
    };
    Ok(env.to_json())
}
