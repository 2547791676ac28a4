//! The common mistakes of both operators, run as they would make them: each error says what
//! failed, where and what to do, and no line prints its cause twice (issue 13, item 4).

use std::process::Output;

use odt_tests::vcsim::{Options, Vcsim};
use odt_tests::{samples, text, Scratch};

use odt_tests::vcsim::{PASSWORD, USER};

/// Fails when a line of `stderr` repeats a cause: the same `: `-separated part twice, or the
/// same OS error twice. What the anyhow chain printer and an error whose message embeds its
/// `source()` produce together.
fn assert_each_cause_once(what: &str, stderr: &str) {
    for line in stderr.lines() {
        let parts: Vec<&str> = line.split(": ").map(str::trim).collect();
        for (i, p) in parts.iter().enumerate() {
            assert!(
                p.len() < 8 || !parts[i + 1..].contains(p),
                "{what}: the cause {p:?} is printed twice in\n{line}"
            );
        }
        assert!(
            line.matches("(os error").count() <= 1,
            "{what}: an OS error is printed twice in\n{line}"
        );
    }
}

/// Asserts `o` failed with `code`, that its stderr names every needle, and that no line of
/// it repeats a cause. Returns stderr.
fn mistake(what: &str, o: &Output, code: i32, needles: &[&str]) -> String {
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "{what}: exit status\n{err}");
    for n in needles {
        assert!(
            err.contains(n),
            "{what}: stderr does not mention {n:?}:\n{err}"
        );
    }
    assert_each_cause_once(what, &err);
    err
}

#[test]
fn the_checker_itself_catches_a_repeated_cause() {
    let repeated = "odt-import: error: verification failed: open /x.pub: No such file or \
                    directory (os error 2): No such file or directory (os error 2)";
    let r = std::panic::catch_unwind(|| assert_each_cause_once("old text", repeated));
    assert!(r.is_err(), "the repeated cause was not caught");
    assert_each_cause_once(
        "new text",
        "odt-import: error: verification failed: open /x.pub: No such file or directory (os \
         error 2)",
    );
}

#[test]
fn a_missing_key_is_named_once() {
    let s = Scratch::new();
    let nas = s.nas();
    for bin in ["odt-export", "odt-import"] {
        let o = s.cmd(
            bin,
            &[
                "verify",
                "--nas",
                nas.to_str().unwrap(),
                "--trusted-key",
                "/nonexistent.pub",
            ],
            None,
        );
        mistake(bin, &o, 1, &["/nonexistent.pub", "No such file"]);
    }
}

#[test]
fn a_public_key_given_for_a_secret_names_both_files() {
    let s = Scratch::new();
    let (kp, k) = (s.path("k.pub"), s.path("k"));
    let (nas, src) = (s.nas(), samples().join("single"));
    let o = s.export(&[
        "run",
        "--nas",
        nas.to_str().unwrap(),
        "--signing-key",
        kp.to_str().unwrap(),
        "--org",
        "acme",
        "--vdc",
        "acme-vdc",
        src.to_str().unwrap(),
    ]);
    mistake(
        "run --signing-key k.pub",
        &o,
        1,
        &[
            kp.to_str().unwrap(),
            &format!("give {}", k.display()),
            "public key",
        ],
    );
    let (pp, p) = (s.path("p.pub"), s.path("p"));
    let o = s.verify_import(&["--deep", "--identity", pp.to_str().unwrap()]);
    mistake(
        "verify --identity p.pub",
        &o,
        1,
        &[pp.to_str().unwrap(), &format!("give {}", p.display())],
    );
}

#[test]
fn a_recipient_only_job_asks_for_the_identity_and_a_wrong_passphrase_says_so() {
    let s = Scratch::new();
    s.ok(&s.export_run(&[&samples().join("single")], &["--no-passphrase"]));
    // No passphrase to ask for: said before any prompt, with the flag that opens the job.
    let o = s.verify_import(&["--deep"]);
    mistake(
        "recipient-only, no --identity",
        &o,
        2,
        &["--identity", "no passphrase"],
    );

    let s = Scratch::new();
    s.ok(&s.export_run(&[&samples().join("single")], &[]));
    let (nas, kp) = (s.nas(), s.path("k.pub"));
    let o = s.cmd(
        "odt-export",
        &[
            "verify",
            "--nas",
            nas.to_str().unwrap(),
            "--trusted-key",
            kp.to_str().unwrap(),
            "--deep",
        ],
        Some("not the passphrase"),
    );
    mistake("wrong passphrase", &o, 1, &["wrong passphrase"]);
}

#[test]
fn a_mistyped_job_file_key_lists_the_valid_keys() {
    let s = Scratch::new();
    let job = s.path("job.toml");
    let src = samples().join("single");
    std::fs::write(
        &job,
        format!(
            "org = \"acme\"\nvdc = \"acme-vdc\"\n\n[[vm]]\nsource = {:?}\npower_onn = true\n",
            src.to_str().unwrap()
        ),
    )
    .unwrap();
    let o = s.export_run(&[], &["--job", job.to_str().unwrap()]);
    mistake(
        "job file typo",
        &o,
        2,
        &[
            "power_onn",
            "did you mean power_on?",
            "as_template",
            "source",
        ],
    );
    assert!(!s.nas().join("odt-job.json").exists());
}

fn vcsim() -> Option<Vcsim> {
    Vcsim::with_login_or_skip(Options {
        tls: true,
        ..Default::default()
    })
}

fn with_vcenter(s: &Scratch, bin: &str, args: &[&str]) -> Output {
    let mut c = s.command(bin, args, Some(odt_tests::PASSPHRASE));
    c.env("ODT_VCENTER_USER", USER)
        .env("ODT_VCENTER_PASSWORD", PASSWORD);
    c.output().unwrap()
}

#[test]
fn vcenter_mistakes_name_the_flag_or_the_closest_vm() {
    let Some(vc) = vcsim() else { return };
    let s = Scratch::new();
    s.ok(&s.export_run(&[&samples().join("single")], &[]));
    let (nas, kp) = (s.nas(), s.path("k.pub"));
    // An unknown certificate: the flags that get past it, with the thumbprint to pin.
    let o = with_vcenter(
        &s,
        "odt-import",
        &[
            "plan",
            "--nas",
            nas.to_str().unwrap(),
            "--trusted-key",
            kp.to_str().unwrap(),
            "--vcenter",
            &vc.url,
        ],
    );
    mistake(
        "TLS",
        &o,
        1,
        &[
            "TLS certificate not accepted",
            "--vcenter-thumbprint ",
            "--insecure",
        ],
    );
    // A VM name typo: the closest names.
    let out = s.path("nas2");
    std::fs::create_dir(&out).unwrap();
    let k = s.path("k");
    let o = with_vcenter(
        &s,
        "odt-export",
        &[
            "run",
            "--nas",
            out.to_str().unwrap(),
            "--signing-key",
            k.to_str().unwrap(),
            "--org",
            "acme",
            "--vdc",
            "acme-vdc",
            "--vcenter",
            &vc.url,
            "--insecure",
            "DC0_H0_VN0",
        ],
    );
    mistake(
        "VM typo",
        &o,
        1,
        &["\"DC0_H0_VN0\"", "did you mean DC0_H0_VM0"],
    );
}

/// `odt-import plan` against a TLS vcsim (`--insecure`) and the vCD at `vcd_url`, with the
/// vCD user and password given by `vcd_env`.
fn plan_with_vcd(s: &Scratch, vc: &Vcsim, vcd_url: &str, vcd_env: &[(&str, &str)]) -> Output {
    let (nas, kp) = (s.nas(), s.path("k.pub"));
    let mut c = s.command(
        "odt-import",
        &[
            "plan",
            "--nas",
            nas.to_str().unwrap(),
            "--trusted-key",
            kp.to_str().unwrap(),
            "--allow-org",
            "acme",
            "--vcenter",
            &vc.url,
            "--insecure",
            "--vcd",
            vcd_url,
        ],
        None,
    );
    c.env("ODT_VCENTER_USER", USER)
        .env("ODT_VCENTER_PASSWORD", PASSWORD)
        .env_remove("ODT_VCD_USER")
        .env_remove("ODT_VCD_PASSWORD");
    for (k, v) in vcd_env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn vcd_mistakes_name_the_vcd_flags_not_the_vcenter_ones() {
    let Some(vc) = vcsim() else { return };
    let s = Scratch::new();
    s.ok(&s.export_run(&[&samples().join("single")], &[]));
    let user = [("ODT_VCD_USER", "administrator@System")];
    // No vCD user: a usage error naming where it comes from.
    let o = plan_with_vcd(&s, &vc, "https://127.0.0.1:9", &[]);
    mistake("vCD user", &o, 2, &["--vcd-user or ODT_VCD_USER"]);
    // A certificate the vCD connection does not trust (vcsim's self-signed one stands in for
    // the vCD's): the vCD flags that get past it, never the vCenter's.
    let both = [user[0], ("ODT_VCD_PASSWORD", "wrong")];
    let o = plan_with_vcd(&s, &vc, &vc.url.replace("/sdk", ""), &both);
    let err = mistake(
        "vCD TLS",
        &o,
        1,
        &[
            "TLS certificate not accepted",
            "--vcd-thumbprint ",
            "--vcd-insecure",
        ],
    );
    assert!(!err.contains("--vcenter-thumbprint"), "{err}");
    // A wrong password at a real (simulated) vCD: the login failure, its cause once.
    let vcd = odt_tests::vcdsim::VcdSim::start(odt_tests::vcdsim::VcdOptions::new(
        odt_tests::vcdsim::Seed::default_seed(),
    ))
    .expect("start the vCD simulator");
    let o = plan_with_vcd(&s, &vc, &vcd.url, &both);
    mistake(
        "vCD login",
        &o,
        1,
        &[
            "cannot log in to vCloud Director",
            "as administrator@System",
        ],
    );
}

#[test]
fn an_export_without_a_target_is_refused_naming_the_vm_before_writing() {
    let s = Scratch::new();
    let (nas, k, src) = (s.nas(), s.path("k"), samples().join("single"));
    let base = [
        "run",
        "--nas",
        nas.to_str().unwrap(),
        "--signing-key",
        k.to_str().unwrap(),
    ];
    for (extra, needles) in [
        (vec![], vec!["--org and --vdc"]),
        (vec!["--org", "acme"], vec!["no target --vdc", "give --vdc"]),
        (
            vec!["--org", "acme", "--vdc", "v", "--as-template"],
            vec!["--as-template needs a --catalog"],
        ),
    ] {
        let mut args = base.to_vec();
        args.extend(extra);
        args.push(src.to_str().unwrap());
        let o = s.export(&args);
        let mut want = needles.clone();
        want.push(src.to_str().unwrap());
        mistake("no target", &o, 2, &want);
        let left: Vec<_> = std::fs::read_dir(&nas).unwrap().collect();
        assert!(left.is_empty(), "something was written: {left:?}");
    }
}

/// The one JSON document `o` printed on stdout: it parses, has `schema` and `ok` as asked.
fn document(o: &Output, schema: &str, ok: bool) -> serde_json::Value {
    let out = text(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{schema}: one line on stdout, got:\n{out}\n{}",
        text(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(lines[0]).expect("stdout is JSON");
    assert_eq!(v["schema"], schema, "{v}");
    assert_eq!(v["ok"], ok, "{v}");
    assert_eq!(
        o.status.success(),
        ok,
        "{schema}: exit status {:?}",
        o.status
    );
    if !ok {
        // Says why: an error, verify's problems, or inspect's failed signature.
        let sig_failed = v["signature"]
            .as_str()
            .is_some_and(|s| s.starts_with("FAILED"));
        assert!(
            v["error"].is_string() || v["problems"].is_array() || sig_failed,
            "{v}"
        );
    }
    v
}

#[test]
fn every_command_prints_one_versioned_document_on_success_and_failure() {
    let s = Scratch::new();
    let (nas, kp, k) = (s.nas(), s.path("k.pub"), s.path("k"));
    let (nas_s, kp_s) = (nas.to_str().unwrap(), kp.to_str().unwrap());
    let other = s.path("k2");
    document(
        &s.export(&["keygen", "--out", other.to_str().unwrap(), "--json"]),
        "odt.export.keygen/1",
        true,
    );
    let f = document(
        &s.export(&["keygen", "--out", k.to_str().unwrap(), "--json"]),
        "odt.export.keygen/1",
        false,
    );
    assert_eq!(f["error_kind"], "failed");
    document(
        &s.import(&["keygen", "--out", s.path("p2").to_str().unwrap(), "--json"]),
        "odt.import.keygen/1",
        true,
    );
    // Empty NAS: inspect says so; verify fails.
    let v = document(
        &s.export(&["inspect", "--nas", nas_s, "--json"]),
        "odt.export.inspect/1",
        true,
    );
    assert_eq!(v["state"], "empty");
    document(
        &s.export(&["verify", "--nas", nas_s, "--json"]),
        "odt.export.verify/1",
        false,
    );
    // A clap usage error with --json is a document too, of the command named after the
    // global options (not of an option's value), and `unknown` when no command that takes
    // --json is named.
    let f = document(&s.export(&["run", "--json"]), "odt.export.run/2", false);
    assert_eq!(f["error_kind"], "usage");
    let log = s.path("usage.log");
    let f = document(
        &s.import(&[
            "--log-file",
            log.to_str().unwrap(),
            "run",
            "--json",
            "--bogus",
        ]),
        "odt.import.run/1",
        false,
    );
    assert_eq!(f["error_kind"], "usage");
    for args in [
        &["rnu", "--json"][..],
        &["--json"],
        &["completions", "bash", "--json"],
    ] {
        let f = document(&s.export(args), "odt.export.unknown/1", false);
        assert_eq!(f["error_kind"], "usage", "{args:?}: {f}");
    }
    // No target: a usage error of run.
    let src = samples().join("single");
    let f = document(
        &s.export(&[
            "run",
            "--nas",
            nas_s,
            "--signing-key",
            k.to_str().unwrap(),
            "--json",
            src.to_str().unwrap(),
        ]),
        "odt.export.run/2",
        false,
    );
    assert_eq!(f["error_kind"], "usage");
    let v = document(
        &s.export_run(&[&src], &["--json"]),
        "odt.export.run/2",
        true,
    );
    assert!(v["job_id"].is_string());
    document(&s.verify_export(&["--json"]), "odt.export.verify/1", true);
    document(&s.verify_import(&["--json"]), "odt.import.verify/1", true);
    let v = document(
        &s.export(&["inspect", "--nas", nas_s, "--json"]),
        "odt.export.inspect/1",
        true,
    );
    assert_eq!(v["state"], "complete");
    assert_eq!(v["vms"][0]["target"]["org"], "acme");
    assert_eq!(v["stanzas"].as_array().unwrap().len(), 2, "{v}");
    let v = document(
        &s.import(&["inspect", "--nas", nas_s, "--json"]),
        "odt.import.inspect/1",
        true,
    );
    assert_eq!(v["dock"], "verified", "{v}");
    // The importer's commands that need a vCenter fail as documents without one.
    for (cmd, schema) in [("plan", "odt.import.plan/1"), ("run", "odt.import.run/1")] {
        let f = document(
            &s.import(&[cmd, "--nas", nas_s, "--trusted-key", kp_s, "--json"]),
            schema,
            false,
        );
        assert_eq!(f["error_kind"], "usage", "{f}");
    }
    let f = document(
        &s.import(&["add-port-group", "--json"]),
        "odt.import.add-port-group/1",
        false,
    );
    assert_eq!(f["error_kind"], "usage");
    let f = document(
        &s.export(&[
            "verify-receipt",
            "--receipt",
            "/nonexistent.json",
            "--provider-key",
            kp_s,
            "--manifest",
            nas.join("odt-job.json").to_str().unwrap(),
            "--json",
        ]),
        "odt.export.verify-receipt/1",
        false,
    );
    assert_eq!(f["error_kind"], "failed");
}

#[test]
fn inspect_of_a_nas_whose_signature_fails_says_so_and_exits_1() {
    let s = Scratch::new();
    let nas = s.nas();
    let nas_s = nas.to_str().unwrap();
    s.ok(&s.export_run(&[&samples().join("single")], &[]));
    // A hostile courier edits the signed manifest (the VM's target org).
    let manifest = nas.join("odt-job.json");
    let edited = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("\"acme\"", "\"evil\"");
    std::fs::write(&manifest, edited).unwrap();
    let o = s.export(&["inspect", "--nas", nas_s]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("signature FAILED"),
        "{}",
        text(&o.stdout)
    );
    let v = document(
        &s.export(&["inspect", "--nas", nas_s, "--json"]),
        "odt.export.inspect/1",
        false,
    );
    assert!(
        v["signature"].as_str().unwrap().starts_with("FAILED"),
        "{v}"
    );
    document(
        &s.import(&["inspect", "--nas", nas_s, "--json"]),
        "odt.import.inspect/1",
        false,
    );
}

#[test]
fn inspect_names_each_vm_its_target_keys_and_the_dock() {
    let s = Scratch::new();
    let nas = s.nas();
    let nas_s = nas.to_str().unwrap();
    s.ok(&s.export_run(
        &[&samples().join("single"), &samples().join("multi.ova")],
        &["--network", "acme-net", "--power-on"],
    ));
    let out = s.ok(&s.export(&["inspect", "--nas", nas_s]));
    for needle in [
        "complete",
        "signature consistent with its embedded key",
        "opens with: the passphrase",
        "opens with: recipient key",
        "VM 1/2",
        "VM 2/2",
        "target: org acme, VDC acme-vdc, network acme-net, vApp, powered on",
        "total: 2 VM(s)",
    ] {
        assert!(out.contains(needle), "{needle:?} not in\n{out}");
    }
    let out = s.ok(&s.import(&["inspect", "--nas", nas_s]));
    assert!(out.contains("import: not started on this node"), "{out}");
    assert!(out.contains("dock: the NAS has not been verified"), "{out}");
    s.ok(&s.verify_at_dock());
    let out = s.ok(&s.import(&["inspect", "--nas", nas_s]));
    assert!(out.contains("dock: verified at the dock on"), "{out}");
}

#[test]
fn every_odt_variable_the_code_reads_is_in_a_help_environment_section() {
    let s = Scratch::new();
    let help: String = ["odt-export", "odt-import"]
        .iter()
        .map(|b| s.ok(&s.cmd(b, &["--help"], None)))
        .collect();
    assert!(help.contains("Environment:"), "{help}");
    let ws = odt_tests::workspace();
    let mut vars = std::collections::BTreeSet::new();
    for dir in [
        "odt-export/src",
        "odt-import/src",
        "odt-format/cli/src",
        "odt-format/src",
    ] {
        for e in walk(&ws.join(dir)) {
            let t = std::fs::read_to_string(&e).unwrap_or_default();
            for (i, _) in t.match_indices("\"ODT_") {
                let name: String = t[i + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                    .collect();
                vars.insert(name);
            }
        }
    }
    assert!(vars.contains("ODT_PASSPHRASE"), "{vars:?}");
    for v in &vars {
        assert!(
            help.contains(v.as_str()),
            "{v} is read but not in any --help"
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}
