//! `custody envelope` (not yet built).

use std::process::ExitCode;

/// The `envelope` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {}

/// Runs the subcommand.
pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {}
}
