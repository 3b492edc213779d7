//! Executes parsed templates (see `gotmpl.rs`) over JSON values.

use super::gotmpl::{Error, Node, Pipeline, Term, print, truthy};
use super::helm::Functions;
use serde_json::Value;
use std::collections::BTreeMap;

type Vars = Vec<(String, Value)>;

/// Everything a template execution can reach besides its data.
pub struct Exec<'a> {
    pub defines: &'a BTreeMap<String, Vec<Node>>,
    pub funcs: &'a Functions<'a>,
}

impl Exec<'_> {
    /// Renders `nodes` with `dot` as both `.` and `$`.
    pub fn render(&self, nodes: &[Node], dot: &Value) -> Result<String, Error> {
        let mut out = String::new();
        let mut vars = vec![("$".to_string(), dot.clone())];
        self.run(nodes, dot, &mut vars, &mut out)?;
        Ok(out)
    }

    /// Renders a `define`d template (Helm's `include`).
    pub fn include(&self, name: &str, dot: &Value) -> Result<String, Error> {
        let nodes = self
            .defines
            .get(name)
            .ok_or_else(|| format!("no template {name:?}"))?;
        self.render(nodes, dot)
    }

    fn run(
        &self,
        nodes: &[Node],
        dot: &Value,
        vars: &mut Vars,
        out: &mut String,
    ) -> Result<(), Error> {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipeline(p, dot, vars)?;
                    if p.vars.is_empty() {
                        out.push_str(&print(&v)?);
                    }
                }
                Node::If(branches, otherwise) => {
                    let mut done = false;
                    for (cond, body) in branches {
                        if truthy(&self.pipeline(cond, dot, vars)?) {
                            self.scoped(body, dot, vars, out)?;
                            done = true;
                            break;
                        }
                    }
                    if !done {
                        self.scoped(otherwise, dot, vars, out)?;
                    }
                }
                Node::With(p, body, otherwise) => {
                    let v = self.eval_commands(p, dot, vars)?;
                    if truthy(&v) {
                        self.scoped(body, &v, vars, out)?;
                    } else {
                        self.scoped(otherwise, dot, vars, out)?;
                    }
                }
                Node::Range(p, body, otherwise) => {
                    let v = self.eval_commands(p, dot, vars)?;
                    let items: Vec<(Value, Value)> = match &v {
                        Value::Array(a) => a
                            .iter()
                            .enumerate()
                            .map(|(i, x)| (Value::from(i), x.clone()))
                            .collect(),
                        // Go ranges over maps in key order.
                        Value::Object(o) => {
                            let sorted: BTreeMap<_, _> = o.iter().collect();
                            sorted
                                .into_iter()
                                .map(|(k, x)| (Value::String(k.clone()), x.clone()))
                                .collect()
                        }
                        Value::Null => Vec::new(),
                        other => return Err(format!("cannot range over {other}")),
                    };
                    if items.is_empty() {
                        self.scoped(otherwise, dot, vars, out)?;
                    }
                    for (key, item) in items {
                        let mark = vars.len();
                        match p.vars.as_slice() {
                            [] => {}
                            [v] => vars.push((v.clone(), item.clone())),
                            [k, v] => {
                                vars.push((k.clone(), key));
                                vars.push((v.clone(), item.clone()));
                            }
                            _ => return Err("too many range variables".into()),
                        }
                        let r = self.run(body, &item, vars, out);
                        vars.truncate(mark);
                        r?;
                    }
                }
            }
        }
        Ok(())
    }

    fn scoped(
        &self,
        nodes: &[Node],
        dot: &Value,
        vars: &mut Vars,
        out: &mut String,
    ) -> Result<(), Error> {
        let mark = vars.len();
        let r = self.run(nodes, dot, vars, out);
        vars.truncate(mark);
        r
    }

    /// Evaluates a pipeline and performs its declaration or assignment.
    fn pipeline(&self, p: &Pipeline, dot: &Value, vars: &mut Vars) -> Result<Value, Error> {
        let v = self.eval_commands(p, dot, vars)?;
        match (p.vars.as_slice(), p.declare) {
            ([], _) => {}
            ([name], true) => vars.push((name.clone(), v.clone())),
            ([name], false) => {
                let slot = vars
                    .iter_mut()
                    .rev()
                    .find(|(n, _)| n == name)
                    .ok_or_else(|| format!("assignment to undeclared {name}"))?;
                slot.1 = v.clone();
            }
            _ => return Err("multiple variables outside range".into()),
        }
        Ok(v)
    }

    fn eval_commands(&self, p: &Pipeline, dot: &Value, vars: &mut Vars) -> Result<Value, Error> {
        let mut prev: Option<Value> = None;
        for cmd in &p.commands {
            prev = Some(self.command(cmd, dot, vars, prev)?);
        }
        prev.ok_or_else(|| "empty pipeline".to_string())
    }

    fn command(
        &self,
        cmd: &[Term],
        dot: &Value,
        vars: &mut Vars,
        prev: Option<Value>,
    ) -> Result<Value, Error> {
        let (first, rest) = cmd.split_first().ok_or("empty command")?;
        let mut args = Vec::new();
        for t in rest {
            args.push(self.term(t, dot, vars)?);
        }
        if let Some(p) = prev.clone() {
            args.push(p);
        }
        match first {
            Term::Func(name) => self.funcs.call(self, name, args),
            // `.Files.Get "x"`, `$.Files.Glob "x/*"`: Helm's Files methods.
            Term::Dot(fields) | Term::Var(_, fields)
                if fields.len() >= 2 && fields[fields.len() - 2] == "Files" =>
            {
                self.funcs.files_method(&fields[fields.len() - 1], args)
            }
            _ if rest.is_empty() && prev.is_none() => self.term(first, dot, vars),
            other => Err(format!("{other:?} is not a function")),
        }
    }

    fn term(&self, t: &Term, dot: &Value, vars: &mut Vars) -> Result<Value, Error> {
        match t {
            Term::Dot(fields) => fields_of(dot, fields),
            Term::Var(name, fields) => {
                let v = vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| format!("undefined variable {name}"))?;
                fields_of(&v, fields)
            }
            Term::Str(s) => Ok(Value::String(s.clone())),
            Term::Num(n) => Ok(serde_json::Number::from_f64(*n)
                .map(|n| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0)
                        .map_or(Value::Number(n.clone()), |f| Value::from(f as i64))
                })
                .unwrap_or(Value::Null)),
            Term::Bool(b) => Ok(Value::Bool(*b)),
            Term::Nil => Ok(Value::Null),
            // A bare function name as an argument is a call without arguments.
            Term::Func(name) => self.funcs.call(self, name, Vec::new()),
            Term::Sub(p, fields) => {
                let v = self.eval_commands(p, dot, vars)?;
                fields_of(&v, fields)
            }
        }
    }
}

/// `.a.b.c`: a missing key is nil; a field of nil is an error, as in Go.
fn fields_of(v: &Value, fields: &[String]) -> Result<Value, Error> {
    let mut cur = v.clone();
    for f in fields {
        cur = match &cur {
            Value::Object(o) => o.get(f).cloned().unwrap_or(Value::Null),
            other => return Err(format!("cannot take field {f} of {other}")),
        };
    }
    Ok(cur)
}
