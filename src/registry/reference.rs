//! Image references, parsed the way Kubernetes and the container runtimes read them.

use crate::digest::Digest;
use std::fmt;

/// The registry Docker Hub images live in, as written in normalised references.
pub(crate) const DOCKER_HUB: &str = "docker.io";
/// The host Docker Hub's registry API is served from.
pub(crate) const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// Names that mean Docker Hub.
pub(crate) const DOCKER_HUB_ALIASES: [&str; 3] = [DOCKER_HUB, "index.docker.io", DOCKER_HUB_API];

const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

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
    /// The registry host part is malformed.
    #[error("image reference {reference:?} has a malformed registry host {host:?}")]
    BadHost {
        /// The reference.
        reference: String,
        /// The host part.
        host: String,
    },
    /// The repository path is malformed (uppercase, bad separators, too long).
    #[error(
        "image reference {reference:?} has an invalid repository name {repository:?} (lowercase letters, digits and . _ - / separators)"
    )]
    BadRepository {
        /// The reference.
        reference: String,
        /// The repository part.
        repository: String,
    },
    /// The tag is malformed.
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
        let (name_tag, digest) = match text.split_once('@') {
            Some((n, d)) => {
                let digest = d.parse::<Digest>().map_err(|e| RefError::BadDigest {
                    reference: original.clone(),
                    reason: e.to_string(),
                })?;
                (n, Some(digest))
            }
            None => (text, None),
        };
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => (
                &name_tag[..last_slash + i],
                Some(&name_tag[last_slash + i + 1..]),
            ),
            None => (name_tag, None),
        };
        let (registry, repository) = split_domain(name);
        if !valid_host(&registry) {
            return Err(RefError::BadHost {
                reference: original,
                host: registry,
            });
        }
        if !valid_repository(&repository) || registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(RefError::BadRepository {
                reference: original,
                repository,
            });
        }
        if let Some(t) = tag
            && !valid_tag(t)
        {
            return Err(RefError::BadTag {
                reference: original,
                tag: t.to_owned(),
            });
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, None) => Some("latest".to_owned()),
            (None, Some(_)) => None,
        };
        Ok(ImageRef {
            registry,
            repository,
            tag,
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

/// Splits `name` into registry and repository the way the Docker reference library does:
/// the first component is a registry only if it has a `.` or `:`, is `localhost`, or has
/// uppercase letters.
fn split_domain(name: &str) -> (String, String) {
    let (mut domain, mut rest) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first.to_owned(), rest.to_owned())
        }
        _ => (DOCKER_HUB.to_owned(), name.to_owned()),
    };
    if DOCKER_HUB_ALIASES.contains(&domain.as_str()) {
        domain = DOCKER_HUB.to_owned();
    }
    if domain == DOCKER_HUB && !rest.contains('/') {
        rest = format!("library/{rest}");
    }
    (domain, rest)
}

fn valid_host(host: &str) -> bool {
    let (h, port) = if let Some(stripped) = host.strip_prefix('[') {
        // [IPv6]:port
        match stripped.split_once(']') {
            Some((ip, rest)) => {
                if ip.parse::<std::net::Ipv6Addr>().is_err() {
                    return false;
                }
                match rest {
                    "" => return true,
                    r => return r.strip_prefix(':').is_some_and(valid_port),
                }
            }
            None => return false,
        }
    } else {
        match host.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host, None),
        }
    };
    if let Some(p) = port
        && !valid_port(p)
    {
        return false;
    }
    !h.is_empty()
        && h.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn valid_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

fn valid_repository(repo: &str) -> bool {
    !repo.is_empty() && repo.split('/').all(valid_path_component)
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_TAG_LEN
        && word(b[0])
        && b.iter().all(|&x| word(x) || x == b'.' || x == b'-')
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
}
