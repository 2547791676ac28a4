//! Placing a job over several NAS units (`--nas` repeated), before anything is written.
//!
//! Whole VMs go where there is most room left, the largest first ("worst fit decreasing"):
//! that spreads the job over the units, so each unit holds whole VMs the importer can deploy
//! as soon as that unit arrives. A VM larger than any unit's room is split by whole files,
//! each on the unit with most room left. A job that does not fit is refused with the figures.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use odt_format::job::layout::stream_name;
use odt_format::progress::human_bytes;

/// Room kept on every unit for the manifest, the unit index, the journal and their rewrites.
pub const RESERVE: u64 = 1 << 20;

/// What one VM needs on the NAS.
pub struct VmNeed {
    /// `vm-NNN`.
    pub dir: String,
    /// Its name, for messages.
    pub name: String,
    /// Bytes for the whole VM (encrypted files and digest lists).
    pub total: u64,
    /// The same per file, when the files are known before the export (not for a VM
    /// downloaded from a vCenter: it can then only be placed whole).
    pub files: Option<Vec<(String, u64)>>,
}

#[derive(Debug)]
/// Where everything goes: the journal's placement (unit numbers from 1) and the bytes each
/// unit receives.
pub struct Placement {
    /// By `vm-NNN` (a whole VM) or `vm-NNN/NAME` (a file of a split VM).
    pub placement: BTreeMap<String, u32>,
    /// Bytes placed on each unit, unit 1 first.
    pub bytes: Vec<u64>,
}

/// Places `vms` on units with `free` bytes each (unit 1 first); `roots` names them.
pub fn place(vms: &[VmNeed], free: &[u64], roots: &[String]) -> Result<Placement> {
    let mut left: Vec<u64> = free.iter().map(|f| f.saturating_sub(RESERVE)).collect();
    let mut out = Placement {
        placement: BTreeMap::new(),
        bytes: vec![0; free.len()],
    };
    let mut order: Vec<&VmNeed> = vms.iter().collect();
    order.sort_by(|a, b| b.total.cmp(&a.total).then(a.dir.cmp(&b.dir)));
    for vm in order {
        if let Some(k) = roomiest(&left, vm.total) {
            take(&mut left, &mut out, k, vm.total, vm.dir.clone());
            continue;
        }
        let Some(files) = &vm.files else {
            return Err(no_fit(vm, vm.total, free, roots));
        };
        let mut files: Vec<_> = files.iter().collect();
        files.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        for (name, need) in files {
            let Some(k) = roomiest(&left, *need) else {
                return Err(no_fit(vm, *need, free, roots));
            };
            take(&mut left, &mut out, k, *need, stream_name(&vm.dir, name));
        }
    }
    Ok(out)
}

/// The unit with the most room left, if `need` fits there.
fn roomiest(left: &[u64], need: u64) -> Option<usize> {
    let (k, room) = left
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))?;
    (*room >= need).then_some(k)
}

fn take(left: &mut [u64], out: &mut Placement, k: usize, need: u64, key: String) {
    left[k] -= need;
    out.bytes[k] += need;
    out.placement.insert(key, k as u32 + 1);
}

fn no_fit(vm: &VmNeed, need: u64, free: &[u64], roots: &[String]) -> anyhow::Error {
    let units: Vec<String> = roots
        .iter()
        .zip(free)
        .map(|(r, f)| format!("{r}: {} free", human_bytes(*f)))
        .collect();
    let what = match vm.total == need {
        true => format!("VM {:?} ({}) needs {}", vm.name, vm.dir, human_bytes(need)),
        false => format!(
            "a file of VM {:?} ({}) needs {}",
            vm.name,
            vm.dir,
            human_bytes(need)
        ),
    };
    anyhow::anyhow!(
        "the job does not fit on its {} NAS units: {what}, and no unit has that much room \
         left after the larger VMs ({}; {} kept on each for the manifest and index). Nothing \
         was written: add a unit (--nas) or free space, then rerun",
        roots.len(),
        units.join(", "),
        human_bytes(RESERVE)
    )
}

/// Refuses a unit named twice (the same directory, or one reached by two paths).
pub fn check_distinct(roots: &[std::path::PathBuf]) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut seen = BTreeMap::new();
    for r in roots {
        let md = std::fs::metadata(r)?;
        if let Some(first) = seen.insert((md.dev(), md.ino()), r) {
            bail!(
                "--nas {} and --nas {} are the same directory: name each NAS unit once",
                first.display(),
                r.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm(dir: &str, total: u64, files: Option<Vec<(&str, u64)>>) -> VmNeed {
        VmNeed {
            dir: dir.into(),
            name: dir.into(),
            total,
            files: files.map(|f| f.into_iter().map(|(n, s)| (n.into(), s)).collect()),
        }
    }

    const M: u64 = 1 << 20;

    /// Four VMs of 10 MiB over two 25 MiB units: two each; a VM bigger than any unit is split
    /// by file; a job too big is refused with the figures.
    #[test]
    fn places_whole_vms_then_files() {
        let roots = ["a".to_string(), "b".to_string()];
        let vms: Vec<_> = (0..4)
            .map(|i| vm(&format!("vm-00{i}"), 10 * M, None))
            .collect();
        let p = place(&vms, &[25 * M, 25 * M], &roots).unwrap();
        assert_eq!(p.bytes, [20 * M, 20 * M]);
        let big = vm(
            "vm-000",
            30 * M,
            Some(vec![("a.ovf", M), ("d1", 15 * M), ("d2", 14 * M)]),
        );
        let p = place(&[big], &[20 * M, 20 * M], &roots).unwrap();
        assert_eq!(p.placement["vm-000/d1"], 1);
        assert_eq!(p.placement["vm-000/d2"], 2);
        let e = place(&vms, &[15 * M, 15 * M], &roots)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("does not fit") && e.contains("a: 15.0 MiB free"),
            "{e}"
        );
        let whole_only = vm("vm-000", 30 * M, None);
        assert!(place(&[whole_only], &[20 * M, 20 * M], &roots).is_err());
    }
}
