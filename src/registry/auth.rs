//! Registry credentials from `kubernetes.io/dockerconfigjson` and legacy `.dockercfg`
//! payloads, matched to an image the way the kubelet's keyring matches them.

use super::reference::{DOCKER_HUB, DOCKER_HUB_ALIASES, ImageRef};
use base64::Engine as _;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// One credential. `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// Username and password (sent as HTTP Basic to the token service or registry).
    Basic {
        /// The user name.
        username: String,
        /// The password or access token.
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token service.
    IdentityToken(String),
    /// A bearer token sent to the registry as is (`registrytoken`).
    RegistryToken(String),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Basic { username, .. } => write!(f, "Basic({username:?}, <redacted>)"),
            Auth::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
            Auth::RegistryToken(_) => f.write_str("RegistryToken(<redacted>)"),
        }
    }
}

impl Auth {
    /// A short non-secret fingerprint, so caches can keep tokens per credential.
    pub(crate) fn fingerprint(&self) -> String {
        let text = match self {
            Auth::Basic { username, password } => format!("b\0{username}\0{password}"),
            Auth::IdentityToken(t) => format!("i\0{t}"),
            Auth::RegistryToken(t) => format!("r\0{t}"),
        };
        crate::digest::Digest::sha256(text.as_bytes()).hex()[..16].to_owned()
    }
}

/// Why a credentials payload could not be read. Never contains the payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// Not JSON of the expected shape.
    #[error("{source_name}: not a docker config: {reason}")]
    Malformed {
        /// Where the payload came from (file path, secret name).
        source_name: String,
        /// What is wrong (never the content).
        reason: String,
    },
    /// The file could not be read.
    #[error("{path}: cannot read credentials file: {reason}")]
    Io {
        /// The path.
        path: String,
        /// The OS error.
        reason: String,
    },
}

/// A set of registry credentials, most specific match first.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    entries: Vec<Entry>,
}

#[derive(Clone, PartialEq, Eq)]
struct Entry {
    host: String,
    port: Option<String>,
    path: String,
    auth: Auth,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| e.key()))
            .finish()
    }
}

#[derive(Deserialize)]
struct ConfigJson {
    #[serde(default)]
    auths: BTreeMap<String, AuthJson>,
}

#[derive(Deserialize, Default)]
struct AuthJson {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

impl Credentials {
    /// No credentials: anonymous access (bearer tokens are still fetched anonymously).
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// Whether there are no credentials at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// One username/password for a registry key such as `ghcr.io` or `host:5000/team`.
    pub fn basic(key: &str, username: &str, password: &str) -> Self {
        let mut c = Self::default();
        c.add(
            key,
            Auth::Basic {
                username: username.to_owned(),
                password: password.to_owned(),
            },
        );
        c
    }

    /// Reads a `kubernetes.io/dockerconfigjson` payload (`{"auths": {...}}`).
    pub fn from_dockerconfigjson(data: &[u8]) -> Result<Self, CredentialsError> {
        let cfg: ConfigJson =
            serde_json::from_slice(data).map_err(|e| malformed("dockerconfigjson", &e))?;
        Self::from_map(cfg.auths, "dockerconfigjson")
    }

    /// Reads a legacy `kubernetes.io/dockercfg` payload (`{"host": {...}}`).
    pub fn from_dockercfg(data: &[u8]) -> Result<Self, CredentialsError> {
        let map: BTreeMap<String, AuthJson> =
            serde_json::from_slice(data).map_err(|e| malformed("dockercfg", &e))?;
        Self::from_map(map, "dockercfg")
    }

    /// Reads either format, telling them apart by the `auths` key.
    pub fn from_docker_config(data: &[u8]) -> Result<Self, CredentialsError> {
        let value: serde_json::Value =
            serde_json::from_slice(data).map_err(|e| malformed("docker config", &e))?;
        if value.get("auths").is_some() {
            Self::from_dockerconfigjson(data)
        } else {
            Self::from_dockercfg(data)
        }
    }

    /// Reads a credentials file in either format.
    pub fn from_file(path: &Path) -> Result<Self, CredentialsError> {
        let data = std::fs::read(path).map_err(|e| CredentialsError::Io {
            path: path.display().to_string(),
            reason: e.kind().to_string(),
        })?;
        Self::from_docker_config(&data).map_err(|e| match e {
            CredentialsError::Malformed { reason, .. } => CredentialsError::Malformed {
                source_name: path.display().to_string(),
                reason,
            },
            other => other,
        })
    }

    fn from_map(map: BTreeMap<String, AuthJson>, what: &str) -> Result<Self, CredentialsError> {
        let mut creds = Self::default();
        for (key, a) in map {
            let auth = if let Some(t) = a.registrytoken.filter(|t| !t.is_empty()) {
                Auth::RegistryToken(t)
            } else if let Some(t) = a.identitytoken.filter(|t| !t.is_empty()) {
                Auth::IdentityToken(t)
            } else if let (Some(u), Some(p)) = (&a.username, &a.password)
                && !u.is_empty()
            {
                Auth::Basic {
                    username: u.clone(),
                    password: p.clone(),
                }
            } else if let Some(encoded) = a.auth.filter(|s| !s.is_empty()) {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .map_err(|_| CredentialsError::Malformed {
                        source_name: what.to_owned(),
                        reason: format!("the auth field for {key:?} is not base64"),
                    })?;
                let text = String::from_utf8(raw).map_err(|_| CredentialsError::Malformed {
                    source_name: what.to_owned(),
                    reason: format!("the auth field for {key:?} is not UTF-8"),
                })?;
                let (u, p) = text
                    .split_once(':')
                    .ok_or_else(|| CredentialsError::Malformed {
                        source_name: what.to_owned(),
                        reason: format!("the auth field for {key:?} is not user:password"),
                    })?;
                Auth::Basic {
                    username: u.to_owned(),
                    password: p.to_owned(),
                }
            } else {
                continue;
            };
            creds.add(&key, auth);
        }
        Ok(creds)
    }

    /// Adds one credential under a registry key (`host[:port][/path]`, optionally with a
    /// scheme, `/v1/` or `/v2/`, and `*` wildcards in host labels).
    pub fn add(&mut self, key: &str, auth: Auth) {
        let Some(entry) = Entry::parse(key, auth) else {
            return;
        };
        self.entries.push(entry);
        // Most specific first: longer paths, then hosts without wildcards.
        self.entries.sort_by(|a, b| {
            b.path
                .len()
                .cmp(&a.path.len())
                .then_with(|| a.host.contains('*').cmp(&b.host.contains('*')))
        });
    }

    /// Adds every credential of `other` after this set's own (used as a fallback).
    pub fn extend(&mut self, other: &Credentials) {
        for e in &other.entries {
            if !self.entries.contains(e) {
                self.entries.push(e.clone());
            }
        }
    }

    /// The credential for `image`, most specific match first (kubelet keyring rules:
    /// host labels match with globs, ports must be equal, the key's path must be a prefix
    /// of the repository at a `/` boundary; Docker Hub's names are one registry).
    pub fn lookup(&self, image: &ImageRef) -> Option<&Auth> {
        let (host, port) = split_port(&image.registry.to_ascii_lowercase());
        let host = normalise_host(&host);
        self.entries
            .iter()
            .find(|e| e.matches(&host, port.as_deref(), &image.repository))
            .map(|e| &e.auth)
    }

    /// Every credential matching `image`, each as a one-entry set: this set's matches
    /// (most specific first), then `fallback`'s. The kubelet tries them in this order
    /// until one is accepted.
    pub(crate) fn candidates(&self, fallback: &Credentials, image: &ImageRef) -> Vec<Credentials> {
        let (host, port) = split_port(&image.registry.to_ascii_lowercase());
        let host = normalise_host(&host);
        let mut out: Vec<Credentials> = Vec::new();
        for e in self.entries.iter().chain(&fallback.entries) {
            if e.matches(&host, port.as_deref(), &image.repository)
                && !out.iter().any(|c| c.entries[0].auth == e.auth)
            {
                out.push(Credentials {
                    entries: vec![e.clone()],
                });
            }
        }
        out
    }

    /// The credential for `image`: this set first, then `fallback`.
    pub fn lookup_or<'a>(
        &'a self,
        fallback: &'a Credentials,
        image: &ImageRef,
    ) -> Option<&'a Auth> {
        self.lookup(image).or_else(|| fallback.lookup(image))
    }
}

impl Entry {
    fn parse(key: &str, auth: Auth) -> Option<Entry> {
        let key = key.trim();
        let key = key
            .strip_prefix("https://")
            .or_else(|| key.strip_prefix("http://"))
            .unwrap_or(key);
        let (hostport, path) = match key.split_once('/') {
            Some((h, p)) => (h, p),
            None => (key, ""),
        };
        if hostport.is_empty() {
            return None;
        }
        let path = path
            .strip_prefix("v1/")
            .or_else(|| path.strip_prefix("v2/"))
            .unwrap_or(if path == "v1" || path == "v2" {
                ""
            } else {
                path
            });
        let (host, port) = split_port(&hostport.to_ascii_lowercase());
        Some(Entry {
            host: normalise_host(&host),
            port,
            path: path.trim_matches('/').to_owned(),
            auth,
        })
    }

    fn key(&self) -> String {
        let mut k = self.host.clone();
        if let Some(p) = &self.port {
            k = format!("{k}:{p}");
        }
        if !self.path.is_empty() {
            k = format!("{k}/{}", self.path);
        }
        k
    }

    fn matches(&self, host: &str, port: Option<&str>, repository: &str) -> bool {
        if self.port.as_deref() != port {
            return false;
        }
        let want: Vec<&str> = self.host.split('.').collect();
        let have: Vec<&str> = host.split('.').collect();
        if want.len() != have.len() || !want.iter().zip(&have).all(|(w, h)| glob_label(w, h)) {
            return false;
        }
        self.path.is_empty()
            || repository == self.path
            || repository
                .strip_prefix(self.path.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    }
}

fn malformed(what: &str, e: &serde_json::Error) -> CredentialsError {
    // serde_json's message names line/column and expected type, never the content.
    CredentialsError::Malformed {
        source_name: what.to_owned(),
        reason: format!("invalid JSON at line {} column {}", e.line(), e.column()),
    }
}

fn split_port(hostport: &str) -> (String, Option<String>) {
    if hostport.starts_with('[') {
        return match hostport.rsplit_once("]:") {
            Some((h, p)) => (format!("{h}]"), Some(p.to_owned())),
            None => (hostport.to_owned(), None),
        };
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), Some(p.to_owned())),
        None => (hostport.to_owned(), None),
    }
}

fn normalise_host(host: &str) -> String {
    if DOCKER_HUB_ALIASES.contains(&host) {
        DOCKER_HUB.to_owned()
    } else {
        host.to_owned()
    }
}

/// Glob match of one host label: `*` matches any run of characters within the label.
fn glob_label(pattern: &str, label: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == label,
        Some((prefix, rest)) => {
            let Some(tail) = label.strip_prefix(prefix) else {
                return false;
            };
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob_label(rest, &tail[i..]))
        }
    }
}

/// The `Authorization` value for HTTP Basic credentials (none for other kinds).
pub(super) fn basic_header(auth: Option<&Auth>) -> Option<String> {
    match auth {
        Some(Auth::Basic { username, password }) => Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
        )),
        _ => None,
    }
}

/// The key a bearer token is cached under: host, scope and whose credentials.
pub(super) fn token_key(host: &str, scope: &str, auth: Option<&Auth>) -> String {
    let fp = auth.map(Auth::fingerprint).unwrap_or_default();
    format!("{host}|{scope}|{fp}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    fn user(a: Option<&Auth>) -> Option<&str> {
        match a {
            Some(Auth::Basic { username, .. }) => Some(username),
            _ => None,
        }
    }

    #[test]
    fn dockerconfigjson_with_hub_aliases_and_paths() {
        let json = br#"{"auths": {
            "https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldA=="},
            "registry.example.com": {"username": "host", "password": "p"},
            "registry.example.com/team": {"username": "team", "password": "p"},
            "*.corp.example": {"username": "wild", "password": "p"},
            "localhost:5000": {"username": "port", "password": "p"}
        }}"#;
        let c = Credentials::from_dockerconfigjson(json).unwrap();
        assert_eq!(user(c.lookup(&img("nginx"))), Some("hub"));
        assert_eq!(user(c.lookup(&img("docker.io/user/app"))), Some("hub"));
        assert_eq!(
            user(c.lookup(&img("registry.example.com/team/app"))),
            Some("team")
        );
        assert_eq!(
            user(c.lookup(&img("registry.example.com/teamx/app"))),
            Some("host")
        );
        assert_eq!(
            user(c.lookup(&img("registry.example.com/other"))),
            Some("host")
        );
        assert_eq!(user(c.lookup(&img("a.corp.example/app"))), Some("wild"));
        assert_eq!(c.lookup(&img("a.b.corp.example/app")), None);
        assert_eq!(user(c.lookup(&img("localhost:5000/app"))), Some("port"));
        assert_eq!(c.lookup(&img("localhost:5001/app")), None);
        assert_eq!(c.lookup(&img("registry.example.com:443/app")), None);
        assert_eq!(c.lookup(&img("ghcr.io/app")), None);
    }

    #[test]
    fn candidates_in_kubelet_order() {
        let mut c = Credentials::basic("r.example/team", "specific", "p");
        c.add(
            "r.example",
            Auth::Basic {
                username: "host".into(),
                password: "p".into(),
            },
        );
        let fallback = Credentials::basic("r.example", "default", "p");
        let names: Vec<_> = c
            .candidates(&fallback, &img("r.example/team/app"))
            .iter()
            .map(|c| {
                user(c.lookup(&img("r.example/team/app")))
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(names, ["specific", "host", "default"]);
        assert!(c.candidates(&fallback, &img("other.example/a")).is_empty());
    }

    #[test]
    fn dockercfg_and_tokens() {
        let cfg = br#"{"quay.io": {"auth": "dTpw", "email": "x@y"}, "ghcr.io": {"registrytoken": "tok"}}"#;
        let c = Credentials::from_docker_config(cfg).unwrap();
        assert_eq!(user(c.lookup(&img("quay.io/a/b"))), Some("u"));
        assert!(matches!(
            c.lookup(&img("ghcr.io/a/b")),
            Some(Auth::RegistryToken(_))
        ));
        let fallback = Credentials::basic("ghcr.io", "fb", "p");
        let none = Credentials::anonymous();
        assert_eq!(
            user(none.lookup_or(&fallback, &img("ghcr.io/a"))),
            Some("fb")
        );
    }

    #[test]
    fn errors_and_debug_hide_secrets() {
        let err =
            Credentials::from_dockerconfigjson(br#"{"auths": {"h": {"auth": "!!secret!!"}}}"#)
                .unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        let err = Credentials::from_dockerconfigjson(br#"{"auths": "topsecret"#).unwrap_err();
        assert!(!err.to_string().contains("topsecret"), "{err}");
        let c = Credentials::basic("h", "u", "hunter2");
        assert!(!format!("{c:?} {:?}", c.lookup(&img("h/a"))).contains("hunter2"));
    }
}
