//! The server's connection limits, measured against the real `custody serve` binary over
//! HTTPS: 8,000 idle HTTP/2 connections neither grow it past 150 MiB nor keep a review
//! out; at `--max-connections` the longest-idle connection gives way, and busy ones make
//! newcomers wait; a slow request body gets HTTP 408 within `--request-body-timeout` and
//! its connection is not held; connections idle past `--idle-timeout` are closed.
//!
//! Only loopback addresses. The test process raises its own open-file limit (the server
//! inherits it and raises its own as well).

use crate::support;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::reviews::{create, object};
use support::serve::sample;
use support::{PolicyDir, Serve, assert_denied};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

const POLICY: &str = "limits";

/// One test at a time: their time bounds are about the server, not about sharing two
/// cores with 8,000 TLS handshakes of a neighbouring test.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// The HTTP/2 connection preface and an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// Raises this process's soft open-file limit to the hard one; fails loudly when even
/// that is too low for `needed` descriptors.
fn raise_fd_limit(needed: u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        )
        .expect("raising RLIMIT_NOFILE");
    }
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    assert!(
        now >= needed,
        "this test needs {needed} open files but the hard limit is {now} (ulimit -Hn)"
    );
}

/// A TLS client for the server's CA offering `alpn`.
fn connector(ca_pem: &str, alpn: &[u8]) -> TlsConnector {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    support::init_crypto();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA certificate");
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    TlsConnector::from(Arc::new(config))
}

fn port(serve: &Serve) -> u16 {
    serve
        .base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port")
}

/// A TLS connection to the server (loopback), handshake done.
async fn tls(serve: &Serve, tls: &TlsConnector) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", port(serve)))
        .await
        .expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    tls.connect(name, tcp).await.expect("TLS handshake")
}

/// An HTTP/2 connection that sent its preface and then says nothing.
async fn idle_h2(serve: &Serve, connector: &TlsConnector) -> TlsStream<TcpStream> {
    let mut conn = tls(serve, connector).await;
    let (_, session) = conn.get_ref();
    assert_eq!(session.alpn_protocol(), Some(&b"h2"[..]), "h2 negotiated");
    conn.write_all(H2_PREFACE).await.expect("preface");
    conn.flush().await.expect("flush");
    conn
}

/// Reads (and discards) until the server closes the connection; the time it did.
async fn closed_at(mut conn: TlsStream<TcpStream>) -> Instant {
    let mut buf = vec![0u8; 4096];
    loop {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return Instant::now(),
            Ok(_) => {}
        }
    }
}

/// Whether the server closes `conn` within `within`.
async fn closes_within(conn: TlsStream<TcpStream>, within: Duration) -> bool {
    tokio::time::timeout(within, closed_at(conn)).await.is_ok()
}

/// A pod whose image lives on a registry that refuses connections: the real reviewer
/// answers it with a denial naming the image.
fn review(uid: &str) -> Value {
    let mut r = create(&object("pod", "127.0.0.1:1/shop/app:1.0"));
    r["request"]["uid"] = Value::from(uid);
    r
}

async fn assert_review_answered(serve: &Serve, uid: &str, within: Duration) {
    let started = Instant::now();
    let answer = tokio::time::timeout(within, serve.validate(&review(uid)))
        .await
        .unwrap_or_else(|_| panic!("review {uid} not answered within {within:?}"));
    assert_denied(uid, &answer, &["127.0.0.1:1/shop/app"]);
    eprintln!("review {uid} answered in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_thousand_idle_http2_connections_neither_grow_the_server_nor_keep_reviews_out() {
    let _serial = SERIAL.lock().await;
    const CONNECTIONS: usize = 8_000;
    const LIMIT_MIB: f64 = 150.0;
    raise_fd_limit(CONNECTIONS as u64 + 1_000);
    let policies = PolicyDir::with(POLICY, "enforce");
    // The defaults, as deployed.
    let serve = Serve::start(policies.path(), &[]).await;
    assert_review_answered(&serve, "before", Duration::from_secs(20)).await;
    let before = serve.peak_rss_mib();

    let connector = connector(&serve.ca_pem, b"h2");
    let started = Instant::now();
    let mut held = Vec::with_capacity(CONNECTIONS);
    {
        let mut opening = futures::stream::iter(0..CONNECTIONS)
            .map(|_| idle_h2(&serve, &connector))
            .buffer_unordered(64);
        while let Some(conn) = opening.next().await {
            held.push(conn);
        }
    }
    eprintln!(
        "{CONNECTIONS} idle HTTP/2 connections opened in {:?}",
        started.elapsed()
    );
    // While they are open: a review over a new connection is answered.
    assert_review_answered(&serve, "during", Duration::from_secs(20)).await;
    let peak = serve.peak_rss_mib();
    // Evicted connections get a short goodbye; then at most the default limit is open.
    let metrics = serve
        .metrics_until("at most 1024 connections open", |m| {
            sample(m, "custody_connections_open") <= 1024.0
        })
        .await;
    let evicted = sample(
        &metrics,
        "custody_connections_closed_total{reason=\"evicted\"}",
    );
    eprintln!(
        "peak RSS: {:.1} MiB before, {:.1} MiB with {CONNECTIONS} idle connections \
         ({evicted} evicted)",
        before, peak
    );
    assert!(
        evicted >= (CONNECTIONS - 1024) as f64,
        "only {evicted} connections evicted"
    );
    assert!(
        peak < LIMIT_MIB,
        "peak RSS {peak:.1} MiB with {CONNECTIONS} idle HTTP/2 connections (bound {LIMIT_MIB} MiB)"
    );
    drop(held);
}

/// Sends an HTTP/1.1 request head for a `length`-byte body and `sent` of it, then stalls.
async fn stalled_h1_body(serve: &Serve, sent: &[u8], length: usize) -> TlsStream<TcpStream> {
    let mut conn = tls(serve, &connector(&serve.ca_pem, b"http/1.1")).await;
    let head = format!(
        "POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.expect("head");
    conn.write_all(sent).await.expect("part of the body");
    conn.flush().await.expect("flush");
    conn
}

/// Reads an HTTP/1.1 response up to the end of the connection (bounded): its text.
async fn read_to_close(conn: &mut TlsStream<TcpStream>, within: Duration) -> String {
    let mut all = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&all).into_owned();
    assert!(
        read.is_ok(),
        "the connection was still open after {within:?}; read so far: {text}"
    );
    text
}

#[tokio::test]
async fn a_slow_request_body_gets_a_timeout_answer_and_its_connection_is_not_held() {
    let _serial = SERIAL.lock().await;
    let policies = PolicyDir::with(POLICY, "enforce");
    let serve = Serve::start(policies.path(), &["--request-body-timeout", "1s"]).await;

    // HTTP/1.1: 408 with a denial review, then the server closes the connection.
    let started = Instant::now();
    let mut conn = stalled_h1_body(&serve, b"{\"apiVersion\":", 4096).await;
    let text = read_to_close(&mut conn, Duration::from_secs(5)).await;
    let took = started.elapsed();
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    assert!(text.contains("\"allowed\":false"), "{text}");
    assert!(text.contains("not received within 1.0s"), "{text}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "answered and closed after {took:?} with a 1s body timeout"
    );

    // HTTP/2 (reqwest negotiates h2): the body stream stalls after one chunk.
    let stalled = futures::stream::once(async {
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"{\"apiVersion\":"))
    })
    .chain(futures::stream::pending());
    let started = Instant::now();
    let resp = serve
        .http
        .post(format!("{}/validate", serve.base))
        .header("Content-Type", "application/json")
        .body(reqwest::Body::wrap_stream(stalled))
        .send()
        .await
        .expect("an answer to a stalled body");
    let took = started.elapsed();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 408);
    let answer: Value = resp.json().await.expect("JSON");
    assert_eq!(answer["response"]["allowed"], false, "{answer}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "answered after {took:?} with a 1s body timeout"
    );

    // A body that arrives in time is still reviewed.
    assert_review_answered(&serve, "in-time", Duration::from_secs(20)).await;
    serve
        .metrics_until("the timeouts counted", |m| {
            sample(
                m,
                "custody_reviews_total{endpoint=\"validate\",outcome=\"error\"}",
            ) >= 2.0
        })
        .await;
}

use futures::StreamExt as _;

#[tokio::test]
async fn connections_idle_past_the_idle_timeout_are_closed() {
    let _serial = SERIAL.lock().await;
    let policies = PolicyDir::with(POLICY, "enforce");
    let serve = Serve::start(policies.path(), &["--idle-timeout", "2s"]).await;

    // HTTP/2: preface only, never a request.
    let h2 = idle_h2(&serve, &connector(&serve.ca_pem, b"h2")).await;
    let h2_opened = Instant::now();
    // HTTP/1.1: one request answered, then the keep-alive connection sits idle.
    let mut h1 = tls(&serve, &connector(&serve.ca_pem, b"http/1.1")).await;
    h1.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("request");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).ends_with("ok\n") {
        let n = h1.read(&mut buf).await.expect("response");
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
    }
    let h1_answered = Instant::now();

    let (h2_closed, h1_closed) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(10), closed_at(h2)),
        tokio::time::timeout(Duration::from_secs(10), closed_at(h1)),
    );
    let h2_idle =
        h2_closed.expect("the idle HTTP/2 connection was not closed within 10s") - h2_opened;
    let h1_idle =
        h1_closed.expect("the idle HTTP/1.1 connection was not closed within 10s") - h1_answered;
    eprintln!("closed after {h2_idle:?} (HTTP/2) and {h1_idle:?} (HTTP/1.1) idle");
    for (what, idle) in [("HTTP/2", h2_idle), ("HTTP/1.1", h1_idle)] {
        assert!(
            idle >= Duration::from_millis(1800) && idle < Duration::from_secs(5),
            "{what}: closed after {idle:?} idle with a 2s idle timeout"
        );
    }
    serve
        .metrics_until("idle closes counted", |m| {
            sample(
                m,
                "custody_connections_closed_total{reason=\"idle-timeout\"}",
            ) >= 1.0
        })
        .await;
}

#[tokio::test]
async fn at_the_connection_limit_idle_connections_give_way_and_busy_ones_make_newcomers_wait() {
    let _serial = SERIAL.lock().await;
    let policies = PolicyDir::with(POLICY, "enforce");
    let serve = Serve::start(
        policies.path(),
        &["--max-connections", "4", "--request-body-timeout", "3s"],
    )
    .await;
    let h2 = connector(&serve.ca_pem, b"h2");

    // Four idle connections fill the limit; a review still gets in, and the oldest
    // idle connection is the one closed to make room.
    let oldest = idle_h2(&serve, &h2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut younger = Vec::new();
    for _ in 0..3 {
        younger.push(idle_h2(&serve, &h2).await);
    }
    assert_review_answered(&serve, "full", Duration::from_secs(20)).await;
    assert!(
        closes_within(oldest, Duration::from_secs(3)).await,
        "the longest-idle connection was not closed"
    );

    // Four connections each in the middle of a request (a body still arriving): none
    // is evicted, and a newcomer waits until one of them is answered (408 after 3s).
    drop(younger);
    let mut busy = Vec::new();
    for _ in 0..4 {
        busy.push(stalled_h1_body(&serve, b"{", 100).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = Instant::now();
    assert_review_answered(&serve, "after-busy", Duration::from_secs(20)).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "a newcomer got in after {waited:?} while every connection was busy"
    );
    for mut conn in busy {
        let text = read_to_close(&mut conn, Duration::from_secs(10)).await;
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    }
}
