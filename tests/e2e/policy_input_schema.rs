//! The input document contract: the documented example and the documents custody builds
//! validate against `docs/policy-input.schema.json` (checked with Python's `jsonschema`,
//! Draft 2020-12, formats on; the test fails loudly when it is missing).

use crate::support;
use custody::policy::input::PolicyInput;

const SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/policy-input.schema.json");
const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/docs/policy-input.example.json"
);

const VALIDATOR: &str = r#"
import json, sys
try:
    import jsonschema
except ImportError:
    sys.stderr.write("python3 module jsonschema is missing: apt-get install python3-jsonschema (scripts/setup)\n")
    sys.exit(3)
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
doc = json.load(sys.stdin)
v = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
errors = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
for e in errors:
    print("/".join(map(str, e.path)), e.message)
sys.exit(1 if errors else 0)
"#;

/// Validates `doc`; Ok(()) when valid, Err(messages) when not. Panics when the tool is missing.
fn validate(doc: &str) -> Result<(), String> {
    let out = support::python::python3(
        &["-c", VALIDATOR, SCHEMA],
        doc.as_bytes(),
        "scripts/setup installs jsonschema",
    );
    match out.status.code() {
        Some(0) => Ok(()),
        Some(1) => Err(String::from_utf8_lossy(&out.stdout).into_owned()),
        _ => panic!(
            "schema validator could not run: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[test]
fn the_documented_example_is_valid() {
    let example = std::fs::read_to_string(EXAMPLE).unwrap();
    validate(&example).unwrap();
    // And it is exactly what the Rust contract reads and writes.
    let parsed: PolicyInput = serde_json::from_str(&example).unwrap();
    let back = serde_json::to_string(&parsed).unwrap();
    validate(&back).unwrap();
}

#[test]
fn the_base_document_is_valid() {
    let doc = PolicyInput::empty(chrono::Utc::now());
    validate(&serde_json::to_string(&doc).unwrap()).unwrap();
}

#[test]
fn the_schema_rejects_broken_documents() {
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(EXAMPLE).unwrap()).unwrap();
    doc["apiVersion"] = "custody.dev/v2".into();
    doc["attestations"][0]["attestors"] = serde_json::json!([]);
    doc["image"]["digest"] = "latest".into();
    let errors = validate(&doc.to_string()).unwrap_err();
    assert!(errors.contains("apiVersion"), "{errors}");
    assert!(errors.contains("attestors"), "{errors}");
    assert!(errors.contains("image/digest"), "{errors}");
}
