//! [`OciRegistry`]: the [`Registry`] implementation over the OCI distribution API.

use super::Registry;
use super::auth::{Auth, Credentials};
use super::cache::Caches;
use super::config::RegistryConfig;
use super::discover::discover;
use super::error::RegistryError;
use super::fetch::{Fetcher, header_str};
use super::http::{Req, Target, Transport};
use super::manifest::{MANIFEST_ACCEPT, is_index};
use super::reference::ImageRef;
use super::stats::{RequestRecord, RequestStats, in_phase, in_round};
use super::types::{Discovery, PlatformDigest, Resolved};
use crate::digest::Digest;
use reqwest::{Method, header};
use std::future::Future;
use std::sync::Arc;

/// A registry client with caches; cheap to clone (clones share caches and connections).
#[derive(Clone)]
pub struct OciRegistry {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) cfg: Arc<RegistryConfig>,
    pub(crate) http: Transport,
    pub(crate) default_creds: Credentials,
    pub(crate) caches: Caches,
}

impl std::fmt::Debug for OciRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OciRegistry").finish_non_exhaustive()
    }
}

impl OciRegistry {
    /// Builds a client. Reads the default credentials file and CA file named in `cfg`.
    pub fn new(cfg: RegistryConfig) -> Result<OciRegistry, RegistryError> {
        let default_creds = match &cfg.docker_config {
            Some(path) => {
                Credentials::from_file(path).map_err(|e| RegistryError::Config(e.to_string()))?
            }
            None => Credentials::anonymous(),
        };
        let cfg = Arc::new(cfg);
        Ok(OciRegistry {
            inner: Arc::new(Inner {
                http: Transport::new(cfg.clone())?,
                caches: Caches::new(&cfg),
                default_creds,
                cfg,
            }),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &RegistryConfig {
        &self.inner.cfg
    }

    /// Request totals and the longest chain of dependent requests since the last reset.
    pub fn request_stats(&self) -> RequestStats {
        self.inner.http.recorder.stats()
    }

    /// Every request recorded since the last reset (bounded to the most recent few thousand).
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.inner.http.recorder.records()
    }

    /// Clears the request log.
    pub fn reset_stats(&self) {
        self.inner.http.recorder.reset();
    }

    /// Empties every cache.
    pub fn clear_caches(&self) {
        self.inner.caches.clear();
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    pub(crate) fn auth_for<'a>(
        &'a self,
        image: &ImageRef,
        creds: &'a Credentials,
    ) -> Option<&'a Auth> {
        creds.lookup_or(&self.inner.default_creds, image)
    }

    pub(crate) fn target<'a>(
        &'a self,
        image: &'a ImageRef,
        creds: &'a Credentials,
        push: bool,
    ) -> Target<'a> {
        Target {
            image,
            auth: self.auth_for(image, creds),
            push,
        }
    }

    async fn with_deadline<T>(
        &self,
        image: &ImageRef,
        step: &'static str,
        fut: impl Future<Output = Result<T, RegistryError>>,
    ) -> Result<T, RegistryError> {
        match tokio::time::timeout(self.inner.cfg.lookup_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(RegistryError::Timeout {
                image: image.to_string(),
                step,
            }),
        }
    }

    /// Runs `attempt` with each credential matching `image` in kubelet order (pull
    /// secrets, most specific first, then the default file) until one is not refused.
    async fn with_each_credential<T, F, Fut>(
        &self,
        image: &ImageRef,
        creds: &Credentials,
        mut attempt: F,
    ) -> Result<T, RegistryError>
    where
        F: FnMut(Credentials) -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        let mut candidates = creds.candidates(&self.inner.default_creds, image);
        if candidates.len() <= 1 {
            return attempt(candidates.pop().unwrap_or_else(|| creds.clone())).await;
        }
        let mut refused = None;
        for c in candidates {
            match attempt(c).await {
                Err(e @ RegistryError::Auth { .. }) => refused = Some(e),
                other => return other,
            }
        }
        Err(refused.unwrap_or_else(|| RegistryError::Config("no credential was tried".into())))
    }

    /// HEAD the tag (or the pinned digest); GET-and-hash only when the registry sends no
    /// digest header.
    async fn resolve_uncached(
        &self,
        image: &ImageRef,
        creds: &Credentials,
    ) -> Result<Resolved, RegistryError> {
        let step = "resolve tag";
        let target = self.target(image, creds, false);
        let http = &self.inner.http;
        let url = http.url(image, &format!("manifests/{}", image.reference()))?;
        let resp = http
            .send(
                &target,
                Req {
                    method: Method::HEAD,
                    url,
                    accept: Some(MANIFEST_ACCEPT),
                    content_type: None,
                    body: None,
                    step,
                },
            )
            .await?;
        let media_type = header_str(&resp, header::CONTENT_TYPE);
        let declared = header_str(&resp, "docker-content-digest");
        let (digest, media_type) = match declared.map(|d| d.parse::<Digest>()) {
            // For a pinned reference the digest is the one asked for, whatever a header
            // says: the kubelet pulls by that digest.
            Some(Ok(d)) if image.digest.as_ref().is_some_and(|want| *want != d) => {
                return Err(RegistryError::Protocol {
                    image: image.to_string(),
                    step,
                    reason: format!(
                        "asked for manifest {} but Docker-Content-Digest says {d}",
                        image.reference()
                    ),
                });
            }
            Some(Ok(d)) => (d, media_type),
            Some(Err(e)) => {
                return Err(RegistryError::Protocol {
                    image: image.to_string(),
                    step,
                    reason: format!("Docker-Content-Digest header: {e}"),
                });
            }
            None => {
                let f = Fetcher::new(http, &self.inner.cfg, self.target(image, creds, false));
                let reference = image.reference();
                let fetch = f.manifest(&reference, image.digest.as_ref(), MANIFEST_ACCEPT, step);
                let fetched = in_round(2, fetch).await?;
                (fetched.digest, fetched.media_type)
            }
        };
        let platforms = match &media_type {
            Some(mt) if is_index(mt) => {
                self.platforms_cached(image, &digest, creds).await?.to_vec()
            }
            _ => Vec::new(),
        };
        Ok(Resolved {
            digest,
            media_type,
            platforms,
        })
    }

    async fn platforms_cached(
        &self,
        image: &ImageRef,
        digest: &Digest,
        creds: &Credentials,
    ) -> Result<Arc<Vec<PlatformDigest>>, RegistryError> {
        let key = format!("{}@{digest}", image.name());
        let init = || async {
            let f = Fetcher::new(
                &self.inner.http,
                &self.inner.cfg,
                self.target(image, creds, false),
            );
            let fetched = f
                .manifest(
                    &digest.to_string(),
                    Some(digest),
                    MANIFEST_ACCEPT,
                    "read image index",
                )
                .await?;
            let declared_index = fetched.media_type.as_deref().is_some_and(is_index);
            // Straight into descriptors (no intermediate JSON tree: an index may be 4 MiB).
            let probe: IndexProbe =
                serde_json::from_slice(&fetched.bytes).map_err(|e| RegistryError::Protocol {
                    image: image.to_string(),
                    step: "read image index",
                    reason: e.to_string(),
                })?;
            let manifests = match probe.manifests {
                Some(m) => m,
                None if declared_index => Vec::new(),
                None => return Ok(Arc::new(Vec::new())),
            };
            if manifests.len() > MAX_INDEX_MANIFESTS {
                return Err(RegistryError::TooMany {
                    image: image.to_string(),
                    step: "read image index",
                    what: "manifests in the image index",
                    count: manifests.len(),
                    limit: MAX_INDEX_MANIFESTS,
                });
            }
            Ok(Arc::new(
                manifests
                    .iter()
                    // BuildKit files its (unsigned) attestation manifests in the index
                    // as platform `unknown/unknown`: they are not a platform to run.
                    .filter(|d| {
                        d.annotations
                            .get("vnd.docker.reference.type")
                            .map(String::as_str)
                            != Some("attestation-manifest")
                    })
                    .map(|d| PlatformDigest {
                        platform: d.platform(),
                        digest: d.digest.clone(),
                    })
                    .collect(),
            ))
        };
        self.inner.caches.platforms(key, init).await
    }
}

/// Most manifests an image index may list (real multi-platform images list a few dozen,
/// attestation manifests included); more is refused before anything else is done with it.
pub const MAX_INDEX_MANIFESTS: usize = 512;

/// An image index, or anything else (then `manifests` is absent).
#[derive(serde::Deserialize)]
struct IndexProbe {
    #[serde(default)]
    manifests: Option<Vec<super::manifest::Descriptor>>,
}

#[async_trait::async_trait]
impl Registry for OciRegistry {
    async fn resolve(
        &self,
        image: &ImageRef,
        creds: &Credentials,
    ) -> Result<Resolved, RegistryError> {
        // A pinned digest is checked to exist too (one HEAD, cached like a tag): evidence
        // attached to a digest the registry does not hold would otherwise turn a typo or
        // a deleted image into `no-attestation` instead of `not-found`.
        let key = match &image.digest {
            Some(d) => format!("{}@{d}", image.name()),
            None => format!("{}:{}", image.name(), image.reference()),
        };
        let init = || {
            let attempt = |c: Credentials| async move { self.resolve_uncached(image, &c).await };
            let work = in_phase("resolve", self.with_each_credential(image, creds, attempt));
            self.with_deadline(image, "resolve tag", work)
        };
        self.inner.caches.tag(key, init).await
    }

    async fn discover(
        &self,
        image: &ImageRef,
        digest: &Digest,
        creds: &Credentials,
    ) -> Result<Discovery, RegistryError> {
        let key = format!("{}@{digest}", image.name());
        let init = || {
            let attempt = |c: Credentials| async move {
                let f = Fetcher::new(
                    &self.inner.http,
                    &self.inner.cfg,
                    self.target(image, &c, false),
                );
                in_phase("discover", discover(&f, digest))
                    .await
                    .map(Arc::new)
            };
            let work = self.with_each_credential(image, creds, attempt);
            self.with_deadline(image, "discover attestations", work)
        };
        let found = self.inner.caches.discovery(key, init).await?;
        Ok((*found).clone())
    }

    async fn platforms(
        &self,
        image: &ImageRef,
        digest: &Digest,
        creds: &Credentials,
    ) -> Result<Vec<PlatformDigest>, RegistryError> {
        let fut = self.platforms_cached(image, digest, creds);
        Ok(self
            .with_deadline(image, "read image index", fut)
            .await?
            .to_vec())
    }
}
