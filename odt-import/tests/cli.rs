//! The `odt-import` command line: help, usage errors and exit codes.

use std::process::Command;

fn odt_import(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_odt-import"))
        .args(args)
        .env_remove("ODT_PASSPHRASE")
        .output()
        .unwrap()
}

#[test]
fn help_and_usage() {
    let o = odt_import(&["--help"]);
    assert!(o.status.success());
    let s = String::from_utf8_lossy(&o.stdout);
    for w in ["keygen", "verify", "Exit status"] {
        assert!(s.contains(w), "--help lacks {w}:\n{s}");
    }
    assert_eq!(odt_import(&["verify"]).status.code(), Some(2));
    let o = odt_import(&[
        "verify",
        "--nas",
        "/nonexistent",
        "--trusted-key",
        "/nonexistent.pub",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent.pub"));
}

#[test]
fn keygen_writes_a_private_key_and_a_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("p");
    let o = odt_import(&["keygen", "--out", key.to_str().unwrap(), "--json"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["key_id"].as_str().unwrap().len(), 16);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(std::fs::read_to_string(dir.path().join("p.pub"))
        .unwrap()
        .contains("odt-x25519-public-v1:"));
}
