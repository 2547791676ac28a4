//! `xml_tree`: see `odt_format::fuzzing::fuzz_xml_tree` for the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| odt_format::fuzzing::fuzz_xml_tree(data));
