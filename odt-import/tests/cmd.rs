//! The help and error texts of `odt-import`, pinned byte for byte by the cases in `tests/cmd/`
//! (one `.toml` per invocation, its expected output beside it). After an intended change to a
//! text: `TRYCMD=overwrite cargo test -p odt-import --test cmd`, then review the diff.

#[test]
fn help_and_error_texts() {
    trycmd::TestCases::new().case("tests/cmd/*.toml");
}
