//! The chart rendered and linted by Helm's own engine: `helm.py` beside this file drives
//! helm-python-sdk (Helm v4 as a library, pinned in scripts/setup). This side keeps the
//! chart's defaults and files for the tests to read, and turns Helm's output into objects.

use super::root;
use serde::Deserialize as _;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What rendering returns when Helm refuses: its message (a `fail`, a schema error...).
pub type Error = String;

/// Install line printed when helm-python-sdk is missing.
pub const PIP_HELM: &str = "pip install helm-python-sdk==0.2.2 (scripts/setup does it)";

/// The chart directory: its defaults and files as on disk, plus the files a test adds.
pub struct Chart {
    pub dir: PathBuf,
    /// values.yaml, parsed.
    pub defaults: Value,
    /// Every file under files/, keyed `files/...`; a test may add or change entries, and
    /// Helm renders a copy of the chart with them.
    pub files: BTreeMap<String, String>,
    on_disk: BTreeMap<String, String>,
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, root, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.insert(rel.to_string_lossy().replace('\\', "/"), read(&path));
        }
    }
}

/// Parses YAML text to JSON values, one per non-empty document.
pub fn yaml_docs(text: &str) -> Result<Vec<Value>, Error> {
    let mut docs = Vec::new();
    for doc in yaml_serde::Deserializer::from_str(text) {
        let v = Value::deserialize(doc).map_err(|e| format!("{e}"))?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    Ok(docs)
}

/// Deep merge as Helm does for `--values`: maps merge, everything else replaces. A null is
/// kept, so Helm removes that default when it coalesces (see [`without_nulls`]).
pub fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// The values Helm's templates see: every null-valued key removed.
pub fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Runs `helm.py MODE` with a JSON request: Ok(stdout JSON) or Err(Helm's message).
pub fn helm_py(mode: &str, request: &Value) -> Result<Value, Error> {
    let script = root().join("tests/support/deploy/helm.py");
    let out = crate::support::python::python3(
        &[script.as_os_str(), mode.as_ref()],
        request.to_string().as_bytes(),
        PIP_HELM,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.code(),
        Some(3),
        "{stderr}\nhelm-python-sdk missing: {PIP_HELM}"
    );
    assert_ne!(out.status.code(), Some(2), "bad helm.py usage: {stderr}");
    if out.status.success() {
        return Ok(serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("helm.py printed no JSON ({e}): {stdout}{stderr}")));
    }
    // Lint prints its report and fails; render prints {"error": ...} on stderr.
    if let Ok(report) = serde_json::from_str::<Value>(&stdout) {
        return Err(report.to_string());
    }
    let msg: Value = serde_json::from_str(stderr.trim())
        .unwrap_or_else(|_| panic!("helm.py failed without a Helm error:\n{stderr}"));
    Err(msg["error"].as_str().unwrap_or_default().to_string())
}

impl Chart {
    /// Loads `charts/custody`'s values.yaml and files/ (Helm loads the rest itself).
    pub fn load(dir: &Path) -> Chart {
        let defaults: Value =
            yaml_serde::from_str(&read(&dir.join("values.yaml"))).expect("values.yaml");
        let mut files = BTreeMap::new();
        walk(&dir.join("files"), dir, &mut files);
        Chart {
            dir: dir.to_path_buf(),
            defaults,
            on_disk: files.clone(),
            files,
        }
    }

    /// The defaults merged with `overrides` (nulls kept: Helm drops those defaults).
    pub fn values(&self, overrides: &Value) -> Value {
        let mut values = self.defaults.clone();
        merge(&mut values, overrides);
        values
    }

    fn request(&self, release: &str, namespace: &str, values: &Value) -> Value {
        let added: BTreeMap<&String, &String> = self
            .files
            .iter()
            .filter(|(k, v)| self.on_disk.get(*k) != Some(*v))
            .collect();
        json!({
            "chart": self.dir,
            "release": release,
            "namespace": namespace,
            "values": values,
            "files": added,
        })
    }

    fn render_raw(
        &self,
        release: &str,
        namespace: &str,
        values: &Value,
        lookup: Option<&BTreeMap<String, Value>>,
    ) -> Result<Value, Error> {
        let mut request = self.request(release, namespace, values);
        if let Some(objects) = lookup {
            request["lookup"] = json!(objects);
        }
        helm_py("render", &request)
    }

    /// Renders every template with Helm for a fresh install; returns (template, object)
    /// pairs in template order. `existing` answers the chart's `lookup` calls, keyed
    /// `apiVersion/Kind/namespace/name` (helm.py's documented fallback: Helm's offline
    /// render answers every lookup with nothing); empty means no cluster objects.
    pub fn render(
        &self,
        release: &str,
        namespace: &str,
        values: &Value,
        existing: &BTreeMap<String, Value>,
    ) -> Result<Vec<(String, Value)>, Error> {
        let lookup = (!existing.is_empty()).then_some(existing);
        let out = self.render_raw(release, namespace, values, lookup)?;
        let mut objects = Vec::new();
        for m in out["manifests"].as_array().into_iter().flatten() {
            let name = m["template"].as_str().unwrap_or_default();
            let text = m["text"].as_str().unwrap_or_default();
            for doc in yaml_docs(text).map_err(|e| format!("{name}: {e}\n{text}"))? {
                objects.push((name.to_string(), doc));
            }
        }
        Ok(objects)
    }

    /// The objects of a fresh install as release `custody` in namespace `custody` (what
    /// deploy/ installs), with no cluster objects for `lookup`; a render error fails the
    /// test.
    pub fn objects(&self, values: &Value) -> Vec<Value> {
        self.objects_with(values, &BTreeMap::new())
    }

    /// Like [`Chart::objects`], with `existing` answering the chart's `lookup` calls
    /// (keyed as in [`Chart::render`]).
    pub fn objects_with(&self, values: &Value, existing: &BTreeMap<String, Value>) -> Vec<Value> {
        self.render("custody", "custody", values, existing)
            .unwrap_or_else(|e| panic!("rendering the chart: {e}"))
            .into_iter()
            .map(|(_, o)| o)
            .collect()
    }

    /// The error Helm gives for `values` (an install the chart must refuse).
    pub fn refusal(&self, values: &Value) -> Error {
        match self.render("custody", "custody", values, &BTreeMap::new()) {
            Ok(_) => panic!("the chart rendered values it must refuse: {values}"),
            Err(e) => e,
        }
    }

    /// Renders templates/NOTES.txt with Helm, the text `helm install` prints.
    pub fn render_notes(
        &self,
        release: &str,
        namespace: &str,
        values: &Value,
    ) -> Result<String, Error> {
        let out = self.render_raw(release, namespace, values, None)?;
        out["notes"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| "Helm rendered no NOTES.txt".to_string())
    }

    /// `helm lint --strict` with these values: Ok(report) or Err(report with findings).
    pub fn lint_strict(&self, values: &Value) -> Result<Value, Error> {
        helm_py("lint", &self.request("custody", "custody", values))
    }
}
