//! Registry-supplied bytes: envelope and statement parsing never panic.
#![no_main]

use custody::attest::{Envelope, Statement};
use custody::digest::Digest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::from_json(data) {
        let _ = env.pae();
        let _ = env.to_json();
    }
    if let Ok(st) = Statement::parse(data) {
        let _ = st.matches_digest(&Digest::sha256(data));
    }
});
