//! Registry configuration: one struct shared by the webhook and every CLI command that
//! talks to a registry (flattened as clap arguments, or read from a config file).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

/// When to consult cosign's legacy `sha256-<hex>.att` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum CosignTagMode {
    /// Only when the Referrers API / tag schema found no evidence (saves a request).
    #[default]
    Auto,
    /// Always, in parallel with the referrers listing; results are merged.
    Always,
    /// Never.
    Never,
}

/// Limits, timeouts, caches, TLS and credentials for registry access.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
#[command(next_help_heading = "Registry access, limits and caches")]
pub struct RegistryConfig {
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
    #[arg(long, env = "CUSTODY_MAX_MANIFEST_BYTES", default_value = "4MiB", value_parser = crate::units::parse_size)]
    pub max_manifest_bytes: u64,
    /// Largest attestation blob accepted, in bytes (checked before and while downloading).
    #[arg(long, env = "CUSTODY_MAX_BLOB_BYTES", default_value = "16MiB", value_parser = crate::units::parse_size)]
    pub max_blob_bytes: u64,
    /// Most referrers examined per image.
    #[arg(long, env = "CUSTODY_MAX_REFERRERS", default_value_t = 64)]
    pub max_referrers: usize,
    /// Most evidence layers fetched from one referrer (or cosign tag) manifest; the rest
    /// are counted and left out.
    #[arg(long, env = "CUSTODY_MAX_REFERRER_LAYERS", default_value_t = 8)]
    pub max_referrer_layers: usize,
    /// Most bytes downloaded per image lookup (manifests and blobs together).
    #[arg(long = "max-evidence-bytes", env = "CUSTODY_MAX_EVIDENCE_BYTES", default_value = "64MiB", value_parser = crate::units::parse_size)]
    #[serde(rename = "max-evidence-bytes", alias = "max-total-bytes")]
    pub max_total_bytes: u64,
    /// Timeout of one HTTP request, body included.
    #[arg(long = "registry-request-timeout", env = "CUSTODY_REGISTRY_REQUEST_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    #[serde(with = "duration_text")]
    pub request_timeout: Duration,
    /// Deadline of a whole lookup (resolve or discover), retries included.
    #[arg(long = "registry-lookup-timeout", env = "CUSTODY_REGISTRY_LOOKUP_TIMEOUT", default_value = "25s", value_parser = humantime::parse_duration)]
    #[serde(with = "duration_text")]
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
    #[serde(with = "duration_text")]
    pub tag_cache_ttl: Duration,
    /// How long discovered evidence of a digest is reused (digests do not move, but new
    /// attestations may be attached).
    #[arg(long, env = "CUSTODY_EVIDENCE_CACHE_TTL", default_value = "10m", value_parser = humantime::parse_duration)]
    #[serde(with = "duration_text")]
    pub evidence_cache_ttl: Duration,
    /// How long a failed lookup is remembered (to shed load from a failing registry).
    #[arg(long, env = "CUSTODY_FAILURE_CACHE_TTL", default_value = "5s", value_parser = humantime::parse_duration)]
    #[serde(with = "duration_text")]
    pub failure_cache_ttl: Duration,
    /// Most entries in each registry cache.
    #[arg(
        long = "registry-cache-entries",
        env = "CUSTODY_REGISTRY_CACHE_ENTRIES",
        default_value_t = 10_000
    )]
    #[serde(rename = "registry-cache-entries", alias = "cache-max-entries")]
    pub cache_max_entries: u64,
    /// Most bytes of evidence held in the cache.
    #[arg(long = "registry-cache-bytes", env = "CUSTODY_REGISTRY_CACHE_BYTES", default_value = "128MiB", value_parser = crate::units::parse_size)]
    #[serde(rename = "registry-cache-bytes", alias = "cache-max-bytes")]
    pub cache_max_bytes: u64,
    /// Ask the Referrers API only for this artifact type (`?artifactType=`); results are
    /// filtered on the client as well, since registries may ignore the filter.
    #[arg(long, env = "CUSTODY_REFERRERS_ARTIFACT_TYPE")]
    pub referrers_artifact_type: Option<String>,
    /// When to look at cosign's legacy `sha256-<hex>.att` tag.
    #[arg(long, env = "CUSTODY_COSIGN_TAG", value_enum, default_value_t = CosignTagMode::Auto)]
    pub cosign_tag: CosignTagMode,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            insecure_registries: Vec::new(),
            ca_file: None,
            docker_config: None,
            max_manifest_bytes: 4 * MIB,
            max_blob_bytes: 16 * MIB,
            max_referrers: 64,
            max_referrer_layers: 8,
            max_total_bytes: 64 * MIB,
            request_timeout: Duration::from_secs(10),
            lookup_timeout: Duration::from_secs(25),
            max_redirects: 5,
            retries: 2,
            tag_cache_ttl: Duration::from_secs(30),
            evidence_cache_ttl: Duration::from_secs(600),
            failure_cache_ttl: Duration::from_secs(5),
            cache_max_entries: 10_000,
            cache_max_bytes: 128 * MIB,
            referrers_artifact_type: None,
            cosign_tag: CosignTagMode::Auto,
        }
    }
}

impl RegistryConfig {
    /// Whether `host` (as in the image reference) is reached over plain HTTP.
    pub fn is_insecure(&self, host: &str) -> bool {
        self.insecure_registries
            .iter()
            .any(|h| h.trim().eq_ignore_ascii_case(host))
    }
}

/// Durations as humantime text (`30s`, `10m`) in config files.
mod duration_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        reg: RegistryConfig,
    }

    #[test]
    fn clap_defaults_equal_serde_defaults() {
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(cli.reg, RegistryConfig::default());
        let from_yaml: RegistryConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(from_yaml, RegistryConfig::default());
    }

    #[test]
    fn parses_flags_and_files() {
        let cli = Cli::try_parse_from([
            "x",
            "--insecure-registry",
            "127.0.0.1:5000,localhost:5001",
            "--tag-cache-ttl",
            "1m",
        ])
        .unwrap();
        assert!(cli.reg.is_insecure("127.0.0.1:5000"));
        assert!(cli.reg.is_insecure("localhost:5001"));
        assert!(!cli.reg.is_insecure("ghcr.io"));
        assert_eq!(cli.reg.tag_cache_ttl, Duration::from_secs(60));
        let c: RegistryConfig =
            serde_json::from_str(r#"{"max-blob-bytes": 10, "lookup-timeout": "2s"}"#).unwrap();
        assert_eq!(c.max_blob_bytes, 10);
        assert_eq!(c.lookup_timeout, Duration::from_secs(2));
        assert!(serde_json::from_str::<RegistryConfig>(r#"{"nope": 1}"#).is_err());
    }
}
