//! Reading Sigstore bundles v0.1–v0.3 (protobuf-specs `Bundle` in its JSON form):
//! content (DSSE envelope or message signature), verification material (certificate,
//! certificate chain or public-key hint), transparency-log entries, RFC 3161 timestamps.
//! Nothing here is trusted yet; see [`super::verify_bundle`].

use super::error::{Check, SigstoreError};
use crate::attest::b64;
use crate::attest::dsse::Envelope;
use serde_json::Value;

const MEDIA_TYPES: [(&str, u8); 4] = [
    ("application/vnd.dev.sigstore.bundle+json;version=0.1", 1),
    ("application/vnd.dev.sigstore.bundle+json;version=0.2", 2),
    ("application/vnd.dev.sigstore.bundle+json;version=0.3", 3),
    ("application/vnd.dev.sigstore.bundle.v0.3+json", 3),
];

/// What the bundle signs.
#[derive(Debug, Clone)]
pub(crate) enum Content {
    /// A DSSE envelope.
    Dsse(Envelope),
    /// A signature over an artifact, with the artifact's digest as a hint.
    Message {
        /// `messageDigest` (algorithm name, digest), an unauthenticated hint.
        digest: Option<(String, Vec<u8>)>,
        /// The signature.
        signature: Vec<u8>,
    },
}

/// Who signed, as the bundle claims.
#[derive(Debug, Clone)]
pub(crate) enum Material {
    /// A signing certificate first, then any further certificates the bundle carries.
    Certificates(Vec<Vec<u8>>),
    /// A public key, named by a hint; the key itself comes from the verifier.
    PublicKey,
}

/// An inclusion proof.
#[derive(Debug, Clone)]
pub(crate) struct InclusionProof {
    pub(crate) log_index: i64,
    pub(crate) root_hash: Vec<u8>,
    pub(crate) tree_size: i64,
    pub(crate) hashes: Vec<Vec<u8>>,
    pub(crate) checkpoint: Option<String>,
}

/// A transparency-log entry as the bundle carries it.
#[derive(Debug, Clone)]
pub(crate) struct TlogEntry {
    pub(crate) log_index: i64,
    pub(crate) log_id: Vec<u8>,
    pub(crate) kind: String,
    pub(crate) version: String,
    /// 0 when absent (Rekor v2).
    pub(crate) integrated_time: i64,
    pub(crate) set: Option<Vec<u8>>,
    pub(crate) proof: Option<InclusionProof>,
    /// The canonicalized body, decoded.
    pub(crate) body: Vec<u8>,
    /// The canonicalized body exactly as written (base64), which the SET signs.
    pub(crate) body_b64: String,
}

/// A parsed Sigstore bundle.
#[derive(Debug, Clone)]
pub(crate) struct SigstoreBundle {
    /// 1, 2 or 3.
    pub(crate) minor_version: u8,
    pub(crate) content: Content,
    pub(crate) material: Material,
    pub(crate) tlog_entries: Vec<TlogEntry>,
    /// RFC 3161 timestamp tokens (DER).
    pub(crate) timestamps: Vec<Vec<u8>>,
}

fn bad(reason: impl Into<String>) -> SigstoreError {
    SigstoreError::new(Check::Bundle, reason)
}

fn int(v: Option<&Value>, what: &str) -> Result<i64, SigstoreError> {
    match v {
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| bad(format!("{what} is not an integer"))),
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| bad(format!("{what} is not an integer"))),
        _ => Err(bad(format!("{what} is missing"))),
    }
}

fn bytes(v: Option<&Value>, what: &str) -> Result<Vec<u8>, SigstoreError> {
    let s = v
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{what} is missing")))?;
    b64::decode(s).map_err(|_| bad(format!("{what} is not base64")))
}

fn tlog_entry(e: &Value, i: usize) -> Result<TlogEntry, SigstoreError> {
    let w = |f: &str| format!("tlogEntries[{i}].{f}");
    let kv = e.get("kindVersion");
    let proof = match e.get("inclusionProof") {
        None | Some(Value::Null) => None,
        Some(p) => Some(InclusionProof {
            log_index: int(p.get("logIndex"), &w("inclusionProof.logIndex"))?,
            root_hash: bytes(p.get("rootHash"), &w("inclusionProof.rootHash"))?,
            tree_size: int(p.get("treeSize"), &w("inclusionProof.treeSize"))?,
            hashes: p
                .get("hashes")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|h| bytes(Some(h), &w("inclusionProof.hashes")))
                .collect::<Result<_, _>>()?,
            checkpoint: p
                .get("checkpoint")
                .and_then(|c| c.get("envelope"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        }),
    };
    let body_b64 = e
        .get("canonicalizedBody")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(w("canonicalizedBody") + " is missing"))?
        .to_owned();
    Ok(TlogEntry {
        log_index: int(e.get("logIndex"), &w("logIndex"))?,
        log_id: bytes(
            e.get("logId").and_then(|l| l.get("keyId")),
            &w("logId.keyId"),
        )?,
        kind: kv
            .and_then(|k| k.get("kind"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        version: kv
            .and_then(|k| k.get("version"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        integrated_time: match e.get("integratedTime") {
            None | Some(Value::Null) => 0,
            v => int(v, &w("integratedTime"))?,
        },
        set: match e.get("inclusionPromise") {
            None | Some(Value::Null) => None,
            Some(p) => Some(bytes(
                p.get("signedEntryTimestamp"),
                &w("inclusionPromise.signedEntryTimestamp"),
            )?),
        },
        proof,
        body: b64::decode(&body_b64).map_err(|_| bad(w("canonicalizedBody") + " is not base64"))?,
        body_b64,
    })
}

fn material(vm: &Value) -> Result<Material, SigstoreError> {
    if let Some(c) = vm.get("certificate") {
        return Ok(Material::Certificates(vec![bytes(
            c.get("rawBytes"),
            "verificationMaterial.certificate.rawBytes",
        )?]));
    }
    if let Some(chain) = vm.get("x509CertificateChain") {
        let certs = chain
            .get("certificates")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if certs.is_empty() {
            return Err(bad("the x509CertificateChain is empty"));
        }
        return Ok(Material::Certificates(
            certs
                .iter()
                .map(|c| {
                    bytes(
                        c.get("rawBytes"),
                        "x509CertificateChain.certificates.rawBytes",
                    )
                })
                .collect::<Result<_, _>>()?,
        ));
    }
    if vm.get("publicKey").is_some() {
        return Ok(Material::PublicKey);
    }
    Err(bad(
        "verificationMaterial has no certificate, chain or public key",
    ))
}

impl SigstoreBundle {
    /// Parses bundle JSON.
    pub(crate) fn from_json(data: &[u8]) -> Result<SigstoreBundle, SigstoreError> {
        let value: Value =
            serde_json::from_slice(data).map_err(|e| bad(format!("not JSON: {e}")))?;
        SigstoreBundle::from_value(&value)
    }

    /// Parses a bundle from a JSON value.
    pub(crate) fn from_value(value: &Value) -> Result<SigstoreBundle, SigstoreError> {
        let media_type = value.get("mediaType").and_then(Value::as_str).unwrap_or("");
        let minor_version = MEDIA_TYPES
            .iter()
            .find(|(m, _)| *m == media_type)
            .map(|(_, v)| *v)
            .ok_or_else(|| bad(format!("unsupported mediaType {media_type:?}")))?;
        let vm = value
            .get("verificationMaterial")
            .ok_or_else(|| bad("no verificationMaterial"))?;
        let content = match (value.get("dsseEnvelope"), value.get("messageSignature")) {
            (Some(d), None) => Content::Dsse(
                Envelope::from_json(d.to_string().as_bytes())
                    .map_err(|e| bad(format!("dsseEnvelope: {e}")))?,
            ),
            (None, Some(m)) => Content::Message {
                digest: match m.get("messageDigest") {
                    None | Some(Value::Null) => None,
                    Some(d) => Some((
                        d.get("algorithm")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        bytes(d.get("digest"), "messageSignature.messageDigest.digest")?,
                    )),
                },
                signature: bytes(m.get("signature"), "messageSignature.signature")?,
            },
            _ => {
                return Err(bad(
                    "exactly one of dsseEnvelope and messageSignature is required",
                ));
            }
        };
        let tlog_entries = vm
            .get("tlogEntries")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, e)| tlog_entry(e, i))
            .collect::<Result<Vec<_>, _>>()?;
        let timestamps = vm
            .get("timestampVerificationData")
            .and_then(|t| t.get("rfc3161Timestamps"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|t| {
                bytes(
                    t.get("signedTimestamp"),
                    "rfc3161Timestamps.signedTimestamp",
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SigstoreBundle {
            minor_version,
            content,
            material: material(vm)?,
            tlog_entries,
            timestamps,
        })
    }

    /// The signature bytes the timestamps and log entries are about.
    pub(crate) fn signature_bytes(&self) -> Result<&[u8], SigstoreError> {
        match &self.content {
            Content::Message { signature, .. } => Ok(signature),
            Content::Dsse(env) => match env.signatures.as_slice() {
                [one] => Ok(&one.sig),
                sigs => Err(SigstoreError::new(
                    Check::Signature,
                    format!(
                        "the DSSE envelope has {} signatures; exactly one is required",
                        sigs.len()
                    ),
                )),
            },
        }
    }
}
