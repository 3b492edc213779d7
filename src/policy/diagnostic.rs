//! regorus's diagnostics as it wrote them, for people to read: the `--> file:line:col`
//! line, the source line and the caret under the column stay on their own lines.

/// Most lines of a regorus diagnostic kept in a message.
const DIAGNOSTIC_LINES: usize = 16;

/// regorus's message as it wrote it: its line breaks and caret line kept (so the caret
/// still points at the column), trailing blanks and empty edges dropped, at most
/// [`DIAGNOSTIC_LINES`] lines.
pub(crate) fn diagnostic(e: &anyhow::Error) -> String {
    let text = format!("{e:#}");
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let start = lines.iter().position(|l| !l.is_empty()).unwrap_or(0);
    let end = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(0, |i| i + 1);
    lines
        .get(start..end.max(start))
        .unwrap_or_default()
        .iter()
        .take(DIAGNOSTIC_LINES)
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_line_breaks_and_the_caret_column() {
        let mut engine = regorus::Engine::new();
        let err = engine
            .add_policy(
                "p.rego".to_owned(),
                "package p\n\nx if {\n  y := 1 +\n  z := 2\n}\n".to_owned(),
            )
            .unwrap_err();
        let text = diagnostic(&err);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("--> p.rego:5:"), "{text}");
        let source = lines.iter().position(|l| l.ends_with("z := 2")).unwrap();
        assert!(lines[source + 1].trim_end().ends_with('^'), "{text}");
        assert!(!text.starts_with('\n') && !text.ends_with('\n'), "{text:?}");
    }
}
