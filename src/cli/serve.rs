//! `custody serve` (not yet built).

use std::process::ExitCode;

/// Arguments of `custody serve`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("custody serve is not available in this build yet")
}
