//! Watching a policies directory: any change triggers a debounced [`PolicyStore::load_dir`].

use super::store::PolicyStore;
use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// How long the directory must be quiet before a reload (editors write in bursts).
const DEBOUNCE: Duration = Duration::from_millis(200);

/// Keeps the watch running; dropping it stops watching.
pub struct DirWatch {
    _watcher: notify::RecommendedWatcher,
}

impl std::fmt::Debug for DirWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirWatch").finish_non_exhaustive()
    }
}

/// Why watching could not start.
#[derive(Debug, thiserror::Error)]
#[error("watching policies directory {path}: {message}")]
pub struct WatchError {
    path: String,
    message: String,
}

/// Loads `dir` into `store` now, then reloads it whenever something under it changes.
/// Reload results are logged; failing bundles keep their previous version.
pub fn watch_dir(store: PolicyStore, dir: &Path) -> Result<DirWatch, WatchError> {
    let werr = |e: &dyn std::fmt::Display| WatchError {
        path: dir.display().to_string(),
        message: e.to_string(),
    };
    let (tx, rx) = mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if res.is_ok() {
            let _ = tx.send(());
        }
    })
    .map_err(|e| werr(&e))?;
    watcher
        .watch(dir, RecursiveMode::Recursive)
        .map_err(|e| werr(&e))?;
    let dir: PathBuf = dir.to_path_buf();
    reload(&store, &dir);
    std::thread::Builder::new()
        .name("custody-policy-watch".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                // Drain the burst, then reload once.
                while rx.recv_timeout(DEBOUNCE).is_ok() {}
                reload(&store, &dir);
            }
        })
        .map_err(|e| werr(&e))?;
    Ok(DirWatch { _watcher: watcher })
}

fn reload(store: &PolicyStore, dir: &Path) {
    match store.load_dir(dir) {
        Ok(report) => {
            for (key, err) in &report.failed {
                crate::metrics::metrics().policy_reload_failure();
                tracing::warn!(source = %key, error = %err, "policy bundle failed to load");
            }
            if !report.loaded.is_empty() || !report.removed.is_empty() {
                tracing::info!(loaded = ?report.loaded, removed = ?report.removed, "policies reloaded");
            }
        }
        Err(err) => tracing::warn!(error = %err, "policies directory could not be read"),
    }
}
