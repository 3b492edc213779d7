//! Assertions on AdmissionReview answers: admitted, denied naming the reasons, warnings.

/// Asserts that `response` denies and that its message names every one of `needles`.
#[track_caller]
pub fn assert_denied(ctx: &str, response: &serde_json::Value, needles: &[&str]) {
    assert_eq!(
        response["allowed"], false,
        "{ctx}: expected a denial: {response}"
    );
    let message = response["status"]["message"].as_str().unwrap_or_default();
    for n in needles {
        assert!(
            message.contains(n),
            "{ctx}: the denial should name {n:?}:\n{message}"
        );
    }
}

/// Asserts that `response` admits (no denial status).
#[track_caller]
pub fn assert_admitted(ctx: &str, response: &serde_json::Value) {
    assert_eq!(
        response["allowed"], true,
        "{ctx}: expected an admission: {response}"
    );
    assert!(response.get("status").is_none(), "{ctx}: {response}");
}

/// The warnings of `response` joined by newlines.
pub fn warnings(response: &serde_json::Value) -> String {
    response["warnings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|w| w.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}
