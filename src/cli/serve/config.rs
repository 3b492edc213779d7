//! `custody serve` configuration: flags (each with a `CUSTODY_*` environment variable)
//! and an optional YAML file whose keys are the flag names (`listen`, `tls-cert`,
//! `decision-deadline`, ...). Precedence: flag or environment, then the file, then the
//! built-in default.

use anyhow::{Context as _, bail};
use custody::registry::RegistryConfig;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// A duration written the human way (`8s`, `250ms`, `1m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationArg(pub Duration);

impl FromStr for DurationArg {
    type Err = humantime::DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        humantime::parse_duration(s).map(DurationArg)
    }
}

impl<'de> serde::Deserialize<'de> for DurationArg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The workload kinds `/mutate` pins by default.
pub const DEFAULT_MUTATE_KINDS: &[&str] = custody::admission::workload::POD_KINDS;

/// Flags of `custody serve`. Every field is optional so that a flag, the environment and
/// the config file can be told apart; defaults are applied in [`Args::resolve`].
#[derive(Debug, Clone, Default, clap::Args, serde::Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct Args {
    /// YAML file whose keys mirror these flags (e.g. `decision-deadline: 8s`).
    #[arg(long, env = "CUSTODY_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Address to listen on [default: 0.0.0.0:8443].
    #[arg(long, env = "CUSTODY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Serving certificate chain (PEM); reloaded when it changes.
    #[arg(long, env = "CUSTODY_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// Serving private key (PEM); reloaded when it changes.
    #[arg(long, env = "CUSTODY_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// How often the certificate files are checked for changes [default: 10s].
    #[arg(long, env = "CUSTODY_TLS_RELOAD_INTERVAL")]
    pub tls_reload_interval: Option<DurationArg>,
    /// Generate a throwaway CA and certificate for `<service>.<namespace>.svc`,
    /// localhost and 127.0.0.1 (demos only).
    #[arg(long, env = "CUSTODY_SELF_SIGNED", num_args = 0..=1, default_missing_value = "true")]
    pub self_signed: Option<bool>,
    /// With --self-signed: write the generated CA certificate (PEM) here, for clients and
    /// a webhook configuration's caBundle.
    #[arg(long, env = "CUSTODY_SELF_SIGNED_CA_OUT")]
    pub self_signed_ca_out: Option<PathBuf>,
    /// custody's own namespace [default: custody].
    #[arg(long, env = "CUSTODY_NAMESPACE")]
    pub namespace: Option<String>,
    /// custody's Service name, for the self-signed certificate [default: custody].
    #[arg(long, env = "CUSTODY_SERVICE_NAME")]
    pub service_name: Option<String>,

    /// Time to reach a decision, kept below the webhook's timeoutSeconds [default: 8s].
    #[arg(long, env = "CUSTODY_DECISION_DEADLINE")]
    pub decision_deadline: Option<DurationArg>,
    /// Admit (with a warning) instead of denying when no decision is reached in time
    /// [default: false].
    #[arg(long, env = "CUSTODY_FAIL_OPEN", num_args = 0..=1, default_missing_value = "true")]
    pub fail_open: Option<bool>,
    /// Directory of policy bundles (one sub-directory per bundle), e.g. `policies/`.
    #[arg(long, env = "CUSTODY_POLICY_DIR")]
    pub policy_dir: Option<PathBuf>,
    /// Sigstore trusted root (`trusted_root.json`) for keyless attestors; reloaded when
    /// it changes, a broken one keeps the previous [default: the built-in public-good root].
    #[arg(long, env = "CUSTODY_TRUSTED_ROOT")]
    pub trusted_root: Option<PathBuf>,
    /// With --kubernetes: a ConfigMap in custody's namespace whose `trusted_root.json` key
    /// is the trusted root, watched and hot-reloaded.
    #[arg(long, env = "CUSTODY_TRUSTED_ROOT_CONFIGMAP")]
    pub trusted_root_configmap: Option<String>,

    /// Use the Kubernetes API: policy ConfigMaps, namespace labels, pull secrets
    /// [default: false].
    #[arg(long, env = "CUSTODY_KUBERNETES", num_args = 0..=1, default_missing_value = "true")]
    pub kubernetes: Option<bool>,
    /// With --kubernetes: load policy bundles from labelled ConfigMaps [default: true].
    #[arg(long, env = "CUSTODY_POLICY_CONFIGMAPS", num_args = 0..=1, default_missing_value = "true")]
    pub policy_configmaps: Option<bool>,
    /// Namespace of the policy ConfigMaps [default: --namespace].
    #[arg(long, env = "CUSTODY_POLICY_CONFIGMAP_NAMESPACE")]
    pub policy_configmap_namespace: Option<String>,
    /// Label selector of the policy ConfigMaps [default: custody.dev/policy].
    #[arg(long, env = "CUSTODY_POLICY_CONFIGMAP_SELECTOR")]
    pub policy_configmap_selector: Option<String>,
    /// With --kubernetes: authenticate to registries with the pod's and its service
    /// account's imagePullSecrets [default: true].
    #[arg(long, env = "CUSTODY_PULL_SECRET_AUTH", num_args = 0..=1, default_missing_value = "true")]
    pub pull_secret_auth: Option<bool>,
    /// How long pull secrets and service accounts are cached [default: 30s].
    #[arg(long, env = "CUSTODY_PULL_SECRET_TTL")]
    pub pull_secret_ttl: Option<DurationArg>,
    /// With --kubernetes: re-evaluate the images of running Pods this often (and when
    /// policies or the trusted root change) and publish PolicyReports, gauges and Events;
    /// never evicts or blocks anything [default: off].
    #[arg(long, env = "CUSTODY_BACKGROUND_SCAN")]
    pub background_scan: Option<DurationArg>,
    /// Distinct image digests the background scan evaluates at once [default: 4].
    #[arg(long, env = "CUSTODY_BACKGROUND_SCAN_CONCURRENCY")]
    pub background_scan_concurrency: Option<usize>,

    /// Kinds whose images `/mutate` pins to digests (comma-separated; empty disables)
    /// [default: Pod,Deployment,ReplicaSet,StatefulSet,DaemonSet,Job,CronJob,ReplicationController].
    #[arg(long, env = "CUSTODY_MUTATE_KINDS", value_delimiter = ',')]
    pub mutate_kinds: Option<Vec<String>>,

    /// Largest AdmissionReview body accepted, e.g. `4MiB` [default: 3136KiB (3 MiB + 64 KiB)].
    #[arg(long, env = "CUSTODY_MAX_BODY_BYTES", value_parser = custody::units::parse_size)]
    pub max_body_bytes: Option<u64>,
    /// Reviews decided at once; more wait for a slot [default: 256].
    #[arg(long, env = "CUSTODY_MAX_CONCURRENT_REVIEWS")]
    pub max_concurrent_reviews: Option<usize>,
    /// Time to receive a request body; a slower one is answered HTTP 408 [default: 5s].
    #[arg(long, env = "CUSTODY_REQUEST_BODY_TIMEOUT")]
    pub request_body_timeout: Option<DurationArg>,
    /// Open connections at most; at the limit the longest-idle connection is closed to
    /// make room, and when every connection is busy new ones wait [default: 1024].
    #[arg(long, env = "CUSTODY_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Close a connection with no request in progress for this long (HTTP/1.1 and
    /// HTTP/2); keep it above the apiserver's 90s idle timeout [default: 120s].
    #[arg(long, env = "CUSTODY_IDLE_TIMEOUT")]
    pub idle_timeout: Option<DurationArg>,
    /// How long shutdown waits for in-flight reviews [default: 25s].
    #[arg(long, env = "CUSTODY_SHUTDOWN_GRACE")]
    pub shutdown_grace: Option<DurationArg>,
    /// Serve `POST /bench/allow`, a constant allow used as the load-benchmark baseline.
    #[arg(long, env = "CUSTODY_BENCH_ALLOW_ROUTE", hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub bench_allow_route: Option<bool>,
    /// Require verified evidence for every platform manifest of a multi-platform image.
    #[arg(long, env = "CUSTODY_REQUIRE_ALL_PLATFORMS", num_args = 0..=1, default_missing_value = "true")]
    pub require_all_platforms: Option<bool>,
    /// What to do with an image no policy applies to (and with every image while no
    /// bundle is loaded): allow, warn (admit with a kubectl warning naming the image) or
    /// deny [default: warn].
    #[arg(long, env = "CUSTODY_NO_POLICY_ACTION")]
    pub no_policy_action: Option<custody::engine::NoPolicyAction>,
    /// Most distinct images one object may name; beyond it the object is denied
    /// (`too-large`) without any registry lookup [default: 64].
    #[arg(long, env = "CUSTODY_MAX_IMAGES_PER_REVIEW")]
    pub max_images_per_review: Option<usize>,
    /// Registry access (limits, timeouts, caches, insecure hosts, default credentials):
    /// the registry flags, or the config file's `registry:` section (whose keys are
    /// those flags' field names, e.g. `max-blob-bytes`). When any registry flag or
    /// environment variable is set, the flags are used and the file's section ignored.
    #[arg(skip)]
    #[serde(default)]
    pub registry: RegistryConfig,
    /// The registry flags (see `registry`); not a key of the file.
    #[command(flatten)]
    #[serde(skip)]
    pub registry_flags: crate::cli::registry_flags::RegistryFlags,
}

/// Resolved settings of `custody serve`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The HTTPS server.
    pub server: custody_server::ServerConfig,
    /// Where to write the self-signed CA, if generated.
    pub self_signed_ca_out: Option<PathBuf>,
    /// Decision deadline (the reviewer's).
    pub decision_deadline: Duration,
    /// Allow with a warning when the deadline runs out.
    pub fail_open: bool,
    /// Policy bundles from a directory.
    pub policy_dir: Option<PathBuf>,
    /// The trusted root file, if not the built-in one.
    pub trusted_root: Option<PathBuf>,
    /// Kubernetes API use; `None` without `--kubernetes`.
    pub kube: Option<KubeSettings>,
    /// Kinds `/mutate` pins.
    pub mutate_kinds: Vec<String>,
    /// Require evidence for every platform of a multi-platform image.
    pub require_all_platforms: bool,
    /// What happens to images no policy applies to.
    pub no_policy_action: custody::engine::NoPolicyAction,
    /// Most distinct images per object.
    pub max_images_per_review: usize,
    /// Registry access.
    pub registry: RegistryConfig,
}

/// What custody reads from the Kubernetes API.
#[derive(Debug, Clone)]
pub struct KubeSettings {
    /// custody's namespace.
    pub namespace: String,
    /// Namespace and label selector of policy ConfigMaps, when enabled.
    pub policy_configmaps: Option<(String, String)>,
    /// Pull-secret cache TTL, when pull-secret auth is enabled.
    pub pull_secrets: Option<Duration>,
    /// The trusted-root ConfigMap's name, when given.
    pub trusted_root_configmap: Option<String>,
    /// The background scan, when enabled.
    pub background_scan: Option<custody::k8s::ScanConfig>,
}

// A local alias so this file reads the same whether or not server types move.
use custody::server as custody_server;

impl Args {
    /// Reads the config file (if any) and fills every unset flag from it, then defaults.
    pub fn resolve(self) -> anyhow::Result<Settings> {
        let merged = match self.config.clone() {
            Some(path) => self.merge(Self::from_file(&path)?),
            // The registry flags reach `registry` only through the merge.
            None => self.merge(Args::default()),
        };
        merged.into_settings()
    }

    fn from_file(path: &Path) -> anyhow::Result<Args> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        if text.trim().is_empty() {
            return Ok(Args::default());
        }
        yaml_serde::from_str(&text)
            .with_context(|| format!("parsing config file {}", path.display()))
    }

    /// Fields set here win; unset ones come from `file`.
    fn merge(self, file: Args) -> Args {
        Args {
            config: self.config,
            listen: self.listen.or(file.listen),
            tls_cert: self.tls_cert.or(file.tls_cert),
            tls_key: self.tls_key.or(file.tls_key),
            tls_reload_interval: self.tls_reload_interval.or(file.tls_reload_interval),
            self_signed: self.self_signed.or(file.self_signed),
            self_signed_ca_out: self.self_signed_ca_out.or(file.self_signed_ca_out),
            namespace: self.namespace.or(file.namespace),
            service_name: self.service_name.or(file.service_name),
            decision_deadline: self.decision_deadline.or(file.decision_deadline),
            fail_open: self.fail_open.or(file.fail_open),
            policy_dir: self.policy_dir.or(file.policy_dir),
            trusted_root: self.trusted_root.or(file.trusted_root),
            trusted_root_configmap: self.trusted_root_configmap.or(file.trusted_root_configmap),
            kubernetes: self.kubernetes.or(file.kubernetes),
            policy_configmaps: self.policy_configmaps.or(file.policy_configmaps),
            policy_configmap_namespace: self
                .policy_configmap_namespace
                .or(file.policy_configmap_namespace),
            policy_configmap_selector: self
                .policy_configmap_selector
                .or(file.policy_configmap_selector),
            pull_secret_auth: self.pull_secret_auth.or(file.pull_secret_auth),
            pull_secret_ttl: self.pull_secret_ttl.or(file.pull_secret_ttl),
            background_scan: self.background_scan.or(file.background_scan),
            background_scan_concurrency: self
                .background_scan_concurrency
                .or(file.background_scan_concurrency),
            mutate_kinds: self.mutate_kinds.or(file.mutate_kinds),
            max_body_bytes: self.max_body_bytes.or(file.max_body_bytes),
            max_concurrent_reviews: self.max_concurrent_reviews.or(file.max_concurrent_reviews),
            request_body_timeout: self.request_body_timeout.or(file.request_body_timeout),
            max_connections: self.max_connections.or(file.max_connections),
            idle_timeout: self.idle_timeout.or(file.idle_timeout),
            shutdown_grace: self.shutdown_grace.or(file.shutdown_grace),
            bench_allow_route: self.bench_allow_route.or(file.bench_allow_route),
            require_all_platforms: self.require_all_platforms.or(file.require_all_platforms),
            no_policy_action: self.no_policy_action.or(file.no_policy_action),
            max_images_per_review: self.max_images_per_review.or(file.max_images_per_review),
            registry: match RegistryConfig::from(self.registry_flags) {
                flags if flags == RegistryConfig::default() => file.registry,
                flags => flags,
            },
            registry_flags: Default::default(),
        }
    }

    fn into_settings(self) -> anyhow::Result<Settings> {
        use custody_server::{ServerConfig, TlsSource};
        let dur =
            |d: Option<DurationArg>, default: u64| d.map_or(Duration::from_secs(default), |d| d.0);
        let namespace = self.namespace.unwrap_or_else(|| "custody".into());
        let service = self.service_name.unwrap_or_else(|| "custody".into());
        let self_signed = self.self_signed.unwrap_or(false);
        let tls = match (self_signed, self.tls_cert, self.tls_key) {
            (true, None, None) => TlsSource::SelfSigned {
                names: vec![
                    format!("{service}.{namespace}.svc"),
                    format!("{service}.{namespace}.svc.cluster.local"),
                    "localhost".into(),
                    "127.0.0.1".into(),
                ],
            },
            (true, _, _) => bail!("--self-signed cannot be combined with --tls-cert/--tls-key"),
            (false, Some(cert), Some(key)) => TlsSource::Files {
                cert,
                key,
                reload_interval: dur(self.tls_reload_interval, 10),
            },
            (false, _, _) => {
                bail!(
                    "a serving certificate is required: give --tls-cert and --tls-key, or --self-signed for a demo"
                )
            }
        };
        if self.self_signed_ca_out.is_some() && !self_signed {
            bail!("--self-signed-ca-out only makes sense with --self-signed");
        }
        let deadline = dur(self.decision_deadline, 8);
        if deadline.is_zero() {
            bail!("--decision-deadline must be positive");
        }
        let fail_open = self.fail_open.unwrap_or(false);
        let mut server = ServerConfig::new(
            self.listen
                .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 8443))),
            tls,
        );
        // The server's own bound sits just past the reviewer's deadline.
        server.review_bound = deadline + Duration::from_millis(750);
        server.fail_open = fail_open;
        if let Some(n) = self.max_body_bytes {
            server.max_body_bytes = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = self.max_concurrent_reviews {
            if n == 0 {
                bail!("--max-concurrent-reviews must be at least 1");
            }
            server.max_concurrent_reviews = n;
        }
        if let Some(d) = self.request_body_timeout {
            if d.0.is_zero() {
                bail!("--request-body-timeout must be positive");
            }
            server.request_body_timeout = d.0;
        }
        if let Some(n) = self.max_connections {
            if n == 0 {
                bail!("--max-connections must be at least 1");
            }
            server.max_connections = n;
        }
        if let Some(d) = self.idle_timeout {
            if d.0.is_zero() {
                bail!("--idle-timeout must be positive");
            }
            server.idle_timeout = d.0;
        }
        server.shutdown_grace = dur(self.shutdown_grace, 25);
        server.bench_allow_route = self.bench_allow_route.unwrap_or(false);

        let kube = self.kubernetes.unwrap_or(false).then(|| KubeSettings {
            policy_configmaps: self.policy_configmaps.unwrap_or(true).then(|| {
                (
                    self.policy_configmap_namespace
                        .clone()
                        .unwrap_or_else(|| namespace.clone()),
                    self.policy_configmap_selector
                        .clone()
                        .unwrap_or_else(|| custody::k8s::POLICY_LABEL.into()),
                )
            }),
            pull_secrets: self
                .pull_secret_auth
                .unwrap_or(true)
                .then(|| dur(self.pull_secret_ttl, 30)),
            namespace: namespace.clone(),
            trusted_root_configmap: self.trusted_root_configmap.clone(),
            background_scan: self.background_scan.map(|d| custody::k8s::ScanConfig {
                concurrency: self
                    .background_scan_concurrency
                    .unwrap_or(custody::k8s::scan::DEFAULT_CONCURRENCY),
                ..custody::k8s::ScanConfig::new(d.0)
            }),
        });
        background_scan_checks(
            self.background_scan,
            self.background_scan_concurrency,
            kube.is_some(),
        )?;
        if self.trusted_root_configmap.is_some() && kube.is_none() {
            bail!("--trusted-root-configmap needs --kubernetes");
        }
        if self.trusted_root_configmap.is_some() && self.trusted_root.is_some() {
            bail!("give --trusted-root or --trusted-root-configmap, not both");
        }
        let mutate_kinds = self
            .mutate_kinds
            .unwrap_or_else(|| {
                DEFAULT_MUTATE_KINDS
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect()
            })
            .into_iter()
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .collect();
        Ok(Settings {
            server,
            self_signed_ca_out: self.self_signed_ca_out,
            decision_deadline: deadline,
            fail_open,
            policy_dir: self.policy_dir,
            trusted_root: self.trusted_root,
            kube,
            mutate_kinds,
            require_all_platforms: self.require_all_platforms.unwrap_or(false),
            no_policy_action: self.no_policy_action.unwrap_or_default(),
            max_images_per_review: match self.max_images_per_review {
                Some(0) => bail!("--max-images-per-review must be at least 1"),
                Some(n) => n,
                None => custody::engine::EngineConfig::default().max_images,
            },
            registry: self.registry,
        })
    }
}

/// The background scan's flags: it needs the Kubernetes API, a positive interval and
/// at least one evaluation at a time.
fn background_scan_checks(
    interval: Option<DurationArg>,
    concurrency: Option<usize>,
    kubernetes: bool,
) -> anyhow::Result<()> {
    if let Some(d) = interval {
        if !kubernetes {
            bail!("--background-scan needs --kubernetes");
        }
        if d.0.is_zero() {
            bail!("--background-scan must be positive (leave it unset to turn the scan off)");
        }
    }
    if concurrency == Some(0) {
        bail!("--background-scan-concurrency must be at least 1");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(argv: &[&str]) -> Args {
        Cli::try_parse_from(std::iter::once("serve").chain(argv.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn defaults_with_self_signed() {
        let s = parse(&["--self-signed"]).resolve().unwrap();
        assert_eq!(s.decision_deadline, Duration::from_secs(8));
        assert!(!s.fail_open);
        assert!(s.kube.is_none());
        assert_eq!(s.mutate_kinds.len(), 8);
        assert_eq!(s.server.listen.port(), 8443);
        assert_eq!(s.server.max_connections, 1024);
        assert_eq!(s.server.idle_timeout, Duration::from_secs(120));
        assert_eq!(s.server.request_body_timeout, Duration::from_secs(5));
        match s.server.tls {
            custody::server::TlsSource::SelfSigned { names } => {
                assert!(names.contains(&"custody.custody.svc".to_owned()));
                assert!(names.contains(&"127.0.0.1".to_owned()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn file_fills_unset_flags_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custody.yaml");
        std::fs::write(
            &path,
            "self-signed: true\ndecision-deadline: 5s\nfail-open: true\nlisten: 127.0.0.1:9443\n\
             kubernetes: true\npull-secret-auth: false\nmutate-kinds: [Pod]\n",
        )
        .unwrap();
        let s = parse(&[
            "--config",
            path.to_str().unwrap(),
            "--decision-deadline",
            "3s",
        ])
        .resolve()
        .unwrap();
        assert_eq!(s.decision_deadline, Duration::from_secs(3));
        assert!(s.fail_open);
        assert_eq!(s.server.listen.port(), 9443);
        let kube = s.kube.unwrap();
        assert!(kube.pull_secrets.is_none());
        assert_eq!(
            kube.policy_configmaps,
            Some(("custody".into(), "custody.dev/policy".into()))
        );
        assert_eq!(s.mutate_kinds, vec!["Pod"]);
    }

    #[test]
    fn registry_settings_come_from_flags_or_the_file_section() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custody.yaml");
        std::fs::write(
            &path,
            "self-signed: true\nregistry:\n  insecure-registries: [\"127.0.0.1:5000\"]\n  max-referrers: 7\n",
        )
        .unwrap();
        let from_file = parse(&["--config", path.to_str().unwrap()])
            .resolve()
            .unwrap();
        assert_eq!(from_file.registry.max_referrers, 7);
        assert!(from_file.registry.is_insecure("127.0.0.1:5000"));
        let from_flags = parse(&[
            "--config",
            path.to_str().unwrap(),
            "--insecure-registry",
            "localhost:5001",
        ])
        .resolve()
        .unwrap();
        assert!(from_flags.registry.is_insecure("localhost:5001"));
        assert!(!from_flags.registry.is_insecure("127.0.0.1:5000"));
        assert_eq!(from_flags.registry.max_referrers, 64);
        let flags_only = parse(&["--self-signed", "--max-referrers", "9"])
            .resolve()
            .unwrap();
        assert_eq!(flags_only.registry.max_referrers, 9);
    }

    #[test]
    fn connection_limits_come_from_flags_or_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custody.yaml");
        std::fs::write(
            &path,
            "self-signed: true\nmax-connections: 100\nidle-timeout: 95s\nrequest-body-timeout: 2s\n",
        )
        .unwrap();
        let s = parse(&["--config", path.to_str().unwrap(), "--max-connections", "7"])
            .resolve()
            .unwrap();
        assert_eq!(s.server.max_connections, 7);
        assert_eq!(s.server.idle_timeout, Duration::from_secs(95));
        assert_eq!(s.server.request_body_timeout, Duration::from_secs(2));
        for bad in [
            ["--max-connections", "0"],
            ["--idle-timeout", "0s"],
            ["--request-body-timeout", "0s"],
        ] {
            let err = parse(&["--self-signed", bad[0], bad[1]])
                .resolve()
                .unwrap_err();
            assert!(err.to_string().contains(bad[0]), "{err}");
        }
    }

    #[test]
    fn background_scan_is_off_by_default_and_needs_kubernetes() {
        let s = parse(&["--self-signed", "--kubernetes"]).resolve().unwrap();
        assert!(s.kube.unwrap().background_scan.is_none());
        let s = parse(&["--self-signed", "--kubernetes", "--background-scan", "10m"])
            .resolve()
            .unwrap();
        let scan = s.kube.unwrap().background_scan.unwrap();
        assert_eq!(scan.interval, Duration::from_secs(600));
        assert_eq!(scan.concurrency, 4);
        for bad in [
            &["--self-signed", "--background-scan", "10m"][..],
            &["--self-signed", "--kubernetes", "--background-scan", "0s"],
            &[
                "--self-signed",
                "--kubernetes",
                "--background-scan-concurrency",
                "0",
            ],
        ] {
            let err = parse(bad).resolve().unwrap_err();
            assert!(err.to_string().contains("--background-scan"), "{err}");
        }
    }

    #[test]
    fn unknown_file_keys_and_missing_certificates_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custody.yaml");
        std::fs::write(&path, "self-signed: true\ndeadline: 5s\n").unwrap();
        let err = parse(&["--config", path.to_str().unwrap()])
            .resolve()
            .unwrap_err();
        assert!(format!("{err:#}").contains("deadline"), "{err:#}");
        let err = parse(&[]).resolve().unwrap_err();
        assert!(err.to_string().contains("--tls-cert"), "{err}");
        let err = parse(&["--self-signed", "--tls-cert", "a.pem"])
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("cannot be combined"), "{err}");
    }
}
