//! Registry-supplied JSON: image manifests, image indexes and referrers listings. Parsing
//! never panics, and what the client understood survives a second reading unchanged
//! (parse, serialize, parse, serialize gives the same bytes).
#![no_main]

use custody::registry::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for read in [wire::manifest, wire::index] {
        if let Ok(once) = read(data) {
            let twice = read(&once).expect("what the client wrote, it reads again");
            assert_eq!(once, twice, "a second reading changed the document");
        }
    }
});
