//! The webhook's HTTPS server: axum over rustls (aws-lc-rs), HTTP/1.1 and HTTP/2 by
//! ALPN, a serving certificate reloaded in place, graceful shutdown.
//!
//! Routes:
//! - `POST /validate`, `POST /mutate`: AdmissionReview in, AdmissionReview out, always
//!   HTTP 200 with a well-formed review (see [`Reviewer`] for the contract);
//! - `GET /healthz`: the process is up;
//! - `GET /readyz`: 503 until the reviewer and every extra check are ready, and while
//!   draining on shutdown;
//! - `GET /metrics`: Prometheus text ([`crate::metrics`]);
//! - `POST /bench/allow` (only with `bench_allow_route`): a constant allow, the baseline
//!   of the load benchmark.
//!
//! ```no_run
//! # async fn demo() -> Result<(), custody::server::ServerError> {
//! use custody::server::{DenyAll, Server, ServerConfig, TlsSource};
//! use std::sync::Arc;
//! let config = ServerConfig::new(
//!     "127.0.0.1:8443".parse().expect("address"),
//!     TlsSource::SelfSigned { names: vec!["localhost".into()] },
//! );
//! let server = Server::bind(config, Arc::new(DenyAll::new("no policies")), vec![]).await?;
//! server.run(custody::server::shutdown_signal()).await;
//! # Ok(()) }
//! ```

mod conns;
pub mod fallback;
mod fdlimit;
mod listener;
mod reviewer;
mod routes;
pub mod tls;

pub use fdlimit::raise_fd_limit;
pub use listener::shutdown_signal;
pub use reviewer::{DenyAll, Outcome, PolicyOutcome, ReviewOutcome, Reviewer};
pub use routes::ReadyCheck;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tokio::task::JoinHandle;

use tls::{CertFiles, ReloadingCertResolver, TlsError};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The serving certificate could not be loaded or generated.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The listen address could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Where the serving certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// PEM files, polled for changes every `reload_interval`.
    Files {
        /// Certificate chain file.
        cert: PathBuf,
        /// Private key file.
        key: PathBuf,
        /// How often the files are checked for changes.
        reload_interval: Duration,
    },
    /// A throwaway CA and serving certificate for these names, generated at start.
    SelfSigned {
        /// DNS names and IP addresses the certificate is valid for.
        names: Vec<String>,
    },
}

/// The server's own settings (the decision settings belong to the reviewer).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Listen address (`0.0.0.0:8443`; port 0 picks a free port).
    pub listen: SocketAddr,
    /// The serving certificate.
    pub tls: TlsSource,
    /// Largest accepted request body; larger ones get a `bad-request` denial.
    pub max_body_bytes: usize,
    /// Time to read a request body; a slower one is answered HTTP 408 (with a denial
    /// review) and its HTTP/1.1 connection closed.
    pub request_body_timeout: Duration,
    /// Open connections at most. When all are taken, the one idle longest is closed to
    /// make room; when every one has a request in progress, new ones wait.
    pub max_connections: usize,
    /// A connection with no request in progress for this long is closed (HTTP/1.1
    /// keep-alive and HTTP/2 alike; also the bound on reading an HTTP/1.1 request head).
    /// Keep it above the apiserver's 90 s idle timeout.
    pub idle_timeout: Duration,
    /// Reviews decided at once; more wait for a slot (within `review_bound`).
    pub max_concurrent_reviews: usize,
    /// Last-resort bound on one review, including the wait for a slot; set a little
    /// above the decision deadline that the reviewer itself honours.
    pub review_bound: Duration,
    /// What the last-resort bound answers: allow with a warning (true) or deny.
    pub fail_open: bool,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// Serve `POST /bench/allow` (load benchmark baseline).
    pub bench_allow_route: bool,
}

impl ServerConfig {
    /// Settings with the defaults `custody serve` uses.
    pub fn new(listen: SocketAddr, tls: TlsSource) -> Self {
        Self {
            listen,
            tls,
            max_body_bytes: 3 * 1024 * 1024 + 64 * 1024,
            request_body_timeout: Duration::from_secs(5),
            max_connections: 1024,
            idle_timeout: Duration::from_secs(120),
            max_concurrent_reviews: 256,
            review_bound: Duration::from_secs(9),
            fail_open: false,
            shutdown_grace: Duration::from_secs(25),
            bench_allow_route: false,
        }
    }
}

/// A bound server, ready to [`run`](Server::run).
pub struct Server {
    listener: listener::Listener,
    local_addr: SocketAddr,
    resolver: Arc<ReloadingCertResolver>,
    reload_task: Option<JoinHandle<()>>,
    self_signed_ca: Option<String>,
}

impl Server {
    /// Loads (or generates) the certificate, binds the address and builds the routes.
    /// The certificate watcher starts here.
    pub async fn bind(
        config: ServerConfig,
        reviewer: Arc<dyn Reviewer>,
        checks: Vec<ReadyCheck>,
    ) -> Result<Server, ServerError> {
        let (initial, reload, self_signed_ca) = match &config.tls {
            TlsSource::Files {
                cert,
                key,
                reload_interval,
            } => {
                let files = CertFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                };
                (files.load()?, Some((files, *reload_interval)), None)
            }
            TlsSource::SelfSigned { names } => {
                let generated = tls::generate_self_signed(names)?;
                (generated.key, None, Some(generated.ca_pem))
            }
        };
        let resolver = Arc::new(ReloadingCertResolver::new(Arc::new(initial)));
        let acceptor = tokio_rustls::TlsAcceptor::from(tls::server_config(resolver.clone())?);
        let tcp = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Bind {
                addr: config.listen,
                source,
            })?;
        let local_addr = tcp.local_addr().map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
        let reload_task =
            reload.map(|(files, every)| tokio::spawn(files.watch(resolver.clone(), every)));
        let shutting_down = Arc::new(AtomicBool::new(false));
        let router = routes::router(
            reviewer,
            checks,
            routes::RouteLimits {
                max_body_bytes: config.max_body_bytes,
                request_body_timeout: config.request_body_timeout,
                max_concurrent_reviews: config.max_concurrent_reviews,
                review_bound: config.review_bound,
                fail_open: config.fail_open,
                bench_allow_route: config.bench_allow_route,
            },
            shutting_down.clone(),
        );
        Ok(Server {
            listener: listener::Listener {
                tcp,
                acceptor,
                router,
                shutting_down,
                grace: config.shutdown_grace,
                limits: listener::ConnLimits {
                    max_connections: config.max_connections,
                    idle_timeout: config.idle_timeout,
                },
            },
            local_addr,
            resolver,
            reload_task,
            self_signed_ca,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The generated CA certificate (PEM) when running with a self-signed certificate.
    pub fn self_signed_ca_pem(&self) -> Option<&str> {
        self.self_signed_ca.as_deref()
    }

    /// The certificate resolver (to swap certificates by other means).
    pub fn cert_resolver(&self) -> Arc<ReloadingCertResolver> {
        self.resolver.clone()
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests within the grace
    /// period and returns.
    pub async fn run(mut self, shutdown: impl Future<Output = ()> + Send) {
        tracing::info!(addr = %self.local_addr, "custody webhook listening (https)");
        let reload_task = self.reload_task.take();
        self.listener.run(shutdown).await;
        if let Some(task) = reload_task {
            task.abort();
        }
        tracing::info!("server stopped");
    }
}
