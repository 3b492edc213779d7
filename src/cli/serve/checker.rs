//! The engine as the webhook's [`Checker`]: turns one admission request into a
//! [`CheckRequest`], adding what only the cluster knows (namespace labels, pull secrets).

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::time::Instant;

use super::Cluster;
use crate::admission::{self, AdmissionRequest, ContainerKind, ImageUse};
use crate::engine::{self, CheckRequest, Engine, ImageVerdict, Workload};
use crate::k8s::PullSecretKind;
use crate::policy::input::{NamespaceInfo, RequestInfo};
use crate::registry::Credentials;
use crate::webhook::Checker;

/// Decides with the engine; asks the cluster for labels and pull secrets.
pub(crate) struct EngineChecker {
    pub(crate) engine: Engine,
    pub(crate) cluster: Cluster,
}

fn container_kind(kind: ContainerKind) -> &'static str {
    match kind {
        ContainerKind::Container => "container",
        ContainerKind::InitContainer => "initContainer",
        ContainerKind::EphemeralContainer => "ephemeralContainer",
    }
}

/// One engine image use per container (the engine folds duplicates itself).
fn image_uses(images: &[ImageUse]) -> Vec<engine::ImageUse> {
    images
        .iter()
        .flat_map(|use_| {
            use_.containers.iter().map(|c| engine::ImageUse {
                image: use_.image.clone(),
                container: c.name.clone(),
                container_kind: container_kind(c.kind).to_owned(),
            })
        })
        .collect()
}

impl EngineChecker {
    async fn namespace_labels(&self, namespace: &str) -> BTreeMap<String, String> {
        match (&self.cluster.namespaces, namespace.is_empty()) {
            (Some(cache), false) => cache.labels(namespace).await.unwrap_or_default(),
            _ => BTreeMap::new(),
        }
    }

    /// Credentials from the pod's and its service account's pull secrets; the
    /// registry client falls back to its configured defaults by itself.
    async fn credentials(&self, namespace: &str, template: &admission::PodTemplate) -> Credentials {
        let mut creds = Credentials::anonymous();
        let Some(reader) = &self.cluster.pull_secrets else {
            return creds;
        };
        let account = Some(template.service_account.as_str());
        for secret in reader
            .for_pod(namespace, &template.pull_secrets, account)
            .await
        {
            let parsed = match secret.kind {
                PullSecretKind::DockerConfigJson => {
                    Credentials::from_dockerconfigjson(&secret.payload)
                }
                PullSecretKind::DockerCfg => Credentials::from_dockercfg(&secret.payload),
            };
            match parsed {
                Ok(c) => creds.extend(&c),
                Err(e) => {
                    tracing::warn!(secret = %secret.name, error = %e, "unusable pull secret skipped");
                }
            }
        }
        creds
    }
}

#[async_trait]
impl Checker for EngineChecker {
    async fn check(
        &self,
        request: &AdmissionRequest,
        template: &admission::PodTemplate,
        images: &[ImageUse],
        deadline: Instant,
    ) -> Vec<ImageVerdict> {
        let (labels, credentials) = tokio::join!(
            self.namespace_labels(&request.namespace),
            self.credentials(&request.namespace, template)
        );
        let check = CheckRequest {
            images: image_uses(images),
            workload: Workload {
                kind: request.kind.clone(),
                name: request.display_name(),
                labels: request.labels(),
                annotations: request.annotations(),
                service_account_name: template.service_account.clone(),
            },
            namespace: NamespaceInfo {
                name: request.namespace.clone(),
                labels,
            },
            request: RequestInfo {
                operation: request.operation.clone(),
                user: request.user.clone(),
                groups: request.groups.clone(),
                dry_run: request.dry_run,
            },
            credentials,
            time: None,
        };
        self.engine
            .check(&check, tokio::time::Instant::from_std(deadline))
            .await
    }

    fn ready(&self) -> Result<(), String> {
        // Directory bundles are loaded before the server starts and ConfigMaps have their
        // own readiness check; an empty store is a valid (if permissive) configuration.
        if self.engine.store().snapshot().is_empty() {
            tracing::debug!("no policy bundles loaded");
        }
        Ok(())
    }
}
