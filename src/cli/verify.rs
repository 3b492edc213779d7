//! `custody verify IMAGE… --policies DIR`: the webhook's decision for images, outside a
//! cluster (a CI gate). Exit 0 when every image is admitted, 1 when any is denied, 2 when
//! the input is unusable (bad reference, policies that do not load).

use anyhow::Context as _;
use custody::engine::{CheckRequest, ImageUse, ImageVerdict};
use custody::policy::input::{NamespaceInfo, RequestInfo};
use custody::registry::{ImageRef, RegistryConfig};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

pub use super::common::Output;

/// Arguments of `custody verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Image references, as a pod spec would write them.
    #[arg(required = true, env = "CUSTODY_VERIFY_IMAGES", value_delimiter = ' ')]
    pub images: Vec<String>,
    /// Policy bundles: a bundle directory or a directory of them.
    #[arg(long, env = "CUSTODY_POLICIES")]
    pub policies: PathBuf,
    /// The namespace the images would run in.
    #[arg(long, env = "CUSTODY_TARGET_NAMESPACE", default_value = "default")]
    pub namespace: String,
    /// A label of that namespace (`key=value`); repeat for several.
    #[arg(long = "namespace-label", env = "CUSTODY_NAMESPACE_LABELS", value_delimiter = ',', value_parser = super::common::parse_label)]
    pub namespace_labels: Vec<(String, String)>,
    /// Output format.
    #[arg(short = 'o', long = "output", env = "CUSTODY_OUTPUT", value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Decision deadline for all images together.
    #[arg(long = "decision-deadline", alias = "deadline", env = "CUSTODY_DECISION_DEADLINE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub deadline: Duration,
    /// Require verified evidence for every platform of a multi-platform image.
    #[arg(long, env = "CUSTODY_REQUIRE_ALL_PLATFORMS")]
    pub require_all_platforms: bool,
    /// What to do with an image no policy applies to: allow, warn (admit with a warning)
    /// or deny.
    #[arg(long, env = "CUSTODY_NO_POLICY_ACTION", default_value = "warn")]
    pub no_policy_action: custody::engine::NoPolicyAction,
    /// Evaluation time given to policies (RFC 3339); default now.
    #[arg(long, env = "CUSTODY_EVALUATION_TIME")]
    pub time: Option<chrono::DateTime<chrono::Utc>>,
    /// Sigstore trusted root (`trusted_root.json`) for keyless attestors [default: the
    /// built-in public-good root].
    #[arg(long, env = "CUSTODY_TRUSTED_ROOT")]
    pub trusted_root: Option<PathBuf>,
    /// Registry access.
    #[command(flatten)]
    pub registry: super::registry_flags::RegistryFlags,
}

/// The JSON document `-o json` prints.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    api_version: &'static str,
    kind: &'static str,
    admitted: bool,
    namespace: &'a str,
    policies: Vec<String>,
    images: Vec<ImageReport<'a>>,
}

#[derive(Debug, Serialize)]
struct ImageReport<'a> {
    admitted: bool,
    #[serde(flatten)]
    verdict: &'a ImageVerdict,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    for image in &args.images {
        ImageRef::parse(image).with_context(|| format!("image {image:?}"))?;
    }
    super::common::use_trusted_root(args.trusted_root.as_deref())?;
    let store = super::common::load_policies(&args.policies)?;
    let (engine, defaults) = super::common::engine(
        &RegistryConfig::from(args.registry.clone()),
        store.clone(),
        custody::engine::EngineConfig {
            require_all_platforms: args.require_all_platforms,
            no_policy: args.no_policy_action,
            ..Default::default()
        },
    )?;
    let req = CheckRequest {
        images: args
            .images
            .iter()
            .enumerate()
            .map(|(i, im)| ImageUse::container(im, &format!("image-{}", i + 1)))
            .collect(),
        namespace: NamespaceInfo {
            name: args.namespace.clone(),
            labels: args
                .namespace_labels
                .iter()
                .cloned()
                .collect::<BTreeMap<_, _>>(),
        },
        request: RequestInfo {
            operation: "CREATE".into(),
            user: "custody-verify".into(),
            ..RequestInfo::default()
        },
        credentials: defaults,
        time: args.time,
        ..CheckRequest::default()
    };
    let rt = super::runtime()?;
    let progress = super::progress::Progress::new("custody verify");
    let checking = match req.images.len() {
        1 => "checking 1 image".to_owned(),
        n => format!("checking {n} images"),
    };
    let verdicts = rt.block_on(async {
        let deadline = tokio::time::Instant::now() + args.deadline;
        progress
            .during(&checking, engine.check(&req, deadline))
            .await
    });
    let admitted = verdicts.iter().all(ImageVerdict::admitted);
    match args.output {
        Output::Json => {
            let doc = Report {
                api_version: "custody.dev/v1",
                kind: "VerifyResult",
                admitted,
                namespace: &args.namespace,
                policies: store
                    .snapshot()
                    .bundles()
                    .iter()
                    .map(|b| b.name().to_owned())
                    .collect(),
                images: verdicts
                    .iter()
                    .map(|v| ImageReport {
                        admitted: v.admitted(),
                        verdict: v,
                    })
                    .collect(),
            };
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Output::Text => print!("{}", super::verify_text::render(&verdicts)),
    }
    Ok(if admitted {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
