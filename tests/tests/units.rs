//! A job over several NAS units (issue 14, part 2): placement by free space before anything is
//! written, a signed unit index per unit, each unit verifying on its own, and the refusals (a
//! job too big for all units, a unit named twice, a unit index of another job).
//! The units are size-limited tmpfs mounts: root only, mandatory under ODT_REQUIRE_ALL_TESTS=1.

use odt_tests::{assert_fails, make_big_ovf, skip, text, Scratch, Tmpfs, PASSPHRASE};
use std::path::PathBuf;

const MIB: u64 = 1 << 20;

/// Two tmpfs units of `mib` MiB each, with a job folder on each.
fn units(s: &Scratch, mib: u64) -> Option<(Vec<Tmpfs>, Vec<PathBuf>)> {
    let mut mounts = vec![];
    let mut dirs = vec![];
    for k in 1..=2 {
        let fs = s.path(&format!("unit{k}"));
        mounts.push(Tmpfs::mount(&fs, mib)?);
        let job = fs.join("job");
        std::fs::create_dir(&job).unwrap();
        dirs.push(job);
    }
    Some((mounts, dirs))
}

/// Four VMs of 6 MiB: 24 MiB in all, more than one 16 MiB unit holds.
fn four_vms(s: &Scratch) -> Vec<PathBuf> {
    (0..4)
        .map(|i| make_big_ovf(&s.path(&format!("src{i}")), &format!("vm{i}"), 6 * MIB))
        .collect()
}

fn run_args(s: &Scratch, nas: &[PathBuf], sources: &[PathBuf], json: bool) -> Vec<String> {
    let mut a: Vec<String> = vec!["run".into()];
    for n in nas {
        a.extend(["--nas".into(), n.display().to_string()]);
    }
    let (k, p) = (s.path("k"), s.path("p.pub"));
    for x in [
        "--signing-key",
        k.to_str().unwrap(),
        "--recipient",
        p.to_str().unwrap(),
        "--kdf-memory-mib",
        "19",
        "--kdf-iterations",
        "1",
        "--org",
        "acme",
        "--vdc",
        "acme-vdc",
    ] {
        a.push(x.into());
    }
    if json {
        a.push("--json".into());
    }
    a.extend(sources.iter().map(|p| p.display().to_string()));
    a
}

fn export(s: &Scratch, args: &[String]) -> std::process::Output {
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    s.cmd("odt-export", &argv, Some(PASSPHRASE))
}

fn verify(s: &Scratch, tool: &str, nas: &std::path::Path) -> std::process::Output {
    let kp = s.path("k.pub");
    s.cmd(
        tool,
        &[
            "verify",
            "--nas",
            nas.to_str().unwrap(),
            "--trusted-key",
            kp.to_str().unwrap(),
        ],
        Some(PASSPHRASE),
    )
}

#[test]
fn four_vms_over_two_units_export_and_each_unit_verifies_alone() {
    let s = Scratch::new();
    let Some((_mounts, nas)) = units(&s, 16) else {
        skip("cannot mount a tmpfs (needs root): the NAS-units test did not run");
        return;
    };
    let sources = four_vms(&s);
    let out = s.ok(&export(&s, &run_args(&s, &nas, &sources, true)));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let units = report["units"].as_array().expect("units in the report");
    assert_eq!(units.len(), 2, "{report}");
    for u in units {
        assert_eq!(
            u["vms"].as_array().unwrap().len(),
            2,
            "two whole VMs each: {report}"
        );
    }
    // Each unit holds the same signed manifest, its own index, and only its VMs' data.
    let m1 = std::fs::read(nas[0].join("odt-job.json")).unwrap();
    assert_eq!(m1, std::fs::read(nas[1].join("odt-job.json")).unwrap());
    assert!(text(&m1).contains("\"units\": 2"));
    let mut held = vec![];
    for (k, n) in nas.iter().enumerate() {
        let idx: serde_json::Value =
            serde_json::from_slice(&std::fs::read(n.join("odt-unit.json")).unwrap()).unwrap();
        assert_eq!(idx["unit"], k as u64 + 1);
        assert_eq!(idx["units"], 2);
        let mut dirs: Vec<String> = std::fs::read_dir(n.join("data"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        dirs.sort();
        assert_eq!(dirs.len(), 2, "{dirs:?}");
        held.extend(dirs);
        assert!(!n.join("odt-journal.json").exists());
    }
    held.sort();
    assert_eq!(held, ["vm-000", "vm-001", "vm-002", "vm-003"]);
    for (k, n) in nas.iter().enumerate() {
        let other = 2 - k;
        for tool in ["odt-export", "odt-import"] {
            let o = verify(&s, tool, n);
            let out = s.ok(&o);
            assert!(
                out.contains(&format!(
                    "unit {} of 2: complete; unit {other} not here",
                    k + 1
                )),
                "{tool}: {out}"
            );
        }
    }
    // The same command again finds the job complete on both units.
    let again = s.ok(&export(&s, &run_args(&s, &nas, &sources, false)));
    assert!(again.contains("already complete"), "{again}");

    // A unit index from another job beside this job's manifest is refused, naming why.
    let other_dirs: Vec<PathBuf> = (1..=2)
        .map(|k| {
            let d = s.path(&format!("other{k}"));
            std::fs::create_dir(&d).unwrap();
            d
        })
        .collect();
    let small: Vec<PathBuf> = (0..2)
        .map(|i| make_big_ovf(&s.path(&format!("small{i}")), &format!("s{i}"), MIB))
        .collect();
    s.ok(&export(&s, &run_args(&s, &other_dirs, &small, false)));
    for f in ["odt-unit.json", "odt-unit.json.sig"] {
        std::fs::copy(other_dirs[1].join(f), nas[1].join(f)).unwrap();
    }
    assert_fails(
        &verify(&s, "odt-export", &nas[1]),
        1,
        &["odt-unit.json", "another job"],
    );
    // A unit without its index is not a whole unit.
    for f in ["odt-unit.json", "odt-unit.json.sig"] {
        std::fs::remove_file(nas[1].join(f)).unwrap();
    }
    assert_fails(
        &verify(&s, "odt-import", &nas[1]),
        1,
        &["missing", "2 NAS units"],
    );
}

#[test]
fn a_job_too_big_for_all_units_and_a_unit_named_twice_are_refused_before_writing() {
    let s = Scratch::new();
    let Some((_mounts, nas)) = units(&s, 10) else {
        skip("cannot mount a tmpfs (needs root): the NAS-units test did not run");
        return;
    };
    let sources = four_vms(&s);
    let o = export(&s, &run_args(&s, &nas, &sources, false));
    assert_fails(
        &o,
        1,
        &[
            "does not fit on its 2 NAS units",
            "free",
            "Nothing was written",
        ],
    );
    let twice = [nas[0].clone(), nas[0].clone()];
    let o = export(&s, &run_args(&s, &twice, &sources, false));
    assert_fails(
        &o,
        1,
        &["are the same directory", "name each NAS unit once"],
    );
    for n in &nas {
        let left: Vec<_> = std::fs::read_dir(n).unwrap().collect();
        assert!(left.is_empty(), "{} was written to", n.display());
    }
}
