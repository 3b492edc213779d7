//! The text form of `custody verify`: what a person reads in a CI log.

use custody::engine::ImageVerdict;
use custody::policy::Mode;
use std::fmt::Write as _;

fn short_blob(d: &str) -> &str {
    let hex = d.split_once(':').map_or(d, |(_, h)| h);
    &hex[..hex.len().min(12)]
}

/// Renders verdicts as indented lines, one block per image.
pub(crate) fn render(verdicts: &[ImageVerdict]) -> String {
    let mut out = String::new();
    for v in verdicts {
        let digest = v
            .digest
            .as_ref()
            .map(|d| format!(" ({})", d.short()))
            .unwrap_or_default();
        let state = if v.admitted() { "ADMITTED" } else { "DENIED" };
        let _ = writeln!(out, "{}{digest}: {state}", v.image);
        if v.results.is_empty() {
            let _ = writeln!(out, "  no policy applies to this image");
            continue;
        }
        let e = &v.evidence;
        let _ = writeln!(
            out,
            "  evidence: {} found, {} verified, {} rejected, {} skipped",
            e.found,
            e.verified.len(),
            e.rejected.len(),
            e.skipped.len()
        );
        for item in &e.verified {
            let _ = writeln!(
                out,
                "    verified  {}  via {} (blob {}) signed by {}  [{}]",
                item.predicate_type,
                item.source,
                short_blob(&item.blob_digest),
                item.signers.join(", "),
                item.policies.join(", ")
            );
        }
        for item in &e.rejected {
            let claim = item
                .claimed_predicate_type
                .as_deref()
                .map(|t| format!(" (claims {t})"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "    rejected  {}: {}{claim}  via {} (blob {})  [{}]",
                item.category,
                item.reason,
                item.source,
                short_blob(&item.blob_digest),
                item.policies.join(", ")
            );
        }
        for item in &e.skipped {
            let _ = writeln!(
                out,
                "    skipped   {}: {}  via {}",
                item.category, item.reason, item.source
            );
        }
        let width = v.results.iter().map(|r| r.policy.len()).max().unwrap_or(0);
        for r in &v.results {
            let status = match (r.allowed, r.mode) {
                (true, _) => "pass".to_owned(),
                (false, Mode::Enforce) => "FAIL".to_owned(),
                (false, Mode::Warn) => "fail (warn only)".to_owned(),
                (false, Mode::Audit) => "fail (audit only)".to_owned(),
            };
            let category = r.category.map(|c| format!(" [{c}]")).unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:width$}  {:7}  {status}{category}",
                r.policy,
                r.mode.as_str()
            );
            for m in &r.messages {
                let _ = writeln!(out, "      {m}");
            }
            for w in &r.warnings {
                let _ = writeln!(out, "      warning: {w}");
            }
        }
        if !v.controls.is_empty() {
            let line: Vec<String> = v
                .controls
                .iter()
                .map(|c| format!("{} {}", c.id, c.status))
                .collect();
            let _ = writeln!(out, "  controls: {}", line.join(", "));
        }
    }
    let denied = verdicts.iter().filter(|v| !v.admitted()).count();
    let _ = writeln!(
        out,
        "{} image(s): {} admitted, {denied} denied",
        verdicts.len(),
        verdicts.len() - denied
    );
    out
}
