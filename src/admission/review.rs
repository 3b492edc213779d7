//! Reading an `admission.k8s.io/v1` AdmissionReview with kube's own types: the request is
//! `kube_core::admission::AdmissionRequest`, the objects k8s-openapi's (the metadata an
//! `ObjectMeta`, the pod spec read with the kind's spec type).
//!
//! The review is read in one pass, but for the object's `spec`: it is kept as JSON text
//! until the request's kind says which k8s-openapi type it is, then read once. The body is
//! not parsed into `kube_core::admission::AdmissionReview`: its `#[serde(flatten)]` type
//! fields make serde buffer the whole document before reading it.
//!
//! Refused: what is not JSON, not an AdmissionReview v1, has no request or uid, or does
//! not fit kube's and k8s-openapi's types (a field of the wrong type, an unknown
//! operation, no `resource` or `userInfo`). Tolerated: label and annotation values that
//! are not strings (read as their JSON text, as a capture of kubewarden's carries one).
//! Of the metadata only what custody reads is read, in the same pass (the cost of a
//! review's parse is part of the load benchmark, docs/benchmarks.md).

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_core::admission::{META_API_VERSION_V1, META_KIND};
use kube_core::{ApiResource, DynamicResourceScope, Resource, TypeMeta};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;

pub use kube_core::admission::Operation;

/// The API version custody answers in.
pub const ADMISSION_API_VERSION: &str = META_API_VERSION_V1;

/// What the apiserver asked: kube's request type over the object custody reads.
pub type AdmissionRequest = kube_core::admission::AdmissionRequest<AdmittedObject>;

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

/// The object (or old object) of a review: its metadata, and the pod spec of the kinds
/// that make pods.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AdmittedObject {
    /// The object's metadata: name, generateName, namespace, labels and annotations.
    #[serde(default, deserialize_with = "read_meta")]
    pub metadata: ObjectMeta,
    /// `spec` as JSON text, until [`parse`] reads it with the kind's type.
    #[serde(default)]
    spec: Option<Box<RawValue>>,
    /// The pod spec, for the kinds that make pods ([`super::workload::pod_spec_pointer`]).
    #[serde(skip)]
    pub pod_spec: Option<PodSpec>,
}

impl Resource for AdmittedObject {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        dt.kind.as_str().into()
    }

    fn group(dt: &ApiResource) -> Cow<'_, str> {
        dt.group.as_str().into()
    }

    fn version(dt: &ApiResource) -> Cow<'_, str> {
        dt.version.as_str().into()
    }

    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        dt.api_version.as_str().into()
    }

    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        dt.plural.as_str().into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// `metadata` as k8s-openapi's `ObjectMeta`, with the fields custody reads (name,
/// generateName, namespace, labels, annotations) in one pass; the rest (managedFields,
/// ownerReferences, …) is skipped unread. Label and annotation values that are not
/// strings are kept as their JSON text.
fn read_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    /// A label or annotation value.
    struct Text(String);
    impl<'de> Deserialize<'de> for Text {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            Ok(Text(match Value::deserialize(d)? {
                Value::String(s) => s,
                other => other.to_string(),
            }))
        }
    }
    #[derive(Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Fields {
        name: Option<String>,
        generate_name: Option<String>,
        namespace: Option<String>,
        labels: Option<BTreeMap<String, Text>>,
        annotations: Option<BTreeMap<String, Text>>,
    }
    let text = |m: Option<BTreeMap<String, Text>>| {
        m.map(|m| m.into_iter().map(|(k, Text(v))| (k, v)).collect())
    };
    let f = Option::<Fields>::deserialize(d)?.unwrap_or_default();
    Ok(ObjectMeta {
        name: f.name,
        generate_name: f.generate_name,
        namespace: f.namespace,
        labels: text(f.labels),
        annotations: text(f.annotations),
        ..ObjectMeta::default()
    })
}

/// What custody reads of a request beyond kube's fields.
pub trait RequestExt {
    /// The namespace (`""` for cluster-scoped objects).
    fn namespace_name(&self) -> &str;
    /// The requesting user.
    fn user(&self) -> &str;
    /// The requesting user's groups.
    fn groups(&self) -> &[String];
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    fn operation_name(&self) -> &'static str;
    /// Name of the object, falling back to `metadata.generateName` for creations.
    fn display_name(&self) -> String;
    /// The object's labels.
    fn labels(&self) -> BTreeMap<String, String>;
    /// The object's annotations.
    fn annotations(&self) -> BTreeMap<String, String>;
}

impl RequestExt for AdmissionRequest {
    fn namespace_name(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }

    fn user(&self) -> &str {
        self.user_info.username.as_deref().unwrap_or("")
    }

    fn groups(&self) -> &[String] {
        self.user_info.groups.as_deref().unwrap_or_default()
    }

    fn operation_name(&self) -> &'static str {
        operation_name(&self.operation)
    }

    fn display_name(&self) -> String {
        if !self.name.is_empty() {
            return self.name.clone();
        }
        let meta = self.object.as_ref().map(|o| &o.metadata);
        let name = meta.and_then(|m| m.name.as_deref()).unwrap_or("");
        if name.is_empty() {
            meta.and_then(|m| m.generate_name.as_deref())
                .unwrap_or("")
                .to_owned()
        } else {
            name.to_owned()
        }
    }

    fn labels(&self) -> BTreeMap<String, String> {
        self.object
            .as_ref()
            .and_then(|o| o.metadata.labels.clone())
            .unwrap_or_default()
    }

    fn annotations(&self) -> BTreeMap<String, String> {
        self.object
            .as_ref()
            .and_then(|o| o.metadata.annotations.clone())
            .unwrap_or_default()
    }
}

/// The wire name of an operation.
pub fn operation_name(op: &Operation) -> &'static str {
    match op {
        Operation::Create => "CREATE",
        Operation::Update => "UPDATE",
        Operation::Delete => "DELETE",
        Operation::Connect => "CONNECT",
    }
}

/// Wraps a bare Kubernetes object (as `kubectl create … --dry-run=client -o json` prints
/// it) into the AdmissionReview a kube-apiserver would send for it, so that `custody
/// review` and the tests see exactly the webhook's input. The request is kube's type; the
/// object is passed through as given.
pub fn synthesize(object: &Value, operation: Operation, namespace: &str, user: &str) -> Value {
    use k8s_openapi::api::authentication::v1::UserInfo;
    use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
    use kube_core::admission::AdmissionReview;
    use kube_core::{DynamicObject, GroupVersionKind, GroupVersionResource};

    let text = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or("");
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("v1");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let kind = text("/kind");
    let name = text("/metadata/name");
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.entry("namespace")
            .or_insert_with(|| Value::from(namespace));
    }
    let op = operation_name(&operation);
    let uid = crate::digest::Digest::sha256(format!("{op}/{namespace}/{name}/{object}").as_bytes());
    let uid = &uid.hex()[..32];
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let gvr = GroupVersionResource::gvr(group, version, &format!("{}s", kind.to_ascii_lowercase()));
    let request = kube_core::admission::AdmissionRequest::<DynamicObject> {
        types: TypeMeta::default(),
        uid: format!(
            "{}-{}-{}-{}-{}",
            &uid[..8],
            &uid[8..12],
            &uid[12..16],
            &uid[16..20],
            &uid[20..32]
        ),
        kind: gvk.clone(),
        resource: gvr.clone(),
        sub_resource: None,
        request_kind: Some(gvk),
        request_resource: Some(gvr),
        request_sub_resource: None,
        name: name.to_owned(),
        namespace: Some(namespace.to_owned()),
        operation,
        user_info: UserInfo {
            username: Some(user.to_owned()),
            groups: Some(vec!["system:authenticated".to_owned()]),
            ..UserInfo::default()
        },
        object: None,
        old_object: None,
        dry_run: false,
        options: Some(RawExtension(
            serde_json::json!({ "kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1" }),
        )),
    };
    let review = AdmissionReview {
        types: TypeMeta {
            api_version: META_API_VERSION_V1.to_owned(),
            kind: META_KIND.to_owned(),
        },
        request: Some(request),
        response: None,
    };
    let mut review = serde_json::to_value(review).unwrap_or_default();
    if let Some(req) = review.get_mut("request") {
        req["object"] = object;
    }
    review
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

/// The top of an AdmissionReview, read straight into kube's request type.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    request: Option<AdmissionRequest>,
}

/// Parses an AdmissionReview request body.
pub fn parse(body: &[u8]) -> Result<AdmissionRequest, ReviewError> {
    let envelope: Envelope = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(e) if e.is_data() => {
            return Err(ReviewError::Malformed(
                explain(body).unwrap_or_else(|| e.to_string()),
            ));
        }
        Err(e) => return Err(ReviewError::NotJson(e.to_string())),
    };
    check_header(&envelope.kind, &envelope.api_version)?;
    let mut req = envelope
        .request
        .ok_or_else(|| ReviewError::Malformed("it has no request".into()))?;
    if req.uid.is_empty() {
        return Err(ReviewError::Malformed("request.uid is missing".into()));
    }
    if req.kind.kind.is_empty() {
        return Err(ReviewError::Malformed(
            "request.kind.kind or request.operation is missing".into(),
        ));
    }
    req.types = TypeMeta {
        api_version: envelope.api_version,
        kind: envelope.kind,
    };
    let (group, kind) = (&req.kind.group, &req.kind.kind);
    for (field, object) in [
        ("object", &mut req.object),
        ("oldObject", &mut req.old_object),
    ] {
        let Some(object) = object else { continue };
        if let Some(spec) = object.spec.take() {
            object.pod_spec = super::workload::read_pod_spec(group, kind, spec.get())
                .map_err(|e| ReviewError::Malformed(format!("request.{field}.spec: {e}")))?;
        }
    }
    Ok(req)
}

fn check_header(kind: &str, api_version: &str) -> Result<(), ReviewError> {
    if kind != META_KIND {
        return Err(ReviewError::Malformed(format!(
            "kind is {kind:?}, expected \"AdmissionReview\""
        )));
    }
    if api_version != ADMISSION_API_VERSION {
        return Err(ReviewError::Malformed(format!(
            "apiVersion is {api_version:?}, only {ADMISSION_API_VERSION} is served"
        )));
    }
    Ok(())
}

/// Why a JSON body that kube's types refused is not a review, naming the field, for the
/// commonest faults; `None` leaves serde's own message.
fn explain(body: &[u8]) -> Option<String> {
    let doc: Value = serde_json::from_slice(body).ok()?;
    let Some(top) = doc.as_object() else {
        return Some("the body is not a JSON object".into());
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_owned();
    if let Err(ReviewError::Malformed(m)) =
        check_header(&text(top.get("kind")), &text(top.get("apiVersion")))
    {
        return Some(m);
    }
    let Some(req) = top.get("request").and_then(Value::as_object) else {
        return Some("it has no request".into());
    };
    if text(req.get("uid")).is_empty() {
        return Some("request.uid is missing".into());
    }
    let kind = text(req.get("kind").and_then(|k| k.get("kind")));
    if kind.is_empty() || text(req.get("operation")).is_empty() {
        return Some("request.kind.kind or request.operation is missing".into());
    }
    ["object", "oldObject"].into_iter().find_map(|field| {
        req.get(field)
            .filter(|v| !(v.is_null() || v.is_object()))
            .map(|_| format!("request.{field} is not an object"))
    })
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
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "namespace": "team-a",
                "operation": "CREATE",
                "userInfo": {"username": "alice", "groups": ["dev"]},
                "object": {"metadata": {"generateName": "web-", "labels": {"app": "web"},
                           "annotations": {"n": 100}},
                           "spec": {"containers": [{"name": "c", "image": "app:1"}]}},
                "dryRun": true
            }
        })
    }

    #[test]
    fn reads_the_fields_a_decision_needs() {
        let r = parse(pod_review().to_string().as_bytes()).unwrap();
        assert_eq!(r.uid, "u-1");
        assert_eq!(r.kind.kind, "Pod");
        assert_eq!(r.operation, Operation::Create);
        assert_eq!(r.types.api_version, ADMISSION_API_VERSION);
        assert_eq!(r.namespace_name(), "team-a");
        assert_eq!(r.user(), "alice");
        assert_eq!(r.groups(), ["dev"]);
        assert!(r.dry_run);
        let spec = r.object.as_ref().and_then(|o| o.pod_spec.as_ref()).unwrap();
        assert_eq!(spec.containers[0].image.as_deref(), Some("app:1"));
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
        let e = parse(v.to_string().as_bytes()).unwrap_err();
        assert!(
            e.to_string().contains("request.object is not an object"),
            "{e}"
        );
        // What kube's and k8s-openapi's types refuse is refused, with serde's reason.
        let refused = |f: &dyn Fn(&mut Value), needle: &str| {
            let mut v = pod_review();
            f(&mut v);
            match parse(v.to_string().as_bytes()) {
                Err(ReviewError::Malformed(m)) => assert!(m.contains(needle), "{m}"),
                other => panic!("expected a refusal naming {needle:?}, got {other:?}"),
            }
        };
        refused(&|v| v["request"]["operation"] = "PATCH".into(), "PATCH");
        refused(
            &|v| drop(v["request"].as_object_mut().unwrap().remove("resource")),
            "resource",
        );
        refused(
            &|v| v["request"]["object"]["spec"]["containers"][0]["image"] = 7.into(),
            "request.object.spec",
        );
        refused(
            &|v| v["request"]["uid"] = "".into(),
            "request.uid is missing",
        );
        refused(
            &|v| v["kind"] = "Pod".into(),
            "expected \"AdmissionReview\"",
        );
        assert!(matches!(parse(b""), Err(ReviewError::NotJson(_))));
    }

    #[test]
    fn synthesized_reviews_parse_back() {
        let object = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "app:1"}]}}}});
        let review = synthesize(&object, Operation::Create, "shop", "dev");
        assert_eq!(review["request"]["kind"]["group"], "apps");
        assert_eq!(review["request"]["resource"]["resource"], "deployments");
        assert_eq!(review["request"]["object"]["metadata"]["namespace"], "shop");
        let r = parse(review.to_string().as_bytes()).unwrap();
        assert_eq!(r.user(), "dev");
        assert_eq!(r.display_name(), "web");
        let spec = r.object.unwrap().pod_spec.unwrap();
        assert_eq!(spec.containers[0].name, "c");
    }

    #[test]
    fn salvages_the_uid_of_a_review_it_cannot_parse() {
        assert_eq!(salvage_uid(br#"{"request":{"uid":"abc","kind":7}}"#), "abc");
        assert_eq!(salvage_uid(b"garbage"), "");
    }
}
