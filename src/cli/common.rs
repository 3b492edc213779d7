//! Pieces every deciding subcommand shares, so `verify`, `review` and `serve` build the
//! engine the same way.

use anyhow::Context as _;
use std::path::Path;
use std::sync::Arc;

use custody::engine::{Engine, EngineConfig};
use custody::policy::PolicyStore;
use custody::registry::{Credentials, OciRegistry, RegistryConfig};

/// Output format of the deciding subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// For people: CI log lines (`verify`), what `kubectl apply` prints (`review`).
    Text,
    /// For machines: a stable JSON document (`verify`: `kind: VerifyResult`; `review`:
    /// the AdmissionReview response).
    Json,
}

/// `key=value` for `--namespace-label`.
pub(crate) fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not key=value")),
    }
}

/// Makes the trusted root at `path` (a `trusted_root.json`) the one keyless attestors
/// verify against; `None` keeps the built-in public-good root.
pub(crate) fn use_trusted_root(path: Option<&Path>) -> anyhow::Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    let bytes =
        std::fs::read(path).with_context(|| format!("reading trusted root {}", path.display()))?;
    custody::policy::trust_root::global()
        .replace_from_json(&bytes)
        .with_context(|| format!("trusted root {} cannot be used", path.display()))?;
    Ok(())
}

/// Loads every bundle under `dir`; any bundle that fails, or none at all, is an error.
pub(crate) fn load_policies(dir: &Path) -> anyhow::Result<PolicyStore> {
    let store = PolicyStore::new();
    let report = store
        .load_dir(dir)
        .with_context(|| format!("loading policies from {}", dir.display()))?;
    if let Some((key, err)) = report.failed.first() {
        anyhow::bail!("policy bundle {key} does not load: {err}");
    }
    if store.snapshot().is_empty() {
        anyhow::bail!("no policy bundle found under {}", dir.display());
    }
    Ok(store)
}

/// The engine over an OCI registry client, and the default credentials
/// (`--docker-config`) that apply when no pull secret matches.
pub(crate) fn engine(
    registry: &RegistryConfig,
    store: PolicyStore,
    config: EngineConfig,
) -> anyhow::Result<(Engine, Credentials)> {
    let client = OciRegistry::new(registry.clone()).context("configuring registry access")?;
    let defaults = match &registry.docker_config {
        Some(path) => Credentials::from_file(path).with_context(|| {
            format!(
                "reading default registry credentials from {}",
                path.display()
            )
        })?,
        None => Credentials::anonymous(),
    };
    let engine = Engine::new(Arc::new(client), store, config);
    Ok((engine, defaults))
}
