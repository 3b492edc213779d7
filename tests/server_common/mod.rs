//! Shared helpers of the `server_*` integration tests: a throwaway CA, certificates
//! written to files, an in-process server on a random port, and HTTPS clients that trust
//! only the test CA.
#![allow(dead_code)]

use custody::server::{ReadyCheck, Reviewer, Server, ServerConfig, TlsSource};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A test certificate authority.
pub struct TestCa {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A serving certificate and key in PEM.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for localhost and 127.0.0.1.
    pub fn leaf(&self) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

/// Writes a leaf to `dir/tls.crt` and `dir/tls.key` (key first, then certificate).
pub fn write_leaf(dir: &Path, leaf: &Leaf) -> (PathBuf, PathBuf) {
    let cert = dir.join("tls.crt");
    let key = dir.join("tls.key");
    std::fs::write(&key, &leaf.key_pem).unwrap();
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    (cert, key)
}

/// A running in-process server.
pub struct Running {
    pub addr: SocketAddr,
    pub stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<()>,
    pub _dir: tempfile::TempDir,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// Triggers graceful shutdown.
    pub fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// Waits (bounded) for the server task to return.
    pub async fn join(self) {
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("server did not stop")
            .expect("server task panicked");
    }
}

/// Starts a server with a certificate from `ca` and lets `tune` adjust the settings.
pub async fn start(
    ca: &TestCa,
    reviewer: Arc<dyn Reviewer>,
    checks: Vec<ReadyCheck>,
    tune: impl FnOnce(&mut ServerConfig),
) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = write_leaf(dir.path(), &ca.leaf());
    let mut config = ServerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        TlsSource::Files {
            cert,
            key,
            reload_interval: Duration::from_millis(50),
        },
    );
    tune(&mut config);
    let server = Server::bind(config, reviewer, checks).await.unwrap();
    let addr = server.local_addr();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        stop: Some(tx),
        task,
        _dir: dir,
    }
}

/// An HTTPS client trusting only `ca_pem`; `http1_only` forbids h2.
pub fn client(ca_pem: &str, http1_only: bool) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([ca])
        .tls_info(true)
        .timeout(Duration::from_secs(60));
    if http1_only {
        builder = builder.http1_only();
    }
    builder.build().unwrap()
}

/// The DER of the certificate the server presented on this response's connection.
pub fn peer_cert(resp: &reqwest::Response) -> Vec<u8> {
    resp.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("TLS info")
        .to_vec()
}

/// A minimal AdmissionReview request body.
pub fn review_body(uid: &str, marker: &str) -> String {
    serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "operation": "CREATE",
            "namespace": "team",
            "object": {"metadata": {"name": marker}},
        }
    })
    .to_string()
}

/// Parses a response body as an AdmissionReview and returns its `response`.
pub async fn review_response(resp: reqwest::Response) -> serde_json::Value {
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(body["kind"], "AdmissionReview");
    body["response"].clone()
}

/// A reviewer driven by the pod name in the review: `panic` panics, `hang` never
/// answers, `slow` signals `started` and waits for `release`; anything else is allowed.
/// A body that is not an AdmissionReview gets a `bad-request` denial, as the real
/// reviewer's contract requires.
#[derive(Default)]
pub struct Scripted {
    pub ready: std::sync::atomic::AtomicBool,
    pub started: tokio::sync::Notify,
    pub release: tokio::sync::Notify,
}

#[async_trait::async_trait]
impl Reviewer for Scripted {
    async fn validate(&self, body: bytes::Bytes) -> custody::server::ReviewOutcome {
        use custody::server::{Outcome, PolicyOutcome, ReviewOutcome, fallback};
        let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        let uid = parsed
            .as_ref()
            .and_then(|v| v["request"]["uid"].as_str().map(str::to_owned));
        let Some(uid) = uid else {
            return ReviewOutcome {
                body: fallback::deny(&body, 400, "custody: bad-request: not an AdmissionReview"),
                outcome: Outcome::Error,
                policies: vec![],
            };
        };
        let marker = parsed.as_ref().and_then(|v| {
            v["request"]["object"]["metadata"]["name"]
                .as_str()
                .map(str::to_owned)
        });
        match marker.as_deref() {
            Some("panic") => panic!("scripted panic"),
            Some("hang") => std::future::pending::<()>().await,
            Some("slow") => {
                self.started.notify_one();
                self.release.notified().await;
            }
            _ => {}
        }
        let response = serde_json::json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": uid, "allowed": true},
        });
        ReviewOutcome {
            body: serde_json::to_vec(&response).unwrap().into(),
            outcome: Outcome::Allowed,
            policies: vec![PolicyOutcome {
                policy: "scripted".into(),
                mode: "enforce".into(),
                outcome: Outcome::Allowed,
            }],
        }
    }

    async fn mutate(&self, body: bytes::Bytes) -> custody::server::ReviewOutcome {
        self.validate(body).await
    }

    fn ready(&self) -> Result<(), String> {
        if self.ready.load(std::sync::atomic::Ordering::Relaxed) {
            Ok(())
        } else {
            Err("policies not loaded".into())
        }
    }
}
