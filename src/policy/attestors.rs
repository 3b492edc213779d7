//! Attestors: named sets of trusted public keys with a threshold.

use super::spec::AttestorSpec;

/// A named set of trusted keys; a statement is accepted by the attestor when at least
/// `threshold` distinct keys of the set signed it.
#[derive(Debug, Clone)]
pub struct Attestor {
    /// The attestor's name (visible to Rego as `attestations[_].attestors`).
    pub name: String,
    /// Distinct keys required.
    pub threshold: usize,
    /// Inline PEM of each key, with its optional name.
    pub key_pems: Vec<(Option<String>, String)>,
}

impl Attestor {
    /// Parses the keys of an `attestors:` entry.
    pub fn from_spec(spec: &AttestorSpec) -> Result<Attestor, String> {
        let mut key_pems = Vec::new();
        for (i, k) in spec.keys.iter().enumerate() {
            if !k.pem.contains("-----BEGIN PUBLIC KEY-----") {
                return Err(format!("key {} is not a PEM public key", i + 1));
            }
            key_pems.push((k.name.clone(), k.pem.clone()));
        }
        Ok(Attestor {
            name: spec.name.clone(),
            threshold: spec.threshold,
            key_pems,
        })
    }
}
