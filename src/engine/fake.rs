//! A hand-written in-memory registry for the engine's unit tests (tags, evidence,
//! injected errors and stalls), and a second, in-memory evidence source beside it.

use crate::digest::Digest;
use crate::registry::{
    Credentials, Discovery, Evidence, EvidenceFormat, ImageRef, PlatformDigest, Registry,
    RegistryError, Resolved, Source,
};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
pub(crate) struct FakeRegistry {
    tags: Mutex<HashMap<String, Resolved>>,
    evidence: Mutex<HashMap<Digest, Vec<Evidence>>>,
    resolve_errors: Mutex<HashMap<String, RegistryError>>,
    discover_stall: Mutex<Option<Duration>>,
}

impl FakeRegistry {
    pub(crate) fn tag(&self, name_tag: &str, digest: &Digest, platforms: Vec<PlatformDigest>) {
        self.tags.lock().unwrap().insert(
            name_tag.to_owned(),
            Resolved {
                digest: digest.clone(),
                media_type: Some("application/vnd.oci.image.manifest.v1+json".into()),
                platforms,
            },
        );
    }

    pub(crate) fn attach(&self, subject: &Digest, envelope_json: &[u8]) {
        let ev = evidence(subject, envelope_json);
        let mut map = self.evidence.lock().unwrap();
        map.entry(subject.clone()).or_default().push(ev);
    }

    pub(crate) fn fail_resolve(&self, name_tag: &str, err: RegistryError) {
        self.resolve_errors
            .lock()
            .unwrap()
            .insert(name_tag.to_owned(), err);
    }

    pub(crate) fn stall_discovery(&self, d: Duration) {
        *self.discover_stall.lock().unwrap() = Some(d);
    }
}

#[async_trait::async_trait]
impl Registry for FakeRegistry {
    async fn resolve(&self, image: &ImageRef, _: &Credentials) -> Result<Resolved, RegistryError> {
        let key = format!("{}:{}", image.name(), image.tag.clone().unwrap_or_default());
        if let Some(e) = self.resolve_errors.lock().unwrap().get(&key) {
            return Err(e.clone());
        }
        if let Some(d) = &image.digest {
            return Ok(Resolved {
                digest: d.clone(),
                media_type: None,
                platforms: Vec::new(),
            });
        }
        self.tags
            .lock()
            .unwrap()
            .get(&key)
            .cloned()
            .ok_or(RegistryError::NotFound {
                image: image.to_string(),
                step: "resolve tag",
            })
    }

    async fn discover(
        &self,
        _: &ImageRef,
        digest: &Digest,
        _: &Credentials,
    ) -> Result<Discovery, RegistryError> {
        let stall = *self.discover_stall.lock().unwrap();
        if let Some(d) = stall {
            tokio::time::sleep(d).await;
        }
        Ok(Discovery {
            subject: digest.clone(),
            evidence: self
                .evidence
                .lock()
                .unwrap()
                .get(digest)
                .cloned()
                .unwrap_or_default(),
            skipped: Vec::new(),
            skipped_omitted: 0,
            consulted: vec![Source::ReferrersApi],
        })
    }
}

/// A DSSE envelope attached to `subject` as a referrer.
fn evidence(subject: &Digest, envelope_json: &[u8]) -> Evidence {
    let blob = Digest::sha256(envelope_json);
    Evidence {
        subject: subject.clone(),
        source: Source::ReferrersApi,
        format: EvidenceFormat::DsseEnvelope,
        artifact_type: Some("application/vnd.dsse.envelope.v1+json".into()),
        manifest_digest: Digest::sha256(blob.to_string().as_bytes()),
        blob_digest: blob,
        annotations: Default::default(),
        bytes: bytes::Bytes::copy_from_slice(envelope_json),
    }
}

/// Evidence kept in memory, by subject digest: the second evidence source of the
/// engine's tests (as a transparency log or a directory of bundles would be).
#[derive(Default)]
pub(crate) struct MemoryEvidence {
    evidence: Mutex<HashMap<Digest, Vec<Evidence>>>,
    error: Mutex<Option<RegistryError>>,
    asked: Mutex<Vec<Digest>>,
}

impl MemoryEvidence {
    pub(crate) fn add(&self, subject: &Digest, envelope_json: &[u8]) {
        let ev = evidence(subject, envelope_json);
        let mut map = self.evidence.lock().unwrap();
        map.entry(subject.clone()).or_default().push(ev);
    }

    pub(crate) fn fail(&self, err: RegistryError) {
        *self.error.lock().unwrap() = Some(err);
    }

    /// The digests it was asked about, in order.
    pub(crate) fn asked(&self) -> Vec<Digest> {
        self.asked.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl crate::engine::EvidenceSource for MemoryEvidence {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn discover(
        &self,
        _: &ImageRef,
        digest: &Digest,
        _: &Credentials,
    ) -> Result<Discovery, RegistryError> {
        self.asked.lock().unwrap().push(digest.clone());
        if let Some(e) = self.error.lock().unwrap().clone() {
            return Err(e);
        }
        let evidence = self.evidence.lock().unwrap().get(digest).cloned();
        Ok(Discovery {
            subject: digest.clone(),
            evidence: evidence.unwrap_or_default(),
            skipped: Vec::new(),
            skipped_omitted: 0,
            consulted: Vec::new(),
        })
    }
}
