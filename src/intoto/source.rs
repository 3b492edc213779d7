//! Where links come from: a directory laid out as in-toto tools write it, or a set of
//! links found elsewhere (attestations of an image).

use super::metadata::{Metadata, Payload};
use std::path::PathBuf;
use std::sync::Arc;

/// Supplies the candidate links of a step.
pub trait LinkSource {
    /// The candidate metadata for `step` by the functionary listed as `keyid`; each
    /// candidate still has to verify under that key. Items that could not be read
    /// are returned as their reason.
    fn links(&self, step: &str, keyid: &str) -> Vec<Result<Arc<Metadata>, String>>;
    /// The source of the links of a sublayout (the step `step` by `keyid`).
    fn sublayout(&self, step: &str, keyid: &str) -> Box<dyn LinkSource + '_>;
}

fn prefix(keyid: &str) -> &str {
    keyid.get(..8).unwrap_or(keyid)
}

/// Links in a directory as `STEP.KEYID8.link` (the first 8 characters of the key id as
/// the layout lists it); a sublayout's links in the subdirectory `STEP.KEYID8`.
#[derive(Debug, Clone)]
pub struct DirSource {
    dir: PathBuf,
}

impl DirSource {
    /// Links under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> DirSource {
        DirSource { dir: dir.into() }
    }
}

/// Whether a step name and key id can name a file in the link directory (no path
/// separators, no `..`, a hex key id), so a layout cannot point outside it.
fn file_name_safe(step: &str, keyid: &str) -> bool {
    !step.is_empty()
        && !step.contains(['/', '\\', '\0'])
        && step != ".."
        && !keyid.is_empty()
        && keyid.bytes().all(|b| b.is_ascii_hexdigit())
}

impl LinkSource for DirSource {
    fn links(&self, step: &str, keyid: &str) -> Vec<Result<Arc<Metadata>, String>> {
        if !file_name_safe(step, keyid) {
            return vec![Err(format!(
                "step {step:?} with key id {keyid:?} cannot name a link file"
            ))];
        }
        let name = format!("{step}.{}.link", prefix(keyid));
        let path = self.dir.join(&name);
        match std::fs::read(&path) {
            Ok(bytes) => vec![
                Metadata::from_json(&bytes, &name)
                    .map(Arc::new)
                    .map_err(|e| e.to_string()),
            ],
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => vec![Err(format!("{name}: {e}"))],
        }
    }

    fn sublayout(&self, step: &str, keyid: &str) -> Box<dyn LinkSource + '_> {
        if !file_name_safe(step, keyid) {
            return Box::new(CollectedLinks::default());
        }
        Box::new(DirSource::new(
            self.dir.join(format!("{step}.{}", prefix(keyid))),
        ))
    }
}

/// Links gathered elsewhere (for example attestations of an image): every link whose
/// name is the step's is a candidate for each of the step's functionaries. Sublayouts
/// have no links here.
#[derive(Debug, Clone, Default)]
pub struct CollectedLinks {
    links: Vec<Arc<Metadata>>,
}

impl CollectedLinks {
    /// A collection of links.
    pub fn new(links: Vec<Metadata>) -> CollectedLinks {
        CollectedLinks {
            links: links.into_iter().map(Arc::new).collect(),
        }
    }
}

impl LinkSource for CollectedLinks {
    fn links(&self, step: &str, _keyid: &str) -> Vec<Result<Arc<Metadata>, String>> {
        self.links
            .iter()
            .filter(|m| matches!(&m.payload, Payload::Link(l) if l.name == step))
            .cloned()
            .map(Ok)
            .collect()
    }

    fn sublayout(&self, _step: &str, _keyid: &str) -> Box<dyn LinkSource + '_> {
        Box::new(CollectedLinks::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layout_cannot_name_files_outside_the_link_directory() {
        assert!(file_name_safe("build", "0a1b2c3d"));
        assert!(!file_name_safe("../etc", "0a1b2c3d"));
        assert!(!file_name_safe("a/b", "0a1b2c3d"));
        assert!(!file_name_safe("..", "0a1b2c3d"));
        assert!(!file_name_safe("build", "../../x"));
        let dir = tempfile::tempdir().unwrap();
        let got = DirSource::new(dir.path()).links("../x", "0a1b2c3d");
        assert!(
            got[0]
                .as_ref()
                .is_err_and(|e| e.contains("cannot name a link file"))
        );
        assert!(
            DirSource::new(dir.path())
                .links("build", "0a1b2c3d")
                .is_empty()
        );
    }
}
