//! Interrupted exports: `kill -9` mid-run and a full NAS. The rerun of the same command must
//! finish the job, and nothing half-written may ever pass verification.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use odt_tests::{
    assert_fails, bin, decrypt_digests, make_big_ovf, sha256_file, skip, Scratch, Tmpfs, PASSPHRASE,
};

const MIB: u64 = 1 << 20;

fn run_args(s: &Scratch, src: &std::path::Path, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "run",
        "--nas",
        s.nas().to_str().unwrap(),
        "--signing-key",
        s.path("k").to_str().unwrap(),
        "--recipient",
        s.path("p.pub").to_str().unwrap(),
        "--kdf-memory-mib",
        "19",
        "--kdf-iterations",
        "1",
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    v.extend(extra.iter().map(|x| x.to_string()));
    v.push(src.to_str().unwrap().to_owned());
    v
}

fn check_complete_and_identical(s: &Scratch, src: &std::path::Path, name: &str) {
    s.ok(&s.verify_export(&[]));
    s.ok(&s.verify_import(&["--deep", "--identity", s.path("p").to_str().unwrap()]));
    let got = decrypt_digests(&s.nas(), &s.path("k.pub"), &s.path("p"));
    let disk = format!("{name}-disk1.vmdk");
    let d = got
        .iter()
        .find(|(_, f, _)| *f == disk)
        .expect("disk in bundle");
    assert_eq!(
        d.2,
        sha256_file(&src.join(&disk)),
        "decrypted disk differs from the source"
    );
}

#[test]
fn kill_9_mid_run_then_the_same_command_completes() {
    let s = Scratch::new();
    let src = make_big_ovf(&s.path("big"), "big", 700 * MIB);
    let args = run_args(&s, &src, &[]);
    let enc = s.nas().join("data/vm-000/big-disk1.vmdk.odt");
    let mut killed_mid_run = false;
    for _attempt in 0..3 {
        let mut child = Command::new(bin("odt-export"))
            .args(&args)
            .env("ODT_PASSPHRASE", PASSPHRASE)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        // Kill once a good part of the disk is written, past at least one checkpoint.
        loop {
            let len = std::fs::metadata(&enc).map_or(0, |m| m.len());
            if len > 300 * MIB {
                child.kill().unwrap(); // SIGKILL
                break;
            }
            if child.try_wait().unwrap().is_some() || t.elapsed() > Duration::from_secs(120) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let status = child.wait().unwrap();
        if !status.success() && s.nas().join("odt-journal.json").exists() {
            killed_mid_run = true;
            break;
        }
        // It finished before we could kill it: start over with a clean NAS.
        std::fs::remove_dir_all(s.nas()).unwrap();
        std::fs::create_dir(s.nas()).unwrap();
    }
    assert!(killed_mid_run, "could not interrupt the export mid-run");
    // Half a job never verifies.
    assert_fails(&s.verify_export(&[]), 1, &["interrupted", "rerun the same"]);
    // A crash in the middle of a journal save leaves its temporary file: still resumable.
    std::fs::write(s.nas().join("odt-journal.tmp"), b"{\"format\":").unwrap();
    // The same command again resumes (no passphrase needed, no re-encryption of done chunks).
    let o = s.cmd(
        "odt-export",
        &args
            .iter()
            .map(String::as_str)
            .chain(["--json"])
            .collect::<Vec<_>>(),
        Some(PASSPHRASE),
    );
    let out = s.ok(&o);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["resumed"], true, "{out}");
    check_complete_and_identical(&s, &src, "big");
}

#[test]
fn a_full_nas_gives_a_clear_error_and_the_rerun_after_freeing_space_completes() {
    let s = Scratch::new();
    let fs = s.path("fs");
    let Some(_mount) = Tmpfs::mount(&fs, 64) else {
        skip("cannot mount a tmpfs (needs root): the full-NAS test did not run");
        return;
    };
    // The job folder is on the tmpfs and the filler beside it: a job folder holds nothing else.
    std::fs::create_dir(fs.join("nas")).unwrap();
    std::fs::remove_dir(s.nas()).unwrap();
    std::os::unix::fs::symlink(fs.join("nas"), s.nas()).unwrap();
    let src = make_big_ovf(&s.path("big"), "big", 40 * MIB);
    let args = run_args(&s, &src, &[]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();

    // 1. Too little space for the job: refused up front, NAS untouched.
    let filler = fs.join("filler");
    std::fs::write(&filler, vec![1u8; 40 * MIB as usize]).unwrap();
    let o = s.cmd("odt-export", &argv, Some(PASSPHRASE));
    assert_fails(&o, 1, &["not enough space on the NAS", "free", "needs"]);
    assert!(!s.nas().join("odt-journal.json").exists());
    assert!(!s.nas().join("data").exists());

    // 2. A NAS that reports space wrongly runs out mid-write: ENOSPC is a clear error, what is
    //    on the NAS does not verify, and freeing space then rerunning completes the job.
    let mut no_check = argv.clone();
    no_check.insert(1, "--no-space-check");
    let o = s.cmd("odt-export", &no_check, Some(PASSPHRASE));
    assert_fails(
        &o,
        1,
        &[
            "big-disk1.vmdk",
            "No space left on device",
            "the disk is full",
            "rerun",
        ],
    );
    assert_fails(&s.verify_export(&[]), 1, &["interrupted"]);
    std::fs::remove_file(&filler).unwrap();
    s.ok(&s.cmd("odt-export", &argv, Some(PASSPHRASE)));
    check_complete_and_identical(&s, &src, "big");
}

#[test]
fn a_second_run_on_the_same_nas_is_refused_while_the_first_writes() {
    let s = Scratch::new();
    let src = make_big_ovf(&s.path("big"), "big", 400 * MIB);
    let args = run_args(&s, &src, &[]);
    let mut first = Command::new(bin("odt-export"))
        .args(&args)
        .env("ODT_PASSPHRASE", PASSPHRASE)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first run is writing data.
    let enc = s.nas().join("data/vm-000/big-disk1.vmdk.odt");
    let t = Instant::now();
    while std::fs::metadata(&enc).map_or(0, |m| m.len()) == 0
        && t.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let second = s.cmd("odt-export", &argv, Some(PASSPHRASE));
    let first_done = first.try_wait().unwrap().is_some();
    if !first_done {
        assert_fails(
            &second,
            1,
            &["another odt-export run is running on it already"],
        );
    }
    assert!(first.wait().unwrap().success());
    // Afterwards the job is complete and no lock file is left on the NAS.
    s.ok(&s.verify_export(&[]));
    assert!(!s.nas().join(".odt-run.lock").exists());
}
