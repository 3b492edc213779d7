//! Embeds the build's commit in `custody --version` and `custody version`: the
//! `CUSTODY_GIT_COMMIT` environment variable when set (the Dockerfile passes it as a build
//! argument, since the image build has no `.git`), else `git rev-parse` of the checkout
//! being built, else "unknown".

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=CUSTODY_GIT_COMMIT");
    let from_env = std::env::var("CUSTODY_GIT_COMMIT")
        .ok()
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    let commit = match from_env {
        Some(c) => c,
        None => {
            // Rebuild when HEAD moves: HEAD itself (a branch switch) and the branch's ref.
            // Only files that exist are named (cargo reruns every time for a missing one).
            let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
            if let Some(r) = git(&["rev-parse", "--symbolic-full-name", "HEAD"]) {
                watched.push(git(&["rev-parse", "--git-path", &r]));
            }
            watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
            for path in watched.into_iter().flatten() {
                if std::path::Path::new(&path).exists() {
                    println!("cargo:rerun-if-changed={path}");
                }
            }
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned())
        }
    };
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    println!("cargo:rustc-env=CUSTODY_BUILD_VERSION={version} (commit {commit})");
}
