//! `unit_index`: see `odt_format::fuzzing::fuzz_unit_index` for the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| odt_format::fuzzing::fuzz_unit_index(data));
