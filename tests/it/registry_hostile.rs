//! A registry that misbehaves: every failure is a specific error or a counted skip,
//! never a hang and never unbounded memory.

use crate::support;
use custody::category::Category;
use custody::digest::Digest;
use custody::registry::{
    Credentials, ImageRef, OciRegistry, Registry, RegistryConfig, RegistryError, SkipReason,
};
use std::time::Duration;
use support::hostile::{Body, Fixture, Hostile, Reply, Request};

fn client(host: &str, f: impl FnOnce(&mut RegistryConfig)) -> OciRegistry {
    support::init_crypto();
    let mut cfg = RegistryConfig {
        insecure_registries: vec![host.to_owned()],
        retries: 2,
        ..RegistryConfig::default()
    };
    f(&mut cfg);
    OciRegistry::new(cfg).unwrap()
}

fn image(host: &str) -> ImageRef {
    ImageRef::parse(&format!("{host}/app:v1")).unwrap()
}

fn honest(_: usize, fx: &Fixture) -> Reply {
    Reply::ok("application/octet-stream", fx.blob.clone())
}

fn no_override(_: usize, _: &Fixture) -> Option<Reply> {
    None
}

async fn only_skip(
    host: &str,
    subject: &Digest,
    f: impl FnOnce(&mut RegistryConfig),
) -> SkipReason {
    let found = client(host, f)
        .discover(&image(host), subject, &Credentials::anonymous())
        .await
        .unwrap();
    assert!(found.evidence.is_empty(), "{found:?}");
    assert_eq!(found.skipped.len(), 1, "{found:?}");
    found.skipped[0].reason.clone()
}

#[tokio::test]
async fn honest_fixture_is_found() {
    let (srv, subject, blob) = Fixture::new(None).serve(honest, no_override).await;
    let c = client(&srv.host, |_| {});
    let resolved = c
        .resolve(&image(&srv.host), &Credentials::anonymous())
        .await
        .unwrap();
    assert_eq!(resolved.digest, subject);
    let found = c
        .discover(&image(&srv.host), &subject, &Credentials::anonymous())
        .await
        .unwrap();
    assert_eq!(found.evidence.len(), 1);
    assert_eq!(found.evidence[0].blob_digest, blob);
}

#[tokio::test]
async fn two_gigabyte_blob_is_refused_from_the_descriptor() {
    let (srv, subject, _) = Fixture::new(Some(2 << 30)).serve(honest, no_override).await;
    let reason = only_skip(&srv.host, &subject, |_| {}).await;
    assert!(
        matches!(reason, SkipReason::TooLarge { size, .. } if size == 2 << 30),
        "{reason:?}"
    );
    assert_eq!(srv.count("/blobs/"), 0, "{:?}", srv.requests());
}

#[tokio::test]
async fn lying_content_length_is_refused_from_the_header() {
    let huge = |_: usize, _: &Fixture| Reply {
        status: 200,
        headers: vec![],
        body: Body::Lying {
            content_length: 2 << 30,
            data: vec![b'x'; 16],
        },
    };
    let (srv, subject, _) = Fixture::new(None).serve(huge, no_override).await;
    let reason = only_skip(&srv.host, &subject, |_| {}).await;
    assert!(matches!(reason, SkipReason::TooLarge { .. }), "{reason:?}");
}

#[tokio::test]
async fn short_body_and_endless_body_are_errors() {
    let short = |_: usize, fx: &Fixture| Reply {
        status: 200,
        headers: vec![],
        body: Body::Lying {
            content_length: fx.blob.len() as u64 + 10,
            data: fx.blob.clone(),
        },
    };
    // A Content-Length above the descriptor's size is refused outright ...
    let (srv, subject, _) = Fixture::new(None).serve(short, no_override).await;
    let reason = only_skip(&srv.host, &subject, |_| {}).await;
    assert!(matches!(reason, SkipReason::TooLarge { .. }), "{reason:?}");
    // ... and a body that stops short of its Content-Length is a broken answer.
    let size = Fixture::new(None).blob.len() as u64 + 10;
    let (srv, subject, _) = Fixture::new(Some(size)).serve(short, no_override).await;
    let reason = only_skip(&srv.host, &subject, |_| {}).await;
    assert!(
        matches!(&reason, SkipReason::FetchFailed { category: Category::RegistryUnreachable, message } if message.contains("broken off")),
        "{reason:?}"
    );
    let endless = |_: usize, _: &Fixture| Reply {
        status: 200,
        headers: vec![],
        body: Body::Endless(vec![b'x'; 8192]),
    };
    let (srv, subject, _) = Fixture::new(None).serve(endless, no_override).await;
    let reason = only_skip(&srv.host, &subject, |_| {}).await;
    assert!(matches!(reason, SkipReason::TooLarge { .. }), "{reason:?}");
}

#[tokio::test]
async fn wrong_bytes_for_a_digest_are_refused() {
    let wrong = |_: usize, fx: &Fixture| {
        let mut b = fx.blob.clone();
        b[0] ^= 1;
        Reply::ok("application/octet-stream", b)
    };
    let (srv, subject, _) = Fixture::new(None).serve(wrong, no_override).await;
    let reason = only_skip(&srv.host, &subject, |_| {}).await;
    assert!(
        matches!(&reason, SkipReason::FetchFailed { category: Category::RegistryUnreachable, message } if message.contains("hashes to")),
        "{reason:?}"
    );
}

#[tokio::test]
async fn slow_drip_times_out() {
    let drip = |_: usize, fx: &Fixture| Reply {
        status: 200,
        headers: vec![],
        body: Body::Drip(fx.blob.clone(), Duration::from_millis(300)),
    };
    let (srv, subject, _) = Fixture::new(None).serve(drip, no_override).await;
    let reason = only_skip(&srv.host, &subject, |c| {
        c.request_timeout = Duration::from_secs(1)
    })
    .await;
    assert!(
        matches!(
            reason,
            SkipReason::FetchFailed {
                category: Category::Timeout,
                ..
            }
        ),
        "{reason:?}"
    );
    // A stalled listing hits the lookup deadline: the whole discovery fails with `timeout`.
    let stall = |_: usize, fx: &Fixture| {
        Some(Reply {
            status: 200,
            headers: vec![(
                "Content-Type".into(),
                "application/vnd.oci.image.index.v1+json".into(),
            )],
            body: Body::Drip(fx.listing.clone(), Duration::from_millis(500)),
        })
    };
    let (srv, subject, _) = Fixture::new(None).serve(honest, stall).await;
    let err = client(&srv.host, |c| c.lookup_timeout = Duration::from_secs(1))
        .discover(&image(&srv.host), &subject, &Credentials::anonymous())
        .await
        .unwrap_err();
    assert_eq!(err.category(), Category::Timeout, "{err}");
}

#[tokio::test]
async fn redirect_loop_is_an_error() {
    let looping = |n: usize, _: &Fixture| {
        Reply::status(307).header("Location", &format!("/v2/app/blobs/loop{n}"))
    };
    let (srv, subject, _) = Fixture::new(None).serve(looping, no_override).await;
    let reason = only_skip(&srv.host, &subject, |c| c.max_redirects = 3).await;
    assert!(
        matches!(&reason, SkipReason::FetchFailed { message, .. } if message.contains("too many redirects")),
        "{reason:?}"
    );
    assert_eq!(srv.count("/blobs/"), 4);
}

#[tokio::test]
async fn a_redirect_to_plain_http_goes_only_to_insecure_hosts() {
    // One registry is named insecure; it redirects a blob to another plain-HTTP address,
    // which nobody named: the redirect is refused and that address is never contacted.
    let fx_blob = Fixture::new(None).blob.clone();
    let elsewhere =
        Hostile::start(move |_: &Request| Reply::ok("application/octet-stream", fx_blob.clone()))
            .await;
    let target = format!("http://{}/bucket/blob", elsewhere.host);
    let redirect = move |_: usize, _: &Fixture| Reply::status(307).header("Location", &target);
    let (srv, subject, _) = Fixture::new(None).serve(redirect, no_override).await;
    let reason = only_skip(&srv.host, &subject, |_| {}).await;
    assert!(
        matches!(&reason, SkipReason::FetchFailed { message, .. }
            if message.contains("plain HTTP only to hosts named with --insecure-registry")
                && message.contains(&elsewhere.host)),
        "{reason:?}"
    );
    assert_eq!(elsewhere.count("/bucket/"), 0, "the redirect was followed");
}

#[tokio::test]
async fn rate_limit_then_success_is_retried() {
    let limited =
        |n: usize, _: &Fixture| (n == 0).then(|| Reply::status(429).header("Retry-After", "0"));
    let (srv, subject, _) = Fixture::new(None).serve(honest, limited).await;
    let found = client(&srv.host, |_| {})
        .discover(&image(&srv.host), &subject, &Credentials::anonymous())
        .await
        .unwrap();
    assert_eq!(found.evidence.len(), 1);
    assert_eq!(srv.count("/referrers/"), 2);
    // Persistent 503: a specific error after the retries, not a hang.
    let down = |_: usize, _: &Fixture| Some(Reply::status(503));
    let (srv, subject, _) = Fixture::new(None).serve(honest, down).await;
    let err = client(&srv.host, |c| c.retries = 1)
        .discover(&image(&srv.host), &subject, &Credentials::anonymous())
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::Status { status: 503, .. }),
        "{err}"
    );
    assert_eq!(err.category(), Category::RegistryUnreachable);
    assert_eq!(srv.count("/referrers/"), 2);
}

#[tokio::test]
async fn referrers_api_listing_a_foreign_referrer_is_dropped() {
    let mut fx = Fixture::new(None);
    // The listing is for our digest, but the referrer manifest names another subject.
    let other = Digest::sha256(b"other image");
    let text = String::from_utf8(fx.referrer.clone())
        .unwrap()
        .replace(&fx.subject.to_string(), &other.to_string());
    fx.referrer = text.into_bytes();
    fx.referrer_digest = Digest::sha256(&fx.referrer);
    fx.listing = String::from_utf8(fx.listing.clone())
        .unwrap()
        .replace(
            &Digest::sha256(&Fixture::new(None).referrer).to_string(),
            &fx.referrer_digest.to_string(),
        )
        .into_bytes();
    let (srv, subject, _) = fx.serve(honest, no_override).await;
    let reason = only_skip(&srv.host, &subject, |_| {}).await;
    assert_eq!(
        reason,
        SkipReason::SubjectMismatch {
            found: Some(other.to_string())
        }
    );
    assert_eq!(srv.count("/blobs/"), 0);
}

#[tokio::test]
async fn bearer_challenge_is_answered_and_secrets_stay_out_of_errors() {
    let fx = Fixture::new(None);
    let (subject, manifest) = (fx.subject.clone(), fx.subject_manifest.clone());
    let srv = Hostile::start(move |req: &Request| {
        let host = req.header("host").unwrap_or_default();
        if req.path.starts_with("/token") {
            return match req.header("authorization").as_deref() {
                Some("Basic dXNlcjpodW50ZXIy") => Reply::ok(
                    "application/json",
                    br#"{"token":"tok-1","expires_in":300}"#.to_vec(),
                ),
                _ => Reply::status(401),
            };
        }
        if req.header("authorization").as_deref() != Some("Bearer tok-1") {
            let challenge = format!(r#"Bearer realm="http://{host}/token",service="test""#);
            return Reply::status(401).header("WWW-Authenticate", &challenge);
        }
        Reply::ok(
            "application/vnd.oci.image.manifest.v1+json",
            manifest.clone(),
        )
        .header("Docker-Content-Digest", &subject.to_string())
    })
    .await;
    let host = srv.host.clone();
    let c = client(&host, |_| {});
    let good = Credentials::basic(&host, "user", "hunter2");
    let resolved = c.resolve(&image(&host), &good).await.unwrap();
    assert_eq!(resolved.digest, fx.subject);
    assert!(
        srv.requests()
            .iter()
            .any(|r| r.contains("/token?") && r.contains("scope=repository%3Aapp%3Apull")),
        "{:?}",
        srv.requests()
    );
    // Wrong password: an auth error that names the image but not the secret.
    let bad = Credentials::basic(&host, "user", "wrong-secret");
    let err = client(&host, |_| {})
        .resolve(&image(&host), &bad)
        .await
        .unwrap_err();
    assert_eq!(err.category(), Category::Auth, "{err}");
    assert!(
        err.to_string().contains("app:v1") && !err.to_string().contains("wrong-secret"),
        "{err}"
    );
    // Anonymous: also auth.
    let err = client(&host, |_| {})
        .resolve(&image(&host), &Credentials::anonymous())
        .await
        .unwrap_err();
    assert_eq!(err.category(), Category::Auth, "{err}");
}

#[tokio::test]
async fn unreachable_registry_is_registry_unreachable() {
    let host = format!("127.0.0.1:{}", support::net::free_port());
    let err = client(&host, |_| {})
        .resolve(&image(&host), &Credentials::anonymous())
        .await
        .unwrap_err();
    assert_eq!(err.category(), Category::RegistryUnreachable, "{err}");
}

#[tokio::test]
async fn artifact_type_filter_is_sent_and_applied_on_the_client() {
    // The server ignores the filter, as registries may: the client filters again.
    let (srv, subject, _) = Fixture::new(None).serve(honest, no_override).await;
    let found = client(&srv.host, |c| {
        c.referrers_artifact_type = Some("application/example".into())
    })
    .discover(&image(&srv.host), &subject, &Credentials::anonymous())
    .await
    .unwrap();
    assert!(found.evidence.is_empty(), "{found:?}");
    assert_eq!(found.skipped.len(), 1);
    assert_eq!(
        srv.count("artifactType=application%2Fexample"),
        1,
        "{:?}",
        srv.requests()
    );
    assert_eq!(
        srv.count("/manifests/sha256:"),
        0,
        "filtered referrers are not fetched"
    );
}

#[tokio::test]
async fn redirect_to_blob_storage_drops_the_authorization_header() {
    use std::sync::{Arc, Mutex};
    let fx = Fixture::new(None);
    let blob = fx.blob.clone();
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let seen2 = seen.clone();
    let storage = Hostile::start(move |req: &Request| {
        seen2.lock().unwrap().push(req.header("authorization"));
        Reply::ok("application/octet-stream", blob.clone())
    })
    .await;
    let storage_host = storage.host.clone();
    let (subject, manifest, referrer, referrer_digest, listing) = (
        fx.subject.clone(),
        fx.subject_manifest.clone(),
        fx.referrer.clone(),
        fx.referrer_digest.clone(),
        fx.listing.clone(),
    );
    let registry = Hostile::start(move |req: &Request| {
        let host = req.header("host").unwrap_or_default();
        if req.path.starts_with("/token") {
            return Reply::ok("application/json", br#"{"token":"secret-token"}"#.to_vec());
        }
        if req.header("authorization").as_deref() != Some("Bearer secret-token") {
            let challenge = format!(r#"Bearer realm="http://{host}/token",service="t""#);
            return Reply::status(401).header("WWW-Authenticate", &challenge);
        }
        let p = req.path.as_str();
        if p.contains("/referrers/") {
            Reply::ok("application/vnd.oci.image.index.v1+json", listing.clone())
        } else if p.ends_with(&referrer_digest.to_string()) {
            Reply::ok(
                "application/vnd.oci.image.manifest.v1+json",
                referrer.clone(),
            )
        } else if p.contains("/manifests/") {
            Reply::ok(
                "application/vnd.oci.image.manifest.v1+json",
                manifest.clone(),
            )
            .header("Docker-Content-Digest", &subject.to_string())
        } else if p.contains("/blobs/") {
            Reply::status(307).header("Location", &format!("http://{storage_host}/bucket/blob"))
        } else {
            Reply::status(404)
        }
    })
    .await;
    let found = client(&registry.host, |c| {
        c.insecure_registries.push(storage.host.clone())
    })
    .discover(
        &image(&registry.host),
        &fx.subject,
        &Credentials::anonymous(),
    )
    .await
    .unwrap();
    assert_eq!(found.evidence.len(), 1, "{found:?}");
    assert_eq!(
        *seen.lock().unwrap(),
        vec![None],
        "the registry token leaked to blob storage"
    );
}

#[tokio::test]
async fn buildkit_attestation_manifests_are_not_platforms() {
    let amd = Digest::sha256(b"amd64 manifest");
    let att = Digest::sha256(b"attestation manifest");
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd.to_string(), "size": 10,
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": att.to_string(), "size": 10,
             "platform": {"os": "unknown", "architecture": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                             "vnd.docker.reference.digest": amd.to_string()}}
        ]
    }))
    .unwrap();
    let digest = Digest::sha256(&index);
    let srv = Hostile::start(move |req: &Request| {
        if req.path.contains("/manifests/") {
            Reply::ok("application/vnd.oci.image.index.v1+json", index.clone())
                .header("Docker-Content-Digest", &digest.to_string())
        } else {
            Reply::status(404)
        }
    })
    .await;
    let resolved = client(&srv.host, |_| {})
        .resolve(&image(&srv.host), &Credentials::anonymous())
        .await
        .unwrap();
    let platforms: Vec<_> = resolved
        .platforms
        .iter()
        .map(|p| p.digest.clone())
        .collect();
    assert_eq!(platforms, vec![amd]);
}

#[tokio::test]
async fn missing_digest_header_falls_back_to_get_and_hash() {
    let fx = Fixture::new(None);
    let (subject, manifest) = (fx.subject.clone(), fx.subject_manifest.clone());
    let srv = Hostile::start(move |req: &Request| {
        if req.path == "/v2/app/manifests/v1" {
            // No Docker-Content-Digest: the client must hash what it gets.
            Reply::ok(
                "application/vnd.oci.image.manifest.v1+json",
                manifest.clone(),
            )
        } else {
            Reply::status(404)
        }
    })
    .await;
    let c = client(&srv.host, |_| {});
    let resolved = c
        .resolve(&image(&srv.host), &Credentials::anonymous())
        .await
        .unwrap();
    assert_eq!(resolved.digest, subject);
    // The lookup's requests; the warm-up `GET /v2/`s (docs/registry.md) are not its own.
    let lookup: Vec<String> = srv
        .requests()
        .into_iter()
        .filter(|r| r != "GET /v2/")
        .collect();
    assert_eq!(
        lookup,
        ["HEAD /v2/app/manifests/v1", "GET /v2/app/manifests/v1"]
    );
}

#[tokio::test]
async fn referrers_listing_is_followed_across_pages() {
    let fx = Fixture::new(None);
    let empty_page = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#.to_vec();
    let page2 = fx.listing.clone();
    let (srv, subject, _) = fx
        .serve(honest, move |n, _| {
            (n == 0)
                .then(|| {
                    Reply::ok(
                        "application/vnd.oci.image.index.v1+json",
                        empty_page.clone(),
                    )
                    .header("Link", r#"</v2/app/referrers/next?page=2>; rel="next""#)
                })
                .or_else(|| {
                    Some(Reply::ok(
                        "application/vnd.oci.image.index.v1+json",
                        page2.clone(),
                    ))
                })
        })
        .await;
    let found = client(&srv.host, |_| {})
        .discover(&image(&srv.host), &subject, &Credentials::anonymous())
        .await
        .unwrap();
    assert_eq!(found.evidence.len(), 1, "{found:?}");
    assert_eq!(
        srv.count("/referrers/next?page=2"),
        1,
        "{:?}",
        srv.requests()
    );
}

/// A registry with HTTP Basic only (no token service) that serves the fixture's subject
/// manifest to requests carrying exactly `Basic {accepted}`.
async fn basic_auth_only(fx: &Fixture, accepted: &'static str) -> Hostile {
    let (subject, manifest) = (fx.subject.clone(), fx.subject_manifest.clone());
    let wanted = format!("Basic {accepted}");
    Hostile::start(move |req: &Request| {
        if req.header("authorization").as_deref() != Some(wanted.as_str()) {
            return Reply::status(401).header("WWW-Authenticate", r#"Basic realm="r""#);
        }
        Reply::ok(
            "application/vnd.oci.image.manifest.v1+json",
            manifest.clone(),
        )
        .header("Docker-Content-Digest", &subject.to_string())
    })
    .await
}

#[tokio::test]
async fn default_credentials_file_is_used_when_no_secret_matches() {
    let fx = Fixture::new(None);
    let srv = basic_auth_only(&fx, "ZmlsZTpmcm9tLWRpc2s=").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    let json = format!(
        r#"{{"auths":{{"http://{}":{{"auth":"ZmlsZTpmcm9tLWRpc2s="}}}}}}"#,
        srv.host
    );
    std::fs::write(&file, json).unwrap();
    let c = client(&srv.host, |c| c.docker_config = Some(file.clone()));
    let resolved = c
        .resolve(&image(&srv.host), &Credentials::anonymous())
        .await
        .unwrap();
    assert_eq!(resolved.digest, fx.subject);
    // Without the file: an auth error.
    let err = client(&srv.host, |_| {})
        .resolve(&image(&srv.host), &Credentials::anonymous())
        .await
        .unwrap_err();
    assert_eq!(err.category(), Category::Auth);
}

#[tokio::test]
async fn each_matching_credential_is_tried_in_kubelet_order() {
    let fx = Fixture::new(None);
    // Accepts only good:pw.
    let srv = basic_auth_only(&fx, "Z29vZDpwdw==").await;
    let host = srv.host.clone();
    // The most specific key (with the repository path) is stale; the host key works.
    let mut creds = Credentials::basic(&format!("{host}/app"), "stale", "old");
    creds.add(
        &host,
        custody::registry::Auth::Basic {
            username: "good".into(),
            password: "pw".into(),
        },
    );
    let resolved = client(&host, |_| {})
        .resolve(&image(&host), &creds)
        .await
        .unwrap();
    assert_eq!(resolved.digest, fx.subject);
    // Only stale credentials: an auth error, not a hang or a loop.
    let err = client(&host, |_| {})
        .resolve(&image(&host), &Credentials::basic(&host, "stale", "old"))
        .await
        .unwrap_err();
    assert_eq!(err.category(), Category::Auth);
}
