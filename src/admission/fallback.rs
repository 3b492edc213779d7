//! Last-resort AdmissionReview responses, for the server to send when the reviewer
//! could not answer: the body was too large, the reviewer overran its bound, or it
//! panicked ([`super::response`] builds every ordinary response). They are written here,
//! with the rest of the AdmissionReview wire format; `src/server` only sends them.
//!
//! The `uid` is copied from the request when the body is JSON with a string
//! `request.uid`; otherwise it is `""` (the apiserver then reports a webhook error and
//! applies the webhook's `failurePolicy`, which is the best possible outcome for a
//! request we cannot read).

use bytes::Bytes;
use serde_json::{Value, json};

/// The `request.uid` of an AdmissionReview body, or `""` when it cannot be read.
pub fn request_uid(body: &[u8]) -> String {
    super::review::salvage_uid(body)
}

fn envelope(response: Value) -> Bytes {
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": response,
    });
    Bytes::from(serde_json::to_vec(&review).unwrap_or_default())
}

/// A denial with an HTTP-style status `code` and `message`, answering `body`'s uid.
pub fn deny(body: &[u8], code: u16, message: &str) -> Bytes {
    deny_uid(&request_uid(body), code, message)
}

/// A denial for a known `uid`.
pub fn deny_uid(uid: &str, code: u16, message: &str) -> Bytes {
    envelope(json!({
        "uid": uid,
        "allowed": false,
        "status": { "status": "Failure", "code": code, "message": message },
    }))
}

/// An allow carrying one warning (fail-open), answering `body`'s uid.
pub fn allow_with_warning(body: &[u8], warning: &str) -> Bytes {
    envelope(json!({
        "uid": request_uid(body),
        "allowed": true,
        "warnings": [warning],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &Bytes) -> Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn copies_uid_when_readable() {
        let body = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"abc-1"}}"#;
        let out = parse(&deny(body, 400, "bad"));
        assert_eq!(out["response"]["uid"], "abc-1");
        assert_eq!(out["response"]["allowed"], false);
        assert_eq!(out["response"]["status"]["code"], 400);
        assert_eq!(out["kind"], "AdmissionReview");
    }

    #[test]
    fn unknown_uid_for_non_json_and_odd_shapes() {
        for body in [
            &b"\xff\xfe not json"[..],
            b"[]",
            br#"{"request":{"uid":7}}"#,
            b"",
        ] {
            let out = parse(&deny(body, 400, "bad"));
            assert_eq!(out["response"]["uid"], "");
            assert_eq!(out["response"]["allowed"], false);
        }
    }

    #[test]
    fn fail_open_allows_with_warning() {
        let out = parse(&allow_with_warning(br#"{"request":{"uid":"u"}}"#, "late"));
        assert_eq!(out["response"]["allowed"], true);
        assert_eq!(out["response"]["warnings"][0], "late");
    }
}
