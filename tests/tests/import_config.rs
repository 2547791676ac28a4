//! The provider config file (`odt-import --config FILE`, `ODT_CONFIG`): it supplies what the
//! operator would retype (vCenter, placement, trust file) for `plan` against vcsim; a flag
//! overrides it; an unknown key, a password and a missing named file are usage errors that
//! change nothing; a missing default is no config at all.

use std::path::Path;
use std::process::{Command, Output};

use odt_tests::vcsim::{Options, Vcsim};
use odt_tests::{assert_fails, samples, text, Scratch, PASSPHRASE};

use odt_tests::vcsim::{PASSWORD, USER};

fn vcsim() -> Option<Vcsim> {
    Vcsim::with_login_or_skip(Options::default())
}

/// An exported job, and a trust file beside the config that lets its key target `acme`.
fn exported() -> Scratch {
    let s = Scratch::new();
    s.ok(&s.export_run(&[&samples().join("multi")], &[]));
    std::fs::create_dir(s.path("etc")).unwrap();
    std::fs::copy(s.path("k.pub"), s.path("etc/acme.key.pub")).unwrap();
    std::fs::write(
        s.path("etc/trust.toml"),
        "[[customer]]\nname = \"Acme\"\nkey = \"acme.key.pub\"\n[[customer.org]]\nname = \"acme\"\n",
    )
    .unwrap();
    s
}

/// Writes `etc/import.toml` (paths in it relative to `etc/`).
fn config(s: &Scratch, text: &str) -> String {
    let p = s.path("etc/import.toml");
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

/// `odt-import ARGS` with the vCenter user and password in the environment and no
/// `ODT_CONFIG` unless `env_config` gives one.
fn import(s: &Scratch, args: &[&str], env_config: Option<&str>) -> Output {
    let mut c = Command::new(odt_tests::bin("odt-import"));
    c.args(args)
        .current_dir(s.dir.path())
        .env("ODT_STATE_DIR", s.path("state"))
        .env("ODT_VCENTER_USER", USER)
        .env("ODT_VCENTER_PASSWORD", PASSWORD)
        .env("ODT_PASSPHRASE", PASSPHRASE)
        .env_remove("ODT_CONFIG");
    if let Some(e) = env_config {
        c.env("ODT_CONFIG", e);
    }
    c.output().unwrap()
}

fn full_config(vc: &Vcsim, cluster: &str, datastore: &str) -> String {
    format!(
        "# the dock's usual target\nvcenter = \"{}\"\ncluster = \"{cluster}\"\n\
         datastore = \"{datastore}\"\ntrust = \"trust.toml\"\n",
        vc.url
    )
}

#[test]
fn a_config_supplies_vcenter_placement_and_trust_for_plan() {
    let Some(vc) = vcsim() else { return };
    let s = exported();
    let nas = s.nas();
    let nas = nas.to_str().unwrap();
    let cfg = config(&s, &full_config(&vc, "DC0_C0", "LocalDS_0"));
    let o = import(&s, &["plan", "--nas", nas, "--config", &cfg], None);
    let out = s.ok(&o);
    assert!(out.contains("plan OK"), "{out}");
    assert!(out.contains("DC0_C0") && out.contains("LocalDS_0"), "{out}");
    assert!(
        text(&o.stderr).contains(&format!("using config file {cfg}")),
        "plan says which config file it used: {}",
        text(&o.stderr)
    );
    // ODT_CONFIG names it as well, and the log records it.
    let log = s.path("plan.log");
    let o = import(
        &s,
        &["plan", "--nas", nas, "--log-file", log.to_str().unwrap()],
        Some(&cfg),
    );
    assert!(s.ok(&o).contains("plan OK"));
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("config file") && log.contains(&cfg), "{log}");
}

#[test]
fn a_flag_overrides_the_config() {
    let Some(vc) = vcsim() else { return };
    let s = exported();
    let nas = s.nas();
    let nas = nas.to_str().unwrap();
    let cfg = config(&s, &full_config(&vc, "NO_SUCH_CLUSTER", "NO_SUCH_DS"));
    // The config's values are used: its cluster is named in the failure.
    let o = import(&s, &["plan", "--nas", nas, "--config", &cfg], None);
    assert_fails(&o, 1, &["NO_SUCH_CLUSTER"]);
    let o = import(
        &s,
        &[
            "plan",
            "--nas",
            nas,
            "--config",
            &cfg,
            "--cluster",
            "DC0_C0",
            "--datastore",
            "LocalDS_0",
        ],
        None,
    );
    assert!(s.ok(&o).contains("plan OK"));
    // --trusted-key on the command line replaces the config's trust file (which would
    // refuse this key: it trusts another one).
    std::fs::copy(s.path("p.pub"), s.path("etc/acme.key.pub")).unwrap();
    let kp = s.path("k.pub");
    let o = import(
        &s,
        &[
            "plan",
            "--nas",
            nas,
            "--config",
            &cfg,
            "--cluster",
            "DC0_C0",
            "--datastore",
            "LocalDS_0",
            "--trusted-key",
            kp.to_str().unwrap(),
        ],
        None,
    );
    assert!(s.ok(&o).contains("plan OK"));
}

#[test]
fn bad_config_files_are_usage_errors_naming_the_line() {
    let s = exported();
    let nas = s.nas();
    let nas = nas.to_str().unwrap();
    let plan = |cfg: &str| import(&s, &["plan", "--nas", nas, "--config", cfg], None);

    let cfg = config(&s, "cluster = \"C\"\nclustr = \"D\"\n");
    let o = plan(&cfg);
    assert_fails(
        &o,
        2,
        &[
            &cfg,
            "line 2",
            "unknown key `clustr`",
            "`vcenter`",
            "`cluster`",
            "`datastore`",
            "`identity`",
            "`receipt-key`",
            "`trust`",
            "`state`",
        ],
    );

    for (key, env) in [
        ("vcenter-password", "ODT_VCENTER_PASSWORD"),
        ("password", "ODT_VCENTER_PASSWORD"),
        ("vcd-password", "ODT_VCD_PASSWORD"),
    ] {
        let cfg = config(
            &s,
            &format!("vcenter = \"https://vc\"\n{key} = \"hunter2\"\n"),
        );
        let o = plan(&cfg);
        assert_fails(
            &o,
            2,
            &["line 2", &format!("`{key}`"), env, "password-file"],
        );
        let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
        assert!(
            !all.contains("hunter2"),
            "the password is never repeated: {all}"
        );
    }

    let missing = s.path("etc/none.toml");
    let o = plan(missing.to_str().unwrap());
    assert_fails(&o, 2, &["none.toml", "does not exist", "--config"]);
    let o = import(
        &s,
        &["inspect", "--nas", nas],
        Some(missing.to_str().unwrap()),
    );
    assert_fails(&o, 2, &["none.toml", "ODT_CONFIG"]);
    // A folder is not a config file.
    let o = plan(s.path("etc").to_str().unwrap());
    assert_fails(&o, 2, &["config file"]);
}

#[test]
fn without_a_config_nothing_is_read_and_the_default_missing_is_fine() {
    let default = Path::new("/etc/odt/import.toml");
    if default.exists() {
        // This node has a real config: what the default reads is the unit tests' to show.
        eprintln!("{default:?} exists on this machine: its absence cannot be shown here");
        return;
    }
    let s = exported();
    let nas = s.nas();
    let o = import(&s, &["inspect", "--nas", nas.to_str().unwrap()], None);
    let out = s.ok(&o);
    assert!(out.contains("complete"), "{out}");
    assert!(!text(&o.stderr).contains("config"), "{}", text(&o.stderr));
    // verify with no signer at all names the config file's key too.
    let o = import(&s, &["verify", "--nas", nas.to_str().unwrap()], None);
    assert_fails(&o, 2, &["--trusted-key", "--trust FILE", "config file"]);
}

#[test]
fn verify_takes_the_trust_file_and_state_from_the_config() {
    let s = exported();
    let nas = s.nas();
    let cfg = config(&s, "trust = \"trust.toml\"\nstate = \"../dock-state\"\n");
    let mut c = Command::new(odt_tests::bin("odt-import"));
    c.args(["verify", "--nas", nas.to_str().unwrap(), "--config", &cfg])
        .env_remove("ODT_STATE_DIR")
        .env_remove("ODT_CONFIG");
    let o = c.output().unwrap();
    let out = s.ok(&o);
    assert!(out.contains("dock-state"), "{out}");
    assert!(
        s.path("dock-state").is_dir(),
        "state = is relative to the config's folder"
    );
}
