//! The HTTP layer: one reqwest client, authentication (bearer challenge, basic, static
//! tokens), retries after 429/5xx, size limits and digest checks while streaming.

use super::auth::Auth;
use super::auth::{basic_header, token_key};
use super::config::RegistryConfig;
use super::error::RegistryError;
use super::reference::ImageRef;
use super::stats::{Recorder, RequestRecord, current_phase, current_round, kind_of};
use super::token::{Challenge, TokenCache, parse_challenge};
use crate::digest::{Digest, Hasher};
use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::{Bytes, BytesMut};
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode, Url};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MAX_RETRY_WAIT: Duration = Duration::from_secs(2);
const MAX_ERROR_BODY: u64 = 4096;

/// Who is asking, about which repository, and with which credential.
pub(crate) struct Target<'a> {
    pub(crate) image: &'a ImageRef,
    pub(crate) auth: Option<&'a Auth>,
    pub(crate) push: bool,
}

impl Target<'_> {
    pub(crate) fn label(&self) -> String {
        self.image.to_string()
    }
}

/// One request to send.
pub(crate) struct Req {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) accept: Option<&'static str>,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Option<Bytes>,
    pub(crate) step: &'static str,
}

/// A byte budget shared by all downloads of one lookup.
pub(crate) struct Budget {
    remaining: AtomicU64,
    limit: u64,
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Budget {
        Budget {
            remaining: AtomicU64::new(limit),
            limit,
        }
    }

    fn take(&self, n: u64) -> bool {
        self.remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| r.checked_sub(n))
            .is_ok()
    }
}

pub(crate) struct Transport {
    pub(super) client: reqwest::Client,
    pub(super) cfg: Arc<RegistryConfig>,
    pub(super) tokens: TokenCache,
    pub(crate) recorder: Recorder,
    /// Repositories whose registry answered 404 to the Referrers API, until when.
    no_referrers: Mutex<HashMap<String, Instant>>,
    /// Which registries were asked recently (warm connections, `warm.rs`).
    pub(super) warmer: Arc<super::warm::Warmer>,
}

impl Transport {
    pub(crate) fn new(cfg: Arc<RegistryConfig>) -> Result<Transport, RegistryError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("custody/", env!("CARGO_PKG_VERSION")))
            .redirect(redirect_policy(cfg.clone()))
            .timeout(cfg.request_timeout)
            .connect_timeout(cfg.request_timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(60))
            // Enough idle connections per registry for a lookup's parallel fetches (the
            // warm ones included); HTTP/2 is offered by ALPN on TLS and multiplexes.
            .pool_max_idle_per_host(64)
            // No plain HTTP at all (not even via a redirect) unless a host was named insecure.
            .https_only(cfg.insecure_registries.is_empty());
        if let Some(path) = &cfg.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                RegistryError::Config(format!(
                    "cannot read CA file {}: {}",
                    path.display(),
                    e.kind()
                ))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| {
                RegistryError::Config(format!(
                    "CA file {} holds no PEM certificates",
                    path.display()
                ))
            })?;
            builder = builder.tls_certs_merge(certs);
        }
        let client = builder
            .build()
            .map_err(|e| RegistryError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Transport {
            client,
            cfg,
            tokens: TokenCache::default(),
            recorder: Recorder::default(),
            no_referrers: Mutex::new(HashMap::new()),
            warmer: Arc::default(),
        })
    }

    /// Whether `image`'s repository recently had no Referrers API (skip straight to the
    /// tag schema; a lookup that finds nothing there still fails closed).
    pub(crate) fn lacks_referrers_api(&self, image: &ImageRef) -> bool {
        let key = image.name();
        self.no_referrers
            .lock()
            .ok()
            .and_then(|m| m.get(&key).copied())
            .is_some_and(|until| until > Instant::now())
    }

    /// Remembers that `image`'s repository has no Referrers API, for the evidence TTL.
    pub(crate) fn note_no_referrers_api(&self, image: &ImageRef) {
        if let Ok(mut m) = self.no_referrers.lock() {
            if m.len() >= 10_000 {
                m.clear();
            }
            m.insert(image.name(), Instant::now() + self.cfg.evidence_cache_ttl);
        }
    }

    /// `scheme://host/v2/<repository>/<path>`.
    pub(crate) fn url(&self, image: &ImageRef, path: &str) -> Result<Url, RegistryError> {
        let scheme = if self.cfg.is_insecure(&image.registry) {
            "http"
        } else {
            "https"
        };
        let text = format!(
            "{scheme}://{}/v2/{}/{path}",
            image.api_host(),
            image.repository
        );
        Url::parse(&text).map_err(|e| RegistryError::Protocol {
            image: image.to_string(),
            step: "build URL",
            reason: e.to_string(),
        })
    }

    /// Sends `req` with authentication and retries; returns any 2xx/3xx response, maps
    /// everything else to an error.
    pub(crate) async fn send(
        &self,
        t: &Target<'_>,
        req: Req,
    ) -> Result<reqwest::Response, RegistryError> {
        self.warm_up(&req.method, &req.url);
        let host = t.image.api_host().to_owned();
        let scope = format!(
            "repository:{}:{}",
            t.image.repository,
            if t.push { "pull,push" } else { "pull" }
        );
        // A Retry-After header replaces the delay; MAX_RETRY_WAIT caps both.
        let mut backoff = retry_delays(self.cfg.retries);
        let mut challenged = false;
        loop {
            let authz = self.authorization(t, &host, &scope, req.step).await?;
            let resp = self.execute(t, &req, authz.as_deref()).await?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !challenged {
                let challenge = resp
                    .headers()
                    .get(header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_challenge);
                if let Some(c) = challenge {
                    challenged = true;
                    self.tokens.set_challenge(&host, c);
                    self.tokens.forget(&token_key(&host, &scope, t.auth));
                    continue;
                }
            }
            if is_retryable(status)
                && let Some(delay) = backoff.next()
            {
                let wait = retry_after(resp.headers())
                    .unwrap_or(delay)
                    .min(MAX_RETRY_WAIT);
                tracing::debug!(image = %t.image, step = req.step, status = status.as_u16(), ?wait, "retrying");
                tokio::time::sleep(wait).await;
                continue;
            }
            if status.is_success() {
                return Ok(resp);
            }
            return Err(self.status_error(t, req.step, resp).await);
        }
    }

    async fn execute(
        &self,
        t: &Target<'_>,
        req: &Req,
        authz: Option<&str>,
    ) -> Result<reqwest::Response, RegistryError> {
        let mut rb = self.client.request(req.method.clone(), req.url.clone());
        if let Some(a) = req.accept {
            rb = rb.header(header::ACCEPT, a);
        }
        if let Some(ct) = &req.content_type {
            rb = rb.header(header::CONTENT_TYPE, ct.as_str());
        }
        if let Some(a) = authz {
            rb = rb.header(header::AUTHORIZATION, a);
        }
        if let Some(b) = &req.body {
            rb = rb.body(b.clone());
        } else if req.method == Method::PUT || req.method == Method::POST {
            rb = rb.header(header::CONTENT_LENGTH, "0");
        }
        let sent = self.recorder.tick();
        let result = rb.send().await;
        let answered = self.recorder.tick();
        self.recorder.record(RequestRecord {
            method: req.method.to_string(),
            kind: kind_of(req.url.path()),
            sent,
            answered,
            status: result.as_ref().ok().map(|r| r.status().as_u16()),
            phase: current_phase(),
            round: current_round(),
        });
        crate::metrics::metrics().registry_request(request_result(&result));
        result.map_err(|e| map_reqwest(e, &t.label(), req.step))
    }

    pub(crate) async fn authorization(
        &self,
        t: &Target<'_>,
        host: &str,
        scope: &str,
        step: &'static str,
    ) -> Result<Option<String>, RegistryError> {
        if let Some(Auth::RegistryToken(tok)) = t.auth {
            return Ok(Some(format!("Bearer {tok}")));
        }
        match self.tokens.challenge(host) {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(basic_header(t.auth)),
            Some(Challenge::Bearer { realm, service }) => {
                let key = token_key(host, scope, t.auth);
                if let Some(tok) = self.tokens.get(&key) {
                    return Ok(Some(format!("Bearer {tok}")));
                }
                let (tok, life) = self
                    .fetch_token(t, &realm, service.as_deref(), scope, step)
                    .await?;
                self.tokens.put(key, tok.clone(), life);
                Ok(Some(format!("Bearer {tok}")))
            }
        }
    }

    async fn status_error(
        &self,
        t: &Target<'_>,
        step: &'static str,
        resp: reqwest::Response,
    ) -> RegistryError {
        let status = resp.status();
        let image = t.label();
        match status {
            StatusCode::NOT_FOUND => RegistryError::NotFound { image, step },
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => RegistryError::Auth {
                image,
                step,
                status: status.as_u16(),
                hint: if t.auth.is_some() {
                    " with the configured credentials"
                } else {
                    " (no credentials for this registry)"
                },
            },
            _ => {
                let detail = read_body(resp, MAX_ERROR_BODY, None, None, &image, step)
                    .await
                    .ok()
                    .and_then(|b| error_detail(&b))
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default();
                RegistryError::Status {
                    image,
                    step,
                    status: status.as_u16(),
                    detail,
                }
            }
        }
    }
}

/// Reads a response body of at most `limit` bytes (refused from `Content-Length` before
/// reading, enforced while streaming), charging `budget`, and checks it against `expected`.
pub(crate) async fn read_body(
    mut resp: reqwest::Response,
    limit: u64,
    expected: Option<&Digest>,
    budget: Option<&Budget>,
    image: &str,
    step: &'static str,
) -> Result<Bytes, RegistryError> {
    let too_large = |size: u64, limit: u64| RegistryError::TooLarge {
        image: image.to_owned(),
        step,
        size,
        limit,
    };
    let advertised = resp.content_length();
    if let Some(len) = advertised
        && len > limit
    {
        return Err(too_large(len, limit));
    }
    let cap = advertised.unwrap_or(0).min(limit).min(1 << 20);
    let mut buf = BytesMut::with_capacity(usize::try_from(cap).unwrap_or(0));
    let mut hasher = expected.map(|d| Hasher::new(d.algorithm()));
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => return Err(map_reqwest(e, image, step)),
        };
        let n = chunk.len() as u64;
        let total = buf.len() as u64 + n;
        if total > limit {
            return Err(too_large(total, limit));
        }
        if let Some(b) = budget
            && !b.take(n)
        {
            return Err(too_large(b.limit + 1, b.limit));
        }
        if let Some(h) = hasher.as_mut() {
            h.update(&chunk);
        }
        buf.extend_from_slice(&chunk);
    }
    if let (Some(h), Some(want)) = (hasher, expected) {
        let got = h.finish();
        if got != *want {
            return Err(RegistryError::DigestMismatch {
                image: image.to_owned(),
                step,
                expected: want.clone(),
                actual: got,
            });
        }
    }
    Ok(buf.freeze())
}

/// Why a redirect was not followed (carried through reqwest's error to [`map_reqwest`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct RedirectRefused(String);

/// Follows at most `max_redirects` redirects, and a redirect to plain HTTP only to a host
/// named in `insecure_registries` (the client allows `http` at all once any host is
/// named, so without this check one insecure registry would let every registry send
/// custody to any plain-HTTP address).
fn redirect_policy(cfg: Arc<RegistryConfig>) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > cfg.max_redirects {
            let msg = format!("too many redirects (more than {})", cfg.max_redirects);
            return attempt.error(RedirectRefused(msg));
        }
        let url = attempt.url();
        if url.scheme() != "https" {
            let host = match (url.host_str(), url.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_owned(),
                (None, _) => String::new(),
            };
            if url.scheme() != "http" || !cfg.is_insecure(&host) {
                let msg = format!(
                    "redirect to {}://{host} refused: plain HTTP only to hosts named with --insecure-registry",
                    url.scheme()
                );
                return attempt.error(RedirectRefused(msg));
            }
        }
        attempt.follow()
    })
}

pub(super) fn map_reqwest(e: reqwest::Error, image: &str, step: &'static str) -> RegistryError {
    let image = image.to_owned();
    if e.is_timeout() {
        return RegistryError::Timeout { image, step };
    }
    if e.is_redirect() {
        let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
        let mut reason = "too many redirects".to_owned();
        while let Some(s) = source {
            if let Some(r) = s.downcast_ref::<RedirectRefused>() {
                reason = r.0.clone();
                break;
            }
            source = s.source();
        }
        return RegistryError::Redirects {
            image,
            step,
            reason,
        };
    }
    let kind = if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "response body broken off or malformed"
    } else {
        "request failed"
    };
    // A developer reads this on `kubectl apply`: name the root cause only (e.g. "connection
    // refused"), not every layer of the HTTP stack; the whole chain goes to the debug log.
    let mut root = None;
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        root = Some(s.to_string());
        source = s.source();
    }
    tracing::debug!(%image, step, error = ?e, "registry request failed");
    let reason = match root {
        Some(cause) => format!("{kind}: {cause}"),
        None => kind.to_owned(),
    };
    if e.is_body() || e.is_decode() {
        return RegistryError::Protocol {
            image,
            step,
            reason,
        };
    }
    RegistryError::Unreachable {
        image,
        step,
        reason,
    }
}

fn is_retryable(s: StatusCode) -> bool {
    is_retryable_status(s.as_u16())
}

/// Whether a registry answer is worth another attempt: 429, 502, 503, 504.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// The waits between attempts after a retryable answer: 400 ms, 800 ms, … capped at
/// MAX_RETRY_WAIT, `retries` of them at most (reads and the pushes alike).
pub(crate) fn retry_delays(retries: u32) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(400))
        .with_factor(2.0)
        .with_max_delay(MAX_RETRY_WAIT)
        .with_max_times(retries as usize)
        .build()
}

fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let v = h.get(header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// `{"errors":[{"code":"X","message":"Y"}]}` → `X: Y`, shortened; anything else → None.
pub(crate) fn error_detail(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let first = v.get("errors")?.get(0)?;
    let code = first.get("code").and_then(|c| c.as_str()).unwrap_or("");
    let msg = first.get("message").and_then(|c| c.as_str()).unwrap_or("");
    let mut text: String = format!("{code} {msg}").trim().chars().take(200).collect();
    text.retain(|c| !c.is_control());
    (!text.is_empty()).then_some(text)
}

/// The `result` label of `custody_registry_requests_total` for one HTTP exchange.
fn request_result(result: &Result<reqwest::Response, reqwest::Error>) -> &'static str {
    match result {
        Ok(r) if r.status().is_success() || r.status().is_redirection() => "ok",
        Ok(r) if r.status() == StatusCode::NOT_FOUND => "not-found",
        Ok(r) if matches!(r.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => "auth",
        Ok(_) => "error",
        Err(e) if e.is_timeout() => "timeout",
        Err(_) => "unreachable",
    }
}
