//! Long work (issue 13 item 6): the plain progress lines when stderr is not a terminal, and
//! Ctrl-C. A real SIGINT is sent to a real `odt-export run` mid-file and to a real
//! `odt-import run` mid-upload (vcsim's NFC rate knob keeps the upload going); each must say
//! "interrupted: rerun the same command to resume", exit 130 after stopping cleanly, and the
//! same command must then finish the job whole.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use odt_tests::vcsim::{Options, Vcsim};
use odt_tests::{
    assert_fails, bin, decrypt_digests, make_big_ovf, sha256_file, text, Scratch, SealedChunks,
    PASSPHRASE,
};
use odt_vmware::vsphere::client::Client;
use odt_vmware::vsphere::inventory::{find_vm, Placement};
use odt_vmware::wire::TlsMode;

const MIB: u64 = 1 << 20;
const INTERRUPTED: &str = "interrupted: rerun the same command to resume";

/// `odt-export run` of `sources` as [`Scratch::export_run`] runs it, stderr a pipe (not a
/// terminal), progress lines every second.
fn export_command(s: &Scratch, sources: &[&Path], extra: &[&str]) -> Command {
    let args = s.export_run_args(sources, extra);
    let mut c = s.command(
        "odt-export",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        Some(PASSPHRASE),
    );
    c.env("ODT_PROGRESS_INTERVAL_SECS", "1");
    c
}

fn spawn(mut c: Command) -> Child {
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

fn sigint(child: &Child) {
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("send SIGINT");
}

/// Waits for `child` (at most 60 s: an interrupted run that hangs is a bug) and collects it.
fn finish(mut child: Child) -> Output {
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the interrupted command did not stop within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn len(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

/// The plain progress lines of `stderr`, after the program's name.
fn lines<'a>(stderr: &'a str, program: &str) -> Vec<&'a str> {
    let prefix = format!("{program}: ");
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter(|l| l.contains(" VMs, "))
        .collect()
}

/// Two VMs at once, stderr not a terminal: a line per finished VM (and one per period) with
/// VMs n/N, bytes of the total, percent, rate and ETA; the last says everything is done. With
/// `--json` stdout is one document and stderr carries no progress.
#[test]
fn off_a_terminal_progress_is_a_plain_line_per_vm_and_per_period() {
    let s = Scratch::new();
    let a = make_big_ovf(&s.path("a"), "a", 24 * MIB);
    let b = make_big_ovf(&s.path("b"), "b", 8 * MIB);
    let o = export_command(&s, &[&a, &b], &["--parallel", "2"])
        .output()
        .unwrap();
    s.ok(&o);
    let err = text(&o.stderr);
    let got = lines(&err, "odt-export");
    assert!(got.iter().any(|l| l.starts_with("1/2 VMs, ")), "{err}");
    let last = got
        .last()
        .unwrap_or_else(|| panic!("no progress line: {err}"));
    assert!(last.starts_with("2/2 VMs, "), "{err}");
    assert!(last.contains("(100%)"), "{err}");
    let (done, of) = last["2/2 VMs, ".len()..]
        .split_once(" (")
        .unwrap()
        .0
        .split_once(" of ")
        .unwrap();
    // Descriptor, .mf and disk of each: 32 MiB and a few hundred bytes.
    assert_eq!((done, of), ("32.0 MiB", "32.0 MiB"), "{last}");
    // Done is no wait, whether or not a rate could be measured.
    assert!(last.ends_with(", ETA 0:00"), "{last}");

    // --json: one document on stdout, no progress on stderr.
    let s = Scratch::new();
    let a = make_big_ovf(&s.path("a"), "a", 4 * MIB);
    let o = export_command(&s, &[&a], &["--json"]).output().unwrap();
    s.ok(&o);
    assert_eq!(text(&o.stdout).lines().count(), 1);
    assert!(lines(&text(&o.stderr), "odt-export").is_empty());

    // A period that is not a number is a usage error before any work.
    let s = Scratch::new();
    let mut c = export_command(&s, &[&a], &[]);
    c.env("ODT_PROGRESS_INTERVAL_SECS", "soon");
    let o = c.output().unwrap();
    assert_fails(
        &o,
        2,
        &["ODT_PROGRESS_INTERVAL_SECS=soon", "whole number of seconds"],
    );
    assert!(!s.nas().join("odt-journal.json").exists());
}

/// Spawns the export and sends SIGINT once `vm-000`'s disk has a durable checkpoint and more
/// written after it; a run that finishes first is repeated on a clean NAS.
fn export_interrupted(s: &Scratch, sources: &[&Path], extra: &[&str], disk: &str) -> Output {
    let enc = s.nas().join(format!("data/vm-000/{disk}.odt"));
    let sums = s.nas().join(format!("data/vm-000/{disk}.odt.sums"));
    for _attempt in 0..3 {
        let mut child = spawn(export_command(s, sources, extra));
        let t = Instant::now();
        let mut sent = false;
        while t.elapsed() < Duration::from_secs(120) {
            if len(&sums) >= 32 && len(&enc) > 48 * MIB {
                sigint(&child);
                sent = true;
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let o = finish(child);
        let journal = std::fs::read_to_string(s.nas().join("odt-journal.json")).unwrap_or_default();
        // The checkpoint's fsync may be slow: the disk may be done by the time it shows.
        let disk_done = journal.contains(&format!("\"vm-000/{disk}\""));
        if sent && o.status.code() == Some(130) && !disk_done {
            return o;
        }
        assert!(
            o.status.success() || o.status.code() == Some(130),
            "neither finished nor interrupted: {:?}\n{}",
            o.status,
            text(&o.stderr)
        );
        std::fs::remove_dir_all(s.nas()).unwrap();
        std::fs::create_dir(s.nas()).unwrap();
    }
    panic!("could not interrupt the export mid-file");
}

/// SIGINT mid-file with `--parallel 2`: exit 130 with the message and (with `--json`) a
/// failure document of kind `interrupted`; the journal and the partial files are left as a
/// resume needs them (the NAS says "interrupted"); the same command then finishes a job that
/// verifies, deep-verifies and decrypts to the sources, having sealed no chunk twice with
/// other bytes. Its progress starts from what the first run did.
#[test]
fn sigint_mid_export_exits_130_and_the_same_command_resumes_to_a_whole_job() {
    let s = Scratch::new();
    let a = make_big_ovf(&s.path("a"), "a", 700 * MIB);
    let b = make_big_ovf(&s.path("b"), "b", 700 * MIB);
    let extra = ["--parallel", "2", "--json"];
    let mut sealed = SealedChunks::new();
    let o = export_interrupted(&s, &[&a, &b], &extra, "a-disk1.vmdk");
    let err = text(&o.stderr);
    assert!(err.contains(&format!("odt-export: {INTERRUPTED}")), "{err}");
    assert_eq!(err.matches(INTERRUPTED).count(), 1, "{err}");
    let out = text(&o.stdout);
    assert_eq!(out.lines().count(), 1, "one document: {out}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["schema"], "odt.export.run/2");
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error_kind"], "interrupted");
    assert!(s.nas().join("odt-journal.json").exists());
    assert!(!s.nas().join("odt-job.json").exists());
    assert_fails(&s.verify_export(&[]), 1, &["interrupted", "rerun the same"]);
    sealed.observe(&s.nas());

    // The same command again, without --json to see its progress lines.
    let o = export_command(&s, &[&a, &b], &["--parallel", "2"])
        .output()
        .unwrap();
    let err = text(&o.stderr);
    s.ok(&o);
    let got = lines(&err, "odt-export");
    let last = got
        .last()
        .unwrap_or_else(|| panic!("no progress line: {err}"));
    assert!(
        last.starts_with("2/2 VMs, 1.4 GiB of 1.4 GiB (100%), "),
        "{err}"
    );
    // This run sealed what the first one had not: its rate is measured.
    assert!(!last.contains("- B/s"), "{err}");
    sealed.observe(&s.nas());
    s.ok(&s.verify_export(&[]));
    s.ok(&s.verify_import(&["--deep", "--identity", s.path("p").to_str().unwrap()]));
    let got = decrypt_digests(&s.nas(), &s.path("k.pub"), &s.path("p"));
    for (dir, name) in [(&a, "a-disk1.vmdk"), (&b, "b-disk1.vmdk")] {
        let src: PathBuf = dir.join(name);
        let want = sha256_file(&src);
        assert!(
            got.iter().any(|(_, f, d)| f == name && *d == want),
            "{name} does not decrypt to its source"
        );
    }
}

use odt_tests::vcsim::{PASSWORD, USER};

fn vcsim() -> Option<Vcsim> {
    Vcsim::with_login_or_skip(Options::default())
}

/// `odt-import run` of the scratch job into vcsim's cluster.
fn import_command(s: &Scratch, vc: &Vcsim, extra: &[&str]) -> Command {
    let mut args = s.import_run_args(&vc.url);
    args.extend(extra.iter().map(|a| a.to_string()));
    let mut c = Command::new(bin("odt-import"));
    c.args(&args)
        .current_dir(s.dir.path())
        .env_remove("ODT_PASSPHRASE")
        .env("ODT_VCENTER_USER", USER)
        .env("ODT_VCENTER_PASSWORD", PASSWORD)
        .env("ODT_PROGRESS_INTERVAL_SECS", "1");
    c
}

/// SIGINT mid-upload: exit 130 with the message and the `interrupted` document; the lease was
/// aborted and the half-made VM removed (as on any failure), no receipt; the same command then
/// deploys the VM whole.
#[test]
fn sigint_mid_upload_aborts_the_lease_removes_the_vm_and_the_same_command_completes() {
    let Some(vc) = vcsim() else { return };
    let s = Scratch::new();
    // A real VM package (vcsim reads its descriptor), a 6.5 MiB disk.
    let src = odt_tests::samples().join("single2");
    s.ok(&s.export_run(&[&src], &[]));
    s.verify_at_dock();
    // 1 MiB/s: the upload takes about 6 s.
    vc.set_nfc_stream_rate(1).unwrap();
    let mut child = spawn(import_command(&s, &vc, &["--json"]));
    let t = Instant::now();
    while vc.leases().is_empty() {
        if child.try_wait().unwrap().is_some() {
            let o = child.wait_with_output().unwrap();
            panic!("the import ended before a lease: {}", text(&o.stderr));
        }
        assert!(t.elapsed() < Duration::from_secs(60), "no lease was made");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Well into the upload.
    std::thread::sleep(Duration::from_secs(2));
    sigint(&child);
    let o = finish(child);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains(&format!("odt-import: {INTERRUPTED}")), "{err}");
    let doc: serde_json::Value = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    assert_eq!(doc["schema"], "odt.import.run/1");
    assert_eq!(
        (&doc["ok"], &doc["error_kind"]),
        (&false.into(), &"interrupted".into())
    );
    assert!(
        vc.leases().iter().any(|l| l["state"] == "aborted"),
        "{:?}",
        vc.leases()
    );
    let c = Client::connect(&vc.url, USER, PASSWORD, TlsMode::Verify).unwrap();
    let p = Placement::resolve(&c, None, Some("DC0_C0"), None, None).unwrap();
    assert!(
        find_vm(&c, &p.vm_folder, "single2").unwrap().is_none(),
        "the half-made VM was left behind"
    );
    assert!(!receipt_written(&s), "a receipt was written");

    vc.set_nfc_stream_rate(0).unwrap();
    let o = import_command(&s, &vc, &[]).output().unwrap();
    let err = text(&o.stderr);
    s.ok(&o);
    let got = lines(&err, "odt-import");
    let last = got
        .last()
        .unwrap_or_else(|| panic!("no progress line: {err}"));
    assert!(
        last.starts_with("1/1 VMs, ") && last.contains("(100%)"),
        "{err}"
    );
    assert!(find_vm(&c, &p.vm_folder, "single2").unwrap().is_some());
    let orig = sha256_file(&src.join("single2-disk1.vmdk"));
    assert!(
        vc.captured("single2")
            .iter()
            .any(|(_, f)| sha256_file(f) == orig),
        "the deployed disk is not the original"
    );
    assert!(receipt_written(&s));
}

fn receipt_written(s: &Scratch) -> bool {
    walk(&s.path("state"))
        .iter()
        .any(|p| p.to_string_lossy().contains("receipt"))
}

fn walk(dir: &Path) -> Vec<PathBuf> {
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
