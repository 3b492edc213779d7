//! From per-image verdicts to the admission decision: allowed or not, the message a
//! developer reads on `kubectl apply`, warnings, audit annotations and the pinning patch.

use crate::category::Category;
use crate::engine::{ImageVerdict, PolicyResult};
use crate::policy::Mode;
use json_patch::jsonptr::PointerBuf;
use json_patch::{Patch, PatchOperation, ReplaceOperation};
use std::collections::BTreeMap;

use super::workload::ImageUse;

/// How verdicts become a decision.
#[derive(Debug, Clone)]
pub struct DecisionOptions {
    /// Admit (with a warning) when the only failures are timeouts or an unreachable
    /// registry. Off by default: custody fails closed.
    pub fail_open: bool,
    /// At most this many lines of denial detail; the rest is summarised.
    pub max_lines: usize,
    /// Rewrite admitted images to `name:tag@digest` (the `/mutate` endpoint).
    pub pin_digests: bool,
}

impl Default for DecisionOptions {
    fn default() -> Self {
        DecisionOptions {
            fail_open: false,
            max_lines: 10,
            pin_digests: false,
        }
    }
}

/// The outcome for one review.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    /// Whether the object is admitted.
    pub allowed: bool,
    /// The denial message (`None` when admitted).
    pub message: Option<String>,
    /// Warnings `kubectl` prints (`Warning: …`).
    pub warnings: Vec<String>,
    /// Audit annotations (the apiserver prefixes the webhook name to each key).
    pub audit_annotations: BTreeMap<String, String>,
    /// JSON patch operations pinning images to digests.
    pub patch: Patch,
}

fn failed(r: &PolicyResult) -> bool {
    !r.allowed
}

fn line(r: &PolicyResult) -> String {
    let category = r.category.unwrap_or(Category::PolicyDenied);
    let words = if r.messages.is_empty() {
        "denied".to_owned()
    } else {
        r.messages.join("; ")
    };
    format!("{} [{}]: {}", r.policy, category, words)
}

fn image_label(v: &ImageVerdict) -> String {
    match &v.digest {
        Some(d) => format!("{} ({})", v.image, d.short()),
        None => v.image.clone(),
    }
}

fn infrastructure(r: &PolicyResult) -> bool {
    r.category.is_some_and(Category::is_infrastructure)
}

/// The audit annotation key of each image's control outcomes (the apiserver files it as
/// `<webhook name>/controls`, e.g. `validate.custody.dev/controls`).
pub const CONTROLS_ANNOTATION: &str = "controls";

/// Decides a review from the verdicts of its images.
pub fn decide(verdicts: &[ImageVerdict], uses: &[ImageUse], opts: &DecisionOptions) -> Decision {
    let mut d = Decision {
        allowed: true,
        ..Decision::default()
    };
    let mut denied: Vec<(&ImageVerdict, Vec<&PolicyResult>)> = Vec::new();
    for v in verdicts {
        let mut enforce_failures = Vec::new();
        for r in &v.results {
            for w in &r.warnings {
                d.warnings.push(format!("{}: {}: {}", v.image, r.policy, w));
            }
            if !failed(r) {
                continue;
            }
            match r.mode {
                Mode::Enforce if opts.fail_open && infrastructure(r) => d.warnings.push(format!(
                    "{}: admitted by fail-open: {}",
                    image_label(v),
                    line(r)
                )),
                Mode::Enforce => enforce_failures.push(r),
                Mode::Warn => d.warnings.push(format!("{}: {}", image_label(v), line(r))),
                Mode::Audit => {
                    let key = format!("policy-{}", r.policy);
                    let entry = d.audit_annotations.entry(key).or_default();
                    if !entry.is_empty() {
                        entry.push_str("; ");
                    }
                    entry.push_str(&format!("{}: {}", image_label(v), line(r)));
                }
            }
        }
        if !enforce_failures.is_empty() {
            denied.push((v, enforce_failures));
        }
    }
    if let Some(controls) = crate::policy::controls::annotation(verdicts) {
        d.audit_annotations
            .insert(CONTROLS_ANNOTATION.to_owned(), controls);
    }
    if !denied.is_empty() {
        d.allowed = false;
        d.message = Some(denial_message(verdicts.len(), &denied, opts.max_lines));
    } else if opts.pin_digests {
        d.patch = Patch(pin_patch(verdicts, uses));
    }
    d
}

/// Lines of one image's failures: policies that failed for the same reason with the same
/// words (an unreachable registry fails every policy alike) share one line.
fn grouped_lines(v: &ImageVerdict, results: &[&PolicyResult]) -> Vec<String> {
    let mut groups: Vec<(Vec<&str>, Category, String)> = Vec::new();
    for r in results {
        let category = r.category.unwrap_or(Category::PolicyDenied);
        let words = words(v, r);
        match groups
            .iter_mut()
            .find(|(_, c, w)| *c == category && *w == words)
        {
            Some((names, _, _)) => names.push(&r.policy),
            None => groups.push((vec![&r.policy], category, words)),
        }
    }
    groups
        .into_iter()
        .map(|(names, category, words)| format!("{} [{}]: {}", names.join(", "), category, words))
        .collect()
}

/// The policy's words, without a leading repetition of the image reference.
fn words(v: &ImageVerdict, r: &PolicyResult) -> String {
    if r.messages.is_empty() {
        return "denied".to_owned();
    }
    let joined = r.messages.join("; ");
    match joined
        .strip_prefix(&v.image)
        .and_then(|rest| rest.strip_prefix(": "))
    {
        Some(rest) => rest.to_owned(),
        None => joined,
    }
}

fn denial_message(
    total: usize,
    denied: &[(&ImageVerdict, Vec<&PolicyResult>)],
    max: usize,
) -> String {
    let mut lines = vec![format!(
        "custody denied {} of {} image{}:",
        denied.len(),
        total,
        if total == 1 { "" } else { "s" }
    )];
    let mut omitted = 0usize;
    for (v, results) in denied {
        let policy_lines = grouped_lines(v, results);
        for (i, l) in policy_lines.iter().enumerate() {
            // Header plus at least one policy line per image, within the budget.
            let needed = if i == 0 { 2 } else { 1 };
            if lines.len() + needed > max.max(3) {
                omitted += policy_lines.len() - i;
                break;
            }
            if i == 0 {
                lines.push(format!("- {}", image_label(v)));
            }
            lines.push(format!("    {l}"));
        }
    }
    if omitted > 0 {
        lines.push(format!(
            "… and {omitted} more failure{} (see custody's decision log)",
            if omitted == 1 { "" } else { "s" }
        ));
    }
    lines.join("\n")
}

fn pin_patch(verdicts: &[ImageVerdict], uses: &[ImageUse]) -> Vec<PatchOperation> {
    let mut ops = Vec::new();
    for v in verdicts {
        let Some(digest) = &v.digest else { continue };
        if v.image.contains('@') {
            continue;
        }
        let Some(u) = uses.iter().find(|u| u.image == v.image) else {
            continue;
        };
        let pinned = format!("{}@{}", with_tag(&v.image), digest);
        // The pointers are built by `workload` from fixed names and indices, so they parse.
        for c in &u.containers {
            if let Ok(path) = PointerBuf::parse(c.pointer.as_str()) {
                ops.push(PatchOperation::Replace(ReplaceOperation {
                    path,
                    value: pinned.clone().into(),
                }));
            }
        }
    }
    ops
}

/// `nginx` → `nginx:latest`; references that carry a tag are unchanged.
fn with_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') {
        image.to_owned()
    } else {
        format!("{image}:latest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::workload::{ContainerKind, ContainerRef};
    use crate::digest::Digest;

    fn result(
        policy: &str,
        mode: Mode,
        allowed: bool,
        cat: Option<Category>,
        msg: &str,
    ) -> PolicyResult {
        PolicyResult {
            policy: policy.into(),
            mode,
            allowed,
            category: cat,
            messages: if msg.is_empty() {
                vec![]
            } else {
                vec![msg.into()]
            },
            warnings: vec![],
        }
    }

    fn verdict(image: &str, results: Vec<PolicyResult>) -> ImageVerdict {
        ImageVerdict {
            image: image.into(),
            containers: Vec::new(),
            digest: Some(Digest::sha256(image.as_bytes())),
            results,
            evidence: Default::default(),
            controls: Vec::new(),
        }
    }

    #[test]
    fn enforce_failure_denies_with_image_policy_and_category() {
        let v = vec![
            verdict(
                "reg.example/app:1",
                vec![result(
                    "require-sbom",
                    Mode::Enforce,
                    false,
                    Some(Category::NoAttestation),
                    "no SBOM attestation",
                )],
            ),
            verdict(
                "reg.example/ok:1",
                vec![result("require-sbom", Mode::Enforce, true, None, "")],
            ),
        ];
        let d = decide(&v, &[], &DecisionOptions::default());
        assert!(!d.allowed);
        let m = d.message.unwrap();
        assert!(m.starts_with("custody denied 1 of 2 images:"), "{m}");
        assert!(m.contains("reg.example/app:1 (sha256:"), "{m}");
        assert!(
            m.contains("require-sbom [no-attestation]: no SBOM attestation"),
            "{m}"
        );
        assert!(!m.contains("ok:1"), "{m}");
    }

    #[test]
    fn warn_and_audit_modes_admit() {
        let v = vec![verdict(
            "app:1",
            vec![
                result(
                    "p-warn",
                    Mode::Warn,
                    false,
                    Some(Category::PolicyDenied),
                    "old scan",
                ),
                result(
                    "p-audit",
                    Mode::Audit,
                    false,
                    Some(Category::UntrustedSigner),
                    "who signed?",
                ),
            ],
        )];
        let d = decide(&v, &[], &DecisionOptions::default());
        assert!(d.allowed);
        assert_eq!(d.warnings.len(), 1);
        assert!(d.warnings[0].contains("p-warn [policy-denied]: old scan"));
        assert!(d.audit_annotations["policy-p-audit"].contains("untrusted-signer"));
    }

    #[test]
    fn control_outcomes_are_an_audit_annotation() {
        use crate::policy::controls::{ControlOutcome, ControlStatus};
        let mut v = verdict("app:1", vec![result("p", Mode::Enforce, true, None, "")]);
        assert!(
            decide(std::slice::from_ref(&v), &[], &DecisionOptions::default())
                .audit_annotations
                .is_empty()
        );
        v.controls = vec![ControlOutcome {
            id: "C-02".into(),
            title: "Scanned".into(),
            status: ControlStatus::Failed,
            policies: vec!["p".into()],
            evidence: vec![],
            reason: Some("old".into()),
        }];
        let d = decide(&[v], &[], &DecisionOptions::default());
        assert!(d.allowed);
        let a = &d.audit_annotations[CONTROLS_ANNOTATION];
        assert!(a.contains(r#""C-02":"failed""#), "{a}");
    }

    #[test]
    fn timeouts_deny_unless_fail_open() {
        let v = vec![verdict(
            "app:1",
            vec![result(
                "p",
                Mode::Enforce,
                false,
                Some(Category::Timeout),
                "timed out resolving the tag",
            )],
        )];
        assert!(!decide(&v, &[], &DecisionOptions::default()).allowed);
        let open = DecisionOptions {
            fail_open: true,
            ..DecisionOptions::default()
        };
        let d = decide(&v, &[], &open);
        assert!(d.allowed);
        assert!(d.warnings[0].contains("fail-open"));
        let policy = vec![verdict(
            "app:1",
            vec![result("p", Mode::Enforce, false, None, "no")],
        )];
        assert!(
            !decide(&policy, &[], &open).allowed,
            "fail-open never admits a policy denial"
        );
        let internal = vec![verdict(
            "app:1",
            vec![result(
                "p",
                Mode::Enforce,
                false,
                Some(Category::Internal),
                "verification task failed: panicked",
            )],
        )];
        assert!(
            !decide(&internal, &[], &open).allowed,
            "fail-open never admits custody's own failure"
        );
    }

    #[test]
    fn long_denials_are_summarised() {
        let results: Vec<PolicyResult> = (0..30)
            .map(|i| {
                result(
                    &format!("p{i}"),
                    Mode::Enforce,
                    false,
                    None,
                    &format!("reason {i}"),
                )
            })
            .collect();
        let d = decide(
            &[verdict("app:1", results)],
            &[],
            &DecisionOptions::default(),
        );
        let m = d.message.unwrap();
        assert!(m.lines().count() <= 11, "{m}");
        assert!(m.ends_with("(see custody's decision log)"), "{m}");
        assert!(m.contains("… and 22 more failures"), "{m}");
    }

    #[test]
    fn identical_failures_share_one_line_without_repeating_the_image() {
        let unreachable = |p: &str| {
            result(
                p,
                Mode::Enforce,
                false,
                Some(Category::RegistryUnreachable),
                "app:1: resolve tag: connection refused",
            )
        };
        let v = vec![verdict(
            "app:1",
            vec![
                unreachable("a"),
                unreachable("b"),
                result("c", Mode::Enforce, false, None, "no SBOM"),
            ],
        )];
        let m = decide(&v, &[], &DecisionOptions::default())
            .message
            .unwrap();
        assert!(
            m.contains("    a, b [registry-unreachable]: resolve tag: connection refused\n"),
            "{m}"
        );
        assert!(m.contains("    c [policy-denied]: no SBOM"), "{m}");
        assert_eq!(m.lines().count(), 4, "{m}");
    }

    #[test]
    fn pins_admitted_images_to_their_digest() {
        let uses = vec![ImageUse {
            image: "reg.example/app".into(),
            containers: vec![ContainerRef {
                name: "a".into(),
                kind: ContainerKind::Container,
                pointer: "/spec/containers/0/image".into(),
            }],
        }];
        let v = vec![verdict(
            "reg.example/app",
            vec![result("p", Mode::Enforce, true, None, "")],
        )];
        let opts = DecisionOptions {
            pin_digests: true,
            ..DecisionOptions::default()
        };
        let d = decide(&v, &uses, &opts);
        let want = format!("reg.example/app:latest@{}", v[0].digest.as_ref().unwrap());
        assert_eq!(
            serde_json::to_value(&d.patch).unwrap(),
            serde_json::json!([{"op": "replace", "path": "/spec/containers/0/image", "value": want}])
        );
        assert_eq!(with_tag("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(with_tag("localhost:5000/app:v1"), "localhost:5000/app:v1");
    }
}
