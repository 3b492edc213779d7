#!/usr/bin/env python3
"""Writes a tiny, real, single-layer OCI image layout (for the demo; no network needed).

usage: oci-image.py DIR TAG TEXT
The layer holds one file, /hello.txt, with TEXT, so different TEXT gives different digests.
Push it with: skopeo copy --dest-tls-verify=false oci:DIR:TAG docker://HOST/REPO:TAG
"""
import gzip, hashlib, io, json, os, sys, tarfile


def blob(root, data, media_type):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(root, "blobs", "sha256")
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, digest), "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}


def main():
    root, tag, text = sys.argv[1], sys.argv[2], sys.argv[3].encode()
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime, info.mode = len(text), 0, 0o644
        tar.addfile(info, io.BytesIO(text))
    raw = tar_bytes.getvalue()
    gz = gzip.compress(raw, mtime=0)
    layer = blob(root, gz, "application/vnd.oci.image.layer.v1.tar+gzip")
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
    }
    cfg = blob(root, json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": cfg,
        "layers": [layer],
    }
    desc = blob(root, json.dumps(manifest).encode(), manifest["mediaType"])
    desc["annotations"] = {"org.opencontainers.image.ref.name": tag}
    with open(os.path.join(root, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [desc]}, f)
    with open(os.path.join(root, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    print(desc["digest"])


if __name__ == "__main__":
    main()
