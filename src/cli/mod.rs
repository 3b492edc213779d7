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
mod registry_access;
mod registry_flags;
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
    #[arg(long, global = true, env = "CUSTODY_POLICY_MEMORY_LIMIT", value_parser = parse_size)]
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
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log, cli.log_format);
    let ceiling = cli
        .policy_memory_limit
        .unwrap_or(crate::policy::limits::DEFAULT_MEMORY_CEILING);
    crate::policy::limits::set_memory_ceiling((ceiling > 0).then_some(ceiling));
    if rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .is_err()
    {
        tracing::debug!("a rustls crypto provider was already installed");
    }
    let result = match cli.command {
        Command::Serve(a) => serve::run(a),
        Command::Verify(a) => verify::run(*a),
        Command::Review(a) => review::run(a),
        Command::Attestations(a) => attestations::run(a),
        Command::Envelope(c) => envelope::run(c),
        Command::Bundle(c) => bundle::run(c),
        Command::Policy(c) => policy::run(c),
        Command::Keygen(a) => keygen::run(a),
        Command::Attest(a) => attest::run(a),
        Command::Layout(c) => layout::run(c),
        Command::Link(c) => link::run(c),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colours only on a terminal: a log collector would keep the escape codes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// A size in bytes: `1048576`, `512KiB`, `128MiB`, `1GiB`.
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 128MiB)"))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} (B, KiB, MiB or GiB)")),
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// Builds the multi-threaded tokio runtime the async subcommands run on.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("128MiB"), Ok(128 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert!(parse_size("12MB").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("99999999999999999999GiB").is_err());
    }
}
