//! The in-memory registry the engine benchmarks share: resolved tags and signed SLSA v1
//! provenance from the demo CI key, answered at once, so a figure is the engine's own
//! work. Included by `#[path]` from each bench (a bench is its own crate).

use custody::attest::{INTOTO_PAYLOAD_TYPE, SigningKey, sign_envelope};
use custody::digest::Digest;
use custody::registry::{
    Credentials, Discovery, Evidence, EvidenceFormat, ImageRef, Registry, RegistryError, Resolved,
    Source,
};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Answers from memory: every tag resolves, every digest has its envelopes.
pub struct Fake {
    pub tags: HashMap<String, Digest>,
    pub evidence: HashMap<Digest, Vec<Evidence>>,
}

#[async_trait::async_trait]
impl Registry for Fake {
    async fn resolve(&self, image: &ImageRef, _: &Credentials) -> Result<Resolved, RegistryError> {
        let digest = self
            .tags
            .get(&image.original)
            .cloned()
            .ok_or(RegistryError::NotFound {
                image: image.to_string(),
                step: "resolve tag",
            })?;
        Ok(Resolved {
            digest,
            media_type: Some("application/vnd.oci.image.manifest.v1+json".into()),
            platforms: Vec::new(),
        })
    }

    async fn discover(
        &self,
        _: &ImageRef,
        digest: &Digest,
        _: &Credentials,
    ) -> Result<Discovery, RegistryError> {
        Ok(Discovery {
            subject: digest.clone(),
            evidence: self.evidence.get(digest).cloned().unwrap_or_default(),
            skipped: Vec::new(),
            skipped_omitted: 0,
            consulted: vec![Source::ReferrersApi],
        })
    }
}

/// `images` images, each with `per_image` signed provenance envelopes (distinct
/// invocation ids, so distinct blobs).
pub fn fake(root: &Path, images: &[String], per_image: usize) -> Fake {
    let key = SigningKey::from_pem(
        &std::fs::read_to_string(root.join("tests/data/policy/keys/ci.key")).expect("ci.key"),
    )
    .expect("ci key parses");
    let predicate: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join("demo/provenance.json")).expect("demo/provenance.json"),
    )
    .expect("provenance parses");
    let mut tags = HashMap::new();
    let mut evidence = HashMap::new();
    for image in images {
        let digest = Digest::sha256(image.as_bytes());
        let envelopes = (0..per_image)
            .map(|i| {
                let mut p = predicate.clone();
                p["runDetails"]["metadata"]["invocationId"] = format!("growth-{i}").into();
                let statement = serde_json::json!({
                    "_type": "https://in-toto.io/Statement/v1",
                    "subject": [{"name": image, "digest": {"sha256": digest.hex()}}],
                    "predicateType": "https://slsa.dev/provenance/v1",
                    "predicate": p,
                });
                let envelope = sign_envelope(
                    INTOTO_PAYLOAD_TYPE,
                    statement.to_string().as_bytes(),
                    &[&key],
                )
                .expect("signs")
                .to_json()
                .into_bytes();
                let blob = Digest::sha256(&envelope);
                Evidence {
                    subject: digest.clone(),
                    source: Source::ReferrersApi,
                    format: EvidenceFormat::DsseEnvelope,
                    artifact_type: Some("application/vnd.dsse.envelope.v1+json".into()),
                    manifest_digest: Digest::sha256(blob.to_string().as_bytes()),
                    blob_digest: blob,
                    annotations: BTreeMap::new(),
                    bytes: bytes::Bytes::from(envelope),
                }
            })
            .collect();
        evidence.insert(digest.clone(), envelopes);
        tags.insert(image.clone(), digest);
    }
    Fake { tags, evidence }
}
