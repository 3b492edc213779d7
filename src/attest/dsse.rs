//! DSSE envelopes (Dead Simple Signing Envelope, v1): parse, serialize, PAE, sign.
//!
//! Verification lives in [`super::verify`].

use super::b64;
use super::keys::KeyError;
use super::sign::SigningKey;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::fmt;

/// A DSSE envelope with its payload and signatures decoded from base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The `payloadType` (e.g. `application/vnd.in-toto+json`).
    pub payload_type: String,
    /// The payload bytes (the signed body).
    pub payload: Vec<u8>,
    /// The signatures, in envelope order.
    pub signatures: Vec<Signature>,
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The producer's key id hint (an empty string is read as none). Never trusted.
    pub keyid: Option<String>,
    /// The signature bytes.
    pub sig: Vec<u8>,
}

/// Why bytes are not a DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON, or a required field is missing or of the wrong type.
    #[error("not a DSSE envelope: {0}")]
    Json(String),
    /// The payload is not base64.
    #[error("the envelope's payload is not base64")]
    PayloadBase64,
    /// A signature is not base64.
    #[error("signature {index} of the envelope is not base64")]
    SignatureBase64 {
        /// Position in `signatures`.
        index: usize,
    },
}

impl EnvelopeError {
    /// The denial category: a malformed envelope is a bad signature.
    pub fn category(&self) -> crate::category::Category {
        crate::category::Category::BadSignature
    }
}

/// The envelope's fields as JSON has them. Read by hand rather than derived: a derived
/// reader that also collects unknown keys (to refuse case variants) buffers the whole
/// document first, payload included; this reads it in one pass.
struct RawEnvelope {
    payload: String,
    payload_type: String,
    signatures: Vec<RawSignature>,
}

struct RawSignature {
    keyid: Option<String>,
    sig: String,
}

const ENVELOPE_FIELDS: &[&str] = &["payload", "payloadType", "signatures"];
const SIGNATURE_FIELDS: &[&str] = &["keyid", "sig"];

/// Stores a field's value, refusing a second one.
fn once<T, E: de::Error>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), E> {
    if slot.replace(value).is_some() {
        return Err(E::duplicate_field(name));
    }
    Ok(())
}

/// Refuses a key that names one of `fields` in another case (`Payload` beside
/// `payload`): readers that match keys case-insensitively, as Go's encoding/json does,
/// would take that one, and two verifiers would see two payloads.
fn refuse_case_variant<E: de::Error>(key: &str, fields: &[&str], at: &str) -> Result<(), E> {
    match fields.iter().find(|f| f.eq_ignore_ascii_case(key)) {
        Some(field) => Err(E::custom(format!(
            "{at} has key {key:?} as well as or instead of {field:?}: keys must match exactly once"
        ))),
        None => Ok(()),
    }
}

impl<'de> Deserialize<'de> for RawEnvelope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = RawEnvelope;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a DSSE envelope object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEnvelope, A::Error> {
                let (mut payload, mut payload_type, mut signatures) = (None, None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "payload" => once(&mut payload, map.next_value()?, "payload")?,
                        "payloadType" => once(&mut payload_type, map.next_value()?, "payloadType")?,
                        "signatures" => once(&mut signatures, map.next_value()?, "signatures")?,
                        other => {
                            refuse_case_variant(other, ENVELOPE_FIELDS, "the envelope")?;
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(RawEnvelope {
                    payload: payload.ok_or_else(|| de::Error::missing_field("payload"))?,
                    payload_type: payload_type
                        .ok_or_else(|| de::Error::missing_field("payloadType"))?,
                    signatures: signatures.ok_or_else(|| de::Error::missing_field("signatures"))?,
                })
            }
        }
        d.deserialize_map(Fields)
    }
}

impl<'de> Deserialize<'de> for RawSignature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = RawSignature;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a DSSE signature object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawSignature, A::Error> {
                let (mut keyid, mut sig) = (None::<Option<String>>, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "keyid" => once(&mut keyid, map.next_value()?, "keyid")?,
                        "sig" => once(&mut sig, map.next_value()?, "sig")?,
                        other => {
                            refuse_case_variant(other, SIGNATURE_FIELDS, "a signature")?;
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(RawSignature {
                    keyid: keyid.flatten(),
                    sig: sig.ok_or_else(|| de::Error::missing_field("sig"))?,
                })
            }
        }
        d.deserialize_map(Fields)
    }
}

impl Envelope {
    /// Parses the JSON form. Unknown fields are ignored; a field given twice, or also
    /// under another case (`Payload`), is an error (so two readers can never see
    /// different payloads); `payload` and `sig` may be standard or URL-safe base64,
    /// padded or not.
    pub fn from_json(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        let raw: RawEnvelope =
            serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Json(e.to_string()))?;
        let payload = b64::decode(&raw.payload).map_err(|_| EnvelopeError::PayloadBase64)?;
        let signatures = raw
            .signatures
            .into_iter()
            .enumerate()
            .map(|(index, s)| {
                Ok(Signature {
                    keyid: s.keyid.filter(|k| !k.is_empty()),
                    sig: b64::decode(&s.sig)
                        .map_err(|_| EnvelopeError::SignatureBase64 { index })?,
                })
            })
            .collect::<Result<Vec<_>, EnvelopeError>>()?;
        Ok(Envelope {
            payload_type: raw.payload_type,
            payload,
            signatures,
        })
    }

    /// The JSON form (standard padded base64; `keyid` always present, empty when
    /// unknown, as securesystemslib requires).
    pub fn to_json(&self) -> String {
        let sigs: Vec<serde_json::Value> = self
            .signatures
            .iter()
            .map(|s| {
                serde_json::json!({
                    "keyid": s.keyid.clone().unwrap_or_default(),
                    "sig": b64::encode(&s.sig),
                })
            })
            .collect();
        serde_json::json!({
            "payloadType": self.payload_type,
            "payload": b64::encode(&self.payload),
            "signatures": sigs,
        })
        .to_string()
    }

    /// The bytes the signatures are over: `pae(payload_type, payload)`.
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }
}

/// DSSE v1 Pre-Authentication Encoding:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths as ASCII decimal byte
/// counts (so a non-ASCII type counts its UTF-8 bytes).
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let head = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    );
    let mut out = Vec::with_capacity(head.len() + payload.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(payload);
    out
}

/// Signs `payload` with every key, each signature carrying its key's
/// [`key_id`](super::PublicKey::key_id) as the keyid hint.
pub fn sign_envelope(
    payload_type: &str,
    payload: &[u8],
    keys: &[&SigningKey],
) -> Result<Envelope, KeyError> {
    let message = pae(payload_type, payload);
    let signatures = keys
        .iter()
        .map(|k| {
            Ok(Signature {
                keyid: Some(k.public_key().key_id().to_owned()),
                sig: k.sign(&message)?,
            })
        })
        .collect::<Result<Vec<_>, KeyError>>()?;
    Ok(Envelope {
        payload_type: payload_type.to_owned(),
        payload: payload.to_vec(),
        signatures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_counts_bytes() {
        assert_eq!(pae("t", b""), b"DSSEv1 1 t 0 ".to_vec());
        // "é" is two bytes in UTF-8.
        assert_eq!(pae("é", b"ab"), "DSSEv1 2 é 2 ab".as_bytes().to_vec());
    }

    #[test]
    fn duplicate_fields_and_missing_fields_are_rejected() {
        let dup = br#"{"payload":"YQ==","payload":"Yg==","payloadType":"t","signatures":[]}"#;
        assert!(matches!(
            Envelope::from_json(dup),
            Err(EnvelopeError::Json(_))
        ));
        for case in [
            &br#"{"payload":"YQ==","Payload":"Yg==","payloadType":"t","signatures":[]}"#[..],
            br#"{"PAYLOAD":"Yg==","payload":"YQ==","payloadType":"t","signatures":[]}"#,
            br#"{"payload":"YQ==","payloadType":"t","PayloadType":"u","signatures":[]}"#,
            br#"{"payload":"YQ==","payloadType":"t","signatures":[],"Signatures":[]}"#,
            br#"{"payload":"YQ==","payloadType":"t","signatures":[{"sig":"YQ","Sig":"Yg"}]}"#,
            br#"{"payload":"YQ==","payloadType":"t","signatures":[{"sig":"YQ","keyid":"a","KeyID":"b"}]}"#,
        ] {
            let err = Envelope::from_json(case).unwrap_err();
            assert!(err.to_string().contains("match exactly once"), "{err}");
        }
        let missing = br#"{"payload":"YQ==","signatures":[]}"#;
        assert!(matches!(
            Envelope::from_json(missing),
            Err(EnvelopeError::Json(_))
        ));
        let no_sig = br#"{"payload":"YQ==","payloadType":"t","signatures":[{"keyid":"k"}]}"#;
        assert!(matches!(
            Envelope::from_json(no_sig),
            Err(EnvelopeError::Json(_))
        ));
    }

    #[test]
    fn unknown_fields_ignored_and_empty_keyid_is_none() {
        let env = Envelope::from_json(
            br#"{"payload":"YQ","payloadType":"t","x":1,"signatures":[{"keyid":"","sig":"-_8","extra":true}]}"#,
        )
        .unwrap();
        assert_eq!(env.payload, b"a");
        assert_eq!(env.signatures[0].keyid, None);
        assert_eq!(env.signatures[0].sig, vec![0xfb, 0xff]);
        let again = Envelope::from_json(env.to_json().as_bytes()).unwrap();
        assert_eq!(again, env);
    }
}
