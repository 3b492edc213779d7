//! `custody review FILE`: decide an AdmissionReview (or a bare object, as `kubectl create
//! … --dry-run=client -o json` prints it) exactly as the webhook would, and print the
//! answer. Exit 0 admitted, 1 denied, 2 unusable input.

use anyhow::Context as _;
use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::common;
use custody::admission::{self, DecisionOptions};
use custody::registry::RegistryConfig;
use custody::server::Outcome;
use custody::webhook::{EngineChecker, FixedLabels, Webhook, WebhookOptions};

pub use super::common::Output;

/// Arguments of `custody review`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// An AdmissionReview, or a bare Kubernetes object (wrapped as a CREATE); `-` reads stdin.
    #[arg(env = "CUSTODY_REVIEW_FILE")]
    pub file: PathBuf,
    /// Policy bundles: a bundle directory or a directory of them.
    #[arg(long, env = "CUSTODY_POLICIES")]
    pub policies: PathBuf,
    /// For a bare object: the namespace it is created in.
    #[arg(long, env = "CUSTODY_TARGET_NAMESPACE", default_value = "default")]
    pub namespace: String,
    /// A label of the namespace (`key=value`); repeat for several.
    #[arg(long = "namespace-label", env = "CUSTODY_NAMESPACE_LABELS", value_delimiter = ',', value_parser = common::parse_label)]
    pub namespace_labels: Vec<(String, String)>,
    /// For a bare object: the requesting user.
    #[arg(long, env = "CUSTODY_REVIEW_USER", default_value = "custody-review")]
    pub user: String,
    /// Answer as the mutating webhook (`/mutate`: digest pinning) instead of validating.
    #[arg(long, env = "CUSTODY_REVIEW_MUTATE")]
    pub mutate: bool,
    /// Decision deadline.
    #[arg(long, env = "CUSTODY_DECISION_DEADLINE", default_value = "8s", value_parser = humantime::parse_duration)]
    pub deadline: Duration,
    /// Admit with a warning when the only failures are timeouts or unreachable registries.
    #[arg(long, env = "CUSTODY_FAIL_OPEN")]
    pub fail_open: bool,
    /// Require verified evidence for every platform of a multi-platform image.
    #[arg(long, env = "CUSTODY_REQUIRE_ALL_PLATFORMS")]
    pub require_all_platforms: bool,
    /// What to do with an image no policy applies to: allow, warn (admit with a warning)
    /// or deny.
    #[arg(long, env = "CUSTODY_NO_POLICY_ACTION", default_value = "warn")]
    pub no_policy_action: custody::engine::NoPolicyAction,
    /// Output format.
    #[arg(short = 'o', long = "output", env = "CUSTODY_OUTPUT", value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Sigstore trusted root (`trusted_root.json`) for keyless attestors [default: the
    /// built-in public-good root].
    #[arg(long, env = "CUSTODY_TRUSTED_ROOT")]
    pub trusted_root: Option<std::path::PathBuf>,
    /// Registry access.
    #[command(flatten)]
    pub registry: super::registry_flags::RegistryFlags,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let body = read_review(&args)?;
    common::use_trusted_root(args.trusted_root.as_deref())?;
    let store = common::load_policies(&args.policies)?;
    let (engine, defaults) = common::engine(
        &RegistryConfig::from(args.registry.clone()),
        store,
        custody::engine::EngineConfig {
            require_all_platforms: args.require_all_platforms,
            no_policy: args.no_policy_action,
            ..Default::default()
        },
    )?;
    let labels: BTreeMap<String, String> = args.namespace_labels.iter().cloned().collect();
    let checker = EngineChecker::new(engine, Arc::new(FixedLabels(labels)), None, defaults);
    let options = WebhookOptions {
        decision: DecisionOptions {
            fail_open: args.fail_open,
            ..DecisionOptions::default()
        },
        deadline: args.deadline,
        decision_log: false,
        ..WebhookOptions::default()
    };
    let webhook = Webhook::new(Arc::new(checker), options);
    let outcome = super::runtime()?.block_on(webhook.review(&body, args.mutate));
    let response: serde_json::Value =
        serde_json::from_slice(&outcome.body).context("reading the webhook's own answer")?;
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&response)?),
        Output::Text => print!("{}", kubectl_text(&response["response"])),
    }
    Ok(match outcome.outcome {
        Outcome::Allowed => ExitCode::SUCCESS,
        Outcome::Denied => ExitCode::from(1),
        Outcome::Error => ExitCode::from(2),
    })
}

/// The review body: the file as is when it is an AdmissionReview, else the object wrapped.
fn read_review(args: &Args) -> anyhow::Result<Vec<u8>> {
    let mut raw = Vec::new();
    if args.file.as_os_str() == "-" {
        std::io::stdin()
            .read_to_end(&mut raw)
            .context("reading standard input")?;
    } else {
        raw = std::fs::read(&args.file)
            .with_context(|| format!("reading {}", args.file.display()))?;
    }
    let doc: serde_json::Value = match serde_json::from_slice(&raw) {
        Ok(v) => v,
        // Not JSON: hand it over as is, so the answer is the webhook's own refusal.
        Err(_) => return Ok(raw),
    };
    if doc.get("kind").and_then(|k| k.as_str()) == Some("AdmissionReview") {
        return Ok(raw);
    }
    let review = admission::review::synthesize(
        &doc,
        admission::Operation::Create,
        &args.namespace,
        &args.user,
    );
    Ok(review.to_string().into_bytes())
}

/// What `kubectl apply` prints for this answer.
fn kubectl_text(response: &serde_json::Value) -> String {
    let mut out = String::new();
    for w in response["warnings"].as_array().into_iter().flatten() {
        out.push_str(&format!("Warning: {}\n", w.as_str().unwrap_or_default()));
    }
    if let Some(map) = response["auditAnnotations"].as_object() {
        for (k, v) in map {
            out.push_str(&format!("audit: {k}: {}\n", v.as_str().unwrap_or_default()));
        }
    }
    if response["allowed"] == true {
        out.push_str("admitted\n");
        if let Some(patch) = response["patch"].as_str() {
            out.push_str(&format!("patch (base64 JSONPatch): {patch}\n"));
        }
    } else {
        let msg = response["status"]["message"].as_str().unwrap_or("denied");
        out.push_str(&format!("denied: {msg}\n"));
    }
    out
}
