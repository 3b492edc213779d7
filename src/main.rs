//! The `custody` binary: the command line (one subcommand per job) over the library. The
//! CLI is the binary's, not part of the library's API.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::todo,
        clippy::unimplemented
    )
)]

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
