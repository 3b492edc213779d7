//! The last-resort answers the server sends when the reviewer could not answer; they
//! are written by [`crate::admission::fallback`] (the AdmissionReview wire format lives
//! in `src/admission`).

pub use crate::admission::fallback::{allow_with_warning, deny, deny_uid, request_uid};
