//! `custody keygen` (not yet built).

use std::process::ExitCode;

/// Arguments of `custody keygen`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("custody keygen is not available in this build yet")
}
