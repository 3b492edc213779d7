//! Recording artifacts and running commands, as `in-toto-run` does: used by
//! `custody link record` and by inspections.
//!
//! Names are the given paths normalized (no `./`, no trailing `/`), with `/`
//! separators; directories are walked (symbolic links to directories are not
//! followed); files matching the reference's default excludes (`*.link*`, `.git`,
//! `*.pyc`, `*~`, matched against each path component) are left out. Each artifact is
//! hashed with SHA-256.

use super::model::{Artifacts, Link};
use super::pattern::Pattern;
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

/// Why recording failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A path could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The command could not be started.
    #[error("running {command:?}: {source}")]
    Run {
        /// The command.
        command: Vec<String>,
        /// Why.
        source: std::io::Error,
    },
}

const EXCLUDES: &[&str] = &["*.link*", ".git", "*.pyc", "*~"];

fn excluded(component: &str) -> bool {
    EXCLUDES.iter().any(|p| Pattern::new(p).matches(component))
}

/// `os.path.normpath` for relative paths, with `/` separators.
fn normalize(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut absolute = false;
    for c in path.components() {
        match c {
            Component::RootDir => absolute = true,
            Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                if parts.last().is_some_and(|p| p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..".to_owned());
                }
            }
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

fn sha256_file(path: &Path) -> Result<String, RecordError> {
    let io = |source| RecordError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(hex::encode(ctx.finish().as_ref()))
}

/// Records `paths` (files or directories), relative to `base` (names are as given,
/// not prefixed with `base`).
pub fn record_artifacts(base: &Path, paths: &[PathBuf]) -> Result<Artifacts, RecordError> {
    let mut out = Artifacts::new();
    for p in paths {
        let name = normalize(p);
        if name.split('/').any(excluded) {
            continue;
        }
        walk(base, &name, true, &mut out)?;
    }
    Ok(out)
}

fn walk(base: &Path, name: &str, top: bool, out: &mut Artifacts) -> Result<(), RecordError> {
    let full = base.join(name);
    let meta = std::fs::metadata(&full).map_err(|source| RecordError::Io {
        path: full.display().to_string(),
        source,
    })?;
    if meta.is_file() {
        out.insert(
            name.to_owned(),
            [("sha256".to_owned(), sha256_file(&full)?)].into(),
        );
        return Ok(());
    }
    if !meta.is_dir() {
        return Ok(());
    }
    let link_meta = std::fs::symlink_metadata(&full).map_err(|source| RecordError::Io {
        path: full.display().to_string(),
        source,
    })?;
    if link_meta.file_type().is_symlink() && !top {
        return Ok(());
    }
    let mut entries: Vec<String> = std::fs::read_dir(&full)
        .map_err(|source| RecordError::Io {
            path: full.display().to_string(),
            source,
        })?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !excluded(n))
        .collect();
    entries.sort();
    for entry in entries {
        let child = if name == "." {
            entry
        } else {
            format!("{name}/{entry}")
        };
        walk(base, &child, false, out)?;
    }
    Ok(())
}

/// Runs `command` in `dir` between recording `materials` and `products`; the link has
/// byproducts `return-value`, `stdout` and `stderr`. A command that cannot be started
/// is an error; one that exits non-zero is recorded with its return value.
pub fn run_and_record(
    name: &str,
    dir: &Path,
    materials: &[PathBuf],
    products: &[PathBuf],
    command: &[String],
) -> Result<Link, RecordError> {
    let mut link = Link::empty(name);
    link.materials = record_artifacts(dir, materials)?;
    link.command = command.to_vec();
    if let Some((program, args)) = command.split_first() {
        let output = std::process::Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|source| RecordError::Run {
                command: command.to_vec(),
                source,
            })?;
        link.byproducts = serde_json::json!({
            "return-value": output.status.code().unwrap_or(-1),
            "stdout": String::from_utf8_lossy(&output.stdout),
            "stderr": String::from_utf8_lossy(&output.stderr),
        });
    }
    link.products = record_artifacts(dir, products)?;
    Ok(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_normpath() {
        assert_eq!(normalize(Path::new("./a/./b/")), "a/b");
        assert_eq!(normalize(Path::new(".")), ".");
        assert_eq!(normalize(Path::new("a/../b")), "b");
    }

    #[test]
    fn records_directories_without_excluded_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src/.git")).unwrap();
        std::fs::write(dir.path().join("src/a.py"), b"a").unwrap();
        std::fs::write(dir.path().join("src/a.pyc"), b"x").unwrap();
        std::fs::write(dir.path().join("src/.git/HEAD"), b"x").unwrap();
        std::fs::write(dir.path().join("step.12345678.link"), b"x").unwrap();
        let all = record_artifacts(dir.path(), &[PathBuf::from(".")]).unwrap();
        assert_eq!(all.keys().collect::<Vec<_>>(), vec!["src/a.py"]);
        assert_eq!(
            all["src/a.py"]["sha256"],
            "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
        );
        let one = record_artifacts(dir.path(), &[PathBuf::from("./src/a.py")]).unwrap();
        assert!(one.contains_key("src/a.py"));
        let link = run_and_record(
            "t",
            dir.path(),
            &[],
            &[PathBuf::from(".")],
            &["touch".into(), "new".into()],
        )
        .unwrap();
        assert!(link.products.contains_key("new"));
        assert_eq!(link.byproducts["return-value"], 0);
    }
}
