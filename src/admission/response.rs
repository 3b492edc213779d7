//! Writing the AdmissionReview response the apiserver expects, with kube's
//! `AdmissionResponse` (`from(&request)`, `deny`, `with_patch`, `into_review`).
//!
//! [`encode`] writes kube's response in the apiserver's JSON form, with two differences
//! from kube-core 5's own `Serialize`: the patch is base64 text, as the API's JSON form of
//! `[]byte` requires (kube-core writes the bytes as an array of numbers; kube-rs/kube
//! issue #1781), and an admission carries no empty `status` object.

use base64::Engine as _;
use bytes::Bytes;
use kube_core::admission::{AdmissionResponse, AdmissionReview};
use kube_core::{DynamicObject, Status};
use serde::Serialize;
use std::collections::BTreeMap;

use super::decision::Decision;
use super::review::AdmissionRequest;

/// The response to a review that custody decided.
pub fn respond(req: &AdmissionRequest, decision: &Decision) -> Bytes {
    let mut response = AdmissionResponse::from(req);
    if let Some(message) = &decision.message {
        response = response.deny(message);
        response.result.code = 403;
        response.result.reason = "Forbidden".into();
    }
    let mut warnings = decision.warnings.clone();
    response.audit_annotations = decision
        .audit_annotations
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !decision.patch.0.is_empty() {
        match response.clone().with_patch(decision.patch.clone()) {
            Ok(patched) => response = patched,
            Err(e) => warnings.push(format!("custody did not pin the images: {e}")),
        }
    }
    if !warnings.is_empty() {
        response.warnings = Some(warnings);
    }
    encode(&response.into_review())
}

/// Admits without checking (operations and kinds custody does not judge).
pub fn allow(req: &AdmissionRequest) -> Bytes {
    encode(&AdmissionResponse::from(req).into_review())
}

/// Refuses a review custody could not read. The apiserver then applies the webhook's
/// failure policy only if the uid is missing; otherwise this denial stands.
pub fn reject_unreadable(uid: &str, reason: &str) -> Bytes {
    let message = format!("custody could not read the request: {reason}");
    refuse(
        uid,
        Status {
            code: 400,
            reason: "BadRequest".into(),
            message,
            ..Status::default()
        },
    )
}

/// A refusal of the review with `uid` (possibly `""`), carrying `status`.
pub(crate) fn refuse(uid: &str, status: Status) -> Bytes {
    let mut response = AdmissionResponse::invalid("");
    response.uid = uid.to_owned();
    response.result = status;
    encode(&response.into_review())
}

/// The response part of [`encode`]'s output, borrowed from kube's `AdmissionResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    audit_annotations: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<&'a [String]>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireReview<'a> {
    api_version: &'a str,
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<Wire<'a>>,
}

/// kube's AdmissionReview response as the JSON bytes the apiserver reads.
pub fn encode(review: &AdmissionReview<DynamicObject>) -> Bytes {
    let response = review.response.as_ref().map(|r| Wire {
        uid: &r.uid,
        allowed: r.allowed,
        status: Some(&r.result).filter(|s| **s != Status::default()),
        patch: r
            .patch
            .as_ref()
            .map(|p| base64::engine::general_purpose::STANDARD.encode(p)),
        // `with_patch` is the only way a patch is set, and it sets JSONPatch.
        patch_type: r.patch.as_ref().map(|_| "JSONPatch"),
        audit_annotations: r
            .audit_annotations
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        warnings: r.warnings.as_deref(),
    });
    let wire = WireReview {
        api_version: &review.types.api_version,
        kind: &review.types.kind,
        response,
    };
    Bytes::from(serde_json::to_vec(&wire).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn request() -> AdmissionRequest {
        let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "operation": "CREATE", "userInfo": {}}});
        super::super::parse(review.to_string().as_bytes()).unwrap()
    }

    fn read(b: &Bytes) -> Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn denial_carries_status_warnings_and_patch_encoding() {
        let d = Decision {
            allowed: false,
            message: Some("no".into()),
            warnings: vec!["w".into()],
            audit_annotations: [("policy-p".to_owned(), "x".to_owned())].into(),
            ..Decision::default()
        };
        let r = read(&respond(&request(), &d));
        assert_eq!(r["kind"], "AdmissionReview");
        assert_eq!(r["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(r["response"]["uid"], "u");
        assert_eq!(r["response"]["allowed"], false);
        assert_eq!(
            r["response"]["status"],
            json!({"code": 403, "reason": "Forbidden", "message": "no"})
        );
        assert_eq!(r["response"]["warnings"][0], "w");
        assert_eq!(r["response"]["auditAnnotations"]["policy-p"], "x");
        assert!(r["response"].get("patch").is_none());

        let op = json!([{"op": "replace", "path": "/x", "value": "y"}]);
        let p = Decision {
            allowed: true,
            patch: serde_json::from_value(op.clone()).unwrap(),
            ..Decision::default()
        };
        let r = read(&respond(&request(), &p));
        let raw = base64::engine::general_purpose::STANDARD
            .decode(r["response"]["patch"].as_str().unwrap())
            .unwrap();
        let ops: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(ops, op);
        assert_eq!(r["response"]["patchType"], "JSONPatch");
        // An admission is uid and allowed only.
        let r = read(&allow(&request()));
        assert_eq!(r["response"], json!({"uid": "u", "allowed": true}));
    }

    #[test]
    fn unreadable_reviews_get_a_clear_refusal() {
        let r = read(&reject_unreadable("", "not JSON"));
        assert_eq!(r["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(r["response"]["uid"], "");
        assert_eq!(r["response"]["allowed"], false);
        assert_eq!(r["response"]["status"]["code"], 400);
        assert_eq!(r["response"]["status"]["reason"], "BadRequest");
        assert!(r["response"]["status"].get("status").is_none());
        assert!(
            r["response"]["status"]["message"]
                .as_str()
                .unwrap()
                .contains("not JSON")
        );
    }
}
