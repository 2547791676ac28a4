//! Hostile inputs on both sides of the courier (issue 10): names that carry terminal escapes,
//! FIFOs and oversized files where odt expects small regular files, descriptors and names the
//! NAS cannot hold, secret files open to others, and files planted at the job root. Each test
//! cites the guarantee of docs/SECURITY.md it checks. Commands that could hang run under a
//! timeout (`cmd_within`), so a regression fails instead of stalling the suite.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use odt_tests::{assert_fails, text, Scratch, PASSPHRASE};

/// Bytes no output of odt may carry from untrusted text: ESC, BEL, CSI (C1) and the bidi
/// override/isolate controls (UTF-8).
const RAW_CONTROLS: [&[u8]; 5] = [
    b"\x1b",
    b"\x07",
    "\u{9b}".as_bytes(),
    "\u{202e}".as_bytes(),
    "\u{2066}".as_bytes(),
];

fn assert_no_raw_controls(o: &Output) {
    for (what, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
        for c in RAW_CONTROLS {
            assert!(
                !bytes.windows(c.len()).any(|w| w == c),
                "{what} carries the raw bytes {c:?}:\n{}",
                text(bytes).escape_debug()
            );
        }
    }
}

/// A small OVF package in `dir`: `STEM.ovf` whose VM is `vm` with one NIC on `network`, one
/// disk file `disk` (4 KiB), any `extra_refs` added to References (files that must exist), and
/// a SHA256 `STEM.mf` covering all of them.
fn package(
    dir: &Path,
    stem: &str,
    vm: &str,
    disk: &str,
    network: &str,
    extra_refs: &[&str],
) -> PathBuf {
    use sha2::Digest;
    fs::create_dir_all(dir).unwrap();
    let data = vec![0x5au8; 4096];
    fs::write(dir.join(disk), &data).unwrap();
    let extra: String = extra_refs
        .iter()
        .enumerate()
        .map(|(i, r)| format!(r#"<File ovf:id="extra{i}" ovf:href="{r}"/>"#))
        .collect();
    let ovf = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References><File ovf:id="file1" ovf:href="{disk}" ovf:size="4096"/>{extra}</References>
  <DiskSection><Info>disks</Info><Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="1073741824"/></DiskSection>
  <NetworkSection><Info>nets</Info><Network ovf:name="{network}"><Description>lan</Description></Network></NetworkSection>
  <VirtualSystem ovf:id="vm1">
    <Info>vm</Info><Name>{vm}</Name>
    <VirtualHardwareSection><Info>hw</Info>
      <Item><rasd:ElementName>disk</rasd:ElementName><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>17</rasd:ResourceType></Item>
      <Item><rasd:Connection>{network}</rasd:Connection><rasd:ElementName>nic</rasd:ElementName><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceType>10</rasd:ResourceType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"#
    );
    let ovf_name = format!("{stem}.ovf");
    fs::write(dir.join(&ovf_name), &ovf).unwrap();
    let mut mf = String::new();
    let sha = |b: &[u8]| hex::encode(sha2::Sha256::digest(b));
    mf.push_str(&format!("SHA256({ovf_name})= {}\n", sha(ovf.as_bytes())));
    mf.push_str(&format!("SHA256({disk})= {}\n", sha(&data)));
    for r in extra_refs {
        if let Ok(b) = fs::read(dir.join(r)) {
            if *r != ovf_name {
                mf.push_str(&format!("SHA256({r})= {}\n", sha(&b)));
            }
        }
    }
    fs::write(dir.join(format!("{stem}.mf")), mf).unwrap();
    dir.to_owned()
}

/// A scratch area with one good package exported into its NAS.
fn exported() -> (Scratch, PathBuf) {
    let s = Scratch::new();
    let src = package(
        &s.path("src"),
        "web",
        "web",
        "web-disk1.vmdk",
        "corp-lan",
        &[],
    );
    s.ok(&s.export_run(&[&src], &["--org", "acme", "--vdc", "acme-vdc"]));
    (s, src)
}

fn export_within(s: &Scratch, sources: &[&Path], extra: &[&str]) -> Output {
    let args = s.export_run_args(sources, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    s.cmd_within("odt-export", &args, Some(PASSPHRASE))
}

fn nas_is_empty(s: &Scratch) -> bool {
    fs::read_dir(s.nas()).unwrap().count() == 0
}

fn mkfifo(p: &Path) {
    let _ = fs::remove_file(p);
    nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

// ---------------------------------------------------------------- §S4: untrusted text

/// docs/SECURITY.md §S4: untrusted text never reaches a terminal raw; names are validated. A
/// VM `<Name>`, a network name or a target holding ESC, BEL, a C1 control or a bidi override
/// is refused by `odt-export run` before anything is written, with a message that names the
/// source and shows the character escaped.
#[test]
fn names_with_terminal_controls_are_refused_at_export() {
    let s = Scratch::new();
    for (i, (vm, network)) in [
        ("evil\x1b]0;owned\x07vm", "corp-lan"),
        ("evil&#x1b;[2Jvm", "corp-lan"),
        ("evil\u{9b}31mvm", "corp-lan"),
        ("evil\u{202e}mv", "corp-lan"),
        ("web", "corp\u{2066}lan"),
    ]
    .into_iter()
    .enumerate()
    {
        let src = package(
            &s.path(&format!("src{i}")),
            "web",
            vm,
            "web-disk1.vmdk",
            network,
            &[],
        );
        let o = export_within(&s, &[&src], &[]);
        assert_fails(&o, 1, &["web.ovf", "\\u{"]);
        assert_no_raw_controls(&o);
        assert!(nas_is_empty(&s), "case {i}: the NAS must stay empty");
    }
    // Targets are shown by the provider's tools too.
    let src = package(
        &s.path("good"),
        "web",
        "web",
        "web-disk1.vmdk",
        "corp-lan",
        &[],
    );
    for flag in ["--org", "--vdc", "--network", "--catalog"] {
        let o = export_within(&s, &[&src], &[flag, "acme\u{202e}x\x1b[0m"]);
        assert_fails(&o, 1, &["\\u{202e}"]);
        assert_no_raw_controls(&o);
        assert!(nas_is_empty(&s), "{flag}: the NAS must stay empty");
    }
}

/// docs/SECURITY.md §S4: untrusted text never reaches a terminal raw; names are validated. A
/// manifest signed by the customer's own key but written by a modified exporter, with control
/// characters or bidi overrides in any string the tools show, is refused as malformed by
/// `odt-import verify`, `odt-export verify` and `odt-import plan`, and the refusal shows the
/// characters escaped.
#[test]
fn a_signed_manifest_with_hostile_names_is_refused_by_every_reader() {
    type Edit = fn(&mut serde_json::Value);
    let edits: [(&str, Edit); 7] = [
        ("name", |v| {
            v["vms"][0]["name"] = "web\x1b]0;pwned\x07".into()
        }),
        ("org", |v| {
            v["vms"][0]["target"]["org"] = "ac\u{202e}me".into()
        }),
        ("network", |v| {
            v["vms"][0]["summary"]["networks"][0] = "lan\u{9b}2J".into()
        }),
        ("virtual system", |v| {
            v["vms"][0]["summary"]["virtual_systems"][0] = "vm\u{2066}".into()
        }),
        ("source", |v| {
            v["vms"][0]["source_name"] = "web\x1b[2J".into()
        }),
        ("exporter", |v| v["exporter"] = "odt\x07".into()),
        ("file", |v| {
            v["vms"][0]["files"][1]["name"] = "web\u{202e}fm.".into();
            v["vms"][0]["mf"] = "web\u{202e}fm.".into();
        }),
    ];
    for (what, edit) in edits {
        let (s, _) = exported();
        s.resign_manifest(edit);
        let (nas, kp) = (s.nas(), s.path("k.pub"));
        let (nas, kp) = (nas.to_str().unwrap(), kp.to_str().unwrap());
        for o in [
            s.cmd_within(
                "odt-import",
                &["verify", "--nas", nas, "--trusted-key", kp],
                None,
            ),
            s.cmd_within(
                "odt-export",
                &["verify", "--nas", nas, "--trusted-key", kp],
                None,
            ),
            s.cmd_within("odt-export", &["verify", "--nas", nas], None),
            s.cmd_within(
                "odt-import",
                &[
                    "plan",
                    "--nas",
                    nas,
                    "--trusted-key",
                    kp,
                    "--vcenter",
                    "https://127.0.0.1:9",
                ],
                None,
            ),
        ] {
            assert_fails(&o, 1, &["odt-job.json", "\\u{"]);
            assert_no_raw_controls(&o);
            let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
            assert!(
                all.contains("control character") || all.contains("bidirectional"),
                "{what}: {all}"
            );
        }
    }
}

/// docs/SECURITY.md §S4: untrusted text never reaches a terminal raw. A file planted on the
/// NAS under a name holding terminal controls is reported by verify with the name escaped.
#[test]
fn a_planted_file_name_is_shown_escaped() {
    let (s, _) = exported();
    fs::write(
        s.nas().join("data/vm-000/x\x1b[2J\u{202e}.sh"),
        b"#!/bin/sh",
    )
    .unwrap();
    for o in [
        s.verify_import(&[]),
        s.verify_export(&[]),
        s.verify_import(&["--json"]),
    ] {
        assert_fails(&o, 1, &["not in the manifest"]);
        assert_no_raw_controls(&o);
    }
}

// ------------------------------------------------------------ §S5: FIFOs, bounded reads

/// docs/SECURITY.md §S5: non-regular files are refused before opening; every read of an
/// untrusted or local file is bounded. A FIFO in place of the manifest, its signature, an
/// encrypted file or its digest list makes both verifiers fail at once, never wait.
#[test]
fn fifos_in_the_job_are_refused_not_waited_on() {
    let (s, _) = exported();
    let kp = s.path("k.pub");
    for rel in [
        "odt-job.json",
        "odt-job.json.sig",
        "data/vm-000/web-disk1.vmdk.odt",
        "data/vm-000/web-disk1.vmdk.odt.sums",
        "data/vm-000/web.ovf.odt",
    ] {
        let nas = s.path(&format!("copy-{}", rel.replace('/', "_")));
        odt_tests::copy_tree(&s.nas(), &nas);
        mkfifo(&nas.join(rel));
        let (n, k) = (nas.to_str().unwrap(), kp.to_str().unwrap());
        for o in [
            s.cmd_within(
                "odt-import",
                &["verify", "--nas", n, "--trusted-key", k],
                None,
            ),
            s.cmd_within(
                "odt-export",
                &["verify", "--nas", n, "--trusted-key", k],
                None,
            ),
        ] {
            assert_fails(&o, 1, &["not a regular file"]);
        }
        // Deep verification and the importer's reads go through the same checks.
        let id = s.path("p");
        let o = s.cmd_within(
            "odt-import",
            &[
                "verify",
                "--nas",
                n,
                "--trusted-key",
                k,
                "--deep",
                "--identity",
                id.to_str().unwrap(),
            ],
            None,
        );
        assert_fails(&o, 1, &["not a regular file"]);
    }
}

/// docs/SECURITY.md §S5: non-regular files are refused before opening. A FIFO as the export
/// journal, as the source descriptor, `.mf` or `.ova`, or as a disk, is refused at once.
#[test]
fn fifos_at_export_are_refused_not_waited_on() {
    let s = Scratch::new();
    // The journal of an "interrupted" job.
    let src = package(
        &s.path("src"),
        "web",
        "web",
        "web-disk1.vmdk",
        "corp-lan",
        &[],
    );
    mkfifo(&s.nas().join("odt-journal.json"));
    assert_fails(
        &export_within(&s, &[&src], &[]),
        1,
        &["odt-journal.json", "not a regular file"],
    );
    fs::remove_file(s.nas().join("odt-journal.json")).unwrap();
    // Each source file in turn.
    for (i, f) in ["web.ovf", "web.mf", "web-disk1.vmdk"]
        .into_iter()
        .enumerate()
    {
        let src = package(
            &s.path(&format!("src{i}")),
            "web",
            "web",
            "web-disk1.vmdk",
            "corp-lan",
            &[],
        );
        mkfifo(&src.join(f));
        for given in [src.clone(), src.join("web.ovf")] {
            let o = export_within(&s, &[&given], &[]);
            assert_fails(&o, 1, &[f, "not a regular file"]);
            assert!(nas_is_empty(&s), "{f}: the NAS must stay empty");
        }
    }
    let ova = s.path("web.ova");
    mkfifo(&ova);
    assert_fails(
        &export_within(&s, &[&ova], &[]),
        1,
        &["web.ova", "not a regular file"],
    );
    assert!(nas_is_empty(&s));
}

/// docs/SECURITY.md §S5: non-regular files are refused before opening. FIFOs given as the
/// signing key, a recipient, the trusted key, the identity, a passphrase file, a job file or
/// a receipt are refused at once.
#[test]
fn fifo_keys_secrets_and_job_files_are_refused_not_waited_on() {
    let (s, src) = exported();
    let fifo = s.path("fifo");
    mkfifo(&fifo);
    let f = fifo.to_str().unwrap();
    let (nas, k, kp, p, pp) = (
        s.nas(),
        s.path("k"),
        s.path("k.pub"),
        s.path("p"),
        s.path("p.pub"),
    );
    let (nas, k, kp, p, pp) = (
        nas.to_str().unwrap(),
        k.to_str().unwrap(),
        kp.to_str().unwrap(),
        p.to_str().unwrap(),
        pp.to_str().unwrap(),
    );
    let other = s.path("nas2");
    fs::create_dir(&other).unwrap();
    let other = other.to_str().unwrap();
    let src = src.to_str().unwrap();
    let run = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "run",
            "--nas",
            other,
            "--org",
            "acme",
            "--vdc",
            "acme-vdc",
            "--kdf-memory-mib",
            "19",
            "--kdf-iterations",
            "1",
        ]
        .iter()
        .chain(extra)
        .map(|x| x.to_string())
        .collect();
        a.push(src.into());
        a
    };
    let cases: Vec<(&str, Vec<String>, Option<&str>)> = vec![
        (
            "odt-export",
            run(&["--signing-key", f, "--recipient", pp]),
            Some(PASSPHRASE),
        ),
        (
            "odt-export",
            run(&["--signing-key", k, "--recipient", f]),
            Some(PASSPHRASE),
        ),
        (
            "odt-export",
            run(&["--signing-key", k, "--passphrase-file", f]),
            None,
        ),
        (
            "odt-export",
            [
                "run",
                "--nas",
                other,
                "--signing-key",
                k,
                "--no-passphrase",
                "--recipient",
                pp,
                "--job",
                f,
            ]
            .map(String::from)
            .to_vec(),
            None,
        ),
        (
            "odt-import",
            ["verify", "--nas", nas, "--trusted-key", f]
                .map(String::from)
                .to_vec(),
            None,
        ),
        (
            "odt-import",
            [
                "verify",
                "--nas",
                nas,
                "--trusted-key",
                kp,
                "--deep",
                "--identity",
                f,
            ]
            .map(String::from)
            .to_vec(),
            None,
        ),
        (
            "odt-import",
            [
                "verify",
                "--nas",
                nas,
                "--trusted-key",
                kp,
                "--deep",
                "--passphrase-file",
                f,
            ]
            .map(String::from)
            .to_vec(),
            None,
        ),
        (
            "odt-export",
            [
                "verify-receipt",
                "--receipt",
                f,
                "--provider-key",
                kp,
                "--manifest",
                &format!("{nas}/odt-job.json"),
                "--trusted-key",
                kp,
            ]
            .map(String::from)
            .to_vec(),
            None,
        ),
    ];
    let _ = p;
    for (bin, args, pass) in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = s.cmd_within(bin, &a, pass);
        let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
        assert!(!o.status.success(), "{bin} {a:?} succeeded:\n{all}");
        assert!(all.contains("not a regular file"), "{bin} {a:?}:\n{all}");
        assert!(
            all.contains("fifo"),
            "{bin} {a:?} does not name the file:\n{all}"
        );
    }
}

/// docs/SECURITY.md §S5: every read of an untrusted or local file is bounded. An oversized
/// journal, passphrase file or job file is refused by its size, not read whole.
#[test]
fn oversized_journal_passphrase_and_job_files_are_refused_unread() {
    let s = Scratch::new();
    let src = package(
        &s.path("src"),
        "web",
        "web",
        "web-disk1.vmdk",
        "corp-lan",
        &[],
    );
    let journal = s.nas().join("odt-journal.json");
    fs::File::create(&journal)
        .unwrap()
        .set_len((64 << 20) + 1)
        .unwrap();
    assert_fails(
        &export_within(&s, &[&src], &[]),
        1,
        &["odt-journal.json", "larger than"],
    );
    fs::remove_file(&journal).unwrap();

    let pass = s.path("pass");
    fs::write(&pass, vec![b'a'; 1 << 20]).unwrap();
    chmod(&pass, 0o600);
    let o = export_within(&s, &[&src], &["--passphrase-file", pass.to_str().unwrap()]);
    assert_fails(&o, 2, &["pass", "larger than"]);
    assert!(nas_is_empty(&s));

    let job = s.path("job.toml");
    fs::File::create(&job)
        .unwrap()
        .set_len((16 << 20) + 1)
        .unwrap();
    let o = export_within(&s, &[], &["--job", job.to_str().unwrap()]);
    assert_fails(&o, 1, &["job.toml", "larger than"]);
    assert!(nas_is_empty(&s));
}

// ------------------------------------------------- §S6: nothing signed that fails verify

/// docs/SECURITY.md §S6: the exporter never signs a job that verify would reject. A
/// descriptor whose References list the descriptor itself is refused before anything is
/// written (it used to export a job listing the file twice, which no verify accepts).
#[test]
fn a_descriptor_that_references_itself_is_refused() {
    let s = Scratch::new();
    let dir = s.path("self");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("web.ovf"), b"placeholder").unwrap();
    let src = package(
        &dir,
        "web",
        "web",
        "web-disk1.vmdk",
        "corp-lan",
        &["web.ovf"],
    );
    let o = export_within(&s, &[&src], &[]);
    assert_fails(&o, 1, &["web.ovf", "References"]);
    assert!(nas_is_empty(&s), "the NAS must stay empty");
}

/// docs/SECURITY.md §S6: the exporter never signs a job that verify would reject: names too
/// long for `NAME.odt.sums`. Package file names of 247 to 255 bytes are valid on the source
/// file system but `NAME.odt.sums` is not: they are refused before anything is written; 246
/// bytes still export and verify.
#[test]
fn names_too_long_for_the_nas_are_refused_before_writing() {
    let s = Scratch::new();
    for n in 247..=255 {
        let disk = format!("{}.vmdk", "d".repeat(n - 5));
        assert_eq!(disk.len(), n);
        let src = package(
            &s.path(&format!("src{n}")),
            "web",
            "web",
            &disk,
            "corp-lan",
            &[],
        );
        let o = export_within(&s, &[&src], &[]);
        assert_fails(&o, 1, &["246 bytes", &disk[..40]]);
        assert!(nas_is_empty(&s), "{n} bytes: the NAS must stay empty");
    }
    let disk = format!("{}.vmdk", "d".repeat(241));
    let src = package(&s.path("src246"), "web", "web", &disk, "corp-lan", &[]);
    s.ok(&export_within(&s, &[&src], &[]));
    assert!(s.ok(&s.verify_import(&[])).contains("OK"));
}

// ------------------------------------------------------------- §S7: secret files

/// docs/SECURITY.md §S7: secret files must be 0600-ish like ssh. A signing key, an identity or
/// a passphrase file that group or others may read is refused with the `chmod 600` to run;
/// public keys stay readable.
#[test]
fn secret_files_open_to_others_are_refused_with_the_chmod_to_run() {
    let (s, src) = exported();
    let k = s.path("k");
    chmod(&s.path("k.pub"), 0o644);
    let other = s.path("nas2");
    fs::create_dir(&other).unwrap();
    for mode in [0o644, 0o640, 0o604, 0o620] {
        chmod(&k, mode);
        let o = s.cmd_within(
            "odt-export",
            &[
                "run",
                "--nas",
                other.to_str().unwrap(),
                "--org",
                "acme",
                "--vdc",
                "acme-vdc",
                "--signing-key",
                k.to_str().unwrap(),
                "--no-passphrase",
                "--recipient",
                s.path("p.pub").to_str().unwrap(),
                src.to_str().unwrap(),
            ],
            None,
        );
        assert_fails(
            &o,
            1,
            &[
                &format!("(mode 0{mode:o})"),
                &format!("chmod 600 {}", k.display()),
            ],
        );
    }
    chmod(&k, 0o600);
    let p = s.path("p");
    chmod(&p, 0o640);
    let o = s.verify_import(&["--deep", "--identity", p.to_str().unwrap()]);
    assert_fails(
        &o,
        1,
        &["(mode 0640)", &format!("chmod 600 {}", p.display())],
    );
    chmod(&p, 0o600);
    s.ok(&s.verify_import(&["--deep", "--identity", p.to_str().unwrap()]));

    let pass = s.path("pass");
    fs::write(&pass, format!("{PASSPHRASE}\n")).unwrap();
    chmod(&pass, 0o644);
    let o = s.cmd_within(
        "odt-import",
        &[
            "verify",
            "--nas",
            s.nas().to_str().unwrap(),
            "--trusted-key",
            s.path("k.pub").to_str().unwrap(),
            "--deep",
            "--passphrase-file",
            pass.to_str().unwrap(),
        ],
        None,
    );
    assert_fails(
        &o,
        2,
        &["(mode 0644)", &format!("chmod 600 {}", pass.display())],
    );
    chmod(&pass, 0o600);
    s.ok(&s.cmd_within(
        "odt-import",
        &[
            "verify",
            "--nas",
            s.nas().to_str().unwrap(),
            "--trusted-key",
            s.path("k.pub").to_str().unwrap(),
            "--deep",
            "--passphrase-file",
            pass.to_str().unwrap(),
        ],
        None,
    ));
}

/// docs/SECURITY.md §S7: key-file errors never echo contents. A secret key, a passphrase file
/// or any other text passed where a key is expected is refused without quoting it.
#[test]
fn key_file_errors_never_echo_the_file() {
    let s = Scratch::new();
    let nas = s.nas();
    let pw = s.path("pw");
    fs::write(&pw, "hunter2:correct-horse\n").unwrap();
    chmod(&pw, 0o600);
    let ssh = s.path("id.pub");
    fs::write(
        &ssh,
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyBody:comment\n",
    )
    .unwrap();
    for (file, secret) in [
        (s.path("k"), key_body(&s.path("k"))),
        (s.path("p"), key_body(&s.path("p"))),
        (pw.clone(), "hunter2".into()),
        (pw.clone(), "correct-horse".into()),
        (ssh.clone(), "AAAAC3NzaC1lZDI1NTE5".into()),
    ] {
        let f = file.to_str().unwrap();
        for o in [
            s.cmd_within(
                "odt-import",
                &["verify", "--nas", nas.to_str().unwrap(), "--trusted-key", f],
                None,
            ),
            s.cmd_within(
                "odt-export",
                &[
                    "run",
                    "--nas",
                    nas.to_str().unwrap(),
                    "--org",
                    "acme",
                    "--vdc",
                    "acme-vdc",
                    "--signing-key",
                    s.path("k").to_str().unwrap(),
                    "--no-passphrase",
                    "--recipient",
                    f,
                    "/nonexistent.ovf",
                ],
                None,
            ),
        ] {
            let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
            assert!(!o.status.success(), "{all}");
            assert!(all.contains(f), "the error names the file: {all}");
            assert!(!all.contains(&secret), "the error quotes {secret:?}: {all}");
        }
    }
}

fn key_body(p: &Path) -> String {
    let t = fs::read_to_string(p).unwrap();
    let line = t.lines().find(|l| !l.starts_with('#')).unwrap();
    line.split_once(':').unwrap().1.to_owned()
}

// ------------------------------------------------------ §S8: nothing unexpected in a job

/// docs/SECURITY.md §S8: verify refuses any unexpected file anywhere in the job, root
/// included. A file or folder planted beside the manifest, or a journal left beside a finished
/// job, fails verification by name; an empty `lost+found` (the root of a file system) does not.
#[test]
fn an_unexpected_file_at_the_job_root_fails_verify() {
    let (s, _) = exported();
    fs::create_dir(s.nas().join("lost+found")).unwrap();
    assert!(s.ok(&s.verify_import(&[])).contains("OK"));
    for (rel, dir) in [
        ("evil.sh", false),
        ("odt-journal.json", false),
        ("extra", true),
        ("lost+found/x", false),
    ] {
        let p = s.nas().join(rel);
        if dir {
            fs::create_dir(&p).unwrap();
        } else {
            fs::write(&p, b"{}").unwrap();
        }
        for o in [s.verify_import(&[]), s.verify_export(&[])] {
            assert_fails(
                &o,
                1,
                &[rel.split('/').next().unwrap(), "not in the manifest"],
            );
        }
        if dir {
            fs::remove_dir(&p).unwrap();
        } else {
            fs::remove_file(&p).unwrap();
        }
    }
    assert!(s.ok(&s.verify_export(&[])).contains("OK"));
}

/// docs/SECURITY.md §S6 and §S8: the exporter never signs a job that verify would reject, and
/// verify refuses any unexpected file at the job root: so an export does not start (or go on)
/// in a folder that holds anything else (an empty `lost+found` aside).
#[test]
fn a_new_job_does_not_start_beside_other_files() {
    let s = Scratch::new();
    let src = package(
        &s.path("src"),
        "web",
        "web",
        "web-disk1.vmdk",
        "corp-lan",
        &[],
    );
    fs::create_dir(s.nas().join("lost+found")).unwrap();
    fs::write(s.nas().join("notes.txt"), b"hi").unwrap();
    let o = export_within(&s, &[&src], &[]);
    assert_fails(&o, 1, &["notes.txt", "empty directory"]);
    assert!(!s.nas().join("data").exists() && !s.nas().join("odt-journal.json").exists());
    fs::remove_file(s.nas().join("notes.txt")).unwrap();
    s.ok(&export_within(&s, &[&src], &[]));
    assert!(s.ok(&s.verify_import(&[])).contains("OK"));
    // Nor does a rerun go on beside them.
    fs::create_dir(s.nas().join("extra")).unwrap();
    assert_fails(
        &export_within(&s, &[&src], &[]),
        1,
        &["extra", "move it away"],
    );
    fs::remove_dir(s.nas().join("extra")).unwrap();
    assert!(s
        .ok(&export_within(&s, &[&src], &[]))
        .contains("already complete"));
}
