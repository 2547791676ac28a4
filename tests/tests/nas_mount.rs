//! The warning for a `--nas` that is not on a mounted NAS (issue 13, item 4): one line on
//! stderr from `odt-export run` and `odt-import verify`/`run` when neither the folder nor its
//! parent is a mount point, none on a real mount (a tmpfs here), and never on stdout, so
//! `--json` documents stay whole.

use std::process::Output;

use odt_tests::{samples, skip, text, Scratch, Tmpfs};

const WARNING: &str = "is not on a mounted NAS";

/// How many lines of stderr carry the warning; stdout never does.
fn warnings(o: &Output) -> usize {
    assert!(!text(&o.stdout).contains(WARNING), "{}", text(&o.stdout));
    text(&o.stderr)
        .lines()
        .filter(|l| l.contains(WARNING))
        .count()
}

/// `odt-import run` up to its first refusal (no dock record in an empty state folder): it
/// connects to nothing.
fn import_run(s: &Scratch, nas: &str) -> Output {
    let (kp, empty) = (s.path("k.pub"), s.path("empty-state"));
    s.import(&[
        "run",
        "--nas",
        nas,
        "--trusted-key",
        kp.to_str().unwrap(),
        "--vcenter",
        "https://127.0.0.1:9/sdk",
        "--state",
        empty.to_str().unwrap(),
    ])
}

/// `odt-import verify --nas DIR --trusted-key k.pub`.
fn verify_at(s: &Scratch, dir: &std::path::Path) -> Output {
    let kp = s.path("k.pub");
    s.import(&[
        "verify",
        "--nas",
        dir.to_str().unwrap(),
        "--trusted-key",
        kp.to_str().unwrap(),
    ])
}

#[test]
fn a_nas_folder_on_this_machines_own_disk_is_warned_about_once_on_stderr() {
    let s = Scratch::new();
    // The scratch folder is a plain folder (of /tmp, or of a tmpfs /tmp: nas is two levels
    // below it then, so it is warned about either way).
    let o = s.export_run(&[&samples().join("single")], &["--json"]);
    let v: serde_json::Value = serde_json::from_str(s.ok(&o).trim()).unwrap();
    assert_eq!(v["schema"], "odt.export.run/2");
    assert_eq!(warnings(&o), 1, "{}", text(&o.stderr));
    let line = text(&o.stderr);
    let nas = s.nas();
    assert!(
        line.contains(&format!(
            "odt-export: warning: --nas {} is not on a mounted NAS",
            nas.display()
        )),
        "{line}"
    );
    assert!(line.contains("this machine's own disk?"), "{line}");

    let o = s.verify_import(&["--json"]);
    let v: serde_json::Value = serde_json::from_str(s.ok(&o).trim()).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(warnings(&o), 1, "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("the ODT node's own disk?"));

    let o = import_run(&s, nas.to_str().unwrap());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert_eq!(warnings(&o), 1, "{}", text(&o.stderr));
    // A folder that does not exist gets the command's own error, not the warning.
    let o = verify_at(&s, &s.path("missing"));
    assert_eq!(warnings(&o), 0, "{}", text(&o.stderr));
}

#[test]
fn a_nas_folder_on_a_mount_or_one_below_it_is_not_warned_about() {
    let s = Scratch::new();
    let fs = s.path("fs");
    let Some(_mount) = Tmpfs::mount(&fs, 16) else {
        skip("cannot mount a tmpfs (needs root): the mounted-NAS warning test did not run");
        return;
    };
    // The job folder one level below the mount, as on a real NAS (the scratch `nas` points
    // there, so the helpers use it).
    std::fs::create_dir(fs.join("job1")).unwrap();
    std::fs::remove_dir(s.nas()).unwrap();
    std::os::unix::fs::symlink(fs.join("job1"), s.nas()).unwrap();
    let o = s.export_run(&[&samples().join("single")], &[]);
    s.ok(&o);
    assert_eq!(warnings(&o), 0, "{}", text(&o.stderr));
    let o = s.verify_import(&[]);
    s.ok(&o);
    assert_eq!(warnings(&o), 0, "{}", text(&o.stderr));
    let o = import_run(&s, s.nas().to_str().unwrap());
    assert_eq!(warnings(&o), 0, "{}", text(&o.stderr));
    // The mount point itself.
    let o = verify_at(&s, &fs);
    assert_eq!(warnings(&o), 0, "{}", text(&o.stderr));
    // Two levels below the mount: warned about (the documented limit of the rule).
    std::fs::create_dir_all(fs.join("customers/job2")).unwrap();
    let o = verify_at(&s, &fs.join("customers/job2"));
    assert_eq!(warnings(&o), 1, "{}", text(&o.stderr));
}
