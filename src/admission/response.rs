//! Writing the AdmissionReview response the apiserver expects.

use base64::Engine as _;
use serde_json::{Value, json};

use super::decision::Decision;
use super::review::ADMISSION_API_VERSION;

/// The response to a review that custody decided.
pub fn respond(uid: &str, decision: &Decision) -> Value {
    let mut response = json!({ "uid": uid, "allowed": decision.allowed });
    if let Some(message) = &decision.message {
        response["status"] = json!({ "code": 403, "reason": "Forbidden", "message": message });
    }
    if !decision.warnings.is_empty() {
        response["warnings"] = json!(decision.warnings);
    }
    if !decision.audit_annotations.is_empty() {
        response["auditAnnotations"] = json!(decision.audit_annotations);
    }
    if !decision.patch.is_empty() {
        let patch = Value::Array(decision.patch.clone()).to_string();
        response["patchType"] = json!("JSONPatch");
        response["patch"] = json!(base64::engine::general_purpose::STANDARD.encode(patch));
    }
    wrap(response)
}

/// Admits without checking (operations and kinds custody does not judge).
pub fn allow(uid: &str) -> Value {
    wrap(json!({ "uid": uid, "allowed": true }))
}

/// Refuses a review custody could not read. The apiserver then applies the webhook's
/// failure policy only if the uid is missing; otherwise this denial stands.
pub fn reject_unreadable(uid: &str, reason: &str) -> Value {
    wrap(json!({
        "uid": uid,
        "allowed": false,
        "status": {
            "code": 400,
            "reason": "BadRequest",
            "message": format!("custody could not read the request: {reason}")
        }
    }))
}

fn wrap(response: Value) -> Value {
    json!({ "apiVersion": ADMISSION_API_VERSION, "kind": "AdmissionReview", "response": response })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denial_carries_status_warnings_and_patch_encoding() {
        let d = Decision {
            allowed: false,
            message: Some("no".into()),
            warnings: vec!["w".into()],
            ..Decision::default()
        };
        let r = respond("u", &d);
        assert_eq!(r["kind"], "AdmissionReview");
        assert_eq!(r["response"]["uid"], "u");
        assert_eq!(r["response"]["allowed"], false);
        assert_eq!(r["response"]["status"]["code"], 403);
        assert_eq!(r["response"]["warnings"][0], "w");
        assert!(r["response"].get("patch").is_none());

        let p = Decision {
            allowed: true,
            patch: vec![json!({"op": "replace", "path": "/x", "value": "y"})],
            ..Decision::default()
        };
        let r = respond("u", &p);
        let raw = base64::engine::general_purpose::STANDARD
            .decode(r["response"]["patch"].as_str().unwrap())
            .unwrap();
        let ops: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(ops[0]["path"], "/x");
        assert_eq!(r["response"]["patchType"], "JSONPatch");
    }

    #[test]
    fn unreadable_reviews_get_a_clear_refusal() {
        let r = reject_unreadable("", "not JSON");
        assert_eq!(r["response"]["allowed"], false);
        assert_eq!(r["response"]["status"]["code"], 400);
        assert!(
            r["response"]["status"]["message"]
                .as_str()
                .unwrap()
                .contains("not JSON")
        );
    }
}
