//! The base64 decoder DSSE payloads and signatures go through. Decoding never panics; a
//! decoded value encodes and decodes back to itself; any bytes survive encode/decode.
#![no_main]

use custody::attest::{base64_decode, base64_encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    assert_eq!(
        base64_decode(&base64_encode(data)).ok().as_deref(),
        Some(data),
        "encode then decode"
    );
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(bytes) = base64_decode(text) {
            assert_eq!(base64_decode(&base64_encode(&bytes)).ok(), Some(bytes));
        }
    }
});
