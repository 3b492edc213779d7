//! Fetching manifests and blobs for one lookup: size-limited, digest-checked, charged to
//! the lookup's byte budget.

use super::config::RegistryConfig;
use super::error::RegistryError;
use super::http::{Budget, Req, Target, Transport, read_body};
use super::manifest::MANIFEST_ACCEPT;
use crate::digest::Digest;
use bytes::Bytes;
use reqwest::Method;
use reqwest::header;

/// A manifest as fetched: its bytes, the media type the registry declared, its digest.
pub(crate) struct Fetched {
    pub(crate) bytes: Bytes,
    pub(crate) media_type: Option<String>,
    pub(crate) digest: Digest,
}

/// Everything one lookup needs to fetch.
pub(crate) struct Fetcher<'a> {
    pub(crate) http: &'a Transport,
    pub(crate) cfg: &'a RegistryConfig,
    pub(crate) target: Target<'a>,
    pub(crate) budget: Budget,
}

impl<'a> Fetcher<'a> {
    pub(crate) fn new(http: &'a Transport, cfg: &'a RegistryConfig, target: Target<'a>) -> Self {
        Fetcher {
            http,
            cfg,
            target,
            budget: Budget::new(cfg.max_total_bytes),
        }
    }

    pub(crate) fn label(&self) -> String {
        self.target.label()
    }

    /// GET a manifest by tag or digest. By digest, the bytes must hash to it; by tag,
    /// the digest is the registry's `Docker-Content-Digest` checked against the bytes
    /// (or, without that header, the SHA-256 of the bytes).
    pub(crate) async fn manifest(
        &self,
        reference: &str,
        expected: Option<&Digest>,
        accept: &'static str,
        step: &'static str,
    ) -> Result<Fetched, RegistryError> {
        let resp = self
            .get(&format!("manifests/{reference}"), Some(accept), step)
            .await?;
        let media_type = header_str(&resp, header::CONTENT_TYPE);
        let declared =
            header_str(&resp, "docker-content-digest").and_then(|d| d.parse::<Digest>().ok());
        let check = expected.cloned().or(declared);
        let bytes = read_body(
            resp,
            self.cfg.max_manifest_bytes,
            check.as_ref(),
            Some(&self.budget),
            &self.label(),
            step,
        )
        .await?;
        let digest = check.unwrap_or_else(|| Digest::sha256(&bytes));
        Ok(Fetched {
            bytes,
            media_type,
            digest,
        })
    }

    /// A GET of `path` under the repository (`manifests/…`, `blobs/…`).
    async fn get(
        &self,
        path: &str,
        accept: Option<&'static str>,
        step: &'static str,
    ) -> Result<reqwest::Response, RegistryError> {
        let url = self.http.url(self.target.image, path)?;
        self.http
            .send(
                &self.target,
                Req {
                    method: Method::GET,
                    url,
                    accept,
                    content_type: None,
                    body: None,
                    step,
                },
            )
            .await
    }

    /// GET a manifest by tag, the default `Accept`.
    pub(crate) async fn manifest_any(
        &self,
        reference: &str,
        step: &'static str,
    ) -> Result<Fetched, RegistryError> {
        self.manifest(reference, None, MANIFEST_ACCEPT, step).await
    }

    /// GET a blob, refusing it before download when `size` exceeds the blob limit.
    pub(crate) async fn blob(
        &self,
        digest: &Digest,
        size: u64,
        step: &'static str,
    ) -> Result<Bytes, RegistryError> {
        let limit = self.cfg.max_blob_bytes;
        if size > limit {
            return Err(RegistryError::TooLarge {
                image: self.label(),
                step,
                size,
                limit,
            });
        }
        let resp = self.get(&format!("blobs/{digest}"), None, step).await?;
        // The descriptor's size is binding: a longer answer is refused as it streams.
        read_body(
            resp,
            size.min(limit),
            Some(digest),
            Some(&self.budget),
            &self.label(),
            step,
        )
        .await
    }
}

pub(crate) fn header_str(
    resp: &reqwest::Response,
    name: impl header::AsHeaderName,
) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
}
