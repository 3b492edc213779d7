//! TCP helpers: a proxy in front of a real registry that counts the bytes sent to it (so
//! a test can prove that a review made no registry request) and the connections opened
//! through it, optionally with a round-trip delay; and a "registry" that accepts
//! connections and never answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A loopback port nobody listens on (free when probed; a test that needs nothing to
/// answer there, or a server to bind it next, uses it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// A byte- and connection-counting TCP proxy to `upstream`; stops when dropped.
pub struct CountingProxy {
    /// `127.0.0.1:PORT`.
    pub host: String,
    up: Arc<AtomicU64>,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl CountingProxy {
    /// Forwards every connection to `upstream` (`HOST:PORT`).
    pub async fn start(upstream: &str) -> CountingProxy {
        Self::with_delay(upstream, std::time::Duration::ZERO).await
    }

    /// Forwards every connection to `upstream`, a new connection's first bytes `rtt`
    /// late (its handshake) and every chunk each way `rtt / 2` late: a registry at a
    /// distance, so that the order of connects and requests is the one a real network
    /// gives.
    pub async fn with_delay(upstream: &str, rtt: std::time::Duration) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let host = listener.local_addr().expect("addr").to_string();
        let up = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let (counter, conns, upstream) = (up.clone(), connections.clone(), upstream.to_owned());
        let half = rtt / 2;
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                conns.fetch_add(1, Ordering::SeqCst);
                let (counter, upstream) = (counter.clone(), upstream.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::time::sleep(rtt).await;
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let to_server = async move {
                        let mut buf = [0u8; 16 * 1024];
                        loop {
                            match cr.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    counter.fetch_add(n as u64, Ordering::SeqCst);
                                    tokio::time::sleep(half).await;
                                    if sw.write_all(&buf[..n]).await.is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = sw.shutdown().await;
                    };
                    let to_client = async move {
                        let mut buf = [0u8; 16 * 1024];
                        loop {
                            match sr.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    tokio::time::sleep(half).await;
                                    if cw.write_all(&buf[..n]).await.is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = cw.shutdown().await;
                    };
                    tokio::join!(to_server, to_client);
                });
            }
        });
        CountingProxy {
            host,
            up,
            connections,
            task,
        }
    }

    /// Connections clients have opened through the proxy so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Bytes clients have sent to the registry so far.
    pub fn bytes_sent(&self) -> u64 {
        self.up.load(Ordering::SeqCst)
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A listener that accepts connections, reads nothing and never answers.
pub struct Stall {
    /// `127.0.0.1:PORT`.
    pub host: String,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Stall {
    /// Starts listening.
    pub async fn start() -> Stall {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let host = listener.local_addr().expect("addr").to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((sock, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                held.push(sock);
            }
        });
        Stall {
            host,
            accepted,
            task,
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Stall {
    fn drop(&mut self) {
        self.task.abort();
    }
}
