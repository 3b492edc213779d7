//! `custody policy` (not yet built).

use std::process::ExitCode;

/// The `policy` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {}

/// Runs the subcommand.
pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {}
}
