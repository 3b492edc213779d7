//! Image references, read the way Kubernetes and the container runtimes read them.
//!
//! The grammar and Docker Hub's normalisation (`nginx` → `docker.io/library/nginx:latest`,
//! `index.docker.io` → `docker.io`) are `oci_client::Reference`'s (oci-spec's port of the
//! Docker reference library). [`ImageRef`] keeps what custody adds on top, each case the
//! way docker and containerd read it (docs/registry.md, "References"):
//!
//! - `registry-1.docker.io` is Docker Hub too, and Hub is reached at that API host;
//! - a first component with an uppercase letter is a registry host (`Example/app`), as in
//!   Docker's `splitDockerDomain`, not an (invalid) Docker Hub namespace;
//! - a bracketed IPv6 host (`[::1]:5000/app`), which Docker's grammar allows;
//! - tags are ASCII (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`; the crate's regex `\w` also
//!   takes any Unicode letter), names at most 255 characters registry included;
//! - the digest is custody's checked [`Digest`] (lowercase hex, a known algorithm);
//! - errors name the reference.

use crate::digest::Digest;
use oci_client::{ParseError, Reference};
use std::fmt;

/// The registry Docker Hub images live in, as written in normalised references.
pub(crate) const DOCKER_HUB: &str = "docker.io";
/// The host Docker Hub's registry API is served from.
pub(crate) const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// Names that mean Docker Hub.
pub(crate) const DOCKER_HUB_ALIASES: [&str; 3] = [DOCKER_HUB, "index.docker.io", DOCKER_HUB_API];

/// Docker's limit on `registry/repository` (its `NameTotalLengthMax`, which counts the
/// domain; oci-spec counts the repository only).
const MAX_NAME_LEN: usize = 255;

/// A parsed, normalised image reference: `nginx` becomes `docker.io/library/nginx:latest`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// The registry host (and port), e.g. `docker.io`, `ghcr.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// The repository path, e.g. `library/nginx`.
    pub repository: String,
    /// The tag; `latest` when neither a tag nor a digest was written.
    pub tag: Option<String>,
    /// The digest, when the reference is pinned (it wins over the tag).
    pub digest: Option<Digest>,
    /// The reference exactly as written.
    pub original: String,
}

/// Why a string is not an image reference. Every variant names the reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    /// Empty or whitespace.
    #[error("image reference {0:?} is empty or contains whitespace")]
    Empty(String),
    /// Not `[registry[:port]/]repository[:tag][@digest]` (uppercase or bad separators in
    /// the repository, an empty or malformed tag, a port that is not a number, ...).
    #[error(
        "image reference {reference:?} is malformed: {reason} (expected [registry[:port]/]repository[:tag][@digest], the repository in lowercase letters, digits and . _ - / separators)"
    )]
    Malformed {
        /// The reference.
        reference: String,
        /// What the parser said.
        reason: String,
    },
    /// The registry host part is malformed (a bracketed IPv6 host that is not one).
    #[error("image reference {reference:?} has a malformed registry host {host:?}")]
    BadHost {
        /// The reference.
        reference: String,
        /// The host part.
        host: String,
    },
    /// `registry/repository` is longer than 255 characters.
    #[error("image reference {reference:?} has a name longer than {MAX_NAME_LEN} characters")]
    TooLong {
        /// The reference.
        reference: String,
    },
    /// The tag is not ASCII.
    #[error("image reference {reference:?} has an invalid tag {tag:?}")]
    BadTag {
        /// The reference.
        reference: String,
        /// The tag part.
        tag: String,
    },
    /// The digest is malformed.
    #[error("image reference {reference:?} has an invalid digest: {reason}")]
    BadDigest {
        /// The reference.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl ImageRef {
    /// Parses and normalises a reference as written in a pod spec.
    ///
    /// ```
    /// use custody::registry::ImageRef;
    /// let r = ImageRef::parse("nginx").unwrap();
    /// assert_eq!(r.to_string(), "docker.io/library/nginx:latest");
    /// let r = ImageRef::parse("localhost:5000/team/app:v1").unwrap();
    /// assert_eq!((r.registry.as_str(), r.repository.as_str()), ("localhost:5000", "team/app"));
    /// ```
    pub fn parse(text: &str) -> Result<ImageRef, RefError> {
        let original = text.to_owned();
        if text.is_empty() || text.chars().any(char::is_whitespace) {
            return Err(RefError::Empty(original));
        }
        let ipv6 = split_ipv6(text).map_err(|host| RefError::BadHost {
            reference: original.clone(),
            host,
        })?;
        // oci-spec's grammar has no bracketed host: parse the rest under a stand-in host
        // that is always a registry, then put the real one back.
        let parsed = match &ipv6 {
            Some((_, rest)) => Reference::try_from(format!("localhost/{rest}")),
            None => Reference::try_from(text),
        }
        .map_err(|e| parse_error(&original, &e))?;
        let (registry, repository) = match ipv6 {
            Some((host, _)) => (host.to_owned(), parsed.repository().to_owned()),
            None => normalise(parsed.registry(), parsed.repository()),
        };
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(RefError::TooLong {
                reference: original,
            });
        }
        if let Some(t) = parsed.tag()
            && !t.is_ascii()
        {
            return Err(RefError::BadTag {
                reference: original,
                tag: t.to_owned(),
            });
        }
        let digest = match parsed.digest() {
            Some(d) => Some(d.parse::<Digest>().map_err(|e| RefError::BadDigest {
                reference: original.clone(),
                reason: e.to_string(),
            })?),
            None => None,
        };
        Ok(ImageRef {
            registry,
            repository,
            tag: parsed.tag().map(str::to_owned),
            digest,
            original,
        })
    }

    /// The host the registry API is reached at (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The manifest reference to request: the digest when pinned, else the tag.
    pub fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_owned(),
        }
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same repository pinned to `digest` (the tag is kept for display).
    pub fn with_digest(&self, digest: Digest) -> ImageRef {
        let mut r = self.clone();
        r.digest = Some(digest);
        r
    }

    /// The same repository under another tag (no digest).
    pub fn with_tag(&self, tag: &str) -> ImageRef {
        let mut r = self.clone();
        r.tag = Some(tag.to_owned());
        r.digest = None;
        r.original = r.to_string();
        r
    }

    /// This repository as oci-client addresses it, at `reference` (a tag or a digest),
    /// on the API host custody uses (Docker Hub's `registry-1.docker.io`).
    pub(crate) fn oci_reference(&self, reference: &str) -> Reference {
        let (host, repo) = (self.api_host().to_owned(), self.repository.clone());
        if reference.parse::<Digest>().is_ok() {
            Reference::with_digest(host, repo, reference.to_owned())
        } else {
            Reference::with_tag(host, repo, reference.to_owned())
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for ImageRef {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

fn parse_error(reference: &str, e: &ParseError) -> RefError {
    let reference = reference.to_owned();
    match e {
        ParseError::NameTooLong => RefError::TooLong { reference },
        ParseError::DigestInvalidFormat
        | ParseError::DigestInvalidLength
        | ParseError::DigestUnsupported => RefError::BadDigest {
            reference,
            reason: e.to_string(),
        },
        _ => RefError::Malformed {
            reference,
            reason: e.to_string(),
        },
    }
}

/// Docker Hub under its API host name, and a first component with an uppercase letter,
/// which oci-spec files under Docker Hub but Docker reads as a registry host (a Hub
/// namespace is lowercase; oci-spec's grammar lets uppercase through only in the host).
fn normalise(registry: &str, repository: &str) -> (String, String) {
    if registry == DOCKER_HUB
        && let Some((first, rest)) = repository.split_once('/')
        && first.bytes().any(|b| b.is_ascii_uppercase())
    {
        return (first.to_owned(), rest.to_owned());
    }
    if DOCKER_HUB_ALIASES.contains(&registry) {
        let repository = if repository.contains('/') {
            repository.to_owned()
        } else {
            format!("library/{repository}")
        };
        return (DOCKER_HUB.to_owned(), repository);
    }
    (registry.to_owned(), repository.to_owned())
}

/// `[v6addr]` or `[v6addr]:port` before the first `/`, and what follows it; `None` when the
/// reference does not start with `[`; the host as the error when it is not an IPv6 host.
fn split_ipv6(text: &str) -> Result<Option<(&str, &str)>, String> {
    if !text.starts_with('[') {
        return Ok(None);
    }
    let (host, rest) = text.split_once('/').unwrap_or((text, ""));
    let valid = host
        .strip_prefix('[')
        .and_then(|h| h.split_once(']'))
        .is_some_and(|(ip, port)| {
            ip.parse::<std::net::Ipv6Addr>().is_ok()
                && (port.is_empty()
                    || port.strip_prefix(':').is_some_and(|p| {
                        !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
                    }))
        });
    if valid && !rest.is_empty() {
        Ok(Some((host, rest)))
    } else {
        Err(host.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn p(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    #[test]
    fn docker_hub_defaults() {
        assert_eq!(p("nginx").to_string(), "docker.io/library/nginx:latest");
        assert_eq!(p("user/app:1").to_string(), "docker.io/user/app:1");
        assert_eq!(
            p("index.docker.io/nginx").to_string(),
            "docker.io/library/nginx:latest"
        );
        assert_eq!(
            p("docker.io/library/nginx").api_host(),
            "registry-1.docker.io"
        );
    }

    #[test]
    fn hosts_ports_and_digests() {
        let r = p("localhost:5000/a/b/c:v1.2-rc_3");
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "a/b/c");
        assert_eq!(r.tag.as_deref(), Some("v1.2-rc_3"));
        let r = p(&format!("ghcr.io/o/app:v1@{D}"));
        assert_eq!(r.reference(), D);
        assert_eq!(r.tag.as_deref(), Some("v1"));
        let r = p(&format!("ghcr.io/o/app@{D}"));
        assert_eq!(r.tag, None);
        assert_eq!(p("[::1]:5000/app").registry, "[::1]:5000");
        assert_eq!(p("Example.com/app").registry, "Example.com");
        assert_eq!(p("registry:5000/app").registry, "registry:5000");
        assert_eq!(p("a__b/c--d.e_f").repository, "a__b/c--d.e_f");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            " nginx",
            "Nginx",
            "docker.io/Library/nginx",
            "nginx:",
            "nginx:-x",
            "nginx@sha256:abc",
            "nginx@md5:d41d8cd98f00b204e9800998ecf8427e",
            "a//b",
            "a/b_",
            "a/b___c",
            "host:port/app",
            "[zz]:5000/app",
            "-bad.example.com/app",
        ] {
            let err = ImageRef::parse(bad).unwrap_err();
            assert!(
                err.to_string().contains(&format!("{bad:?}")),
                "{bad}: {err}"
            );
        }
        let long_tag = format!("app:{}", "a".repeat(129));
        assert!(ImageRef::parse(&long_tag).is_err());
    }

    /// Where `oci_client::Reference` alone reads a reference differently from docker and
    /// containerd, and what custody does instead (docs/registry.md, "References").
    #[test]
    fn where_custody_differs_from_oci_client_reference() {
        let oci = |s: &str| Reference::try_from(s);
        // Docker Hub's API host is Docker Hub (oci-spec knows only index.docker.io).
        let r = oci("registry-1.docker.io/nginx").unwrap();
        assert_eq!(
            (r.registry(), r.repository()),
            ("registry-1.docker.io", "nginx")
        );
        assert_eq!(
            p("registry-1.docker.io/nginx").to_string(),
            "docker.io/library/nginx:latest"
        );
        // An uppercase first component is a host for Docker, a Hub namespace for oci-spec.
        let r = oci("Registry/app").unwrap();
        assert_eq!(
            (r.registry(), r.repository()),
            ("docker.io", "Registry/app")
        );
        let r = p("Registry/app");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("Registry", "app")
        );
        // Bracketed IPv6 hosts are in Docker's grammar, not oci-spec's.
        assert!(oci("[::1]:5000/app").is_err());
        assert_eq!(p("[fe80::1]/team/app:v1").repository, "team/app");
        // `\w` in oci-spec's (Rust) regex takes Unicode letters; Docker's tags are ASCII.
        assert_eq!(oci("app:tägg").unwrap().tag(), Some("tägg"));
        assert!(matches!(
            ImageRef::parse("app:tägg"),
            Err(RefError::BadTag { .. })
        ));
        // Docker counts the host in the 255-character name limit; oci-spec does not.
        let long = format!("registry.example.com/{}", "a".repeat(240));
        assert!(oci(&long).is_ok());
        assert!(matches!(
            ImageRef::parse(&long),
            Err(RefError::TooLong { .. })
        ));
        // A digest's hex is lowercase (OCI image-spec); oci-spec takes any case.
        let upper = format!("app@{}", D.to_uppercase().replace("SHA256", "sha256"));
        assert!(oci(&upper).is_ok());
        assert!(matches!(
            ImageRef::parse(&upper),
            Err(RefError::BadDigest { .. })
        ));
    }

    /// The cases where both read the same, so custody adds nothing there.
    #[test]
    fn agrees_with_oci_client_reference() {
        for (text, whole) in [
            ("nginx", "docker.io/library/nginx:latest"),
            ("index.docker.io/nginx", "docker.io/library/nginx:latest"),
            ("docker.io/library/nginx:1", "docker.io/library/nginx:1"),
            ("team/app", "docker.io/team/app:latest"),
            ("localhost:5000/a", "localhost:5000/a:latest"),
            ("localhost/a", "localhost/a:latest"),
            ("test.com:5000", "docker.io/library/test.com:5000"),
            ("Example.com/app:V1", "Example.com/app:V1"),
        ] {
            let oci = Reference::try_from(text).unwrap();
            assert_eq!(oci.whole(), whole, "{text}");
            assert_eq!(p(text).to_string(), whole, "{text}");
        }
        let pinned = format!("ghcr.io/o/app:v1@{D}");
        assert_eq!(
            Reference::try_from(pinned.as_str()).unwrap().whole(),
            pinned
        );
        assert_eq!(p(&pinned).to_string(), pinned);
    }

    #[test]
    fn oci_reference_uses_the_api_host() {
        let r = p("nginx").oci_reference("v1");
        assert_eq!(r.to_string(), "registry-1.docker.io/library/nginx:v1");
        let r = p("localhost:5000/a").oci_reference(D);
        assert_eq!((r.tag(), r.digest()), (None, Some(D)));
    }
}
