//! The one way to run the `custody` binary from a test: a command with a hermetic
//! environment (no inherited `CUSTODY_*` settings, no Docker credentials of the user),
//! run to completion, and its output as text.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

/// The `custody` binary Cargo built for this test run.
pub const BIN: &str = env!("CARGO_BIN_EXE_custody");

/// `custody` as a [`Command`], started in the repository root with no `CUSTODY_*`
/// variable, no `DOCKER_CONFIG` and a `HOME` without credentials.
pub fn command() -> Command {
    let mut cmd = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CUSTODY_") {
            cmd.env_remove(&name);
        }
    }
    cmd.env_remove("DOCKER_CONFIG")
        .env("HOME", "/nonexistent")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// Runs `custody ARGS` (see [`command`]) to completion.
pub fn custody<S: AsRef<OsStr>>(args: &[S]) -> Output {
    command().args(args).output().expect("running custody")
}

/// Runs `custody ARGS` in `dir`.
pub fn custody_in<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Output {
    command()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running custody")
}

/// Runs `custody ARGS`: exit code (-1 for a signal), stdout, stderr.
pub fn run<S: AsRef<OsStr>>(args: &[S]) -> (i32, String, String) {
    let out = custody(args);
    (code(&out), stdout(&out), stderr(&out))
}

/// The exit code (-1 when killed by a signal).
pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// stdout then stderr, for assertions on what a user sees.
pub fn text(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}
