//! Parsing an `admission.k8s.io/v1` AdmissionReview into what custody needs to decide.
//!
//! Parsing is tolerant where the apiserver's data may vary (an annotation value that is not
//! a string, a missing `userInfo`) and strict where a wrong guess would be unsafe (no
//! `request`, no `uid`, an object that is not a JSON object).

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The API version custody answers in.
pub const ADMISSION_API_VERSION: &str = "admission.k8s.io/v1";

/// Why a review could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    /// The body is not JSON.
    #[error("the AdmissionReview is not valid JSON: {0}")]
    NotJson(String),
    /// The body is JSON but not an AdmissionReview we can read.
    #[error("the AdmissionReview is malformed: {0}")]
    Malformed(String),
}

/// What the apiserver asked, reduced to what a decision needs.
#[derive(Debug, Clone, PartialEq)]
pub struct AdmissionRequest {
    /// The request uid, echoed in the response.
    pub uid: String,
    /// The `apiVersion` of the review (echoed back).
    pub api_version: String,
    /// Kind of the object (`Pod`, `Deployment`, …).
    pub kind: String,
    /// API group of the object (`""`, `apps`, `batch`).
    pub group: String,
    /// Subresource, e.g. `ephemeralcontainers`.
    pub sub_resource: Option<String>,
    /// Namespace of the object.
    pub namespace: String,
    /// Name of the object (may be empty for generateName).
    pub name: String,
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    pub operation: String,
    /// The requesting user.
    pub user: String,
    /// The requesting user's groups.
    pub groups: Vec<String>,
    /// Whether this is a dry run.
    pub dry_run: bool,
    /// The object being admitted (`null` for DELETE).
    pub object: Value,
    /// The previous object (UPDATE only).
    pub old_object: Value,
}

impl AdmissionRequest {
    /// The object's labels (non-string values are rendered as JSON text).
    pub fn labels(&self) -> BTreeMap<String, String> {
        string_map(self.object.pointer("/metadata/labels"))
    }

    /// The object's annotations (non-string values are rendered as JSON text).
    pub fn annotations(&self) -> BTreeMap<String, String> {
        string_map(self.object.pointer("/metadata/annotations"))
    }

    /// Name of the object, falling back to `metadata.generateName` for creations.
    pub fn display_name(&self) -> String {
        if !self.name.is_empty() {
            return self.name.clone();
        }
        let meta = |k: &str| {
            self.object
                .pointer(&format!("/metadata/{k}"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let name = meta("name");
        if name.is_empty() {
            meta("generateName")
        } else {
            name
        }
    }
}

/// Wraps a bare Kubernetes object (as `kubectl create … --dry-run=client -o json` prints
/// it) into the AdmissionReview a kube-apiserver would send for creating it, so that
/// `custody review` and the tests see exactly the webhook's input.
pub fn synthesize(object: &Value, operation: &str, namespace: &str, user: &str) -> Value {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("v1");
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let resource = format!("{}s", kind.to_ascii_lowercase());
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.entry("namespace")
            .or_insert_with(|| Value::from(namespace));
    }
    let gvk = serde_json::json!({ "group": group, "version": version, "kind": kind });
    let gvr = serde_json::json!({ "group": group, "version": version, "resource": resource });
    let uid = crate::digest::Digest::sha256(
        format!("{operation}/{namespace}/{name}/{object}").as_bytes(),
    );
    let uid = &uid.hex()[..32];
    serde_json::json!({
        "apiVersion": ADMISSION_API_VERSION,
        "kind": "AdmissionReview",
        "request": {
            "uid": format!("{}-{}-{}-{}-{}", &uid[..8], &uid[8..12], &uid[12..16], &uid[16..20], &uid[20..32]),
            "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
            "name": name, "namespace": namespace, "operation": operation,
            "userInfo": { "username": user, "groups": ["system:authenticated"] },
            "object": object, "oldObject": null, "dryRun": false,
            "options": { "kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1" }
        }
    })
}

/// The `request.uid` of a body that may not parse as a review, or `""` when it cannot be
/// read: the best answer to a review that failed to parse. Reads only that field.
pub fn salvage_uid(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Review {
        request: Option<Request>,
    }
    #[derive(serde::Deserialize)]
    struct Request {
        uid: Option<Value>,
    }
    serde_json::from_slice::<Review>(body)
        .ok()
        .and_then(|r| r.request)
        .and_then(|r| r.uid)
        .and_then(|u| u.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Parses an AdmissionReview request body.
pub fn parse(body: &[u8]) -> Result<AdmissionRequest, ReviewError> {
    let mut doc: Value =
        serde_json::from_slice(body).map_err(|e| ReviewError::NotJson(e.to_string()))?;
    // The object and old object are moved out of the document (not copied): the
    // rest is read in place.
    let (object, old_object) = match doc.pointer_mut("/request").and_then(Value::as_object_mut) {
        Some(req) => (
            req.remove("object").unwrap_or(Value::Null),
            req.remove("oldObject").unwrap_or(Value::Null),
        ),
        None => (Value::Null, Value::Null),
    };
    let top = doc
        .as_object()
        .ok_or_else(|| ReviewError::Malformed("the body is not a JSON object".into()))?;
    let kind = top.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind != "AdmissionReview" {
        return Err(ReviewError::Malformed(format!(
            "kind is {kind:?}, expected \"AdmissionReview\""
        )));
    }
    let api_version = top.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if api_version != ADMISSION_API_VERSION {
        return Err(ReviewError::Malformed(format!(
            "apiVersion is {api_version:?}, only {ADMISSION_API_VERSION} is served"
        )));
    }
    let req = top
        .get("request")
        .and_then(Value::as_object)
        .ok_or_else(|| ReviewError::Malformed("it has no request".into()))?;
    let uid = str_field(req, "uid");
    if uid.is_empty() {
        return Err(ReviewError::Malformed("request.uid is missing".into()));
    }
    let gvk = req.get("kind").and_then(Value::as_object);
    let kind = gvk.map(|k| str_field(k, "kind")).unwrap_or_default();
    let operation = str_field(req, "operation");
    if kind.is_empty() || operation.is_empty() {
        return Err(ReviewError::Malformed(
            "request.kind.kind or request.operation is missing".into(),
        ));
    }
    for (field, v) in [("object", &object), ("oldObject", &old_object)] {
        if !(v.is_null() || v.is_object()) {
            return Err(ReviewError::Malformed(format!(
                "request.{field} is not an object"
            )));
        }
    }
    let user_info = req.get("userInfo").and_then(Value::as_object);
    let groups = user_info
        .and_then(|u| u.get("groups"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(AdmissionRequest {
        uid,
        api_version: api_version.to_owned(),
        kind,
        group: gvk.map(|k| str_field(k, "group")).unwrap_or_default(),
        sub_resource: req
            .get("subResource")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        namespace: str_field(req, "namespace"),
        name: str_field(req, "name"),
        operation,
        user: user_info
            .map(|u| str_field(u, "username"))
            .unwrap_or_default(),
        groups,
        dry_run: req.get("dryRun").and_then(Value::as_bool).unwrap_or(false),
        object,
        old_object,
    })
}

fn str_field(map: &Map<String, Value>, key: &str) -> String {
    map.get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    let Some(Value::Object(map)) = v else {
        return BTreeMap::new();
    };
    map.iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_review() -> Value {
        serde_json::json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "u-1",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "namespace": "team-a",
                "operation": "CREATE",
                "userInfo": {"username": "alice", "groups": ["dev"]},
                "object": {"metadata": {"generateName": "web-", "labels": {"app": "web"},
                           "annotations": {"n": 100}}, "spec": {}},
                "dryRun": true
            }
        })
    }

    #[test]
    fn reads_the_fields_a_decision_needs() {
        let r = parse(pod_review().to_string().as_bytes()).unwrap();
        assert_eq!(r.uid, "u-1");
        assert_eq!(r.kind, "Pod");
        assert_eq!(r.user, "alice");
        assert_eq!(r.groups, vec!["dev"]);
        assert!(r.dry_run);
        assert_eq!(r.display_name(), "web-");
        assert_eq!(r.labels()["app"], "web");
        assert_eq!(r.annotations()["n"], "100");
    }

    #[test]
    fn rejects_what_it_cannot_read_with_a_reason() {
        assert!(matches!(parse(b"{not json"), Err(ReviewError::NotJson(_))));
        assert!(matches!(parse(b"[]"), Err(ReviewError::Malformed(_))));
        let mut v = pod_review();
        v["apiVersion"] = "admission.k8s.io/v1beta1".into();
        let e = parse(v.to_string().as_bytes()).unwrap_err();
        assert!(e.to_string().contains("v1beta1"), "{e}");
        let mut v = pod_review();
        v["request"]["uid"] = Value::Null;
        assert!(
            parse(v.to_string().as_bytes())
                .unwrap_err()
                .to_string()
                .contains("uid")
        );
        let mut v = pod_review();
        v["request"]["object"] = "pod".into();
        assert!(parse(v.to_string().as_bytes()).is_err());
    }

    #[test]
    fn salvages_the_uid_of_a_review_it_cannot_parse() {
        assert_eq!(salvage_uid(br#"{"request":{"uid":"abc","kind":7}}"#), "abc");
        assert_eq!(salvage_uid(b"garbage"), "");
    }
}
