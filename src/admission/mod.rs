//! AdmissionReview in, AdmissionReview out: the protocol side of a decision, as pure
//! functions. [`plan`] reads a review and says which images must be checked;
//! [`decision::decide`] turns the engine's verdicts into the answer; [`response`] writes it.

pub mod decision;
pub mod fallback;
pub mod response;
pub mod review;
pub mod workload;

pub use decision::{Decision, DecisionOptions, decide};
pub use review::{AdmissionRequest, AdmittedObject, Operation, RequestExt, ReviewError, parse};
pub use workload::{ContainerKind, ContainerRef, ImageUse, PodTemplate};

/// What to do with a review before any registry is asked.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Admit without checking; the reason is logged.
    Skip(&'static str),
    /// Check these images (already folded; on UPDATE only the new ones).
    Check {
        /// The pod template of the object (all images, service account, pull secrets).
        template: PodTemplate,
        /// The images that must be verified.
        images: Vec<ImageUse>,
    },
}

/// Decides which images of a review need verification.
pub fn plan(req: &AdmissionRequest) -> Plan {
    if !matches!(req.operation, Operation::Create | Operation::Update) {
        return Plan::Skip("operation is neither CREATE nor UPDATE");
    }
    match req.sub_resource.as_deref() {
        None | Some("" | "ephemeralcontainers") => {}
        Some(_) => return Plan::Skip("subresource does not change images"),
    }
    let Some(pointer) = workload::pod_spec_pointer(&req.kind.group, &req.kind.kind) else {
        return Plan::Skip("kind does not create pods");
    };
    fn pod_spec(o: &Option<AdmittedObject>) -> Option<&k8s_openapi::api::core::v1::PodSpec> {
        o.as_ref().and_then(|o| o.pod_spec.as_ref())
    }
    let template = workload::pod_template(pod_spec(&req.object), pointer);
    let images = match (&req.operation, &req.old_object) {
        (Operation::Update, Some(_)) => {
            let old = workload::pod_template(pod_spec(&req.old_object), pointer);
            workload::new_images(&template.images, &old.images)
        }
        _ => template.images.clone(),
    };
    if images.is_empty() {
        return Plan::Skip("no new images");
    }
    Plan::Check { template, images }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn req(kind: &str, group: &str, op: &str, object: Value, old: Value) -> AdmissionRequest {
        let review = json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "u",
                "kind": {"group": group, "version": "v1", "kind": kind},
                "resource": {"group": group, "version": "v1", "resource": "r"},
                "namespace": "ns", "name": "n", "operation": op,
                "userInfo": {"username": "me"},
                "object": object, "oldObject": old
            }
        });
        review::parse(review.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn plans_by_operation_kind_and_change() {
        let dep = |img: &str| json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": img}]}}}});
        let p = plan(&req(
            "Deployment",
            "apps",
            "CREATE",
            dep("a:1"),
            json!(null),
        ));
        assert!(matches!(p, Plan::Check { ref images, .. } if images[0].image == "a:1"));
        let scale = plan(&req("Deployment", "apps", "UPDATE", dep("a:1"), dep("a:1")));
        assert_eq!(scale, Plan::Skip("no new images"));
        let bump = plan(&req("Deployment", "apps", "UPDATE", dep("a:2"), dep("a:1")));
        assert!(matches!(bump, Plan::Check { ref images, .. } if images[0].image == "a:2"));
        assert!(matches!(
            plan(&req(
                "Deployment",
                "apps",
                "DELETE",
                json!(null),
                dep("a:1")
            )),
            Plan::Skip(_)
        ));
        assert!(matches!(
            plan(&req("ConfigMap", "", "CREATE", json!({}), json!(null))),
            Plan::Skip(_)
        ));
        let mut status = req("Pod", "", "UPDATE", json!({}), json!({}));
        status.sub_resource = Some("status".into());
        assert!(matches!(plan(&status), Plan::Skip(_)));
    }
}
