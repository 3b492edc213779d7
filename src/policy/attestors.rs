//! Attestors: named sets of trusted public keys with a threshold.

use super::spec::AttestorSpec;
use crate::attest::{Envelope, PublicKey, TrustedKey, Verified, VerifyError, verify_envelope};

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
        if spec.threshold > distinct {
            return Err(format!(
                "threshold {} is more than its {distinct} distinct key(s)",
                spec.threshold
            ));
        }
        Ok(Attestor {
            name: spec.name.clone(),
            threshold: spec.threshold,
            keys,
        })
    }

    /// Verifies an envelope against this attestor's keys and threshold.
    pub fn verify(&self, envelope: &Envelope) -> Result<Verified, VerifyError> {
        verify_envelope(envelope, &self.keys, self.threshold)
    }
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

    #[test]
    fn bad_pem_names_the_key() {
        let err = Attestor::from_spec(&spec(&["not a key".into()], 1)).unwrap_err();
        assert!(err.contains("key 1 (k0)"), "{err}");
    }
}
