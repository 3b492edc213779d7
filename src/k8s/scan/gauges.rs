//! The scan's gauges, replaced as a whole after every pass:
//!
//! - `custody_running_images{policy,result}`: distinct running images per policy and
//!   result (an image counts once per result it has in any namespace);
//! - `custody_control_satisfied{control}`: per control of the loaded policies, the share
//!   (0 to 1) of the distinct running images it applies to that satisfy it (an image
//!   failing the control in any namespace counts as failing). A control no running
//!   image is subject to has no series.

use std::collections::{BTreeMap, BTreeSet};

use super::report::{Row, ScanResult};
use crate::engine::ImageVerdict;
use crate::policy::controls::{ControlSet, ControlStatus, outcomes};

/// Sets `custody_running_images` from this pass's rows.
pub(super) fn running_images(rows: &[Row]) {
    let mut images: BTreeMap<(String, String), BTreeSet<&str>> = BTreeMap::new();
    for row in rows {
        let result = ScanResult::of(&row.result).as_str().to_owned();
        images
            .entry((row.result.policy.clone(), result))
            .or_default()
            .insert(row.image.as_str());
    }
    let values = images
        .into_iter()
        .map(|((policy, result), set)| (vec![policy, result], set.len() as f64))
        .collect();
    crate::metrics::metrics().set_running_images(values);
}

/// Sets `custody_control_satisfied` from the current verdicts (image reference, verdict).
pub(super) fn controls<'a>(
    catalogue: &[ControlSet],
    verdicts: impl Iterator<Item = (&'a str, &'a ImageVerdict)>,
) {
    crate::metrics::metrics().set_controls_satisfied(shares(catalogue, verdicts));
}

fn shares<'a>(
    catalogue: &[ControlSet],
    verdicts: impl Iterator<Item = (&'a str, &'a ImageVerdict)>,
) -> BTreeMap<Vec<String>, f64> {
    // control -> image -> satisfied everywhere so far
    let mut by_control: BTreeMap<String, BTreeMap<&str, bool>> = BTreeMap::new();
    for (image, verdict) in verdicts {
        for outcome in outcomes(catalogue, verdict) {
            let satisfied = match outcome.status {
                ControlStatus::Satisfied => true,
                ControlStatus::Failed => false,
                ControlStatus::NotApplicable => continue,
            };
            let entry = by_control
                .entry(outcome.id)
                .or_default()
                .entry(image)
                .or_insert(true);
            *entry &= satisfied;
        }
    }
    by_control
        .into_iter()
        .map(|(control, images)| {
            let ok = images.values().filter(|s| **s).count();
            (vec![control], ok as f64 / images.len().max(1) as f64)
        })
        .collect()
}
