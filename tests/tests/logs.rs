//! Logs for support (issue 13, item 2): `--log-file` of a `plan` against vcsim names every
//! SOAP method vcsim itself saw (its `-v` trace is the log-free side) and holds neither the
//! password, the session cookie (vcsim's cookie is the session key it puts in the ids of
//! session-scoped objects, which its trace shows), nor a vCD token; a `run` against both
//! simulators logs each vCD request with the request id vCD answered; the default stays quiet;
//! a log file that cannot be created is a usage error before any work.

use std::collections::BTreeSet;

use odt_tests::vcdsim::{Seed, VcdOptions, VcdSim, VcsimLink};
use odt_tests::vcsim::{Options, Vcsim};
use odt_tests::{assert_fails, samples, text, Scratch, PASSPHRASE};

use odt_tests::vcsim::{PASSWORD, USER};
const VCD_USER: &str = "administrator@System";
const VCD_PASSWORD: &str = "vmware-vcd-s3cret";

struct Sims {
    vc: Vcsim,
    vcd: VcdSim,
}

fn sims() -> Option<Sims> {
    let vc = Vcsim::with_login_or_skip(Options {
        args: vec!["-v".into()],
        ..Default::default()
    })?;
    let mut opts = VcdOptions::new(Seed::default_seed());
    opts.vcsim = Some(VcsimLink {
        url: vc.url.clone(),
        user: USER.into(),
        password: PASSWORD.into(),
    });
    opts.users = vec![(VCD_USER.into(), VCD_PASSWORD.into())];
    let vcd = VcdSim::start(opts).expect("start the vCD simulator");
    Some(Sims { vc, vcd })
}

/// A one-VM job (`single`, a vApp on acme-net) and the provider's receipt key.
fn job() -> Scratch {
    let s = Scratch::new();
    let job = s.path("job.toml");
    let toml = format!(
        "org = \"acme\"\nvdc = \"acme-vdc\"\n\n[[vm]]\nsource = \"{}\"\nnetwork = \"acme-net\"\n",
        samples().join("single").display()
    );
    std::fs::write(&job, toml).unwrap();
    s.ok(&s.export_run(&[], &["--job", job.to_str().unwrap()]));
    let rk = s.path("receipt.key");
    s.ok(&s.import(&["keygen", "--receipt", "--out", rk.to_str().unwrap()]));
    s
}

/// `odt-import SUB` against both simulators with `extra` and the environment `env`.
fn import(
    s: &Scratch,
    sims: &Sims,
    sub: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let p = |n: &str| s.path(n).to_str().unwrap().to_owned();
    let mut args: Vec<String> = [sub, "--nas", s.nas().to_str().unwrap()]
        .into_iter()
        .chain(["--trusted-key", &p("k.pub"), "--allow-org", "acme"])
        .chain(["--vcenter", &sims.vc.url, "--cluster", "DC0_C0"])
        .chain(["--vcd", &sims.vcd.url, "--state", &p("state")])
        .map(str::to_owned)
        .collect();
    if sub == "run" {
        args.extend(["--identity", &p("p"), "--receipt-key", &p("receipt.key")].map(String::from));
        args.push("--verify-now".into());
    }
    args.extend(extra.iter().map(|x| x.to_string()));
    let mut c = std::process::Command::new(odt_tests::bin("odt-import"));
    c.args(&args)
        .current_dir(s.dir.path())
        .env_remove("ODT_LOG")
        .env("ODT_VCENTER_USER", USER)
        .env("ODT_VCENTER_PASSWORD", PASSWORD)
        .env("ODT_VCD_USER", VCD_USER)
        .env("ODT_VCD_PASSWORD", VCD_PASSWORD)
        .env("ODT_PASSPHRASE", PASSPHRASE);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// The SOAP methods vcsim's `-v` trace shows it was asked, in a set.
fn vcsim_methods(trace: &str) -> BTreeSet<String> {
    trace
        .lines()
        .filter_map(|l| l.strip_prefix("Request: "))
        .filter_map(|body| {
            let after = body.split_once("Body>")?.1.trim_start();
            let name = after.strip_prefix('<')?;
            let end = name.find([' ', '>', '/'])?;
            let name = &name[..end];
            Some(name.rsplit(':').next().unwrap_or(name).to_owned())
        })
        .collect()
}

/// The SOAP methods our log names (`method=NAME` of each `soap` event).
fn logged_methods(log: &str) -> BTreeSet<String> {
    log.lines()
        .filter(|l| l.contains("odt_vmware::vsphere::client") && l.contains(" soap"))
        .filter_map(|l| l.split_once("method=")?.1.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The session keys (= vcsim's `vmware_soap_session` cookie values) in vcsim's trace: the
/// `session[KEY]` prefix of session-scoped object ids.
fn session_keys(trace: &str) -> BTreeSet<String> {
    trace
        .split("session[")
        .skip(1)
        .filter_map(|rest| rest.split_once(']').map(|(k, _)| k.to_owned()))
        .filter(|k| k.len() >= 8)
        .collect()
}

/// Fails when `log` holds any secret the run had.
fn assert_no_secret(log: &str, sims: &Sims, keys: &BTreeSet<String>) {
    for secret in [PASSWORD, VCD_PASSWORD, PASSPHRASE, "vmware_soap_session"] {
        assert!(!log.contains(secret), "the log holds {secret:?}:\n{log}");
    }
    for k in keys {
        assert!(
            !log.contains(k.as_str()),
            "the log holds the session key {k}"
        );
    }
    let tokens = sims.vcd.session_tokens();
    assert!(!tokens.is_empty(), "odt logged in to vCD");
    for t in &tokens {
        assert!(!log.contains(t.as_str()), "the log holds a vCD token");
    }
    let lower = log.to_ascii_lowercase();
    for header in [
        "authorization:",
        "x-vcloud-authorization",
        "cookie:",
        "basic ",
    ] {
        assert!(!lower.contains(header), "the log holds {header:?}");
    }
}

#[test]
fn plan_log_names_every_soap_method_and_holds_no_secret() {
    let Some(sims) = sims() else { return };
    let s = job();
    let log = s.path("plan.log");
    let o = import(
        &s,
        &sims,
        "plan",
        &["--log-file", log.to_str().unwrap()],
        &[],
    );
    s.ok(&o);
    assert!(
        !text(&o.stderr).contains("odt_vmware"),
        "no log line on stderr without ODT_LOG:\n{}",
        text(&o.stderr)
    );
    let log = std::fs::read_to_string(&log).unwrap();
    let trace = sims.vc.log();
    let seen = vcsim_methods(&trace);
    for m in [
        "RetrieveServiceContent",
        "Login",
        "RetrievePropertiesEx",
        "Logout",
    ] {
        assert!(seen.contains(m), "vcsim saw no {m}: {seen:?}");
    }
    assert_eq!(
        logged_methods(&log),
        seen,
        "the log names each SOAP method vcsim saw"
    );
    // Each call with its status and duration; the plan's decisions; vCD requests.
    assert!(
        log.contains("method=Login") && log.contains("status=200"),
        "{log}"
    );
    assert!(log.contains(" ms="), "{log}");
    assert!(log.contains("plan check"), "{log}");
    assert!(
        log.contains(" vcd ") && log.contains("url=http://127.0.0.1"),
        "{log}"
    );
    let keys = session_keys(&trace);
    assert!(!keys.is_empty(), "vcsim's trace shows session-scoped ids");
    assert_no_secret(&log, &sims, &keys);
}

#[test]
fn run_log_names_each_vcd_request_with_its_request_id() {
    let Some(sims) = sims() else { return };
    let s = job();
    let log = s.path("run.log");
    let o = import(
        &s,
        &sims,
        "run",
        &["--log-file", log.to_str().unwrap()],
        &[("ODT_LOG", "trace")],
    );
    s.ok(&o);
    let log = std::fs::read_to_string(&log).unwrap();
    let answered = sims.vcd.requests();
    assert!(answered.len() > 5);
    for r in &answered {
        assert!(
            log.contains(&format!("request_id={}", r.request_id)),
            "{} {} (request id {}) is not in the log:\n{log}",
            r.method,
            r.path,
            r.request_id
        );
    }
    assert!(log.contains("client_request_id=odt-"), "{log}");
    for needle in ["lease progress", "journal checkpoint", "method=ImportVApp"] {
        assert!(log.contains(needle), "no {needle:?} in the log:\n{log}");
    }
    assert_no_secret(&log, &sims, &session_keys(&sims.vc.log()));
}

#[test]
fn odt_log_alone_logs_to_stderr_and_a_bad_log_file_is_a_usage_error() {
    let s = Scratch::new();
    let nas = s.nas();
    let args = ["inspect", "--nas", nas.to_str().unwrap()];
    // Nothing on the NAS: inspect fails either way; only ODT_LOG puts log lines on stderr.
    let quiet = s
        .command("odt-import", &args, None)
        .env_remove("ODT_LOG")
        .output()
        .unwrap();
    assert!(
        !text(&quiet.stderr).contains(" INFO "),
        "{}",
        text(&quiet.stderr)
    );
    let loud = s
        .command("odt-import", &args, None)
        .env("ODT_LOG", "info")
        .output()
        .unwrap();
    assert!(
        text(&loud.stderr).contains(" INFO "),
        "{}",
        text(&loud.stderr)
    );
    let missing = s.path("no/such/dir/odt.log");
    let o = s.import(&[
        "inspect",
        "--nas",
        nas.to_str().unwrap(),
        "--log-file",
        missing.to_str().unwrap(),
    ]);
    assert_fails(
        &o,
        2,
        &["cannot create the log file", "no/such/dir/odt.log"],
    );
    let o = s
        .command(
            "odt-export",
            &["inspect", "--nas", nas.to_str().unwrap()],
            None,
        )
        .env("ODT_LOG", "loud=please=now")
        .output()
        .unwrap();
    assert_fails(&o, 2, &["ODT_LOG=\"loud=please=now\""]);
}
