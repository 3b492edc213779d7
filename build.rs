//! Embeds the build's commit in `custody --version`: set `CUSTODY_GIT_COMMIT` when building
//! (the Dockerfile passes it as a build argument); without it the version says "unknown".

fn main() {
    println!("cargo:rerun-if-env-changed=CUSTODY_GIT_COMMIT");
    let commit = std::env::var("CUSTODY_GIT_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    println!(
        "cargo:rustc-env=CUSTODY_BUILD_VERSION={version} (commit {})",
        commit.trim()
    );
}
