//! The accept loop: TCP, a connection slot ([`super::conns`]), a TLS handshake (bounded),
//! then hyper-util's automatic HTTP/1.1 / HTTP/2 connection serving the axum router.
//! A connection with no request in progress for the idle timeout is closed (HTTP/2 with
//! a GOAWAY first). On shutdown the listener closes, `/readyz` turns 503, and open
//! connections finish their in-flight requests (HTTP/1.1 closes after the response,
//! HTTP/2 gets GOAWAY) within the grace period.

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::conns::{ConnLimiter, ConnState, Slot};
use crate::metrics::metrics;

/// Bound on a client's TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection closed for idleness or evicted may take to say goodbye (an
/// HTTP/2 GOAWAY, whose PING a live client answers within a round trip) before it is
/// dropped. Short, because an evicted connection's slot is already someone else's.
const CLOSE_BOUND: Duration = Duration::from_millis(250);
/// HTTP/2 keep-alive: a PING after this long without a frame from the client ...
const H2_PING_INTERVAL: Duration = Duration::from_secs(30);
/// ... and the connection is closed when its answer takes longer than this.
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Connection limits of the listener.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    /// Open connections at most (see [`super::conns`]).
    pub(crate) max_connections: usize,
    /// A connection with no request in progress for this long is closed. hyper also
    /// bounds the reading of an HTTP/1.1 request head with it, and runs that timer on
    /// idle keep-alive connections too, so it must exceed the apiserver's own
    /// idle-connection timeout (Go's 90 s): closing a connection the client is about to
    /// reuse fails that admission request.
    pub(crate) idle_timeout: Duration,
}

pub(crate) struct Listener {
    pub(crate) tcp: TcpListener,
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) router: Router,
    pub(crate) shutting_down: Arc<AtomicBool>,
    pub(crate) grace: Duration,
    pub(crate) limits: ConnLimits,
}

fn http_builder(limits: ConnLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_PING_INTERVAL)
        .keep_alive_timeout(H2_PING_TIMEOUT)
        .max_concurrent_streams(256);
    builder
}

/// What a connection task shares with the accept loop.
#[derive(Clone)]
struct Shared {
    acceptor: TlsAcceptor,
    router: Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: ConnLimits,
    stop: CancellationToken,
}

impl Listener {
    /// Serves until `shutdown` completes, then drains.
    pub(crate) async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let limiter = ConnLimiter::new(self.limits.max_connections);
        let tasks = TaskTracker::new();
        let shared = Shared {
            acceptor: self.acceptor.clone(),
            router: self.router.clone(),
            builder: Arc::new(http_builder(self.limits)),
            limits: self.limits,
            stop: CancellationToken::new(),
        };
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
            // A free slot, or the longest-idle connection's; when every connection is
            // busy this waits, and further clients queue in the accept backlog.
            let slot = tokio::select! {
                () = &mut shutdown => break,
                slot = limiter.acquire() => slot,
            };
            tasks.spawn(serve_connection(shared.clone(), tcp, peer, slot));
        }
        self.shutting_down.store(true, Ordering::Relaxed);
        drop(self.tcp);
        shared.stop.cancel();
        tasks.close();
        tracing::info!(
            open_connections = limiter.open(),
            grace_secs = self.grace.as_secs_f64(),
            "shutting down: draining connections"
        );
        if tokio::time::timeout(self.grace, tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("grace period over; closing the remaining connections");
        }
    }
}

/// Why a connection is being closed by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    Idle,
    Evicted,
    Shutdown,
}

async fn serve_connection(shared: Shared, tcp: TcpStream, peer: SocketAddr, slot: Slot) {
    let _open = metrics().connection_open();
    let state = slot.state().clone();
    let _ = tcp.set_nodelay(true);
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, shared.acceptor.accept(tcp));
    let tls = tokio::select! {
        done = handshake => match done {
            Ok(Ok(tls)) => tls,
            Ok(Err(err)) => {
                tracing::debug!(%peer, error = %err, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        },
        () = state.evicted() => return,
        () = shared.stop.cancelled() => return,
    };
    let service = Tracked {
        inner: TowerToHyperService::new(shared.router.clone()),
        state: state.clone(),
    };
    let conn = shared.builder.serve_connection(TokioIo::new(tls), service);
    tokio::pin!(conn);
    let idle_timeout = shared.limits.idle_timeout;
    let why = loop {
        let wake = state
            .idle_for()
            .map_or(idle_timeout, |idle| idle_timeout.saturating_sub(idle));
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(err) = done {
                    tracing::debug!(%peer, error = %err, "connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep(wake) => {
                if state.idle_for().is_some_and(|idle| idle >= idle_timeout) {
                    break Close::Idle;
                }
            }
            () = state.evicted() => break Close::Evicted,
            () = shared.stop.cancelled() => break Close::Shutdown,
        }
    };
    match why {
        Close::Idle => metrics().connection_closed("idle-timeout"),
        Close::Evicted => {}
        Close::Shutdown => {}
    }
    tracing::debug!(%peer, reason = ?why, "closing the connection");
    conn.as_mut().graceful_shutdown();
    if why == Close::Shutdown {
        // In-flight requests finish; the listener bounds the whole drain.
        let _ = conn.await;
    } else {
        // An idle connection says goodbye (GOAWAY) or is dropped.
        let _ = tokio::time::timeout(CLOSE_BOUND, conn).await;
    }
    drop(slot);
}

/// The router's service, counting the connection's requests in progress so that its
/// idle clock runs only between requests.
#[derive(Clone)]
struct Tracked<S> {
    inner: S,
    state: Arc<ConnState>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, R> hyper::service::Service<R> for Tracked<S>
where
    S: hyper::service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn call(&self, req: R) -> Self::Future {
        let busy = self.state.begin();
        let answer = self.inner.call(req);
        Box::pin(async move {
            let out = answer.await;
            drop(busy);
            out
        })
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
