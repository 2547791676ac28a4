//! The provider side against vCenter (govmomi's vcsim, extended by tests/vcsim): export a
//! multi-disk multi-NIC VM, then `odt-import plan` and `run` into vcsim; the failure cases of
//! `plan`; and a connection cut mid-upload.

use std::path::Path;

use odt_tests::vcsim::{Options, Vcsim};
use odt_tests::{assert_fails, samples, sha256_file, Scratch, PASSPHRASE};
use odt_vmware::vsphere::client::Client;
use odt_vmware::vsphere::inventory::{find_vm, vm_info, NicBacking, Placement};
use odt_vmware::wire::TlsMode;

use odt_tests::vcsim::{PASSWORD, USER};

fn vcsim(args: &[&str]) -> Option<Vcsim> {
    Vcsim::with_login_or_skip(Options {
        args: args.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    })
}

/// Runs `odt-import SUB` with the job, vCenter and placement options.
fn import(
    s: &Scratch,
    vc: &Vcsim,
    sub: &str,
    extra: &[&str],
    password: &str,
) -> std::process::Output {
    let kp = s.path("k.pub");
    import_as(
        s,
        vc,
        sub,
        &["--trusted-key", kp.to_str().unwrap()],
        extra,
        password,
    )
}

/// [`import`] with `signer` (`--trusted-key KEY` or `--trust FILE`) instead of `k.pub`.
fn import_as(
    s: &Scratch,
    vc: &Vcsim,
    sub: &str,
    signer: &[&str],
    extra: &[&str],
    password: &str,
) -> std::process::Output {
    let nas = s.nas();
    let id = s.path("p");
    let state = s.path("state");
    let mut args = vec![sub, "--nas", nas.to_str().unwrap()];
    args.extend_from_slice(signer);
    args.extend(["--vcenter", &vc.url, "--cluster", "DC0_C0"]);
    let (id_s, state_s) = (
        id.to_str().unwrap().to_owned(),
        state.to_str().unwrap().to_owned(),
    );
    if sub == "run" {
        args.extend(["--identity", &id_s, "--state", &state_s]);
    }
    args.extend_from_slice(extra);
    if sub == "run" && !extra.contains(&"--verify-now") {
        s.verify_at_dock();
    }
    let mut c = std::process::Command::new(odt_tests::bin("odt-import"));
    c.args(&args)
        .current_dir(s.dir.path())
        .env("ODT_STATE_DIR", s.path("state"))
        .env("ODT_VCENTER_USER", USER)
        .env("ODT_VCENTER_PASSWORD", password)
        .env("ODT_PASSPHRASE", PASSPHRASE);
    c.output().unwrap()
}

fn client(vc: &Vcsim) -> Client {
    Client::connect(&vc.url, USER, PASSWORD, TlsMode::Verify).expect("connect")
}

fn exported(sources: &[&Path]) -> Scratch {
    let s = Scratch::new();
    s.ok(&s.export_run(sources, &[]));
    s
}

#[test]
fn a_multi_disk_multi_nic_vm_lands_on_vm_network_with_the_original_bytes() {
    let Some(vc) = vcsim(&[]) else { return };
    let s = exported(&[&samples().join("multi")]);
    let plan = s.ok(&import(&s, &vc, "plan", &[], PASSWORD));
    assert!(plan.contains("plan OK"), "{plan}");
    let out = s.ok(&import(&s, &vc, "run", &["--json"], PASSWORD));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["ok"], true, "{out}");
    assert_eq!(report["vms"][0]["outcome"], "deployed");

    // The VM, its disks and NICs, read back from vCenter.
    let c = client(&vc);
    let p = Placement::resolve(&c, None, Some("DC0_C0"), None, None).unwrap();
    let vm = find_vm(&c, &p.vm_folder, "multi")
        .unwrap()
        .expect("VM multi exists");
    let info = vm_info(&c, &vm).unwrap();
    assert_eq!(info.disks.len(), 3, "{info:?}");
    let mut caps: Vec<u64> = info.disks.iter().map(|d| d.capacity_kb).collect();
    caps.sort();
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.nas().join("odt-job.json")).unwrap()).unwrap();
    let mut want: Vec<u64> = m["vms"][0]["summary"]["disk_capacities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() / 1024)
        .collect();
    want.sort();
    assert_eq!(caps, want);
    assert_eq!(info.nics.len(), 2, "{info:?}");
    for nic in &info.nics {
        match &nic.backing {
            NicBacking::Network { device_name, .. } => assert_eq!(device_name, "VM Network"),
            other => panic!("NIC {} is on {other:?}, not VM Network", nic.label),
        }
    }
    assert!(info
        .extra_config
        .iter()
        .any(|(k, v)| k == "odt.job" && v == m["job_id"].as_str().unwrap()));

    // The bytes vcsim received are the original VMDKs.
    let got = vc.captured("multi");
    assert_eq!(got.len(), 3, "{got:?}");
    for disk in ["multi-disk1.vmdk", "multi-disk2.vmdk", "multi-disk3.vmdk"] {
        let orig = sha256_file(&samples().join("multi").join(disk));
        assert!(
            got.iter().any(|(_, p)| sha256_file(p) == orig),
            "no upload of {disk} has its SHA-256 {orig}: {got:?}"
        );
    }

    // A rerun recognises the VM by its marker and uploads nothing.
    let out = s.ok(&import(&s, &vc, "run", &["--json"], PASSWORD));
    let again: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        again["vms"][0]["outcome"], "skipped (already deployed)",
        "{out}"
    );
    assert_eq!(vc.captured("multi").len(), 3);
}

#[test]
fn plan_refuses_and_deploys_nothing_when_the_target_or_the_job_is_wrong() {
    let Some(vc) = vcsim(&[]) else { return };
    let s = exported(&[&samples().join("single")]);
    // Wrong vCenter password.
    let o = import(&s, &vc, "plan", &[], "wrong-password");
    assert_fails(&o, 1, &["cannot log in to vCenter", "InvalidLogin"]);
    // Wrong signature: a manifest edited after signing.
    let mpath = s.nas().join("odt-job.json");
    let orig = std::fs::read_to_string(&mpath).unwrap();
    std::fs::write(&mpath, orig.replace("\"single\"", "\"single-x\"")).unwrap();
    for sub in ["plan", "run"] {
        assert_fails(&import(&s, &vc, sub, &[], PASSWORD), 1, &["signature"]);
    }
    std::fs::write(&mpath, &orig).unwrap();
    // A name taken by a VM this job did not deploy: a second job of the same VM.
    s.ok(&import(&s, &vc, "run", &[], PASSWORD));
    let s2 = exported(&[&samples().join("single")]);
    let o = import(&s2, &vc, "plan", &[], PASSWORD);
    assert_fails(
        &o,
        1,
        &[
            "FAIL",
            "name \"single\" is free",
            "was not deployed by this job",
        ],
    );
    let o = import(&s2, &vc, "run", &[], PASSWORD);
    assert_fails(&o, 1, &["nothing was deployed"]);
    // A datastore too small: a VM whose disk claims 1 PiB of capacity.
    let big = s.path("huge");
    odt_tests::make_big_ovf(&big, "huge", 1 << 20);
    let ovf = big.join("huge.ovf");
    let text = std::fs::read_to_string(&ovf).unwrap().replace(
        "ovf:capacity=\"1048576\"",
        "ovf:capacity=\"1125899906842624\"",
    );
    std::fs::write(&ovf, &text).unwrap();
    rewrite_mf(&big, "huge");
    let s3 = exported(&[&big]);
    let o = import(&s3, &vc, "plan", &[], PASSWORD);
    assert_fails(&o, 1, &["room on datastore", "needed"]);
    assert!(vc.captured("huge").is_empty());
}

#[test]
fn a_host_lacking_vm_network_is_named_and_can_be_fixed() {
    let Some(vc) = vcsim(&["-hosts-without-vm-network", "DC0_C0_H1"]) else {
        return;
    };
    let s = exported(&[&samples().join("single")]);
    let o = import(&s, &vc, "plan", &[], PASSWORD);
    assert_fails(&o, 1, &["missing on DC0_C0_H1", "add-port-group"]);
    assert_fails(
        &import(&s, &vc, "run", &[], PASSWORD),
        1,
        &["DC0_C0_H1", "nothing was deployed"],
    );
    assert!(vc.captured("single").is_empty());
    // The operator adds the port group, then the plan passes.
    let mut c = std::process::Command::new(odt_tests::bin("odt-import"));
    let o = c
        .args([
            "add-port-group",
            "--vcenter",
            &vc.url,
            "--cluster",
            "DC0_C0",
        ])
        .env("ODT_VCENTER_USER", USER)
        .env("ODT_VCENTER_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    let out = s.ok(&o);
    assert!(out.contains("DC0_C0_H1"), "{out}");
    s.ok(&import(&s, &vc, "plan", &[], PASSWORD));
}

#[test]
fn a_connection_cut_mid_upload_aborts_the_lease_leaves_no_vm_and_the_rerun_completes() {
    let Some(vc) = vcsim(&[]) else { return };
    let s = exported(&[&samples().join("multi")]);
    vc.fail_next_uploads(500_000, None, 1).unwrap();
    let o = import(&s, &vc, "run", &[], PASSWORD);
    assert_fails(&o, 1, &["upload failed", "lease was aborted", "rerun"]);
    let c = client(&vc);
    let p = Placement::resolve(&c, None, Some("DC0_C0"), None, None).unwrap();
    assert!(
        find_vm(&c, &p.vm_folder, "multi").unwrap().is_none(),
        "a half-made VM was left behind"
    );
    assert!(
        vc.leases().iter().any(|l| l["state"] == "aborted"),
        "{:?}",
        vc.leases()
    );
    // Cut again under --json: one document, the run's report with the error, not two.
    vc.fail_next_uploads(500_000, None, 1).unwrap();
    let o = import(&s, &vc, "run", &["--json"], PASSWORD);
    assert_eq!(o.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(stdout.lines().count(), 1, "one document: {stdout}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON document");
    assert_eq!(doc["schema"], "odt.import.run/1", "{doc}");
    assert_eq!(doc["ok"], false, "{doc}");
    assert_eq!(doc["error_kind"], "failed", "{doc}");
    assert!(
        doc["error"].as_str().unwrap().contains("upload failed"),
        "{doc}"
    );
    assert!(doc["failed"].as_str().unwrap().contains("multi"), "{doc}");
    assert_eq!(doc["vms"], serde_json::json!([]), "{doc}");
    // The rerun completes.
    s.ok(&import(&s, &vc, "run", &[], PASSWORD));
    assert!(find_vm(&c, &p.vm_folder, "multi").unwrap().is_some());
    for disk in ["multi-disk1.vmdk", "multi-disk2.vmdk", "multi-disk3.vmdk"] {
        let orig = sha256_file(&samples().join("multi").join(disk));
        assert!(
            vc.captured("multi")
                .iter()
                .any(|(_, p)| sha256_file(p) == orig),
            "{disk}"
        );
    }
}

fn rewrite_mf(dir: &Path, name: &str) {
    use sha2::Digest;
    let mut mf = String::new();
    for f in [format!("{name}.ovf"), format!("{name}-disk1.vmdk")] {
        let d = hex::encode(sha2::Sha256::digest(std::fs::read(dir.join(&f)).unwrap()));
        mf.push_str(&format!("SHA256({f})= {d}\n"));
    }
    std::fs::write(dir.join(format!("{name}.mf")), mf).unwrap();
}

#[test]
fn a_vapp_lands_as_one_virtual_app_with_every_vm_on_vm_network() {
    let Some(vc) = vcsim(&[]) else { return };
    let s = exported(&[&samples().join("vapp")]);
    let out = s.ok(&import(&s, &vc, "run", &["--json"], PASSWORD));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        report["vms"][0]["entity"]
            .as_str()
            .unwrap()
            .starts_with("VirtualApp:"),
        "{out}"
    );
    let c = client(&vc);
    let p = Placement::resolve(&c, None, Some("DC0_C0"), None, None).unwrap();
    for (vm, disk) in [("web", "vapp-disk1.vmdk"), ("db", "vapp-disk2.vmdk")] {
        let moref = find_vm(&c, &p.vm_folder, vm)
            .unwrap()
            .unwrap_or_else(|| panic!("VM {vm} of the vApp"));
        let info = vm_info(&c, &moref).unwrap();
        assert!(!info.nics.is_empty());
        for nic in &info.nics {
            assert!(
                matches!(&nic.backing, NicBacking::Network { device_name, .. } if device_name == "VM Network"),
                "{nic:?}"
            );
        }
        let orig = sha256_file(&samples().join("vapp").join(disk));
        assert!(
            vc.captured(vm).iter().any(|(_, f)| sha256_file(f) == orig),
            "{vm}: {disk}"
        );
    }
    let again = s.ok(&import(&s, &vc, "run", &["--json"], PASSWORD));
    assert!(again.contains("skipped (already deployed)"), "{again}");
}

/// docs/SECURITY.md §S1: a signed job whose disk decrypts fine but does not match the
/// package's own `.mf` (a hostile or buggy customer) is refused by `run` with exit 1, on the
/// bytes being uploaded: the lease is aborted, no VM is left in vCenter and no receipt claims
/// the digest. Keyless verify cannot see this (every chunk matches its signed digest); deep
/// verify can.
#[test]
fn a_disk_that_does_not_match_its_mf_is_refused_on_upload_and_leaves_nothing() {
    let Some(vc) = vcsim(&[]) else { return };
    let s = exported(&[&samples().join("single")]);
    let disk = samples().join("single").join("single-disk1.vmdk");
    let mut bytes = std::fs::read(&disk).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    odt_tests::reseal_as_customer(
        &s.nas(),
        &s.path("k"),
        &s.path("p"),
        "vm-000",
        "single-disk1.vmdk",
        &bytes,
    );
    s.ok(&s.verify_import(&[]));
    let id = s.path("p");
    assert_fails(
        &s.verify_import(&["--deep", "--identity", id.to_str().unwrap()]),
        1,
        &["single-disk1.vmdk", ".mf"],
    );
    let o = import(
        &s,
        &vc,
        "run",
        &["--receipt-key", s.path("k").to_str().unwrap()],
        PASSWORD,
    );
    assert_fails(
        &o,
        1,
        &[
            "single-disk1.vmdk",
            "does not match the package's .mf",
            "Rerunning will not help",
        ],
    );
    let c = client(&vc);
    let p = Placement::resolve(&c, None, Some("DC0_C0"), None, None).unwrap();
    assert!(
        find_vm(&c, &p.vm_folder, "single").unwrap().is_none(),
        "a VM whose disk failed its .mf check was left in vCenter"
    );
    assert!(
        vc.leases().iter().all(|l| l["state"] != "done"),
        "a lease was completed: {:?}",
        vc.leases()
    );
    let receipts: Vec<_> = std::fs::read_dir(s.path("state"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("receipt"))
        .collect();
    assert!(receipts.is_empty(), "a receipt was written: {receipts:?}");
}

/// What vcsim holds of this test's VMs: no VM named `name`, no lease ever made.
fn assert_nothing_deployed(vc: &Vcsim, names: &[&str]) {
    let c = client(vc);
    let p = Placement::resolve(&c, None, Some("DC0_C0"), None, None).unwrap();
    for name in names {
        assert!(
            find_vm(&c, &p.vm_folder, name).unwrap().is_none(),
            "VM {name} was deployed"
        );
    }
    assert!(
        vc.leases().is_empty(),
        "a lease was made: {:?}",
        vc.leases()
    );
}

/// docs/SECURITY.md §S2: `run` refuses, before deploying anything (not even the first VM),
/// any NAS that keyless `verify` would refuse: one never verified at the dock, and one that
/// changed after it was verified (bytes appended after the final chunk of the *second* VM,
/// an altered `.sums`, an unexpected file). `--verify-now` does the keyless pass itself and
/// says the NAS is damaged and that rerunning will not help.
#[test]
fn run_refuses_a_nas_that_verify_would_refuse_and_deploys_nothing() {
    let Some(vc) = vcsim(&[]) else { return };
    let (single, multi) = (samples().join("single"), samples().join("multi"));
    let sources: [&Path; 2] = [&single, &multi];
    let names = ["single", "multi"];
    // Never verified at the dock.
    let s = exported(&sources);
    let o = run_unverified(&s, &vc);
    assert_fails(
        &o,
        1,
        &[
            "not been verified at the dock",
            "odt-import verify",
            "--verify-now",
            "nothing was deployed",
        ],
    );
    assert_nothing_deployed(&vc, &names);

    type Tamper = fn(&std::path::Path);
    let tampers: [(&str, Tamper, &str); 3] = [
        (
            "bytes appended to VM 2's disk",
            |nas| {
                append(&nas.join("data/vm-001/multi-disk3.vmdk.odt"), b"more");
            },
            "data/vm-001/multi-disk3.vmdk.odt: size",
        ),
        (
            "an altered .sums",
            |nas| {
                let p = nas.join("data/vm-001/multi-disk1.vmdk.odt.sums");
                let mut b = std::fs::read(&p).unwrap();
                b[0] ^= 1;
                std::fs::write(&p, b).unwrap();
            },
            "data/vm-001/multi-disk1.vmdk.odt.sums: modified",
        ),
        (
            "an unexpected file",
            |nas| {
                std::fs::write(nas.join("data/vm-000/extra.bin"), b"x").unwrap();
            },
            "data/vm-000/extra.bin: added",
        ),
    ];
    for (what, tamper, named) in tampers {
        let s = exported(&sources);
        s.ok(&s.verify_at_dock());
        tamper(&s.nas());
        let o = run_unverified(&s, &vc);
        assert_fails(
            &o,
            1,
            &[
                "changed since it was verified at the dock",
                named,
                "nothing was deployed",
            ],
        );
        assert_nothing_deployed(&vc, &names);
        // verify refuses it too, and a failed verification leaves no record that vouches.
        assert_fails(&s.verify_at_dock(), 1, &["FAILED"]);
        // run --verify-now reads it all again: the damage is named, with no advice to rerun.
        let o = import(&s, &vc, "run", &["--verify-now"], PASSWORD);
        assert_fails(
            &o,
            1,
            &[
                "the NAS is damaged",
                "rerunning will not help",
                "nothing was deployed",
            ],
        );
        assert!(
            !odt_tests::text(&o.stderr).contains("(rerun the same command"),
            "{what}"
        );
        assert_nothing_deployed(&vc, &names);
    }
    // An intact job with --verify-now deploys both VMs, and leaves the record.
    s.ok(&import(&s, &vc, "run", &["--verify-now"], PASSWORD));
    assert!(s.path("state").read_dir().unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("dock-")));
}

/// `odt-import run` without the dock verification the `import` helper does first.
fn run_unverified(s: &Scratch, vc: &Vcsim) -> std::process::Output {
    std::process::Command::new(odt_tests::bin("odt-import"))
        .args(s.import_run_args(&vc.url))
        .env("ODT_VCENTER_USER", USER)
        .env("ODT_VCENTER_PASSWORD", PASSWORD)
        .output()
        .unwrap()
}

fn append(p: &std::path::Path, bytes: &[u8]) {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(p)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

/// docs/SECURITY.md §S9: without `--vcd` nothing lands in an org, but orgs the provider gave
/// are still checked. A job for the org globex, signed by a key allowed only acme (by
/// `--allow-org`, or by a trust file), is refused by `plan` (naming the VM, the org and the key
/// id) and by `run`, which uploads nothing and leaves no VM; allowed, the same job lands.
#[test]
fn without_vcd_a_vm_outside_the_allowed_orgs_is_still_refused() {
    let Some(vc) = vcsim(&[]) else { return };
    let s = Scratch::new();
    let single = samples().join("single");
    s.ok(&s.export_run(&[&single], &["--org", "globex", "--vdc", "globex-vdc"]));
    let id = odt_format::crypto::keys::VerifyingKey::read(&s.path("k.pub"))
        .unwrap()
        .key_id();
    let refused = [
        "VM \"single\" (vm-000)",
        "org \"globex\"",
        &format!("refused for key {id}"),
    ];
    let allow_acme = ["--allow-org", "acme"];
    assert_fails(&import(&s, &vc, "plan", &allow_acme, PASSWORD), 1, &refused);
    let o = import(&s, &vc, "run", &allow_acme, PASSWORD);
    assert_fails(&o, 1, &refused);
    assert_fails(&o, 1, &["nothing was deployed"]);
    std::fs::write(
        s.path("trust.toml"),
        "[[customer]]\nname = \"Acme Corp\"\nkey = \"k.pub\"\n[[customer.org]]\nname = \"acme\"\n",
    )
    .unwrap();
    let trust = s.path("trust.toml");
    let signer = ["--trust", trust.to_str().unwrap()];
    let o = import_as(&s, &vc, "run", &signer, &[], PASSWORD);
    assert_fails(&o, 1, &refused);
    assert!(vc.uploads().is_empty(), "{:?}", vc.uploads());
    let c = client(&vc);
    let p = Placement::resolve(&c, None, Some("DC0_C0"), None, None).unwrap();
    assert!(find_vm(&c, &p.vm_folder, "single").unwrap().is_none());
    assert!(
        !odt_tests::has_import_journal(&s),
        "run left an import journal"
    );

    // Allowed (org names ignore case), the same job lands in vCenter.
    let out = s.ok(&import(
        &s,
        &vc,
        "run",
        &["--allow-org", "GLOBEX"],
        PASSWORD,
    ));
    assert!(out.contains("deployed"), "{out}");
    assert!(find_vm(&c, &p.vm_folder, "single").unwrap().is_some());
}

/// Issue 14: with `--parallel 3` the three VMs deploy at once over their own leases; a
/// connection cut in one upload aborts that VM's lease only (its half-made VM removed), the
/// others finish, and the rerun deploys just the one left, each VM landing once.
#[test]
fn a_failure_in_one_of_three_parallel_deployments_aborts_only_it_and_the_rerun_finishes() {
    let Some(vc) = vcsim(&[]) else { return };
    let s = exported(&[
        &samples().join("single"),
        &samples().join("single2"),
        &samples().join("multi"),
    ]);
    vc.fail_next_uploads(500_000, None, 1).unwrap();
    let o = import(&s, &vc, "run", &["--parallel", "3"], PASSWORD);
    assert_fails(&o, 1, &["upload failed", "lease was aborted", "rerun"]);
    let leases = vc.leases();
    assert_eq!(
        leases.iter().filter(|l| l["state"] == "aborted").count(),
        1,
        "only the failed VM's lease is aborted: {leases:?}"
    );
    assert_eq!(
        leases.iter().filter(|l| l["state"] == "done").count(),
        2,
        "the other two finished: {leases:?}"
    );
    let c = client(&vc);
    let p = Placement::resolve(&c, None, Some("DC0_C0"), None, None).unwrap();
    let present = |n: &str| find_vm(&c, &p.vm_folder, n).unwrap().is_some();
    let missing: Vec<&str> = ["single", "single2", "multi"]
        .into_iter()
        .filter(|n| !present(n))
        .collect();
    assert_eq!(missing.len(), 1, "the failed VM's half-made VM was removed");
    let disks_of_failed = if missing[0] == "multi" { 3 } else { 1 };
    let done_before = vc.uploads().iter().filter(|u| u.status == 200).count();
    let out = s.ok(&import(&s, &vc, "run", &["--parallel", "3"], PASSWORD));
    assert_eq!(
        out.matches("skipped (already deployed)").count(),
        2,
        "{out}"
    );
    for n in ["single", "single2", "multi"] {
        assert!(present(n), "{n} landed");
    }
    let new = vc.uploads().iter().filter(|u| u.status == 200).count() - done_before;
    assert_eq!(
        new, disks_of_failed,
        "only the disks of the failed VM {} were uploaded again",
        missing[0]
    );
}

/// A manifest re-signed with the customer's key under the job id of an import already in
/// the state folder: its VMs would be taken for those already landed (by the job id in their
/// marker), so run refuses before it touches vCenter, naming both manifests' digests.
#[test]
fn a_manifest_resigned_under_the_job_id_of_an_earlier_import_is_refused() {
    let Some(vc) = vcsim(&[]) else { return };
    let s = exported(&[&samples().join("single")]);
    s.ok(&import(&s, &vc, "run", &[], PASSWORD));
    s.resign_manifest(|v| {
        v["vms"][0]["name"] = "single-swapped".into();
        v["vms"][0]["target"]["power_on"] = true.into();
    });
    let o = import(&s, &vc, "run", &[], PASSWORD);
    assert_fails(
        &o,
        1,
        &[
            "was started from a manifest with SHA-256",
            "the same job id under another signed manifest",
            "nothing was done",
        ],
    );
    let stderr = odt_tests::text(&o.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("was started from"))
        .unwrap();
    assert!(!line.contains("  "), "a run of spaces in: {line}");
    let c = client(&vc);
    let p = Placement::resolve(&c, None, Some("DC0_C0"), None, None).unwrap();
    assert!(find_vm(&c, &p.vm_folder, "single-swapped")
        .unwrap()
        .is_none());
}

/// The same, with the earlier import's journal gone (another `--state`, or a journal moved
/// away): the VM in vCenter carries the job id and the digest of the manifest it came from,
/// so plan and run still refuse, rather than take it for this manifest's VM.
#[test]
fn without_the_journal_a_vm_from_another_manifest_of_the_job_id_fails_the_plan() {
    let Some(vc) = vcsim(&[]) else { return };
    let s = exported(&[&samples().join("single")]);
    s.ok(&import(&s, &vc, "run", &[], PASSWORD));
    std::fs::rename(s.path("state"), s.path("state-of-the-first-import")).unwrap();
    let (m, sig) = (
        s.nas().join("odt-job.json"),
        s.nas().join("odt-job.json.sig"),
    );
    let original = (std::fs::read(&m).unwrap(), std::fs::read(&sig).unwrap());
    s.resign_manifest(|v| v["vms"][0]["target"]["power_on"] = true.into());
    for sub in ["plan", "run"] {
        let o = import(&s, &vc, sub, &[], PASSWORD);
        assert_fails(
            &o,
            1,
            &[
                "VM \"single\" in DC0 (vm-000 of this job id) is from this manifest",
                "deployed from another manifest under the same job id",
            ],
        );
    }
    // The manifest as exported, with no journal either, recognises its VM by the marker.
    std::fs::write(&m, original.0).unwrap();
    std::fs::write(&sig, original.1).unwrap();
    std::fs::remove_dir_all(s.path("state")).unwrap();
    let out = s.ok(&import(&s, &vc, "run", &[], PASSWORD));
    assert!(out.contains("skipped (already deployed)"), "{out}");
}
