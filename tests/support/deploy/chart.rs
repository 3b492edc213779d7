//! Loading the chart directory (Chart.yaml, values.yaml, templates/, files/) and
//! rendering it for a release with the interpreter in `gotmpl.rs`/`exec.rs`.

use super::exec::Exec;
use super::gotmpl::{Error, Node, parse};
use super::helm::Functions;
use serde::Deserialize as _;
use serde_json::{Value, json};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The chart directory, parsed once.
pub struct Chart {
    pub dir: PathBuf,
    pub meta: Value,
    pub defaults: Value,
    pub files: BTreeMap<String, String>,
    pub templates: Vec<(String, Vec<Node>)>,
    pub defines: BTreeMap<String, Vec<Node>>,
    /// templates/NOTES.txt, printed by Helm after an install (not a manifest).
    pub notes: Vec<Node>,
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

/// Deep merge as Helm does for `--values`: maps merge, everything else replaces, and a
/// null removes the key (Helm's way to drop a default).
pub fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                if v.is_null() {
                    b.remove(k);
                    continue;
                }
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

impl Chart {
    /// Loads `charts/custody` (templates, values, Chart.yaml, files/).
    pub fn load(dir: &Path) -> Chart {
        let meta_yaml: Value =
            yaml_serde::from_str(&read(&dir.join("Chart.yaml"))).expect("Chart.yaml");
        let meta = json!({
            "Name": meta_yaml["name"],
            "Version": meta_yaml["version"],
            "AppVersion": meta_yaml["appVersion"],
        });
        let defaults: Value =
            yaml_serde::from_str(&read(&dir.join("values.yaml"))).expect("values.yaml");
        let mut files = BTreeMap::new();
        walk(&dir.join("files"), dir, &mut files);
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir.join("templates"))
            .expect("templates/")
            .flatten()
            .map(|e| e.path())
            .collect();
        names.sort();
        let mut defines = BTreeMap::new();
        let mut templates = Vec::new();
        let mut notes = Vec::new();
        for path in names {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            if name == "NOTES.txt" {
                notes = parse(&read(&path), &mut defines)
                    .unwrap_or_else(|e| panic!("parsing {name}: {e}"));
                continue;
            }
            let nodes =
                parse(&read(&path), &mut defines).unwrap_or_else(|e| panic!("parsing {name}: {e}"));
            if !name.starts_with('_') {
                templates.push((name, nodes));
            }
        }
        Chart {
            dir: dir.to_path_buf(),
            meta,
            defaults,
            files,
            templates,
            defines,
            notes,
        }
    }

    /// The defaults merged with `overrides`.
    pub fn values(&self, overrides: &Value) -> Value {
        let mut values = self.defaults.clone();
        merge(&mut values, overrides);
        values
    }

    /// Renders every template for a release; returns (template, object) pairs.
    pub fn render(
        &self,
        release: &str,
        namespace: &str,
        values: &Value,
        existing: &BTreeMap<String, Value>,
    ) -> Result<Vec<(String, Value)>, Error> {
        let funcs = Functions {
            files: &self.files,
            existing,
            generated: Cell::new(0),
        };
        let exec = Exec {
            defines: &self.defines,
            funcs: &funcs,
        };
        let top = self.top(release, namespace, values);
        let mut out = Vec::new();
        for (name, nodes) in &self.templates {
            let text = exec
                .render(nodes, &top)
                .map_err(|e| format!("{name}: {e}"))?;
            for doc in yaml_docs(&text).map_err(|e| format!("{name}: {e}\n{text}"))? {
                out.push((name.clone(), doc));
            }
        }
        Ok(out)
    }

    /// Helm's top-level template data for a release.
    fn top(&self, release: &str, namespace: &str, values: &Value) -> Value {
        json!({
            "Values": values,
            "Release": {"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": true},
            "Chart": self.meta,
            "Files": {},
        })
    }

    /// Renders templates/NOTES.txt, the text `helm install` prints.
    pub fn render_notes(
        &self,
        release: &str,
        namespace: &str,
        values: &Value,
    ) -> Result<String, Error> {
        let existing = BTreeMap::new();
        let funcs = Functions {
            files: &self.files,
            existing: &existing,
            generated: Cell::new(0),
        };
        let exec = Exec {
            defines: &self.defines,
            funcs: &funcs,
        };
        exec.render(&self.notes, &self.top(release, namespace, values))
    }
}
