//! Interoperability with sigstore-js (npm `@sigstore/sign`, `@sigstore/bundle`), both ways:
//! DSSE bundles its `DSSEBundleBuilder` makes with a local key verify in custody, and
//! bundles custody writes pass `@sigstore/bundle`'s parser and verify with node's crypto.
//!
//! Needs `node` and `npm ci` in tests/interop/node (scripts/setup does it); fails loudly
//! when either is missing.

use custody::attest::bundle::{Bundle, verify_bundle};
use custody::attest::{
    INTOTO_PAYLOAD_TYPE, KeyAlgorithm, PublicKey, SigningKey, Statement, TrustedKey, sign_envelope,
};
use custody::category::Category;
use std::path::Path;
use std::process::{Command, Output};

fn node(args: &[&Path]) -> Output {
    let script = crate::support::fixtures::root().join("tests/interop/node/sigstore_bundle.js");
    let out = Command::new("node")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("node is required for the sigstore-js interop tests: {e}"));
    assert_ne!(
        out.status.code(),
        Some(3),
        "sigstore-js is missing: run `npm ci` in tests/interop/node ({})",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn sigstore_js_dsse_bundles_verify_in_custody() {
    let dir = tempfile::tempdir().unwrap();
    let out = node(&[Path::new("sign"), dir.path()]);
    assert!(
        out.status.success(),
        "sigstore_bundle.js sign: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let load = |alg: &str| {
        let pem = std::fs::read_to_string(dir.path().join(format!("{alg}.pub"))).unwrap();
        TrustedKey::new(Some(alg.to_owned()), PublicKey::from_pem(&pem).unwrap())
    };
    let (p256, ed25519) = (load("p256"), load("ed25519"));
    assert_eq!(p256.key.algorithm(), KeyAlgorithm::EcdsaP256);
    for (alg, key, other) in [("p256", &p256, &ed25519), ("ed25519", &ed25519, &p256)] {
        let bytes = std::fs::read(dir.path().join(format!("{alg}.bundle.json"))).unwrap();
        let bundle = Bundle::from_json(&bytes).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(
            bundle.public_key_hint.as_deref(),
            Some(format!("{alg}-hint").as_str())
        );
        let v = verify_bundle(&bundle, std::slice::from_ref(key), 1)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        let st = Statement::parse(&v.payload).unwrap();
        assert_eq!(
            st.predicate_type,
            "https://example.com/sigstore-js-interop/v1"
        );
        let err = verify_bundle(&bundle, std::slice::from_ref(other), 1).unwrap_err();
        assert_eq!(err.category(), Category::UntrustedSigner, "{alg}: {err}");
    }
}

#[test]
fn custody_bundles_pass_sigstore_js() {
    let dir = tempfile::tempdir().unwrap();
    for alg in [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::Rsa,
    ] {
        let key = SigningKey::generate(alg).unwrap();
        let pub_path = dir.path().join(format!("{alg}.pub"));
        std::fs::write(&pub_path, key.public_key_pem()).unwrap();
        let env = sign_envelope(
            INTOTO_PAYLOAD_TYPE,
            br#"{"_type":"https://in-toto.io/Statement/v1"}"#,
            &[&key],
        )
        .unwrap();
        let bundle_path = dir.path().join(format!("{alg}.bundle.json"));
        std::fs::write(
            &bundle_path,
            Bundle::new(env.clone(), key.public_key()).to_json(),
        )
        .unwrap();
        let out = node(&[Path::new("verify"), &bundle_path, &pub_path]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{alg}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("application/vnd.dev.sigstore.bundle.v0.3+json"),
            "{stdout}"
        );
        // A tampered bundle is rejected there too (the check can fail).
        let mut bad = env;
        bad.payload.push(b' ');
        std::fs::write(&bundle_path, Bundle::new(bad, key.public_key()).to_json()).unwrap();
        assert_eq!(
            node(&[Path::new("verify"), &bundle_path, &pub_path])
                .status
                .code(),
            Some(1),
            "{alg}"
        );
    }
}
