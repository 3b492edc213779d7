//! The push side: blobs, manifests, and attaching an artifact to an image as an OCI 1.1
//! referrer (maintaining the `sha256-<hex>` tag-schema index when the registry has no
//! Referrers API), plus cosign's legacy `sha256-<hex>.att` layout for tests.

use super::auth::Credentials;
use super::discover::schema_tag;
use super::error::RegistryError;
use super::fetch::{Fetcher, header_str};
use super::http::{Req, Target, read_body};
use super::manifest::{
    Descriptor, EMPTY_MEDIA_TYPE, Index, MANIFEST_ACCEPT, Manifest, OCI_INDEX_MEDIA_TYPE,
    OCI_MANIFEST_MEDIA_TYPE,
};
use super::oci::OciRegistry;
use super::reference::ImageRef;
use super::types::Source;
use crate::digest::Digest;
use bytes::Bytes;
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
    /// The registry's `OCI-Subject` answer (set when it indexes referrers itself).
    pub oci_subject: Option<String>,
}

impl OciRegistry {
    /// Uploads a blob (skipped when the registry already has it) and returns its digest.
    pub async fn push_blob(
        &self,
        image: &ImageRef,
        data: Bytes,
        creds: &Credentials,
    ) -> Result<Digest, RegistryError> {
        let digest = Digest::sha256(&data);
        let t = self.target(image, creds, true);
        let http = &self.inner().http;
        let head = http
            .send(
                &t,
                req(
                    Method::HEAD,
                    http.url(image, &format!("blobs/{digest}"))?,
                    "check blob",
                ),
            )
            .await;
        match head {
            Ok(_) => return Ok(digest),
            Err(RegistryError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let start = http.url(image, "blobs/uploads/")?;
        let resp = http
            .send(&t, req(Method::POST, start.clone(), "start blob upload"))
            .await?;
        let location =
            header_str(&resp, header::LOCATION).ok_or_else(|| RegistryError::Protocol {
                image: image.to_string(),
                step: "start blob upload",
                reason: "no Location header".into(),
            })?;
        let mut url = start.join(&location).map_err(|e| RegistryError::Protocol {
            image: image.to_string(),
            step: "start blob upload",
            reason: format!("bad Location header: {e}"),
        })?;
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let mut put = req(Method::PUT, url, "upload blob");
        put.content_type = Some("application/octet-stream".into());
        put.body = Some(data);
        http.send(&t, put).await?;
        Ok(digest)
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
        let digest = Digest::sha256(&data);
        let t = self.target(image, creds, true);
        let http = &self.inner().http;
        let mut put = req(
            Method::PUT,
            http.url(image, &format!("manifests/{reference}"))?,
            "upload manifest",
        );
        put.content_type = Some(media_type.to_owned());
        put.body = Some(data);
        let resp = http.send(&t, put).await?;
        let oci_subject = header_str(&resp, "oci-subject");
        Ok(PushedManifest {
            digest,
            oci_subject,
        })
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
    /// registry does not index referrers itself (no `OCI-Subject` answer), the
    /// `sha256-<hex>` tag-schema index is updated so every client finds it.
    pub async fn attach(
        &self,
        image: &ImageRef,
        subject: &Digest,
        artifact: &Artifact,
        creds: &Credentials,
    ) -> Result<Attached, RegistryError> {
        let subject_desc = self.describe(image, subject, creds).await?;
        let empty = Bytes::from_static(b"{}");
        let (config_digest, layer_digest) = futures::try_join!(
            self.push_blob(image, empty.clone(), creds),
            self.push_blob(image, artifact.data.clone(), creds)
        )?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST_MEDIA_TYPE.to_owned()),
            artifact_type: Some(artifact.artifact_type.clone()),
            config: Descriptor::new(EMPTY_MEDIA_TYPE, config_digest, empty.len() as u64),
            layers: vec![Descriptor::new(
                &artifact.media_type,
                layer_digest,
                artifact.data.len() as u64,
            )],
            subject: Some(subject_desc.clone()),
            annotations: artifact.annotations.clone(),
        };
        let body = Bytes::from(to_json(image, &manifest)?);
        let size = body.len() as u64;
        let digest = Digest::sha256(&body);
        let pushed = self
            .push_manifest(
                image,
                &digest.to_string(),
                OCI_MANIFEST_MEDIA_TYPE,
                body,
                creds,
            )
            .await?;
        let source = if pushed.oci_subject.is_some() {
            Source::ReferrersApi
        } else {
            let mut entry = Descriptor::new(OCI_MANIFEST_MEDIA_TYPE, pushed.digest.clone(), size);
            entry.artifact_type = Some(artifact.artifact_type.clone());
            entry.annotations = artifact.annotations.clone();
            self.add_to_tag_schema(image, subject, entry, creds).await?;
            Source::TagSchema
        };
        self.forget(image, subject).await;
        Ok(Attached {
            manifest_digest: pushed.digest,
            source,
            subject: subject_desc,
        })
    }

    /// Adds `entry` to the index under the tag `sha256-<hex>` of `subject`.
    async fn add_to_tag_schema(
        &self,
        image: &ImageRef,
        subject: &Digest,
        entry: Descriptor,
        creds: &Credentials,
    ) -> Result<(), RegistryError> {
        let tag = schema_tag(subject);
        let f = Fetcher::new(
            &self.inner().http,
            self.config(),
            self.target(image, creds, false),
        );
        let mut index = match f
            .manifest(
                &tag,
                None,
                OCI_INDEX_MEDIA_TYPE,
                "read referrers tag schema",
            )
            .await
        {
            Ok(m) => serde_json::from_slice::<Index>(&m.bytes).unwrap_or_else(|_| Index::empty()),
            Err(RegistryError::NotFound { .. }) => Index::empty(),
            Err(e) => return Err(e),
        };
        index.media_type = Some(OCI_INDEX_MEDIA_TYPE.to_owned());
        if !index.manifests.iter().any(|d| d.digest == entry.digest) {
            index.manifests.push(entry);
        }
        let body = Bytes::from(to_json(image, &index)?);
        self.push_manifest(image, &tag, OCI_INDEX_MEDIA_TYPE, body, creds)
            .await?;
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
        let tag = format!("{}.att", schema_tag(subject));
        let f = Fetcher::new(
            &self.inner().http,
            self.config(),
            self.target(image, creds, false),
        );
        let mut layers = match f.manifest_any(&tag, "read cosign attestation tag").await {
            Ok(m) => serde_json::from_slice::<Manifest>(&m.bytes)
                .map(|m| m.layers)
                .unwrap_or_default(),
            Err(RegistryError::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        for env in envelopes {
            let digest = self.push_blob(image, env.clone(), creds).await?;
            let mut layer =
                Descriptor::new(super::manifest::DSSE_MEDIA_TYPE, digest, env.len() as u64);
            layer
                .annotations
                .insert("dev.cosignproject.cosign/signature".into(), String::new());
            layers.push(layer);
        }
        let config = serde_json::json!({
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.digest.to_string()).collect::<Vec<_>>()},
        });
        let config = Bytes::from(
            serde_json::to_vec(&config).map_err(|e| RegistryError::Config(e.to_string()))?,
        );
        let config_len = config.len() as u64;
        let config_digest = self.push_blob(image, config, creds).await?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST_MEDIA_TYPE.to_owned()),
            artifact_type: None,
            config: Descriptor::new(
                "application/vnd.oci.image.config.v1+json",
                config_digest,
                config_len,
            ),
            layers,
            subject: None,
            annotations: BTreeMap::new(),
        };
        let body = Bytes::from(to_json(image, &manifest)?);
        let pushed = self
            .push_manifest(image, &tag, OCI_MANIFEST_MEDIA_TYPE, body, creds)
            .await?;
        self.forget(image, subject).await;
        Ok(Attached {
            manifest_digest: pushed.digest,
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

fn req(method: Method, url: Url, step: &'static str) -> Req {
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
