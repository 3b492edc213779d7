//! Registry response headers: `Docker-Content-Digest`, the `Link` of a paged referrers
//! listing and the `WWW-Authenticate` challenge. Parsing never panics; a digest prints
//! back as itself; a `Link` never leads to another registry; a Bearer challenge written
//! back as a header reads as the same challenge.
#![no_main]

use custody::digest::Digest;
use custody::registry::wire::{self, Challenge};
use libfuzzer_sys::fuzz_target;

const BASE: &str = "https://registry.example:5000/v2/team/app/referrers/sha256:0000";

fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    if let Ok(digest) = text.parse::<Digest>() {
        assert_eq!(digest.to_string(), text, "a digest prints as it was read");
        assert_eq!(digest.to_string().parse::<Digest>().ok(), Some(digest));
    }

    let base = url::Url::parse(BASE).expect("base URL");
    if let Some(next) = wire::next_link(&base, text) {
        assert_eq!(next.host_str(), base.host_str(), "Link left the registry: {next}");
        assert_eq!(next.port_or_known_default(), base.port_or_known_default());
    }

    if let Some(Challenge::Bearer { realm, service }) = wire::parse_challenge(text) {
        // Values as read are trimmed and have no way to carry a leading/trailing space,
        // so only compare what a header can express.
        let mut header = format!("Bearer realm={}", quoted(&realm));
        if let Some(service) = &service {
            header.push_str(&format!(",service={}", quoted(service)));
        }
        assert_eq!(
            wire::parse_challenge(&header),
            Some(Challenge::Bearer { realm, service }),
            "{header}"
        );
    }
});
