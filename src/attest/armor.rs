//! PEM texts (RFC 7468) for keys and certificates, decoded and encoded by the
//! `pem-rfc7468` crate.
//!
//! That crate reads one block per call; key and certificate files may hold several
//! (a certificate chain, a key with explanatory text around it). So this module only
//! finds where each `-----BEGIN …-----` block starts and ends, trims the lines (CRLF
//! files, indented blocks) and hands the block to the crate, which checks the label,
//! the base64 and the absence of headers (legacy encrypted keys).

use pem_rfc7468::LineEnding;

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
    /// Another defect the PEM decoder found.
    #[error("PEM block {label:?} is malformed: {source}")]
    Malformed {
        /// The block's label.
        label: String,
        /// What `pem-rfc7468` reported.
        source: pem_rfc7468::Error,
    },
}

/// One decoded PEM block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    /// The label between `BEGIN ` and the dashes, e.g. `PUBLIC KEY`.
    pub(crate) label: String,
    /// The decoded DER bytes.
    pub(crate) der: Vec<u8>,
}

fn decode_block(label: &str, text: &str) -> Result<Block, PemError> {
    let decoded = pem_rfc7468::Decoder::new_detect_wrap(text.as_bytes()).and_then(|mut d| {
        let mut der = Vec::new();
        d.decode_to_end(&mut der)?;
        Ok(der)
    });
    match decoded {
        Ok(der) => Ok(Block {
            label: label.to_owned(),
            der,
        }),
        Err(pem_rfc7468::Error::HeaderDisallowed) => Err(PemError::Headers(label.to_owned())),
        Err(_) if text.lines().any(|l| l.contains(':')) => Err(PemError::Headers(label.to_owned())),
        Err(pem_rfc7468::Error::Base64(_)) => Err(PemError::Base64(label.to_owned())),
        Err(source) => Err(PemError::Malformed {
            label: label.to_owned(),
            source,
        }),
    }
}

/// Decodes every PEM block in `text`, in order; text outside the blocks is ignored.
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
        let mut block = format!("{line}\n");
        let mut closed = false;
        for inner in lines.by_ref() {
            if inner.is_empty() {
                continue;
            }
            block.push_str(inner);
            block.push('\n');
            if inner == end {
                closed = true;
                break;
            }
        }
        if !closed {
            return Err(PemError::Unterminated(label.to_owned()));
        }
        blocks.push(decode_block(label, &block)?);
    }
    if blocks.is_empty() {
        return Err(PemError::NoBlock);
    }
    Ok(blocks)
}

/// Encodes `der` as a PEM block with 64-column lines and a final newline (the form
/// OpenSSL, Go and pyca/cryptography write).
pub(crate) fn encode(label: &'static str, der: &[u8]) -> Result<String, PemError> {
    pem_rfc7468::encode_string(label, LineEnding::LF, der).map_err(|source| PemError::Malformed {
        label: label.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_skips_explanatory_text() {
        let pem = encode("PUBLIC KEY", &[1u8; 100]).unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\nAQEB"));
        assert!(pem.ends_with("\n-----END PUBLIC KEY-----\n"));
        assert_eq!(pem.lines().nth(1).unwrap().len(), 64);
        let text = format!("issuer: someone\r\n{}", pem.replace('\n', "\r\n"));
        let blocks = parse_all(&text).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].label, "PUBLIC KEY");
        assert_eq!(blocks[0].der, vec![1u8; 100]);
        // Two blocks (a chain), the second indented and wrapped at 76 columns.
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [2u8; 100]);
        let second = format!(
            "  -----BEGIN CERTIFICATE-----\n  {}\n  {}\n  -----END CERTIFICATE-----\n",
            &b64[..76],
            &b64[76..]
        );
        let blocks = parse_all(&format!("{pem}{second}")).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[1].der, vec![2u8; 100]);
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
