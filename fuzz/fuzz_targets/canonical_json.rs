//! Canonical JSON (in-toto key ids, legacy in-toto signatures). Never panics; canonical
//! form is idempotent (where it is itself JSON, i.e. has no raw control characters);
//! the canonical form does not depend on how the input was spelled (re-serializing the
//! value first gives the same bytes).
#![no_main]

use custody::attest::canonical_json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(canonical) = canonical_json(&value) else {
        return;
    };
    let respelled: serde_json::Value =
        serde_json::from_slice(&serde_json::to_vec(&value).expect("serialize"))
            .expect("re-read");
    assert_eq!(canonical_json(&respelled).ok().as_ref(), Some(&canonical));
    if let Ok(reread) = serde_json::from_slice::<serde_json::Value>(&canonical) {
        assert_eq!(reread, value, "canonical JSON means the same value");
        assert_eq!(canonical_json(&reread).ok(), Some(canonical), "idempotent");
    }
});
