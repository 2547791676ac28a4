//! The whole provider flow against vcsim and the vCD simulator: deploy into vCenter on
//! "VM Network", register in vCD (a vApp with its NICs on the org VDC network, a vApp
//! template in a catalog), the signed receipt; `plan`'s vCD checks; and a vCD task error
//! followed by a rerun that neither uploads again nor duplicates anything in vCD.

use odt_tests::vcdsim::{Seed, VcdOptions, VcdSim, VcsimLink};
use odt_tests::vcsim::{Options, Vcsim};
use odt_tests::{assert_fails, samples, Scratch, PASSPHRASE};

use odt_tests::vcsim::{PASSWORD, USER};
const VCD_USER: &str = "administrator@System";
const VCD_PASSWORD: &str = "vmware";

struct Sims {
    vc: Vcsim,
    vcd: VcdSim,
}

fn sims() -> Option<Sims> {
    sims_with(Seed::default_seed())
}

fn sims_with(seed: Seed) -> Option<Sims> {
    let vc = Vcsim::with_login_or_skip(Options::default())?;
    let mut opts = VcdOptions::new(seed);
    opts.vcsim = Some(VcsimLink {
        url: vc.url.clone(),
        user: USER.into(),
        password: PASSWORD.into(),
    });
    let vcd = VcdSim::start(opts).expect("start the vCD simulator");
    Some(Sims { vc, vcd })
}

/// `odt-import SUB` as the provider of customer `k.pub`, allowed the org acme.
fn import(s: &Scratch, sims: &Sims, sub: &str, extra: &[&str]) -> std::process::Output {
    let kp = s.path("k.pub");
    let signer = ["--trusted-key", kp.to_str().unwrap(), "--allow-org", "acme"];
    import_as(s, sims, sub, &signer, extra)
}

/// `odt-import SUB` with the job, both simulators, and `signer` (`--trusted-key` and
/// `--allow-org`, or `--trust`).
fn import_as(
    s: &Scratch,
    sims: &Sims,
    sub: &str,
    signer: &[&str],
    extra: &[&str],
) -> std::process::Output {
    let (nas, id, st, rk) = (s.nas(), s.path("p"), s.path("state"), s.path("receipt.key"));
    let mut args: Vec<String> = [sub, "--nas", nas.to_str().unwrap()]
        .iter()
        .chain(signer)
        .map(|x| x.to_string())
        .collect();
    args.extend(
        [
            "--vcenter",
            &sims.vc.url,
            "--cluster",
            "DC0_C0",
            "--vcd",
            &sims.vcd.url,
            "--state",
            st.to_str().unwrap(),
        ]
        .iter()
        .map(|x| x.to_string()),
    );
    if sub == "run" {
        args.extend([
            "--identity".into(),
            id.to_str().unwrap().into(),
            "--receipt-key".into(),
            rk.to_str().unwrap().into(),
        ]);
    }
    args.extend(extra.iter().map(|x| x.to_string()));
    if sub == "run" && !extra.contains(&"--verify-now") {
        s.verify_at_dock();
    }
    std::process::Command::new(odt_tests::bin("odt-import"))
        .args(&args)
        .current_dir(s.dir.path())
        .env("ODT_STATE_DIR", s.path("state"))
        .env("ODT_VCENTER_USER", USER)
        .env("ODT_VCENTER_PASSWORD", PASSWORD)
        .env("ODT_VCD_USER", VCD_USER)
        .env("ODT_VCD_PASSWORD", VCD_PASSWORD)
        .env("ODT_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap()
}

/// The two-VM job is in vCD exactly once: one `single` vApp and one `multi` catalog item.
fn assert_landed_once(sims: &Sims) {
    let vapps = sims.vcd.vapps();
    assert_eq!(vapps.iter().filter(|v| v.name == "single").count(), 1);
    let items = sims.vcd.catalog_items();
    assert_eq!(items.iter().filter(|i| i.name == "multi").count(), 1);
}

/// Exports the job file `toml` (as `job.toml`) and makes the provider's receipt key.
fn exported_job(toml: &str) -> Scratch {
    let s = Scratch::new();
    let job = s.path("job.toml");
    std::fs::write(&job, toml).unwrap();
    s.ok(&s.export_run(&[], &["--job", job.to_str().unwrap()]));
    s.ok(&s.import(&[
        "keygen",
        "--receipt",
        "--out",
        s.path("receipt.key").to_str().unwrap(),
    ]));
    s
}

/// A job of two VMs: `single` as a vApp on acme-net (powered on), `multi` as a template.
fn two_vm_job() -> Scratch {
    exported_job(&format!(
            "org = \"acme\"\nvdc = \"acme-vdc\"\n\n[[vm]]\nsource = \"{}\"\nnetwork = \"acme-net\"\npower_on = true\n\n\
             [[vm]]\nsource = \"{}\"\ncatalog = \"acme-catalog\"\nas_template = true\n",
            samples().join("single").display(),
            samples().join("multi").display()
        ))
}

#[test]
fn vms_land_as_a_wired_vapp_and_as_a_catalog_template_with_a_signed_receipt() {
    let Some(sims) = sims() else { return };
    let s = two_vm_job();
    let plan = s.ok(&import(&s, &sims, "plan", &[]));
    assert!(
        plan.contains("registered and connected in vCD") && plan.contains("plan OK"),
        "{plan}"
    );
    let out = s.ok(&import(&s, &sims, "run", &["--json"]));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["ok"], true, "{out}");

    // The vApp: in acme-vdc, its NIC on a vApp network bridged to acme-net, powered on.
    let vapps = sims.vcd.vapps();
    let vapp = vapps
        .iter()
        .find(|v| v.name == "single")
        .expect("vApp single");
    assert_eq!(vapp.vdc, "acme-vdc");
    let net = vapp
        .networks
        .iter()
        .find(|n| n.parent.as_deref() == Some("acme-net"))
        .expect("bridged to acme-net");
    for vm in &vapp.vms {
        for nic in &vm.nics {
            assert_eq!(nic.network, net.name, "{nic:?}");
            assert!(nic.connected);
            assert_eq!(nic.mode, "POOL");
        }
    }
    assert_eq!(vapp.power_state(), "POWERED_ON");
    // The template: in acme-catalog.
    let items = sims.vcd.catalog_items();
    assert!(
        items
            .iter()
            .any(|i| i.name == "multi" && i.catalog == "acme-catalog"),
        "{items:?}"
    );
    assert!(!vapps.iter().any(|v| v.name == "multi"));

    // The receipt: signed by the provider key, naming where each VM landed, with digests.
    let receipt_path = report["receipt"].as_str().unwrap();
    assert_eq!(report["receipt_signed"], true);
    let receipt: serde_json::Value =
        serde_json::from_slice(&std::fs::read(receipt_path).unwrap()).unwrap();
    assert_eq!(receipt["format"], "odt-receipt/v1");
    assert_eq!(receipt["vms"][0]["vcd"]["kind"], "vapp");
    assert_eq!(receipt["vms"][0]["vcd"]["network"], "acme-net");
    assert_eq!(receipt["vms"][1]["vcd"]["kind"], "template");
    assert!(receipt["vms"][0]["files"][2]["digest"]
        .as_str()
        .unwrap()
        .starts_with("SHA256:"));
    let sig = std::fs::read(format!("{receipt_path}.sig")).unwrap();
    let sigf: serde_json::Value = serde_json::from_slice(&sig).unwrap();
    let pk = odt_format::crypto::keys::VerifyingKey::read(&s.path("receipt.key.pub")).unwrap();
    assert_eq!(sigf["key_id"], pk.key_id());

    // The customer checks it offline: the provider's key, then their own manifest.
    let manifest = s.nas().join("odt-job.json");
    let rk_pub = s.path("receipt.key.pub");
    let verify_receipt = |key: &std::path::Path, manifest: &std::path::Path, receipt: &str| {
        s.export(&[
            "verify-receipt",
            "--receipt",
            receipt,
            "--provider-key",
            key.to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
        ])
    };
    let out = s.ok(&verify_receipt(&rk_pub, &manifest, receipt_path));
    assert!(out.contains("signed by provider key"), "{out}");
    assert!(out.contains("every VM and file matches"), "{out}");
    // The manifest read back from the NAS, checked with the customer's own key too.
    let kp = s.path("k.pub");
    let with_key = |trusted: &std::path::Path| {
        s.export(&[
            "verify-receipt",
            "--receipt",
            receipt_path,
            "--provider-key",
            rk_pub.to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
            "--trusted-key",
            trusted.to_str().unwrap(),
        ])
    };
    let out = s.ok(&with_key(&kp));
    assert!(out.contains("signed by your key"), "{out}");
    odt_tests::assert_fails(&with_key(&rk_pub), 1, &["is not the job you signed"]);
    assert!(
        out.contains("vCD vApp in acme/acme-vdc, network acme-net, powered on"),
        "{out}"
    );
    assert!(
        out.contains("vCD template in acme/acme-vdc, catalog acme-catalog"),
        "{out}"
    );
    // The customer's own signing key is not the provider's receipt key.
    odt_tests::assert_fails(
        &verify_receipt(&s.path("k.pub"), &manifest, receipt_path),
        1,
        &["was signed by key", "wrong --provider-key"],
    );
    // One byte of the receipt changed (the vApp's power state).
    let forged = s.path("forged.json");
    let text = std::fs::read_to_string(receipt_path).unwrap();
    std::fs::write(
        &forged,
        text.replacen("\"powered_on\": true", "\"powered_on\": false", 1),
    )
    .unwrap();
    std::fs::copy(format!("{receipt_path}.sig"), s.path("forged.json.sig")).unwrap();
    odt_tests::assert_fails(
        &verify_receipt(&rk_pub, &manifest, forged.to_str().unwrap()),
        1,
        &[
            "receipt signature check failed",
            "does not match its signature",
        ],
    );
    // A receipt without its signature proves nothing.
    std::fs::remove_file(s.path("forged.json.sig")).unwrap();
    odt_tests::assert_fails(
        &verify_receipt(&rk_pub, &manifest, forged.to_str().unwrap()),
        1,
        &[
            "forged.json.sig is missing",
            "unsigned receipt proves nothing",
        ],
    );
    // A receipt is tied to one manifest: another job's (here: one byte of it changed) fails.
    let other = s.path("other-job.json");
    let mtext = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&other, mtext.replacen("\"acme-net\"", "\"acme-lan\"", 1)).unwrap();
    odt_tests::assert_fails(
        &verify_receipt(&rk_pub, &other, receipt_path),
        1,
        &["is not about the job in", "manifest SHA-256"],
    );

    custody_report(&s, receipt_path, &receipt);

    // Rerun: nothing new anywhere.
    let uploads = sims.vc.uploads().len();
    let again = s.ok(&import(&s, &sims, "run", &["--json"]));
    assert!(again.contains("skipped (already deployed)"), "{again}");
    assert_eq!(sims.vc.uploads().len(), uploads);
    assert_landed_once(&sims);
}

/// `odt-import report` of a real import's receipt, with the dock record and the manifest, and
/// `odt-export report` of the same as the customer makes it: the page names each VM, where it
/// landed, each file's digest and the key ids; a forged receipt writes no page (issue 13,
/// item 8).
fn custody_report(s: &Scratch, receipt_path: &str, receipt: &serde_json::Value) {
    // The page's escaping of text (no name here needs more than these).
    let esc = |t: &str| t.replace('&', "&amp;").replace('\'', "&#39;");
    let job = receipt["job_id"].as_str().unwrap();
    let (rk, out) = (s.path("receipt.key.pub"), s.path("custody.html"));
    let (record, manifest) = (
        s.path(&format!("state/dock-{job}.json")),
        s.nas().join("odt-job.json"),
    );
    let args = |program: &str, receipt: &str| {
        let mut a = vec![
            "report",
            "--receipt",
            receipt,
            "--provider-key",
            rk.to_str().unwrap(),
        ];
        if program == "odt-import" {
            a.extend(["--verify-record", record.to_str().unwrap()]);
        }
        a.extend([
            "--manifest",
            manifest.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        s.cmd(program, &a, None)
    };
    for program in ["odt-import", "odt-export"] {
        let _ = std::fs::remove_file(&out);
        s.ok(&args(program, receipt_path));
        let page = std::fs::read_to_string(&out).unwrap();
        let mut needles = vec![
            job.to_owned(),
            receipt["manifest_sha256"].as_str().unwrap().to_owned(),
            format!(
                "receipt key {}",
                receipt["provider_key_id"].as_str().unwrap()
            ),
            format!(
                "customer key {}",
                receipt["customer_key_id"].as_str().unwrap()
            ),
        ];
        for vm in receipt["vms"].as_array().unwrap() {
            for k in ["name", "dir", "vcenter_entity"] {
                needles.push(vm[k].as_str().unwrap().to_owned());
            }
            needles.push(vm["vcd"]["href"].as_str().unwrap().to_owned());
            for f in vm["files"].as_array().unwrap() {
                needles.push(f["name"].as_str().unwrap().to_owned());
                if let Some(d) = f["digest"].as_str() {
                    needles.push(d.to_owned());
                }
            }
        }
        if program == "odt-import" {
            needles.push("Verified at the dock at".into());
        }
        for n in &needles {
            assert!(
                page.contains(&esc(n)),
                "{program}: {n:?} missing from the page"
            );
        }
    }
    // One byte of the receipt changed: no page.
    std::fs::remove_file(&out).unwrap();
    let forged = s.path("forged-report.json");
    let text = std::fs::read_to_string(receipt_path).unwrap();
    std::fs::write(&forged, text.replacen("acme-vdc", "acme-vdd", 1)).unwrap();
    std::fs::copy(
        format!("{receipt_path}.sig"),
        s.path("forged-report.json.sig"),
    )
    .unwrap();
    assert_fails(
        &args("odt-import", forged.to_str().unwrap()),
        1,
        &["receipt signature check failed"],
    );
    assert!(!out.exists());
}

#[test]
fn plan_catches_missing_vcd_targets_taken_names_and_an_unregistered_vcenter() {
    let Some(sims) = sims() else { return };
    // A VDC, a network and a catalog that do not exist.
    let s = Scratch::new();
    let job = s.path("job.toml");
    std::fs::write(
        &job,
        format!(
            "org = \"acme\"\n[[vm]]\nsource = \"{}\"\nvdc = \"no-such-vdc\"\n[[vm]]\nsource = \"{}\"\nvdc = \"acme-vdc\"\nnetwork = \"no-such-net\"\n\
             [[vm]]\nsource = \"{}\"\nvdc = \"acme-vdc\"\ncatalog = \"no-such-catalog\"\nas_template = true\n",
            samples().join("single").display(),
            samples().join("single2").display(),
            samples().join("multi").display()
        ),
    )
    .unwrap();
    s.ok(&s.export_run(&[], &["--job", job.to_str().unwrap()]));
    let o = import(&s, &sims, "plan", &[]);
    assert_fails(
        &o,
        1,
        &[
            "VDC \"no-such-vdc\" does not exist",
            "network \"no-such-net\" does not exist",
            "catalog \"no-such-catalog\" does not exist",
        ],
    );
    // Nothing reached vCenter.
    assert!(import(&s, &sims, "run", &[]).status.code() == Some(1));
    assert!(sims.vc.uploads().is_empty());

    // A taken vApp name: a first job lands "single"; a second job of the same VM clashes.
    let s1 = two_vm_job();
    s1.ok(&import(&s1, &sims, "run", &[]));
    let s2 = two_vm_job();
    let o = import(&s2, &sims, "plan", &[]);
    assert_fails(&o, 1, &["name \"single\" is free in vCD", "taken"]);

    // An unregistered vCenter.
    sims.vcd.set_vcenter(false, true, true);
    let o = import(&s2, &sims, "plan", &[]);
    assert_fails(&o, 1, &["not registered in vCD"]);
}

#[test]
fn a_vcd_task_error_is_reported_and_the_rerun_completes_without_reupload_or_duplicates() {
    let Some(sims) = sims() else { return };
    let s = two_vm_job();
    sims.vcd
        .fail_next_task("any", "simulated failure: the datastore is unreachable");
    // One VM at a time: the run stops at the failure, so the rerun has all of multi to do.
    let o = import(&s, &sims, "run", &["--parallel", "1"]);
    assert_fails(
        &o,
        1,
        &[
            "simulated failure: the datastore is unreachable",
            "rerun the same command",
        ],
    );
    let uploads = sims.vc.uploads().iter().filter(|u| u.status == 200).count();
    assert!(uploads > 0);
    // The rerun registers what is left, uploading nothing again.
    s.ok(&import(&s, &sims, "run", &["--parallel", "1"]));
    assert_eq!(
        sims.vc.uploads().iter().filter(|u| u.status == 200).count(),
        uploads + 3,
        "only multi's three disks are new"
    );
    assert_landed_once(&sims);
}

/// `single` as a powered-on vApp on acme-net, its VM and disks on the storage profile
/// "silver" (a limit, with room), with a receipt key.
fn silver_job() -> Scratch {
    let s = Scratch::new();
    let single = samples().join("single");
    s.ok(&s.export_run(
        &[&single],
        &[
            "--org",
            "acme",
            "--vdc",
            "acme-vdc",
            "--network",
            "acme-net",
            "--power-on",
            "--storage-profile",
            "silver",
        ],
    ));
    s.ok(&s.import(&[
        "keygen",
        "--receipt",
        "--out",
        s.path("receipt.key").to_str().unwrap(),
    ]));
    s
}

/// Issue 12, item 4: a named storage profile is checked by `plan` (exists, has room) and
/// sent on import for the VM (`VdcStorageProfile`) and for each of its disks by device key
/// (`ImportedDisk`); vCD then counts the disks against it.
#[test]
fn a_named_storage_profile_is_checked_and_sent_for_the_vm_and_each_disk() {
    let Some(sims) = sims() else { return };
    let s = silver_job();
    let manifest = std::fs::read_to_string(s.nas().join("odt-job.json")).unwrap();
    assert!(
        manifest.contains("\"storage_profile\": \"silver\""),
        "{manifest}"
    );
    let plan = s.ok(&import(&s, &sims, "plan", &[]));
    assert!(
        plan.contains("room on storage profile \"silver\" of VDC acme-vdc (named in the manifest)")
            && plan.contains("MB free of 204800 MB"),
        "{plan}"
    );
    let (_, used_before) = sims
        .vcd
        .storage_profile_usage("acme", "acme-vdc", "silver")
        .unwrap();
    s.ok(&import(&s, &sims, "run", &[]));
    let vapp = sims.vcd.vapp("single").expect("vApp single");
    let vm = &vapp.vms[0];
    assert_eq!(vm.storage_profile, "silver");
    let c = odt_vmware::vsphere::client::Client::connect(
        &sims.vc.url,
        USER,
        PASSWORD,
        odt_vmware::wire::TlsMode::Insecure,
    )
    .unwrap();
    let info = odt_vmware::vsphere::inventory::vm_info(
        &c,
        &odt_vmware::vsphere::client::MoRef::new("VirtualMachine", &vm.moref),
    )
    .unwrap();
    let keys: Vec<(i32, String)> = info
        .disks
        .iter()
        .map(|d| (d.key, "silver".to_owned()))
        .collect();
    assert!(!keys.is_empty());
    assert_eq!(
        vm.disk_profiles, keys,
        "one ImportedDisk per disk, by device key"
    );
    let (_, used_after) = sims
        .vcd
        .storage_profile_usage("acme", "acme-vdc", "silver")
        .unwrap();
    let disk_mb: u64 = info
        .disks
        .iter()
        .map(|d| d.capacity_kb.div_ceil(1024))
        .sum();
    assert_eq!(used_after, used_before + disk_mb);
}

/// Issue 12, items 4 and 6: the receipt and the journal carry, per step, the request id vCD
/// answered that step's change with; every vCD request carried a correlation id made of the
/// job id, the VM's folder and the step, and none holds a secret.
#[test]
fn each_step_is_correlated_and_its_request_id_lands_in_journal_and_receipt() {
    let Some(sims) = sims() else { return };
    let s = silver_job();
    let out = s.ok(&import(&s, &sims, "run", &["--json"]));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let receipt_path = report["receipt"].as_str().unwrap();
    let receipt: serde_json::Value =
        serde_json::from_slice(&std::fs::read(receipt_path).unwrap()).unwrap();
    let job = receipt["job_id"].as_str().unwrap().to_owned();
    let vcd = &receipt["vms"][0]["vcd"];
    assert_eq!(vcd["storage_profile"], "silver");
    let steps: Vec<(String, String)> = vcd["requests"]
        .as_array()
        .expect("request ids in the receipt")
        .iter()
        .map(|r| {
            (
                r["step"].as_str().unwrap().to_owned(),
                r["request_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let names: Vec<&str> = steps.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(names, ["import", "wire", "power-on"]);
    let logged = sims.vcd.requests();
    for (step, id) in &steps {
        let client = format!("odt-{job}-vm-000-{step}");
        let r = logged
            .iter()
            .find(|r| &r.request_id == id)
            .unwrap_or_else(|| panic!("{step}: {id} is not a request vCD answered"));
        assert_ne!(r.method, "GET", "{step}: the step's change, not a read");
        assert_eq!(r.client_request_id.as_deref(), Some(client.as_str()));
        assert!(id.starts_with(&format!("{client}-")), "{id}");
    }
    // The journal holds the same ids.
    let journal: serde_json::Value = serde_json::from_slice(
        &std::fs::read(s.path("state").join(format!("import-{job}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(journal["vms"]["vm-000"]["vcd"]["requests"], vcd["requests"]);
    // Every request carried one, of the job's public id, a VM folder and a step only.
    let shape = |c: &str| {
        let rest = c.strip_prefix(&format!("odt-{job}-")).unwrap_or("!");
        rest == "run"
            || rest
                .strip_prefix("vm-000-")
                .is_some_and(|st| ["resolve", "import", "wire", "power-on"].contains(&st))
    };
    assert!(logged.len() > 5);
    for r in &logged {
        let c = r.client_request_id.as_deref().unwrap_or("");
        assert!(shape(c), "{} {}: client id {c:?}", r.method, r.path);
        for secret in [VCD_PASSWORD, PASSWORD, PASSPHRASE] {
            assert!(!c.contains(secret) && !r.request_id.contains(secret));
        }
    }
    // The customer sees them.
    let out = s.ok(&s.export(&[
        "verify-receipt",
        "--receipt",
        receipt_path,
        "--provider-key",
        s.path("receipt.key.pub").to_str().unwrap(),
        "--manifest",
        s.nas().join("odt-job.json").to_str().unwrap(),
    ]));
    assert!(out.contains("storage profile silver"), "{out}");
    assert!(
        out.contains(&format!("vCD request ids: import {}", steps[0].1)),
        "{out}"
    );
}

/// Issue 12, item 4: a storage profile the VDC lacks, and one without room for the VM's
/// disks, are caught by `plan` and stop `run` before anything is deployed; a VM naming
/// none is said to land on the VDC's default.
#[test]
fn plan_catches_a_missing_storage_profile_and_one_without_room() {
    let Some(sims) = sims() else { return };
    let s = Scratch::new();
    let job = s.path("job.toml");
    std::fs::write(
        &job,
        format!(
            "org = \"acme\"\nvdc = \"acme-vdc\"\nnetwork = \"acme-net\"\n\n\
             [[vm]]\nsource = \"{}\"\nstorage_profile = \"platinum\"\n\n\
             [[vm]]\nsource = \"{}\"\nstorage_profile = \"full\"\n\n\
             [[vm]]\nsource = \"{}\"\n",
            samples().join("single").display(),
            samples().join("single2").display(),
            samples().join("multi").display()
        ),
    )
    .unwrap();
    s.ok(&s.export_run(&[], &["--job", job.to_str().unwrap()]));
    s.ok(&s.import(&[
        "keygen",
        "--receipt",
        "--out",
        s.path("receipt.key").to_str().unwrap(),
    ]));
    let o = import(&s, &sims, "plan", &[]);
    assert_fails(
        &o,
        1,
        &[
            "storage profile \"platinum\" does not exist in VDC \"acme-vdc\" (it has: gold, silver, full)",
            "room on storage profile \"full\" of VDC acme-vdc (named in the manifest)",
            "0 MB free of 100 MB",
            "raise the profile's limit",
        ],
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(
            "room on storage profile \"gold\" of VDC acme-vdc (the VDC's default: the manifest names none)"
        ),
        "{text}"
    );
    let o = import(&s, &sims, "run", &[]);
    assert_fails(&o, 1, &["storage profile \"platinum\" does not exist"]);
    assert!(sims.vc.uploads().is_empty(), "nothing uploaded");
    assert!(sims.vcd.vapps().is_empty(), "nothing in vCD");
}

/// A job of one VM, `single`, as a vApp in `org`/`vdc` on `network`.
fn one_vm_job(org: &str, vdc: &str, network: &str) -> Scratch {
    let s = Scratch::new();
    let single = samples().join("single");
    s.ok(&s.export_run(
        &[&single],
        &["--org", org, "--vdc", vdc, "--network", network],
    ));
    s
}

/// The customer key id of the job in `s` (`k.pub`).
fn key_id(s: &Scratch) -> String {
    odt_format::crypto::keys::VerifyingKey::read(&s.path("k.pub"))
        .unwrap()
        .key_id()
}

/// Writes `text` as the provider's trust file `trust.toml` in `s` and returns its path. Key
/// paths in it are relative to `s`.
fn trust_file(s: &Scratch, name: &str, text: &str) -> String {
    let p = s.path(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

/// Nothing of the job in `s` reached vCenter or vCD, and no receipt was written.
fn assert_nothing_deployed(s: &Scratch, sims: &Sims) {
    use odt_vmware::vsphere::client::Client;
    use odt_vmware::vsphere::inventory::{find_vm, Placement};
    assert!(sims.vc.uploads().is_empty(), "{:?}", sims.vc.uploads());
    let c = Client::connect(
        &sims.vc.url,
        USER,
        PASSWORD,
        odt_vmware::wire::TlsMode::Verify,
    )
    .unwrap();
    let p = Placement::resolve(&c, None, Some("DC0_C0"), None, None).unwrap();
    assert!(find_vm(&c, &p.vm_folder, "single").unwrap().is_none());
    assert!(sims.vcd.vapps().is_empty(), "{:?}", sims.vcd.vapps());
    assert!(sims.vcd.templates().is_empty());
    assert!(sims.vcd.imported_morefs().is_empty());
    let receipts = std::fs::read_dir(s.path("state"))
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("receipt-")
            })
            .count()
        })
        .unwrap_or(0);
    assert_eq!(receipts, 0, "a receipt was written");
}

/// docs/SECURITY.md §S9: a customer's key lands VMs only in the orgs the provider allowed for
/// it. A manifest signed by acme's customer key that targets globex's org: `plan` fails naming
/// the VM, the org and the key id, and `run` exits 1 before it connects to anything, with
/// nothing deployed (no VM in vCenter, no vApp in vCD, no receipt). The same with a trust file
/// that gives this key acme and another customer's key globex, and with a trust file in which
/// no customer has the signing key.
#[test]
fn a_job_targeting_an_org_its_key_may_not_target_is_refused_and_deploys_nothing() {
    let Some(sims) = sims() else { return };
    let s = one_vm_job("globex", "globex-vdc", "globex-net");
    let id = key_id(&s);
    let refused = [
        "VM \"single\" (vm-000)",
        "org \"globex\"",
        &format!("refused for key {id}"),
        "may target only \"acme\"",
    ];

    // --trusted-key with --allow-org acme.
    let o = import(&s, &sims, "plan", &[]);
    assert_fails(&o, 1, &refused);
    assert_fails(
        &o,
        1,
        &[
            "[FAIL] org \"globex\" of VM \"single\" (vm-000): refused for key",
            "plan FAILED",
        ],
    );
    let before = sims.vcd.requests().len();
    let o = import(&s, &sims, "run", &[]);
    assert_fails(&o, 1, &refused);
    assert_fails(&o, 1, &["nothing was deployed"]);
    assert_eq!(sims.vcd.requests().len(), before, "run talked to vCD");
    assert_nothing_deployed(&s, &sims);

    // --trust: this key is Acme's (org acme), Globex has a key of its own.
    s.ok(&s.export(&["keygen", "--out", s.path("globex.key").to_str().unwrap()]));
    let trust = trust_file(
        &s,
        "trust.toml",
        "[[customer]]\nname = \"Globex\"\nkey = \"globex.key.pub\"\n[[customer.org]]\nname = \"globex\"\n\n\
         [[customer]]\nname = \"Acme Corp\"\nkey = \"k.pub\"\n[[customer.org]]\nname = \"acme\"\n",
    );
    let signer = ["--trust", trust.as_str()];
    for sub in ["plan", "run"] {
        let o = import_as(&s, &sims, sub, &signer, &[]);
        assert_fails(&o, 1, &refused);
        assert_fails(&o, 1, &["customer \"Acme Corp\" in trust file"]);
    }
    assert_nothing_deployed(&s, &sims);

    // --trust, and no customer has the key that signed the job.
    let trust = trust_file(
        &s,
        "globex-only.toml",
        "[[customer]]\nname = \"Globex\"\nkey = \"globex.key.pub\"\n[[customer.org]]\nname = \"globex\"\n",
    );
    for sub in ["plan", "run"] {
        let o = import_as(&s, &sims, sub, &["--trust", &trust], &[]);
        assert_fails(
            &o,
            1,
            &[
                &format!("the job is signed by key {id}"),
                "not the key of any of the 1 customer(s)",
            ],
        );
    }
    let o = s.import(&[
        "verify",
        "--nas",
        s.nas().to_str().unwrap(),
        "--trust",
        &trust,
    ]);
    assert_fails(&o, 1, &[&format!("signed by key {id}")]);
    assert_nothing_deployed(&s, &sims);
}

/// docs/SECURITY.md §S9: with `--trust`, the job's signer is found in the provider's trust
/// file by its key id and its VMs land where that customer is allowed: verify names the
/// customer, plan passes, run lands the vApp and the template. A trust file narrowing the
/// customer to another VDC or catalog refuses the same job, naming the VDC or catalog.
#[test]
fn with_a_trust_file_the_signers_vms_land_in_its_allowed_org() {
    let Some(sims) = sims() else { return };
    let s = two_vm_job();
    s.ok(&s.export(&["keygen", "--out", s.path("globex.key").to_str().unwrap()]));
    let trust = |vdc: &str, catalog: &str| {
        format!(
            "[[customer]]\nname = \"Globex\"\nkey = \"globex.key.pub\"\n[[customer.org]]\nname = \"globex\"\n\n\
             [[customer]]\nname = \"Acme Corp\"\nkey = \"k.pub\"\n[[customer.org]]\nname = \"ACME\"\n\
             vdcs = [\"{vdc}\"]\ncatalogs = [\"{catalog}\"]\n"
        )
    };
    let other_vdc = trust_file(&s, "other-vdc.toml", &trust("acme-vdc-2", "acme-catalog"));
    let o = import_as(&s, &sims, "plan", &["--trust", &other_vdc], &[]);
    assert_fails(
        &o,
        1,
        &[
            "org \"acme\" of VM \"single\" (vm-000)",
            "org \"acme\" of VM \"multi\" (vm-001)",
            "VDC \"acme-vdc\" of org \"acme\" is not allowed",
            "only \"acme-vdc-2\" there",
        ],
    );
    let other_catalog = trust_file(&s, "other-cat.toml", &trust("acme-vdc", "golden"));
    let o = import_as(&s, &sims, "run", &["--trust", &other_catalog], &[]);
    assert_fails(
        &o,
        1,
        &[
            "VM \"multi\" (vm-001)",
            "catalog \"acme-catalog\" of org \"acme\" is not allowed",
        ],
    );
    assert!(sims.vc.uploads().is_empty());

    // Org names ignore case (the file says ACME), VDC and catalog are exact.
    let good = trust_file(&s, "trust.toml", &trust("acme-vdc", "acme-catalog"));
    let signer = ["--trust", good.as_str()];
    let out = s.ok(&s.import(&[
        "verify",
        "--nas",
        s.nas().to_str().unwrap(),
        "--trust",
        &good,
    ]));
    assert!(
        out.contains(&format!(
            "signer: key {} is customer \"Acme Corp\"",
            key_id(&s)
        )),
        "{out}"
    );
    let plan = s.ok(&import_as(&s, &sims, "plan", &signer, &[]));
    assert!(
        plan.contains(&format!(
            "[ ok ] every VM's org is allowed for key {}",
            key_id(&s)
        )) && plan.contains("plan OK"),
        "{plan}"
    );
    let out = s.ok(&import_as(&s, &sims, "run", &signer, &["--json"]));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["ok"], true, "{out}");
    assert_landed_once(&sims);
    let vapps = sims.vcd.vapps();
    assert_eq!(
        vapps.iter().find(|v| v.name == "single").unwrap().vdc,
        "acme-vdc"
    );
}

/// An OVF vApp of two VMs (`vapp`: web, db) and one of three (`vapp3`: fe, api, store), each
/// as a vApp on acme-net.
fn vapps_job() -> Scratch {
    exported_job(&format!(
        "org = \"acme\"\nvdc = \"acme-vdc\"\nnetwork = \"acme-net\"\n\n[[vm]]\nsource = \"{}\"\n\n\
             [[vm]]\nsource = \"{}\"\n",
        samples().join("vapp").display(),
        samples().join("vapp3").display()
    ))
}

/// Each OVF vApp is one vCD vApp holding every one of its VMs once, nothing is left in
/// FAILED_CREATION, and vCenter shows what vCD did: the vSphere vApps are empty and every VM
/// was renamed "NAME (UUID)" (vcd-api.md §11).
fn assert_vapps_whole(sims: &Sims) {
    use odt_vmware::vsphere::client::Client;
    let vapps = sims.vcd.vapps();
    assert!(vapps.iter().all(|a| a.status != -1), "{vapps:#?}");
    for (name, want) in [
        ("vapp", vec!["db", "web"]),
        ("vapp3", vec!["api", "fe", "store"]),
    ] {
        let found: Vec<_> = vapps.iter().filter(|a| a.name == name).collect();
        assert_eq!(found.len(), 1, "one vCD vApp {name}: {vapps:#?}");
        let mut got: Vec<&str> = found[0].vms.iter().map(|v| v.name.as_str()).collect();
        got.sort_unstable();
        assert_eq!(got, want, "the VMs of vApp {name}");
    }
    assert!(
        !sims
            .vcd
            .requests()
            .iter()
            .any(|r| r.path.contains("/vmsList")),
        "odt does not depend on vmsList (deprecated since API 34.0)"
    );
    let mut held = sims.vcd.imported_morefs();
    let n = held.len();
    held.sort();
    held.dedup();
    assert_eq!((n, held.len()), (5, 5), "each VM is held once: {held:?}");
    let c = Client::connect(
        &sims.vc.url,
        USER,
        PASSWORD,
        odt_vmware::wire::TlsMode::Insecure,
    )
    .unwrap();
    for name in ["vapp", "vapp3"] {
        let vapp = c
            .find_by_inventory_path(&format!("DC0/vm/{name}"))
            .unwrap()
            .expect("the vSphere vApp");
        let left = c
            .retrieve(std::slice::from_ref(&vapp), "VirtualApp", &["vm"])
            .unwrap()
            .first()
            .map(|o| o.morefs("vm"))
            .unwrap_or_default();
        assert!(
            left.is_empty(),
            "vCD moved every VM out of {name}: {left:?}"
        );
    }
    let names: Vec<String> = c
        .retrieve(
            &held
                .iter()
                .map(|m| odt_vmware::vsphere::client::MoRef::new("VirtualMachine", m))
                .collect::<Vec<_>>(),
            "VirtualMachine",
            &["name"],
        )
        .unwrap()
        .iter()
        .map(|o| o.text("name").unwrap_or_default().to_owned())
        .collect();
    assert!(
        names.iter().all(|n| n.ends_with(')') && n.contains(" (")),
        "renamed NAME (UUID): {names:?}"
    );
}

/// vcd-api.md §11: vCD moves each VM it imports with sourceMove="true" out of the vSphere vApp,
/// so the importer must work from the VMs it recorded before the first import, never from a
/// live listing of the vApp's children (which once dropped the second VM silently).
#[test]
fn ovf_vapps_land_whole_although_vcd_moves_each_vm_out_of_its_vsphere_vapp() {
    let Some(sims) = sims() else { return };
    let s = vapps_job();
    s.ok(&import(&s, &sims, "run", &[]));
    assert_vapps_whole(&sims);
}

/// A failure importing the second VM of a vApp: the rerun imports what is left, and nothing
/// twice.
#[test]
fn a_vapps_failed_second_vm_is_imported_by_the_rerun_once() {
    let Some(sims) = sims() else { return };
    let s = vapps_job();
    sims.vcd.fail_next_task(
        "importIntoExistingVapp",
        "simulated failure: the host is in maintenance mode",
    );
    let o = import(&s, &sims, "run", &[]);
    assert_fails(&o, 1, &["in maintenance mode", "rerun the same command"]);
    s.ok(&import(&s, &sims, "run", &[]));
    assert_vapps_whole(&sims);
}

/// A job from a TOML text (`{single}`, `{multi}`, `{vapp}` stand for the samples), exported,
/// with a receipt key made.
fn job_of(toml: &str) -> Scratch {
    let s = Scratch::new();
    let job = s.path("job.toml");
    let text = ["single", "multi", "vapp"]
        .iter()
        .fold(toml.to_owned(), |t, n| {
            t.replace(
                &format!("{{{n}}}"),
                &samples().join(n).display().to_string(),
            )
        });
    std::fs::write(&job, text).unwrap();
    s.ok(&s.export_run(&[], &["--job", job.to_str().unwrap()]));
    s.ok(&s.import(&[
        "keygen",
        "--receipt",
        "--out",
        s.path("receipt.key").to_str().unwrap(),
    ]));
    s
}

/// Issue 12 item 3: each VM's NICs get the allocation its target asks for: MANUAL with the
/// given address, DHCP with none, POOL (the default) from acme-net's static pool; read back
/// from the simulator's view of each VM's NICs.
#[test]
fn pool_dhcp_and_manual_nics_land_as_asked() {
    let Some(sims) = sims() else { return };
    let s = job_of(
        "org = \"acme\"\nvdc = \"acme-vdc\"\nnetwork = \"acme-net\"\n\n\
         [[vm]]\nsource = \"{single}\"\nip_mode = \"manual\"\nip_addresses = [\"192.168.10.20\"]\n\n\
         [[vm]]\nsource = \"{multi}\"\nip_mode = \"dhcp\"\n\n\
         [[vm]]\nsource = \"{vapp}\"\n",
    );
    let plan = s.ok(&import(&s, &sims, "plan", &[]));
    assert!(
        plan.contains("static IP pool of org VDC network \"acme-net\" has room")
            && plan.contains("100 free, 2 needed for POOL NICs (vapp at least 2)")
            && plan.contains("MANUAL address 192.168.10.20 of \"single\" on \"acme-net\""),
        "{plan}"
    );
    s.ok(&import(&s, &sims, "run", &[]));
    let vapps = sims.vcd.vapps();
    let nics = |name: &str| -> Vec<(String, Option<String>)> {
        let v = vapps
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("{name}: {vapps:?}"));
        v.vms
            .iter()
            .flat_map(|vm| &vm.nics)
            .map(|n| {
                assert_eq!(n.network, "acme-net", "{name}: {n:?}");
                assert!(n.connected, "{name}: {n:?}");
                (n.mode.clone(), n.ip.clone())
            })
            .collect()
    };
    assert_eq!(
        nics("single"),
        [("MANUAL".into(), Some("192.168.10.20".into()))]
    );
    assert_eq!(
        nics("multi"),
        [("DHCP".into(), None), ("DHCP".into(), None)]
    );
    let pool = nics("vapp");
    assert_eq!(pool.len(), 2, "{pool:?}");
    for (mode, ip) in &pool {
        assert_eq!(mode, "POOL");
        let ip = ip.as_deref().expect("a pool address");
        assert!(ip.starts_with("192.168.10.1"), "{ip}");
    }
    assert_ne!(pool[0].1, pool[1].1);
}

/// Bad IP targets are usage errors at export (exit 2) naming the VM, and nothing is signed.
#[test]
fn bad_ip_targets_are_refused_at_export() {
    let single = samples().join("single");
    let cases: [(&[&str], &str); 5] = [
        (&["--ip-mode", "manual"], "needs ip_addresses"),
        (
            &["--ip-mode", "manual", "--ip-address", "192.168.10.300"],
            "is not an IPv4 address",
        ),
        (
            &["--ip-mode", "manual", "--ip-address", "192.168.010.5"],
            "is not an IPv4 address",
        ),
        (
            &[
                "--ip-mode",
                "manual",
                "--ip-address",
                "10.0.0.5",
                "--ip-address",
                "10.0.0.6",
            ],
            "lists 2 address(es) but the OVF has 1 NIC(s)",
        ),
        (
            &["--ip-mode", "dhcp", "--ip-address", "10.0.0.5"],
            "ip_mode is not \"manual\"",
        ),
    ];
    for (flags, why) in cases {
        let s = Scratch::new();
        let mut extra = vec![
            "--org",
            "acme",
            "--vdc",
            "acme-vdc",
            "--network",
            "acme-net",
        ];
        extra.extend_from_slice(flags);
        let o = s.export_run(&[single.as_path()], &extra);
        assert_fails(&o, 2, &[why, "single"]);
        assert!(!s.nas().join("odt-job.json").exists(), "{flags:?}");
    }
}

/// Issue 12 item 3: `plan` counts the free addresses of acme-net's static pool (pool minus
/// allocated) against the POOL NICs of the VMs still to register, and fails naming the
/// network, free vs needed; `run` stops on the same check before anything is deployed.
#[test]
fn an_exhausted_pool_is_caught_by_plan() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/vcd-seed.toml"))
        .unwrap()
        .replace(
            "\npool = \"192.168.10.100-192.168.10.199\"\n",
            "\npool = \"192.168.10.100-192.168.10.102\"\nallocated = [\"192.168.10.100\", \"192.168.10.102\"]\n",
        );
    let Some(sims) = sims_with(Seed::parse(&text).unwrap()) else {
        return;
    };
    // multi has two NICs, counted exactly because its target sets ip_mode.
    let s = job_of(
        "org = \"acme\"\nvdc = \"acme-vdc\"\nnetwork = \"acme-net\"\n\n\
         [[vm]]\nsource = \"{multi}\"\nip_mode = \"pool\"\n\n\
         [[vm]]\nsource = \"{single}\"\nip_mode = \"manual\"\nip_addresses = [\"192.168.10.102\"]\n",
    );
    let o = import(&s, &sims, "plan", &[]);
    assert_fails(
        &o,
        1,
        &[
            "FAIL",
            "static IP pool of org VDC network \"acme-net\" has room",
            "1 free, 2 needed for POOL NICs (multi 2)",
            "MANUAL address 192.168.10.102 of \"single\" on \"acme-net\"",
            "is allocated already in vCD",
        ],
    );
    let o = import(&s, &sims, "run", &[]);
    assert_fails(&o, 1, &["1 free, 2 needed"]);
    assert!(sims.vcd.vapps().is_empty(), "{:?}", sims.vcd.vapps());
    assert!(sims.vc.uploads().is_empty(), "nothing deployed");
}

/// Issue 13 item 5: the provider adjusts at the dock. An override that would take the VM
/// into an org its key may not target (globex) is refused with exit 2 by `plan` and `run`,
/// naming the VM, the org and the key, with nothing deployed; a VM-name typo lists the
/// closest name. `--rename` and `--set VM.vdc=`/`network=` land the VM under its new name in
/// the other VDC; plan, the receipt (signed), and inspect show the overrides; a rerun with
/// other overrides is refused (exit 2) and one with the same overrides passes.
#[test]
fn dock_overrides_land_within_the_keys_orgs_and_are_recorded() {
    let Some(sims) = sims() else { return };
    let s = one_vm_job("acme", "acme-vdc", "acme-net");
    let rk = s.path("receipt.key");
    s.ok(&s.import(&["keygen", "--receipt", "--out", rk.to_str().unwrap()]));
    let id = key_id(&s);
    for sub in ["plan", "run"] {
        let o = import(&s, &sims, sub, &["--set", "single.org=globex"]);
        assert_fails(
            &o,
            2,
            &[
                "VM \"single\" (vm-000) would target org \"globex\"",
                &format!("refused for key {id}"),
                "nothing was done",
            ],
        );
    }
    assert_nothing_deployed(&s, &sims);
    let o = import(&s, &sims, "plan", &["--rename", "singel=x"]);
    assert_fails(
        &o,
        2,
        &["the job has no VM \"singel\"; did you mean single?"],
    );

    let ov = [
        "--rename",
        "single=single-prod",
        "--set",
        "single.vdc=acme-vdc-2",
        "--set",
        "single.network=acme-net-2",
    ];
    let plan = s.ok(&import(&s, &sims, "plan", &ov));
    assert!(
        plan.contains("override: VM \"single\" (vm-000): vdc \"acme-vdc\" -> \"acme-vdc-2\"")
            && plan.contains("single-prod")
            && plan.contains("plan OK"),
        "{plan}"
    );
    s.ok(&import(&s, &sims, "run", &ov));
    let vapps = sims.vcd.vapps();
    let v = vapps
        .iter()
        .find(|v| v.name == "single-prod")
        .unwrap_or_else(|| panic!("{vapps:?}"));
    assert_eq!(v.vdc, "acme-vdc-2");

    // The receipt keeps the customer's name and lists the overrides, and it verifies.
    let receipt = std::fs::read_dir(s.path("state"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("receipt-") && n.ends_with(".json")
        })
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&receipt).unwrap()).unwrap();
    assert_eq!(r["vms"][0]["name"], "single");
    let fields: Vec<&str> = r["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "vdc", "network"], "{r}");
    let inspect = s.ok(&s.import(&[
        "inspect",
        "--nas",
        s.nas().to_str().unwrap(),
        "--state",
        s.path("state").to_str().unwrap(),
    ]));
    assert!(
        inspect.contains(
            "import override: VM \"single\" (vm-000): name \"single\" -> \"single-prod\""
        ),
        "{inspect}"
    );

    // A rerun under other overrides is refused; the same ones pass (nothing to do).
    let o = import(&s, &sims, "run", &["--set", "single.vdc=acme-vdc-2"]);
    assert_fails(&o, 2, &["started with other overrides", "nothing was done"]);
    s.ok(&import(&s, &sims, "run", &ov));
}
