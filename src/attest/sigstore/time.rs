//! Times as Unix seconds: RFC 3339 strings (trusted roots) and DER UTCTime /
//! GeneralizedTime (certificates, RFC 3161 tokens).

use super::error::{Check, SigstoreError};

/// Seconds since the Unix epoch, UTC.
pub(crate) type UnixTime = i64;

/// Parses an RFC 3339 timestamp (fractions of a second are dropped).
pub(crate) fn parse_rfc3339(text: &str) -> Option<UnixTime> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp())
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        s.iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0')),
    )
}

fn to_unix(year: i32, rest: &[u8]) -> Option<UnixTime> {
    // rest: MMDDHHMMSS
    if rest.len() != 10 {
        return None;
    }
    let month = digits(&rest[0..2])?;
    let day = digits(&rest[2..4])?;
    let hour = digits(&rest[4..6])?;
    let minute = digits(&rest[6..8])?;
    let second = digits(&rest[8..10])?;
    let date = chrono::NaiveDate::from_ymd_opt(year, month, day)?;
    let time = date.and_hms_opt(hour, minute, second)?;
    Some(time.and_utc().timestamp())
}

/// Reads a DER time: UTCTime (tag 0x17, `YYMMDDHHMMSSZ`) or GeneralizedTime (tag 0x18,
/// `YYYYMMDDHHMMSS[.f+]Z`; fractions dropped).
pub(crate) fn parse_der_time(tag: u8, content: &[u8]) -> Result<UnixTime, SigstoreError> {
    let bad = || SigstoreError::new(Check::Certificate, "a DER time is malformed");
    let body = content.strip_suffix(b"Z").ok_or_else(bad)?;
    match tag {
        0x17 => {
            if body.len() != 12 {
                return Err(bad());
            }
            let yy = digits(&body[0..2]).ok_or_else(bad)? as i32;
            let year = if yy >= 50 { 1900 + yy } else { 2000 + yy };
            to_unix(year, &body[2..]).ok_or_else(bad)
        }
        0x18 => {
            let main = match body.iter().position(|&b| b == b'.') {
                Some(dot) => {
                    if !body[dot + 1..].iter().all(u8::is_ascii_digit) || dot + 1 == body.len() {
                        return Err(bad());
                    }
                    &body[..dot]
                }
                None => body,
            };
            if main.len() != 14 {
                return Err(bad());
            }
            let year = digits(&main[0..4]).ok_or_else(bad)? as i32;
            to_unix(year, &main[4..]).ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

/// A closed interval of Unix times; `end` None means open-ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Validity {
    /// First valid second.
    pub(crate) start: UnixTime,
    /// Last valid second (inclusive), if bounded.
    pub(crate) end: Option<UnixTime>,
}

impl Validity {
    /// Whether `t` lies in the interval (both ends inclusive).
    pub(crate) fn contains(&self, t: UnixTime) -> bool {
        t >= self.start && self.end.is_none_or(|end| t <= end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_and_rfc3339_times() {
        assert_eq!(parse_der_time(0x17, b"700101000000Z").unwrap(), 0);
        assert_eq!(parse_der_time(0x17, b"230712155636Z").unwrap(), 1689177396);
        assert_eq!(
            parse_der_time(0x18, b"20230712155636.123Z").unwrap(),
            1689177396
        );
        assert!(parse_der_time(0x18, b"20231312155636Z").is_err());
        assert!(parse_der_time(0x17, b"2307121556Z").is_err());
        assert_eq!(parse_rfc3339("2023-07-12T15:56:36Z"), Some(1689177396));
        assert_eq!(parse_rfc3339("2022-12-31T23:59:59.999Z"), Some(1672531199));
        let v = Validity {
            start: 10,
            end: Some(20),
        };
        assert!(v.contains(10) && v.contains(20) && !v.contains(21) && !v.contains(9));
    }
}
