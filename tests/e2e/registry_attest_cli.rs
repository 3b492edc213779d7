//! `custody attest` round trips against both real registries, interoperability of what it
//! attaches (fetched with plain HTTP, verified by securesystemslib), and its failures.

use crate::support;
use custody::attest::bundle::{Bundle, verify_bundle};
use custody::attest::{Envelope, KeyAlgorithm, SigningKey, Statement, TrustedKey, verify_envelope};
use custody::registry::{EvidenceFormat, Registry, Source};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::cli::run as custody;
use support::fixtures::s;
use support::hostile::{Hostile, Reply, Request};
use support::{TestRegistry, push_layout, single_platform};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `custody attest IMAGE --key KEY --type TYPE --predicate FILE` against a plain-HTTP
/// registry.
fn attest(
    image: &str,
    key: &Path,
    kind: &str,
    predicate: &Path,
    host: &str,
) -> (i32, String, String) {
    custody(&[
        "attest",
        image,
        "--key",
        s(key),
        "--type",
        kind,
        "--predicate",
        s(predicate),
        "--insecure-registry",
        host,
    ])
}

#[tokio::test]
async fn attest_each_key_type_and_find_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let predicate = write(
        dir.path(),
        "p.json",
        r#"{"buildDefinition":{"buildType":"https://example.com/b"}}"#,
    );
    for reg in TestRegistry::both() {
        let digest = push_layout(&reg, &single_platform("attest cli"), "team/attest:v1");
        let name = format!("{}/team/attest:v1", reg.host);
        let source = if reg.has_referrers_api() {
            Source::ReferrersApi
        } else {
            Source::TagSchema
        };
        let mut trusted = Vec::new();
        for alg in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::Rsa,
        ] {
            let key = SigningKey::generate(alg).unwrap();
            let key_path = write(
                dir.path(),
                &format!("{alg}.pem"),
                &key.to_pkcs8_pem().unwrap(),
            );
            let (code, out, err) =
                attest(&name, &key_path, "slsaprovenance1", &predicate, &reg.host);
            assert_eq!(code, 0, "{alg} on {:?}: {out}{err}", reg.kind);
            assert!(
                out.contains(&digest.to_string()) && out.contains(source.as_str()),
                "{out}"
            );
            trusted.push(TrustedKey::new(
                Some(alg.to_string()),
                key.public_key().clone(),
            ));
        }
        // A bundle, too.
        let key = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let key_path = write(dir.path(), "bundle.pem", &key.to_pkcs8_pem().unwrap());
        let (code, out, err) = custody(&[
            "attest",
            &name,
            "--key",
            s(&key_path),
            "--type",
            "https://example.com/custom/v1",
            "--predicate",
            s(&predicate),
            "--bundle",
            "--insecure-registry",
            &reg.host,
        ]);
        assert_eq!(code, 0, "{out}{err}");

        let client = reg.client();
        let found = client
            .discover(&reg.image("team/attest:v1"), &digest, &reg.creds())
            .await
            .unwrap();
        assert_eq!(found.evidence.len(), 5, "{:?}: {found:?}", reg.kind);
        for e in &found.evidence {
            assert_eq!(e.source, source);
            assert!(
                e.annotations
                    .contains_key("org.opencontainers.image.created"),
                "{:?}",
                e.annotations
            );
            let payload = match e.format {
                EvidenceFormat::DsseEnvelope => {
                    assert_eq!(
                        e.annotations["in-toto.io/predicate-type"],
                        "https://slsa.dev/provenance/v1"
                    );
                    let env = Envelope::from_json(&e.bytes).unwrap();
                    verify_envelope(&env, &trusted, 1).unwrap().payload
                }
                EvidenceFormat::SigstoreBundle => {
                    let bundle = Bundle::from_json(&e.bytes).unwrap();
                    let keys = [TrustedKey::new(None, key.public_key().clone())];
                    verify_bundle(&bundle, &keys, 1).unwrap().payload
                }
            };
            let st = Statement::parse(&payload).unwrap();
            assert!(st.matches_digest(&digest));
        }

        // `custody attestations` lists them with their source.
        let (code, out, _) = custody(&["attestations", &name, "--insecure-registry", &reg.host]);
        assert_eq!(code, 0);
        assert_eq!(out.matches(&format!("via {source}")).count(), 5, "{out}");
    }
}

/// Fetches the first attached envelope with plain HTTP requests (no custody code).
async fn fetch_plain(host: &str, repo: &str, digest: &str) -> Vec<u8> {
    let http = reqwest::Client::new();
    let get = |path: String, accept: &'static str| {
        let http = http.clone();
        async move {
            let resp = http
                .get(format!("http://{host}/v2/{repo}/{path}"))
                .header("Accept", accept)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
        }
    };
    let index = "application/vnd.oci.image.index.v1+json";
    let (status, body) = get(format!("referrers/{digest}"), index).await;
    let listing = if status == 200 {
        body
    } else {
        let (status, body) = get(format!("manifests/{}", digest.replace(':', "-")), index).await;
        assert_eq!(status, 200, "no tag-schema index");
        body
    };
    let listing: serde_json::Value = serde_json::from_slice(&listing).unwrap();
    let referrer = listing["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, manifest) = get(
        format!("manifests/{referrer}"),
        "application/vnd.oci.image.manifest.v1+json",
    )
    .await;
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(manifest["subject"]["digest"], digest);
    let blob = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    get(format!("blobs/{blob}"), "*/*").await.1
}

#[tokio::test]
async fn attached_envelope_verifies_in_securesystemslib() {
    support::init_crypto();
    let dir = tempfile::tempdir().unwrap();
    let predicate = write(dir.path(), "p.json", r#"{"result":"PASSED"}"#);
    let script = support::fixtures::root().join("tests/interop/sslib_verify.py");
    for reg in TestRegistry::both() {
        let digest = push_layout(&reg, &single_platform("sslib"), "team/sslib:v1");
        let key = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let key_path = write(dir.path(), "k.pem", &key.to_pkcs8_pem().unwrap());
        let pub_path = write(dir.path(), "k.pub", &key.public_key_pem());
        let name = format!("{}/team/sslib:v1", reg.host);
        let (code, out, err) = attest(&name, &key_path, "test-result", &predicate, &reg.host);
        assert_eq!(code, 0, "{out}{err}");
        let envelope = fetch_plain(&reg.host, "team/sslib", &digest.to_string()).await;
        let env_path = dir.path().join("env.json");
        std::fs::write(&env_path, &envelope).unwrap();
        let out = Command::new("python3")
            .args([s(&script), s(&env_path), "1", s(&pub_path)])
            .output()
            .expect("python3 with securesystemslib is required (scripts/setup)");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{:?}: {stdout} {}",
            reg.kind,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("https://in-toto.io/attestation/test-result/v0.1"),
            "{stdout}"
        );
        assert!(stdout.contains(digest.hex()), "{stdout}");
    }
}

#[tokio::test]
async fn output_file_writes_without_pushing() {
    let reg = TestRegistry::distribution();
    let digest = push_layout(&reg, &single_platform("output"), "team/out:v1");
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate(KeyAlgorithm::Ed25519).unwrap();
    let key_path = write(dir.path(), "k.pem", &key.to_pkcs8_pem().unwrap());
    let pub_path = write(dir.path(), "k.pub", &key.public_key_pem());
    let predicate = write(dir.path(), "p.json", "{}");
    let out_path = dir.path().join("env.json");
    let name = format!("{}/team/out:v1", reg.host);
    let (code, out, err) = custody(&[
        "attest",
        &name,
        "--key",
        s(&key_path),
        "--type",
        "spdx",
        "--predicate",
        s(&predicate),
        "--output-file",
        s(&out_path),
        "--insecure-registry",
        &reg.host,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let env = Envelope::from_json(&std::fs::read(&out_path).unwrap()).unwrap();
    let st = Statement::parse(&env.payload).unwrap();
    assert_eq!(st.predicate_type, "https://spdx.dev/Document");
    assert!(st.matches_digest(&digest));
    let (code, out, err) = custody(&["envelope", "verify", "--key", s(&pub_path), s(&out_path)]);
    assert_eq!(code, 0, "{out}{err}");
    // Nothing was pushed.
    let found = reg
        .client()
        .discover(&reg.image("team/out:v1"), &digest, &reg.creds())
        .await
        .unwrap();
    assert!(found.evidence.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_have_clear_messages() {
    let reg = TestRegistry::ferro();
    push_layout(&reg, &single_platform("failures"), "team/fail:v1");
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let key_path = write(dir.path(), "k.pem", &key.to_pkcs8_pem().unwrap());
    let bad_key = write(dir.path(), "bad.pem", &key.public_key_pem());
    let predicate = write(dir.path(), "p.json", "{}");
    let not_json = write(dir.path(), "bad.json", "{not json");
    let vuln = |image: &str, key: &Path, predicate: &Path, host: &str| {
        attest(image, key, "vuln", predicate, host)
    };
    let good = format!("{}/team/fail:v1", reg.host);

    let (code, _, err) = vuln(
        &format!("{}/team/unknown:v1", reg.host),
        &key_path,
        &predicate,
        &reg.host,
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("team/unknown:v1") && err.contains("not found"),
        "{err}"
    );

    let (code, _, err) = vuln(&good, &bad_key, &predicate, &reg.host);
    assert_eq!(code, 2);
    assert!(
        err.contains("bad.pem") && err.contains("private key"),
        "{err}"
    );

    let (code, _, err) = vuln(&good, &key_path, &not_json, &reg.host);
    assert_eq!(code, 2);
    assert!(
        err.contains("bad.json") && err.contains("not JSON"),
        "{err}"
    );

    let gone = format!("127.0.0.1:{}", support::net::free_port());
    let (code, _, err) = vuln(
        &format!("{gone}/team/fail:v1"),
        &key_path,
        &predicate,
        &gone,
    );
    assert_eq!(code, 2);
    assert!(err.contains("unreachable"), "{err}");

    // A registry that serves the image but refuses every upload.
    let fx = support::hostile::Fixture::new(None);
    let (subject, manifest) = (fx.subject.clone(), fx.subject_manifest.clone());
    let srv = Hostile::start(move |req: &Request| match req.method.as_str() {
        "GET" | "HEAD" if req.path.contains("/manifests/") && !req.path.contains("sha256-") => {
            Reply::ok(
                "application/vnd.oci.image.manifest.v1+json",
                manifest.clone(),
            )
            .header("Docker-Content-Digest", &subject.to_string())
        }
        "POST" | "PUT" => Reply {
            status: 403,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: support::hostile::Body::Bytes(
                br#"{"errors":[{"code":"DENIED","message":"read-only repository"}]}"#.to_vec(),
            ),
        },
        _ => Reply::status(404),
    })
    .await;
    let (code, _, err) = vuln(
        &format!("{}/app:v1", srv.host),
        &key_path,
        &predicate,
        &srv.host,
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("attaching") && err.contains("refused"),
        "{err}"
    );
}

/// The shipped `require-provenance` policy, trusting `public_pem` instead of the demo key.
fn provenance_policy(dir: &Path, public_pem: &str) -> PathBuf {
    let root = support::fixtures::root();
    let src = root.join("policies/require-provenance");
    let dst = dir.join("require-provenance");
    std::fs::create_dir_all(&dst).unwrap();
    for f in ["provenance.rego", "policy.yaml"] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    let yaml = std::fs::read_to_string(dst.join("policy.yaml")).unwrap();
    let start = yaml.find("-----BEGIN PUBLIC KEY-----").unwrap();
    let end = yaml.find("-----END PUBLIC KEY-----").unwrap() + "-----END PUBLIC KEY-----".len();
    let indented = public_pem.trim_end().replace('\n', "\n          ");
    std::fs::write(
        dst.join("policy.yaml"),
        format!("{}{}{}", &yaml[..start], indented, &yaml[end..]),
    )
    .unwrap();
    dst
}

#[tokio::test]
async fn attest_then_verify_admits_with_the_library_policy() {
    let root = support::fixtures::root();
    let predicate = root.join("demo/provenance.json");
    for reg in TestRegistry::both() {
        for (i, alg) in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::Rsa,
        ]
        .into_iter()
        .enumerate()
        {
            let dir = tempfile::tempdir().unwrap();
            let key = SigningKey::generate(alg).unwrap();
            let key_path = write(dir.path(), "k.pem", &key.to_pkcs8_pem().unwrap());
            let policies = provenance_policy(dir.path(), &key.public_key_pem());
            let tag = format!("team/verify{i}:v1");
            push_layout(&reg, &single_platform(&format!("verify {alg}")), &tag);
            let name = format!("{}/{tag}", reg.host);
            let verify = || {
                custody(&[
                    "verify",
                    &name,
                    "--policies",
                    s(&policies),
                    "--insecure-registry",
                    &reg.host,
                    "--namespace",
                    "shop",
                ])
            };
            let (code, out, err) = verify();
            assert_eq!(
                code, 1,
                "{alg} on {:?}: unattested image must be denied: {out}{err}",
                reg.kind
            );
            let (code, out, err) =
                attest(&name, &key_path, "slsaprovenance1", &predicate, &reg.host);
            assert_eq!(code, 0, "{out}{err}");
            let (code, out, err) = verify();
            assert_eq!(
                code, 0,
                "{alg} on {:?}: attested image must be admitted: {out}{err}",
                reg.kind
            );
        }
    }
}
