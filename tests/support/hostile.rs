//! A scriptable HTTP/1.1 server for registry error paths: slow drips, lying
//! `Content-Length`, wrong bytes, redirect loops, 429s, huge advertised sizes. Every
//! request is recorded so tests can prove what was (not) downloaded.

use custody::digest::Digest;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A response body.
pub enum Body {
    /// Exactly these bytes, honest `Content-Length`.
    Bytes(Vec<u8>),
    /// These bytes, one byte every `every` (a stalling registry).
    Drip(Vec<u8>, Duration),
    /// Claims `content_length` but sends `data` and closes (a lying registry).
    Lying { content_length: u64, data: Vec<u8> },
    /// No `Content-Length`; sends `chunk` repeatedly until the client hangs up.
    Endless(Vec<u8>),
}

/// A scripted response.
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

impl Reply {
    /// A 200 with `body` and a content type.
    pub fn ok(content_type: &str, body: Vec<u8>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: Body::Bytes(body),
        }
    }

    /// An empty response with `status`.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
        }
    }

    /// Adds a header.
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
}

/// A received request.
pub struct Request {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The raw request head (request line and headers).
    pub head: String,
}

impl Request {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// The running server.
pub struct Hostile {
    /// `127.0.0.1:PORT`.
    pub host: String,
    log: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Hostile {
    /// Serves `handler(request)` until dropped.
    pub async fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let host = listener.local_addr().expect("addr").to_string();
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log2 = log.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                let log = log2.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut tmp = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut tmp).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&tmp[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let mut parts = head.split_whitespace();
                    let method = parts.next().unwrap_or("").to_owned();
                    let path = parts.next().unwrap_or("").to_owned();
                    log.lock().unwrap().push(format!("{method} {path}"));
                    let req = Request {
                        method: method.clone(),
                        path,
                        head,
                    };
                    let reply = handler(&req);
                    let _ = write_reply(&mut sock, &method, reply).await;
                });
            }
        });
        Hostile { host, log, task }
    }

    /// Every request so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// How many requests contained `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.contains(needle))
            .count()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn write_reply(
    sock: &mut tokio::net::TcpStream,
    method: &str,
    reply: Reply,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", reply.status);
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    match &reply.body {
        Body::Bytes(b) | Body::Drip(b, _) => {
            head.push_str(&format!("Content-Length: {}\r\n", b.len()))
        }
        Body::Lying { content_length, .. } => {
            head.push_str(&format!("Content-Length: {content_length}\r\n"))
        }
        Body::Endless(_) => {}
    }
    head.push_str("\r\n");
    sock.write_all(head.as_bytes()).await?;
    if method == "HEAD" {
        return sock.shutdown().await;
    }
    match reply.body {
        Body::Bytes(b) | Body::Lying { data: b, .. } => sock.write_all(&b).await?,
        Body::Drip(b, every) => {
            for byte in b {
                sock.write_all(&[byte]).await?;
                sock.flush().await?;
                tokio::time::sleep(every).await;
            }
        }
        Body::Endless(chunk) => loop {
            sock.write_all(&chunk).await?;
        },
    }
    sock.shutdown().await
}

/// An image `app:v1` with one referrer carrying one DSSE blob, served from memory.
pub struct Fixture {
    /// The image manifest.
    pub subject_manifest: Vec<u8>,
    /// Its digest.
    pub subject: Digest,
    /// The referrer manifest.
    pub referrer: Vec<u8>,
    /// Its digest.
    pub referrer_digest: Digest,
    /// The referrers listing.
    pub listing: Vec<u8>,
    /// The envelope bytes.
    pub blob: Vec<u8>,
    /// Their digest.
    pub blob_digest: Digest,
}

impl Fixture {
    /// Builds the fixture; `advertised_size` overrides the blob size in the descriptor.
    pub fn new(advertised_size: Option<u64>) -> Fixture {
        let subject_manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::sha256(b"c").to_string(), "size": 1},
            "layers": []
        }))
        .unwrap();
        let subject = Digest::sha256(&subject_manifest);
        let blob =
            br#"{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}"#
                .to_vec();
        let blob_digest = Digest::sha256(&blob);
        let size = advertised_size.unwrap_or(blob.len() as u64);
        let referrer = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.dsse.envelope.v1+json",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": Digest::sha256(b"{}").to_string(), "size": 2},
            "layers": [{"mediaType": "application/vnd.dsse.envelope.v1+json", "digest": blob_digest.to_string(), "size": size}],
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject.to_string(), "size": subject_manifest.len()}
        }))
        .unwrap();
        let referrer_digest = Digest::sha256(&referrer);
        let listing = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": referrer_digest.to_string(),
                           "size": referrer.len(), "artifactType": "application/vnd.dsse.envelope.v1+json"}]
        }))
        .unwrap();
        Fixture {
            subject_manifest,
            subject,
            referrer,
            referrer_digest,
            listing,
            blob,
            blob_digest,
        }
    }

    /// Serves the fixture; `blob(n)` answers the n-th (0-based) blob request, and
    /// `listing(n)` the n-th referrers request (None: the honest listing).
    pub async fn serve(
        self,
        blob: impl Fn(usize, &Fixture) -> Reply + Send + Sync + 'static,
        listing: impl Fn(usize, &Fixture) -> Option<Reply> + Send + Sync + 'static,
    ) -> (Hostile, Digest, Digest) {
        let fx = Arc::new(self);
        let (subject, blob_digest) = (fx.subject.clone(), fx.blob_digest.clone());
        let blob_n = Arc::new(Mutex::new(0usize));
        let list_n = Arc::new(Mutex::new(0usize));
        let server = Hostile::start(move |req: &Request| {
            let (method, path) = (req.method.as_str(), req.path.as_str());
            let fx = &*fx;
            if path == "/v2/" {
                return Reply::ok("application/json", b"{}".to_vec());
            }
            if path.starts_with("/v2/app/referrers/") {
                let n = {
                    let mut g = list_n.lock().unwrap();
                    *g += 1;
                    *g - 1
                };
                return listing(n, fx).unwrap_or_else(|| {
                    Reply::ok(
                        "application/vnd.oci.image.index.v1+json",
                        fx.listing.clone(),
                    )
                });
            }
            if path == "/v2/app/manifests/v1" || path == format!("/v2/app/manifests/{}", fx.subject)
            {
                let r = Reply::ok(
                    "application/vnd.oci.image.manifest.v1+json",
                    fx.subject_manifest.clone(),
                )
                .header("Docker-Content-Digest", &fx.subject.to_string());
                return r;
            }
            if path == format!("/v2/app/manifests/{}", fx.referrer_digest) {
                return Reply::ok(
                    "application/vnd.oci.image.manifest.v1+json",
                    fx.referrer.clone(),
                );
            }
            if path.starts_with("/v2/app/blobs/") && method == "GET" {
                let n = {
                    let mut g = blob_n.lock().unwrap();
                    *g += 1;
                    *g - 1
                };
                return blob(n, fx);
            }
            Reply::status(404)
        })
        .await;
        (server, subject, blob_digest)
    }
}
