//! A tiny, strict DER reader and writer: just enough to take apart a
//! SubjectPublicKeyInfo or a PKCS#8 PrivateKeyInfo and to build an SPKI.
//!
//! Only single-byte tags and definite, minimally encoded lengths are accepted;
//! anything else is an error, never a guess.

/// Universal tags used by the key formats.
pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const NULL: u8 = 0x05;
pub(crate) const OID: u8 = 0x06;

/// Why DER could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DerError {
    /// The input ended inside an element.
    #[error("DER ended early")]
    Truncated,
    /// A length in a form DER forbids (indefinite, non-minimal, too large).
    #[error("DER length is not in minimal definite form")]
    BadLength,
    /// A multi-byte tag, which none of the key formats use.
    #[error("DER uses a multi-byte tag")]
    BadTag,
    /// The element had another tag than expected.
    #[error("expected DER tag {expected:#04x}, found {found:#04x}")]
    Unexpected {
        /// The tag wanted.
        expected: u8,
        /// The tag present.
        found: u8,
    },
    /// Bytes were left after the last expected element.
    #[error("trailing bytes after DER element")]
    Trailing,
}

/// A cursor over DER elements.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading `data`.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { rest: data }
    }

    /// Whether everything has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// How many bytes are left.
    pub(crate) fn remaining_len(&self) -> usize {
        self.rest.len()
    }

    /// The tag of the next element, if any.
    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads the next element, which must carry `tag`, and returns all of its bytes
    /// (tag and length included).
    pub(crate) fn read_raw(&mut self, tag: u8) -> Result<&'a [u8], DerError> {
        let before = self.rest;
        self.read(tag)?;
        Ok(&before[..before.len() - self.rest.len()])
    }

    /// Reads the next element: its tag and its contents.
    pub(crate) fn read_any(&mut self) -> Result<(u8, &'a [u8]), DerError> {
        let (&tag, after_tag) = self.rest.split_first().ok_or(DerError::Truncated)?;
        if tag & 0x1f == 0x1f {
            return Err(DerError::BadTag);
        }
        let (&first, mut after_len) = after_tag.split_first().ok_or(DerError::Truncated)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || after_len.len() < n {
                return Err(if n == 0 || n > 4 {
                    DerError::BadLength
                } else {
                    DerError::Truncated
                });
            }
            let (len_bytes, rest) = after_len.split_at(n);
            after_len = rest;
            if len_bytes[0] == 0 {
                return Err(DerError::BadLength);
            }
            let len = len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len < 0x80 {
                return Err(DerError::BadLength);
            }
            len
        };
        if after_len.len() < len {
            return Err(DerError::Truncated);
        }
        let (content, rest) = after_len.split_at(len);
        self.rest = rest;
        Ok((tag, content))
    }

    /// Reads the next element, which must carry `tag`, and returns its contents.
    pub(crate) fn read(&mut self, tag: u8) -> Result<&'a [u8], DerError> {
        let (found, content) = self.read_any()?;
        if found != tag {
            return Err(DerError::Unexpected {
                expected: tag,
                found,
            });
        }
        Ok(content)
    }

    /// Fails unless everything has been read.
    pub(crate) fn finish(&self) -> Result<(), DerError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DerError::Trailing)
        }
    }
}

/// Reads `data` as exactly one element with `tag` and returns its contents.
pub(crate) fn read_single(data: &[u8], tag: u8) -> Result<&[u8], DerError> {
    let mut r = Reader::new(data);
    let content = r.read(tag)?;
    r.finish()?;
    Ok(content)
}

/// Encodes one element.
pub(crate) fn write(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OCTET_STRING: u8 = 0x04;

    #[test]
    fn reads_short_and_long_lengths() {
        let long = write(OCTET_STRING, &[7u8; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(read_single(&long, OCTET_STRING).unwrap().len(), 300);
        assert_eq!(read_single(&[0x05, 0x00], NULL).unwrap(), b"");
    }

    #[test]
    fn rejects_non_der_lengths_and_trailing_bytes() {
        // Indefinite length, non-minimal long form, truncated, trailing.
        assert_eq!(
            read_single(&[0x30, 0x80, 0, 0], SEQUENCE),
            Err(DerError::BadLength)
        );
        assert_eq!(
            read_single(&[0x04, 0x81, 0x01, 0xff], OCTET_STRING),
            Err(DerError::BadLength)
        );
        assert_eq!(
            read_single(&[0x04, 0x82, 0x00, 0x81], OCTET_STRING),
            Err(DerError::BadLength)
        );
        assert_eq!(
            read_single(&[0x04, 0x03, 0x01], OCTET_STRING),
            Err(DerError::Truncated)
        );
        assert_eq!(
            read_single(&[0x05, 0x00, 0x00], NULL),
            Err(DerError::Trailing)
        );
        assert_eq!(
            read_single(&[0x1f, 0x01, 0x00], NULL),
            Err(DerError::BadTag)
        );
        assert!(matches!(
            read_single(&[0x05, 0x00], SEQUENCE),
            Err(DerError::Unexpected { .. })
        ));
    }
}
