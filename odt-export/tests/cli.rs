//! The `odt-export` command line: help, usage errors and exit codes (no NAS work here; the
//! end-to-end flows live in the workspace `tests/` crate).

use std::process::Command;

fn odt_export(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_odt-export"))
        .args(args)
        .env_remove("ODT_PASSPHRASE")
        .output()
        .unwrap()
}

#[test]
fn help_teaches_the_subcommands_and_exit_codes() {
    let o = odt_export(&["--help"]);
    assert!(o.status.success());
    let s = String::from_utf8_lossy(&o.stdout);
    for w in ["keygen", "run", "verify", "Exit status", "--trusted-key"] {
        assert!(s.contains(w), "--help lacks {w}:\n{s}");
    }
    let o = odt_export(&["run", "--help"]);
    let s = String::from_utf8_lossy(&o.stdout);
    for w in [
        "--nas",
        "--signing-key",
        "--recipient",
        "--job",
        "--org",
        "--vdc",
        "--network",
        "--catalog",
        "--as-template",
        "--power-on",
        "ODT_PASSPHRASE",
    ] {
        assert!(s.contains(w), "run --help lacks {w}:\n{s}");
    }
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(odt_export(&["run"]).status.code(), Some(2));
    assert_eq!(odt_export(&["frobnicate"]).status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    assert!(odt_export(&["keygen", "--out", key.to_str().unwrap()])
        .status
        .success());
    // No SOURCE at all.
    let o = odt_export(&[
        "run",
        "--nas",
        dir.path().to_str().unwrap(),
        "--signing-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // --no-passphrase without a recipient would leave nobody able to open the job.
    let o = odt_export(&[
        "run",
        "--nas",
        "x",
        "--signing-key",
        "k",
        "--no-passphrase",
        "a.ova",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn keygen_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    assert!(odt_export(&["keygen", "--out", key.to_str().unwrap()])
        .status
        .success());
    let before = std::fs::read(&key).unwrap();
    let o = odt_export(&["keygen", "--out", key.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(&key).unwrap(), before);
}

#[test]
fn the_clap_definition_has_no_clashing_flags() {
    // Short flags (-o, -i, -k, -v, -r) and the global ones must not collide in any command.
    use clap::CommandFactory;
    odt_export::cli::Cli::command().debug_assert();
}
