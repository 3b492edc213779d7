//! TCP helpers: a proxy in front of a real registry that counts the bytes sent to it (so
//! a test can prove that a review made no registry request), and a "registry" that
//! accepts connections and never answers.

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

/// A byte-counting TCP proxy to `upstream`; stops when dropped.
pub struct CountingProxy {
    /// `127.0.0.1:PORT`.
    pub host: String,
    up: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl CountingProxy {
    /// Forwards every connection to `upstream` (`HOST:PORT`).
    pub async fn start(upstream: &str) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let host = listener.local_addr().expect("addr").to_string();
        let up = Arc::new(AtomicU64::new(0));
        let (counter, upstream) = (up.clone(), upstream.to_owned());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (counter, upstream) = (counter.clone(), upstream.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let to_server = async move {
                        let mut buf = [0u8; 16 * 1024];
                        loop {
                            match cr.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    counter.fetch_add(n as u64, Ordering::SeqCst);
                                    if sw.write_all(&buf[..n]).await.is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = sw.shutdown().await;
                    };
                    let to_client = async move {
                        let _ = tokio::io::copy(&mut sr, &mut cw).await;
                        let _ = cw.shutdown().await;
                    };
                    tokio::join!(to_server, to_client);
                });
            }
        });
        CountingProxy { host, up, task }
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
