//! The report as one self-contained HTML page: inline CSS, no scripts, no external
//! assets, so it opens offline and prints to PDF as it looks. The matrix marks each cell
//! with a colour and a symbol (✓ ✗ –) and the status word, so it also reads in black and
//! white; each cell's `title` and `<details>` carry the evidence or the reason, and the
//! section after the matrix repeats them in full for print.

use super::{EvidenceReport, ImageEntry, short_digest, symbol};
use crate::policy::controls::{ControlOutcome, ControlStatus};
use std::fmt::Write as _;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font: 14px/1.45 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #111; margin: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 22px 0 8px; border-bottom: 1px solid #999; }
h3 { font-size: 14px; margin: 14px 0 4px; }
.meta { color: #333; margin: 0 0 8px; }
ul.summary { list-style: none; padding: 0; margin: 0; }
ul.summary li { margin: 2px 0; }
table.matrix { border-collapse: collapse; width: 100%; table-layout: fixed; }
table.matrix th.imgcol { width: 24%; }
table.matrix td { overflow-wrap: anywhere; }
table.matrix th, table.matrix td { border: 1px solid #666; padding: 4px 6px; vertical-align: top; text-align: left; }
table.matrix thead th { background: #e8e8e8; }
td.img { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; }
td.img .ns, td.img .wl { font-family: "DejaVu Sans", sans-serif; color: #333; display: block; }

.sym { font-weight: bold; font-size: 15px; margin-right: 4px; }
.satisfied { background: #d4f0d4; }
.failed { background: #f6cccc; }
.not-applicable { background: #ececec; color: #333; }
details { margin-top: 2px; white-space: normal; }
summary { cursor: pointer; font-size: 12px; }
.why { font-size: 12px; }
ul.ev { margin: 2px 0 2px 18px; padding: 0; font-size: 12px; }
code { font-size: 12px; overflow-wrap: anywhere; }
.legend span { padding: 1px 6px; margin-right: 8px; border: 1px solid #666; }
@media print {
  body { margin: 0; font-size: 11px; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  thead { display: table-header-group; }
  tr, .finding { break-inside: avoid; page-break-inside: avoid; }
  details { display: none; }
  @page { size: A4 landscape; margin: 12mm; }
}
"#;

fn status_word(s: ControlStatus) -> &'static str {
    match s {
        ControlStatus::Satisfied => "satisfied",
        ControlStatus::Failed => "failed",
        ControlStatus::NotApplicable => "not applicable",
    }
}

/// One line per citation or the reason: the cell's tooltip.
fn tooltip(c: &ControlOutcome) -> String {
    let mut lines: Vec<String> = Vec::new();
    if let Some(r) = &c.reason {
        lines.push(r.clone());
    }
    for e in &c.evidence {
        lines.push(format!(
            "{} {} via {}{}",
            e.predicate_type,
            short_digest(&e.digest),
            e.source,
            e.created
                .as_deref()
                .map(|t| format!(", created {t}"))
                .unwrap_or_default()
        ));
    }
    lines.join("\n")
}

/// A control's reason and citations: in full (signer and source too) for the evidence
/// section, short (type, blob, time; the full citation is in the cell's title) for a cell.
fn evidence_list(out: &mut String, c: &ControlOutcome, full: bool) {
    if let Some(r) = &c.reason {
        let _ = write!(out, "<div class=\"why\">{}</div>", esc(r));
    }
    if c.evidence.is_empty() {
        return;
    }
    out.push_str("<ul class=\"ev\">");
    for e in &c.evidence {
        let _ = write!(
            out,
            "<li>{} <code>{}</code>",
            esc(&e.predicate_type),
            esc(short_digest(&e.digest))
        );
        if full {
            let _ = write!(
                out,
                " signed by <code>{}</code> via {}",
                esc(&e.signer),
                esc(&e.source)
            );
        }
        if let Some(t) = e.created.as_deref() {
            let _ = write!(out, ", {}{}", if full { "created " } else { "" }, esc(t));
        }
        out.push_str("</li>");
    }
    out.push_str("</ul>");
}

fn cell(out: &mut String, c: Option<&ControlOutcome>) {
    let Some(c) = c else {
        out.push_str(
            "<td class=\"cell not-applicable\"><span class=\"sym\">–</span>not applicable</td>",
        );
        return;
    };
    let _ = write!(
        out,
        "<td class=\"cell {}\" title=\"{}\"><span class=\"sym\">{}</span>{}",
        c.status.as_str(),
        esc(&tooltip(c)),
        symbol(c.status),
        status_word(c.status)
    );
    if c.reason.is_some() || !c.evidence.is_empty() {
        let what = if c.evidence.is_empty() {
            "reason".to_owned()
        } else {
            format!("{} evidence", c.evidence.len())
        };
        // A failure's reason is what the reader needs first: shown open.
        let open = if c.status == ControlStatus::Failed {
            " open"
        } else {
            ""
        };
        let _ = write!(out, "<details{open}><summary>{what}</summary>");
        evidence_list(out, c, false);
        out.push_str("</details>");
    }
    out.push_str("</td>");
}

fn image_cell(out: &mut String, i: &ImageEntry) {
    let digest = i
        .digest
        .as_deref()
        .map(short_digest)
        .unwrap_or("unresolved");
    let _ = write!(
        out,
        "<td class=\"img\" title=\"{}\">{}<br>{}<span class=\"ns\">namespace {}{}</span>",
        esc(i.digest.as_deref().unwrap_or("")),
        esc(&i.image),
        esc(digest),
        esc(&i.namespace),
        if i.admitted { "" } else { " · denied" }
    );
    for w in &i.workloads {
        let _ = write!(out, "<span class=\"wl\">{}</span>", esc(&w.label()));
    }
    out.push_str("</td>");
}

/// Renders the report as a complete HTML document.
pub fn render(r: &EvidenceReport) -> String {
    let mut out = String::with_capacity(4096 + r.images.len() * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    let _ = write!(
        out,
        "<title>Evidence report {}</title><style>{STYLE}</style></head><body>",
        esc(&r.metadata.generated_at)
    );
    let m = &r.metadata;
    let _ = write!(
        out,
        "<h1>Evidence report</h1><p class=\"meta\">Generated {} by custody {} · policies evaluated at {} · source: {}{} · {} images: {} admitted, {} denied</p>",
        esc(&m.generated_at),
        esc(&m.custody_version),
        esc(&m.evaluation_time),
        esc(&m.source),
        m.namespace
            .as_deref()
            .map(|n| format!(" (namespace {})", esc(n)))
            .unwrap_or_default(),
        r.summary.images,
        r.summary.admitted,
        r.summary.denied
    );
    out.push_str("<h2>Controls</h2><ul class=\"summary\">");
    if r.controls.is_empty() {
        out.push_str("<li>The policies declare no controls.</li>");
    }
    for c in &r.controls {
        let _ = write!(
            out,
            "<li><b>{}</b> — {}<br>{} <span class=\"meta\">(policies: {})</span></li>",
            esc(&c.id),
            esc(&c.title),
            esc(&c.line()),
            esc(&c.policies.join(", "))
        );
    }
    out.push_str("</ul><p class=\"legend\"><span class=\"satisfied\">✓ satisfied</span><span class=\"failed\">✗ failed</span><span class=\"not-applicable\">– not applicable</span></p>");
    out.push_str("<h2>Controls × workloads</h2><table class=\"matrix\"><thead><tr><th class=\"imgcol\">image</th>");
    for c in &r.controls {
        let _ = write!(out, "<th title=\"{}\">{}</th>", esc(&c.title), esc(&c.id));
    }
    out.push_str("</tr></thead><tbody>");
    for i in &r.images {
        out.push_str("<tr>");
        image_cell(&mut out, i);
        for c in &r.controls {
            cell(&mut out, i.control(&c.id));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table><h2>Evidence and reasons</h2>");
    for i in &r.images {
        let _ = write!(
            out,
            "<div class=\"finding\"><h3>{} <code>{}</code></h3>",
            esc(&i.image),
            esc(i.digest.as_deref().unwrap_or("unresolved"))
        );
        if i.references.len() > 1 {
            let _ = write!(out, "<p>References: {}</p>", esc(&i.references.join(", ")));
        }
        out.push_str("<ul>");
        for c in &i.controls {
            let _ = write!(
                out,
                "<li><span class=\"sym\">{}</span><b>{}</b> {}",
                symbol(c.status),
                esc(&c.id),
                status_word(c.status)
            );
            evidence_list(&mut out, c, true);
            out.push_str("</li>");
        }
        out.push_str("</ul></div>");
    }
    out.push_str("</body></html>\n");
    out
}
