//! Where evidence comes from. The engine asks every [`EvidenceSource`] it holds for the
//! evidence about a digest and verifies what they return the same way, whoever found
//! it. The OCI registry the image lives in is the first source ([`RegistryEvidence`]);
//! a transparency log, a metadata store such as Grafeas, or a directory of bundles is
//! another implementation of the trait, added with [`Engine::with_evidence_source`]
//! without touching the engine.
//!
//! [`Engine::with_evidence_source`]: super::Engine::with_evidence_source

use crate::digest::Digest;
use crate::registry::{Credentials, Discovery, ImageRef, Registry, RegistryError};
use std::sync::Arc;

/// Finds the evidence (DSSE envelopes, Sigstore bundles) about one image digest.
#[async_trait::async_trait]
pub trait EvidenceSource: Send + Sync {
    /// A short name for logs (`oci-registry`, ...).
    fn name(&self) -> &'static str;

    /// The evidence about `digest`, the manifest `image` resolved to (or one of its
    /// platforms). Evidence must be about `digest` and its bytes checked against its
    /// blob digest; what is left out goes to [`Discovery::skipped`]. An error denies
    /// the image under the error's category, as a registry failure does.
    async fn discover(
        &self,
        image: &ImageRef,
        digest: &Digest,
        creds: &Credentials,
    ) -> Result<Discovery, RegistryError>;
}

/// The image's own registry as an evidence source: referrers (Referrers API or tag
/// schema) and cosign's attestation tags in the image's repository.
pub struct RegistryEvidence(pub Arc<dyn Registry>);

#[async_trait::async_trait]
impl EvidenceSource for RegistryEvidence {
    fn name(&self) -> &'static str {
        "oci-registry"
    }

    async fn discover(
        &self,
        image: &ImageRef,
        digest: &Digest,
        creds: &Credentials,
    ) -> Result<Discovery, RegistryError> {
        self.0.discover(image, digest, creds).await
    }
}
