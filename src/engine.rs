//! The decision engine (being built).
