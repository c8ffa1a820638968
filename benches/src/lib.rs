//! Criterion benches for the workspace live in `benches/`; this library only holds
//! shared fixtures.
#![forbid(unsafe_code)]
