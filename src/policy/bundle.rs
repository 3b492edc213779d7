//! A policy bundle: `policy.yaml` + `*.rego` + optional `data.json`, loaded from a
//! directory or a ConfigMap's data map, compiled and warmed once. `*_test.rego` files are
//! Rego unit tests (see [`super::regotests`]): kept in [`Bundle::files`], never compiled
//! into the policy.

use super::attestors::Attestor;
use super::dialect::RegoVersion;
use super::layout::LayoutPolicy;
use super::matcher::Matcher;
use super::memo::Memo;
use super::rego::{CompiledRego, DEFAULT_EVAL_TIMEOUT, Outcome, RegoError};
use super::spec::{Mode, PolicySpec, RegoEngine};
use super::vm::{VmError, VmRego};
use super::vm_diff::LOAD_VARIANTS;
use super::warm_input;
use crate::digest::Digest;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The file name of a bundle's declarative half.
pub const POLICY_FILE: &str = "policy.yaml";
/// The optional data document.
pub const DATA_FILE: &str = "data.json";
/// The optional test cases (read by `custody policy test`, ignored by the engine).
pub const TESTS_FILE: &str = "tests.yaml";

/// Largest file a bundle may contain (ConfigMaps are limited to 1 MiB in total).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Why a bundle could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file could not be read.
    #[error("bundle {source_name}: reading {file}: {message}")]
    Read {
        /// Where the bundle came from (directory or ConfigMap).
        source_name: String,
        /// The file.
        file: String,
        /// The I/O error.
        message: String,
    },
    /// `policy.yaml` is missing.
    #[error("bundle {0}: no policy.yaml")]
    MissingSpec(String),
    /// `policy.yaml` is not valid.
    #[error("bundle {source_name}: policy.yaml: {message}")]
    Spec {
        /// Where the bundle came from.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// An attestor key is not a usable public key.
    #[error("bundle {source_name}: attestor {attestor}: {message}")]
    Key {
        /// Where the bundle came from.
        source_name: String,
        /// The attestor.
        attestor: String,
        /// What is wrong with the key.
        message: String,
    },
    /// The in-toto layout is missing, malformed, or not signed by its owner keys.
    #[error("bundle {source_name}: {message}")]
    Layout {
        /// Where the bundle came from.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// No `.rego` file.
    #[error("bundle {0}: no .rego files")]
    NoRego(String),
    /// `engine: vm` is refused: the VM cannot run the bundle, or disagrees with the
    /// interpreter on a held-in case or variant (see [`super::vm_diff`]).
    #[error("bundle {source_name}: engine: vm refused: {message}")]
    Vm {
        /// Where the bundle came from.
        source_name: String,
        /// Why.
        message: String,
    },
    /// The Rego half does not compile.
    #[error("bundle {source_name}: {error}")]
    Rego {
        /// Where the bundle came from.
        source_name: String,
        /// The compiler's complaint.
        error: RegoError,
    },
}

/// A loaded, compiled policy bundle. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Bundle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    spec: PolicySpec,
    matcher: Matcher,
    attestors: Vec<Attestor>,
    rego: CompiledRego,
    timeout: Duration,
    fingerprint: Digest,
    files: BTreeMap<String, String>,
    layout: Option<Arc<LayoutPolicy>>,
}

impl Bundle {
    /// Loads a bundle from a map of file name -> contents (a ConfigMap's `data`).
    /// `source_name` says where it came from, for messages.
    pub fn from_files(
        source_name: &str,
        files: &BTreeMap<String, String>,
    ) -> Result<Bundle, BundleError> {
        Bundle::load(source_name, files, true)
    }

    /// Loads a bundle directory on the interpreter whatever its `engine` says (for
    /// `custody policy diff`, which compares the engines itself).
    pub fn from_dir_on_interpreter(dir: &Path) -> Result<Bundle, BundleError> {
        let files = read_bundle_dir(dir)?;
        Bundle::load(&dir.display().to_string(), &files, false)
    }

    fn load(
        source_name: &str,
        files: &BTreeMap<String, String>,
        vm_allowed: bool,
    ) -> Result<Bundle, BundleError> {
        let spec_text = files
            .get(POLICY_FILE)
            .ok_or_else(|| BundleError::MissingSpec(source_name.to_owned()))?;
        let spec_err = |message: String| BundleError::Spec {
            source_name: source_name.to_owned(),
            message,
        };
        let spec: PolicySpec =
            yaml_serde::from_str(spec_text).map_err(|e| spec_err(e.to_string()))?;
        spec.validate().map_err(spec_err)?;
        let matcher = Matcher::compile(&spec.match_rules).map_err(spec_err)?;
        let timeout = match &spec.evaluation_timeout {
            None => DEFAULT_EVAL_TIMEOUT,
            Some(t) => humantime::parse_duration(t)
                .map_err(|e| spec_err(format!("evaluationTimeout {t:?}: {e}")))?,
        };
        let attestors = spec
            .attestors
            .iter()
            .map(|a| {
                Attestor::from_spec(a).map_err(|message| BundleError::Key {
                    source_name: source_name.to_owned(),
                    attestor: a.name.clone(),
                    message,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let layout = match &spec.layout {
            Some(l) => Some(Arc::new(LayoutPolicy::load(l, files).map_err(
                |message| BundleError::Layout {
                    source_name: source_name.to_owned(),
                    message,
                },
            )?)),
            None => None,
        };
        let rego_files = rego_files(files);
        if rego_files.is_empty() {
            return Err(BundleError::NoRego(source_name.to_owned()));
        }
        let warm = warm_input(&spec);
        let version = spec
            .rego_version
            .unwrap_or_else(|| RegoVersion::detect(rego_files.iter().map(|(_, t)| t.as_str())));
        let rego = CompiledRego::compile(
            &spec.rego_package(),
            &rego_files,
            files.get(DATA_FILE).map(String::as_str),
            version,
            timeout,
            spec.memoize,
            &warm,
        )
        .map_err(|error| BundleError::Rego {
            source_name: source_name.to_owned(),
            error,
        })?;
        let on_vm = vm_allowed && spec.engine == RegoEngine::Vm;
        let mut bundle = Bundle {
            inner: Arc::new(Inner {
                spec,
                matcher,
                attestors,
                rego,
                timeout,
                fingerprint: fingerprint(files),
                files: files.clone(),
                layout,
            }),
        };
        if on_vm {
            bundle.move_to_vm(source_name)?;
        }
        Ok(bundle)
    }

    /// `engine: vm`: compiles for the VM, runs the differential over the held-in cases
    /// and [`LOAD_VARIANTS`] variants each, and switches to the VM only when it is clean.
    fn move_to_vm(&mut self, source_name: &str) -> Result<(), BundleError> {
        let refuse = |message: String| BundleError::Vm {
            source_name: source_name.to_owned(),
            message,
        };
        let vm = self.compile_vm().map_err(|e| refuse(e.to_string()))?;
        let report = super::vm_diff::diff_with(self, &vm, None, LOAD_VARIANTS);
        if let Some(first) = report.disagreements.first() {
            return Err(refuse(format!(
                "the interpreter and the VM disagree on {} of {} inputs, first: {first} (run `custody policy diff` on the bundle)",
                report.disagreements.len(),
                report.evaluations
            )));
        }
        let inner = Arc::get_mut(&mut self.inner)
            .ok_or_else(|| refuse("the bundle is already shared".to_owned()))?;
        inner.rego.use_vm(vm);
        Ok(())
    }

    /// Compiles the bundle's Rego for the regorus VM (see [`super::vm`]).
    pub fn compile_vm(&self) -> Result<VmRego, VmError> {
        let files: Vec<(String, String)> = rego_files(&self.inner.files);
        self.inner.rego.compile_vm(
            &files,
            self.inner.files.get(DATA_FILE).map(String::as_str),
            self.inner.timeout,
        )
    }

    /// The compiled Rego half.
    pub(crate) fn rego(&self) -> &CompiledRego {
        &self.inner.rego
    }

    /// Whether the bundle evaluates on the regorus VM (`engine: vm`, admitted).
    pub fn on_vm(&self) -> bool {
        self.inner.rego.on_vm()
    }

    /// Loads a bundle from a directory (the same files a ConfigMap would hold).
    pub fn from_dir(dir: &Path) -> Result<Bundle, BundleError> {
        let files = read_bundle_dir(dir)?;
        Bundle::from_files(&dir.display().to_string(), &files)
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.inner.spec.name
    }

    /// The policy's mode.
    pub fn mode(&self) -> Mode {
        self.inner.spec.mode
    }

    /// The parsed `policy.yaml`.
    pub fn spec(&self) -> &PolicySpec {
        &self.inner.spec
    }

    /// The compiled match rules.
    pub fn matcher(&self) -> &Matcher {
        &self.inner.matcher
    }

    /// The attestors, keys parsed.
    pub fn attestors(&self) -> &[Attestor] {
        &self.inner.attestors
    }

    /// The predicate types this policy reads (empty: all).
    pub fn predicate_types(&self) -> &[String] {
        &self.inner.spec.predicate_types
    }

    /// Whether a statement of `predicate_type` is given to this policy.
    pub fn wants_predicate(&self, predicate_type: &str) -> bool {
        let types = &self.inner.spec.predicate_types;
        types.is_empty() || types.iter().any(|t| t == predicate_type)
    }

    /// The Rego evaluation time limit.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// SHA-256 over the bundle's files (names and contents), to detect changes.
    pub fn fingerprint(&self) -> &Digest {
        &self.inner.fingerprint
    }

    /// The files the bundle was loaded from.
    pub fn files(&self) -> &BTreeMap<String, String> {
        &self.inner.files
    }

    /// Evaluates the Rego half over an input document (already converted), or answers
    /// from the memo when the parts of the input the policy reads were seen before.
    pub fn evaluate(&self, input: &regorus::Value) -> Result<Outcome, RegoError> {
        self.inner.rego.evaluate(input)
    }

    /// Evaluates without consulting or filling the memo.
    pub fn evaluate_fresh(&self, input: &regorus::Value) -> Result<Outcome, RegoError> {
        self.inner.rego.evaluate_fresh(input)
    }

    /// The in-toto layout the policy verifies images against, if it has one.
    pub fn layout(&self) -> Option<&LayoutPolicy> {
        self.inner.layout.as_deref()
    }

    /// The bundle's memo, when its answers are remembered.
    pub fn memo(&self) -> Option<&Memo> {
        self.inner.rego.memo()
    }
}

/// The Rego files of a bundle that make up the policy (not its tests).
fn rego_files(files: &BTreeMap<String, String>) -> Vec<(String, String)> {
    files
        .iter()
        .filter(|(name, _)| name.ends_with(".rego") && !super::regotests::is_test_file(name))
        .map(|(n, t)| (n.clone(), t.clone()))
        .collect()
}

/// Reads the bundle files of a directory: `policy.yaml`, `*.rego`, `data.json`,
/// `tests.yaml`, `*.layout`; other files and subdirectories are ignored.
pub fn read_bundle_dir(dir: &Path) -> Result<BTreeMap<String, String>, BundleError> {
    let source_name = dir.display().to_string();
    let read_err = |file: &str, e: std::io::Error| BundleError::Read {
        source_name: source_name.clone(),
        file: file.to_owned(),
        message: e.to_string(),
    };
    let mut files = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| read_err(".", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| read_err(".", e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let wanted = name == POLICY_FILE
            || name == DATA_FILE
            || name == TESTS_FILE
            || name.ends_with(".rego")
            || name.ends_with(".layout");
        if !wanted {
            continue;
        }
        let meta = std::fs::metadata(entry.path()).map_err(|e| read_err(&name, e))?;
        if !meta.is_file() {
            continue;
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(BundleError::Read {
                source_name: source_name.clone(),
                file: name,
                message: format!("larger than {MAX_FILE_BYTES} bytes"),
            });
        }
        let text = std::fs::read_to_string(entry.path()).map_err(|e| read_err(&name, e))?;
        files.insert(name, text);
    }
    Ok(files)
}

fn fingerprint(files: &BTreeMap<String, String>) -> Digest {
    let mut h = crate::digest::Hasher::new(crate::digest::Algorithm::Sha256);
    for (name, text) in files {
        h.update(&(name.len() as u64).to_be_bytes());
        h.update(name.as_bytes());
        h.update(&(text.len() as u64).to_be_bytes());
        h.update(text.as_bytes());
    }
    h.finish()
}
