//! Base64 as DSSE producers write it: standard or URL-safe alphabet, padded or not.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// Decodes standard or URL-safe base64, with or without padding. Line breaks (`\n`,
/// `\r`) are skipped, as Go's decoder does (MIME-style producers wrap lines); the
/// signature covers the decoded bytes, so this cannot change what was signed. A string
/// that mixes the two alphabets, contains other whitespace or has non-zero trailing bits
/// is rejected.
pub fn decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let cleaned;
    let text = if text.contains(['\n', '\r']) {
        cleaned = text.replace(['\n', '\r'], "");
        cleaned.as_str()
    } else {
        text
    };
    if text.bytes().any(|b| b == b'-' || b == b'_') {
        URL_SAFE.decode(text)
    } else {
        STANDARD.decode(text)
    }
}

/// Encodes with the standard alphabet and padding (what every DSSE verifier reads).
pub fn encode(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_both_alphabets_padded_or_not() {
        let data = [0xfbu8, 0xff, 0xbf, 0x01];
        for text in ["+/+/AQ==", "+/+/AQ", "-_-_AQ==", "-_-_AQ", "+/+/\r\nAQ==\n"] {
            assert_eq!(decode(text).unwrap(), data, "{text}");
        }
        assert_eq!(encode(&data), "+/+/AQ==");
    }

    #[test]
    fn rejects_mixed_alphabets_whitespace_and_garbage() {
        for text in [
            "+/-_AQ==",
            "+/+/ AQ==",
            "+/+/\tAQ==",
            "not base64!",
            "A",
            "AR==",
        ] {
            assert!(decode(text).is_err(), "{text}");
        }
    }
}
