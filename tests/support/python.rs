//! The one way tests run a Python check: `python3 ARGS` with a document on stdin.

use std::ffi::OsStr;
use std::io::Write as _;
use std::process::{Command, Output, Stdio};

/// Runs `python3 ARGS` with `input` on stdin and waits for it; panics naming `needs`
/// (what to install) when python3 cannot be started.
pub fn python3<S: AsRef<OsStr>>(args: &[S], input: &[u8], needs: &str) -> Output {
    let mut child = Command::new("python3")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("python3 is required ({needs}): {e}"));
    child
        .stdin
        .take()
        .expect("python3 stdin")
        .write_all(input)
        .expect("writing to python3");
    child.wait_with_output().expect("python3 output")
}
