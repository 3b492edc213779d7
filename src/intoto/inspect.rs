//! Inspections: commands the layout asks the verifier to run. custody runs them only
//! when asked (`custody layout verify --run-inspections`), in the artifacts directory,
//! recording the whole directory before and after as the reference does, and writing
//! the inspection's (unsigned) link as `NAME.link` there. The webhook never runs
//! them: a policy may list inspections it accepts as already performed, any other is
//! a failure.

use super::error::{Check, Failure};
use super::model::{ArtifactKind, Inspection, Link};
use super::record::run_and_record;
use super::rules;
use super::verify::InspectionReport;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// What to do with a layout's inspections.
#[derive(Debug, Clone)]
pub enum Inspections {
    /// A layout with inspections fails.
    Refuse,
    /// These inspections count as performed elsewhere (their rules are not checked);
    /// any other fails.
    Accept(BTreeSet<String>),
    /// Run them in this directory.
    Run(PathBuf),
}

pub(crate) fn perform(
    inspections: &[Inspection],
    mode: &Inspections,
    links: &BTreeMap<String, &Link>,
) -> Result<Vec<InspectionReport>, Failure> {
    let mut reports = Vec::new();
    match mode {
        Inspections::Refuse | Inspections::Accept(_) => {
            for ins in inspections {
                let accepted =
                    matches!(mode, Inspections::Accept(names) if names.contains(&ins.name));
                if !accepted {
                    return Err(Failure::new(
                        Check::Inspection,
                        format!(
                            "inspection {:?} would run {:?}: custody runs inspections only when asked (custody layout verify --run-inspections); admission never runs them and accepts only those the policy lists as already performed",
                            ins.name, ins.run
                        ),
                    )
                    .step(&ins.name));
                }
                reports.push(InspectionReport {
                    name: ins.name.clone(),
                    outcome: "accepted",
                });
            }
        }
        Inspections::Run(dir) => {
            let mut ran: Vec<Link> = Vec::new();
            for ins in inspections {
                if ins.name.is_empty() || ins.name.contains(['/', '\\']) || ins.name == ".." {
                    return Err(Failure::new(
                        Check::Inspection,
                        "the inspection's name cannot name its link file",
                    )
                    .step(&ins.name));
                }
                let here = [PathBuf::from(".")];
                let link = run_and_record(&ins.name, dir, &here, &here, &ins.run)
                    .map_err(|e| Failure::new(Check::Inspection, e.to_string()).step(&ins.name))?;
                let rv = link.byproducts.get("return-value").and_then(|v| v.as_i64());
                if rv != Some(0) {
                    return Err(Failure::new(
                        Check::Inspection,
                        format!("{:?} exited with {rv:?}", ins.run),
                    )
                    .step(&ins.name));
                }
                let record = serde_json::json!({"signed": link.to_value(), "signatures": []});
                let path = dir.join(format!("{}.link", ins.name));
                std::fs::write(&path, record.to_string()).map_err(|e| {
                    Failure::new(
                        Check::Inspection,
                        format!("writing {}: {e}", path.display()),
                    )
                    .step(&ins.name)
                })?;
                ran.push(link);
                reports.push(InspectionReport {
                    name: ins.name.clone(),
                    outcome: "ran",
                });
            }
            let mut all = links.clone();
            for link in &ran {
                all.insert(link.name.clone(), link);
            }
            for ins in inspections {
                rules::apply(
                    &ins.name,
                    ArtifactKind::Materials,
                    &ins.expected_materials,
                    &all,
                )?;
                rules::apply(
                    &ins.name,
                    ArtifactKind::Products,
                    &ins.expected_products,
                    &all,
                )?;
            }
        }
    }
    Ok(reports)
}
