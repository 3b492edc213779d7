//! `custody review` (not yet built).

use std::process::ExitCode;

/// Arguments of `custody review`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("custody review is not available in this build yet")
}
