//! Remembering a policy's answers across evaluations.
//!
//! A Rego evaluation is a pure function of the input and the bundle, unless the policy
//! calls a builtin that looks at the world (the clock, the network, randomness). The
//! same image admitted again (every replica, every rollout, every Job run) reaches a
//! policy with the same evidence; only request details such as the user, the workload
//! name or the evaluation time differ, and most policies never read them.
//!
//! So each bundle's Rego source is scanned for what it reads of `input`: every
//! `input.a.b` reference is recorded to two levels (`input.evaluation.options`, not
//! all of `input.evaluation`, whose time changes every request); any other use of
//! `input` (`input[x]`, `walk(input, …)`, `x := input`) counts as reading all of it.
//! The values at those paths form the memo key, compared in full (no hashing, so no
//! collisions); parts shared with the remembered key (the same reference-counted value,
//! such as a predicate converted once per blob and reused by every request) compare equal
//! without being walked. A bundle that calls a world-dependent builtin is never memoised.
//! Only successful evaluations are kept; errors and time-limit overruns are retried.

use super::outcome::Outcome;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Builtins whose result depends on more than their arguments. A bundle whose source
/// mentions one is evaluated every time. Matching is on the source text, so a mention
/// in a comment also turns memoising off (the safe direction).
const WORLD_DEPENDENT: &[&str] = &[
    "time.now_ns",
    "http.send",
    "rand.intn",
    "uuid.rfc4122",
    "opa.runtime",
    "net.lookup_ip_addr",
    "parse_and_verify",
    "decode_verify",
];

/// Answers kept per bundle; the memo is emptied when it is full.
pub const MEMO_ENTRIES: usize = 1024;

/// What a bundle reads of its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputReads {
    /// Only these paths (one or two field names below `input`), sorted.
    Paths(Vec<Vec<String>>),
    /// The whole document.
    Whole,
}

/// Whether `source` calls a builtin whose answer depends on the world.
pub fn world_dependent(source: &str) -> Option<&'static str> {
    WORLD_DEPENDENT
        .iter()
        .find(|name| source.contains(*name))
        .copied()
}

/// What the Rego `sources` read of `input` (comments and string literals ignored).
pub fn input_reads<'a>(sources: impl IntoIterator<Item = &'a str>) -> InputReads {
    let mut paths: Vec<Vec<String>> = Vec::new();
    for source in sources {
        // OPA's template strings (`$"{input.x}"`) hold references inside a literal;
        // regorus does not parse them today, and a source that has one is read whole.
        if source.contains("$\"") || source.contains("$`") {
            return InputReads::Whole;
        }
        let code = strip_comments_and_strings(source);
        let bytes = code.as_bytes();
        let mut from = 0;
        while let Some(found) = code[from..].find("input") {
            let at = from + found;
            from = at + "input".len();
            let before = at.checked_sub(1).map(|i| bytes[i]);
            let after = bytes.get(from).copied();
            if before.is_some_and(|b| is_ident(b) || b == b'.') || after.is_some_and(is_ident) {
                continue;
            }
            let mut path = Vec::new();
            let mut pos = from;
            while path.len() < 2 && bytes.get(pos) == Some(&b'.') {
                let start = pos + 1;
                let end = start + bytes[start..].iter().take_while(|b| is_ident(**b)).count();
                if end == start {
                    break;
                }
                path.push(code[start..end].to_owned());
                pos = end;
            }
            if path.is_empty() {
                return InputReads::Whole;
            }
            paths.push(path);
        }
    }
    paths.sort();
    paths.dedup();
    // A path already covered by a shorter one adds nothing.
    let covered: Vec<Vec<String>> = paths
        .iter()
        .filter(|p| !paths.iter().any(|q| q.len() < p.len() && p.starts_with(q)))
        .cloned()
        .collect();
    InputReads::Paths(covered)
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The source with comments removed and string literals emptied (`"…"` and raw
/// `` `…` ``), so that neither can be mistaken for a reference.
fn strip_comments_and_strings(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars();
    while let Some(c) = chars.next() {
        match c {
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                out.push_str("\"\"");
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '`' => {
                out.push_str("``");
                for c in chars.by_ref() {
                    if c == '`' {
                        break;
                    }
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// A memo key: the values at the paths a bundle reads, in the order of its paths.
#[derive(Debug, Clone)]
pub struct Key(Vec<regorus::Value>);

impl From<Vec<regorus::Value>> for Key {
    fn from(values: Vec<regorus::Value>) -> Key {
        Key(values)
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> Ordering {
        cmp_slices(&self.0, &other.0)
    }
}

/// `regorus::Value`'s own order, but a value shared by both sides (one allocation) is
/// equal without walking it.
fn cmp_values(a: &regorus::Value, b: &regorus::Value) -> Ordering {
    use regorus::Value as V;
    match (a, b) {
        (V::Array(x), V::Array(y)) if regorus::Rc::ptr_eq(x, y) => Ordering::Equal,
        (V::Set(x), V::Set(y)) if regorus::Rc::ptr_eq(x, y) => Ordering::Equal,
        (V::Object(x), V::Object(y)) if regorus::Rc::ptr_eq(x, y) => Ordering::Equal,
        (V::String(x), V::String(y)) if regorus::Rc::ptr_eq(x, y) => Ordering::Equal,
        (V::Array(x), V::Array(y)) => cmp_iters(x.iter(), y.iter(), cmp_values),
        (V::Set(x), V::Set(y)) => cmp_iters(x.iter_sorted(), y.iter_sorted(), cmp_values),
        (V::Object(x), V::Object(y)) => {
            cmp_iters(x.iter_sorted(), y.iter_sorted(), |(ka, va), (kb, vb)| {
                cmp_values(ka, kb).then_with(|| cmp_values(va, vb))
            })
        }
        _ => a.cmp(b),
    }
}

fn cmp_slices(a: &[regorus::Value], b: &[regorus::Value]) -> Ordering {
    cmp_iters(a.iter(), b.iter(), cmp_values)
}

/// Lexicographic order of two sequences by `cmp` (as `Iterator::cmp_by`).
fn cmp_iters<T>(
    mut a: impl Iterator<Item = T>,
    mut b: impl Iterator<Item = T>,
    cmp: impl Fn(T, T) -> Ordering,
) -> Ordering {
    loop {
        match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => match cmp(x, y) {
                Ordering::Equal => {}
                other => return other,
            },
        }
    }
}

/// A bundle's remembered answers.
#[derive(Debug)]
pub struct Memo {
    reads: InputReads,
    answers: Mutex<BTreeMap<Key, Outcome>>,
}

impl Memo {
    /// A memo for a bundle that reads `reads` of its input.
    pub fn new(reads: InputReads) -> Memo {
        Memo {
            reads,
            answers: Mutex::new(BTreeMap::new()),
        }
    }

    /// What the bundle reads, as the memo understood it.
    pub fn reads(&self) -> &InputReads {
        &self.reads
    }

    /// The memo key of `input`: the values at the paths the bundle reads.
    pub fn key(&self, input: &regorus::Value) -> Key {
        Key(match &self.reads {
            InputReads::Whole => vec![input.clone()],
            InputReads::Paths(paths) => paths
                .iter()
                .map(|path| {
                    path.iter()
                        .fold(input, |v, field| &v[field.as_str()])
                        .clone()
                })
                .collect(),
        })
    }

    /// The answer remembered for `key`.
    pub fn get(&self, key: &Key) -> Option<Outcome> {
        self.answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// Remembers `outcome` for `key`.
    pub fn put(&self, key: Key, outcome: &Outcome) {
        let mut answers = self
            .answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if answers.len() >= MEMO_ENTRIES {
            answers.clear();
        }
        answers.insert(key, outcome.clone());
    }

    /// How many answers are remembered.
    pub fn len(&self) -> usize {
        self.answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(list: &[&[&str]]) -> InputReads {
        InputReads::Paths(
            list.iter()
                .map(|p| p.iter().map(|s| (*s).to_owned()).collect())
                .collect(),
        )
    }

    #[test]
    fn static_references_are_read_to_two_levels() {
        let src = "package p\n\nopts := input.evaluation.options\n\ndeny contains x if {\n\tsome a in input.attestations\n\tx := input.image.digest\n\tinput.evaluation.options.strict\n}\n";
        assert_eq!(
            input_reads([src]),
            paths(&[
                &["attestations"],
                &["evaluation", "options"],
                &["image", "digest"]
            ])
        );
    }

    #[test]
    fn a_shorter_path_covers_longer_ones() {
        assert_eq!(
            input_reads(["x := input.image\ny := input.image.digest\n"]),
            paths(&[&["image"]])
        );
    }

    #[test]
    fn any_other_use_of_input_reads_everything() {
        for src in [
            "x := input\n",
            "x := input[\"image\"]\n",
            "x := object.get(input, [\"a\"], 1)\n",
            "some k, v in input\n",
            "import input\n",
            "x := input.\n",
            "x := $\"{input.request.user}\"\ny := input.image\n",
        ] {
            assert_eq!(input_reads([src]), InputReads::Whole, "{src}");
        }
    }

    #[test]
    fn comments_strings_and_other_names_are_not_references() {
        let src = "# uses input directly\nmsg := \"input is \\\" input\"\nraw := `input`\nmy_input := data.x.input\ninputs := 1\nx := input.request.user\n";
        assert_eq!(input_reads([src]), paths(&[&["request", "user"]]));
    }

    #[test]
    fn world_dependent_builtins_are_found() {
        assert_eq!(world_dependent("t := time.now_ns()"), Some("time.now_ns"));
        assert_eq!(world_dependent("r := http.send({})"), Some("http.send"));
        assert_eq!(world_dependent("t := time.parse_rfc3339_ns(x)"), None);
    }

    #[test]
    fn keys_differ_only_where_the_policy_reads() {
        let memo = Memo::new(paths(&[&["evaluation", "options"], &["image", "digest"]]));
        let a = regorus::Value::from_json_str(
            r#"{"evaluation": {"timeNs": 1, "options": {"x": 1}}, "image": {"digest": "d", "tag": "1"}, "request": {"user": "a"}}"#,
        )
        .unwrap();
        let b = regorus::Value::from_json_str(
            r#"{"evaluation": {"timeNs": 2, "options": {"x": 1}}, "image": {"digest": "d", "tag": "2"}, "request": {"user": "b"}}"#,
        )
        .unwrap();
        let c = regorus::Value::from_json_str(
            r#"{"evaluation": {"timeNs": 1, "options": {"x": 2}}, "image": {"digest": "d"}}"#,
        )
        .unwrap();
        assert_eq!(memo.key(&a), memo.key(&b));
        assert_ne!(memo.key(&a), memo.key(&c));
        let outcome = Outcome {
            deny: vec!["no".into()],
            warn: Vec::new(),
        };
        assert!(memo.get(&memo.key(&a)).is_none());
        memo.put(memo.key(&a), &outcome);
        assert_eq!(memo.get(&memo.key(&b)), Some(outcome));
        assert!(memo.get(&memo.key(&c)).is_none());
        assert_eq!(memo.len(), 1);
    }

    #[test]
    fn keys_order_as_values_do_and_shared_parts_are_equal() {
        let docs = [
            r#"{"a": [1, 2, {"b": "x"}], "s": 1}"#,
            r#"{"a": [1, 2, {"b": "y"}], "s": 1}"#,
            r#"{"a": [1, 2], "s": 1}"#,
            r#"{"a": [1, 2, {"b": "x"}], "s": "1"}"#,
            r#"{"a": null}"#,
            r#"{"z": {"k": [true, false]}}"#,
            r#"[3, 1]"#,
        ];
        let mut values: Vec<regorus::Value> = docs
            .iter()
            .map(|d| regorus::Value::from_json_str(d).unwrap())
            .collect();
        values.push(regorus::Value::from(std::collections::BTreeSet::from([
            regorus::Value::from(1u64),
            regorus::Value::from("x"),
        ])));
        for a in &values {
            for b in &values {
                let (ka, kb) = (Key(vec![a.clone()]), Key(vec![b.clone()]));
                assert_eq!(ka.cmp(&kb), a.cmp(b), "{a} vs {b}");
                // Equal but separately built values compare equal too.
                let copy = regorus::Value::from_json_str(&a.to_json_str().unwrap()).unwrap();
                if !matches!(a, regorus::Value::Set(_)) {
                    assert_eq!(Key(vec![copy]).cmp(&ka), Ordering::Equal, "{a}");
                }
            }
        }
        // A shared predicate (one allocation, as from the verification cache) matches
        // without being walked, and a different one does not.
        let predicate = regorus::Value::from_json_str(r#"{"builder": {"id": "b"}}"#).unwrap();
        let att = |p: &regorus::Value| {
            let mut v = regorus::Value::new_object();
            v.as_object_mut()
                .unwrap()
                .insert(regorus::Value::from("predicate"), p.clone());
            Key(vec![regorus::Value::from(vec![v])])
        };
        assert_eq!(att(&predicate), att(&predicate));
        let other = regorus::Value::from_json_str(r#"{"builder": {"id": "c"}}"#).unwrap();
        assert_ne!(att(&predicate), att(&other));
    }

    #[test]
    fn the_memo_is_bounded() {
        let memo = Memo::new(InputReads::Whole);
        for i in 0..(MEMO_ENTRIES + 5) {
            memo.put(
                Key::from(vec![regorus::Value::from(i as u64)]),
                &Outcome::default(),
            );
        }
        assert!(memo.len() <= MEMO_ENTRIES);
    }
}
