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
use kube_core::Status;
use kube_core::admission::AdmissionResponse;
use kube_core::response::StatusSummary;

use super::response::{encode, refuse};

/// The `request.uid` of an AdmissionReview body, or `""` when it cannot be read.
pub fn request_uid(body: &[u8]) -> String {
    super::review::salvage_uid(body)
}

/// A denial with an HTTP-style status `code` and `message`, answering `body`'s uid.
pub fn deny(body: &[u8], code: u16, message: &str) -> Bytes {
    deny_uid(&request_uid(body), code, message)
}

/// A denial for a known `uid`.
pub fn deny_uid(uid: &str, code: u16, message: &str) -> Bytes {
    refuse(
        uid,
        Status {
            status: Some(StatusSummary::Failure),
            code,
            message: message.to_owned(),
            ..Status::default()
        },
    )
}

/// An allow carrying one warning (fail-open), answering `body`'s uid.
pub fn allow_with_warning(body: &[u8], warning: &str) -> Bytes {
    // kube's response has two constructors, from a parsed request or `invalid`; there is
    // no parsed request here, so the invalid one is turned into an admission.
    let mut response = AdmissionResponse::invalid("");
    response.uid = request_uid(body);
    response.allowed = true;
    response.result = Status::default();
    response.warnings = Some(vec![warning.to_owned()]);
    encode(&response.into_review())
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::Value;

    fn parse(b: &Bytes) -> Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn copies_uid_when_readable() {
        let body = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"abc-1"}}"#;
        let out = parse(&deny(body, 400, "bad"));
        assert_eq!(out["response"]["uid"], "abc-1");
        assert_eq!(out["response"]["allowed"], false);
        assert_eq!(
            out["response"]["status"],
            serde_json::json!({"status": "Failure", "code": 400, "message": "bad"})
        );
        assert_eq!(out["kind"], "AdmissionReview");
        assert_eq!(out["apiVersion"], "admission.k8s.io/v1");
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
        assert_eq!(
            out["response"],
            serde_json::json!({"uid": "u", "allowed": true, "warnings": ["late"]})
        );
    }
}
