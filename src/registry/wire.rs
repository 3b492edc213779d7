//! The registry's wire formats exactly as the client reads them, as public entry points
//! for the fuzz targets (`fuzz/`) and tests: image manifests, image indexes (which are
//! also referrers listings), the `Link` header of a paged listing and the
//! `WWW-Authenticate` challenge. A `Docker-Content-Digest` header is read with
//! [`Digest`](crate::digest::Digest)'s `FromStr`.

pub use super::discover::next_link;
pub use super::token::{Challenge, parse_challenge};

use super::manifest::{Index, Manifest};

/// Reads `bytes` as an image manifest the way the client does and returns what it
/// understood, serialized again (the fields custody reads, in a fixed order).
pub fn manifest(bytes: &[u8]) -> Result<Vec<u8>, serde_json::Error> {
    let parsed: Manifest = serde_json::from_slice(bytes)?;
    serde_json::to_vec(&parsed)
}

/// Reads `bytes` as an image index, manifest list or referrers listing the way the client
/// does and returns what it understood, serialized again.
pub fn index(bytes: &[u8]) -> Result<Vec<u8>, serde_json::Error> {
    let parsed: Index = serde_json::from_slice(bytes)?;
    serde_json::to_vec(&parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

    #[test]
    fn manifests_and_indexes_read_back_unchanged() {
        let text = format!(
            r#"{{"schemaVersion":2,"unknown":[1],"config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{DIGEST}","size":2}},
               "layers":[{{"mediaType":"application/vnd.dsse.envelope.v1+json","digest":"{DIGEST}","size":9}}]}}"#
        );
        let once = manifest(text.as_bytes()).unwrap();
        assert_eq!(manifest(&once).unwrap(), once);
        assert!(!String::from_utf8_lossy(&once).contains("unknown"));

        let listing = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{DIGEST}","size":1,"artifactType":"application/vnd.in-toto+json"}}]}}"#
        );
        let once = index(listing.as_bytes()).unwrap();
        assert_eq!(index(&once).unwrap(), once);
        // What the client refuses: no schemaVersion, a digest that is not one.
        assert!(index(br#"{"manifests":[]}"#).is_err());
        assert!(manifest(text.replace(DIGEST, "sha256:zz").as_bytes()).is_err());
    }

    #[test]
    fn link_and_challenge_entry_points() {
        let base = url::Url::parse("https://r.example/v2/a/referrers/sha256:x").unwrap();
        let next = next_link(&base, r#"</v2/a/referrers/sha256:x?last=y>; rel="next""#);
        assert_eq!(
            next.unwrap().as_str(),
            "https://r.example/v2/a/referrers/sha256:x?last=y"
        );
        assert_eq!(
            next_link(&base, r#"<https://evil.example/x>; rel="next""#),
            None
        );
        assert_eq!(
            parse_challenge(r#"Bearer realm="https://auth.example/token",service="r.example""#),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("r.example".into()),
            })
        );
    }
}
