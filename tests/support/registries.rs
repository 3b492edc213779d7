//! Starting ferro-oci-server (native Referrers API) and Debian's docker-registry
//! (distribution 2.8, no Referrers API) on random 127.0.0.1 ports in temp dirs.

use custody::registry::{Credentials, ImageRef, OciRegistry, RegistryConfig};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which registry implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `ferro-oci-server` 1.0.0: has the OCI 1.1 Referrers API.
    Ferro,
    /// `docker-registry` (distribution 2.8): no Referrers API.
    Distribution,
}

/// A running registry; killed when dropped.
pub struct TestRegistry {
    /// Which implementation.
    pub kind: Kind,
    /// `127.0.0.1:PORT`.
    pub host: String,
    child: Child,
    dir: tempfile::TempDir,
}

/// Finds a tool on PATH (or in ~/.cargo/bin), panicking with a clear message if missing.
pub fn tool(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.push(PathBuf::from("/usr/bin"));
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("required test tool `{name}` is not installed (run scripts/setup): this test cannot run without it")
        })
}

impl TestRegistry {
    /// Starts a registry of `kind`.
    pub fn start(kind: Kind) -> TestRegistry {
        // A port can be taken between probing and binding: retry a few times.
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = super::net::free_port();
            let host = format!("127.0.0.1:{port}");
            let log = std::fs::File::create(dir.path().join("registry.log")).expect("log file");
            let mut cmd = match kind {
                Kind::Ferro => {
                    let mut c = Command::new(tool("ferro-oci-server"));
                    c.env("FERRO_OCI_LISTEN", &host)
                        .env("FERRO_OCI_STORAGE_DIR", dir.path().join("storage"))
                        .env("RUST_LOG", "warn");
                    c
                }
                Kind::Distribution => {
                    let config = dir.path().join("config.yml");
                    std::fs::write(
                        &config,
                        format!(
                            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
                            dir.path().join("storage").display()
                        ),
                    )
                    .expect("write registry config");
                    let mut c = Command::new(tool("docker-registry"));
                    c.arg("serve").arg(&config);
                    c
                }
            };
            let child = cmd
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {kind:?} registry: {e}"));
            let mut reg = TestRegistry {
                kind,
                host,
                child,
                dir,
            };
            if reg.wait_ready(Duration::from_secs(20)) {
                return reg;
            }
            eprintln!(
                "{kind:?} registry did not start on {}; log:\n{}",
                reg.host,
                reg.log()
            );
        }
        panic!("could not start a {kind:?} registry (see the logs above)");
    }

    /// ferro-oci-server.
    pub fn ferro() -> TestRegistry {
        Self::start(Kind::Ferro)
    }

    /// docker-registry (distribution 2.8).
    pub fn distribution() -> TestRegistry {
        Self::start(Kind::Distribution)
    }

    /// Both registries, ferro first.
    pub fn both() -> Vec<TestRegistry> {
        vec![Self::ferro(), Self::distribution()]
    }

    /// Whether this registry serves the OCI Referrers API.
    pub fn has_referrers_api(&self) -> bool {
        self.kind == Kind::Ferro
    }

    /// `127.0.0.1:PORT/<repo_tag>` parsed.
    pub fn image(&self, repo_tag: &str) -> ImageRef {
        ImageRef::parse(&format!("{}/{repo_tag}", self.host)).expect("valid test image reference")
    }

    /// A registry config that reaches this registry over plain HTTP.
    pub fn config(&self) -> RegistryConfig {
        RegistryConfig {
            insecure_registries: vec![self.host.clone()],
            ..RegistryConfig::default()
        }
    }

    /// A fresh client (empty caches) for this registry.
    pub fn client(&self) -> OciRegistry {
        super::init_crypto();
        OciRegistry::new(self.config()).expect("registry client")
    }

    /// Anonymous credentials (the test registries need none).
    pub fn creds(&self) -> Credentials {
        Credentials::anonymous()
    }

    /// The registry's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self, within: Duration) -> bool {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if http_status(&self.host, "/v2/") == Some(200) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal blocking `GET` returning the status code.
pub fn http_status(host: &str, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = [0u8; 32];
    let n = s.read(&mut buf).ok()?;
    let head = std::str::from_utf8(&buf[..n]).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}
