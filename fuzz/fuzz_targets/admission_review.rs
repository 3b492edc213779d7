//! Any bytes posted to /validate: parsing and planning never panic, and an unreadable body
//! still yields a well-formed refusal.
#![no_main]

use custody::admission::{self, DecisionOptions, RequestExt};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match admission::parse(data) {
        Ok(req) => {
            let _ = req.labels();
            let _ = req.display_name();
            if let admission::Plan::Check { images, .. } = admission::plan(&req) {
                let d = admission::decide(&[], &images, &DecisionOptions::default());
                let _ = admission::response::respond(&req, &d);
            }
            let _ = admission::response::allow(&req);
        }
        Err(e) => {
            let uid = admission::review::salvage_uid(data);
            let _ = admission::response::reject_unreadable(&uid, &e.to_string());
        }
    }
});
