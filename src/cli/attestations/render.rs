//! The text form of `custody attestations`.

use super::describe::Item;
use super::{Report, Section};
use std::fmt::Write as _;

pub(super) fn render_text(r: &Report<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "image:     {}", r.image);
    let _ = writeln!(out, "digest:    {}", r.resolved.digest);
    if let Some(mt) = &r.resolved.media_type {
        let _ = writeln!(out, "type:      {mt}");
    }
    for p in &r.resolved.platforms {
        let platform = p
            .platform
            .as_ref()
            .map_or_else(|| "-".to_owned(), ToString::to_string);
        let _ = writeln!(out, "platform:  {platform} {}", p.digest);
    }
    section(&mut out, &r.main, "");
    for p in &r.platforms {
        let name = p.platform.as_deref().unwrap_or("-");
        let _ = writeln!(out, "\nplatform {name} ({}):", p.digest);
        match (&p.section, &p.error) {
            (Some(s), _) => section(&mut out, s, "  "),
            (None, Some(e)) => {
                let _ = writeln!(out, "  lookup failed: {e}");
            }
            (None, None) => {}
        }
    }
    out
}

fn section(out: &mut String, s: &Section<'_>, indent: &str) {
    let consulted: Vec<&str> = s.consulted.iter().map(|s| s.as_str()).collect();
    let _ = writeln!(out, "{indent}looked in: {}", consulted.join(", "));
    if s.evidence.is_empty() {
        let _ = writeln!(out, "{indent}no attestations found");
    }
    for (i, item) in s.evidence.iter().enumerate() {
        evidence(out, i + 1, item, indent);
    }
    for sk in s.skipped {
        let what = sk.media_type.as_deref().unwrap_or("?");
        let manifest = sk
            .manifest_digest
            .as_ref()
            .map_or_else(|| "-".to_owned(), |d| d.short());
        let _ = writeln!(
            out,
            "{indent}skipped: {what} in {manifest} via {}: {}",
            sk.source, sk.reason
        );
    }
}

fn evidence(out: &mut String, n: usize, item: &Item<'_>, indent: &str) {
    let e = item.evidence;
    let predicate = item
        .predicate_type
        .as_deref()
        .unwrap_or("(unknown predicate type)");
    let _ = writeln!(out, "{indent}[{n}] {predicate} via {}", e.source);
    let mut line = |label: &str, value: &str| {
        let _ = writeln!(out, "{indent}    {label:<9} {value}");
    };
    line("format:", &format!("{} ({} bytes)", e.format, item.size));
    if let Some(t) = &e.artifact_type {
        line("artifact:", t);
    }
    line("manifest:", &e.manifest_digest.to_string());
    line("blob:", &e.blob_digest.to_string());
    if !item.key_ids.is_empty() {
        line("key ids:", &item.key_ids.join(", "));
    }
    if let Some(created) = e.annotations.get("org.opencontainers.image.created") {
        line("created:", created);
    }
    if let Some(k) = &item.keyless {
        line("identity:", k.identity.as_deref().unwrap_or("(none)"));
        line("issuer:", k.issuer.as_deref().unwrap_or("(none)"));
        for name in [
            "sourceRepositoryURI",
            "sourceRepositoryRef",
            "buildTrigger",
            "runnerEnvironment",
        ] {
            if let Some(v) = k.extensions.get(name) {
                line("", &format!("{name}: {v}"));
            }
        }
        let proof = if k.verified {
            format!(
                "verified: {} log entr{}, {} with inclusion proof; signed at {}",
                k.log_entries,
                if k.log_entries == 1 { "y" } else { "ies" },
                k.inclusion_proofs,
                k.signed_at.join(", ")
            )
        } else {
            format!("not verified: {}", k.reason.as_deref().unwrap_or(""))
        };
        line("log proof:", &proof);
    }
    match &item.verification {
        Some(v) if v.verified => line(
            "verified:",
            &format!("yes, signed by {}", v.signers.join(", ")),
        ),
        Some(v) => {
            let category = v.category.map_or_else(String::new, |c| format!(" [{c}]"));
            let reason = v.reason.as_deref().unwrap_or("");
            line("verified:", &format!("no{category}: {reason}"));
        }
        None => {}
    }
}
