//! Does the log entry describe this bundle? The entry body (Rekor `dsse` 0.0.1,
//! `intoto` 0.0.2, `hashedrekord` 0.0.1, and Rekor v2's `hashedrekord`/`dsse` 0.0.2)
//! must name the same signature, the same signer and the same content digest.

use super::bundle::{Content, TlogEntry};
use super::error::{Check, SigstoreError, fail};
use super::sigalg::sha256;
use crate::attest::{armor, b64};
use serde_json::Value;

/// Who signed, as the bundle presents it.
pub(crate) enum Signer<'a> {
    /// A leaf certificate (DER).
    Certificate(&'a [u8]),
    /// A public key (SPKI DER).
    Key(&'a [u8]),
}

fn mismatch(what: &str) -> SigstoreError {
    SigstoreError::new(
        Check::LogEntryBody,
        format!("the log entry's {what} does not match the bundle"),
    )
}

/// The entry's one signature and the envelope's one signature: a DSSE entry, and the
/// envelope it is for, carry exactly one each.
fn single_signature<'a>(
    spec: &'a Value,
    env: &'a crate::attest::dsse::Envelope,
) -> Result<(&'a Value, &'a crate::attest::dsse::Signature), SigstoreError> {
    let sigs = spec
        .get("signatures")
        .and_then(Value::as_array)
        .ok_or_else(|| mismatch("signatures"))?;
    match (sigs.as_slice(), env.signatures.as_slice()) {
        ([one], [mine]) => Ok((one, mine)),
        _ => Err(mismatch("signatures")),
    }
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn b64_at(v: &Value, path: &[&str]) -> Option<Vec<u8>> {
    b64::decode(s(v, path)?).ok()
}

/// A PEM certificate or key (itself base64, as Rekor v1 stores it) against the signer.
fn pem_matches(encoded: Option<Vec<u8>>, signer: &Signer<'_>) -> bool {
    let Some(text) = encoded.and_then(|b| String::from_utf8(b).ok()) else {
        return false;
    };
    let Ok(blocks) = armor::parse_all(&text) else {
        return false;
    };
    match (blocks.as_slice(), signer) {
        ([one], Signer::Certificate(der)) => one.label == "CERTIFICATE" && one.der == *der,
        ([one], Signer::Key(spki)) => one.label == "PUBLIC KEY" && one.der == *spki,
        _ => false,
    }
}

/// A Rekor v2 verifier object against the signer.
fn v2_verifier_matches(v: Option<&Value>, signer: &Signer<'_>) -> bool {
    let Some(v) = v else { return false };
    match signer {
        Signer::Certificate(der) => {
            b64_at(v, &["x509Certificate", "rawBytes"]).is_some_and(|d| d == *der)
        }
        Signer::Key(spki) => b64_at(v, &["publicKey", "rawBytes"]).is_some_and(|d| d == *spki),
    }
}

/// Checks the entry body against the content, its signer, and the digest of what a
/// message signature signs (`artifact_sha256`, when the content is a message signature).
pub(crate) fn check_body(
    entry: &TlogEntry,
    content: &Content,
    signer: &Signer<'_>,
    artifact_sha256: Option<&[u8]>,
) -> Result<(), SigstoreError> {
    let body: Value = serde_json::from_slice(&entry.body)
        .map_err(|_| SigstoreError::new(Check::LogEntryBody, "the log entry body is not JSON"))?;
    let kind = s(&body, &["kind"]).unwrap_or_default();
    let version = s(&body, &["apiVersion"]).unwrap_or_default();
    if kind != entry.kind || version != entry.version {
        return fail(
            Check::LogEntryBody,
            format!(
                "the body is {kind} {version} but the entry says {} {}",
                entry.kind, entry.version
            ),
        );
    }
    let spec = body.get("spec").ok_or_else(|| mismatch("spec"))?;
    match (kind, version, content) {
        ("hashedrekord", "0.0.1", Content::Message { signature, .. }) => {
            if s(spec, &["data", "hash", "algorithm"]) != Some("sha256")
                || s(spec, &["data", "hash", "value"]).map(str::to_ascii_lowercase)
                    != artifact_sha256.map(hex::encode)
            {
                return Err(mismatch("artifact digest"));
            }
            if b64_at(spec, &["signature", "content"]).as_deref() != Some(signature.as_slice()) {
                return Err(mismatch("signature"));
            }
            if !pem_matches(b64_at(spec, &["signature", "publicKey", "content"]), signer) {
                return Err(mismatch("signing certificate or key"));
            }
        }
        ("hashedrekord", "0.0.2", _) => {
            let spec = spec
                .get("hashedRekordV002")
                .ok_or_else(|| mismatch("spec"))?;
            let (digest, signature) = match content {
                Content::Message { signature, .. } => {
                    (artifact_sha256.map(<[u8]>::to_vec), signature.as_slice())
                }
                Content::Dsse(env) => match env.signatures.as_slice() {
                    [one] => (Some(sha256(&env.pae()).to_vec()), one.sig.as_slice()),
                    _ => return Err(mismatch("signatures")),
                },
            };
            if s(spec, &["data", "algorithm"]) != Some("SHA2_256")
                || b64_at(spec, &["data", "digest"]) != digest
            {
                return Err(mismatch("digest"));
            }
            if b64_at(spec, &["signature", "content"]).as_deref() != Some(signature) {
                return Err(mismatch("signature"));
            }
            if !v2_verifier_matches(spec.pointer("/signature/verifier"), signer) {
                return Err(mismatch("signing certificate or key"));
            }
        }
        ("dsse", "0.0.1", Content::Dsse(env)) => {
            if s(spec, &["payloadHash", "algorithm"]) != Some("sha256")
                || s(spec, &["payloadHash", "value"]) != Some(&hex::encode(sha256(&env.payload)))
            {
                return Err(mismatch("payload hash"));
            }
            let (one, mine) = single_signature(spec, env)?;
            if b64_at(one, &["signature"]).as_deref() != Some(mine.sig.as_slice()) {
                return Err(mismatch("signature"));
            }
            if !pem_matches(b64_at(one, &["verifier"]), signer) {
                return Err(mismatch("signing certificate or key"));
            }
        }
        ("dsse", "0.0.2", Content::Dsse(env)) => {
            let spec = spec.get("dsseV002").ok_or_else(|| mismatch("spec"))?;
            if s(spec, &["payloadHash", "algorithm"]) != Some("SHA2_256")
                || b64_at(spec, &["payloadHash", "digest"]).as_deref()
                    != Some(sha256(&env.payload).as_slice())
            {
                return Err(mismatch("payload hash"));
            }
            let (one, mine) = single_signature(spec, env)?;
            if b64_at(one, &["content"]).as_deref() != Some(mine.sig.as_slice()) {
                return Err(mismatch("signature"));
            }
            if !v2_verifier_matches(one.get("verifier"), signer) {
                return Err(mismatch("signing certificate or key"));
            }
        }
        ("intoto", "0.0.2", Content::Dsse(env)) => {
            let c = spec.get("content").ok_or_else(|| mismatch("content"))?;
            if s(c, &["payloadHash", "algorithm"]) != Some("sha256")
                || s(c, &["payloadHash", "value"]) != Some(&hex::encode(sha256(&env.payload)))
            {
                return Err(mismatch("payload hash"));
            }
            if s(c, &["envelope", "payloadType"]) != Some(env.payload_type.as_str()) {
                return Err(mismatch("payload type"));
            }
            let sigs = c
                .pointer("/envelope/signatures")
                .and_then(Value::as_array)
                .ok_or_else(|| mismatch("signatures"))?;
            let ([one], [mine]) = (sigs.as_slice(), env.signatures.as_slice()) else {
                return Err(mismatch("signatures"));
            };
            // Rekor stores the signature base64-encoded twice.
            let sig = b64_at(one, &["sig"]).and_then(|once| {
                let text = String::from_utf8(once.clone()).ok();
                text.and_then(|t| b64::decode(&t).ok()).or(Some(once))
            });
            if sig.as_deref() != Some(mine.sig.as_slice()) {
                return Err(mismatch("signature"));
            }
            if !pem_matches(b64_at(one, &["publicKey"]), signer) {
                return Err(mismatch("signing certificate or key"));
            }
        }
        _ => {
            return fail(
                Check::LogEntryBody,
                format!("a {kind} {version} log entry cannot describe this bundle's content"),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::dsse::{Envelope, Signature};
    use serde_json::json;

    const CERT: &[u8] = b"not really a certificate, compared as bytes";

    fn envelope() -> Envelope {
        Envelope {
            payload_type: "application/vnd.in-toto+json".into(),
            payload: b"{}".to_vec(),
            signatures: vec![Signature {
                keyid: None,
                sig: vec![1, 2, 3],
            }],
        }
    }

    fn entry(body: &Value) -> TlogEntry {
        let bytes = body.to_string().into_bytes();
        TlogEntry {
            log_index: 0,
            log_id: Vec::new(),
            kind: body["kind"].as_str().unwrap().to_owned(),
            version: body["apiVersion"].as_str().unwrap().to_owned(),
            integrated_time: 0,
            set: None,
            proof: None,
            body_b64: b64::encode(&bytes),
            body: bytes,
        }
    }

    fn pem_b64() -> String {
        b64::encode(armor::encode("CERTIFICATE", CERT).unwrap().as_bytes())
    }

    #[test]
    fn intoto_002_bodies_match_payload_type_signature_and_certificate() {
        let env = envelope();
        let body = |payload_type: &str, sig: &[u8]| {
            json!({"apiVersion": "0.0.2", "kind": "intoto", "spec": {"content": {
                "envelope": {"payloadType": payload_type, "signatures": [
                    {"sig": b64::encode(b64::encode(sig).as_bytes()), "publicKey": pem_b64()}
                ]},
                "hash": {"algorithm": "sha256", "value": "00"},
                "payloadHash": {"algorithm": "sha256", "value": hex::encode(sha256(b"{}"))}
            }}})
        };
        let signer = Signer::Certificate(CERT);
        let content = Content::Dsse(env);
        let good = body("application/vnd.in-toto+json", &[1, 2, 3]);
        check_body(&entry(&good), &content, &signer, None).unwrap();
        let other_sig = body("application/vnd.in-toto+json", &[9]);
        assert!(check_body(&entry(&other_sig), &content, &signer, None).is_err());
        let other_type = body("text/plain", &[1, 2, 3]);
        assert!(check_body(&entry(&other_type), &content, &signer, None).is_err());
        let other_cert = Signer::Certificate(b"another");
        assert!(check_body(&entry(&good), &content, &other_cert, None).is_err());
    }

    #[test]
    fn dsse_002_bodies_match_payload_hash_signature_and_verifier() {
        let content = Content::Dsse(envelope());
        let body = |payload: &[u8], sig: &[u8]| {
            json!({"apiVersion": "0.0.2", "kind": "dsse", "spec": {"dsseV002": {
                "payloadHash": {"algorithm": "SHA2_256", "digest": b64::encode(&sha256(payload))},
                "signatures": [{"content": b64::encode(sig), "verifier": {
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "x509Certificate": {"rawBytes": b64::encode(CERT)}
                }}]
            }}})
        };
        let signer = Signer::Certificate(CERT);
        check_body(&entry(&body(b"{}", &[1, 2, 3])), &content, &signer, None).unwrap();
        let err = check_body(&entry(&body(b"{ }", &[1, 2, 3])), &content, &signer, None);
        assert_eq!(err.unwrap_err().check, Check::LogEntryBody);
        assert!(check_body(&entry(&body(b"{}", &[3])), &content, &signer, None).is_err());
        assert!(
            check_body(
                &entry(&body(b"{}", &[1, 2, 3])),
                &content,
                &Signer::Key(CERT),
                None
            )
            .is_err()
        );
        // The entry's declared kind must be the body's.
        let mut lying = entry(&body(b"{}", &[1, 2, 3]));
        lying.kind = "hashedrekord".into();
        assert!(check_body(&lying, &content, &signer, None).is_err());
        // A message-signature entry cannot describe an envelope.
        let hashed = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {}});
        assert!(check_body(&entry(&hashed), &content, &signer, None).is_err());
    }
}
