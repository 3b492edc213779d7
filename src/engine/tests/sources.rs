//! The engine with a second evidence source beside the registry: what it finds is
//! verified like the registry's, both are asked, and its failure denies.

use super::*;

#[tokio::test]
async fn evidence_from_the_second_source_is_verified_like_the_registrys() {
    let w = world();
    let d = digest(1);
    w.registry.tag("registry.test/app:1.0", &d, vec![]);
    w.memory.add(&d, &signed(&w.ci, &statement(&d, true)));
    let v = check(&w, &["registry.test/app:1.0"]).await;
    assert!(v[0].admitted(), "{v:?}");
    assert_eq!(v[0].evidence.verified.len(), 1, "{v:?}");
    assert_eq!(w.memory.asked(), std::slice::from_ref(&d));

    // A forged envelope there is rejected as one in the registry would be.
    let w = world();
    w.registry.tag("registry.test/app:1.0", &d, vec![]);
    let mut env = sign_envelope(INTOTO_PAYLOAD_TYPE, &statement(&d, false), &[&w.ci]).unwrap();
    env.payload = statement(&d, true);
    w.memory.add(&d, env.to_json().as_bytes());
    let v = check(&w, &["registry.test/app:1.0"]).await;
    assert_eq!(only(&v).category, Some(Category::BadSignature), "{v:?}");
}

#[tokio::test]
async fn both_sources_are_asked_and_the_same_blob_counts_once() {
    let w = world();
    let d = digest(1);
    w.registry.tag("registry.test/app:1.0", &d, vec![]);
    let good = signed(&w.ci, &statement(&d, true));
    w.registry.attach(&d, &good);
    w.memory.add(&d, &good);
    let failing = signed(&w.ci, &statement(&d, false));
    w.memory.add(&d, &failing);
    let v = check(&w, &["registry.test/app:1.0"]).await;
    assert_eq!(v[0].evidence.found, 2, "{v:?}");
    // The failing check from the second source reaches the policy and denies.
    assert_eq!(only(&v).category, Some(Category::PolicyDenied), "{v:?}");
    assert!(
        only(&v).messages.iter().any(|m| m == "check failed"),
        "{v:?}"
    );
}

#[tokio::test]
async fn a_failing_second_source_denies_with_its_category() {
    let w = world();
    let d = digest(1);
    w.registry.tag("registry.test/app:1.0", &d, vec![]);
    w.registry.attach(&d, &signed(&w.ci, &statement(&d, true)));
    w.memory.fail(RegistryError::Unreachable {
        image: "registry.test/app:1.0".into(),
        step: "list evidence",
        reason: "connection refused".into(),
    });
    let v = check(&w, &["registry.test/app:1.0"]).await;
    assert_eq!(
        only(&v).category,
        Some(Category::RegistryUnreachable),
        "{v:?}"
    );
}
