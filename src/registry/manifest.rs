//! OCI manifest, index and descriptor JSON as custody *reads* it, and the media types it
//! reads. What custody writes uses oci-client's `manifest` types (push.rs). These stay
//! custody's because they read a registry's untrusted JSON: a descriptor's digest is
//! parsed into a checked [`Digest`] as it is read (it goes into a URL path, a cache key
//! and comparisons; oci-client's is a `String`), its size is a `u64` (oci-client's `i64`
//! admits a negative size against a limit), and only what custody uses is kept.

use super::types::{EvidenceFormat, Platform};
use crate::digest::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// OCI image manifest.
pub const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// Docker manifest list.
pub(crate) const DOCKER_LIST_MEDIA_TYPE: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// The OCI empty descriptor's media type (`{}`), used as an artifact's config.
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// A DSSE envelope.
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// A Sigstore bundle v0.3.
pub const SIGSTORE_BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// An in-toto statement (some tools use it as an artifact type for DSSE-wrapped statements).
pub const INTOTO_MEDIA_TYPE: &str = "application/vnd.in-toto+json";

/// The `Accept` header for manifest requests: every manifest and index type we read.
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// Whether a media type is an index (OCI index or Docker manifest list).
pub(crate) fn is_index(media_type: &str) -> bool {
    let mt = base_type(media_type);
    mt == OCI_INDEX_MEDIA_TYPE || mt == DOCKER_LIST_MEDIA_TYPE
}

fn base_type(media_type: &str) -> &str {
    media_type.split(';').next().unwrap_or("").trim()
}

/// Recognises the evidence formats custody reads from a layer media type or artifact type:
/// DSSE envelopes and Sigstore bundles v0.1–v0.3 (both the `bundle.v0.3+json` and the
/// `bundle+json;version=0.3` spellings).
///
/// ```
/// use custody::registry::{classify_media_type, EvidenceFormat};
/// assert_eq!(classify_media_type("application/vnd.dsse.envelope.v1+json"), Some(EvidenceFormat::DsseEnvelope));
/// assert_eq!(classify_media_type("application/vnd.dev.sigstore.bundle+json;version=0.3"), Some(EvidenceFormat::SigstoreBundle));
/// assert_eq!(classify_media_type("application/spdx+json"), None);
/// ```
pub fn classify_media_type(media_type: &str) -> Option<EvidenceFormat> {
    let lower = media_type.to_ascii_lowercase();
    let mut parts = lower.split(';').map(str::trim);
    let base = parts.next().unwrap_or("");
    if base == DSSE_MEDIA_TYPE {
        return Some(EvidenceFormat::DsseEnvelope);
    }
    const BUNDLE_VERSIONS: [&str; 3] = ["0.1", "0.2", "0.3"];
    if let Some(v) = base
        .strip_prefix("application/vnd.dev.sigstore.bundle.v")
        .and_then(|r| r.strip_suffix("+json"))
        && BUNDLE_VERSIONS.contains(&v)
    {
        return Some(EvidenceFormat::SigstoreBundle);
    }
    if base == "application/vnd.dev.sigstore.bundle+json" {
        let version = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim() == "version")
            .map(|(_, v)| v.trim().trim_matches('"'));
        if version.is_some_and(|v| BUNDLE_VERSIONS.contains(&v)) {
            return Some(EvidenceFormat::SigstoreBundle);
        }
    }
    None
}

/// Whether a referrer with this artifact type may carry evidence (so is worth fetching).
pub(crate) fn artifact_type_may_carry_evidence(artifact_type: Option<&str>) -> bool {
    match artifact_type {
        None => true,
        Some(t) => {
            classify_media_type(t).is_some()
                || base_type(t) == INTOTO_MEDIA_TYPE
                || base_type(t) == EMPTY_MEDIA_TYPE
                || base_type(t).starts_with("application/vnd.in-toto")
        }
    }
}

/// An OCI content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The referenced content's media type.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// The artifact type (for referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The platform (in an index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) platform: Option<PlatformJson>,
}

impl Descriptor {
    /// A descriptor without artifact type, annotations or platform.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest,
            size,
            artifact_type: None,
            annotations: BTreeMap::new(),
            platform: None,
        }
    }

    /// The platform, when this descriptor in an index names one.
    pub fn platform(&self) -> Option<Platform> {
        self.platform.as_ref().map(|p| Platform {
            os: p.os.clone(),
            architecture: p.architecture.clone(),
            variant: p.variant.clone(),
        })
    }
}

/// An index entry's platform. Not oci-client's `Platform`, which requires `os` and
/// `architecture`: one entry without them would fail the whole index (and the lookup).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PlatformJson {
    #[serde(default)]
    pub(crate) os: String,
    #[serde(default)]
    pub(crate) architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) variant: Option<String>,
}

/// An OCI image manifest (also read for Docker schema 2 manifests).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Manifest {
    pub(crate) schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) artifact_type: Option<String>,
    pub(crate) config: Descriptor,
    #[serde(default)]
    pub(crate) layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) annotations: BTreeMap<String, String>,
}

/// An OCI image index or Docker manifest list (also a referrers listing).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Index {
    pub(crate) schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) media_type: Option<String>,
    #[serde(default)]
    pub(crate) manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) annotations: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_formats() {
        for t in [
            "application/vnd.dev.sigstore.bundle.v0.3+json",
            "application/vnd.dev.sigstore.bundle.v0.2+json",
            "application/vnd.dev.sigstore.bundle+json;version=0.3",
            "application/vnd.dev.sigstore.bundle+json; version=\"0.3\"",
        ] {
            assert_eq!(
                classify_media_type(t),
                Some(EvidenceFormat::SigstoreBundle),
                "{t}"
            );
        }
        assert_eq!(
            classify_media_type("application/vnd.dev.sigstore.bundle+json;version=9"),
            None
        );
        assert_eq!(
            classify_media_type("application/vnd.dev.sigstore.bundle.v9+json"),
            None
        );
        assert_eq!(
            classify_media_type("application/vnd.dsse.envelope.v1+json; charset=utf-8"),
            Some(EvidenceFormat::DsseEnvelope)
        );
        assert!(is_index("application/vnd.oci.image.index.v1+json"));
        assert!(!is_index(OCI_MANIFEST_MEDIA_TYPE));
        assert!(artifact_type_may_carry_evidence(None));
        assert!(!artifact_type_may_carry_evidence(Some(
            "application/spdx+json"
        )));
    }

    /// Why the read path keeps its own types (docs/registry.md): what oci-client's would
    /// refuse or let through in a registry's JSON.
    #[test]
    fn read_types_where_oci_client_types_differ() {
        use oci_client::manifest::{OciDescriptor, Platform};
        // A platform without `os` fails oci-client's type; custody reads the entry.
        let partial = r#"{"architecture":"amd64"}"#;
        assert!(serde_json::from_str::<Platform>(partial).is_err());
        let p: PlatformJson = serde_json::from_str(partial).unwrap();
        assert_eq!((p.os.as_str(), p.architecture.as_str()), ("", "amd64"));
        // A negative size and a digest that is a path pass oci-client's descriptor.
        let hostile = r#"{"mediaType":"x","digest":"../../blobs/x","size":-1}"#;
        let d: OciDescriptor = serde_json::from_str(hostile).unwrap();
        assert_eq!((d.digest.as_str(), d.size), ("../../blobs/x", -1));
        assert!(serde_json::from_str::<Descriptor>(hostile).is_err());
        let negative = format!(
            r#"{{"mediaType":"x","digest":"{}","size":-1}}"#,
            Digest::sha256(b"x")
        );
        assert!(serde_json::from_str::<Descriptor>(&negative).is_err());
        assert!(!artifact_type_may_carry_evidence(Some(
            "application/vnd.dev.cosign.artifact.sig.v1+json"
        )));
    }
}
