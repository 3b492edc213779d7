//! Where custody uses oci-client and where it keeps its own code, measured
//! (docs/registry.md, "oci-client and custody's own code"):
//!
//! - the read path stays custody's because oci-client reads a manifest whole, whatever its
//!   size: against a registry serving a 64 MiB manifest, `oci_client::Client::pull_manifest`
//!   returns all of it (16 times the 4 MiB budget), where custody refuses it from its
//!   `Content-Length` and, with no length, stops streaming at the budget;
//! - the push path is oci-client's, with custody's credentials and bearer exchange: the
//!   uploads oci-client sends carry the token custody obtained for `pull,push` with the
//!   docker-config credential, and the credential itself never reaches the registry.

use crate::support;
use base64::Engine as _;
use bytes::Bytes;
use custody::digest::Digest;
use custody::registry::{
    Artifact, Credentials, DSSE_MEDIA_TYPE, ImageRef, OciRegistry, Registry, RegistryConfig,
    RegistryError, Source,
};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::OciManifest;
use oci_client::secrets::RegistryAuth;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use support::hostile::{Body, Hostile, Reply, Request};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const BUDGET: u64 = 4 << 20;
const SERVED: usize = 64 << 20;

fn client(host: &str) -> OciRegistry {
    support::init_crypto();
    OciRegistry::new(RegistryConfig {
        insecure_registries: vec![host.to_owned()],
        max_manifest_bytes: BUDGET,
        ..RegistryConfig::default()
    })
    .unwrap()
}

/// A valid image manifest of `size` bytes (an annotation pads it).
fn padded_manifest(size: usize) -> Vec<u8> {
    let head = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST}","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{}","size":2}},"layers":[],"annotations":{{"pad":""#,
        Digest::sha256(b"{}")
    );
    let tail = r#""}}"#;
    let mut m = head.into_bytes();
    m.resize(size - tail.len(), b'a');
    m.extend_from_slice(tail.as_bytes());
    m
}

#[tokio::test]
async fn oci_client_reads_an_oversized_manifest_whole_custody_stops_at_the_budget() {
    let big = Arc::new(padded_manifest(SERVED));
    let served = big.clone();
    // `app:big` has an honest Content-Length, `app:endless` none and no end.
    let srv = Hostile::start(move |req: &Request| match req.path.as_str() {
        "/v2/" => Reply::ok("application/json", b"{}".to_vec()),
        "/v2/app/manifests/big" => Reply::ok(MANIFEST, served.to_vec()),
        "/v2/app/manifests/endless" => Reply {
            status: 200,
            headers: vec![("Content-Type".into(), MANIFEST.into())],
            body: Body::Endless(vec![b' '; 64 * 1024]),
        },
        _ => Reply::status(404),
    })
    .await;

    // oci-client: the whole 64 MiB is read into memory and parsed.
    let oci = oci_client::Client::try_from(ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    })
    .unwrap();
    let reference: oci_client::Reference = format!("{}/app:big", srv.host).parse().unwrap();
    let started = Instant::now();
    let (manifest, _) = oci
        .pull_manifest(&reference, &RegistryAuth::Anonymous)
        .await
        .expect("oci-client pulls the oversized manifest");
    let oci_elapsed = started.elapsed();
    let OciManifest::Image(m) = manifest else {
        panic!("not an image manifest")
    };
    let read = m.annotations.unwrap_or_default()["pad"].len();
    assert!(read as u64 > 15 * BUDGET, "oci-client read {read} bytes");

    // custody: refused from the Content-Length before the body is read...
    let c = client(&srv.host);
    let image = ImageRef::parse(&format!("{}/app:big", srv.host)).unwrap();
    let started = Instant::now();
    let err = c
        .resolve(&image, &Credentials::anonymous())
        .await
        .unwrap_err();
    let custody_elapsed = started.elapsed();
    assert!(
        matches!(err, RegistryError::TooLarge { size, limit: BUDGET, .. } if size == SERVED as u64),
        "{err}"
    );
    // ...and, with no Content-Length and no end, stopped within one chunk of the budget.
    let image = ImageRef::parse(&format!("{}/app:endless", srv.host)).unwrap();
    let err = c
        .resolve(&image, &Credentials::anonymous())
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::TooLarge { size, limit: BUDGET, .. } if size <= BUDGET + (1 << 20)),
        "{err}"
    );
    eprintln!(
        "64 MiB manifest, 4 MiB budget: oci-client read {read} bytes in {oci_elapsed:?}; \
         custody refused it in {custody_elapsed:?} after reading none of it"
    );
}

/// One request as the registry saw it: method, path and `Authorization` header.
type Seen = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

/// A registry that wants a bearer token for everything, from a token service that takes
/// Basic `ci:s3cret` (or, with `basic_only`, Basic `ci:s3cret` on every request); it has
/// no Referrers API.
async fn auth_registry(seen: Seen, basic_only: bool) -> Hostile {
    let realm: Arc<OnceLock<String>> = Arc::new(OnceLock::new());
    let realm2 = realm.clone();
    let manifest = support::hostile::Fixture::new(None).subject_manifest;
    let subject = Digest::sha256(&manifest);
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("ci:s3cret")
    );
    let srv = Hostile::start(move |req: &Request| {
        let auth = req.header("authorization");
        seen.lock()
            .unwrap()
            .push((req.method.clone(), req.path.clone(), auth.clone()));
        let (method, path) = (req.method.as_str(), req.path.as_str());
        if path.starts_with("/token") {
            return if auth.as_deref() == Some(basic.as_str()) {
                Reply::ok("application/json", br#"{"token":"T0KEN"}"#.to_vec())
            } else {
                Reply::status(401)
            };
        }
        if basic_only && auth.as_deref() != Some(basic.as_str()) {
            return Reply::status(401).header("WWW-Authenticate", r#"Basic realm="test""#);
        }
        if !basic_only && auth.as_deref() != Some("Bearer T0KEN") {
            let challenge = format!(r#"Bearer realm="{}",service="test""#, realm2.get().unwrap());
            return Reply::status(401).header("WWW-Authenticate", &challenge);
        }
        let digest_manifest = format!("/v2/app/manifests/{subject}");
        match (method, path) {
            ("GET", "/v2/") => Reply::ok("application/json", b"{}".to_vec()),
            ("HEAD" | "GET", p) if p == digest_manifest || p == "/v2/app/manifests/v1" => {
                Reply::ok(MANIFEST, manifest.clone())
                    .header("Docker-Content-Digest", &subject.to_string())
            }
            ("POST", "/v2/app/blobs/uploads/") => {
                Reply::status(202).header("Location", "/v2/app/blobs/uploads/u1")
            }
            ("PUT", p) if p.starts_with("/v2/app/blobs/uploads/u1?") => {
                Reply::status(201).header("Location", "/v2/app/blobs/x")
            }
            ("PUT", p) if p.starts_with("/v2/app/manifests/") => {
                Reply::status(201).header("Location", p)
            }
            _ => Reply::status(404),
        }
    })
    .await;
    realm
        .set(format!("http://{}/token", srv.host))
        .expect("realm set once");
    srv
}

/// Credentials as a docker config with `user:password` for `host`.
fn docker_config(host: &str, user_password: &str) -> Credentials {
    let auth = base64::engine::general_purpose::STANDARD.encode(user_password);
    let config = format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#);
    Credentials::from_dockerconfigjson(config.as_bytes()).unwrap()
}

#[tokio::test]
async fn oci_client_pushes_with_custodys_credential_and_bearer_token() {
    let seen: Seen = Arc::default();
    let srv = auth_registry(seen.clone(), false).await;
    let c = client(&srv.host);
    let image = ImageRef::parse(&format!("{}/app:v1", srv.host)).unwrap();
    let creds = docker_config(&srv.host, "ci:s3cret");
    let subject = c.resolve(&image, &creds).await.unwrap().digest;
    let artifact = Artifact {
        artifact_type: DSSE_MEDIA_TYPE.into(),
        media_type: DSSE_MEDIA_TYPE.into(),
        data: Bytes::from_static(br#"{"payloadType":"x","payload":"e30=","signatures":[]}"#),
        annotations: BTreeMap::new(),
    };
    let attached = c.attach(&image, &subject, &artifact, &creds).await.unwrap();
    assert_eq!(attached.source, Source::TagSchema);

    let seen = seen.lock().unwrap().clone();
    let uploads: Vec<_> = seen
        .iter()
        .filter(|(m, _, _)| m == "POST" || m == "PUT")
        .collect();
    // Two blob uploads (POST + PUT each), the referrer manifest and the tag-schema index.
    assert_eq!(uploads.len(), 6, "{seen:#?}");
    for (m, p, auth) in &uploads {
        assert_eq!(auth.as_deref(), Some("Bearer T0KEN"), "{m} {p}");
    }
    // The token was asked for with the docker-config credential and the push scope...
    assert!(
        seen.iter().any(|(_, p, a)| p.starts_with("/token")
            && p.contains("pull%2Cpush")
            && a.as_deref().is_some_and(|a| a.starts_with("Basic "))),
        "{seen:#?}"
    );
    // ...and the credential itself went to the token service only.
    for (m, p, auth) in &seen {
        if !p.starts_with("/token") {
            assert!(
                auth.as_deref().is_none_or(|a| a.starts_with("Bearer ")),
                "{m} {p}"
            );
        }
    }
}

#[tokio::test]
async fn a_refused_token_fails_the_push_as_auth() {
    let seen: Seen = Arc::default();
    let srv = auth_registry(seen.clone(), false).await;
    let c = client(&srv.host);
    let image = ImageRef::parse(&format!("{}/app:v1", srv.host)).unwrap();
    let creds = docker_config(&srv.host, "ci:wrong");
    let err = c
        .push_blob(&image, Bytes::from_static(b"data"), &creds)
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Auth { .. }), "{err}");
    assert!(
        !seen
            .lock()
            .unwrap()
            .iter()
            .any(|(m, _, _)| m == "POST" || m == "PUT"),
        "nothing is uploaded without a token"
    );
}

#[tokio::test]
async fn oci_client_pushes_with_basic_credentials_where_the_registry_asks_for_basic() {
    let seen: Seen = Arc::default();
    let srv = auth_registry(seen.clone(), true).await;
    let c = client(&srv.host);
    let image = ImageRef::parse(&format!("{}/app:v1", srv.host)).unwrap();
    let creds = docker_config(&srv.host, "ci:s3cret");
    let digest = c
        .push_blob(&image, Bytes::from_static(b"data"), &creds)
        .await
        .unwrap();
    assert_eq!(digest, Digest::sha256(b"data"));
    let seen = seen.lock().unwrap().clone();
    let uploads: Vec<_> = seen
        .iter()
        .filter(|(m, _, _)| m == "POST" || m == "PUT")
        .collect();
    assert_eq!(uploads.len(), 2, "{seen:#?}");
    for (m, p, auth) in uploads {
        assert_eq!(
            auth.as_deref(),
            Some(
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode("ci:s3cret")
                )
                .as_str()
            ),
            "{m} {p}"
        );
    }
}
