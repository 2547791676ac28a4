//! Interrupted exports: `kill -9` mid-run and a full NAS. The rerun of the same command must
//! finish the job, and nothing half-written may ever pass verification.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use odt_tests::{
    assert_fails, bin, decrypt_digests, flip_bytes_keeping_mtime, make_big_ovf, make_big_ovf_with,
    sha256_file, skip, Scratch, SealedChunks, Tmpfs, PASSPHRASE,
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
        "--org",
        "acme",
        "--vdc",
        "acme-vdc",
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    v.extend(extra.iter().map(|x| x.to_string()));
    v.push(src.to_str().unwrap().to_owned());
    v
}

/// The job verifies, deep-verifies, and every file of the source folder (a generated `.mf`
/// has none) decrypts to the source as it is now.
fn check_complete_and_identical(s: &Scratch, src: &std::path::Path, name: &str) {
    s.ok(&s.verify_export(&[]));
    s.ok(&s.verify_import(&["--deep", "--identity", s.path("p").to_str().unwrap()]));
    let got = decrypt_digests(&s.nas(), &s.path("k.pub"), &s.path("p"));
    assert!(
        got.iter()
            .any(|(_, f, _)| *f == format!("{name}-disk1.vmdk")),
        "disk in bundle"
    );
    for (_, f, digest) in &got {
        if src.join(f).exists() {
            assert_eq!(
                *digest,
                sha256_file(&src.join(f)),
                "decrypted {f} differs from the source"
            );
        }
    }
}

/// Runs the export of `args` and `kill -9`s it once `ready(.odt length, .sums length)` of the
/// disk's stream holds; a run that finishes first is repeated on a clean NAS. Afterwards half a
/// job is on the NAS, and it does not verify.
fn export_killed_when(s: &Scratch, args: &[String], disk: &str, ready: impl Fn(u64, u64) -> bool) {
    let enc = s.nas().join(format!("data/vm-000/{disk}.odt"));
    let sums = s.nas().join(format!("data/vm-000/{disk}.odt.sums"));
    let len = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut killed_mid_run = false;
    for _attempt in 0..3 {
        let mut child = Command::new(bin("odt-export"))
            .args(args)
            .env("ODT_PASSPHRASE", PASSPHRASE)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        loop {
            if ready(len(&enc), len(&sums)) {
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
}

/// Ready to kill once the disk has a durable checkpoint and at least 8 MiB of chunks written
/// after it: the rerun then finds both a sealed prefix to prove and a tail it must not seal
/// again with other bytes.
fn past_a_checkpoint_and_beyond(enc_len: u64, sums_len: u64) -> bool {
    let durable = sums_len / 32;
    durable > 0 && enc_len > 32 + durable * (MIB + 16) + 8 * MIB
}

/// The same command again, with `--json`.
fn rerun(s: &Scratch, args: &[String]) -> std::process::Output {
    s.cmd(
        "odt-export",
        &args
            .iter()
            .map(String::as_str)
            .chain(["--json"])
            .collect::<Vec<_>>(),
        Some(PASSPHRASE),
    )
}

/// The 32 header bytes (magic, chunk size, salt: hence the stream key) of `disk`'s `.odt`.
fn header_of(s: &Scratch, disk: &str) -> Vec<u8> {
    let b = std::fs::read(s.nas().join(format!("data/vm-000/{disk}.odt"))).unwrap();
    b[..32].to_vec()
}

/// `kill -9` mid-disk, then the same command completes the job. The unchanged source resumes
/// under its old key, and every chunk it seals again is the one sealed before
/// (docs/SECURITY.md §S3).
#[test]
fn kill_9_mid_run_then_the_same_command_completes() {
    let s = Scratch::new();
    let src = make_big_ovf(&s.path("big"), "big", 700 * MIB);
    let args = run_args(&s, &src, &[]);
    let mut sealed = SealedChunks::new();
    // Kill once a good part of the disk is written, past at least one checkpoint.
    export_killed_when(&s, &args, "big-disk1.vmdk", |enc, _| enc > 300 * MIB);
    sealed.observe(&s.nas());
    // A crash in the middle of a journal save leaves its temporary file: still resumable.
    std::fs::write(s.nas().join("odt-journal.tmp"), b"{\"format\":").unwrap();
    // The same command again resumes (no passphrase needed, no re-encryption of done chunks).
    let o = rerun(&s, &args);
    let out = s.ok(&o);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["resumed"], true, "{out}");
    check_complete_and_identical(&s, &src, "big");
    // The unchanged source resumed under its old key, with every chunk sealed as before.
    assert!(sealed.observe(&s.nas()) > 0, "nothing was resumed");
}

/// docs/SECURITY.md §S3: a (key, nonce) pair never seals two different plaintexts, including
/// across resumes. The first run exports a disk that is not the one its `.mf` describes (one
/// byte in every MiB differs) and is killed mid-disk; the disk is then repaired with its size
/// and mtime kept, so the rerun is "the same command" on the same fingerprint. The rerun must
/// notice that the source no longer continues what was sealed, restart that file under a fresh
/// key (never seal the repaired bytes under the old key and nonces, in the sealed prefix or in
/// the chunks written after the last checkpoint), and the finished job must deep-verify.
#[test]
fn a_source_repaired_between_the_crash_and_the_rerun_restarts_that_file_and_deep_verifies() {
    let s = Scratch::new();
    let src = make_big_ovf(&s.path("big"), "big", 700 * MIB);
    let disk = src.join("big-disk1.vmdk");
    flip_bytes_keeping_mtime(&disk, MIB);
    let args = run_args(&s, &src, &[]);
    let mut sealed = SealedChunks::new();
    export_killed_when(&s, &args, "big-disk1.vmdk", past_a_checkpoint_and_beyond);
    sealed.observe(&s.nas());
    let old_header = header_of(&s, "big-disk1.vmdk");
    flip_bytes_keeping_mtime(&disk, MIB);

    let o = rerun(&s, &args);
    let out = s.ok(&o);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["resumed"], true, "{out}");
    sealed.observe(&s.nas());
    assert_ne!(
        header_of(&s, "big-disk1.vmdk"),
        old_header,
        "the disk was restarted under a fresh key"
    );
    check_complete_and_identical(&s, &src, "big");
}

/// docs/SECURITY.md §S3: a (key, nonce) pair never seals two different plaintexts, including
/// across resumes. The disk is altered between the crash and the rerun, with its size and mtime
/// kept. The rerun must not seal the altered bytes under the old key (neither in the sealed
/// prefix nor after the last checkpoint), and since the disk no longer matches its `.mf` it is
/// refused, as a fresh export of it would be. Once the disk is restored the next rerun
/// completes, and the job deep-verifies.
#[test]
fn a_source_altered_between_the_crash_and_the_rerun_is_refused_never_resealed_under_the_old_key() {
    let s = Scratch::new();
    let src = make_big_ovf(&s.path("big"), "big", 700 * MIB);
    let disk = src.join("big-disk1.vmdk");
    let args = run_args(&s, &src, &[]);
    let mut sealed = SealedChunks::new();
    export_killed_when(&s, &args, "big-disk1.vmdk", past_a_checkpoint_and_beyond);
    sealed.observe(&s.nas());
    flip_bytes_keeping_mtime(&disk, MIB);

    let o = rerun(&s, &args);
    assert_fails(
        &o,
        1,
        &["big-disk1.vmdk", "digest does not match big.mf", "refused"],
    );
    sealed.observe(&s.nas());
    assert_fails(&s.verify_export(&[]), 1, &["interrupted"]);

    flip_bytes_keeping_mtime(&disk, MIB);
    let o = rerun(&s, &args);
    let out = s.ok(&o);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["resumed"], true, "{out}");
    sealed.observe(&s.nas());
    check_complete_and_identical(&s, &src, "big");
}

/// docs/SECURITY.md §S3, and the rule that a `.mf` describes the bytes actually sealed. A package
/// without a `.mf` (the exporter generates one from the digests it computes) is killed while
/// its second disk is written; the first disk, finished, is then changed with its size and mtime
/// kept. Re-reading it for the generated `.mf` must find it no longer what was sealed (rather
/// than list the new digest for the old bytes) and export it again under a fresh key: the job
/// deep-verifies and decrypts to the sources as they are now.
#[test]
fn a_finished_disk_changed_before_the_rerun_is_exported_again_when_the_mf_is_generated() {
    let s = Scratch::new();
    let src = make_big_ovf_with(&s.path("two"), "two", &[8 * MIB, 700 * MIB], false);
    let first = src.join("two-disk1.vmdk");
    let args = run_args(&s, &src, &[]);
    let mut sealed = SealedChunks::new();
    export_killed_when(&s, &args, "two-disk2.vmdk", |enc, _| enc > 64 * MIB);
    sealed.observe(&s.nas());
    let old_header = header_of(&s, "two-disk1.vmdk");
    flip_bytes_keeping_mtime(&first, MIB);

    let out = s.ok(&rerun(&s, &args));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["resumed"], true, "{out}");
    sealed.observe(&s.nas());
    check_complete_and_identical(&s, &src, "two");
    assert_ne!(
        header_of(&s, "two-disk1.vmdk"),
        old_header,
        "the changed disk was exported again under a fresh key"
    );
}

/// docs/SECURITY.md §S3, and the rule that every file is checked against the `.mf` that is
/// sealed. Between the crash and the rerun the package is replaced by another with the same
/// sizes and mtimes whose `.mf` matches it (the disk and its `.mf` line both differ). The `.mf`
/// the first run sealed is the one the job must be checked against, so the rerun finds it
/// changed and refuses, and never signs the new disk checked against the new `.mf` beside the
/// old `.mf`. `--restart` then exports the package as it is now.
#[test]
fn a_package_replaced_behind_its_fingerprint_is_refused_and_restart_exports_it_afresh() {
    let s = Scratch::new();
    let src = make_big_ovf(&s.path("big"), "big", 700 * MIB);
    let disk = src.join("big-disk1.vmdk");
    let mf = src.join("big.mf");
    let args = run_args(&s, &src, &[]);
    let mut sealed = SealedChunks::new();
    export_killed_when(&s, &args, "big-disk1.vmdk", past_a_checkpoint_and_beyond);
    sealed.observe(&s.nas());
    flip_bytes_keeping_mtime(&disk, MIB);
    let old_mf = std::fs::read_to_string(&mf).unwrap();
    let old_line = old_mf.lines().find(|l| l.contains("disk1")).unwrap();
    let new_line = format!("SHA256(big-disk1.vmdk)= {}", sha256_file(&disk));
    let mtime = std::fs::metadata(&mf).unwrap().modified().unwrap();
    std::fs::write(&mf, old_mf.replace(old_line, &new_line)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&mf)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(std::fs::metadata(&mf).unwrap().len(), old_mf.len() as u64);

    let o = rerun(&s, &args);
    assert_fails(
        &o,
        1,
        &[
            "big.mf",
            "changed since the interrupted export sealed it",
            "--restart",
        ],
    );
    sealed.observe(&s.nas());
    assert_fails(&s.verify_export(&[]), 1, &["interrupted"]);

    let mut restart = args.clone();
    restart.insert(args.len() - 1, "--restart".to_owned());
    let out = s.ok(&rerun(&s, &restart));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["resumed"], false, "{out}");
    sealed.observe(&s.nas());
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
