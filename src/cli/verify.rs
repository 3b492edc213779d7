//! `custody verify` (not yet built).

use std::process::ExitCode;

/// Arguments of `custody verify`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("custody verify is not available in this build yet")
}
