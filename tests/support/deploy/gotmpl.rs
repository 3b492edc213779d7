//! A test-only interpreter for the subset of Go `text/template` that custody's chart uses:
//! text with `{{ }}` actions and `{{-`/`-}}` trimming, comments, `if`/`else if`/`else`,
//! `range` (with `$k, $v :=`), `with`, `define`, variables (`:=` and `=`), pipelines,
//! parenthesised sub-pipelines and field chains. Helm's functions live in `helm.rs`.
//!
//! Anything outside the subset is an error, never a silent guess, so a template that uses
//! a new construct fails the tests until the interpreter learns it.

use serde_json::Value;
use std::collections::BTreeMap;

/// A parse or evaluation error with the template name.
pub type Error = String;

#[derive(Debug, Clone)]
pub enum Node {
    Text(String),
    /// An action that prints its pipeline, unless the pipeline declares or assigns.
    Action(Pipeline),
    If(Vec<(Pipeline, Vec<Node>)>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Variables declared (`:=`) or assigned (`=`) with the pipeline's value.
    pub vars: Vec<String>,
    pub declare: bool,
    pub commands: Vec<Vec<Term>>,
}

#[derive(Debug, Clone)]
pub enum Term {
    /// `.` followed by fields (`.Values.x`); empty fields is the dot itself.
    Dot(Vec<String>),
    /// `$name` followed by fields.
    Var(String, Vec<String>),
    Str(String),
    Num(f64),
    Bool(bool),
    Nil,
    Func(String),
    Sub(Box<Pipeline>, Vec<String>),
}

/// Splits template source into nodes; `define` blocks go into `defines`.
pub fn parse(src: &str, defines: &mut BTreeMap<String, Vec<Node>>) -> Result<Vec<Node>, Error> {
    let tokens = lex(src)?;
    let mut pos = 0;
    let (nodes, end) = parse_list(&tokens, &mut pos, defines)?;
    match end {
        None => Ok(nodes),
        Some(word) => Err(format!("unexpected {{{{{word}}}}}")),
    }
}

#[derive(Debug)]
enum Tok {
    Text(String),
    Action(String),
}

fn lex(src: &str) -> Result<Vec<Tok>, Error> {
    let mut out = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        if trim_next {
            text = text.trim_start();
        }
        let after = &rest[start + 2..];
        let (trim_left, body_start) = if after.starts_with("- ") || after.starts_with("-\n") {
            (true, &after[2..])
        } else {
            (false, after)
        };
        if trim_left {
            text = text.trim_end();
        }
        out.push(Tok::Text(text.to_string()));
        let body_start = body_start.trim_start();
        let (body, tail) = if let Some(comment) = body_start.strip_prefix("/*") {
            let close = comment.find("*/").ok_or("unclosed comment")?;
            (None, &comment[close + 2..])
        } else {
            let close = find_close(body_start)?;
            (Some(&body_start[..close]), &body_start[close..])
        };
        let tail = tail.trim_start();
        let (trim_right, tail) = match tail.strip_prefix("-}}") {
            Some(t) => (true, t),
            None => (
                false,
                tail.strip_prefix("}}").ok_or("action not closed by }}")?,
            ),
        };
        if let Some(body) = body {
            out.push(Tok::Action(body.trim().to_string()));
        }
        trim_next = trim_right;
        rest = tail;
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    out.push(Tok::Text(text.to_string()));
    Ok(out)
}

/// Index of the ` -}}` or `}}` that ends the action, skipping string literals.
fn find_close(s: &str) -> Result<usize, Error> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if s[i..].starts_with("}}") => {
                let body = &s[..i];
                return Ok(if body.ends_with(" -") || body.ends_with("\n-") {
                    i - 1
                } else {
                    i
                });
            }
            _ => {}
        }
        i += 1;
    }
    Err(format!("unclosed action: {}", &s[..s.len().min(40)]))
}

type ParsedList = (Vec<Node>, Option<String>);

/// Parses nodes until `end`/`else...` (returned as the terminating word) or the end of input.
fn parse_list(
    toks: &[Tok],
    pos: &mut usize,
    defines: &mut BTreeMap<String, Vec<Node>>,
) -> Result<ParsedList, Error> {
    let mut nodes = Vec::new();
    while *pos < toks.len() {
        let tok = &toks[*pos];
        *pos += 1;
        let action = match tok {
            Tok::Text(t) => {
                if !t.is_empty() {
                    nodes.push(Node::Text(t.clone()));
                }
                continue;
            }
            Tok::Action(a) => a.as_str(),
        };
        let (word, rest) = split_word(action);
        match word {
            "end" => return Ok((nodes, Some("end".into()))),
            "else" => return Ok((nodes, Some(action.to_string()))),
            "if" => {
                let mut branches = vec![(parse_pipeline(rest)?, Vec::new())];
                let mut otherwise = Vec::new();
                loop {
                    let (body, end) = parse_list(toks, pos, defines)?;
                    let end = end.ok_or("if without end")?;
                    let last = branches.len() - 1;
                    if end == "end" {
                        branches[last].1 = body;
                        break;
                    }
                    branches[last].1 = body;
                    let after_else = split_word(&end).1;
                    let (w2, cond) = split_word(after_else);
                    if w2 == "if" {
                        branches.push((parse_pipeline(cond)?, Vec::new()));
                    } else if after_else.is_empty() {
                        let (body, end) = parse_list(toks, pos, defines)?;
                        if end.as_deref() != Some("end") {
                            return Err("else without end".into());
                        }
                        otherwise = body;
                        break;
                    } else {
                        return Err(format!("unsupported {{{{{end}}}}}"));
                    }
                }
                nodes.push(Node::If(branches, otherwise));
            }
            "range" | "with" => {
                let pipe = parse_pipeline(rest)?;
                let (body, end) = parse_list(toks, pos, defines)?;
                let otherwise = match end.as_deref() {
                    Some("end") => Vec::new(),
                    Some("else") => {
                        let (b, e) = parse_list(toks, pos, defines)?;
                        if e.as_deref() != Some("end") {
                            return Err(format!("{word} else without end"));
                        }
                        b
                    }
                    other => return Err(format!("{word} ended by {other:?}")),
                };
                nodes.push(if word == "range" {
                    Node::Range(pipe, body, otherwise)
                } else {
                    Node::With(pipe, body, otherwise)
                });
            }
            "define" => {
                let name = parse_string(rest.trim())?;
                let (body, end) = parse_list(toks, pos, defines)?;
                if end.as_deref() != Some("end") {
                    return Err(format!("define {name} without end"));
                }
                defines.insert(name, body);
            }
            "template" | "block" | "break" | "continue" => {
                return Err(format!("unsupported action {word}"));
            }
            _ => nodes.push(Node::Action(parse_pipeline(action)?)),
        }
    }
    Ok((nodes, None))
}

fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim();
    match s.find(|c: char| c.is_whitespace()) {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, ""),
    }
}

fn parse_string(s: &str) -> Result<String, Error> {
    let toks = tokenize(s)?;
    match toks.as_slice() {
        [Lexeme::Str(v)] => Ok(v.clone()),
        _ => Err(format!("expected a string literal, got {s}")),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Lexeme {
    Word(String),
    Str(String),
    Open,
    Close,
    Pipe,
    Declare,
    Assign,
    Comma,
    /// A field chain glued to a closing parenthesis: `(x).Field`.
    Fields(String),
}

fn tokenize(s: &str) -> Result<Vec<Lexeme>, Error> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Lexeme::Open);
                i += 1;
            }
            ')' => {
                out.push(Lexeme::Close);
                i += 1;
                if chars.get(i) == Some(&'.') {
                    let start = i;
                    while i < chars.len() && !"()|,= \t\n\r\"".contains(chars[i]) {
                        i += 1;
                    }
                    out.push(Lexeme::Fields(chars[start..i].iter().collect()));
                }
            }
            '|' => {
                out.push(Lexeme::Pipe);
                i += 1;
            }
            ',' => {
                out.push(Lexeme::Comma);
                i += 1;
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                out.push(Lexeme::Declare);
                i += 2;
            }
            '=' => {
                out.push(Lexeme::Assign);
                i += 1;
            }
            '"' => {
                let mut v = String::new();
                i += 1;
                loop {
                    let c = *chars.get(i).ok_or("unterminated string")?;
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let e = *chars.get(i).ok_or("bad escape")?;
                            i += 1;
                            v.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                '\\' => '\\',
                                '"' => '"',
                                _ => return Err(format!("unsupported escape \\{e}")),
                            });
                        }
                        c => v.push(c),
                    }
                }
                out.push(Lexeme::Str(v));
            }
            '`' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&c| c == '`')
                    .ok_or("unterminated raw string")?;
                out.push(Lexeme::Str(chars[i + 1..i + 1 + end].iter().collect()));
                i += end + 2;
            }
            _ => {
                let start = i;
                while i < chars.len() && !"()|,= \t\n\r\"".contains(chars[i]) {
                    if chars[i] == ':' && chars.get(i + 1) == Some(&'=') {
                        break;
                    }
                    i += 1;
                }
                out.push(Lexeme::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

fn parse_pipeline(s: &str) -> Result<Pipeline, Error> {
    let lex = tokenize(s)?;
    let mut pos = 0;
    let pipe = pipeline_from(&lex, &mut pos)?;
    if pos != lex.len() {
        return Err(format!("trailing tokens in {s}"));
    }
    Ok(pipe)
}

fn pipeline_from(lex: &[Lexeme], pos: &mut usize) -> Result<Pipeline, Error> {
    let mut vars = Vec::new();
    let mut declare = false;
    // A declaration: `$a :=`, `$a, $b :=` or an assignment `$a =`.
    let mut look = *pos;
    let mut names = Vec::new();
    while let Some(Lexeme::Word(w)) = lex.get(look) {
        if !w.starts_with('$') || w.contains('.') {
            break;
        }
        names.push(w.clone());
        look += 1;
        if lex.get(look) == Some(&Lexeme::Comma) {
            look += 1;
        } else {
            break;
        }
    }
    if !names.is_empty() {
        match lex.get(look) {
            Some(Lexeme::Declare) => {
                declare = true;
                vars = names;
                *pos = look + 1;
            }
            Some(Lexeme::Assign) => {
                vars = names;
                *pos = look + 1;
            }
            _ => {}
        }
    }
    let mut commands = vec![Vec::new()];
    while let Some(l) = lex.get(*pos) {
        match l {
            Lexeme::Close => break,
            Lexeme::Pipe => {
                commands.push(Vec::new());
                *pos += 1;
            }
            Lexeme::Open => {
                *pos += 1;
                let sub = pipeline_from(lex, pos)?;
                if lex.get(*pos) != Some(&Lexeme::Close) {
                    return Err("unbalanced parenthesis".into());
                }
                *pos += 1;
                let mut fields = Vec::new();
                if let Some(Lexeme::Fields(w)) = lex.get(*pos) {
                    fields = w
                        .split('.')
                        .filter(|f| !f.is_empty())
                        .map(str::to_string)
                        .collect();
                    *pos += 1;
                }
                push_term(&mut commands, Term::Sub(Box::new(sub), fields));
            }
            Lexeme::Str(v) => {
                push_term(&mut commands, Term::Str(v.clone()));
                *pos += 1;
            }
            Lexeme::Word(w) => {
                push_term(&mut commands, word_term(w)?);
                *pos += 1;
            }
            other => return Err(format!("unexpected {other:?}")),
        }
    }
    if commands.iter().any(Vec::is_empty) {
        return Err("empty command in pipeline".into());
    }
    Ok(Pipeline {
        vars,
        declare,
        commands,
    })
}

fn push_term(commands: &mut [Vec<Term>], term: Term) {
    if let Some(last) = commands.last_mut() {
        last.push(term);
    }
}

fn word_term(w: &str) -> Result<Term, Error> {
    let fields = |s: &str| -> Vec<String> {
        s.split('.')
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect()
    };
    Ok(match w {
        "true" => Term::Bool(true),
        "false" => Term::Bool(false),
        "nil" => Term::Nil,
        _ if w.starts_with('.') => Term::Dot(fields(w)),
        _ if w.starts_with('$') => {
            let (name, rest) = w.split_at(w.find('.').unwrap_or(w.len()));
            Term::Var(name.to_string(), fields(rest))
        }
        _ if w.starts_with(|c: char| c.is_ascii_digit() || c == '-') => {
            Term::Num(w.parse().map_err(|_| format!("bad number {w}"))?)
        }
        _ if w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => Term::Func(w.into()),
        _ => return Err(format!("unsupported term {w}")),
    })
}

/// Go's notion of a true value: not false, 0, nil, or empty.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// How `{{ value }}` prints a value.
pub fn print(v: &Value) -> Result<String, Error> {
    Ok(match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        other => return Err(format!("refusing to print a collection: {other}")),
    })
}
