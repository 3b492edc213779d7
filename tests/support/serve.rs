//! The one way to start `custody serve` in a test: the real binary as a child process,
//! with a self-signed certificate on a random port (its CA written to a file and trusted
//! by a `reqwest` client) or with a caller's certificate, its decision log (stdout) and
//! diagnostics (stderr) collected for assertions; killed when dropped.

use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// A running `custody serve`; killed when dropped.
pub struct Serve {
    /// `https://localhost:PORT`.
    pub base: String,
    /// A client that trusts only the server's self-signed CA.
    pub http: reqwest::Client,
    /// The server's self-signed CA (PEM), for clients other than `http`.
    pub ca_pem: String,
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

fn collect<R>(reader: R, into: Arc<Mutex<Vec<String>>>) -> tokio::task::JoinHandle<()>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut lines = BufReader::new(reader).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            into.lock().unwrap().push(line);
        }
    })
}

impl Serve {
    /// Starts `custody serve --self-signed` on 127.0.0.1 with `--policy-dir policy_dir`
    /// and `extra` flags (e.g. `--insecure-registry HOST`, `--decision-deadline 2s`).
    pub async fn start(policy_dir: &Path, extra: &[&str]) -> Serve {
        Serve::self_signed(|cmd| {
            cmd.arg("--policy-dir").arg(policy_dir).args(extra);
        })
        .await
    }

    /// Starts `custody --log info serve --self-signed --listen 127.0.0.1:0` with the
    /// flags `configure` adds, and waits until it listens.
    pub async fn self_signed(configure: impl FnOnce(&mut Command)) -> Serve {
        Serve::self_signed_logging("info", configure).await
    }

    /// [`Serve::self_signed`] with `--log FILTER` (e.g. `debug`).
    pub async fn self_signed_logging(filter: &str, configure: impl FnOnce(&mut Command)) -> Serve {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_path = dir.path().join("ca.pem");
        let mut cmd = Command::from(super::cli::command());
        cmd.args([
            "--log",
            filter,
            "serve",
            "--self-signed",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--self-signed-ca-out")
        .arg(&ca_path);
        configure(&mut cmd);
        let mut serve = Serve::spawn(cmd, dir);
        let addr = serve.listening().await;
        let port = addr.rsplit(':').next().expect("port").to_owned();
        let ca_pem = std::fs::read_to_string(&ca_path).expect("the self-signed CA file");
        serve.trust(&ca_pem, &format!("https://localhost:{port}"), None);
        serve
    }

    /// Starts `custody serve` as `configure` sets it up (arguments, environment) with a
    /// certificate from a CA of the caller, listening on `addr`, and reached as `host`
    /// (resolved to `addr`); waits until `/healthz` answers.
    pub async fn with_ca(
        ca_pem: &str,
        host: &str,
        addr: std::net::SocketAddr,
        configure: impl FnOnce(&mut Command),
    ) -> Serve {
        let mut cmd = Command::from(super::cli::command());
        cmd.arg("serve");
        configure(&mut cmd);
        let mut serve = Serve::spawn(cmd, tempfile::tempdir().expect("temp dir"));
        serve.trust(
            ca_pem,
            &format!("https://{host}:{}", addr.port()),
            Some((host, addr)),
        );
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = serve
                .http
                .get(format!("{}/healthz", serve.base))
                .send()
                .await
                && r.status().is_success()
            {
                return serve;
            }
            if let Ok(Some(status)) = serve.child.try_wait() {
                panic!("custody serve exited ({status}):\n{}", serve.log());
            }
            assert!(
                Instant::now() < until,
                "custody serve never answered /healthz within 60s:\n{}",
                serve.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn spawn(mut cmd: Command, dir: tempfile::TempDir) -> Serve {
        super::init_crypto();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting custody serve");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().expect("stdout"), stdout.clone()),
            collect(child.stderr.take().expect("stderr"), stderr.clone()),
        ];
        Serve {
            base: String::new(),
            http: reqwest::Client::new(),
            ca_pem: String::new(),
            child,
            stdout,
            stderr,
            readers,
            _dir: dir,
        }
    }

    /// Waits (bounded) for the "serving https://ADDR" line and returns ADDR.
    async fn listening(&mut self) -> String {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let found = self.stderr.lock().unwrap().iter().find_map(|l| {
                l.split("serving https://")
                    .nth(1)
                    .map(|a| a.trim().to_owned())
            });
            if let Some(addr) = found {
                return addr;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "custody serve exited ({status}) before listening:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < until,
                "custody serve did not start within 60s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Points the client at `base`, trusting only `ca_pem` (and resolving `host`).
    fn trust(&mut self, ca_pem: &str, base: &str, resolve: Option<(&str, std::net::SocketAddr)>) {
        let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA PEM");
        let mut builder = reqwest::Client::builder()
            .tls_certs_only([ca])
            .timeout(Duration::from_secs(60));
        if let Some((host, addr)) = resolve {
            builder = builder.resolve(host, addr);
        }
        self.http = builder.build().expect("HTTPS client");
        self.ca_pem = ca_pem.to_owned();
        self.base = base.to_owned();
    }

    /// Sends SIGTERM and waits (bounded) for the exit; the log is complete afterwards.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.pid().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("running kill");
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("custody serve did not stop after SIGTERM")
            .expect("waiting for custody serve");
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(10), reader).await;
        }
        status
    }

    /// The server's peak resident memory so far (`VmHWM` of `/proc/PID/status`), in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        let pid = self.pid();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status");
        kib / 1024.0
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("custody serve is running")
    }

    /// `GET path`: status and body text.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.log()));
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("body"))
    }

    /// POSTs raw bytes to `path`; returns the HTTP status and the parsed JSON body.
    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}\n{}", self.log()));
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("POST {path}: the answer is not JSON ({e}): {text}"));
        (status, value)
    }

    /// POSTs `review` to `path` (`/validate` or `/mutate`) and returns its `response`,
    /// after checking it is a complete AdmissionReview answer to this review's uid.
    pub async fn send(&self, path: &str, review: &Value) -> Value {
        let body = serde_json::to_vec(review).expect("json");
        let (status, answer) = self.post_raw(path, body).await;
        assert_eq!(status, 200, "POST {path}: {answer}");
        check_answer(review, &answer);
        answer["response"].clone()
    }

    /// `/validate`.
    pub async fn validate(&self, review: &Value) -> Value {
        self.send("/validate", review).await
    }

    /// `/mutate`.
    pub async fn mutate(&self, review: &Value) -> Value {
        self.send("/mutate", review).await
    }

    /// The decision log so far (stdout lines parsed as JSON).
    pub fn decisions(&self) -> Vec<Value> {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The decision log once it has at least `n` lines (it is read asynchronously;
    /// bounded wait).
    pub async fn decisions_at_least(&self, n: usize) -> Vec<Value> {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.decisions();
            if log.len() >= n || Instant::now() > until {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The decision log once `pred` holds on it (bounded wait; returned either way).
    pub async fn decisions_until(&self, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.decisions();
            if pred(&log) || Instant::now() > until {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// stderr so far, for assertion messages.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Polls `/metrics` until `pred` holds on its text (bounded), returning the text.
    pub async fn metrics_until(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, text) = self.get("/metrics").await;
            assert_eq!(status, 200, "{text}");
            if pred(&text) {
                return text;
            }
            assert!(
                Instant::now() < until,
                "metrics never showed {what}:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// A valid answer: `admission.k8s.io/v1` AdmissionReview whose response echoes the uid
/// and says `allowed` as a boolean.
pub fn check_answer(review: &Value, answer: &Value) {
    assert_eq!(answer["apiVersion"], "admission.k8s.io/v1", "{answer}");
    assert_eq!(answer["kind"], "AdmissionReview", "{answer}");
    assert_eq!(
        answer["response"]["uid"], review["request"]["uid"],
        "the answer must echo the uid: {answer}"
    );
    assert!(answer["response"]["allowed"].is_boolean(), "{answer}");
}

/// The value of one metric sample (`name{labels}`, labels as written), or 0.
pub fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0.0)
}
