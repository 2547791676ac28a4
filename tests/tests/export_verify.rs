//! Export sample VMs, verify them on both sides, then damage the NAS in every way the courier
//! might and check verification fails naming the file (and chunk).

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use odt_tests::{assert_fails, samples, Scratch};

const CHUNK: u64 = 1 << 20;
const CT_CHUNK: u64 = CHUNK + 16;

fn exported(sources: &[&Path]) -> Scratch {
    let s = Scratch::new();
    s.ok(&s.export_run(
        sources,
        &[
            "--org",
            "acme",
            "--vdc",
            "acme-vdc",
            "--network",
            "acme-net",
        ],
    ));
    s
}

fn single() -> Scratch {
    exported(&[&samples().join("single")])
}

fn disk(s: &Scratch) -> std::path::PathBuf {
    s.nas().join("data/vm-000/single-disk1.vmdk.odt")
}

fn flip(p: &Path, at: u64) {
    let mut f = OpenOptions::new().read(true).write(true).open(p).unwrap();
    let mut b = [0u8];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut b).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&[b[0] ^ 0x01]).unwrap();
}

#[test]
fn ovf_folder_ova_and_vapp_export_and_verify_on_both_sides() {
    let sm = samples();
    let s = exported(&[
        &sm.join("single"),
        &sm.join("multi.ova"),
        &sm.join("vapp"),
        &sm.join("single2/single2.ovf"),
    ]);
    assert!(s.ok(&s.verify_export(&[])).contains("OK"));
    assert!(s.ok(&s.verify_import(&[])).contains("OK"));
    // Deep: with the passphrase, and with the provider's identity.
    s.ok(&s.verify_export(&["--deep"]));
    let id = s.path("p");
    s.ok(&s.verify_import(&["--deep", "--identity", id.to_str().unwrap()]));
    // The JSON report is one object.
    let out = s.ok(&s.verify_import(&["--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["vms"], 4);
    // The manifest records targets and the OVF summary, and no journal is left.
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.nas().join("odt-job.json")).unwrap()).unwrap();
    assert_eq!(m["vms"][1]["source_kind"], "ova");
    assert_eq!(
        m["vms"][1]["summary"]["disk_capacities"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(m["vms"][2]["summary"]["is_vapp"], true);
    assert_eq!(m["vms"][0]["target"]["vdc"], "acme-vdc");
    assert!(!s.nas().join("odt-journal.json").exists());
    // Rerunning the same command on a finished job changes nothing.
    let before = std::fs::read(s.nas().join("odt-job.json")).unwrap();
    let again = s.ok(&s.export_run(
        &[
            &sm.join("single"),
            &sm.join("multi.ova"),
            &sm.join("vapp"),
            &sm.join("single2/single2.ovf"),
        ],
        &[
            "--org",
            "acme",
            "--vdc",
            "acme-vdc",
            "--network",
            "acme-net",
        ],
    ));
    assert!(again.contains("already complete"), "{again}");
    assert_eq!(std::fs::read(s.nas().join("odt-job.json")).unwrap(), before);
}

#[test]
fn a_flipped_byte_in_any_encrypted_file_names_file_and_chunk() {
    let s = single();
    // Chunk 1 of the disk.
    flip(&disk(&s), 32 + CT_CHUNK + 100);
    for o in [s.verify_export(&[]), s.verify_import(&[])] {
        assert_fails(
            &o,
            1,
            &[
                "data/vm-000/single-disk1.vmdk.odt",
                "1 damaged chunk: 1 (bytes",
            ],
        );
    }
    // The descriptor and the .mf are protected the same way.
    for f in ["single.ovf.odt", "single.mf.odt"] {
        let s = single();
        flip(&s.nas().join("data/vm-000").join(f), 40);
        assert_fails(
            &s.verify_export(&[]),
            1,
            &[&format!("data/vm-000/{f}"), "chunk: 0"],
        );
    }
    // The header.
    let s = single();
    flip(&disk(&s), 20);
    assert_fails(
        &s.verify_import(&[]),
        1,
        &["single-disk1.vmdk.odt", "header"],
    );
    // The chunk digest list.
    let s = single();
    flip(&s.nas().join("data/vm-000/single-disk1.vmdk.odt.sums"), 3);
    assert_fails(
        &s.verify_import(&[]),
        1,
        &["single-disk1.vmdk.odt", ".sums was altered"],
    );
    // A planted 64 GiB (sparse) digest list is refused by its size, never read into memory.
    let s = single();
    OpenOptions::new()
        .write(true)
        .open(s.nas().join("data/vm-000/single-disk1.vmdk.odt.sums"))
        .unwrap()
        .set_len(64 << 30)
        .unwrap();
    assert_fails(
        &s.verify_export(&[]),
        1,
        &["single-disk1.vmdk.odt", ".sums was altered"],
    );
}

#[test]
fn many_damaged_chunks_are_counted_and_the_first_named() {
    let s = Scratch::new();
    let src = odt_tests::make_big_ovf(&s.path("big"), "big", 20 * CHUNK);
    s.ok(&s.export_run(&[&src], &["--org", "acme", "--vdc", "acme-vdc"]));
    let disk = s.nas().join("data/vm-000/big-disk1.vmdk.odt");
    for i in 0..18 {
        flip(&disk, 32 + i * CT_CHUNK + 7);
    }
    assert_fails(
        &s.verify_export(&[]),
        1,
        &[
            "data/vm-000/big-disk1.vmdk.odt",
            "18 damaged chunks: 0 (bytes 32..1048624), 1 (bytes",
            ", 15 (bytes",
            "and 2 more",
        ],
    );
}

#[test]
fn truncated_extended_swapped_and_deleted_files_fail() {
    let s = single();
    let f = OpenOptions::new().write(true).open(disk(&s)).unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len - 10).unwrap();
    assert_fails(
        &s.verify_import(&[]),
        1,
        &["single-disk1.vmdk.odt", "truncated"],
    );

    let s = single();
    OpenOptions::new()
        .append(true)
        .open(disk(&s))
        .unwrap()
        .write_all(b"extra")
        .unwrap();
    assert_fails(
        &s.verify_import(&[]),
        1,
        &["single-disk1.vmdk.odt", "5 bytes longer"],
    );

    // Swap chunks 0 and 1 (both full size).
    let s = single();
    let mut data = std::fs::read(disk(&s)).unwrap();
    let (a, b) = (32usize, 32 + CT_CHUNK as usize);
    let c0 = data[a..b].to_vec();
    let c1 = data[b..b + CT_CHUNK as usize].to_vec();
    data[a..b].copy_from_slice(&c1);
    data[b..b + CT_CHUNK as usize].copy_from_slice(&c0);
    std::fs::write(disk(&s), &data).unwrap();
    assert_fails(
        &s.verify_import(&[]),
        1,
        &[
            "single-disk1.vmdk.odt",
            "2 damaged chunks: 0 (bytes",
            "1 (bytes",
        ],
    );

    let s = single();
    std::fs::remove_file(disk(&s)).unwrap();
    assert_fails(
        &s.verify_export(&[]),
        1,
        &["data/vm-000/single-disk1.vmdk.odt", "missing"],
    );

    // A file added to the NAS is reported too.
    let s = single();
    std::fs::write(s.nas().join("data/vm-000/evil.sh"), b"#!/bin/sh").unwrap();
    assert_fails(
        &s.verify_import(&[]),
        1,
        &["data/vm-000/evil.sh", "not in the manifest"],
    );
}

#[test]
fn an_edited_manifest_or_the_wrong_key_fails_before_any_data_is_read() {
    let s = single();
    let mpath = s.nas().join("odt-job.json");
    let m = std::fs::read_to_string(&mpath).unwrap();
    std::fs::write(&mpath, m.replace("acme-vdc", "evil-vdc")).unwrap();
    for o in [s.verify_export(&[]), s.verify_import(&[])] {
        assert_fails(&o, 1, &["odt-job.json does not match its signature"]);
    }
    // Even without --trusted-key, the embedded key catches the edit.
    let nas = s.nas();
    assert_fails(
        &s.export(&["verify", "--nas", nas.to_str().unwrap()]),
        1,
        &["altered after signing"],
    );

    let s = single();
    let other = s.path("other");
    s.ok(&s.export(&["keygen", "--out", other.to_str().unwrap()]));
    let o = s.import(&[
        "verify",
        "--nas",
        nas_str(&s),
        "--trusted-key",
        s.path("other.pub").to_str().unwrap(),
    ]);
    assert_fails(&o, 1, &["signed by key", "wrong --trusted-key"]);

    let s = single();
    std::fs::remove_file(s.nas().join("odt-job.json.sig")).unwrap();
    assert_fails(&s.verify_import(&[]), 1, &["odt-job.json.sig is missing"]);
}

fn nas_str(s: &Scratch) -> &'static str {
    Box::leak(s.nas().to_str().unwrap().to_owned().into_boxed_str())
}

#[test]
fn deep_verify_with_a_wrong_secret_fails_clearly() {
    let s = single();
    let kp = s.path("k.pub");
    let o = s.cmd(
        "odt-export",
        &[
            "verify",
            "--nas",
            nas_str(&s),
            "--trusted-key",
            kp.to_str().unwrap(),
            "--deep",
        ],
        Some("not the passphrase"),
    );
    assert_fails(&o, 1, &["wrong passphrase"]);
    let other = s.path("other");
    s.ok(&s.import(&["keygen", "--out", other.to_str().unwrap()]));
    let o = s.verify_import(&["--deep", "--identity", other.to_str().unwrap()]);
    assert_fails(&o, 1, &["not a recipient"]);
    // No passphrase source at all (not a terminal): a clear usage error.
    let o = s.cmd(
        "odt-export",
        &[
            "verify",
            "--nas",
            nas_str(&s),
            "--trusted-key",
            kp.to_str().unwrap(),
            "--deep",
        ],
        None,
    );
    assert_fails(&o, 2, &["ODT_PASSPHRASE"]);
}

#[test]
fn a_source_whose_mf_does_not_match_is_refused_and_nothing_is_written() {
    let s = Scratch::new();
    let src = s.path("bad");
    odt_tests::copy_tree(&samples().join("multi"), &src);
    // Damage the last disk: the refusal comes after the others were streamed, and must still
    // leave the NAS as it was.
    flip(&src.join("multi-disk3.vmdk"), 1000);
    let o = s.export_run(&[&src], &[]);
    assert_fails(
        &o,
        1,
        &["multi-disk3.vmdk", "does not match multi.mf", "refused"],
    );
    assert_eq!(
        std::fs::read_dir(s.nas()).unwrap().count(),
        0,
        "the NAS must be left empty"
    );

    // A damaged descriptor is caught before anything is written at all.
    let src2 = s.path("bad2");
    odt_tests::copy_tree(&samples().join("single"), &src2);
    let d = src2.join("single.ovf");
    let t = std::fs::read_to_string(&d).unwrap();
    std::fs::write(&d, t.replacen("corp-lan", "corp-lam", 1)).unwrap();
    let o = s.export_run(&[&src2], &[]);
    assert_fails(
        &o,
        1,
        &[
            "single.ovf does not match its SHA256 digest in single.mf",
            "nothing was written",
        ],
    );
    assert_eq!(std::fs::read_dir(s.nas()).unwrap().count(), 0);
}

#[test]
fn hostile_ova_members_are_refused() {
    let s = Scratch::new();
    // An OVA whose second member climbs out of the folder.
    let ova = s.path("evil.ova");
    let mut b = tar::Builder::new(std::fs::File::create(&ova).unwrap());
    let desc = std::fs::read(samples().join("single/single.ovf")).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_size(desc.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "single.ovf", &desc[..]).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_size(3);
    h.set_mode(0o644);
    // Write the name into the raw header to bypass the builder's own path checks.
    h.as_old_mut().name[..9].copy_from_slice(b"../x.vmdk");
    h.set_cksum();
    b.append(&h, &b"abc"[..]).unwrap();
    b.into_inner().unwrap();
    let o = s.export_run(&[&ova], &[]);
    assert_fails(&o, 1, &["evil.ova"]);
    assert_eq!(std::fs::read_dir(s.nas()).unwrap().count(), 0);
}

/// Packages of unequal sizes, so the threads of `--parallel` finish out of order.
fn unequal_packages(s: &Scratch) -> Vec<std::path::PathBuf> {
    [
        ("big", 9u64 << 20),
        ("tiny", 1 << 10),
        ("mid", 3 << 20),
        ("small", 1 << 20),
    ]
    .iter()
    .map(|(name, size)| odt_tests::make_big_ovf(&s.path(name), name, *size))
    .collect()
}

#[test]
fn vms_exported_at_once_land_in_the_order_given_and_decrypt_to_their_sources() {
    let s = Scratch::new();
    let srcs = unequal_packages(&s);
    let refs: Vec<&Path> = srcs.iter().map(|p| p.as_path()).collect();
    let out = s.ok(&s.export_run(&refs, &["--parallel", "4", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true, "{out}");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.nas().join("odt-job.json")).unwrap()).unwrap();
    let order: Vec<(&str, &str)> = m["vms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|vm| {
            (
                vm["dir"].as_str().unwrap(),
                vm["source_name"].as_str().unwrap(),
            )
        })
        .collect();
    let want = ["big", "tiny", "mid", "small"];
    for (i, (dir, source)) in order.iter().enumerate() {
        assert_eq!(*dir, format!("vm-{i:03}"), "{order:?}");
        assert_eq!(*source, format!("{}.ovf", want[i]), "{order:?}");
    }
    s.ok(&s.verify_export(&["--deep"]));
    // Every file decrypts to the bytes of its own source, whatever thread sealed it.
    let got = odt_tests::decrypt_digests(&s.nas(), &s.path("k.pub"), &s.path("p"));
    for (i, name) in ["big", "tiny", "mid", "small"].iter().enumerate() {
        let disk = format!("{name}-disk1.vmdk");
        let (_, _, digest) = got
            .iter()
            .find(|(dir, f, _)| *dir == format!("vm-{i:03}") && *f == disk)
            .unwrap_or_else(|| panic!("{disk} not in vm-{i:03}: {got:?}"));
        assert_eq!(
            *digest,
            odt_tests::sha256_file(&s.path(name).join(&disk)),
            "{disk}"
        );
    }
}

#[test]
fn a_damaged_package_among_several_exported_at_once_leaves_the_nas_empty() {
    let s = Scratch::new();
    let srcs = unequal_packages(&s);
    // The tiny one fails first, while the big one is still being written by another thread:
    // the fresh job must still be removed whole, after that thread stops writing.
    flip(&s.path("tiny").join("tiny-disk1.vmdk"), 10);
    let refs: Vec<&Path> = srcs.iter().map(|p| p.as_path()).collect();
    let o = s.export_run(&refs, &["--parallel", "3"]);
    assert_fails(
        &o,
        1,
        &["tiny-disk1.vmdk", "does not match tiny.mf", "refused"],
    );
    assert_eq!(
        std::fs::read_dir(s.nas()).unwrap().count(),
        0,
        "the NAS must be left empty"
    );
}
