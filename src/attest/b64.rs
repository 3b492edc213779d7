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
    // Each alphabet's decoder refuses the other's two characters, so trying the
    // standard one and then the URL-safe one accepts exactly what picking by a scan
    // would, and a clean payload (the common case) is read once, not scanned first.
    let strict = |text: &str| {
        STANDARD
            .decode(text)
            .or_else(|standard| URL_SAFE.decode(text).map_err(|_| standard))
    };
    match strict(text) {
        Ok(data) => Ok(data),
        Err(e) if text.contains(['\n', '\r']) => {
            strict(&text.replace(['\n', '\r'], "")).map_err(|_| e)
        }
        Err(e) => Err(e),
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
