//! in-toto layouts end to end through `custody layout verify`, `custody layout sign` and
//! `custody link record`:
//!
//! - the in-toto-golang test data (tests/data/intoto-golang, see tests/data/SOURCES.md);
//! - a matrix generated here with in-toto 3.1.0 from PyPI (tests/data/intoto-generated/
//!   matrix.py: `in-toto-run`, `in-toto-sign`, the Python layout API), where every case
//!   runs through both `in-toto-verify` and custody and the exit codes must be equal;
//! - layouts and links made by custody, verified by `in-toto-verify`;
//! - end to end with a real registry (ferro-oci-server): links attached with `custody
//!   attest --type intoto-link`, the `require-layout` library bundle, `custody verify`,
//!   `custody review`, `custody layout verify --image` and a review through `custody serve`
//!   over HTTPS;
//! - `input.layout` as custody builds it, against docs/policy-input.schema.json.
//!
//! Needs `python3` with `in-toto==3.1.0` (scripts/setup installs it); fails loudly,
//! never skips, when it is missing.

use crate::support;
use custody::attest::{PublicKey, canonical_json};
use custody::intoto::sslib_key_object;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use support::cli::{code, custody_in as custody, text};
use support::fixtures::{data, root};
use support::{TestRegistry, push_layout, single_platform};

/// Fails loudly unless in-toto 3.1.0 is importable and its tools are on PATH.
fn require_in_toto() {
    let out = Command::new("python3")
        .args(["-c", "import in_toto; print(in_toto.__version__)"])
        .output()
        .unwrap_or_else(|e| panic!("python3 is required (run scripts/setup): {e}"));
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(
        version,
        "3.1.0",
        "in-toto 3.1.0 is required: run scripts/setup ({})",
        String::from_utf8_lossy(&out.stderr)
    );
    let which = Command::new("in-toto-verify").arg("--version").output();
    assert!(
        which.is_ok_and(|o| o.status.success()),
        "in-toto-verify is not on PATH: run scripts/setup"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A writable copy of the in-toto-golang data (inspections extract files into it).
fn golang() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&data("intoto-golang"), dir.path());
    dir
}

/// `custody layout verify --layout LAYOUT --layout-key KEY --link-dir .` in `dir`.
fn layout_verify(dir: &Path, layout: &str, key: &str) -> std::process::Output {
    custody(
        dir,
        &[
            "layout",
            "verify",
            "--layout",
            layout,
            "--layout-key",
            key,
            "--link-dir",
            ".",
        ],
    )
}

fn verify_json(dir: &Path, layout: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec![
        "layout",
        "verify",
        "--layout",
        layout,
        "--layout-key",
        "alice.pub",
        "--link-dir",
        ".",
        "-o",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = custody(dir, &args);
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (code(&out), v)
}

#[test]
fn golang_demo_layouts_verify_legacy_and_dsse() {
    let dir = golang();
    let (rc, v) = verify_json(dir.path(), "demo.layout", &["--run-inspections"]);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(v["steps"][0]["name"], "write-code");
    assert_eq!(
        v["steps"][1]["functionaries"][0],
        "d3ffd1086938b3698618adf088bf14b13db4c8ae19e4e78d73da49ee88492710"
    );
    assert_eq!(
        v["inspections"][0],
        json!({"name": "untar", "outcome": "ran"})
    );
    assert!(
        dir.path().join("untar.link").is_file(),
        "the inspection's link is recorded"
    );
    assert!(
        dir.path().join("foo.py").is_file(),
        "the inspection ran in the artifacts dir"
    );

    let dir = golang();
    let (rc, v) = verify_json(dir.path(), "demo.dsse.layout", &["--run-inspections"]);
    assert_eq!(rc, 0, "{v}");
    let (rc, v) = verify_json(dir.path(), "dsse-only.root.layout", &[]);
    assert_eq!(rc, 0, "{v}");
    let names: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["clone-dsse", "update-version-dsse", "package-dsse"]);
}

#[test]
fn golang_failures_name_the_check() {
    let dir = golang();
    // Without --run-inspections a layout with inspections does not verify.
    let (rc, v) = verify_json(dir.path(), "demo.layout", &[]);
    assert_eq!(rc, 1);
    assert_eq!(v["failure"]["check"], "inspection");
    assert_eq!(v["failure"]["step"], "untar");
    assert!(!dir.path().join("foo.py").exists(), "nothing was run");
    // super.layout is unsigned (and expired).
    let (rc, v) = verify_json(dir.path(), "super.layout", &[]);
    assert_eq!(rc, 1);
    assert_eq!(v["failure"]["check"], "layout-signature");
    // The injectable clock: demo.layout expires 2030-11-18.
    let (rc, v) = verify_json(
        dir.path(),
        "demo.layout",
        &["--run-inspections", "--time", "2031-01-01T00:00:00Z"],
    );
    assert_eq!(rc, 1);
    assert_eq!(v["failure"]["check"], "expiry");
    let (rc, _) = verify_json(
        dir.path(),
        "demo.layout",
        &["--run-inspections", "--time", "2030-11-18T16:06:35Z"],
    );
    assert_eq!(rc, 0);
    // The wrong owner key.
    let out = layout_verify(dir.path(), "demo.layout", "dan.pub");
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("layout-signature"), "{}", text(&out));
    // A link whose signed part changed no longer counts: the step is named.
    let link = dir.path().join("package.d3ffd108.link");
    let tampered = std::fs::read_to_string(&link)
        .unwrap()
        .replace("\"stderr\": \"a foo.py\\n\"", "\"stderr\": \"b foo.py\\n\"");
    std::fs::write(&link, tampered).unwrap();
    let (rc, v) = verify_json(dir.path(), "demo.layout", &["--run-inspections"]);
    assert_eq!(rc, 1);
    assert_eq!(v["failure"]["check"], "threshold");
    assert_eq!(v["failure"]["step"], "package");
}

#[test]
fn unusable_input_exits_2() {
    let dir = golang();
    std::fs::write(dir.path().join("junk.layout"), b"{not json").unwrap();
    let out = layout_verify(dir.path(), "junk.layout", "alice.pub");
    assert_eq!(code(&out), 2, "{}", text(&out));
    let out = layout_verify(dir.path(), "write-code.b7d643de.link", "alice.pub");
    assert_eq!(code(&out), 2, "a link is not a layout: {}", text(&out));
    let out = layout_verify(dir.path(), "demo.layout", "heidi.pub");
    assert_eq!(
        code(&out),
        2,
        "a P-224 owner key is refused: {}",
        text(&out)
    );
}

#[test]
fn canonical_json_matches_securesystemslib() {
    require_in_toto();
    let path = data("intoto-golang").join("canonical-test.link");
    let out = Command::new("python3")
        .args([
            "-c",
            "import json,sys; from securesystemslib.formats import encode_canonical; \
             sys.stdout.buffer.write(encode_canonical(json.load(open(sys.argv[1]))['signed']).encode())",
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(canonical_json(&v["signed"]).unwrap(), out.stdout);
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    expect_ok: bool,
    owners: Vec<String>,
    inspections: bool,
}

fn generate_matrix() -> (tempfile::TempDir, Vec<Case>) {
    require_in_toto();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .arg(data("intoto-generated").join("matrix.py"))
        .arg(dir.path().join("m"))
        .output()
        .unwrap();
    assert!(out.status.success(), "matrix.py failed: {}", text(&out));
    let cases: Vec<Case> =
        serde_json::from_slice(&std::fs::read(dir.path().join("m/cases.json")).unwrap()).unwrap();
    (dir, cases)
}

#[test]
fn in_toto_matrix_custody_agrees_with_in_toto_verify() {
    let (dir, cases) = generate_matrix();
    let root = dir.path().join("m");
    assert_eq!(cases.len(), 16);
    let mut expected_checks = std::collections::BTreeMap::from([
        ("tampered-link", ("threshold", "write")),
        ("tampered-layout", ("layout-signature", "")),
        ("unauthorized-functionary", ("threshold", "write")),
        ("threshold-2-one-key-twice", ("threshold", "package")),
        (
            "threshold-2-products-differ",
            ("threshold-artifacts", "package"),
        ),
        ("disallow-hit", ("rule", "write")),
        ("match-wrong-step", ("rule", "package")),
        ("expired", ("expiry", "")),
        ("one-of-two-owners", ("layout-signature", "")),
        ("sublayout-broken", ("rule", "package")),
    ]);
    for case in &cases {
        let case_dir = root.join(&case.name);
        let keys: Vec<String> = case
            .owners
            .iter()
            .map(|o| {
                root.join("keys")
                    .join(format!("{o}.pub"))
                    .display()
                    .to_string()
            })
            .collect();
        let mut py = Command::new("in-toto-verify");
        py.args(["-l", "root.layout", "--verification-keys"])
            .args(&keys)
            .current_dir(&case_dir);
        let py_out = py.output().unwrap();
        let mut args: Vec<String> = [
            "layout",
            "verify",
            "--layout",
            "root.layout",
            "--link-dir",
            ".",
            "-o",
            "json",
        ]
        .map(String::from)
        .to_vec();
        for k in &keys {
            args.extend(["--layout-key".to_owned(), k.clone()]);
        }
        if case.inspections {
            args.extend([
                "--run-inspections".to_owned(),
                "--artifacts-dir".to_owned(),
                ".".to_owned(),
            ]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let ours = custody(&case_dir, &args);
        assert_eq!(
            code(&ours),
            code(&py_out),
            "case {}: custody {} vs in-toto-verify {}\ncustody: {}\nin-toto: {}",
            case.name,
            code(&ours),
            code(&py_out),
            text(&ours),
            text(&py_out)
        );
        assert_eq!(
            code(&ours),
            if case.expect_ok { 0 } else { 1 },
            "case {}: {}",
            case.name,
            text(&ours)
        );
        let report: Value = serde_json::from_slice(&ours.stdout).unwrap();
        if let Some((check, step)) = expected_checks.remove(case.name.as_str()) {
            assert_eq!(
                report["failure"]["check"], check,
                "case {}: {report}",
                case.name
            );
            if !step.is_empty() {
                assert_eq!(
                    report["failure"]["step"], step,
                    "case {}: {report}",
                    case.name
                );
            }
        }
        if case.name == "disallow-hit" {
            assert_eq!(report["failure"]["artifact"], "extra.txt");
            assert_eq!(report["failure"]["rule"], "expected_products: DISALLOW *");
        }
        if case.name == "match-wrong-step" {
            assert!(
                report["failure"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("not among the products of \"package\""),
                "{report}"
            );
        }
        if case.name == "sublayout" {
            assert_eq!(report["steps"][0]["sublayout"], true);
        }
        if case.name == "good-legacy" {
            let w = report["warnings"][0].as_str().unwrap();
            assert!(
                w.contains("the layout expects"),
                "expected_command differs: a warning only: {w}"
            );
        }
    }
    assert!(
        expected_checks.is_empty(),
        "cases not generated: {expected_checks:?}"
    );
}

/// `custody link record` of the demo's package step (`tar` of foo.py) in `w`.
fn record_package(w: &Path, key: &str) -> std::process::Output {
    custody(
        w,
        &[
            "link",
            "record",
            "--name",
            "package",
            "--key",
            key,
            "--materials",
            "foo.py",
            "--products",
            "foo.tar.gz",
            "--",
            "tar",
            "-zcf",
            "foo.tar.gz",
            "foo.py",
        ],
    )
}

fn key_object(pem_path: &Path) -> (String, Value) {
    let key = PublicKey::from_pem(&std::fs::read_to_string(pem_path).unwrap()).unwrap();
    sslib_key_object(&key)
}

#[test]
fn custody_made_layouts_and_links_verify_with_in_toto_verify() {
    let (dir, _) = generate_matrix();
    let keys = dir.path().join("m/keys");
    let k = |n: &str| keys.join(n).display().to_string();
    for dsse in [false, true] {
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        let out = custody(
            w,
            &[
                "link",
                "record",
                "--name",
                "write",
                "--key",
                &k("bob"),
                "--products",
                "foo.py",
                "--",
                "sh",
                "-c",
                "echo hello > foo.py",
            ],
        );
        assert_eq!(code(&out), 0, "{}", text(&out));
        let out = record_package(w, &k("carol"));
        assert_eq!(code(&out), 0, "{}", text(&out));
        let (bob_id, _) = key_object(&keys.join("bob.pub"));
        let (carol_id, _) = key_object(&keys.join("carol.pub"));
        let out = custody(w, &["layout", "key", &k("bob.pub"), &k("carol.pub")]);
        assert_eq!(code(&out), 0, "{}", text(&out));
        let key_objects: Value = serde_json::from_slice(&out.stdout).unwrap();
        // The very objects (and ids) in-toto's Python layout API wrote for these keys.
        let python: Value = serde_json::from_slice(
            &std::fs::read(dir.path().join("m/good-legacy/root.layout")).unwrap(),
        )
        .unwrap();
        for id in [&bob_id, &carol_id] {
            assert_eq!(
                key_objects[id.as_str()],
                python["signed"]["keys"][id.as_str()],
                "key {id}"
            );
        }
        let layout = json!({
            "_type": "layout",
            "expires": "2099-01-01T00:00:00Z",
            "keys": key_objects,
            "steps": [
                {"name": "write", "pubkeys": [bob_id], "expected_products": [["CREATE", "foo.py"], ["DISALLOW", "*"]]},
                {"name": "package", "pubkeys": [carol_id], "expected_command": ["tar", "-zcf", "foo.tar.gz", "foo.py"],
                 "expected_materials": [["MATCH", "foo.py", "WITH", "PRODUCTS", "FROM", "write"], ["DISALLOW", "*"]],
                 "expected_products": [["CREATE", "foo.tar.gz"], ["DISALLOW", "*"]]}
            ]
        });
        std::fs::write(w.join("root.layout"), layout.to_string()).unwrap();
        let mut sign = vec!["layout", "sign", "--key"];
        let alice = k("alice");
        sign.push(&alice);
        sign.push("root.layout");
        if dsse {
            sign.push("--dsse");
        }
        let out = custody(w, &sign);
        assert_eq!(code(&out), 0, "{}", text(&out));
        let signed: Value =
            serde_json::from_slice(&std::fs::read(w.join("root.layout")).unwrap()).unwrap();
        assert_eq!(signed.get("payloadType").is_some(), dsse);
        let py = Command::new("in-toto-verify")
            .args(["-l", "root.layout", "--verification-keys", &k("alice.pub")])
            .current_dir(w)
            .output()
            .unwrap();
        assert!(
            py.status.success(),
            "dsse={dsse}: in-toto-verify refused custody's chain: {}",
            text(&py)
        );
        let ours = custody(
            w,
            &[
                "layout",
                "verify",
                "--layout",
                "root.layout",
                "--layout-key",
                &k("alice.pub"),
                "--link-dir",
                ".",
            ],
        );
        assert_eq!(code(&ours), 0, "{}", text(&ours));
        // A second owner signature is added next to the first.
        let owner2 = k("owner2");
        let out = custody(w, &["layout", "sign", "--key", &owner2, "root.layout"]);
        assert_eq!(code(&out), 0, "{}", text(&out));
        let py = Command::new("in-toto-verify")
            .args([
                "-l",
                "root.layout",
                "--verification-keys",
                &k("alice.pub"),
                &k("owner2.pub"),
            ])
            .current_dir(w)
            .output()
            .unwrap();
        assert!(py.status.success(), "two owners: {}", text(&py));
        // Both refuse a product changed after the fact.
        std::fs::write(w.join("foo.py"), "changed\n").unwrap();
        let out = record_package(w, &k("carol"));
        assert_eq!(code(&out), 0);
        let py = Command::new("in-toto-verify")
            .args(["-l", "root.layout", "--verification-keys", &k("alice.pub")])
            .current_dir(w)
            .output()
            .unwrap();
        let ours = custody(
            w,
            &[
                "layout",
                "verify",
                "--layout",
                "root.layout",
                "--layout-key",
                &k("alice.pub"),
                "--link-dir",
                ".",
            ],
        );
        assert_eq!(py.status.code(), Some(1), "{}", text(&py));
        assert_eq!(code(&ours), 1, "{}", text(&ours));
        assert!(text(&ours).contains("\"foo.py\""), "{}", text(&ours));
    }
}

#[test]
fn one_key_listed_under_both_id_conventions_counts_once() {
    let (dir, _) = generate_matrix();
    let keys = dir.path().join("m/keys");
    let k = |n: &str| keys.join(n).display().to_string();
    let w = tempfile::tempdir().unwrap();
    let w = w.path();
    let carol =
        PublicKey::from_pem(&std::fs::read_to_string(keys.join("carol.pub")).unwrap()).unwrap();
    let (new_id, obj) = sslib_key_object(&carol);
    let mut legacy = obj.clone();
    legacy["keyid_hash_algorithms"] = json!(["sha256", "sha512"]);
    legacy["keyval"]["public"] = json!(carol.to_pem().trim_end());
    let legacy_id = carol.intoto_key_id().to_owned();
    legacy["keyid"] = json!(legacy_id);
    assert_ne!(new_id, legacy_id);
    let out = custody(
        w,
        &[
            "link",
            "record",
            "--name",
            "build",
            "--key",
            &k("carol"),
            "--products",
            "out.txt",
            "--",
            "sh",
            "-c",
            "echo 1 > out.txt",
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let recorded = w.join(format!("build.{}.link", &new_id[..8]));
    std::fs::copy(&recorded, w.join(format!("build.{}.link", &legacy_id[..8]))).unwrap();
    for (threshold, expect) in [(1, 0), (2, 1)] {
        let layout = json!({
            "_type": "layout", "expires": "2099-01-01T00:00:00Z",
            "keys": {new_id.clone(): obj.clone(), legacy_id.clone(): legacy.clone()},
            "steps": [{"name": "build", "threshold": threshold, "pubkeys": [new_id, legacy_id]}]
        });
        std::fs::write(w.join("root.layout"), layout.to_string()).unwrap();
        let out = custody(w, &["layout", "sign", "--key", &k("alice"), "root.layout"]);
        assert_eq!(code(&out), 0, "{}", text(&out));
        let ours = custody(
            w,
            &[
                "layout",
                "verify",
                "--layout",
                "root.layout",
                "--layout-key",
                &k("alice.pub"),
                "--link-dir",
                ".",
            ],
        );
        assert_eq!(
            code(&ours),
            expect,
            "threshold {threshold}: {}",
            text(&ours)
        );
        if expect == 1 {
            assert!(
                text(&ours).contains("are the same key and count once"),
                "{}",
                text(&ours)
            );
        }
    }
}

fn attest_link(reg: &TestRegistry, image: &str, key: &str, predicate: &Value) {
    let dir = tempfile::tempdir().unwrap();
    let pred = dir.path().join("predicate.json");
    std::fs::write(&pred, predicate.to_string()).unwrap();
    let key = root().join("tests/data/policy/keys").join(key);
    let out = custody(
        dir.path(),
        &[
            "attest",
            image,
            "--type",
            "intoto-link",
            "--key",
            key.to_str().unwrap(),
            "--predicate",
            pred.to_str().unwrap(),
            "--insecure-registry",
            &reg.host,
        ],
    );
    assert_eq!(code(&out), 0, "attest: {}", text(&out));
}

/// Pushes an image with a `build` link by CI and a `release` link by the release key
/// that consumed `released` (the image's own digest when None).
fn chain_image(reg: &TestRegistry, name: &str, released: Option<&str>) -> String {
    let tag = format!("layouts/{name}:1.0");
    let digest = push_layout(reg, &single_platform(&format!("layout e2e {name}")), &tag);
    let image = format!("{}/{tag}", reg.host);
    let subject = custody::registry::ImageRef::parse(&image).unwrap().name();
    attest_link(
        reg,
        &image,
        "ci.key",
        &json!({"name": "build", "command": ["make"],
        "materials": [{"name": "src/main.go", "digest": {"sha256": "ab".repeat(32)}}]}),
    );
    let released = released.map_or_else(|| digest.hex().to_owned(), str::to_owned);
    attest_link(
        reg,
        &image,
        "release.key",
        &json!({"name": "release",
        "materials": [{"name": subject, "digest": {"sha256": released}}]}),
    );
    image
}

#[test]
fn end_to_end_with_a_registry_verify_review_and_layout_verify_image() {
    support::init_crypto();
    let reg = TestRegistry::ferro();
    let good = chain_image(&reg, "good", None);
    let broken = chain_image(&reg, "broken", Some(&"cd".repeat(32)));
    let here = root();
    let policies = here.join("policies/require-layout");
    let policies = policies.to_str().unwrap();
    for (image, ok) in [(&good, true), (&broken, false)] {
        let out = custody(
            &here,
            &[
                "verify",
                image,
                "--policies",
                policies,
                "--insecure-registry",
                &reg.host,
                "--namespace",
                "shop",
                "--namespace-label",
                "custody.dev/supply-chain=in-toto",
            ],
        );
        assert_eq!(
            code(&out),
            if ok { 0 } else { 1 },
            "verify {image}: {}",
            text(&out)
        );
        if !ok {
            let t = text(&out);
            assert!(
                t.contains("at step \"release\", rule \"expected_materials: DISALLOW *\""),
                "{t}"
            );
        }
        let owner = here.join("tests/data/policy/keys/release.pub");
        let layout = here.join("policies/require-layout/root.layout");
        // `custody layout verify --image IMAGE` of the library's layout, plus `extra`.
        let verify_image = |extra: &[&str]| {
            let mut args = vec![
                "layout",
                "verify",
                "--layout",
                layout.to_str().unwrap(),
                "--layout-key",
                owner.to_str().unwrap(),
                "--image",
                image,
                "--insecure-registry",
                &reg.host,
                "-o",
                "json",
            ];
            args.extend_from_slice(extra);
            custody(&here, &args)
        };
        let out = verify_image(&[]);
        assert_eq!(
            code(&out),
            if ok { 0 } else { 1 },
            "layout verify --image {image}: {}",
            text(&out)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        if ok {
            assert_eq!(v["steps"][1]["name"], "release");
            // The build step's product binds the image; a pattern none matches does not.
            for (pattern, want) in [("*", 0), ("*.tar", 1)] {
                let out = verify_image(&["--bind-step", "build", "--bind-artifact", pattern]);
                assert_eq!(
                    code(&out),
                    want,
                    "--bind-artifact {pattern}: {}",
                    text(&out)
                );
                if want == 1 {
                    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
                    assert_eq!(v["failure"]["check"], "image-binding");
                    assert_eq!(v["failure"]["step"], "build");
                    assert_eq!(v["failure"]["rule"], "bind image to *.tar");
                }
            }
        } else {
            assert_eq!(v["failure"]["step"], "release");
            assert_eq!(v["failure"]["check"], "rule");
        }
        // The webhook's answer for a Pod using the image.
        let dir = tempfile::tempdir().unwrap();
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app", "namespace": "shop"},
            "spec": {"containers": [{"name": "app", "image": image}]}});
        let file = dir.path().join("pod.json");
        std::fs::write(&file, pod.to_string()).unwrap();
        let out = custody(
            &here,
            &[
                "review",
                file.to_str().unwrap(),
                "--policies",
                policies,
                "--namespace",
                "shop",
                "--namespace-label",
                "custody.dev/supply-chain=in-toto",
                "--insecure-registry",
                &reg.host,
                "-o",
                "json",
            ],
        );
        let t = text(&out);
        let review: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{t}"));
        assert_eq!(review["response"]["allowed"], ok, "review {image}: {t}");
        if !ok {
            let msg = review["response"]["status"]["message"]
                .as_str()
                .unwrap_or_default();
            assert!(
                msg.contains("step \"release\"") && msg.contains("DISALLOW"),
                "{msg}"
            );
        }
    }
}

/// The webhook itself (`custody serve` over HTTPS, the library bundle in a policy
/// directory) admits a Pod whose image's chain verifies and denies one whose release step
/// consumed another artifact, naming the step and the rule; a Deployment is judged the
/// same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_admits_a_verified_chain_and_denies_a_broken_one() {
    use support::reviews::{create, object};
    use support::{PolicyDir, Serve, assert_admitted, assert_denied};
    let reg = TestRegistry::ferro();
    let good = chain_image(&reg, "served-good", None);
    let broken = chain_image(&reg, "served-broken", Some(&"cd".repeat(32)));
    // Without --kubernetes the server has no namespace labels, so the bundle is installed
    // without its namespace opt-in (everything else as shipped).
    let policies = PolicyDir::empty();
    let bundle = policies.bundle("require-layout");
    copy_dir(&root().join("policies/require-layout"), &bundle);
    let spec = std::fs::read_to_string(bundle.join("policy.yaml")).unwrap();
    let without_match = spec.replace(
        "match:\n  namespaceSelector:\n    matchLabels:\n      custody.dev/supply-chain: in-toto\n",
        "",
    );
    assert_ne!(spec, without_match, "the library bundle's opt-in moved");
    std::fs::write(bundle.join("policy.yaml"), without_match).unwrap();
    let serve = Serve::start(policies.path(), &["--insecure-registry", &reg.host]).await;

    for stem in ["pod", "deployment"] {
        let response = serve.validate(&create(&object(stem, &good))).await;
        assert_admitted(&format!("{stem} with a verified chain"), &response);
        let response = serve.validate(&create(&object(stem, &broken))).await;
        assert_denied(
            &format!("{stem} with a broken chain"),
            &response,
            &[
                "require-layout",
                "at step \"release\", rule \"expected_materials: DISALLOW *\"",
            ],
        );
    }
}

const SCHEMA_CHECK: &str = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
doc = json.load(sys.stdin)
v = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in v.iter_errors(doc)]
print("\n".join(errors))
sys.exit(1 if errors else 0)
"#;

fn schema_errors(doc: &Value) -> String {
    let schema = root().join("docs/policy-input.schema.json");
    let out = support::python::python3(
        &["-c", SCHEMA_CHECK, schema.to_str().unwrap()],
        doc.to_string().as_bytes(),
        "scripts/setup installs jsonschema",
    );
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "validator failed: {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn input_layout_as_custody_builds_it_matches_the_schema() {
    use custody::policy::layout::{LayoutPolicy, LayoutSpec};
    let files =
        custody::policy::bundle::read_bundle_dir(&root().join("policies/require-layout")).unwrap();
    let spec: custody::policy::PolicySpec = yaml_serde_from(&files["policy.yaml"]);
    let lspec: LayoutSpec = spec.layout.clone().unwrap();
    let policy = LayoutPolicy::load(&lspec, &files).unwrap();
    let digest = custody::digest::Digest::sha256(b"image");
    let failed = policy.evaluate(Vec::new(), &digest, chrono::Utc::now());
    assert!(!failed.verified);
    assert_eq!(failed.failure.as_ref().unwrap().check, "threshold");
    let mut doc = custody::policy::input::PolicyInput::empty(chrono::Utc::now());
    doc.layout = Some(failed);
    let v = serde_json::to_value(&doc).unwrap();
    assert_eq!(schema_errors(&v), "");
    let mut bad = v.clone();
    bad["layout"]["failure"]["check"] = json!("vibes");
    assert!(
        schema_errors(&bad).contains("layout/failure"),
        "the schema checks input.layout"
    );
    // A verified outcome, with links signed by the demo keys.
    let sign = |key: &str, pred: Value| {
        let k = custody::attest::SigningKey::from_pem(
            &std::fs::read_to_string(root().join("tests/data/policy/keys").join(key)).unwrap(),
        )
        .unwrap();
        let st = json!({"_type": "https://in-toto.io/Statement/v1", "subject": [{"name": "app", "digest": {"sha256": digest.hex()}}],
            "predicateType": "https://in-toto.io/attestation/link/v0.3", "predicate": pred});
        custody::attest::sign_envelope(
            custody::attest::INTOTO_PAYLOAD_TYPE,
            st.to_string().as_bytes(),
            &[&k],
        )
        .unwrap()
    };
    let envs = [
        sign(
            "ci.key",
            json!({"name": "build", "materials": [{"name": "src/a.go", "digest": {"sha256": "ab".repeat(32)}}]}),
        ),
        sign(
            "release.key",
            json!({"name": "release", "materials": [{"name": "app", "digest": {"sha256": digest.hex()}}]}),
        ),
    ];
    let refs: Vec<&custody::attest::Envelope> = envs.iter().collect();
    let ok = policy.evaluate(policy.links_of(&refs), &digest, chrono::Utc::now());
    assert!(ok.verified, "{ok:?}");
    assert_eq!(ok.links_found, 2);
    doc.layout = Some(ok);
    assert_eq!(schema_errors(&serde_json::to_value(&doc).unwrap()), "");
}

fn yaml_serde_from<T: serde::de::DeserializeOwned>(text: &str) -> T {
    yaml_serde::from_str(text).unwrap()
}

#[test]
fn links_naming_artifacts_outside_their_directory_do_not_verify() {
    use custody::attest::{KeyAlgorithm, SigningKey};
    use custody::intoto::{Link, sign_dsse_link, sign_layout};
    let owner = SigningKey::generate(KeyAlgorithm::Ed25519).unwrap();
    let builder = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let (id, obj) = sslib_key_object(builder.public_key());
    let layout = json!({"_type": "layout", "expires": "2099-01-01T00:00:00Z", "keys": {id.clone(): obj},
        "steps": [{"name": "build", "pubkeys": [id], "expected_products": [["ALLOW", "*"]]}]});
    for (name, ok) in [
        ("out/app", true),
        ("../../etc/passwd", false),
        ("/etc/passwd", false),
        ("out\\app", false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path();
        std::fs::write(
            w.join("root.layout"),
            sign_layout(layout.to_string().as_bytes(), &owner, false).unwrap(),
        )
        .unwrap();
        std::fs::write(w.join("owner.pub"), owner.public_key_pem()).unwrap();
        let mut link = Link::empty("build");
        link.products.insert(
            name.to_owned(),
            [("sha256".to_owned(), "ab".repeat(32))].into(),
        );
        std::fs::write(
            w.join(format!("build.{}.link", &id[..8])),
            sign_dsse_link(&link, &builder).unwrap(),
        )
        .unwrap();
        let out = custody(
            w,
            &[
                "layout",
                "verify",
                "--layout",
                "root.layout",
                "--layout-key",
                "owner.pub",
                "--link-dir",
                ".",
                "-o",
                "json",
            ],
        );
        assert_eq!(code(&out), if ok { 0 } else { 1 }, "{name}: {}", text(&out));
        if !ok {
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["failure"]["check"], "artifact-name", "{v}");
            assert_eq!(v["failure"]["artifact"], name);
        }
    }
}
