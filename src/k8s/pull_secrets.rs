//! Registry credentials a pod would pull with: its own `imagePullSecrets` and those of its
//! ServiceAccount, read through the API with `get` only (no list/watch of Secrets: least
//! privilege) and cached for a short TTL, including "not found" answers. API failures are
//! logged and not cached; the review goes on with what could be read.

use bytes::Bytes;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::{Api, Client};
use moka::future::Cache;
use std::sync::Arc;
use std::time::Duration;

/// Which docker config format a payload is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullSecretKind {
    /// `kubernetes.io/dockerconfigjson`: `{"auths": {...}}` under `.dockerconfigjson`.
    DockerConfigJson,
    /// `kubernetes.io/dockercfg`: the legacy `{registry: {...}}` under `.dockercfg`.
    DockerCfg,
}

/// One pull secret's raw payload (never logged).
#[derive(Clone, PartialEq, Eq)]
pub struct PullSecret {
    /// `namespace/name` of the Secret.
    pub name: String,
    /// The payload's format.
    pub kind: PullSecretKind,
    /// The decoded `.dockerconfigjson` / `.dockercfg` bytes.
    pub payload: Bytes,
}

impl std::fmt::Debug for PullSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullSecret")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("payload", &format_args!("<{} bytes>", self.payload.len()))
            .finish()
    }
}

type Key = (String, String);

/// Reads and caches pull secrets.
#[derive(Clone)]
pub struct PullSecrets {
    client: Client,
    secrets: Cache<Key, Option<Arc<PullSecret>>>,
    accounts: Cache<Key, Arc<Vec<String>>>,
}

impl PullSecrets {
    /// A reader whose answers live for `ttl`.
    pub fn new(client: Client, ttl: Duration) -> Self {
        Self {
            client,
            secrets: Cache::builder()
                .max_capacity(4096)
                .time_to_live(ttl)
                .build(),
            accounts: Cache::builder()
                .max_capacity(4096)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// The payloads for a pod in `namespace` naming `pod_secrets` and running as
    /// `service_account` (`default` when `None`): the pod's secrets first, then the
    /// account's, without duplicates. Missing or unusable secrets are skipped.
    pub async fn for_pod(
        &self,
        namespace: &str,
        pod_secrets: &[String],
        service_account: Option<&str>,
    ) -> Vec<PullSecret> {
        let account = service_account
            .filter(|s| !s.is_empty())
            .unwrap_or("default");
        let mut names: Vec<String> = pod_secrets.to_vec();
        for n in self.account_secrets(namespace, account).await.iter() {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            if let Some(secret) = self.secret(namespace, &name).await {
                out.push((*secret).clone());
            }
        }
        out
    }

    /// The registry credentials of those pull secrets ([`for_pod`](Self::for_pod)),
    /// parsed; unusable ones are logged by name (never by content) and skipped.
    pub async fn credentials(
        &self,
        namespace: &str,
        pod_secrets: &[String],
        service_account: Option<&str>,
    ) -> crate::registry::Credentials {
        use crate::registry::Credentials;
        let mut creds = Credentials::anonymous();
        for secret in self.for_pod(namespace, pod_secrets, service_account).await {
            let parsed = match secret.kind {
                PullSecretKind::DockerConfigJson => {
                    Credentials::from_dockerconfigjson(&secret.payload)
                }
                PullSecretKind::DockerCfg => Credentials::from_dockercfg(&secret.payload),
            };
            match parsed {
                Ok(c) => creds.extend(&c),
                Err(e) => tracing::warn!(secret = %secret.name, error = %e, "unusable pull secret"),
            }
        }
        creds
    }

    async fn account_secrets(&self, namespace: &str, account: &str) -> Arc<Vec<String>> {
        let key = (namespace.to_owned(), account.to_owned());
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        let fetched = self
            .accounts
            .try_get_with(key, async move {
                let sa = api.get_opt(account).await?;
                let names = sa
                    .and_then(|sa| sa.image_pull_secrets)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| r.name)
                    .filter(|n| !n.is_empty())
                    .collect::<Vec<_>>();
                Ok::<_, kube::Error>(Arc::new(names))
            })
            .await;
        fetched.unwrap_or_else(|err| {
            tracing::warn!(namespace, service_account = account, error = %err, "could not read the service account's imagePullSecrets");
            Arc::new(Vec::new())
        })
    }

    async fn secret(&self, namespace: &str, name: &str) -> Option<Arc<PullSecret>> {
        let key = (namespace.to_owned(), name.to_owned());
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let full_name = format!("{namespace}/{name}");
        let fetched = self
            .secrets
            .try_get_with(key, async move {
                let secret = api.get_opt(name).await?;
                Ok::<_, kube::Error>(secret.and_then(|s| payload(&full_name, &s)).map(Arc::new))
            })
            .await;
        fetched.unwrap_or_else(|err| {
            tracing::warn!(namespace, secret = name, error = %err, "could not read a pull secret");
            None
        })
    }
}

/// Extracts the docker config payload of a pull secret, if it has one.
fn payload(full_name: &str, secret: &Secret) -> Option<PullSecret> {
    let data = secret.data.as_ref()?;
    let (kind, bytes) = if let Some(v) = data.get(".dockerconfigjson") {
        (PullSecretKind::DockerConfigJson, v)
    } else if let Some(v) = data.get(".dockercfg") {
        (PullSecretKind::DockerCfg, v)
    } else {
        tracing::warn!(
            secret = full_name,
            "pull secret has neither .dockerconfigjson nor .dockercfg"
        );
        return None;
    };
    Some(PullSecret {
        name: full_name.to_owned(),
        kind,
        payload: Bytes::from(bytes.0.clone()),
    })
}

#[async_trait::async_trait]
impl crate::webhook::PodCredentialSource for PullSecrets {
    async fn credentials(
        &self,
        namespace: &str,
        secrets: &[String],
        service_account: Option<&str>,
    ) -> crate::registry::Credentials {
        PullSecrets::credentials(self, namespace, secrets, service_account).await
    }
}
