//! cosign's legacy attestation layout (`cosign attest` without `--new-bundle-format`):
//! a DSSE envelope layer whose annotations carry the signing certificate, its chain, and
//! the Rekor entry's signed entry timestamp. It is read as the v0.1 bundle it amounts to.

use super::error::{Check, SigstoreError};
use crate::attest::{armor, b64};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The annotation holding the signing certificate (PEM).
pub const COSIGN_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
/// The annotation holding the certificate chain (PEM); never a trust anchor, so unused.
pub const COSIGN_CHAIN: &str = "dev.sigstore.cosign/chain";
/// The annotation holding the Rekor bundle (`SignedEntryTimestamp` and `Payload`).
pub const COSIGN_BUNDLE: &str = "dev.sigstore.cosign/bundle";

fn bad(reason: impl Into<String>) -> SigstoreError {
    SigstoreError::new(Check::Bundle, reason)
}

/// The v0.1 Sigstore bundle equivalent to a legacy cosign attestation layer: `None`
/// when the layer carries no certificate annotation (it is not keyless evidence). The
/// chain annotation is ignored: intermediates are never trust anchors. Without the
/// Rekor bundle annotation the result has no log entry, so it cannot verify offline.
pub fn legacy_cosign_bundle(
    envelope_json: &[u8],
    annotations: &BTreeMap<String, String>,
) -> Option<Result<Value, SigstoreError>> {
    let cert_pem = annotations.get(COSIGN_CERTIFICATE)?;
    Some(convert(
        envelope_json,
        cert_pem,
        annotations.get(COSIGN_BUNDLE),
    ))
}

fn convert(
    envelope_json: &[u8],
    cert_pem: &str,
    rekor: Option<&String>,
) -> Result<Value, SigstoreError> {
    let envelope: Value = serde_json::from_slice(envelope_json)
        .map_err(|e| bad(format!("the DSSE layer is not JSON: {e}")))?;
    let blocks =
        armor::parse_all(cert_pem).map_err(|e| bad(format!("{COSIGN_CERTIFICATE}: {e}")))?;
    let leaf = blocks
        .iter()
        .find(|b| b.label == "CERTIFICATE")
        .ok_or_else(|| bad(format!("{COSIGN_CERTIFICATE} holds no certificate")))?;
    let mut entries = Vec::new();
    if let Some(text) = rekor {
        let r: Value = serde_json::from_str(text)
            .map_err(|e| bad(format!("{COSIGN_BUNDLE} is not JSON: {e}")))?;
        let payload = r
            .get("Payload")
            .ok_or_else(|| bad(format!("{COSIGN_BUNDLE} has no Payload")))?;
        let body_b64 = payload
            .get("body")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("{COSIGN_BUNDLE} has no Payload.body")))?;
        let body: Value = b64::decode(body_b64)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad(format!("{COSIGN_BUNDLE}: Payload.body is not base64 JSON")))?;
        let log_id = payload
            .get("logID")
            .and_then(Value::as_str)
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(|| bad(format!("{COSIGN_BUNDLE}: Payload.logID is not hex")))?;
        entries.push(json!({
            "logIndex": payload.get("logIndex").cloned().unwrap_or(Value::Null),
            "logId": { "keyId": b64::encode(&log_id) },
            "kindVersion": {
                "kind": body.get("kind").cloned().unwrap_or(Value::Null),
                "version": body.get("apiVersion").cloned().unwrap_or(Value::Null),
            },
            "integratedTime": payload.get("integratedTime").cloned().unwrap_or(Value::Null),
            "inclusionPromise": {
                "signedEntryTimestamp": r.get("SignedEntryTimestamp").cloned().unwrap_or(Value::Null)
            },
            "canonicalizedBody": body_b64,
        }));
    }
    Ok(json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": {
            "x509CertificateChain": { "certificates": [{ "rawBytes": b64::encode(&leaf.der) }] },
            "tlogEntries": entries,
        },
        "dsseEnvelope": envelope,
    }))
}
