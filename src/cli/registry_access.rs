//! Registry access shared by the CLI commands: the registry flags, optional
//! credentials from the environment, and the default Docker config file.

use super::registry_flags::RegistryFlags;
use anyhow::Context as _;
use custody::registry::{Auth, Credentials, ImageRef, OciRegistry, RegistryConfig};
use std::path::PathBuf;

/// Registry flags for commands that talk to a registry (listed under their own heading
/// in `--help`).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Registry access, limits and caches")]
pub struct RegistryArgs {
    /// Registry settings (limits, timeouts, insecure hosts, credentials file).
    #[command(flatten)]
    pub config: RegistryFlags,
    /// User name for the image's registry (with `--registry-password`).
    #[arg(long, env = "CUSTODY_REGISTRY_USERNAME")]
    pub registry_username: Option<String>,
    /// Password or token for the image's registry (prefer the environment variable).
    #[arg(long, env = "CUSTODY_REGISTRY_PASSWORD", hide_env_values = true)]
    pub registry_password: Option<String>,
}

impl RegistryArgs {
    /// Builds the client; without `--docker-config`, `$DOCKER_CONFIG/config.json` or
    /// `~/.docker/config.json` is used when it exists.
    pub fn client(&self) -> anyhow::Result<OciRegistry> {
        let mut cfg = RegistryConfig::from(self.config.clone());
        if cfg.docker_config.is_none() {
            cfg.docker_config = default_docker_config();
        }
        OciRegistry::new(cfg).context("setting up registry access")
    }

    /// Credentials for `image` given on the command line / environment, if any.
    pub fn credentials(&self, image: &ImageRef) -> Credentials {
        let mut creds = Credentials::anonymous();
        if let (Some(u), Some(p)) = (&self.registry_username, &self.registry_password) {
            creds.add(
                &image.registry,
                Auth::Basic {
                    username: u.clone(),
                    password: p.clone(),
                },
            );
        }
        creds
    }
}

fn default_docker_config() -> Option<PathBuf> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))?;
    let file = dir.join("config.json");
    file.is_file().then_some(file)
}
