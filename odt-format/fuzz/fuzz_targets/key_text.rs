//! `key_text`: see `odt_format::fuzzing::fuzz_key_text` for the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| odt_format::fuzzing::fuzz_key_text(data));
