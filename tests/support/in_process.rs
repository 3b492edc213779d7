//! The webhook server in process: a [`Server`] on a random port with a certificate of a
//! [`TestCa`], and a [`Scripted`] reviewer whose behaviour the pod name chooses.

use super::tls::{TestCa, write_leaf};
use custody::server::{ReadyCheck, Reviewer, Server, ServerConfig, TlsSource};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

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
