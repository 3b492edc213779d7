//! attest (being built).
