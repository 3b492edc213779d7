//! A Kubernetes API server stand-in for tests of code that talks to the API: a kube
//! [`Client`](kube::Client) whose transport hands every request to a function and returns
//! its answer, recording what was asked. There is no kube-apiserver binary on the machines
//! custody is tested on; this is how the watchers, the background scan and `custody report
//! --kubernetes` are exercised with objects shaped as the apiserver serves them.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::Frame;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

/// One request the fake API server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `GET`, `POST`, `PATCH`…
    pub method: String,
    /// Path and query, e.g. `/api/v1/pods?watch=true&…`.
    pub uri: String,
    /// The request body as text.
    pub body: String,
}

/// What the fake API server answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A status and a JSON body (for a watch: JSON lines, one event each).
    Json(u16, String),
    /// A 200 response with this text whose body then stays open: a watch that has sent
    /// these events (JSON lines; empty for none) and waits for more.
    Open(String),
}

impl Answer {
    /// A JSON answer from a value.
    pub fn json(status: u16, body: &serde_json::Value) -> Answer {
        Answer::Json(status, body.to_string())
    }

    /// The apiserver's 404 `Status` object.
    pub fn not_found(message: &str) -> Answer {
        Answer::json(
            404,
            &serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Failure", "message": message, "reason": "NotFound", "code": 404}),
        )
    }
}

type Handler = dyn Fn(&Seen) -> Answer + Send + Sync;

/// The fake API server: `answer` decides each response; every request is recorded.
#[derive(Clone)]
pub struct FakeApiserver {
    answer: Arc<Handler>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeApiserver {
    /// A server answering with `answer`.
    pub fn new(answer: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> FakeApiserver {
        FakeApiserver {
            answer: Arc::new(answer),
            seen: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The requests received so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// A kube client talking to this server, with `default_namespace`.
    pub fn client(&self, default_namespace: &str) -> kube::Client {
        let server = self.clone();
        let svc = tower::service_fn(move |req: Request<kube::client::Body>| {
            let server = server.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let seen = Seen {
                    method: parts.method.to_string(),
                    uri: parts.uri.to_string(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                };
                let answer = (server.answer)(&seen);
                if let Ok(mut all) = server.seen.lock() {
                    all.push(seen);
                }
                Ok::<_, Infallible>(respond(answer))
            }
        });
        kube::Client::new(svc, default_namespace.to_owned())
    }
}

fn respond(answer: Answer) -> Response<UnsyncBoxBody<Bytes, Infallible>> {
    let (status, body) = match answer {
        Answer::Json(code, text) => (
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            StreamBody::new(futures::stream::iter([Ok::<_, Infallible>(Frame::data(
                Bytes::from(text),
            ))]))
            .boxed_unsync(),
        ),
        Answer::Open(text) => {
            use futures::StreamExt as _;
            let sent = futures::stream::iter(
                (!text.is_empty()).then(|| Ok::<_, Infallible>(Frame::data(Bytes::from(text)))),
            );
            (
                StatusCode::OK,
                StreamBody::new(sent.chain(futures::stream::pending())).boxed_unsync(),
            )
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
