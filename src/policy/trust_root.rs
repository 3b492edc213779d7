//! The trusted root keyless attestors verify against: the built-in Sigstore public-good
//! root until one is loaded from `--trusted-root FILE` or a ConfigMap. Replaced as a
//! whole; a root that does not load leaves the previous one in force. Each replacement
//! bumps a generation, so cached verdicts made under another root are never reused.

use crate::attest::sigstore::{SigstoreError, TrustedRoot};
use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

/// A replaceable trusted root.
#[derive(Debug)]
pub struct TrustedRootStore {
    current: RwLock<Option<Arc<TrustedRoot>>>,
    generation: AtomicU64,
}

impl TrustedRootStore {
    /// A store holding the built-in public-good root (read when first needed).
    pub const fn new() -> TrustedRootStore {
        TrustedRootStore {
            current: RwLock::new(None),
            generation: AtomicU64::new(0),
        }
    }

    /// The root in force and its generation (0 for the built-in default).
    pub fn current(&self) -> Result<(Arc<TrustedRoot>, u64), SigstoreError> {
        let generation = self.generation.load(Ordering::Acquire);
        if let Some(root) = self.current.read().ok().and_then(|r| r.clone()) {
            return Ok((root, generation));
        }
        static BUILT_IN: OnceLock<Result<Arc<TrustedRoot>, SigstoreError>> = OnceLock::new();
        let root = BUILT_IN
            .get_or_init(|| TrustedRoot::public_good().map(Arc::new))
            .clone()?;
        Ok((root, generation))
    }

    /// The generation of the root in force (0 for the built-in default; each successful
    /// replacement adds one). The background scan re-evaluates when it changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Replaces the root with the one in `json`; on error the previous root stays.
    pub fn replace_from_json(&self, json: &[u8]) -> Result<String, SigstoreError> {
        let root = TrustedRoot::from_json(json)?;
        let summary = root.summary();
        if let Ok(mut slot) = self.current.write() {
            *slot = Some(Arc::new(root));
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        Ok(summary)
    }
}

impl Default for TrustedRootStore {
    fn default() -> Self {
        TrustedRootStore::new()
    }
}

static GLOBAL: TrustedRootStore = TrustedRootStore::new();

/// The process's trusted root store (what the engine verifies keyless evidence with).
pub fn global() -> &'static TrustedRootStore {
    &GLOBAL
}

/// Loads `path` into the global store now (an error here is fatal to the caller), then
/// reloads it whenever the file changes; a reload that fails is logged and counted as a
/// policy reload failure, and the previous root stays in force.
pub fn watch_file(path: &Path) -> anyhow::Result<FileWatch> {
    use anyhow::Context as _;
    let bytes =
        std::fs::read(path).with_context(|| format!("reading trusted root {}", path.display()))?;
    let summary = global()
        .replace_from_json(&bytes)
        .with_context(|| format!("trusted root {} cannot be used", path.display()))?;
    tracing::info!(path = %path.display(), %summary, "trusted root loaded");
    // Watch the directory: ConfigMap volumes and editors replace files by renaming.
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if res.is_ok() {
            let _ = tx.send(());
        }
    })
    .context("watching the trusted root")?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .with_context(|| format!("watching {}", dir.display()))?;
    let file: PathBuf = path.to_path_buf();
    std::thread::Builder::new()
        .name("custody-trusted-root-watch".into())
        .spawn(move || {
            let mut last = bytes;
            while rx.recv().is_ok() {
                while rx.recv_timeout(Duration::from_millis(200)).is_ok() {}
                reload(&file, &mut last);
            }
        })
        .context("starting the trusted root watcher")?;
    Ok(FileWatch { _watcher: watcher })
}

fn reload(file: &Path, last: &mut Vec<u8>) {
    let Ok(bytes) = std::fs::read(file) else {
        tracing::warn!(path = %file.display(), "trusted root unreadable; the previous one stays in force");
        return;
    };
    if bytes == *last {
        return;
    }
    match global().replace_from_json(&bytes) {
        Ok(summary) => {
            tracing::info!(path = %file.display(), %summary, "trusted root reloaded");
            *last = bytes;
        }
        Err(err) => {
            crate::metrics::metrics().policy_reload_failure();
            tracing::warn!(path = %file.display(), error = %err, "trusted root failed to load; the previous one stays in force");
        }
    }
}

/// Keeps the file watch running; dropping it stops watching.
pub struct FileWatch {
    _watcher: notify::RecommendedWatcher,
}

impl std::fmt::Debug for FileWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileWatch").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_root_keeps_the_previous_one_and_generations_advance() {
        let store = TrustedRootStore::new();
        let (builtin, g0) = store.current().unwrap();
        assert_eq!(g0, 0);
        assert!(!builtin.summary().is_empty());
        let sigstore = crate::attest::sigstore::testing::TestSigstore::new().unwrap();
        store
            .replace_from_json(sigstore.trusted_root_json().as_bytes())
            .unwrap();
        let (custom, g1) = store.current().unwrap();
        assert_eq!(g1, 1);
        assert!(store.replace_from_json(b"{\"mediaType\": 1}").is_err());
        let (still, g2) = store.current().unwrap();
        assert_eq!(g2, 1);
        assert!(Arc::ptr_eq(&custom, &still));
    }

    #[test]
    fn the_watched_file_is_hot_reloaded_and_a_broken_one_keeps_the_previous() {
        // The only test that touches the process-wide store.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trusted_root.json");
        let first = crate::attest::sigstore::testing::TestSigstore::new().unwrap();
        std::fs::write(&path, first.trusted_root_json()).unwrap();
        let _watch = watch_file(&path).unwrap();
        let (_, g1) = global().current().unwrap();
        let wait_for = |want: u64| {
            for _ in 0..100 {
                if global().current().unwrap().1 == want {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            false
        };
        std::fs::write(&path, "{ not a root").unwrap();
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(
            global().current().unwrap().1,
            g1,
            "a broken root replaced the previous"
        );
        let second = crate::attest::sigstore::testing::TestSigstore::new().unwrap();
        std::fs::write(&path, second.trusted_root_json()).unwrap();
        assert!(wait_for(g1 + 1), "the new root was not loaded");
        assert!(watch_file(&dir.path().join("missing.json")).is_err());
    }
}
