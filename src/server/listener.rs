//! The accept loop: TCP, then a TLS handshake (bounded), then hyper-util's automatic
//! HTTP/1.1 / HTTP/2 connection serving the axum router. On shutdown the listener closes,
//! `/readyz` turns 503, and open connections finish their in-flight requests (HTTP/1.1
//! closes after the response, HTTP/2 gets GOAWAY) within the grace period.

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Bound on a client's TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on reading an HTTP/1.1 request head. hyper runs this timer on idle keep-alive
/// connections too, so it must exceed the apiserver's idle-connection timeout (Go's 90 s):
/// closing a connection the client is about to reuse fails that admission request.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) struct Listener {
    pub(crate) tcp: TcpListener,
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) router: Router,
    pub(crate) shutting_down: Arc<AtomicBool>,
    pub(crate) grace: Duration,
}

fn http_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256);
    builder
}

impl Listener {
    /// Serves until `shutdown` completes, then drains.
    pub(crate) async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let graceful = GracefulShutdown::new();
        let builder = Arc::new(http_builder());
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = self.tcp.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Typically EMFILE: back off briefly instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let acceptor = self.acceptor.clone();
            let service = TowerToHyperService::new(self.router.clone());
            let builder = builder.clone();
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let _ = tcp.set_nodelay(true);
                let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(err)) => {
                        tracing::debug!(%peer, error = %err, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
                let conn = builder.serve_connection(TokioIo::new(tls), service);
                if let Err(err) = watcher.watch(conn).await {
                    tracing::debug!(%peer, error = %err, "connection ended with an error");
                }
            });
        }
        self.shutting_down.store(true, Ordering::Relaxed);
        drop(self.tcp);
        let open = graceful.count();
        tracing::info!(
            open_connections = open,
            grace_secs = self.grace.as_secs_f64(),
            "shutting down: draining connections"
        );
        if tokio::time::timeout(self.grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("grace period over; closing the remaining connections");
        }
    }
}

/// Resolves when the process receives SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}
