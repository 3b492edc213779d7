//! Sigstore bundles from registries. Parsing never panics; a bundle written back
//! (`to_json`, which keeps the envelope and the public-key hint and writes v0.3) reads as
//! the same envelope and hint, and writing is idempotent.
#![no_main]

use custody::attest::bundle::Bundle;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = Bundle::from_json(data) {
        let written = bundle.to_json();
        let again = Bundle::from_json(written.as_bytes()).expect("a written bundle reads back");
        assert_eq!(again.envelope, bundle.envelope, "{written}");
        assert_eq!(
            again.public_key_hint.clone().unwrap_or_default(),
            bundle.public_key_hint.clone().unwrap_or_default()
        );
        assert_eq!(again.to_json(), written, "writing is idempotent");
        let _ = bundle.envelope_with_hints().pae();
    }
});
