//! PEM (RFC 7468) reading and writing for keys: strict about structure, tolerant of
//! explanatory text around the blocks and of CRLF line ends.

use base64::Engine as _;

/// Why text is not usable PEM.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    /// No `-----BEGIN …-----` line.
    #[error("no PEM block found (expected a line like -----BEGIN PUBLIC KEY-----)")]
    NoBlock,
    /// A BEGIN without the matching END.
    #[error("PEM block {0:?} has no matching END line")]
    Unterminated(String),
    /// Encapsulated headers, used only by legacy encrypted keys.
    #[error("PEM block {0:?} has headers (encrypted keys are not supported)")]
    Headers(String),
    /// The body is not base64.
    #[error("PEM block {0:?} is not valid base64")]
    Base64(String),
}

/// One decoded PEM block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    /// The label between `BEGIN ` and the dashes, e.g. `PUBLIC KEY`.
    pub(crate) label: String,
    /// The decoded DER bytes.
    pub(crate) der: Vec<u8>,
}

/// Decodes every PEM block in `text`, in order.
pub(crate) fn parse_all(text: &str) -> Result<Vec<Block>, PemError> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for inner in lines.by_ref() {
            if inner == end {
                closed = true;
                break;
            }
            if inner.contains(':') {
                return Err(PemError::Headers(label.to_owned()));
            }
            body.push_str(inner);
        }
        if !closed {
            return Err(PemError::Unterminated(label.to_owned()));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|_| PemError::Base64(label.to_owned()))?;
        blocks.push(Block {
            label: label.to_owned(),
            der,
        });
    }
    if blocks.is_empty() {
        return Err(PemError::NoBlock);
    }
    Ok(blocks)
}

/// Encodes `der` as a PEM block with 64-column lines and a final newline (the form
/// OpenSSL, Go and pyca/cryptography write).
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_skips_explanatory_text() {
        let pem = encode("PUBLIC KEY", &[1u8; 100]);
        let text = format!("issuer: someone\r\n{}", pem.replace('\n', "\r\n"));
        let blocks = parse_all(&text).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].label, "PUBLIC KEY");
        assert_eq!(blocks[0].der, vec![1u8; 100]);
    }

    #[test]
    fn rejects_broken_blocks() {
        assert_eq!(parse_all("nothing here"), Err(PemError::NoBlock));
        assert!(matches!(
            parse_all("-----BEGIN PUBLIC KEY-----\nAAAA\n"),
            Err(PemError::Unterminated(_))
        ));
        assert!(matches!(
            parse_all("-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n"),
            Err(PemError::Base64(_))
        ));
        assert!(matches!(
            parse_all(
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END RSA PRIVATE KEY-----\n"
            ),
            Err(PemError::Headers(_))
        ));
    }
}
