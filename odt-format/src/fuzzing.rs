//! Entry points for the fuzz targets in `fuzz/` (and for the unit tests that replay them):
//! each feeds untrusted bytes to one parser and checks it never panics and keeps its
//! invariants.
