//! The command line's habits, as people bring them from cosign, kubectl and opa: `custody
//! version`, shell completion that loads, flags grouped under headings and only where a
//! command uses them, plain output when not at a terminal, and docs that name only flags
//! the binary has.

use crate::support;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::cli::{custody, stdout};
use support::fixtures::root;

fn run(args: &[&str]) -> Output {
    custody(args)
}

#[test]
fn version_names_the_release_and_the_git_revision() {
    let out = run(&["version"]);
    assert!(out.status.success());
    let text = stdout(&out);
    let prefix = format!("custody {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(text.starts_with(&prefix), "{text}");
    let commit = text[prefix.len()..].trim_end().trim_end_matches(')');
    // Built from a git checkout (CI and developers are), the revision is HEAD's.
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root())
        .output()
        .expect("git");
    assert!(head.status.success(), "not a git checkout");
    assert_eq!(commit, String::from_utf8_lossy(&head.stdout).trim());
    // `--version` says the same.
    assert_eq!(stdout(&run(&["--version"])), text);
}

#[test]
fn bash_completion_loads_and_completes_subcommands() {
    let script = stdout(&run(&["completion", "bash"]));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("custody.bash");
    std::fs::write(&file, &script).unwrap();
    // Load it as a user's shell would, then ask bash what completes `custody ver`.
    let probe = format!(
        "source {}; complete -p custody; COMP_WORDS=(custody ver); COMP_CWORD=1; COMP_LINE='custody ver'; COMP_POINT=11; _custody custody ver custody; echo \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &probe])
        .output()
        .expect("bash");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("-F _custody custody"), "{text}");
    let words: Vec<&str> = text.lines().last().unwrap_or("").split(' ').collect();
    assert!(
        words.contains(&"verify") && words.contains(&"version"),
        "{text}"
    );
    for shell in ["zsh", "fish"] {
        let out = run(&["completion", shell]);
        assert!(out.status.success());
        assert!(stdout(&out).contains("custody"), "{shell}");
    }
    let out = run(&["completion", "tcsh"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

/// Each subcommand path, from `--help`'s command lists.
fn commands(path: &[String], into: &mut Vec<Vec<String>>) {
    let args: Vec<&str> = path.iter().map(String::as_str).chain(["--help"]).collect();
    let help = stdout(&run(&args));
    into.push(path.to_vec());
    let Some(section) = help.split("Commands:\n").nth(1) else {
        return;
    };
    for line in section.split("\n\n").next().unwrap_or("").lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        if !name.is_empty() && name != "help" {
            let mut sub = path.to_vec();
            sub.push(name.to_owned());
            commands(&sub, into);
        }
    }
}

/// The long flags one command's `--help` lists.
fn flags_of(path: &[String]) -> BTreeSet<String> {
    let args: Vec<&str> = path.iter().map(String::as_str).chain(["--help"]).collect();
    stdout(&run(&args))
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let l = l
                .strip_prefix('-')
                .and_then(|r| r.split_once(", "))
                .map_or(l, |(_, rest)| rest);
            l.strip_prefix("--").map(|f| {
                f.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                    .next()
                    .unwrap_or("")
                    .to_owned()
            })
        })
        .filter(|f| !f.is_empty())
        .collect()
}

#[test]
fn registry_flags_sit_under_their_heading_and_only_where_used() {
    let verify = stdout(&run(&["verify", "--help"]));
    let heading = verify
        .find("Registry access, limits and caches:")
        .expect("verify --help has the registry heading");
    let flag = verify.find("--insecure-registry").expect("registry flag");
    assert!(flag > heading, "registry flags are under their heading");
    // Sizes are written as people write them, and accepted that way.
    assert!(verify.contains("[default: 64MiB]"), "{verify}");
    let keygen = flags_of(&["keygen".to_owned()]);
    assert!(
        !keygen.contains("insecure-registry") && !keygen.contains("max-blob-bytes"),
        "keygen talks to no registry: {keygen:?}"
    );
    let out = run(&["verify", "--max-blob-bytes", "12MB", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown size unit \"MB\""));
}

/// Flags of other tools that the docs show in their own command lines.
const OTHER_TOOLS: &[&str] = &[
    // cargo
    "bench",
    "locked",
    "release",
    "profile",
    "test",
    "nocapture",
    "dev",
    "sanitizer",
    "list",
    "no-run",
    // criterion
    "measurement-time",
    "warm-up-time",
    // docker
    "build-arg",
    "rm",
    // helm
    "create-namespace",
    "set",
    "set-file",
    "reuse-values",
    // kubectl
    "dry-run",
    "from-file",
    // in-toto-run, cosign
    "use-dsse",
    "new-bundle-format",
    // pip (scripts/setup is quoted in docs)
    "tool",
    "ignore-requires-python",
    // perf record
    "call-graph",
];

/// Hidden flags (not in `--help`) that docs describe, with the command that takes them.
const HIDDEN: &[(&str, &[&str])] = &[("bench-allow-route", &["serve"])];

#[test]
fn every_flag_the_docs_name_exists() {
    let mut paths = Vec::new();
    commands(&[], &mut paths);
    assert!(paths.len() > 15, "found only {paths:?}");
    let mut known: BTreeSet<String> = BTreeSet::new();
    for p in &paths {
        known.extend(flags_of(p));
    }
    for (flag, path) in HIDDEN {
        let mut args: Vec<&str> = path.to_vec();
        let long = format!("--{flag}");
        args.extend([long.as_str(), "--help"]);
        assert!(
            run(&args).status.success(),
            "the hidden flag --{flag} is gone"
        );
        known.insert((*flag).to_owned());
    }
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.extend(
        ["README.md", "charts/custody/README.md", "deploy/README.md"]
            .iter()
            .map(|p| root().join(p)),
    );
    let mut unknown = Vec::new();
    for doc in &docs {
        for flag in flags_in(doc) {
            if !known.contains(&flag) && !OTHER_TOOLS.contains(&flag.as_str()) {
                unknown.push(format!("{}: --{flag}", doc.display()));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "docs name flags custody does not have:\n{}",
        unknown.join("\n")
    );
    for flag in OTHER_TOOLS {
        assert!(
            !known.contains(*flag),
            "--{flag} is custody's now: take it off the other-tools list"
        );
    }
}

/// Every `--flag` token in a Markdown file.
fn flags_in(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let bytes = text.as_bytes();
    let mut found = BTreeSet::new();
    let mut i = 0;
    while let Some(at) = text[i..].find("--") {
        let start = i + at;
        i = start + 2;
        let before = start.checked_sub(1).map(|b| bytes[b]);
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'-') {
            continue;
        }
        let name: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
            .collect();
        let name = name.trim_end_matches('-');
        if name.starts_with(|c: char| c.is_ascii_lowercase()) {
            found.insert(name.to_owned());
        }
    }
    found
}

#[test]
fn output_is_plain_when_not_at_a_terminal() {
    // Logs at debug level and a failing command: no escape sequences in a pipe.
    let out = run(&[
        "--log",
        "debug",
        "verify",
        "127.0.0.1:1/none:1",
        "--policies",
        "/nonexistent",
    ]);
    for stream in [&out.stdout, &out.stderr] {
        assert!(
            !stream.contains(&0x1b),
            "{}",
            String::from_utf8_lossy(stream)
        );
    }
    assert!(!out.stderr.is_empty(), "the failure was reported");
}

/// A `custody verify` that waits on a registry that never answers, until its deadline.
fn stalled_verify(host: &str) -> Vec<String> {
    let policies = support::fixtures::library().join("require-provenance");
    [
        "verify",
        &format!("{host}/app:v1"),
        "--policies",
        &policies.display().to_string(),
        "--insecure-registry",
        host,
        "--decision-deadline",
        "1500ms",
    ]
    .map(str::to_owned)
    .to_vec()
}

#[test]
fn a_long_verify_shows_a_progress_line_only_at_a_terminal() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stall = rt.block_on(support::net::Stall::start());
    let args = stalled_verify(&stall.host);

    // In a pipe (a CI log): the result only, no progress line.
    let out = custody(&args);
    assert_eq!(out.status.code(), Some(1), "the deadline denies");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("checking 1 image"), "{err}");
    assert!(!out.stderr.contains(&b'\r'), "{err}");

    // At a terminal (a pseudo-terminal from util-linux `script`): the line is drawn with
    // the elapsed time while the registry stalls, then cleared before the result.
    let line = std::iter::once(support::cli::BIN.to_owned())
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new("script")
        .args(["-qefc", &line, "/dev/null"])
        .env("HOME", "/nonexistent")
        .output()
        .expect("util-linux `script` (Debian's essential bsdutils package) is required");
    let tty = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{tty}");
    assert!(tty.contains("custody verify: checking 1 image ("), "{tty}");
    assert!(tty.contains("s)\r"), "redrawn in place: {tty:?}");
    let last_draw = tty.rfind("custody verify: checking").unwrap_or_default();
    assert!(
        tty[last_draw..].contains("DENIED"),
        "the result follows: {tty}"
    );
}
