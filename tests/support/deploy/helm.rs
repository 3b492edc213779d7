//! Helm's side of the test renderer: the template functions the chart uses (a subset of
//! Helm's and sprig's) and Helm's `.Files` methods.
//!
//! `genCA`/`genSignedCert` return recognisable placeholder PEM text that records the
//! subject, names and issuer, so tests can check which certificate went where; `lookup`
//! answers from objects the test supplies (empty: a fresh install).

use super::exec::Exec;
use super::gotmpl::{Error, print, truthy};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use std::cell::Cell;
use std::collections::BTreeMap;

/// Template functions plus the state they need.
pub struct Functions<'a> {
    pub files: &'a BTreeMap<String, String>,
    pub existing: &'a BTreeMap<String, Value>,
    pub generated: Cell<u32>,
}

fn int(v: &Value) -> Result<i64, Error> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| format!("not an integer: {n}")),
        Value::String(s) => s.parse().map_err(|_| format!("not an integer: {s}")),
        other => Err(format!("not an integer: {other}")),
    }
}

fn string(v: &Value) -> Result<String, Error> {
    print(v)
}

/// Go's `%q` for the strings the chart quotes (valid YAML double-quoted scalars).
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn printf(format: &str, args: &[Value]) -> Result<String, Error> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let verb = chars.next().ok_or("dangling %")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let arg = args.next().ok_or("printf: too few arguments")?;
        match verb {
            's' | 'v' | 'd' => out.push_str(&string(arg)?),
            'q' => out.push_str(&go_quote(&string(arg)?)),
            _ => return Err(format!("printf: unsupported verb %{verb}")),
        }
    }
    if args.next().is_some() {
        return Err("printf: too many arguments".into());
    }
    Ok(out)
}

/// Helm's `toYaml`: keys sorted, no trailing newline.
fn to_yaml(v: &Value) -> Result<String, Error> {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(o) => {
                let mut keys: Vec<_> = o.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&o[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let text = yaml_serde::to_string(&sorted(v)).map_err(|e| e.to_string())?;
    Ok(text.trim_end_matches('\n').to_string())
}

fn indent(n: i64, s: &str) -> String {
    let pad = " ".repeat(n.max(0) as usize);
    s.split('\n')
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn fake_pem(kind: &str, body: &str) -> String {
    format!("-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n")
}

impl Functions<'_> {
    fn next_serial(&self) -> u32 {
        let n = self.generated.get() + 1;
        self.generated.set(n);
        n
    }

    /// `.Files.Get path` and `.Files.Glob pattern` (only `dir/*` patterns).
    pub fn files_method(&self, method: &str, args: Vec<Value>) -> Result<Value, Error> {
        let [arg] = args.as_slice() else {
            return Err(format!("Files.{method} takes one argument"));
        };
        let arg = string(arg)?;
        match method {
            "Get" => Ok(Value::String(
                self.files.get(&arg).cloned().unwrap_or_default(),
            )),
            "Glob" => {
                let dir = arg
                    .strip_suffix("/*")
                    .ok_or_else(|| format!("unsupported glob {arg}"))?;
                let prefix = format!("{dir}/");
                Ok(Value::Object(
                    self.files
                        .iter()
                        .filter(|(p, _)| p.strip_prefix(&prefix).is_some_and(|r| !r.contains('/')))
                        .map(|(p, c)| (p.clone(), Value::String(c.clone())))
                        .collect(),
                ))
            }
            other => Err(format!("unsupported Files.{other}")),
        }
    }

    /// Calls a template function; the piped value, if any, is the last argument.
    pub fn call(&self, exec: &Exec<'_>, name: &str, a: Vec<Value>) -> Result<Value, Error> {
        let arity = |n: usize| -> Result<(), Error> {
            if a.len() == n {
                Ok(())
            } else {
                Err(format!("{name}: expected {n} arguments, got {}", a.len()))
            }
        };
        let s = |i: usize| string(&a[i]);
        Ok(match name {
            "include" => {
                arity(2)?;
                Value::String(exec.include(&s(0)?, &a[1])?)
            }
            "toYaml" => {
                arity(1)?;
                Value::String(to_yaml(&a[0])?)
            }
            "nindent" | "indent" => {
                arity(2)?;
                let body = indent(int(&a[0])?, &s(1)?);
                Value::String(if name == "nindent" {
                    format!("\n{body}")
                } else {
                    body
                })
            }
            "quote" => Value::String(
                a.iter()
                    .map(|v| string(v).map(|t| go_quote(&t)))
                    .collect::<Result<Vec<_>, _>>()?
                    .join(" "),
            ),
            "default" => {
                arity(2)?;
                if truthy(&a[1]) {
                    a[1].clone()
                } else {
                    a[0].clone()
                }
            }
            "printf" => {
                let (f, rest) = a.split_first().ok_or("printf: no format")?;
                Value::String(printf(&string(f)?, rest)?)
            }
            "trunc" => {
                arity(2)?;
                Value::String(s(1)?.chars().take(int(&a[0])?.max(0) as usize).collect())
            }
            "trimSuffix" => {
                arity(2)?;
                let (suf, t) = (s(0)?, s(1)?);
                Value::String(t.strip_suffix(suf.as_str()).unwrap_or(&t).to_string())
            }
            "contains" => {
                arity(2)?;
                Value::Bool(s(1)?.contains(&s(0)?))
            }
            "hasSuffix" => {
                arity(2)?;
                Value::Bool(s(1)?.ends_with(&s(0)?))
            }
            "base" => {
                arity(1)?;
                Value::String(s(0)?.rsplit('/').next().unwrap_or_default().to_string())
            }
            "not" => {
                arity(1)?;
                Value::Bool(!truthy(&a[0]))
            }
            "and" => a
                .iter()
                .find(|v| !truthy(v))
                .or(a.last())
                .cloned()
                .ok_or("and: no arguments")?,
            "or" => a
                .iter()
                .find(|v| truthy(v))
                .or(a.last())
                .cloned()
                .ok_or("or: no arguments")?,
            "eq" | "ne" => {
                arity(2)?;
                Value::Bool((a[0] == a[1]) == (name == "eq"))
            }
            "list" => Value::Array(a),
            "join" => {
                arity(2)?;
                let items = a[1].as_array().ok_or("join: not a list")?;
                Value::String(
                    items
                        .iter()
                        .map(string)
                        .collect::<Result<Vec<_>, _>>()?
                        .join(&s(0)?),
                )
            }
            "append" => {
                arity(2)?;
                let mut l = match &a[0] {
                    Value::Array(l) => l.clone(),
                    Value::Null => Vec::new(),
                    other => return Err(format!("append to {other}")),
                };
                l.push(a[1].clone());
                Value::Array(l)
            }
            "has" => {
                arity(2)?;
                Value::Bool(a[1].as_array().is_some_and(|l| l.contains(&a[0])))
            }
            "hasKey" => {
                arity(2)?;
                let m = a[0].as_object().ok_or("hasKey: not a map")?;
                Value::Bool(m.contains_key(&s(1)?))
            }
            "index" => {
                let (coll, keys) = a.split_first().ok_or("index: no arguments")?;
                let mut cur = coll.clone();
                for k in keys {
                    cur = match (&cur, k) {
                        (Value::Object(o), k) => o.get(&string(k)?).cloned().unwrap_or(Value::Null),
                        (Value::Array(l), k) => l
                            .get(int(k)? as usize)
                            .cloned()
                            .ok_or("index out of range")?,
                        (other, _) => return Err(format!("index of {other}")),
                    };
                }
                cur
            }
            "dict" => {
                let mut m = Map::new();
                for pair in a.chunks(2) {
                    let [k, v] = pair else {
                        return Err("dict: odd arguments".into());
                    };
                    m.insert(string(k)?, v.clone());
                }
                Value::Object(m)
            }
            "b64enc" => {
                arity(1)?;
                Value::String(base64::engine::general_purpose::STANDARD.encode(s(0)?))
            }
            "add" => Value::from(a.iter().map(int).sum::<Result<i64, _>>()?),
            "mul" => Value::from(a.iter().map(int).product::<Result<i64, _>>()?),
            "ge" | "lt" => {
                arity(2)?;
                let (x, y) = (int(&a[0])?, int(&a[1])?);
                Value::Bool(if name == "ge" { x >= y } else { x < y })
            }
            "fromYaml" => {
                arity(1)?;
                yaml_serde::from_str(&s(0)?).map_err(|e| format!("fromYaml: {e}"))?
            }
            "mergeOverwrite" => {
                let (first, rest) = a.split_first().ok_or("mergeOverwrite: no arguments")?;
                let mut merged = first.clone();
                for m in rest {
                    super::chart::merge(&mut merged, m);
                }
                merged
            }
            "int" => {
                arity(1)?;
                Value::from(int(&a[0])?)
            }
            "fail" => return Err(format!("fail: {}", s(0)?)),
            "genCA" => {
                arity(2)?;
                let n = self.next_serial();
                let body = format!("FAKE CA #{n} cn={} days={}", s(0)?, int(&a[1])?);
                json!({"Cert": fake_pem("CERTIFICATE", &body), "Key": fake_pem("PRIVATE KEY", &body)})
            }
            "genSignedCert" => {
                arity(5)?;
                let n = self.next_serial();
                let names: Vec<String> = a[2]
                    .as_array()
                    .ok_or("genSignedCert: alt names must be a list")?
                    .iter()
                    .map(string)
                    .collect::<Result<_, _>>()?;
                let issuer = a[4]["Cert"].as_str().ok_or("genSignedCert: no CA")?;
                let issuer = issuer.lines().nth(1).unwrap_or_default();
                let body = format!(
                    "FAKE CERT #{n} cn={} sans={} days={} issuer=[{issuer}]",
                    s(0)?,
                    names.join(","),
                    int(&a[3])?
                );
                json!({"Cert": fake_pem("CERTIFICATE", &body), "Key": fake_pem("PRIVATE KEY", &body)})
            }
            "lookup" => {
                arity(4)?;
                let key = format!("{}/{}/{}/{}", s(0)?, s(1)?, s(2)?, s(3)?);
                self.existing
                    .get(&key)
                    .cloned()
                    .unwrap_or_else(|| json!({}))
            }
            other => return Err(format!("unsupported function {other}")),
        })
    }
}
