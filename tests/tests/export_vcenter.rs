//! Export straight from a source vCenter (vcsim): a VM deployed by `odt-import` is exported
//! back by `odt-export --vcenter`, verifies, and decrypts to the original disks; powered-on
//! VMs are refused by name.

use odt_tests::vcsim::{Options, Vcsim};
use odt_tests::{assert_fails, decrypt_digests, samples, sha256_file, Scratch, PASSPHRASE};

use odt_tests::vcsim::{PASSWORD, USER};

fn vcsim() -> Option<Vcsim> {
    Vcsim::with_login_or_skip(Options::default())
}

fn cmd(s: &Scratch, bin: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(odt_tests::bin(bin))
        .args(args)
        .current_dir(s.dir.path())
        .env("ODT_VCENTER_USER", USER)
        .env("ODT_VCENTER_PASSWORD", PASSWORD)
        .env("ODT_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap()
}

/// Deploys the `multi` sample into vcsim through the importer.
fn deploy_multi(vc: &Vcsim) -> Scratch {
    deploy(vc, &["multi"])
}

/// Deploys these samples into vcsim through the importer.
fn deploy(vc: &Vcsim, names: &[&str]) -> Scratch {
    let s = Scratch::new();
    let srcs: Vec<_> = names.iter().map(|n| samples().join(n)).collect();
    let refs: Vec<&std::path::Path> = srcs.iter().map(|p| p.as_path()).collect();
    s.ok(&s.export_run(&refs, &[]));
    s.ok(&s.verify_at_dock());
    let args = s.import_run_args(&vc.url);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    s.ok(&cmd(&s, "odt-import", &argv));
    s
}

fn export_from(
    s: &Scratch,
    vc: &Vcsim,
    nas: &std::path::Path,
    sources: &[&str],
) -> std::process::Output {
    std::fs::create_dir_all(nas).unwrap();
    let (k, p) = (s.path("k"), s.path("p.pub"));
    let mut args = vec![
        "run",
        "--nas",
        nas.to_str().unwrap(),
        "--signing-key",
        k.to_str().unwrap(),
        "--recipient",
        p.to_str().unwrap(),
        "--no-passphrase",
        "--org",
        "acme",
        "--vdc",
        "acme-vdc",
        "--vcenter",
        &vc.url,
        "--json",
    ];
    args.extend_from_slice(sources);
    cmd(s, "odt-export", &args)
}

#[test]
fn a_vm_exported_from_vcenter_verifies_and_has_the_original_disks() {
    let Some(vc) = vcsim() else { return };
    let s = deploy_multi(&vc);
    let nas2 = s.path("nas2");
    let out = s.ok(&export_from(&s, &vc, &nas2, &["DC0/vm/multi"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["vms"][0]["name"], "multi");
    // Both sides' verification.
    let (kp, id) = (s.path("k.pub"), s.path("p"));
    for args in [
        vec![
            "verify",
            "--nas",
            nas2.to_str().unwrap(),
            "--trusted-key",
            kp.to_str().unwrap(),
        ],
        vec![
            "verify",
            "--nas",
            nas2.to_str().unwrap(),
            "--trusted-key",
            kp.to_str().unwrap(),
            "--deep",
            "--identity",
            id.to_str().unwrap(),
        ],
    ] {
        s.ok(&cmd(&s, "odt-import", &args));
    }
    // The disks decrypt to the original VMDKs' bytes.
    let got = decrypt_digests(&nas2, &kp, &id);
    for disk in ["multi-disk1.vmdk", "multi-disk2.vmdk", "multi-disk3.vmdk"] {
        let orig = sha256_file(&samples().join("multi").join(disk));
        assert!(
            got.iter().any(|(_, _, d)| *d == orig),
            "{disk} ({orig}) not among {got:?}"
        );
    }
    // The manifest summarises the descriptor vCenter wrote: three disks.
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(nas2.join("odt-job.json")).unwrap()).unwrap();
    assert_eq!(m["vms"][0]["source_kind"], "vcenter");
    assert_eq!(
        m["vms"][0]["summary"]["disk_capacities"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn vms_downloaded_at_once_each_decrypt_to_their_own_disks() {
    let Some(vc) = vcsim() else { return };
    let s = deploy(&vc, &["multi", "single"]);
    let nas2 = s.path("nas2");
    let out = s.ok(&export_from(
        &s,
        &vc,
        &nas2,
        &["--parallel", "2", "DC0/vm/multi", "DC0/vm/single"],
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["vms"][0]["name"], "multi", "{out}");
    assert_eq!(v["vms"][1]["name"], "single", "{out}");
    let (kp, id) = (s.path("k.pub"), s.path("p"));
    let got = decrypt_digests(&nas2, &kp, &id);
    for (dir, sample, disk) in [
        ("vm-000", "multi", "multi-disk1.vmdk"),
        ("vm-000", "multi", "multi-disk3.vmdk"),
        ("vm-001", "single", "single-disk1.vmdk"),
    ] {
        let orig = sha256_file(&samples().join(sample).join(disk));
        assert!(
            got.iter().any(|(d, _, h)| d == dir && *h == orig),
            "{disk} ({orig}) not in {dir}: {got:?}"
        );
    }
}

#[test]
fn powered_on_vms_are_refused_by_name_and_nothing_is_written() {
    let Some(vc) = vcsim() else { return };
    let s = Scratch::new();
    let nas2 = s.path("nas2");
    let o = export_from(&s, &vc, &nas2, &["DC0_H0_VM*"]);
    assert_fails(
        &o,
        1,
        &[
            "not powered off",
            "DC0_H0_VM0 (poweredOn)",
            "DC0_H0_VM1 (poweredOn)",
        ],
    );
    assert_eq!(std::fs::read_dir(&nas2).unwrap().count(), 0);
    let o = export_from(&s, &vc, &nas2, &["no-such-vm"]);
    assert_fails(&o, 1, &["no VM", "matches \"no-such-vm\""]);
}

#[test]
fn a_cut_download_leaves_nothing_that_verifies_and_the_rerun_completes() {
    let Some(vc) = vcsim() else { return };
    let s = deploy_multi(&vc);
    let nas2 = s.path("nas2");
    let (kp, id) = (s.path("k.pub"), s.path("p"));
    let verify = |deep: bool| {
        let mut args = vec![
            "verify",
            "--nas",
            nas2.to_str().unwrap(),
            "--trusted-key",
            kp.to_str().unwrap(),
        ];
        if deep {
            args.extend(["--deep", "--identity", id.to_str().unwrap()]);
        }
        cmd(&s, "odt-import", &args)
    };
    let exports = || -> Vec<serde_json::Value> {
        vc.leases()
            .into_iter()
            .filter(|l| l["kind"] == "export")
            .collect()
    };

    // The first disk downloads whole; the second is cut after 100 000 bytes. One disk at a
    // time, so the third is never started (the parallel case is the next test).
    vc.fail_downloads_after(1, 100_000, None, 1).unwrap();
    let o = export_from(&s, &vc, &nas2, &["--parallel", "1", "DC0/vm/multi"]);
    assert_fails(
        &o,
        1,
        &[
            "the export lease of multi was aborted",
            "rerun the same command to resume at this disk",
        ],
    );
    let first = vc.downloads();
    assert_eq!(
        first
            .iter()
            .map(|d| (d.status, d.bytes == d.size, d.bytes))
            .collect::<Vec<_>>()[..],
        [(200, true, first[0].size), (0, false, 100_000)],
        "{first:?}"
    );
    let (done_file, cut_file) = (first[0].file.clone(), first[1].file.clone());
    assert_ne!(done_file, cut_file);
    // The lease was aborted, with the reason.
    let leases = exports();
    assert_eq!(leases.len(), 1, "{leases:?}");
    assert_eq!(leases[0]["state"], "aborted", "{leases:?}");
    assert_eq!(leases[0]["lease"].as_str(), Some(first[0].lease.as_str()));
    assert!(
        !leases[0]["abort_fault"].as_str().unwrap_or("").is_empty(),
        "{leases:?}"
    );
    // Nothing on that NAS verifies: the job is unfinished.
    for deep in [false, true] {
        assert_fails(&verify(deep), 1, &["interrupted"]);
    }
    assert!(!nas2.join("odt-job.json").exists());

    // The same command again resumes at the cut disk.
    let out = s.ok(&export_from(
        &s,
        &vc,
        &nas2,
        &["--parallel", "1", "DC0/vm/multi"],
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["resumed"], true, "{v}");
    assert_eq!(v["vms"][0]["name"], "multi", "{v}");
    let all = vc.downloads();
    let second: Vec<_> = all[first.len()..].iter().collect();
    assert!(
        second
            .iter()
            .all(|d| d.status == 200 && d.bytes == d.size && d.lease != first[0].lease),
        "{second:?}"
    );
    let count = |f: &str| all.iter().filter(|d| d.file == f).count();
    assert_eq!(
        count(&done_file),
        1,
        "the finished disk was downloaded again: {all:?}"
    );
    assert_eq!(count(&cut_file), 2, "{all:?}");
    assert_eq!(
        second.len(),
        2,
        "the rerun downloads the cut disk and the last: {all:?}"
    );
    let leases = exports();
    assert_eq!(
        leases
            .iter()
            .map(|l| l["state"].clone())
            .collect::<Vec<_>>(),
        ["aborted", "done"],
        "{leases:?}"
    );
    assert_eq!(leases[1]["lease"].as_str(), Some(second[0].lease.as_str()));

    // The finished job verifies on both sides' terms and holds the original disks.
    s.ok(&verify(false));
    s.ok(&verify(true));
    let got = decrypt_digests(&nas2, &kp, &id);
    for disk in ["multi-disk1.vmdk", "multi-disk2.vmdk", "multi-disk3.vmdk"] {
        let orig = sha256_file(&samples().join("multi").join(disk));
        assert!(
            got.iter().any(|(_, _, d)| *d == orig),
            "{disk} ({orig}) not among {got:?}"
        );
    }
}

#[test]
fn a_disk_cut_while_others_download_at_once_is_the_only_one_the_rerun_fetches() {
    let Some(vc) = vcsim() else { return };
    let s = deploy_multi(&vc);
    let nas2 = s.path("nas2");
    let (kp, id) = (s.path("k.pub"), s.path("p"));
    // Three disks at once; whichever GET comes second is cut after 100 000 bytes.
    vc.fail_downloads_after(1, 100_000, None, 1).unwrap();
    let o = export_from(&s, &vc, &nas2, &["--parallel", "3", "DC0/vm/multi"]);
    assert_fails(&o, 1, &["the export lease of multi was aborted"]);
    let first = vc.downloads();
    let cut: Vec<_> = first.iter().filter(|d| d.bytes != d.size).collect();
    assert_eq!(cut.len(), 1, "{first:?}");
    assert_eq!(first.len(), 3, "all three disks were under way: {first:?}");
    // No bytes of the cut disk are left to be mistaken for a start.
    let stray: Vec<_> = walk(&nas2)
        .into_iter()
        .filter(|p| {
            p.to_string_lossy()
                .contains(&cut[0].file.replace(".vmdk", ""))
        })
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    assert!(!nas2.join("odt-job.json").exists());

    // The rerun downloads the cut disk alone: the two that finished meanwhile were recorded.
    let out = s.ok(&export_from(&s, &vc, &nas2, &["DC0/vm/multi"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["resumed"], true, "{v}");
    let all = vc.downloads();
    let second: Vec<_> = all[first.len()..].iter().collect();
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0].file, cut[0].file, "{second:?}");
    let got = decrypt_digests(&nas2, &kp, &id);
    for disk in ["multi-disk1.vmdk", "multi-disk2.vmdk", "multi-disk3.vmdk"] {
        let orig = sha256_file(&samples().join("multi").join(disk));
        assert!(
            got.iter().any(|(_, _, d)| *d == orig),
            "{disk} ({orig}) not among {got:?}"
        );
    }
}

/// Every file below `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
