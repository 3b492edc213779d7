//! The engine as the webhook's [`Checker`]: an AdmissionRequest becomes a
//! [`CheckRequest`] with the workload, the namespace's labels and the registry
//! credentials of the pod (its pull secrets and its service account's, then defaults).

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::time::Instant;

use super::Checker;
use super::cluster::{NamespaceLabelSource, PodCredentialSource};
use crate::admission::{AdmissionRequest, ContainerKind, ImageUse, PodTemplate, RequestExt};
use crate::engine::{self, CheckRequest, Engine, ImageVerdict, Workload};
use crate::policy::input::{NamespaceInfo, RequestInfo};
use crate::registry::Credentials;
use std::sync::Arc;

/// Decides reviews with the [`Engine`].
pub struct EngineChecker {
    engine: Engine,
    namespaces: Arc<dyn NamespaceLabelSource>,
    pull_secrets: Option<Arc<dyn PodCredentialSource>>,
    defaults: Credentials,
}

impl EngineChecker {
    /// A checker over `engine`; `namespaces` gives the labels policies select on,
    /// `pull_secrets` (when given) the pod's registry credentials, and `defaults` apply
    /// when no pull secret matches a registry.
    pub fn new(
        engine: Engine,
        namespaces: Arc<dyn NamespaceLabelSource>,
        pull_secrets: Option<Arc<dyn PodCredentialSource>>,
        defaults: Credentials,
    ) -> Self {
        EngineChecker {
            engine,
            namespaces,
            pull_secrets,
            defaults,
        }
    }

    async fn credentials(&self, req: &AdmissionRequest, template: &PodTemplate) -> Credentials {
        let mut creds = match &self.pull_secrets {
            Some(reader) => {
                let account = Some(template.service_account.as_str());
                reader
                    .credentials(req.namespace_name(), &template.pull_secrets, account)
                    .await
            }
            None => Credentials::anonymous(),
        };
        creds.extend(&self.defaults);
        creds
    }

    async fn namespace_labels(&self, namespace: &str) -> BTreeMap<String, String> {
        self.namespaces.labels(namespace).await
    }
}

fn container_kind(kind: ContainerKind) -> &'static str {
    match kind {
        ContainerKind::Container => "container",
        ContainerKind::InitContainer => "initContainer",
        ContainerKind::EphemeralContainer => "ephemeralContainer",
        ContainerKind::ImageVolume => "imageVolume",
    }
}

#[async_trait]
impl Checker for EngineChecker {
    async fn check(
        &self,
        req: &AdmissionRequest,
        template: &PodTemplate,
        images: &[ImageUse],
        deadline: Instant,
    ) -> Vec<ImageVerdict> {
        let uses = images
            .iter()
            .flat_map(|u| {
                u.containers.iter().map(|c| engine::ImageUse {
                    image: u.image.clone(),
                    container: c.name.clone(),
                    container_kind: container_kind(c.kind).to_owned(),
                })
            })
            .collect();
        let check = CheckRequest {
            images: uses,
            workload: Workload {
                kind: req.kind.kind.clone(),
                name: req.display_name(),
                labels: req.labels(),
                annotations: req.annotations(),
                service_account_name: if template.service_account.is_empty() {
                    "default".to_owned()
                } else {
                    template.service_account.clone()
                },
            },
            namespace: NamespaceInfo {
                name: req.namespace_name().to_owned(),
                labels: self.namespace_labels(req.namespace_name()).await,
            },
            request: RequestInfo {
                operation: req.operation_name().to_owned(),
                user: req.user().to_owned(),
                groups: req.groups().to_vec(),
                dry_run: req.dry_run,
            },
            credentials: self.credentials(req, template).await,
            time: None,
        };
        self.engine.check(&check, deadline.into()).await
    }

    /// Not ready while a bundle that failed to load at startup has no version in force:
    /// that policy would silently not be enforced. With no bundle at all custody is
    /// ready, and `--no-policy-action` decides what happens to every image.
    fn ready(&self) -> Result<(), String> {
        let broken = self.engine.store().broken_at_startup();
        if broken.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = broken
            .iter()
            .map(|(key, err)| format!("{key}: {err}"))
            .collect();
        Err(format!(
            "policy bundle(s) failed to load at startup and are not enforced: {}",
            list.join("; ")
        ))
    }
}
