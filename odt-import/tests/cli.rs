//! The `odt-import` command line: help, usage errors and exit codes.

use std::process::Command;

fn odt_import(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_odt-import"))
        .args(args)
        .env_remove("ODT_PASSPHRASE")
        .env_remove("ODT_CONFIG")
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

/// docs/SECURITY.md §S9: the provider must say which orgs a key may target before `--vcd`
/// lands anything in one, and says it one way only (usage errors, exit 2, before any work).
#[test]
fn tenancy_flags_are_checked_before_any_work() {
    let base = ["--nas", "/nonexistent", "--vcenter", "https://vc.invalid"];
    let run = |sub: &str, extra: &[&str]| {
        let mut a = vec![sub];
        a.extend_from_slice(&base);
        a.extend_from_slice(extra);
        odt_import(&a)
    };
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    for sub in ["plan", "run"] {
        // --vcd with a key but no orgs: say what to add.
        let o = run(
            sub,
            &["--trusted-key", "/nonexistent.pub", "--vcd", "https://vcd"],
        );
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        for w in ["--allow-org ORG", "--trust FILE"] {
            assert!(stderr(&o).contains(w), "{sub}: {}", stderr(&o));
        }
        // Neither, both, or --allow-org with --trust.
        let o = run(sub, &[]);
        assert_eq!(o.status.code(), Some(2));
        // (Checked after the config file, whose `trust` may stand in: a usage error still.)
        assert!(
            stderr(&o).contains("--trusted-key KEY.pub or --trust FILE"),
            "{}",
            stderr(&o)
        );
        let o = run(sub, &["--trusted-key", "k.pub", "--trust", "t.toml"]);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
        let o = run(sub, &["--trust", "t.toml", "--allow-org", "acme"]);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
        // An empty org name.
        let o = run(sub, &["--trusted-key", "k.pub", "--allow-org", ""]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    }
    // verify takes --trust too, not both.
    let o = odt_import(&[
        "verify",
        "--nas",
        "/x",
        "--trusted-key",
        "k",
        "--trust",
        "t",
    ]);
    assert_eq!(o.status.code(), Some(2));
    // A trust file that is not there is a failure of the work (exit 1), named.
    let o = odt_import(&[
        "verify",
        "--nas",
        "/x",
        "--trust",
        "/nonexistent-trust.toml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("/nonexistent-trust.toml"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_clap_definition_has_no_clashing_flags() {
    // Short flags (-o, -i, -k, -v) and the global ones must not collide in any command.
    use clap::CommandFactory;
    odt_import::cli::Cli::command().debug_assert();
}
