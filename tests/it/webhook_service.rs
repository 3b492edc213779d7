//! The review service with a hand-written checker: protocol answers, the deadline, fail-open,
//! mutate-only pinning. The real engine and registries are exercised in `webhook_e2e.rs`.

use async_trait::async_trait;
use custody::admission::{
    AdmissionRequest, DecisionOptions, ImageUse, Operation, PodTemplate, review,
};
use custody::category::Category;
use custody::digest::Digest;
use custody::engine::{ImageVerdict, PolicyResult};
use custody::policy::Mode;
use custody::server::Outcome;
use custody::webhook::{Checker, Webhook, WebhookOptions};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Admits images whose name contains "good", denies the rest; `stall` never answers.
struct Fake {
    stall: bool,
}

#[async_trait]
impl Checker for Fake {
    async fn check(
        &self,
        _: &AdmissionRequest,
        _: &PodTemplate,
        images: &[ImageUse],
        _: Instant,
    ) -> Vec<ImageVerdict> {
        if self.stall {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        images
            .iter()
            .map(|u| {
                let good = u.image.contains("good");
                ImageVerdict {
                    image: u.image.clone(),
                    containers: Vec::new(),
                    digest: Some(Digest::sha256(u.image.as_bytes())),
                    evidence: Default::default(),
                    controls: Vec::new(),
                    results: vec![PolicyResult {
                        policy: "require-sbom".into(),
                        mode: Mode::Enforce,
                        allowed: good,
                        category: (!good).then_some(Category::NoAttestation),
                        messages: if good { vec![] } else { vec!["no SBOM".into()] },
                        warnings: vec![],
                    }],
                }
            })
            .collect()
    }

    fn ready(&self) -> Result<(), String> {
        Ok(())
    }
}

fn deployment(image: &str) -> Vec<u8> {
    let obj = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}
    });
    review::synthesize(&obj, Operation::Create, "shop", "dev")
        .to_string()
        .into_bytes()
}

fn webhook(stall: bool, options: WebhookOptions) -> Webhook<Fake> {
    Webhook::new(
        Arc::new(Fake { stall }),
        WebhookOptions {
            decision_log: false,
            ..options
        },
    )
}

fn response(body: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["kind"], "AdmissionReview");
    v["response"].clone()
}

#[tokio::test]
async fn admits_and_denies_with_the_developer_message() {
    let w = webhook(false, WebhookOptions::default());
    let ok = w.review(&deployment("reg.example/good:1"), false).await;
    assert_eq!(ok.outcome, Outcome::Allowed);
    assert_eq!(response(&ok.body)["allowed"], true);

    let bad = w.review(&deployment("reg.example/bad:1"), false).await;
    assert_eq!(bad.outcome, Outcome::Denied);
    let r = response(&bad.body);
    assert_eq!(r["allowed"], false);
    let msg = r["status"]["message"].as_str().unwrap();
    assert!(msg.contains("reg.example/bad:1 (sha256:"), "{msg}");
    assert!(
        msg.contains("require-sbom [no-attestation]: no SBOM"),
        "{msg}"
    );
    assert_eq!(bad.policies[0].policy, "require-sbom");
}

#[tokio::test]
async fn unreadable_reviews_get_an_answer_not_an_error() {
    let w = webhook(false, WebhookOptions::default());
    for body in [
        &b"not json"[..],
        b"{}",
        br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u-9"}}"#,
    ] {
        let out = w.review(body, false).await;
        assert_eq!(out.outcome, Outcome::Error);
        let r = response(&out.body);
        assert_eq!(r["allowed"], false);
        assert_eq!(r["status"]["code"], 400);
    }
    let out = w.review(br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u-9"}}"#, false).await;
    assert_eq!(response(&out.body)["uid"], "u-9");
}

#[tokio::test]
async fn a_stalled_check_is_a_timeout_denial_not_an_allow() {
    let opts = WebhookOptions {
        deadline: Duration::from_millis(100),
        ..WebhookOptions::default()
    };
    let out = webhook(true, opts.clone())
        .review(&deployment("reg.example/good:1"), false)
        .await;
    let r = response(&out.body);
    assert_eq!(r["allowed"], false);
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("[timeout]")
    );

    let open = WebhookOptions {
        decision: DecisionOptions {
            fail_open: true,
            ..DecisionOptions::default()
        },
        ..opts
    };
    let out = webhook(true, open)
        .review(&deployment("reg.example/good:1"), false)
        .await;
    let r = response(&out.body);
    assert_eq!(r["allowed"], true, "fail-open was asked for");
    assert!(r["warnings"][0].as_str().unwrap().contains("fail-open"));
}

#[tokio::test]
async fn mutate_pins_verified_images_and_never_denies() {
    let w = webhook(false, WebhookOptions::default());
    let out = w.review(&deployment("reg.example/good:1"), true).await;
    let r = response(&out.body);
    assert_eq!(r["allowed"], true);
    assert_eq!(r["patchType"], "JSONPatch");
    let out = w.review(&deployment("reg.example/bad:1"), true).await;
    let r = response(&out.body);
    assert_eq!(
        r["allowed"], true,
        "the validating webhook denies, not the mutating one"
    );
    assert!(r.get("patch").is_none());
}

#[tokio::test]
async fn other_operations_and_kinds_pass_untouched() {
    let w = webhook(false, WebhookOptions::default());
    let cm =
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    let out = w
        .review(
            review::synthesize(&cm, Operation::Create, "shop", "dev")
                .to_string()
                .as_bytes(),
            false,
        )
        .await;
    assert_eq!(response(&out.body)["allowed"], true);
    assert!(out.policies.is_empty());
}

/// The webhook learns about the cluster only through two small traits: the namespace's
/// labels and the pod's registry credentials are asked for with what the review names.
#[tokio::test]
async fn namespace_labels_and_pull_secrets_come_through_the_cluster_traits() {
    use custody::registry::{Credentials, OciRegistry, RegistryConfig};
    use custody::webhook::{EngineChecker, NamespaceLabelSource, PodCredentialSource};
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);
    #[async_trait]
    impl NamespaceLabelSource for Recorder {
        async fn labels(&self, namespace: &str) -> BTreeMap<String, String> {
            self.0.lock().unwrap().push(format!("labels {namespace}"));
            BTreeMap::from([("tier".to_owned(), "prod".to_owned())])
        }
    }
    #[async_trait]
    impl PodCredentialSource for Recorder {
        async fn credentials(
            &self,
            namespace: &str,
            secrets: &[String],
            service_account: Option<&str>,
        ) -> Credentials {
            self.0.lock().unwrap().push(format!(
                "credentials {namespace} {secrets:?} {service_account:?}"
            ));
            Credentials::anonymous()
        }
    }

    let labels = Arc::new(Recorder::default());
    let secrets = Arc::new(Recorder::default());
    let registry = Arc::new(OciRegistry::new(RegistryConfig::default()).unwrap());
    let engine = custody::engine::Engine::new(
        registry,
        custody::policy::PolicyStore::new(),
        Default::default(),
    );
    let checker = EngineChecker::new(
        engine,
        labels.clone(),
        Some(secrets.clone()),
        Credentials::anonymous(),
    );
    let w = Webhook::new(
        Arc::new(checker),
        WebhookOptions {
            decision_log: false,
            ..WebhookOptions::default()
        },
    );
    let obj = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"spec": {
            "serviceAccountName": "builder",
            "imagePullSecrets": [{"name": "regcred"}],
            "containers": [{"name": "app", "image": "127.0.0.1:9/app:1"}]}}}
    });
    let body = review::synthesize(&obj, Operation::Create, "shop", "dev").to_string();
    let _ = w.review(body.as_bytes(), false).await;
    assert_eq!(*labels.0.lock().unwrap(), vec!["labels shop"]);
    assert_eq!(
        *secrets.0.lock().unwrap(),
        vec![r#"credentials shop ["regcred"] Some("builder")"#]
    );
}
