//! Image references as written in pod specs. Parsing never panics, and the normalized
//! form reads back as the same reference (normalizing is idempotent: same registry,
//! repository, tag and digest; only the remembered original spelling differs).
#![no_main]

use custody::registry::ImageRef;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(image) = ImageRef::parse(text) {
        let printed = image.to_string();
        let again = ImageRef::parse(&printed).expect("the printed form parses");
        assert_eq!(again.to_string(), printed, "{text:?}");
        assert_eq!(again.api_host(), image.api_host(), "{text:?}");
        assert_eq!(again.name(), image.name(), "{text:?}");
        assert_eq!(again.reference(), image.reference(), "{text:?}");
        assert_eq!(again.with_tag("t").to_string(), image.with_tag("t").to_string());
    }
});
