//! `custody serve`: the admission webhook. Reads the configuration, starts the
//! Kubernetes watchers (with `--kubernetes`), builds the reviewer and runs the HTTPS
//! server until SIGTERM/SIGINT, then drains in-flight reviews.

mod config;

pub use config::{Args, Settings};

use anyhow::Context as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use custody::admission::DecisionOptions;
use custody::k8s::{self, NamespaceLabels, PolicyWatch, PullSecrets, StoreSink};
use custody::policy::PolicyStore;
use custody::server::{ReadyCheck, Reviewer, Server};
use custody::webhook::{
    EngineChecker, FixedLabels, NamespaceLabelSource, PodCredentialSource, Webhook, WebhookOptions,
};

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let settings = args.resolve()?;
    let runtime = super::runtime()?;
    runtime.block_on(serve(settings))
}

/// What the reviewer can ask the cluster (present only with `--kubernetes`).
#[derive(Clone, Default)]
pub struct Cluster {
    /// Namespace labels for namespace selectors.
    pub namespaces: Option<NamespaceLabels>,
    /// The pod's and its service account's pull secrets (with `--pull-secret-auth`).
    pub pull_secrets: Option<PullSecrets>,
}

async fn serve(settings: Settings) -> anyhow::Result<ExitCode> {
    let mut checks: Vec<ReadyCheck> = Vec::new();

    // Policies: a directory (loaded now, reloaded on change) and/or ConfigMaps.
    let store = PolicyStore::new();
    let _dir_watch = match &settings.policy_dir {
        Some(dir) => Some(custody::policy::watch::watch_dir(store.clone(), dir)?),
        None => None,
    };

    // The Sigstore trusted root for keyless attestors: a file (loaded now, reloaded on
    // change) or a ConfigMap (below); the built-in public-good root otherwise.
    let _root_watch = match &settings.trusted_root {
        Some(path) => Some(custody::policy::trust_root::watch_file(path)?),
        None => None,
    };

    let mut cluster = Cluster::default();
    let mut configmaps_synced = None;
    let mut scan_client = None;
    if let Some(kube) = &settings.kube {
        let client = k8s::client().await?;
        scan_client = Some(client.clone());
        let namespaces = NamespaceLabels::start(client.clone());
        let ns_ready = namespaces.clone();
        checks.push(Arc::new(move || {
            ns_ready
                .is_ready()
                .then_some(())
                .ok_or_else(|| "namespace labels not listed yet".to_owned())
        }));
        cluster.namespaces = Some(namespaces);
        cluster.pull_secrets = kube
            .pull_secrets
            .map(|ttl| PullSecrets::new(client.clone(), ttl));
        if let Some(name) = &kube.trusted_root_configmap {
            let watch = k8s::TrustedRootWatch::new(client.clone(), &kube.namespace, name);
            let synced = watch.synced();
            checks.push(Arc::new(move || {
                synced
                    .load(Ordering::Relaxed)
                    .then_some(())
                    .ok_or_else(|| "trusted root ConfigMap not listed yet".to_owned())
            }));
            tokio::spawn(watch.run());
        }
        if let Some((namespace, selector)) = &kube.policy_configmaps {
            let sink = Arc::new(StoreSink::new(store.clone(), namespace.clone()));
            let watch = PolicyWatch::new(client.clone(), namespace, selector, sink);
            let synced = watch.synced();
            configmaps_synced = Some(synced.clone());
            checks.push(Arc::new(move || {
                synced
                    .load(Ordering::Relaxed)
                    .then_some(())
                    .ok_or_else(|| "policy ConfigMaps not listed yet".to_owned())
            }));
            tokio::spawn(watch.run());
        }
    }

    // The startup window ends once the first directory load and ConfigMap listing are
    // done: a bundle that failed before then keeps custody unready (see PolicyStore).
    match configmaps_synced {
        None => store.mark_started(),
        Some(synced) => {
            let store = store.clone();
            tokio::spawn(async move {
                while !synced.load(Ordering::Relaxed) {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                store.mark_started();
            });
        }
    }
    let fd_limit = custody::server::raise_fd_limit(settings.server.max_connections);
    tracing::info!(?fd_limit, "open-file limit");
    let (engine, defaults) = super::common::engine(
        &settings.registry,
        store,
        custody::engine::EngineConfig {
            require_all_platforms: settings.require_all_platforms,
            no_policy: settings.no_policy_action,
            max_images: settings.max_images_per_review,
            ..Default::default()
        },
    )?;
    let scan = settings
        .kube
        .as_ref()
        .and_then(|k| k.background_scan.clone());
    if let (Some(config), Some(client)) = (scan, scan_client) {
        // Shares the webhook's engine (registry client and caches); reports only.
        let mut scan = k8s::BackgroundScan::new(client, engine.clone(), config)
            .with_credentials(cluster.pull_secrets.clone(), defaults.clone());
        if let Some(namespaces) = &cluster.namespaces {
            scan = scan.with_namespace_labels(namespaces.clone());
        }
        tokio::spawn(scan.run());
    }
    let reviewer = build_reviewer(&settings, engine, defaults, cluster);
    let server = Server::bind(settings.server.clone(), reviewer, checks).await?;
    if let (Some(path), Some(pem)) = (&settings.self_signed_ca_out, server.self_signed_ca_pem()) {
        std::fs::write(path, pem)
            .with_context(|| format!("writing the self-signed CA to {}", path.display()))?;
        tracing::info!(path = %path.display(), "self-signed CA written");
    }
    eprintln!("custody: serving https://{}", server.local_addr());
    server.run(custody::server::shutdown_signal()).await;
    Ok(ExitCode::SUCCESS)
}

/// The admission-backed reviewer: the engine (over an OCI registry client), with
/// namespace labels and pull secrets from the cluster when it is reachable.
fn build_reviewer(
    settings: &Settings,
    engine: custody::engine::Engine,
    defaults: custody::registry::Credentials,
    cluster: Cluster,
) -> Arc<dyn Reviewer> {
    let namespaces: Arc<dyn NamespaceLabelSource> = match cluster.namespaces {
        Some(reflector) => Arc::new(reflector),
        None => Arc::new(FixedLabels::default()),
    };
    let pull_secrets = cluster
        .pull_secrets
        .map(|p| Arc::new(p) as Arc<dyn PodCredentialSource>);
    let checker = EngineChecker::new(engine, namespaces, pull_secrets, defaults);
    Arc::new(Webhook::new(Arc::new(checker), webhook_options(settings)))
}

/// The review service's options from the serve settings.
fn webhook_options(settings: &Settings) -> WebhookOptions {
    let defaults = WebhookOptions::default();
    WebhookOptions {
        decision: DecisionOptions {
            fail_open: settings.fail_open,
            ..defaults.decision.clone()
        },
        deadline: settings.decision_deadline,
        pin_kinds: settings.mutate_kinds.iter().cloned().collect(),
        ..defaults
    }
}
