//! intoto (being built).
