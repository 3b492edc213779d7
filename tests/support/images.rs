//! Tiny real OCI image layouts (one uncompressed tar layer), pushing them with skopeo, and
//! pushed images with or without the evidence the test policies accept ([`push`]).

use super::attest::{attach_predicate, attach_statement};
use super::bundles::PREDICATE;
use super::registries::{TestRegistry, tool};
use custody::attest::SigningKey;
use custody::digest::Digest;
use serde_json::json;
use std::path::Path;
use std::process::Command;

/// An OCI image layout on disk.
pub struct Layout {
    /// The layout directory (kept alive with the value).
    pub dir: tempfile::TempDir,
    /// Digest of the top manifest (an index for multi-platform layouts).
    pub digest: Digest,
    /// For a multi-platform layout: the platform manifests, in index order.
    pub platforms: Vec<Digest>,
}

fn write_blob(root: &Path, data: &[u8]) -> (Digest, usize) {
    let d = Digest::sha256(data);
    let dir = root.join("blobs/sha256");
    std::fs::create_dir_all(&dir).expect("blobs dir");
    std::fs::write(dir.join(d.hex()), data).expect("write blob");
    (d, data.len())
}

/// A one-file ustar archive.
fn tar_one(name: &str, content: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    let size = format!("{:011o}", content.len());
    h[124..135].copy_from_slice(size.as_bytes());
    h[136..147].copy_from_slice(b"00000000000");
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn image_manifest(root: &Path, text: &str, arch: &str) -> (Digest, usize) {
    let layer = tar_one("hello.txt", text.as_bytes());
    let (ld, ls) = write_blob(root, &layer);
    let config = json!({
        "architecture": arch, "os": "linux",
        "config": {}, "rootfs": {"type": "layers", "diff_ids": [ld.to_string()]}
    });
    let (cd, cs) = write_blob(root, &serde_json::to_vec(&config).expect("json"));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": cs},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld.to_string(), "size": ls}]
    });
    write_blob(root, &serde_json::to_vec(&manifest).expect("json"))
}

fn finish(root: &Path, media_type: &str, d: &Digest, size: usize) {
    std::fs::write(
        root.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": media_type, "digest": d.to_string(), "size": size,
                       "annotations": {"org.opencontainers.image.ref.name": "latest"}}]
    });
    std::fs::write(
        root.join("index.json"),
        serde_json::to_vec(&index).expect("json"),
    )
    .expect("index.json");
}

/// A single-platform (linux/amd64) image whose layer holds `text` (distinct text, distinct digest).
pub fn single_platform(text: &str) -> Layout {
    let dir = tempfile::tempdir().expect("temp dir");
    let (d, size) = image_manifest(dir.path(), text, "amd64");
    finish(
        dir.path(),
        "application/vnd.oci.image.manifest.v1+json",
        &d,
        size,
    );
    Layout {
        dir,
        digest: d,
        platforms: Vec::new(),
    }
}

/// A multi-platform image: an OCI index of linux/amd64 and linux/arm64 manifests.
pub fn multi_platform(text: &str) -> Layout {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let (amd, amd_size) = image_manifest(root, &format!("{text} amd64"), "amd64");
    let (arm, arm_size) = image_manifest(root, &format!("{text} arm64"), "arm64");
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd.to_string(), "size": amd_size,
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm.to_string(), "size": arm_size,
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}
        ]
    });
    let (d, size) = write_blob(root, &serde_json::to_vec(&index).expect("json"));
    finish(root, "application/vnd.oci.image.index.v1+json", &d, size);
    Layout {
        dir,
        digest: d,
        platforms: vec![amd, arm],
    }
}

/// Pushes `layout` to `registry` as `repo_tag` with skopeo (digests preserved) and returns
/// the pushed top-level digest.
pub fn push_layout(registry: &TestRegistry, layout: &Layout, repo_tag: &str) -> Digest {
    let digest_file = layout.dir.path().join("pushed-digest");
    let out = Command::new(tool("skopeo"))
        .args([
            "--insecure-policy",
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            "--digestfile",
        ])
        .arg(&digest_file)
        .arg(format!("oci:{}", layout.dir.path().display()))
        .arg(format!("docker://{}/{repo_tag}", registry.host))
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo copy to {} failed: {}\nregistry log:\n{}",
        registry.host,
        String::from_utf8_lossy(&out.stderr),
        registry.log()
    );
    let text = std::fs::read_to_string(&digest_file).expect("skopeo digest file");
    let pushed: Digest = text.trim().parse().expect("skopeo wrote a digest");
    assert_eq!(pushed, layout.digest, "skopeo changed the manifest digest");
    pushed
}

// Images with the evidence the test policies of `support::bundles` accept.

/// A pushed image.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// `127.0.0.1:PORT/e2e/NAME:1.0`.
    pub image: String,
    /// Its manifest digest.
    pub digest: Digest,
}

impl Pushed {
    /// The short digest the denial message shows.
    pub fn short(&self) -> String {
        self.digest.short()
    }

    /// The same repository and tag reached through another host (a proxy).
    pub fn via(&self, host: &str) -> String {
        let (_, rest) = self.image.split_once('/').expect("host/repo");
        format!("{host}/{rest}")
    }
}

/// Pushes a fresh single-platform image `e2e/NAME:1.0` to `reg` and, when `signer` is
/// given, attaches a [`PREDICATE`] statement about it signed by that key (Referrers API
/// on ferro, the tag schema on docker-registry).
pub async fn push(reg: &TestRegistry, name: &str, signer: Option<&SigningKey>) -> Pushed {
    let layout = single_platform(&format!("{name} on {} ({:?})", reg.host, reg.kind));
    let tag = format!("e2e/{name}:1.0");
    let digest = push_layout(reg, &layout, &tag);
    if let Some(key) = signer {
        let image = reg.image(&tag);
        attach_statement(&reg.client(), &image, &digest, &digest, key, PREDICATE).await;
    }
    Pushed {
        image: format!("{}/{tag}", reg.host),
        digest,
    }
}

/// A good (attested by the CI key) and a bare image on `reg`.
pub async fn good_and_bare(reg: &TestRegistry) -> (Pushed, Pushed) {
    let good = push(reg, "good", Some(&super::fixtures::ci_key())).await;
    let bare = push(reg, "bare", None).await;
    (good, bare)
}

/// Pushes a fresh single-platform image `TAG` (`repo:tag`) to `reg` and, when `evidence`
/// is given, attaches SLSA provenance about the image (or about the digest given) signed
/// by that key. Returns `HOST/TAG` and the image digest.
pub async fn push_with_provenance(
    reg: &TestRegistry,
    tag: &str,
    evidence: Option<(&SigningKey, Option<&Digest>)>,
) -> (String, Digest) {
    let layout = single_platform(&format!("{tag} on {}", reg.host));
    let digest = push_layout(reg, &layout, tag);
    if let Some((key, about)) = evidence {
        let statement = (
            about.unwrap_or(&digest),
            super::fixtures::SLSA_V1,
            super::fixtures::provenance(),
        );
        attach_predicate(&reg.client(), &reg.image(tag), &digest, statement, key).await;
    }
    (format!("{}/{tag}", reg.host), digest)
}
