//! `custody report (IMAGE… | --kubernetes) --policies DIR`: the evidence report an
//! auditor reads, as JSON (`kind: EvidenceReport`), Markdown or one HTML page. Exit 0
//! when every control is satisfied or not applicable for every image, 1 when any failed,
//! 2 on unusable input.

use anyhow::Context as _;
use custody::policy::input::NamespaceInfo;
use custody::registry::{ImageRef, RegistryConfig};
use custody::report::{self, EvaluateOptions, Scope, Target};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Output formats of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The `EvidenceReport` document (docs/controls.md).
    Json,
    /// Markdown: summary, matrix, evidence.
    Markdown,
    /// One self-contained HTML page (prints to PDF).
    Html,
}

/// Arguments of `custody report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Image references to report on (or `--kubernetes`).
    #[arg(required_unless_present = "kubernetes", conflicts_with = "kubernetes")]
    pub images: Vec<String>,
    /// Report on what runs in the cluster: every container of every Pod, listed through
    /// the Kubernetes API (in-cluster or kubeconfig, as `custody serve` connects).
    #[arg(long, env = "CUSTODY_REPORT_KUBERNETES")]
    pub kubernetes: bool,
    /// The namespace: with `--kubernetes`, only its Pods; with images, where they would
    /// run [default: all namespaces / `default`].
    #[arg(long, env = "CUSTODY_NAMESPACE")]
    pub namespace: Option<String>,
    /// A label of that namespace for images named on the command line (`key=value`).
    #[arg(long = "namespace-label", value_delimiter = ',', value_parser = super::common::parse_label)]
    pub namespace_labels: Vec<(String, String)>,
    /// Policy bundles: a bundle directory or a directory of them.
    #[arg(long, env = "CUSTODY_POLICIES")]
    pub policies: PathBuf,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Markdown)]
    pub output: Format,
    /// Write the report to this file instead of standard output.
    #[arg(long)]
    pub output_file: Option<PathBuf>,
    /// Evaluation time given to policies (RFC 3339); default now.
    #[arg(long, env = "CUSTODY_EVALUATION_TIME")]
    pub time: Option<chrono::DateTime<chrono::Utc>>,
    /// Deadline of each image's decision.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub deadline: Duration,
    /// Images evaluated at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Require verified evidence for every platform of a multi-platform image.
    #[arg(long, env = "CUSTODY_REQUIRE_ALL_PLATFORMS")]
    pub require_all_platforms: bool,
    /// Sigstore trusted root (`trusted_root.json`) for keyless attestors [default: the
    /// built-in public-good root].
    #[arg(long, env = "CUSTODY_TRUSTED_ROOT")]
    pub trusted_root: Option<PathBuf>,
    /// Registry access.
    #[command(flatten)]
    pub registry: super::registry_flags::RegistryFlags,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    for image in &args.images {
        ImageRef::parse(image).with_context(|| format!("image {image:?}"))?;
    }
    super::common::use_trusted_root(args.trusted_root.as_deref())?;
    let store = super::common::load_policies(&args.policies)?;
    let (engine, credentials) = super::common::engine(
        &RegistryConfig::from(args.registry.clone()),
        store.clone(),
        custody::engine::EngineConfig {
            require_all_platforms: args.require_all_platforms,
            no_policy: custody::engine::NoPolicyAction::Allow,
            ..Default::default()
        },
    )?;
    let time = args.time.unwrap_or_else(chrono::Utc::now);
    let opts = EvaluateOptions {
        time: Some(time),
        credentials,
        deadline: args.deadline,
        concurrency: args.concurrency,
    };
    let rt = super::runtime()?;
    let line = super::progress::Progress::new("custody report");
    let progress = |done: usize, total: usize| line.count(done, total, "images");
    let evaluated = rt.block_on(async {
        let targets = targets(&args).await?;
        anyhow::Ok(report::evaluate(&engine, targets, &opts, &progress).await)
    })?;
    let bundles: Vec<_> = store.snapshot().bundles().into_iter().cloned().collect();
    let scope = Scope {
        source: if args.kubernetes {
            "kubernetes"
        } else {
            "images"
        }
        .to_owned(),
        namespace: args.namespace.clone(),
        time,
    };
    let doc = report::build(&bundles, evaluated, &scope);
    let text = match args.output {
        Format::Json => serde_json::to_string_pretty(&doc)? + "\n",
        Format::Markdown => report::markdown::render(&doc),
        Format::Html => report::html::render(&doc),
    };
    match &args.output_file {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("writing the report to {}", path.display()))?,
        None => print!("{text}"),
    }
    let failed = doc.controls.iter().any(|c| c.failed > 0);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn targets(args: &Args) -> anyhow::Result<Vec<Target>> {
    if !args.kubernetes {
        let namespace = NamespaceInfo {
            name: args.namespace.clone().unwrap_or_else(|| "default".into()),
            labels: args
                .namespace_labels
                .iter()
                .cloned()
                .collect::<BTreeMap<_, _>>(),
        };
        return Ok(args
            .images
            .iter()
            .map(|image| Target {
                image: image.clone(),
                namespace: namespace.clone(),
                workloads: Vec::new(),
            })
            .collect());
    }
    let client = custody::k8s::client().await?;
    let ns = args.namespace.as_deref();
    let running = custody::k8s::pods::running_containers(&client, ns).await?;
    let labels = custody::k8s::pods::namespace_labels(&client, ns).await?;
    Ok(report::collect::from_running(running, &labels))
}
