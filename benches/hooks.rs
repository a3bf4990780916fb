//! Placeholder while the hook benchmark is written.
fn main() {}
