//! The values the registry hands to the engine.

use crate::category::Category;
use crate::digest::Digest;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// An image reference resolved to its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolved {
    /// The digest the reference points at (an index digest for a multi-platform image).
    pub digest: Digest,
    /// The manifest's media type, when the resolution asked the registry (`None` for a
    /// reference pinned by digest, which makes no request).
    pub media_type: Option<String>,
    /// For an index: each platform manifest's digest. Empty for a single manifest.
    pub platforms: Vec<PlatformDigest>,
}

/// The platform a manifest in an index is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU architecture, e.g. `amd64`.
    pub architecture: String,
    /// Architecture variant, e.g. `v8`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// One manifest of a multi-platform index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlatformDigest {
    /// Its platform, when the index says (attestation manifests in an index have none).
    pub platform: Option<Platform>,
    /// The platform manifest's digest.
    pub digest: Digest,
}

/// Where a piece of evidence was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The OCI 1.1 Referrers API (`GET /v2/<name>/referrers/<digest>`).
    ReferrersApi,
    /// The referrers tag schema: an index under the tag `sha256-<hex>`.
    TagSchema,
    /// cosign's legacy attestation tag `sha256-<hex>.att`.
    CosignTag,
}

impl Source {
    /// The kebab-case name used in output and the Rego input.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::ReferrersApi => "referrers-api",
            Source::TagSchema => "tag-schema",
            Source::CosignTag => "cosign-tag",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub use crate::attest::EvidenceFormat;

/// One envelope or bundle attached to a digest, with its digest already checked.
/// Its signature and statement are NOT checked: that is the caller's job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// The digest the evidence is attached to (the referrer's checked `subject`).
    pub subject: Digest,
    /// Where it was found.
    pub source: Source,
    /// Envelope or bundle.
    pub format: EvidenceFormat,
    /// The referrer manifest's `artifactType` (or its config media type), if any.
    pub artifact_type: Option<String>,
    /// Digest of the referrer (or cosign tag) manifest that carried it.
    pub manifest_digest: Digest,
    /// Digest of the blob holding the envelope or bundle (verified).
    pub blob_digest: Digest,
    /// The manifest's annotations merged with the layer's (the layer's win).
    pub annotations: BTreeMap<String, String>,
    /// The envelope or bundle bytes.
    #[serde(skip)]
    pub bytes: bytes::Bytes,
}

/// Something attached to the digest that was not turned into evidence, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Where it was listed.
    pub source: Source,
    /// The referrer manifest, when known.
    pub manifest_digest: Option<Digest>,
    /// Its artifact type or layer media type, when known.
    pub media_type: Option<String>,
    /// Why it was left out.
    pub reason: SkipReason,
}

/// Why a referrer or layer was left out of the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SkipReason {
    /// Neither a DSSE envelope nor a Sigstore bundle (e.g. an SBOM pushed raw, a signature).
    #[error("not an attestation format custody reads")]
    UnsupportedMediaType,
    /// The referrer manifest's `subject` is another digest (or missing).
    #[error("referrer names subject {found:?}, not the image digest")]
    SubjectMismatch {
        /// The subject it names, if any.
        found: Option<String>,
    },
    /// The descriptor or the response exceeded a size limit; nothing more was downloaded.
    #[error("{size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The advertised or observed size.
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// More referrers than the configured limit; the rest were not fetched.
    #[error("more than {limit} referrers; the rest were not fetched")]
    TooManyReferrers {
        /// The configured limit.
        limit: usize,
    },
    /// A manifest lists more evidence layers than the configured limit; the first
    /// `limit` were fetched and the rest were not.
    #[error("{count} evidence layers in one manifest; only the first {limit} were fetched")]
    TooManyLayers {
        /// How many the manifest lists.
        count: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The manifest could not be understood.
    #[error("malformed manifest: {message}")]
    Malformed {
        /// What was wrong.
        message: String,
    },
    /// Fetching it failed (wrong bytes, timeout, server error, ...).
    #[error("{category}: {message}")]
    FetchFailed {
        /// The failure's category.
        category: Category,
        /// The failure, without secrets.
        message: String,
    },
}

impl SkipReason {
    /// The category a denial should report when this was the only thing found.
    pub fn category(&self) -> Category {
        match self {
            SkipReason::UnsupportedMediaType | SkipReason::Malformed { .. } => {
                Category::NoAttestation
            }
            SkipReason::SubjectMismatch { .. } => Category::SubjectMismatch,
            SkipReason::TooLarge { .. }
            | SkipReason::TooManyReferrers { .. }
            | SkipReason::TooManyLayers { .. } => Category::TooLarge,
            SkipReason::FetchFailed { category, .. } => *category,
        }
    }
}

/// How many [`Skipped`] entries one discovery keeps; the rest are only counted.
pub const MAX_SKIPPED_RECORDED: usize = 16;

/// Everything found attached to one digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discovery {
    /// The digest that was looked up.
    pub subject: Digest,
    /// Recognised evidence, de-duplicated by blob digest, in discovery order.
    pub evidence: Vec<Evidence>,
    /// What was left out and why (at most [`MAX_SKIPPED_RECORDED`] entries).
    pub skipped: Vec<Skipped>,
    /// Entries left out beyond those in `skipped`: counted, never stored, so a registry
    /// listing thousands of junk referrers costs a number, not a list.
    pub skipped_omitted: usize,
    /// Which sources were consulted (e.g. the Referrers API, or the tag schema after a 404).
    pub consulted: Vec<Source>,
}

impl Discovery {
    /// Records `s`, or only counts it once [`MAX_SKIPPED_RECORDED`] are kept.
    pub fn skip(&mut self, s: Skipped) {
        if self.skipped.len() < MAX_SKIPPED_RECORDED {
            self.skipped.push(s);
        } else {
            self.skipped_omitted += 1;
        }
    }

    /// Approximate memory held by this result, for the byte-bounded cache.
    pub fn weight(&self) -> usize {
        let ev: usize = self
            .evidence
            .iter()
            .map(|e| {
                e.bytes.len()
                    + 256
                    + e.annotations
                        .iter()
                        .map(|(k, v)| k.len() + v.len())
                        .sum::<usize>()
            })
            .sum();
        ev + self.skipped.len() * 128 + 128
    }
}
