//! admission (being built).
