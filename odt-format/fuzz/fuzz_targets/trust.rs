//! `trust`: see `odt_format::fuzzing::fuzz_trust` for the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| odt_format::fuzzing::fuzz_trust(data));
