//! `mf`: see `odt_format::ovf::fuzz_entry::fuzz_mf` for the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| odt_format::ovf::fuzz_entry::fuzz_mf(data));
