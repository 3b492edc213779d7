//! Artifact name patterns and artifact name checks.
//!
//! Patterns follow Python's `fnmatch` as the in-toto reference implementation applies it
//! to artifact names: `*` matches any run of characters *including* `/`, `?` one
//! character, `[seq]` / `[!seq]` a character class (with ranges; `]` first in the class
//! is literal; an unclosed `[` is a literal `[`). Matching is case-sensitive (POSIX
//! `normcase`).

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    AnyOne,
    AnyRun,
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
}

/// A compiled fnmatch pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    tokens: Vec<Token>,
}

impl Pattern {
    /// Compiles `text`; every text is a valid pattern.
    pub(crate) fn new(text: &str) -> Pattern {
        let chars: Vec<char> = text.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => {
                    if tokens.last() != Some(&Token::AnyRun) {
                        tokens.push(Token::AnyRun);
                    }
                    i += 1;
                }
                '?' => {
                    tokens.push(Token::AnyOne);
                    i += 1;
                }
                '[' => match parse_class(&chars, i + 1) {
                    Some((token, next)) => {
                        tokens.push(token);
                        i = next;
                    }
                    None => {
                        tokens.push(Token::Literal('['));
                        i += 1;
                    }
                },
                c => {
                    tokens.push(Token::Literal(c));
                    i += 1;
                }
            }
        }
        Pattern { tokens }
    }

    /// Whether the whole of `name` matches.
    pub(crate) fn matches(&self, name: &str) -> bool {
        // Fast paths for the common shapes: `*`, a literal name, `prefix*`.
        match self.tokens.as_slice() {
            [Token::AnyRun] => return true,
            tokens if tokens.iter().all(|t| matches!(t, Token::Literal(_))) => {
                return tokens
                    .iter()
                    .map(|t| match t {
                        Token::Literal(c) => *c,
                        _ => '\0',
                    })
                    .eq(name.chars());
            }
            _ => {}
        }
        let s: Vec<char> = name.chars().collect();
        let (mut ti, mut si) = (0usize, 0usize);
        let mut backtrack: Option<(usize, usize)> = None;
        while si < s.len() {
            match self.tokens.get(ti) {
                Some(Token::AnyRun) => {
                    backtrack = Some((ti, si));
                    ti += 1;
                    continue;
                }
                Some(t) if single_matches(t, s[si]) => {
                    ti += 1;
                    si += 1;
                    continue;
                }
                _ => {}
            }
            match backtrack {
                Some((bt, bs)) => {
                    ti = bt + 1;
                    si = bs + 1;
                    backtrack = Some((bt, bs + 1));
                }
                None => return false,
            }
        }
        self.tokens[ti..].iter().all(|t| *t == Token::AnyRun)
    }
}

fn single_matches(token: &Token, c: char) -> bool {
    match token {
        Token::Literal(l) => *l == c,
        Token::AnyOne => true,
        Token::AnyRun => false,
        Token::Class { negated, items } => {
            items.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated
        }
    }
}

/// Parses a class starting after `[`; returns the token and the index after `]`.
fn parse_class(chars: &[char], start: usize) -> Option<(Token, usize)> {
    let mut i = start;
    let negated = chars.get(i) == Some(&'!');
    if negated {
        i += 1;
    }
    let mut items = Vec::new();
    let mut first = true;
    loop {
        let c = *chars.get(i)?;
        if c == ']' && !first {
            return Some((Token::Class { negated, items }, i + 1));
        }
        first = false;
        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|&e| e != ']') {
            let hi = chars[i + 2];
            if c <= hi {
                items.push((c, hi));
            }
            i += 3;
        } else {
            items.push((c, c));
            i += 1;
        }
    }
}

/// Why an artifact name is refused, if it is: names are opaque strings, but a name
/// with a `..` segment, a leading `/` or a backslash could name a file outside the
/// directory it was recorded in, and no in-toto tool writes one.
pub(crate) fn artifact_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("the name is empty")
    } else if name.starts_with('/') {
        Some("the name starts with '/'")
    } else if name.contains('\\') {
        Some("the name contains a backslash")
    } else if name.split('/').any(|seg| seg == "..") {
        Some("the name has a '..' segment")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Pattern::new(p).matches(s)
    }

    #[test]
    fn star_crosses_slashes_like_the_reference() {
        assert!(m("*", "a/b/c.txt"));
        assert!(m("src/*.py", "src/x/y.py"));
        assert!(m("*.tar.gz", "dist/foo.tar.gz"));
        assert!(!m("*.py", "foo.pyc"));
        assert!(m("foo.py", "foo.py"));
        assert!(!m("foo.py", "foo.pyx"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("", ""));
        assert!(!m("", "a"));
    }

    #[test]
    fn classes_and_single_characters() {
        assert!(m("file?.txt", "file1.txt"));
        assert!(!m("file?.txt", "file.txt"));
        assert!(m("[abc].txt", "b.txt"));
        assert!(!m("[!abc].txt", "b.txt"));
        assert!(m("[!abc].txt", "d.txt"));
        assert!(m("[a-c]x", "bx"));
        assert!(m("[]]", "]"));
        assert!(m("[", "["));
        assert!(m("a[b", "a[b"));
        assert!(!m("A", "a"));
    }

    #[test]
    fn refused_names() {
        assert!(artifact_name_problem("a/b.txt").is_none());
        assert!(artifact_name_problem("a..b").is_none());
        assert!(artifact_name_problem("../etc/passwd").is_some());
        assert!(artifact_name_problem("a/../b").is_some());
        assert!(artifact_name_problem("/etc/passwd").is_some());
        assert!(artifact_name_problem("a\\b").is_some());
        assert!(artifact_name_problem("").is_some());
    }
}
