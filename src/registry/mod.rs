//! Registry access: from an image reference as written in a pod spec to the evidence
//! attached to its digest, bounded in time, bytes and round trips.
//!
//! - [`ImageRef`] parses references the way Kubernetes and the container runtimes do
//!   (through `oci_client::Reference`, with custody's few additions).
//! - [`Registry`] is the capability the engine needs: [`Registry::resolve`] a reference to a
//!   digest and [`Registry::discover`] the attestations attached to that digest.
//! - [`OciRegistry`] implements it over the OCI distribution API (Referrers API, then the
//!   `sha256-<hex>` tag schema, then cosign's `sha256-<hex>.att` tag), with bearer-token
//!   authentication, limits, deadlines, bounded caches and coalescing of concurrent lookups.
//! - The push side ([`OciRegistry::push_blob`], [`OciRegistry::push_manifest`],
//!   [`OciRegistry::attach`]) is used by `custody attest`, the demo and the tests; its
//!   uploads go through oci-client with custody's credentials.
//!
//! Nothing here judges evidence: signatures and statements are checked by the caller.

mod auth;
mod bearer;
mod cache;
mod config;
mod discover;
mod error;
mod fetch;
mod http;
mod manifest;
mod oci;
mod oci_push;
mod push;
mod reference;
mod stats;
mod token;
mod types;
mod warm;
pub mod wire;

pub use auth::{Auth, Credentials, CredentialsError};
pub use config::{CosignTagMode, RegistryConfig};
pub use error::RegistryError;
pub use manifest::{
    DSSE_MEDIA_TYPE, Descriptor, EMPTY_MEDIA_TYPE, INTOTO_MEDIA_TYPE, OCI_INDEX_MEDIA_TYPE,
    OCI_MANIFEST_MEDIA_TYPE, SIGSTORE_BUNDLE_MEDIA_TYPE, classify_media_type,
};
pub use oci::OciRegistry;
pub use push::{Artifact, Attached, PushedManifest};
pub use reference::{ImageRef, RefError};
pub use stats::{RequestRecord, RequestStats};
pub use types::{
    Discovery, Evidence, EvidenceFormat, Platform, PlatformDigest, Resolved, SkipReason, Skipped,
    Source,
};

use crate::digest::Digest;

/// What the engine needs from a registry. [`OciRegistry`] is the real implementation;
/// tests may use a hand-written fake.
#[async_trait::async_trait]
pub trait Registry: Send + Sync {
    /// Resolves `image` to its digest. A tag costs one HEAD request (plus one GET of the
    /// index for a multi-platform image); a reference pinned by digest makes no request and
    /// returns `media_type: None` and no platforms (see [`Registry::platforms`]).
    async fn resolve(
        &self,
        image: &ImageRef,
        creds: &Credentials,
    ) -> Result<Resolved, RegistryError>;

    /// Finds the attestations attached to `digest` in `image`'s repository. Evidence whose
    /// referrer names another subject, whose blob does not match its digest, or whose media
    /// type is not recognised is left out and reported in [`Discovery::skipped`].
    async fn discover(
        &self,
        image: &ImageRef,
        digest: &Digest,
        creds: &Credentials,
    ) -> Result<Discovery, RegistryError>;

    /// The per-platform manifests of `digest` when it is an index (empty for a single
    /// manifest). Needed only by policies that require evidence for every platform.
    async fn platforms(
        &self,
        _image: &ImageRef,
        _digest: &Digest,
        _creds: &Credentials,
    ) -> Result<Vec<PlatformDigest>, RegistryError> {
        Ok(Vec::new())
    }
}
