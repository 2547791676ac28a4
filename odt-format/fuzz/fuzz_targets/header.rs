//! `header`: see `odt_format::fuzzing::fuzz_header` for the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| odt_format::fuzzing::fuzz_header(data));
