//! oci-client as custody's uploader. One [`PushSession`] per push: an `oci_client::Client`
//! configured from custody's registry settings (rustls with `--registry-ca-file`, plain
//! HTTP only for an `--insecure-registry`, the request timeout), holding the credential
//! custody chose and authorized:
//!
//! - which credential: custody's lookup (pull secrets, `--docker-config`, the kubelet's
//!   matching rules);
//! - the bearer exchange: custody's own (`GET /v2/` with the `pull,push` scope, the token
//!   service asked with Basic credentials or an `identitytoken`, never credentials to a
//!   plain-HTTP token service), and oci-client is handed the token as
//!   `RegistryAuth::Bearer`; for a `Basic` challenge it is handed the user and password.
//!
//! Each oci-client call runs within `--registry-lookup-timeout` and is retried after
//! 429/502/503/504 like the read path; its errors become [`RegistryError`]s.

use super::auth::Auth;
use super::auth::Credentials;
use super::config::RegistryConfig;
use super::error::RegistryError;
use super::http::{error_detail, is_retryable_status, map_reqwest, retry_delays};
use super::oci::OciRegistry;
use super::push::req;
use super::reference::ImageRef;
use crate::digest::Digest;
use bytes::Bytes;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use reqwest::header::HeaderValue;
use reqwest::{Method, Url};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::future::Future;
use std::time::Duration;

/// Uploads to one repository through oci-client with custody's credential.
pub(crate) struct PushSession<'a> {
    client: Client,
    image: &'a ImageRef,
    reference: Reference,
    cfg: &'a RegistryConfig,
    has_credentials: bool,
}

impl OciRegistry {
    /// A session for uploads to `image`'s repository, authorized with `creds` (or the
    /// default credentials) for `pull,push`.
    pub(crate) async fn push_session<'a>(
        &'a self,
        image: &'a ImageRef,
        creds: &Credentials,
    ) -> Result<PushSession<'a>, RegistryError> {
        let client = build_client(self.config(), image)?;
        let (auth, has_credentials) = self.push_auth(image, creds).await?;
        client.store_auth_if_needed(image.api_host(), &auth).await;
        Ok(PushSession {
            client,
            image,
            reference: image.oci_reference(&image.reference()),
            cfg: self.config(),
            has_credentials,
        })
    }

    /// custody's answer to the registry's challenge for `pull,push`, as oci-client's
    /// `RegistryAuth`, and whether a credential was configured for the registry.
    async fn push_auth(
        &self,
        image: &ImageRef,
        creds: &Credentials,
    ) -> Result<(RegistryAuth, bool), RegistryError> {
        let step = "authorize push";
        let t = self.target(image, creds, true);
        let http = &self.inner().http;
        let scheme = if self.config().is_insecure(&image.registry) {
            "http"
        } else {
            "https"
        };
        let url = Url::parse(&format!("{scheme}://{}/v2/", image.api_host())).map_err(|e| {
            RegistryError::Protocol {
                image: image.to_string(),
                step,
                reason: e.to_string(),
            }
        })?;
        // The ping only teaches the transport the challenge (and fetches the token);
        // a registry without a `/v2/` answer may still take uploads.
        match http.send(&t, req(Method::GET, url, step)).await {
            Ok(_) | Err(RegistryError::NotFound { .. } | RegistryError::Status { .. }) => {}
            Err(e) => return Err(e),
        }
        let scope = format!("repository:{}:pull,push", image.repository);
        let header = http
            .authorization(&t, image.api_host(), &scope, step)
            .await?;
        let bearer = header.as_deref().and_then(|h| h.strip_prefix("Bearer "));
        let auth = match (bearer, &header, t.auth) {
            (Some(token), _, _) => RegistryAuth::Bearer(token.to_owned()),
            (None, Some(_), Some(Auth::Basic { username, password })) => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            _ => RegistryAuth::Anonymous,
        };
        Ok((auth, t.auth.is_some()))
    }
}

impl PushSession<'_> {
    /// Uploads `data` unless the registry has it (HEAD, then POST and one PUT) and
    /// returns its digest.
    pub(crate) async fn blob(&self, data: Bytes) -> Result<Digest, RegistryError> {
        let digest = Digest::sha256(&data);
        let d = digest.to_string();
        let exists = self
            .call("check blob", || {
                self.client.blob_exists(&self.reference, &d)
            })
            .await?;
        if !exists {
            self.call("upload blob", || {
                self.client.push_blob(&self.reference, data.clone(), &d)
            })
            .await?;
        }
        Ok(digest)
    }

    /// Uploads `body` as a manifest of `media_type` under `reference` (a tag, or its own
    /// digest) and returns its digest.
    pub(crate) async fn manifest(
        &self,
        reference: &str,
        media_type: &str,
        body: Bytes,
    ) -> Result<Digest, RegistryError> {
        let step = "upload manifest";
        let digest = Digest::sha256(&body);
        let target = self.image.oci_reference(reference);
        let content_type =
            HeaderValue::from_str(media_type).map_err(|e| RegistryError::Protocol {
                image: self.image.to_string(),
                step,
                reason: format!("media type {media_type:?}: {e}"),
            })?;
        self.call(step, || {
            self.client
                .push_manifest_raw(&target, body.clone(), content_type.clone())
        })
        .await?;
        Ok(digest)
    }

    /// Runs one oci-client operation within the lookup deadline, retrying after
    /// 429/502/503/504 (at most `--registry-retries` times).
    async fn call<T, F, Fut>(&self, step: &'static str, op: F) -> Result<T, RegistryError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        let mut delays = retry_delays(self.cfg.retries);
        loop {
            let result = tokio::time::timeout(self.cfg.lookup_timeout, op())
                .await
                .map_err(|_| RegistryError::Timeout {
                    image: self.image.to_string(),
                    step,
                })?;
            let err = match result {
                Ok(v) => return Ok(v),
                Err(e) => self.error(step, e),
            };
            let retryable =
                matches!(err, RegistryError::Status { status, .. } if is_retryable_status(status));
            match delays.next() {
                Some(wait) if retryable => tokio::time::sleep(wait).await,
                _ => return Err(err),
            }
        }
    }

    fn error(&self, step: &'static str, e: OciDistributionError) -> RegistryError {
        let image = self.image.to_string();
        match e {
            OciDistributionError::ServerError { code, message, .. } => {
                self.status_error(step, code, Some(&message))
            }
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => self.status_error(step, 401, None),
            OciDistributionError::RequestError(e) => match e.status() {
                Some(s) => self.status_error(step, s.as_u16(), None),
                None => map_reqwest(e, &image, step),
            },
            other => RegistryError::Protocol {
                image,
                step,
                reason: other.to_string(),
            },
        }
    }

    fn status_error(&self, step: &'static str, status: u16, body: Option<&str>) -> RegistryError {
        let image = self.image.to_string();
        match status {
            404 => RegistryError::NotFound { image, step },
            401 | 403 => RegistryError::Auth {
                image,
                step,
                status,
                hint: if self.has_credentials {
                    " with the configured credentials"
                } else {
                    " (no credentials for this registry)"
                },
            },
            _ => RegistryError::Status {
                image,
                step,
                status,
                detail: body
                    .and_then(|b| error_detail(b.as_bytes()))
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default(),
            },
        }
    }
}

/// An oci-client for `image`'s registry with custody's TLS roots, scheme and timeouts.
/// Uploads are monolithic (POST, then one PUT with the bytes), as custody's were.
fn build_client(cfg: &RegistryConfig, image: &ImageRef) -> Result<Client, RegistryError> {
    let mut extra_root_certificates = Vec::new();
    if let Some(path) = &cfg.ca_file {
        let unreadable = |why: String| {
            RegistryError::Config(format!("cannot read CA file {}: {why}", path.display()))
        };
        let pem = std::fs::read(path).map_err(|e| unreadable(e.kind().to_string()))?;
        for der in CertificateDer::pem_slice_iter(&pem) {
            let der = der.map_err(|e| unreadable(e.to_string()))?;
            extra_root_certificates.push(Certificate {
                encoding: CertificateEncoding::Der,
                data: der.to_vec(),
            });
        }
        if extra_root_certificates.is_empty() {
            return Err(unreadable("no PEM certificates".into()));
        }
    }
    let config = ClientConfig {
        protocol: if cfg.is_insecure(&image.registry) {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        use_monolithic_push: true,
        extra_root_certificates,
        platform_resolver: None,
        read_timeout: Some(cfg.request_timeout),
        connect_timeout: Some(cfg.request_timeout.min(Duration::from_secs(5))),
        user_agent: concat!("custody/", env!("CARGO_PKG_VERSION")),
        ..ClientConfig::default()
    };
    Client::try_from(config)
        .map_err(|e| RegistryError::Config(format!("cannot build the OCI push client: {e}")))
}
