//! The push side: blobs, manifests, and attaching an artifact to an image as an OCI 1.1
//! referrer (maintaining the `sha256-<hex>` tag-schema index when the registry has no
//! Referrers API), plus cosign's legacy `sha256-<hex>.att` layout for tests.
//!
//! The uploads (blob check, upload session, manifest PUT) and the manifests written are
//! oci-client's ([`super::oci_push`]); what is read on the way (the subject's descriptor,
//! an existing tag-schema index or `.att` manifest, the Referrers API check) goes through
//! custody's bounded read path.

use super::auth::Credentials;
use super::discover::schema_tag;
use super::error::RegistryError;
use super::fetch::{Fetcher, header_str};
use super::http::{Req, Target, read_body};
use super::manifest::{
    DSSE_MEDIA_TYPE, Descriptor, EMPTY_MEDIA_TYPE, Index, MANIFEST_ACCEPT, OCI_INDEX_MEDIA_TYPE,
    OCI_MANIFEST_MEDIA_TYPE,
};
use super::oci::OciRegistry;
use super::oci_push::PushSession;
use super::reference::ImageRef;
use super::types::Source;
use crate::digest::Digest;
use bytes::Bytes;
use oci_client::manifest::{ImageIndexEntry, OciDescriptor, OciImageIndex, OciImageManifest};
use reqwest::{Method, StatusCode, Url, header};
use std::collections::BTreeMap;

/// An artifact to attach to an image: one layer holding `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The referrer manifest's `artifactType`, e.g. `application/vnd.dsse.envelope.v1+json`.
    pub artifact_type: String,
    /// The layer's media type (usually the same as `artifact_type`).
    pub media_type: String,
    /// The layer's bytes (an envelope or bundle).
    pub data: Bytes,
    /// Annotations on the referrer manifest (predicate type, creation time, ...).
    pub annotations: BTreeMap<String, String>,
}

/// Where an artifact was attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// The referrer (or `.att`) manifest's digest.
    pub manifest_digest: Digest,
    /// How clients will find it: the Referrers API, the tag schema index, or the cosign tag.
    pub source: Source,
    /// The image manifest it is attached to.
    pub subject: Descriptor,
}

/// The result of a manifest upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedManifest {
    /// The manifest's digest.
    pub digest: Digest,
}

impl OciRegistry {
    /// Uploads a blob (skipped when the registry already has it) and returns its digest.
    pub async fn push_blob(
        &self,
        image: &ImageRef,
        data: Bytes,
        creds: &Credentials,
    ) -> Result<Digest, RegistryError> {
        self.push_session(image, creds).await?.blob(data).await
    }

    /// Uploads a manifest under `reference` (a tag, or its own digest).
    pub async fn push_manifest(
        &self,
        image: &ImageRef,
        reference: &str,
        media_type: &str,
        data: Bytes,
        creds: &Credentials,
    ) -> Result<PushedManifest, RegistryError> {
        let session = self.push_session(image, creds).await?;
        let digest = session.manifest(reference, media_type, data).await?;
        Ok(PushedManifest { digest })
    }

    /// The descriptor of the manifest `digest` in `image`'s repository (one HEAD).
    pub async fn describe(
        &self,
        image: &ImageRef,
        digest: &Digest,
        creds: &Credentials,
    ) -> Result<Descriptor, RegistryError> {
        let t = self.target(image, creds, false);
        let http = &self.inner().http;
        let mut head = req(
            Method::HEAD,
            http.url(image, &format!("manifests/{digest}"))?,
            "describe subject",
        );
        head.accept = Some(MANIFEST_ACCEPT);
        let resp = http.send(&t, head).await?;
        let media_type = header_str(&resp, header::CONTENT_TYPE)
            .unwrap_or_else(|| OCI_MANIFEST_MEDIA_TYPE.to_owned());
        let size = header_str(&resp, header::CONTENT_LENGTH).and_then(|s| s.parse::<u64>().ok());
        let size = match size {
            Some(s) if s > 0 => s,
            _ => {
                let f = Fetcher::new(http, self.config(), self.target(image, creds, false));
                let m = f
                    .manifest(
                        &digest.to_string(),
                        Some(digest),
                        MANIFEST_ACCEPT,
                        "describe subject",
                    )
                    .await?;
                m.bytes.len() as u64
            }
        };
        Ok(Descriptor::new(&media_type, digest.clone(), size))
    }

    /// Attaches `artifact` to the manifest `subject` as an OCI 1.1 referrer. When the
    /// registry's Referrers API does not list it afterwards (no Referrers API), the
    /// `sha256-<hex>` tag-schema index is updated so every client finds it.
    pub async fn attach(
        &self,
        image: &ImageRef,
        subject: &Digest,
        artifact: &Artifact,
        creds: &Credentials,
    ) -> Result<Attached, RegistryError> {
        let subject_desc = self.describe(image, subject, creds).await?;
        let session = self.push_session(image, creds).await?;
        let empty = Bytes::from_static(b"{}");
        let (config_digest, layer_digest) = futures::try_join!(
            session.blob(empty.clone()),
            session.blob(artifact.data.clone())
        )?;
        let manifest = OciImageManifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST_MEDIA_TYPE.to_owned()),
            artifact_type: Some(artifact.artifact_type.clone()),
            config: oci_descriptor(EMPTY_MEDIA_TYPE, &config_digest, empty.len()),
            layers: vec![oci_descriptor(
                &artifact.media_type,
                &layer_digest,
                artifact.data.len(),
            )],
            subject: Some(oci_descriptor(
                &subject_desc.media_type,
                &subject_desc.digest,
                subject_desc.size,
            )),
            annotations: non_empty(&artifact.annotations),
        };
        let body = Bytes::from(to_json(image, &manifest)?);
        let size = body.len();
        let digest = Digest::sha256(&body);
        session
            .manifest(&digest.to_string(), OCI_MANIFEST_MEDIA_TYPE, body)
            .await?;
        let source = if self
            .referrers_api_lists(image, subject, &digest, creds)
            .await?
        {
            Source::ReferrersApi
        } else {
            let entry = ImageIndexEntry {
                media_type: OCI_MANIFEST_MEDIA_TYPE.to_owned(),
                digest: digest.to_string(),
                size: i64::try_from(size).unwrap_or(i64::MAX),
                platform: None,
                annotations: non_empty(&artifact.annotations),
                artifact_type: Some(artifact.artifact_type.clone()),
            };
            self.add_to_tag_schema(image, subject, entry, &session, creds)
                .await?;
            Source::TagSchema
        };
        self.forget(image, subject).await;
        Ok(Attached {
            manifest_digest: digest,
            source,
            subject: subject_desc,
        })
    }

    /// Whether the registry's Referrers API lists `manifest` for `subject` (the OCI
    /// 1.1 sign that it indexes referrers itself; oci-client does not pass on the
    /// `OCI-Subject` header of the manifest PUT). 404 (or 400/405/406/501) means no
    /// Referrers API. The listing is read within `--max-manifest-bytes`.
    async fn referrers_api_lists(
        &self,
        image: &ImageRef,
        subject: &Digest,
        manifest: &Digest,
        creds: &Credentials,
    ) -> Result<bool, RegistryError> {
        let step = "check the Referrers API";
        let t = self.target(image, creds, false);
        let http = &self.inner().http;
        let mut get = req(
            Method::GET,
            http.url(image, &format!("referrers/{subject}"))?,
            step,
        );
        get.accept = Some(OCI_INDEX_MEDIA_TYPE);
        match http.send(&t, get).await {
            Ok(resp) => {
                let limit = self.config().max_manifest_bytes;
                let body = read_body(resp, limit, None, None, &image.to_string(), step).await?;
                Ok(serde_json::from_slice::<Index>(&body)
                    .is_ok_and(|i| i.manifests.iter().any(|d| d.digest == *manifest)))
            }
            Err(RegistryError::NotFound { .. }) => Ok(false),
            Err(RegistryError::Status {
                status: 400 | 405 | 406 | 501,
                ..
            }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Adds `entry` to the index under the tag `sha256-<hex>` of `subject` (read within
    /// custody's limits, written with oci-client).
    async fn add_to_tag_schema(
        &self,
        image: &ImageRef,
        subject: &Digest,
        entry: ImageIndexEntry,
        session: &PushSession<'_>,
        creds: &Credentials,
    ) -> Result<(), RegistryError> {
        let tag = schema_tag(subject);
        let f = Fetcher::new(
            &self.inner().http,
            self.config(),
            self.target(image, creds, false),
        );
        let read = f
            .manifest(
                &tag,
                None,
                OCI_INDEX_MEDIA_TYPE,
                "read referrers tag schema",
            )
            .await;
        let mut index = match read {
            Ok(m) => serde_json::from_slice::<OciImageIndex>(&m.bytes).unwrap_or_else(|_| empty()),
            Err(RegistryError::NotFound { .. }) => empty(),
            Err(e) => return Err(e),
        };
        index.media_type = Some(OCI_INDEX_MEDIA_TYPE.to_owned());
        if !index.manifests.iter().any(|d| d.digest == entry.digest) {
            index.manifests.push(entry);
        }
        let body = Bytes::from(to_json(image, &index)?);
        session.manifest(&tag, OCI_INDEX_MEDIA_TYPE, body).await?;
        Ok(())
    }

    /// Writes cosign's legacy layout: the tag `sha256-<hex>.att` holding an image manifest
    /// whose layers are DSSE envelopes (existing layers are kept). For tests and
    /// interoperability checks; `attach` is the preferred way.
    pub async fn attach_cosign(
        &self,
        image: &ImageRef,
        subject: &Digest,
        envelopes: &[Bytes],
        creds: &Credentials,
    ) -> Result<Attached, RegistryError> {
        let subject_desc = self.describe(image, subject, creds).await?;
        let session = self.push_session(image, creds).await?;
        let tag = format!("{}.att", schema_tag(subject));
        let f = Fetcher::new(
            &self.inner().http,
            self.config(),
            self.target(image, creds, false),
        );
        let mut layers = match f.manifest_any(&tag, "read cosign attestation tag").await {
            Ok(m) => serde_json::from_slice::<OciImageManifest>(&m.bytes)
                .map(|m| m.layers)
                .unwrap_or_default(),
            Err(RegistryError::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        for env in envelopes {
            let digest = session.blob(env.clone()).await?;
            let mut layer = oci_descriptor(DSSE_MEDIA_TYPE, &digest, env.len());
            layer.annotations = Some(BTreeMap::from([(
                "dev.cosignproject.cosign/signature".to_owned(),
                String::new(),
            )]));
            layers.push(layer);
        }
        let config = serde_json::json!({
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.digest.clone()).collect::<Vec<_>>()},
        });
        let config = Bytes::from(
            serde_json::to_vec(&config).map_err(|e| RegistryError::Config(e.to_string()))?,
        );
        let config_len = config.len();
        let config_digest = session.blob(config).await?;
        let manifest = OciImageManifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST_MEDIA_TYPE.to_owned()),
            artifact_type: None,
            config: oci_descriptor(
                "application/vnd.oci.image.config.v1+json",
                &config_digest,
                config_len,
            ),
            layers,
            subject: None,
            annotations: None,
        };
        let body = Bytes::from(to_json(image, &manifest)?);
        let digest = session
            .manifest(&tag, OCI_MANIFEST_MEDIA_TYPE, body)
            .await?;
        self.forget(image, subject).await;
        Ok(Attached {
            manifest_digest: digest,
            source: Source::CosignTag,
            subject: subject_desc,
        })
    }

    /// Deletes a manifest by digest (registries may refuse: 405 when deletes are off).
    pub async fn delete_manifest(
        &self,
        image: &ImageRef,
        digest: &Digest,
        creds: &Credentials,
    ) -> Result<(), RegistryError> {
        let t: Target<'_> = self.target(image, creds, true);
        let http = &self.inner().http;
        let resp = http
            .send(
                &t,
                req(
                    Method::DELETE,
                    http.url(image, &format!("manifests/{digest}"))?,
                    "delete manifest",
                ),
            )
            .await?;
        if resp.status() != StatusCode::ACCEPTED && !resp.status().is_success() {
            let _ = read_body(
                resp,
                4096,
                None,
                None,
                &image.to_string(),
                "delete manifest",
            )
            .await;
        }
        self.forget(image, digest).await;
        Ok(())
    }

    async fn forget(&self, image: &ImageRef, digest: &Digest) {
        self.inner()
            .caches
            .forget_digest(&format!("{}@{digest}", image.name()))
            .await;
    }
}

fn oci_descriptor(media_type: &str, digest: &Digest, size: impl TryInto<i64>) -> OciDescriptor {
    OciDescriptor {
        media_type: media_type.to_owned(),
        digest: digest.to_string(),
        size: size.try_into().unwrap_or(i64::MAX),
        urls: None,
        annotations: None,
        artifact_type: None,
    }
}

fn non_empty(annotations: &BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    (!annotations.is_empty()).then(|| annotations.clone())
}

fn empty() -> OciImageIndex {
    OciImageIndex {
        schema_version: 2,
        media_type: Some(OCI_INDEX_MEDIA_TYPE.to_owned()),
        manifests: Vec::new(),
        artifact_type: None,
        annotations: None,
    }
}

pub(super) fn req(method: Method, url: Url, step: &'static str) -> Req {
    Req {
        method,
        url,
        accept: None,
        content_type: None,
        body: None,
        step,
    }
}

fn to_json<T: serde::Serialize>(image: &ImageRef, v: &T) -> Result<Vec<u8>, RegistryError> {
    serde_json::to_vec(v).map_err(|e| RegistryError::Protocol {
        image: image.to_string(),
        step: "encode manifest",
        reason: e.to_string(),
    })
}
