//! Registry configuration: one plain struct shared by the webhook and every CLI command
//! that talks to a registry, read from a config file or mapped from the command line's
//! flags (`src/cli/registry_flags.rs`).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

/// When to consult cosign's legacy `sha256-<hex>.att` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct RegistryConfig {
    /// Registries (HOST or HOST:PORT) reached over plain HTTP; repeat or comma-separate.
    pub insecure_registries: Vec<String>,
    /// Extra PEM CA certificates trusted for registry TLS (added to the system roots).
    pub ca_file: Option<PathBuf>,
    /// Default credentials: a Docker `config.json` (or legacy `.dockercfg`) file, used when
    /// no pull secret matches the registry.
    pub docker_config: Option<PathBuf>,
    /// Largest manifest or referrers listing accepted, in bytes.
    pub max_manifest_bytes: u64,
    /// Largest attestation blob accepted, in bytes (checked before and while downloading).
    pub max_blob_bytes: u64,
    /// Most referrers examined per image.
    pub max_referrers: usize,
    /// Most evidence layers fetched from one referrer (or cosign tag) manifest; the rest
    /// are counted and left out.
    pub max_referrer_layers: usize,
    /// Most bytes downloaded per image lookup (manifests and blobs together).
    #[serde(rename = "max-evidence-bytes", alias = "max-total-bytes")]
    pub max_total_bytes: u64,
    /// Timeout of one HTTP request, body included.
    #[serde(with = "duration_text")]
    pub request_timeout: Duration,
    /// Deadline of a whole lookup (resolve or discover), retries included.
    #[serde(with = "duration_text")]
    pub lookup_timeout: Duration,
    /// Redirects followed per request (blob downloads are often redirected to storage).
    pub max_redirects: usize,
    /// Retries after 429/502/503/504, honouring a short `Retry-After`.
    pub retries: u32,
    /// How long a tag→digest answer is reused (tags move).
    #[serde(with = "duration_text")]
    pub tag_cache_ttl: Duration,
    /// How long discovered evidence of a digest is reused (digests do not move, but new
    /// attestations may be attached).
    #[serde(with = "duration_text")]
    pub evidence_cache_ttl: Duration,
    /// How long a failed lookup is remembered (to shed load from a failing registry).
    #[serde(with = "duration_text")]
    pub failure_cache_ttl: Duration,
    /// Most entries in each registry cache.
    #[serde(rename = "registry-cache-entries", alias = "cache-max-entries")]
    pub cache_max_entries: u64,
    /// Most bytes of evidence held in the cache.
    #[serde(rename = "registry-cache-bytes", alias = "cache-max-bytes")]
    pub cache_max_bytes: u64,
    /// Ask the Referrers API only for this artifact type (`?artifactType=`); results are
    /// filtered on the client as well, since registries may ignore the filter.
    pub referrers_artifact_type: Option<String>,
    /// When to look at cosign's legacy `sha256-<hex>.att` tag.
    pub cosign_tag: CosignTagMode,
    /// Connections opened (by `GET /v2/`) alongside the first request to a registry not
    /// asked for 20 s, so a lookup's parallel fetches need no new connection; not for a
    /// registry that answers over HTTP/2. 0: none.
    pub warm_connections: usize,
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
            warm_connections: 3,
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

    #[test]
    fn files_parse_with_defaults_and_refuse_unknown_keys() {
        let from_yaml: RegistryConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(from_yaml, RegistryConfig::default());
        let c: RegistryConfig =
            serde_json::from_str(r#"{"max-blob-bytes": 10, "lookup-timeout": "2s"}"#).unwrap();
        assert_eq!(c.max_blob_bytes, 10);
        assert_eq!(c.lookup_timeout, Duration::from_secs(2));
        assert!(serde_json::from_str::<RegistryConfig>(r#"{"nope": 1}"#).is_err());
    }
}
