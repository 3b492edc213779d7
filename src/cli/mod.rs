//! The command line: one subcommand per job. Every subcommand shares the same
//! configuration types as the webhook, so a CI gate gets exactly the webhook's answer.
//!
//! Exit codes: 0 success (admitted, verified), 1 a negative answer (denied, not verified,
//! failing test), 2 unusable input or a failure to run at all.
//!

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod attest;
mod attestations;
mod bundle;
mod common;
mod envelope;
mod keygen;
mod layout;
mod link;
mod policy;
mod policy_report;
mod progress;
mod registry_access;
mod registry_flags;
mod report;
mod review;
mod serve;
mod verify;
mod verify_text;

/// custody: admit only images whose signed in-toto attestations satisfy your policies.
#[derive(Debug, Parser)]
#[command(name = "custody", version = env!("CUSTODY_BUILD_VERSION"), about, long_about = None)]
pub struct Cli {
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `custody=debug`.
    #[arg(long, global = true, env = "CUSTODY_LOG", default_value = "warn")]
    pub log: String,
    /// Log format: `text` for people, `json` for log pipelines.
    #[arg(
        long,
        global = true,
        env = "CUSTODY_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// Heap size (bytes, or with a KiB/MiB/GiB suffix) at which Rego evaluations stop
    /// with an error, which denies; `0` disables the ceiling [default: 224MiB].
    #[arg(long, global = true, env = "CUSTODY_POLICY_MEMORY_LIMIT", value_parser = custody::units::parse_size)]
    pub policy_memory_limit: Option<u64>,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
// Parsed once per process: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the admission webhook server.
    Serve(serve::Args),
    /// Verify images against policies exactly as the webhook would (CI gate).
    Verify(Box<verify::Args>),
    /// The evidence report: each control's outcome and evidence per image (JSON,
    /// Markdown or HTML), for images or for what runs in a cluster.
    Report(Box<report::Args>),
    /// Decide an AdmissionReview read from a file, as the webhook would, and print the response.
    Review(review::Args),
    /// List the attestations attached to an image and where each was found.
    Attestations(attestations::Args),
    /// Work with DSSE envelopes.
    #[command(subcommand)]
    Envelope(envelope::Command),
    /// Verify Sigstore bundles (keyless or with a key) offline against a trusted root.
    #[command(subcommand)]
    Bundle(bundle::Command),
    /// Test and lint policy bundles.
    #[command(subcommand)]
    Policy(policy::Command),
    /// Generate a signing key pair.
    Keygen(keygen::Args),
    /// Create, sign and attach an attestation to an image.
    Attest(attest::Args),
    /// Verify and sign in-toto layouts.
    #[command(subcommand)]
    Layout(layout::Command),
    /// Record in-toto links.
    #[command(subcommand)]
    Link(link::Command),
    /// Print custody's version and the git revision it was built from.
    Version,
    /// Print a shell completion script (e.g. `source <(custody completion bash)`).
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log, cli.log_format);
    let ceiling = cli
        .policy_memory_limit
        .unwrap_or(custody::policy::limits::DEFAULT_MEMORY_CEILING);
    custody::policy::limits::set_memory_ceiling((ceiling > 0).then_some(ceiling));
    if rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .is_err()
    {
        tracing::debug!("a rustls crypto provider was already installed");
    }
    let result = match cli.command {
        Command::Serve(a) => serve::run(a),
        Command::Verify(a) => verify::run(*a),
        Command::Report(a) => report::run(*a),
        Command::Review(a) => review::run(a),
        Command::Attestations(a) => attestations::run(a),
        Command::Envelope(c) => envelope::run(c),
        Command::Bundle(c) => bundle::run(c),
        Command::Policy(c) => policy::run(c),
        Command::Keygen(a) => keygen::run(a),
        Command::Attest(a) => attest::run(a),
        Command::Layout(c) => layout::run(c),
        Command::Link(c) => link::run(c),
        Command::Version => {
            println!("custody {}", env!("CUSTODY_BUILD_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Completion { shell } => completion(shell),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Writes the completion script for `shell` (built in memory first: clap_complete panics
/// on a write error such as a closed pipe).
fn completion(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory as _;
    use std::io::Write as _;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "custody", &mut script);
    match std::io::stdout().write_all(&script) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn init_logging(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colour only for a person at a terminal (and never when NO_COLOR is set): log files,
    // `kubectl logs` and CI output get plain text.
    use std::io::IsTerminal as _;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Builds the multi-threaded tokio runtime the async subcommands run on.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
