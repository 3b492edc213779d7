//! Attestors: named sets of trusted public keys with a threshold, and keyless
//! identities (Sigstore bundles verified offline against the trusted root).

use super::spec::{AttestorSpec, IdentitySpec};
use crate::attest::sigstore::{self, IdentityPolicy, Matcher, TrustedRoot, Verifier};
use crate::attest::{
    Envelope, PublicKey, Signer, TrustedKey, Verified, VerifyError, verify_envelope,
};

/// A named set of trusted keys; a statement is accepted by the attestor when at least
/// `threshold` distinct keys of the set signed it.
#[derive(Debug, Clone)]
pub struct Attestor {
    /// The attestor's name (visible to Rego as `attestations[_].attestors`).
    pub name: String,
    /// Distinct keys required.
    pub threshold: usize,
    /// The keys.
    pub keys: Vec<TrustedKey>,
    /// Keyless identities, with a label each (for cache keys and messages).
    pub identities: Vec<(String, IdentityPolicy)>,
}

fn identity_policy(i: usize, spec: &IdentitySpec) -> Result<(String, IdentityPolicy), String> {
    let what = format!("identity {}", i + 1);
    let matcher = |exact: &Option<String>, re: &Option<String>, field: &str| match (exact, re) {
        (Some(_), Some(_)) => Err(format!("{what}: give {field} or {field}RegExp, not both")),
        (Some(s), None) => Ok(Matcher::Exact(s.clone())),
        (None, Some(r)) => Matcher::regex(r).map_err(|e| format!("{what}: {field}RegExp: {e}")),
        (None, None) => Err(format!("{what}: {field} or {field}RegExp is required")),
    };
    let issuer = matcher(&spec.issuer, &spec.issuer_regexp, "issuer")?;
    let subject = matcher(&spec.subject, &spec.subject_regexp, "subject")?;
    for name in spec.extensions.keys() {
        if !sigstore::extension_names().any(|n| n == name) {
            return Err(format!(
                "{what}: unknown Fulcio extension {name:?} (known: {})",
                sigstore::extension_names().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let label = format!(
        "{subject} from {issuer}{}",
        spec.extensions
            .iter()
            .map(|(k, v)| format!(" {k}={v:?}"))
            .collect::<String>()
    );
    Ok((
        label,
        IdentityPolicy {
            subject,
            issuer,
            extensions: spec.extensions.clone(),
        },
    ))
}

impl Attestor {
    /// Parses the keys of an `attestors:` entry.
    pub fn from_spec(spec: &AttestorSpec) -> Result<Attestor, String> {
        let mut keys = Vec::new();
        for (i, k) in spec.keys.iter().enumerate() {
            let key = PublicKey::from_pem(&k.pem).map_err(|e| {
                format!(
                    "key {} ({}): {e}",
                    i + 1,
                    k.name.as_deref().unwrap_or("unnamed")
                )
            })?;
            keys.push(TrustedKey::new(k.name.clone(), key));
        }
        let distinct = {
            let mut ids: Vec<&str> = keys.iter().map(|k| k.key.key_id()).collect();
            ids.sort_unstable();
            ids.dedup();
            ids.len()
        };
        if !keys.is_empty() && spec.threshold > distinct {
            return Err(format!(
                "threshold {} is more than its {distinct} distinct key(s)",
                spec.threshold
            ));
        }
        let identities = spec
            .identities
            .iter()
            .enumerate()
            .map(|(i, s)| identity_policy(i, s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Attestor {
            name: spec.name.clone(),
            threshold: spec.threshold,
            keys,
            identities,
        })
    }

    /// Verifies an envelope against this attestor's keys and threshold.
    pub fn verify(&self, envelope: &Envelope) -> Result<Verified, VerifyError> {
        verify_envelope(envelope, &self.keys, self.threshold)
    }

    /// Verifies evidence: the envelope against the keys, and, when the evidence is a
    /// keyless Sigstore bundle (`keyless`, the bundle JSON that carries `envelope`),
    /// the bundle against `root` and the identities. Keyless evidence that fails is
    /// reported with the Sigstore check that failed.
    pub fn verify_evidence(
        &self,
        envelope: &Envelope,
        keyless: Option<&serde_json::Value>,
        root: &TrustedRoot,
    ) -> Result<Verified, VerifyError> {
        let by_key = if self.keys.is_empty() {
            None
        } else {
            match self.verify(envelope) {
                Ok(v) => return Ok(v),
                Err(e) => Some(e),
            }
        };
        let keyless = keyless.filter(|b| has_certificate(b));
        match (keyless, self.identities.is_empty(), by_key) {
            (Some(bundle), false, _) => self.verify_keyless(bundle, root),
            (_, _, Some(e)) => Err(e),
            (None, _, None) => Err(VerifyError::UntrustedSigner {
                keyids: envelope
                    .signatures
                    .iter()
                    .filter_map(|s| s.keyid.clone())
                    .collect(),
            }),
            (Some(_), true, None) => Err(VerifyError::Keyless(sigstore::SigstoreError {
                check: sigstore::Check::Identity,
                reason: format!("attestor {:?} trusts no keyless identity", self.name),
            })),
        }
    }

    fn verify_keyless(
        &self,
        bundle: &serde_json::Value,
        root: &TrustedRoot,
    ) -> Result<Verified, VerifyError> {
        let policies: Vec<IdentityPolicy> =
            self.identities.iter().map(|(_, p)| p.clone()).collect();
        let v =
            sigstore::verify_bundle_value(bundle, None, &Verifier::AnyIdentity(&policies), root)
                .map_err(VerifyError::Keyless)?;
        let Some((payload_type, payload)) = v.dsse else {
            return Err(VerifyError::Keyless(sigstore::SigstoreError {
                check: sigstore::Check::Bundle,
                reason: "the bundle holds a message signature, not an attestation".into(),
            }));
        };
        // The signer is named by the identity the certificate carries (its SAN).
        let name = v.identity.as_ref().and_then(|id| id.sans.first().cloned());
        Ok(Verified {
            payload_type,
            payload,
            signers: vec![Signer {
                key_id: v.key_id,
                name,
                identity: v.identity,
            }],
        })
    }

    /// What decides this attestor's answers, for caches: threshold, key ids and
    /// identities.
    pub fn cache_key(&self) -> String {
        let mut ids: Vec<&str> = self.keys.iter().map(|k| k.key.key_id()).collect();
        ids.sort_unstable();
        let identities: Vec<&str> = self.identities.iter().map(|(l, _)| l.as_str()).collect();
        format!(
            "{}:{}|{}",
            self.threshold,
            ids.join(","),
            identities.join("|")
        )
    }
}

/// Whether a bundle's verification material is a certificate (keyless).
fn has_certificate(bundle: &serde_json::Value) -> bool {
    bundle
        .get("verificationMaterial")
        .is_some_and(|m| m.get("certificate").is_some() || m.get("x509CertificateChain").is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::{KeyAlgorithm, SigningKey, sign_envelope};

    fn spec(pems: &[String], threshold: usize) -> AttestorSpec {
        AttestorSpec {
            name: "ci".into(),
            threshold,
            keys: pems
                .iter()
                .enumerate()
                .map(|(i, p)| super::super::spec::KeySpec {
                    name: Some(format!("k{i}")),
                    pem: p.clone(),
                })
                .collect(),
            identities: Vec::new(),
        }
    }

    #[test]
    fn threshold_counts_distinct_keys() {
        let a = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let b = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let pems = [a.public_key_pem(), b.public_key_pem()];
        let two = Attestor::from_spec(&spec(&pems, 2)).unwrap();
        let one_sig = sign_envelope("text/plain", b"x", &[&a]).unwrap();
        let both = sign_envelope("text/plain", b"x", &[&a, &b]).unwrap();
        assert!(two.verify(&one_sig).is_err());
        assert_eq!(two.verify(&both).unwrap().signers.len(), 2);
        let dup = [a.public_key_pem(), a.public_key_pem()];
        assert!(Attestor::from_spec(&spec(&dup, 2)).is_err());
    }

    use crate::attest::sigstore::testing::{Leaf, TestSigstore};
    use crate::policy::spec::IdentitySpec;

    const STATEMENT: &[u8] = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}],"predicateType":"https://example.com/p","predicate":{}}"#;

    fn keyless_spec(identities: Vec<IdentitySpec>, pems: &[String]) -> AttestorSpec {
        AttestorSpec {
            identities,
            ..spec(pems, 1)
        }
    }

    fn release_identity() -> IdentitySpec {
        IdentitySpec {
            issuer: Some("https://token.actions.githubusercontent.com".into()),
            subject_regexp: Some("https://github.com/org/repo/.github/workflows/.*".into()),
            extensions: [("buildTrigger".to_owned(), "push".to_owned())].into(),
            ..Default::default()
        }
    }

    #[test]
    fn keyless_identities_accept_matching_certificates_only() {
        let sigstore = TestSigstore::new().unwrap();
        let root = TrustedRoot::from_json(sigstore.trusted_root_json().as_bytes()).unwrap();
        let key = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let attestor = Attestor::from_spec(&keyless_spec(
            vec![release_identity()],
            &[key.public_key_pem()],
        ))
        .unwrap();
        let verify = |leaf: &Leaf| {
            let bundle = sigstore
                .dsse_bundle("application/vnd.in-toto+json", STATEMENT, leaf)
                .unwrap();
            let value: serde_json::Value = serde_json::from_str(&bundle).unwrap();
            let env = Envelope::from_json(value["dsseEnvelope"].to_string().as_bytes()).unwrap();
            attestor.verify_evidence(&env, Some(&value), &root)
        };
        let ok = verify(&Leaf::github_workflow("org/repo", "release.yml")).unwrap();
        let signer = &ok.signers[0];
        assert_eq!(
            signer.name.as_deref(),
            Some("https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main")
        );
        let id = signer.identity.as_ref().unwrap();
        assert_eq!(
            id.extensions["sourceRepositoryURI"],
            "https://github.com/org/repo"
        );
        let other = verify(&Leaf::github_workflow("org/other", "release.yml")).unwrap_err();
        assert_eq!(other.category(), crate::category::Category::UntrustedSigner);
        let mut pr = Leaf::github_workflow("org/repo", "release.yml");
        pr.extensions = vec![(20, "pull_request".into())];
        assert!(
            verify(&pr)
                .unwrap_err()
                .to_string()
                .contains("buildTrigger")
        );
        let mut broken = Leaf::github_workflow("org/repo", "release.yml");
        broken.broken_inclusion_proof = true;
        let err = verify(&broken).unwrap_err();
        assert_eq!(err.category(), crate::category::Category::BadSignature);
        assert!(err.to_string().contains("inclusion-proof"), "{err}");
        // The attestor's key still works for key-signed envelopes beside the identities.
        let signed = sign_envelope("text/plain", b"x", &[&key]).unwrap();
        assert!(attestor.verify_evidence(&signed, None, &root).is_ok());
        // A key-only attestor never trusts a certificate.
        let keys_only = Attestor::from_spec(&spec(&[key.public_key_pem()], 1)).unwrap();
        let bundle = sigstore
            .dsse_bundle(
                "application/vnd.in-toto+json",
                STATEMENT,
                &Leaf::github_workflow("org/repo", "release.yml"),
            )
            .unwrap();
        let value: serde_json::Value = serde_json::from_str(&bundle).unwrap();
        let env = Envelope::from_json(value["dsseEnvelope"].to_string().as_bytes()).unwrap();
        assert!(
            keys_only
                .verify_evidence(&env, Some(&value), &root)
                .is_err()
        );
    }

    #[test]
    fn identity_specs_are_checked() {
        let bad = |i: IdentitySpec| Attestor::from_spec(&keyless_spec(vec![i], &[])).unwrap_err();
        assert!(
            bad(IdentitySpec {
                subject: Some("s".into()),
                ..Default::default()
            })
            .contains("issuer")
        );
        assert!(
            bad(IdentitySpec {
                issuer: Some("i".into()),
                ..Default::default()
            })
            .contains("subject")
        );
        assert!(
            bad(IdentitySpec {
                issuer: Some("i".into()),
                subject: Some("s".into()),
                subject_regexp: Some("s.*".into()),
                ..Default::default()
            })
            .contains("not both")
        );
        assert!(
            bad(IdentitySpec {
                issuer: Some("i".into()),
                subject_regexp: Some("(".into()),
                ..Default::default()
            })
            .contains("subjectRegExp")
        );
        assert!(
            bad(IdentitySpec {
                extensions: [("colour".to_owned(), "blue".to_owned())].into(),
                ..release_identity()
            })
            .contains("unknown Fulcio extension")
        );
        let yaml = "name: ci\nidentities:\n  - issuer: https://token.actions.githubusercontent.com\n    subjectRegExp: https://github.com/org/.*\n    extensions: {sourceRepositoryRef: refs/heads/main}\n";
        let parsed: AttestorSpec = yaml_serde::from_str(yaml).unwrap();
        assert!(Attestor::from_spec(&parsed).is_ok());
    }

    #[test]
    fn bad_pem_names_the_key() {
        let err = Attestor::from_spec(&spec(&["not a key".into()], 1)).unwrap_err();
        assert!(err.contains("key 1 (k0)"), "{err}");
    }
}
