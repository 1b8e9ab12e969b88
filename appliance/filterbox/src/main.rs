//! The filterbox multi-call binary.
fn main() {}
