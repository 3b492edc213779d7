//! What `custody attestations` says about one piece of evidence: read without judging
//! it (payload type, predicate type, key ids) and, with keys, whether it verifies.

use base64::Engine as _;
use custody::attest::sigstore::{self, TrustedRoot};
use custody::attest::{TrustedKey, open_envelope, open_statement, subject_among, verify_envelope};
use custody::category::Category;
use custody::digest::Digest;
use custody::registry::{Evidence, EvidenceFormat};
use serde::Serialize;

/// What the command prints for one piece of evidence.
#[derive(Debug, Serialize)]
pub(super) struct Item<'a> {
    #[serde(flatten)]
    pub(super) evidence: &'a Evidence,
    pub(super) size: usize,
    pub(super) payload_type: Option<String>,
    pub(super) predicate_type: Option<String>,
    pub(super) key_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) verification: Option<Verification>,
    /// For keyless evidence: who the certificate names, and whether the Sigstore
    /// checks (log proofs, timestamps, chain, SCT, signature) pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) keyless: Option<Keyless>,
}

/// The keyless side of one piece of evidence.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Keyless {
    pub(super) identity: Option<String>,
    pub(super) issuer: Option<String>,
    pub(super) extensions: std::collections::BTreeMap<String, String>,
    /// Whether everything but the identity policy verified against the trusted root.
    pub(super) verified: bool,
    pub(super) log_entries: usize,
    pub(super) inclusion_proofs: usize,
    pub(super) signed_at: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) reason: Option<String>,
}

/// For evidence signed keyless (a Sigstore bundle with a certificate, or a cosign
/// legacy layer with a certificate annotation): the certificate's identity, and whether
/// the bundle verifies against `root` for any identity.
pub(super) fn keyless(e: &Evidence, root: &TrustedRoot) -> Option<Keyless> {
    let bundle: serde_json::Value = match e.format {
        EvidenceFormat::SigstoreBundle => serde_json::from_slice(&e.bytes).ok()?,
        EvidenceFormat::DsseEnvelope => {
            sigstore::legacy_cosign_bundle(&e.bytes, &e.annotations)?.ok()?
        }
    };
    let material = bundle.get("verificationMaterial")?;
    let cert_b64 = material
        .pointer("/certificate/rawBytes")
        .or_else(|| material.pointer("/x509CertificateChain/certificates/0/rawBytes"))?
        .as_str()?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(cert_b64)
        .ok()?;
    let id = sigstore::CertificateIdentity::from_der(&der).ok();
    let anyone = match (
        sigstore::Matcher::regex(".*"),
        sigstore::Matcher::regex(".*"),
    ) {
        (Ok(subject), Ok(issuer)) => sigstore::IdentityPolicy {
            subject,
            issuer,
            extensions: Default::default(),
        },
        _ => return None,
    };
    let result =
        sigstore::verify_bundle_value(&bundle, None, &sigstore::Verifier::Identity(&anyone), root);
    let mut out = Keyless {
        identity: id.as_ref().and_then(|i| i.sans.first().cloned()),
        issuer: id.as_ref().and_then(|i| i.issuer.clone()),
        extensions: id.map(|i| i.extensions).unwrap_or_default(),
        verified: false,
        log_entries: 0,
        inclusion_proofs: 0,
        signed_at: Vec::new(),
        reason: None,
    };
    match result {
        Ok(v) => {
            out.verified = true;
            out.log_entries = v.log_entries;
            out.inclusion_proofs = v.inclusion_proofs;
            out.signed_at = v
                .signing_times
                .iter()
                .filter_map(|(_, t)| chrono::DateTime::from_timestamp(*t, 0))
                .map(|t| t.to_rfc3339())
                .collect();
        }
        Err(err) => out.reason = Some(err.to_string()),
    }
    Some(out)
}

/// Whether one piece of evidence verifies with the given keys.
#[derive(Debug, Serialize)]
pub(super) struct Verification {
    pub(super) verified: bool,
    pub(super) signers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) category: Option<Category>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) reason: Option<String>,
}

/// Verifies one piece of evidence with `keys` and checks its statement's subject.
pub(super) fn check(e: &Evidence, keys: &[TrustedKey], digest: &Digest) -> Verification {
    let fail = |category, reason: String| Verification {
        verified: false,
        signers: Vec::new(),
        category: Some(category),
        reason: Some(reason),
    };
    let verified = match open_envelope(e.format, &e.bytes) {
        Ok(env) => verify_envelope(&env, keys, 1),
        Err(err) => return fail(err.category(), err.to_string()),
    };
    let verified = match verified {
        Ok(v) => v,
        Err(err) => return fail(err.category(), err.to_string()),
    };
    let signers: Vec<String> = verified.signers.iter().map(|s| s.display_name()).collect();
    let refused = match open_statement(&verified) {
        Ok(st) => match subject_among(&st, std::slice::from_ref(digest)) {
            Ok(_) => None,
            Err(reason) => Some((Category::SubjectMismatch, reason)),
        },
        Err(err) => Some((err.category(), err.to_string())),
    };
    match refused {
        None => Verification {
            verified: true,
            signers,
            category: None,
            reason: None,
        },
        Some((category, reason)) => Verification {
            signers,
            ..fail(category, reason)
        },
    }
}

/// Reads (without verifying) the payload type, predicate type and key ids.
pub(super) fn describe(e: &Evidence) -> Item<'_> {
    let json: Option<serde_json::Value> = serde_json::from_slice(&e.bytes).ok();
    let envelope = json.as_ref().and_then(|v| match e.format {
        EvidenceFormat::DsseEnvelope => Some(v),
        EvidenceFormat::SigstoreBundle => v.get("dsseEnvelope"),
    });
    let payload_type = envelope
        .and_then(|v| v.get("payloadType"))
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let statement: Option<serde_json::Value> = envelope
        .and_then(|v| v.get("payload"))
        .and_then(|v| v.as_str())
        .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok());
    let predicate_type = statement
        .as_ref()
        .and_then(|s| s.get("predicateType"))
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .or_else(|| e.annotations.get("in-toto.io/predicate-type").cloned());
    let key_ids = envelope
        .and_then(|v| v.get("signatures"))
        .and_then(|v| v.as_array())
        .map(|sigs| {
            sigs.iter()
                .filter_map(|s| s.get("keyid").and_then(|k| k.as_str()))
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Item {
        evidence: e,
        size: e.bytes.len(),
        payload_type,
        predicate_type,
        key_ids,
        verification: None,
        keyless: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use custody::attest::{INTOTO_PAYLOAD_TYPE, KeyAlgorithm, SigningKey, sign_envelope};
    use custody::registry::Source;

    fn evidence(bytes: Vec<u8>) -> Evidence {
        Evidence {
            subject: Digest::sha256(b"image"),
            source: Source::ReferrersApi,
            format: EvidenceFormat::DsseEnvelope,
            artifact_type: None,
            manifest_digest: Digest::sha256(b"manifest"),
            blob_digest: Digest::sha256(&bytes),
            annotations: Default::default(),
            bytes: bytes.into(),
        }
    }

    /// The same refusals as the engine's (src/engine/tests.rs): both open evidence
    /// through `custody::attest::evidence`.
    #[test]
    fn refusals_carry_the_engines_categories() {
        let key = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let keys = [TrustedKey::new(Some("ci".into()), key.public_key().clone())];
        let digest = Digest::sha256(b"image");
        let sign = |payload_type: &str, payload: &[u8]| {
            let env = sign_envelope(payload_type, payload, &[&key]).unwrap();
            evidence(env.to_json().into_bytes())
        };
        let not_statement = check(&sign("text/plain", b"hello"), &keys, &digest);
        assert!(!not_statement.verified);
        assert_eq!(not_statement.category, Some(Category::BadRequest));
        assert_eq!(not_statement.signers, ["ci"]);

        let bad_json = check(&sign(INTOTO_PAYLOAD_TYPE, b"{}"), &keys, &digest);
        assert_eq!(bad_json.category, Some(Category::BadRequest));

        let other = format!(
            r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"x","digest":{{"sha256":"{}"}}}}],"predicateType":"p"}}"#,
            Digest::sha256(b"other").hex()
        );
        let mismatch = check(&sign(INTOTO_PAYLOAD_TYPE, other.as_bytes()), &keys, &digest);
        assert_eq!(mismatch.category, Some(Category::SubjectMismatch));

        let garbage = check(&evidence(b"garbage".to_vec()), &keys, &digest);
        assert_eq!(garbage.category, Some(Category::BadSignature));

        let about = other.replace(Digest::sha256(b"other").hex(), digest.hex());
        let good = check(&sign(INTOTO_PAYLOAD_TYPE, about.as_bytes()), &keys, &digest);
        assert!(good.verified, "{good:?}");
    }
}
