//! The report as Markdown: summary lines, the images × controls matrix, then each
//! image's evidence and reasons.

use super::{EvidenceReport, ImageEntry, short_digest, symbol};
use crate::policy::controls::ControlOutcome;
use std::fmt::Write as _;

/// Escapes text for a Markdown table cell or line.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' | '\\' | '`' | '*' | '_' | '<' | '>' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

fn image_cell(i: &ImageEntry) -> String {
    let digest = i
        .digest
        .as_deref()
        .map(short_digest)
        .unwrap_or("unresolved");
    format!(
        "{} ({}, ns {})",
        esc(&i.image),
        esc(digest),
        esc(&i.namespace)
    )
}

fn cell(c: Option<&ControlOutcome>) -> String {
    match c {
        Some(c) => format!("{} {}", symbol(c.status), c.status),
        None => "–".to_owned(),
    }
}

/// Renders the report.
pub fn render(r: &EvidenceReport) -> String {
    let mut out = String::new();
    let m = &r.metadata;
    let _ = writeln!(out, "# Evidence report\n");
    let _ = writeln!(
        out,
        "Generated {} by custody {}; policies evaluated at {}; source: {}{}.\n",
        m.generated_at,
        esc(&m.custody_version),
        m.evaluation_time,
        m.source,
        m.namespace
            .as_deref()
            .map(|n| format!(" (namespace {})", esc(n)))
            .unwrap_or_default()
    );
    let s = &r.summary;
    let _ = writeln!(
        out,
        "{} image{}: {} admitted, {} denied.\n",
        s.images,
        if s.images == 1 { "" } else { "s" },
        s.admitted,
        s.denied
    );
    let _ = writeln!(out, "## Controls\n");
    if r.controls.is_empty() {
        let _ = writeln!(out, "The policies declare no controls.\n");
    }
    for c in &r.controls {
        let _ = writeln!(out, "- {} — {}", esc(&c.line()), esc(&c.title));
    }
    let _ = writeln!(out, "\n## Matrix\n");
    let _ = write!(out, "| image |");
    for c in &r.controls {
        let _ = write!(out, " {} |", esc(&c.id));
    }
    let _ = write!(out, "\n|---|");
    for _ in &r.controls {
        let _ = write!(out, "---|");
    }
    out.push('\n');
    for i in &r.images {
        let _ = write!(out, "| {} |", image_cell(i));
        for c in &r.controls {
            let _ = write!(out, " {} |", cell(i.control(&c.id)));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "\n## Evidence and reasons\n");
    for i in &r.images {
        let _ = writeln!(out, "### {}\n", image_cell(i));
        if i.references.len() > 1 {
            let refs: Vec<String> = i.references.iter().map(|x| esc(x)).collect();
            let _ = writeln!(out, "References: {}\n", refs.join(", "));
        }
        if !i.workloads.is_empty() {
            let w: Vec<String> = i.workloads.iter().map(|w| esc(&w.label())).collect();
            let _ = writeln!(out, "Runs in: {}\n", w.join(", "));
        }
        for c in &i.controls {
            let _ = writeln!(
                out,
                "- {} **{}** {}",
                symbol(c.status),
                esc(&c.id),
                c.status
            );
            if let Some(reason) = &c.reason {
                let _ = writeln!(out, "  - reason: {}", esc(reason));
            }
            for e in &c.evidence {
                let _ = writeln!(
                    out,
                    "  - evidence: {} blob {} signed by {} via {}{}",
                    esc(&e.predicate_type),
                    esc(short_digest(&e.digest)),
                    esc(&e.signer),
                    esc(&e.source),
                    e.created
                        .as_deref()
                        .map(|t| format!(", created {}", esc(t)))
                        .unwrap_or_default()
                );
            }
        }
        out.push('\n');
    }
    out
}
