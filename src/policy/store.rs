//! `PolicyStore`: the set of bundles in force, swapped atomically.
//!
//! A request takes one [`Snapshot`] (an `Arc`) and sees either the old set or the new one,
//! never a mixture. A bundle that fails to load never replaces a working one: the previous
//! version stays in force and the failure is recorded.
//!
//! A source that fails before the store is marked started ([`PolicyStore::mark_started`],
//! once the initial directory load and ConfigMap listing are done) has no previous
//! version to keep: it is *broken at startup* and custody is not ready until it loads or
//! is removed ([`PolicyStore::broken_at_startup`]). A bundle directory that loses its
//! `policy.yaml` (or all its files) is a failed reload, not a removal: only deleting the
//! directory removes a policy.

use super::bundle::{Bundle, BundleError, POLICY_FILE};
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// The key prefix of bundles loaded from a directory.
const DIR_PREFIX: &str = "dir:";

/// One consistent set of bundles.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Source key (`dir:<path>`, `configmap:<ns>/<name>`, ...) -> bundle.
    bundles: BTreeMap<String, Bundle>,
    /// Increases with every change.
    generation: u64,
}

impl Snapshot {
    /// The bundles, ordered by policy name.
    pub fn bundles(&self) -> Vec<&Bundle> {
        let mut v: Vec<&Bundle> = self.bundles.values().collect();
        v.sort_by(|a, b| a.name().cmp(b.name()));
        v
    }

    /// The bundle named `name`.
    pub fn get(&self, name: &str) -> Option<&Bundle> {
        self.bundles.values().find(|b| b.name() == name)
    }

    /// How many bundles are in force.
    pub fn len(&self) -> usize {
        self.bundles.len()
    }

    /// Whether no bundle is in force.
    pub fn is_empty(&self) -> bool {
        self.bundles.is_empty()
    }

    /// The generation number (increases with every change).
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The bundle did not load; the previous version (if any) stays in force.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// Another source already provides a policy with this name.
    #[error("policy {name:?} from {source_key} is already provided by {existing}")]
    DuplicateName {
        /// The policy name.
        name: String,
        /// The source that tried to add it.
        source_key: String,
        /// The source that already has it.
        existing: String,
    },
    /// The policies directory could not be listed.
    #[error("reading policies directory {path}: {message}")]
    Dir {
        /// The directory.
        path: String,
        /// The I/O error.
        message: String,
    },
}

/// What a directory (re)load did.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Bundles newly loaded or replaced.
    pub loaded: Vec<String>,
    /// Bundles whose files did not change.
    pub unchanged: Vec<String>,
    /// Sources removed because their directory is gone.
    pub removed: Vec<String>,
    /// Failures (source key, error); earlier versions stay in force.
    pub failed: Vec<(String, StoreError)>,
}

/// The bundles in force, shared by the engine, the reloaders and the server.
#[derive(Debug, Clone, Default)]
pub struct PolicyStore {
    current: Arc<RwLock<Arc<Snapshot>>>,
    /// Serialises writers so that read-modify-swap is atomic.
    write: Arc<Mutex<()>>,
    failures: Arc<AtomicU64>,
    last_errors: Arc<Mutex<BTreeMap<String, String>>>,
    started: Arc<AtomicBool>,
    broken_at_startup: Arc<Mutex<BTreeSet<String>>>,
}

impl PolicyStore {
    /// An empty store.
    pub fn new() -> PolicyStore {
        PolicyStore::default()
    }

    /// The current set of bundles.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// How many bundle loads have failed since start (for metrics).
    pub fn failure_count(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Ends the startup window: later failures keep the previous version (or, for a new
    /// source, leave it unloaded) without affecting readiness.
    pub fn mark_started(&self) {
        self.started.store(true, Ordering::Relaxed);
    }

    /// Sources that failed to load during startup and have loaded no version since, with
    /// their latest error. custody must not be ready while any exist: nothing of theirs
    /// is enforced.
    pub fn broken_at_startup(&self) -> BTreeMap<String, String> {
        let keys = self
            .broken_at_startup
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default();
        let errors = self.last_errors();
        keys.into_iter()
            .map(|k| {
                let e = errors.get(&k).cloned().unwrap_or_default();
                (k, e)
            })
            .collect()
    }

    /// The latest error per source key, for sources whose newest version failed.
    pub fn last_errors(&self) -> BTreeMap<String, String> {
        self.last_errors
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default()
    }

    fn swap(&self, f: impl FnOnce(&mut BTreeMap<String, Bundle>) -> bool) {
        let _w = self.write.lock();
        let cur = self.snapshot();
        let mut bundles = cur.bundles.clone();
        if f(&mut bundles) {
            let next = Arc::new(Snapshot {
                bundles,
                generation: cur.generation + 1,
            });
            match self.current.write() {
                Ok(mut g) => *g = next,
                Err(poisoned) => *poisoned.into_inner() = next,
            }
        }
    }

    fn record(&self, key: &str, err: Option<&StoreError>) {
        if let Ok(mut m) = self.last_errors.lock() {
            match err {
                Some(e) => {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(source = key, error = %e, "policy bundle rejected; previous version stays in force");
                    m.insert(key.to_owned(), e.to_string());
                }
                None => {
                    m.remove(key);
                }
            }
        }
        if let Ok(mut broken) = self.broken_at_startup.lock() {
            let in_force = self.snapshot().bundles.contains_key(key);
            match err {
                Some(_) if !self.started.load(Ordering::Relaxed) && !in_force => {
                    broken.insert(key.to_owned());
                }
                Some(_) => {}
                None => {
                    broken.remove(key);
                }
            }
            crate::metrics::metrics().set_unenforced_bundles(broken.len());
        }
    }

    fn check_unique(
        bundles: &BTreeMap<String, Bundle>,
        key: &str,
        bundle: &Bundle,
    ) -> Result<(), StoreError> {
        match bundles
            .iter()
            .find(|(k, b)| k.as_str() != key && b.name() == bundle.name())
        {
            Some((existing, _)) => Err(StoreError::DuplicateName {
                name: bundle.name().to_owned(),
                source_key: key.to_owned(),
                existing: existing.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Adds or replaces the bundle of source `key` (e.g. `configmap:custody/require-sbom`)
    /// from its files. On error nothing changes. Returns whether anything changed.
    pub fn upsert(&self, key: &str, files: &BTreeMap<String, String>) -> Result<bool, StoreError> {
        let result = self.upsert_inner(key, files);
        self.record(key, result.as_ref().err());
        result
    }

    fn upsert_inner(
        &self,
        key: &str,
        files: &BTreeMap<String, String>,
    ) -> Result<bool, StoreError> {
        let snap = self.snapshot();
        if let Some(old) = snap.bundles.get(key)
            && old.files() == files
        {
            return Ok(false);
        }
        let bundle = Bundle::from_files(key, files)?;
        let mut outcome = Ok(true);
        self.swap(|bundles| {
            if let Err(e) = Self::check_unique(bundles, key, &bundle) {
                outcome = Err(e);
                return false;
            }
            bundles.insert(key.to_owned(), bundle);
            true
        });
        outcome
    }

    /// Removes the bundle of source `key`. Returns whether it existed.
    pub fn remove(&self, key: &str) -> bool {
        let mut existed = false;
        self.swap(|bundles| {
            existed = bundles.remove(key).is_some();
            existed
        });
        self.record(key, None);
        existed
    }

    /// (Re)loads every bundle under `dir`: the directory itself when it holds a
    /// `policy.yaml`, else each subdirectory that does. Changed bundles are compiled
    /// first; failures keep the previous version; vanished ones are removed. All changes
    /// become visible in one swap.
    pub fn load_dir(&self, dir: &Path) -> Result<LoadReport, StoreError> {
        let mut dirs = bundle_dirs(dir)?;
        let mut report = LoadReport::default();
        let snap = self.snapshot();
        // A bundle in force whose directory still exists is reloaded (and fails) even
        // when it no longer looks like a bundle: a deleted policy.yaml is not a removal.
        for key in snap.bundles.keys() {
            if let Some(path) = key.strip_prefix(DIR_PREFIX) {
                let path = PathBuf::from(path);
                if path.is_dir() && !dirs.contains(&path) {
                    dirs.push(path);
                }
            }
        }
        dirs.sort();
        let mut fresh: BTreeMap<String, Bundle> = BTreeMap::new();
        let mut keep: Vec<String> = Vec::new();
        for d in &dirs {
            let key = format!("{DIR_PREFIX}{}", d.display());
            let loaded = super::bundle::read_bundle_dir(d).and_then(|files| {
                if let Some(old) = snap.bundles.get(&key)
                    && *old.files() == files
                {
                    return Ok(None);
                }
                Bundle::from_files(&d.display().to_string(), &files).map(Some)
            });
            match loaded {
                Ok(Some(b)) => {
                    fresh.insert(key.clone(), b);
                }
                Ok(None) => {
                    report.unchanged.push(key.clone());
                    self.record(&key, None);
                }
                Err(e) => {
                    let e = StoreError::from(e);
                    self.record(&key, Some(&e));
                    report.failed.push((key.clone(), e));
                }
            }
            keep.push(key);
        }
        self.swap(|bundles| {
            let before = bundles.len();
            let gone: Vec<String> = bundles
                .keys()
                .filter(|k| k.starts_with(DIR_PREFIX) && !keep.contains(k))
                .cloned()
                .collect();
            for k in gone {
                bundles.remove(&k);
                report.removed.push(k);
            }
            let mut changed = bundles.len() != before;
            for (key, b) in fresh {
                if let Err(e) = Self::check_unique(bundles, &key, &b) {
                    self.record(&key, Some(&e));
                    report.failed.push((key, e));
                    continue;
                }
                report.loaded.push(b.name().to_owned());
                self.record(&key, None);
                bundles.insert(key, b);
                changed = true;
            }
            changed
        });
        // A directory that failed at startup and is now gone is no longer a bundle.
        let stale: Vec<String> = self
            .broken_at_startup
            .lock()
            .map(|b| {
                b.iter()
                    .filter(|k| k.starts_with(DIR_PREFIX) && !keep.contains(k))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for key in stale {
            self.record(&key, None);
        }
        Ok(report)
    }
}

/// The bundle directories under `dir`: itself when it holds a `policy.yaml`, else each
/// immediate subdirectory holding a `policy.yaml` or a `.rego` file (one with Rego but
/// no `policy.yaml` is a broken bundle, not "no bundle"). Hidden entries (a mounted
/// ConfigMap's `..data`) are skipped.
pub fn bundle_dirs(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let dir_err = |e: std::io::Error| StoreError::Dir {
        path: dir.display().to_string(),
        message: e.to_string(),
    };
    if dir.join(POLICY_FILE).is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(dir_err)? {
        let path = entry.map_err(dir_err)?.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if !hidden && path.is_dir() && (path.join(POLICY_FILE).is_file() || has_rego(&path)) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn has_rego(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.path().extension().is_some_and(|x| x == "rego"))
    })
}
