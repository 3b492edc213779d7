//! The registry flags shared by every command that talks to a registry, mapped onto
//! the plain [`RegistryConfig`] (which knows nothing of the command line).

use custody::registry::{CosignTagMode, RegistryConfig};
use std::path::PathBuf;
use std::time::Duration;

/// Limits, timeouts, caches, TLS and credentials for registry access, as flags.
#[derive(Debug, Clone, PartialEq, clap::Args)]
#[command(next_help_heading = "Registry access, limits and caches")]
pub struct RegistryFlags {
    /// Registries (HOST or HOST:PORT) reached over plain HTTP; repeat or comma-separate.
    #[arg(
        long = "insecure-registry",
        env = "CUSTODY_INSECURE_REGISTRIES",
        value_delimiter = ','
    )]
    pub insecure_registries: Vec<String>,
    /// Extra PEM CA certificates trusted for registry TLS (added to the system roots).
    #[arg(long = "registry-ca-file", env = "CUSTODY_REGISTRY_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Default credentials: a Docker `config.json` (or legacy `.dockercfg`) file, used when
    /// no pull secret matches the registry.
    #[arg(long = "docker-config", env = "CUSTODY_DOCKER_CONFIG")]
    pub docker_config: Option<PathBuf>,
    /// Largest manifest or referrers listing accepted, in bytes.
    #[arg(long, env = "CUSTODY_MAX_MANIFEST_BYTES", default_value = "4MiB", value_parser = custody::units::parse_size)]
    pub max_manifest_bytes: u64,
    /// Largest attestation blob accepted, in bytes (checked before and while downloading).
    #[arg(long, env = "CUSTODY_MAX_BLOB_BYTES", default_value = "16MiB", value_parser = custody::units::parse_size)]
    pub max_blob_bytes: u64,
    /// Most referrers examined per image.
    #[arg(long, env = "CUSTODY_MAX_REFERRERS", default_value_t = 64)]
    pub max_referrers: usize,
    /// Most evidence layers fetched from one referrer (or cosign tag) manifest; the rest
    /// are counted and left out.
    #[arg(long, env = "CUSTODY_MAX_REFERRER_LAYERS", default_value_t = 8)]
    pub max_referrer_layers: usize,
    /// Most bytes downloaded per image lookup (manifests and blobs together).
    #[arg(long = "max-evidence-bytes", env = "CUSTODY_MAX_EVIDENCE_BYTES", default_value = "64MiB", value_parser = custody::units::parse_size)]
    pub max_total_bytes: u64,
    /// Timeout of one HTTP request, body included.
    #[arg(long = "registry-request-timeout", env = "CUSTODY_REGISTRY_REQUEST_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,
    /// Deadline of a whole lookup (resolve or discover), retries included.
    #[arg(long = "registry-lookup-timeout", env = "CUSTODY_REGISTRY_LOOKUP_TIMEOUT", default_value = "25s", value_parser = humantime::parse_duration)]
    pub lookup_timeout: Duration,
    /// Redirects followed per request (blob downloads are often redirected to storage).
    #[arg(
        long = "registry-max-redirects",
        env = "CUSTODY_REGISTRY_MAX_REDIRECTS",
        default_value_t = 5
    )]
    pub max_redirects: usize,
    /// Retries after 429/502/503/504, honouring a short `Retry-After`.
    #[arg(
        long = "registry-retries",
        env = "CUSTODY_REGISTRY_RETRIES",
        default_value_t = 2
    )]
    pub retries: u32,
    /// How long a tag→digest answer is reused (tags move).
    #[arg(long, env = "CUSTODY_TAG_CACHE_TTL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub tag_cache_ttl: Duration,
    /// How long discovered evidence of a digest is reused (digests do not move, but new
    /// attestations may be attached).
    #[arg(long, env = "CUSTODY_EVIDENCE_CACHE_TTL", default_value = "10m", value_parser = humantime::parse_duration)]
    pub evidence_cache_ttl: Duration,
    /// How long a failed lookup is remembered (to shed load from a failing registry).
    #[arg(long, env = "CUSTODY_FAILURE_CACHE_TTL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub failure_cache_ttl: Duration,
    /// Most entries in each registry cache.
    #[arg(
        long = "registry-cache-entries",
        env = "CUSTODY_REGISTRY_CACHE_ENTRIES",
        default_value_t = 10_000
    )]
    pub cache_max_entries: u64,
    /// Most bytes of evidence held in the cache.
    #[arg(long = "registry-cache-bytes", env = "CUSTODY_REGISTRY_CACHE_BYTES", default_value = "128MiB", value_parser = custody::units::parse_size)]
    pub cache_max_bytes: u64,
    /// Ask the Referrers API only for this artifact type (`?artifactType=`); results are
    /// filtered on the client as well, since registries may ignore the filter.
    #[arg(long, env = "CUSTODY_REFERRERS_ARTIFACT_TYPE")]
    pub referrers_artifact_type: Option<String>,
    /// When to look at cosign's legacy `sha256-<hex>.att` tag.
    #[arg(long, env = "CUSTODY_COSIGN_TAG", default_value = "auto", value_parser = parse_cosign_tag)]
    pub cosign_tag: CosignTagMode,
    /// Connections opened (by `GET /v2/`) alongside the first request to a registry not
    /// asked for 20 s, so a lookup's parallel fetches need no new connection; not for a
    /// registry that answers over HTTP/2. 0: none.
    #[arg(
        long = "registry-warm-connections",
        env = "CUSTODY_REGISTRY_WARM_CONNECTIONS",
        default_value_t = 3
    )]
    pub warm_connections: usize,
}

fn parse_cosign_tag(s: &str) -> Result<CosignTagMode, String> {
    match s {
        "auto" => Ok(CosignTagMode::Auto),
        "always" => Ok(CosignTagMode::Always),
        "never" => Ok(CosignTagMode::Never),
        other => Err(format!("{other:?}: expected auto, always or never")),
    }
}

impl Default for RegistryFlags {
    fn default() -> Self {
        RegistryFlags::from(RegistryConfig::default())
    }
}

impl From<RegistryFlags> for RegistryConfig {
    fn from(f: RegistryFlags) -> RegistryConfig {
        RegistryConfig {
            insecure_registries: f.insecure_registries,
            ca_file: f.ca_file,
            docker_config: f.docker_config,
            max_manifest_bytes: f.max_manifest_bytes,
            max_blob_bytes: f.max_blob_bytes,
            max_referrers: f.max_referrers,
            max_referrer_layers: f.max_referrer_layers,
            max_total_bytes: f.max_total_bytes,
            request_timeout: f.request_timeout,
            lookup_timeout: f.lookup_timeout,
            max_redirects: f.max_redirects,
            retries: f.retries,
            tag_cache_ttl: f.tag_cache_ttl,
            evidence_cache_ttl: f.evidence_cache_ttl,
            failure_cache_ttl: f.failure_cache_ttl,
            cache_max_entries: f.cache_max_entries,
            cache_max_bytes: f.cache_max_bytes,
            referrers_artifact_type: f.referrers_artifact_type,
            cosign_tag: f.cosign_tag,
            warm_connections: f.warm_connections,
        }
    }
}

impl From<RegistryConfig> for RegistryFlags {
    fn from(f: RegistryConfig) -> RegistryFlags {
        RegistryFlags {
            insecure_registries: f.insecure_registries,
            ca_file: f.ca_file,
            docker_config: f.docker_config,
            max_manifest_bytes: f.max_manifest_bytes,
            max_blob_bytes: f.max_blob_bytes,
            max_referrers: f.max_referrers,
            max_referrer_layers: f.max_referrer_layers,
            max_total_bytes: f.max_total_bytes,
            request_timeout: f.request_timeout,
            lookup_timeout: f.lookup_timeout,
            max_redirects: f.max_redirects,
            retries: f.retries,
            tag_cache_ttl: f.tag_cache_ttl,
            evidence_cache_ttl: f.evidence_cache_ttl,
            failure_cache_ttl: f.failure_cache_ttl,
            cache_max_entries: f.cache_max_entries,
            cache_max_bytes: f.cache_max_bytes,
            referrers_artifact_type: f.referrers_artifact_type,
            cosign_tag: f.cosign_tag,
            warm_connections: f.warm_connections,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        reg: RegistryFlags,
    }

    #[test]
    fn flag_defaults_equal_the_config_defaults() {
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(RegistryConfig::from(cli.reg), RegistryConfig::default());
    }

    #[test]
    fn flags_map_onto_the_config() {
        let cli = Cli::try_parse_from([
            "x",
            "--insecure-registry",
            "127.0.0.1:5000,localhost:5001",
            "--tag-cache-ttl",
            "1m",
            "--cosign-tag",
            "never",
        ])
        .unwrap();
        let reg = RegistryConfig::from(cli.reg);
        assert!(reg.is_insecure("127.0.0.1:5000"));
        assert!(reg.is_insecure("localhost:5001"));
        assert!(!reg.is_insecure("ghcr.io"));
        assert_eq!(reg.tag_cache_ttl, Duration::from_secs(60));
        assert_eq!(reg.cosign_tag, CosignTagMode::Never);
        assert!(Cli::try_parse_from(["x", "--cosign-tag", "sometimes"]).is_err());
    }
}
