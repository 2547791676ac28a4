//! `odt-import inspect`: what is on the NAS (as `odt-export inspect` shows it), then how far
//! it got on this node: the dock record and, per VM, the import journal's steps. No secret.

use anyhow::Result;
use odt_format::job::layout::Layout;
use odt_format::job::mounted::Mounted;
use odt_format::job::reader::TrustAnchor;
use odt_format::text::printable;
use serde::Serialize;
use std::path::Path;

use super::dock_line;
use crate::cli::InspectOptions;
use crate::dock::DockStatus;
use crate::journal::{default_state_dir, Journal, VmRecord, VmState};

/// The importer's view: the NAS, the dock, and each VM's import.
#[derive(Serialize)]
struct ImportInspection {
    #[serde(flatten)]
    nas: odt_cli::inspect::Inspection,
    /// `verified`, `changed`, `missing`, or `none` (no finished job).
    dock: &'static str,
    /// The dock status as `run` would state it.
    dock_detail: Option<String>,
    /// Per VM directory: how far `run` got.
    import: Vec<VmImport>,
    /// The dock overrides the import began with (`--rename`, `--set`).
    overrides: Vec<crate::overrides::Override>,
    /// A job over several NAS units: which were given, which are still to come.
    #[serde(skip_serializing_if = "Option::is_none")]
    units: Option<UnitsView>,
}

/// The units of a job over several NAS units, as this inspection saw them.
#[derive(Serialize)]
struct UnitsView {
    /// How many units the job spans.
    units: u32,
    /// The units given (`--nas`).
    given: Vec<UnitGiven>,
    /// The unit numbers not given.
    missing_units: Vec<u32>,
    /// The VMs neither on a unit given nor landed already.
    vms_waiting: Vec<WaitingVm>,
}

/// One unit given.
#[derive(Serialize)]
struct UnitGiven {
    unit: u32,
    unit_id: String,
    nas: String,
    /// Its dock record: `verified`, `changed` or `missing`.
    dock: &'static str,
}

/// A VM still to come.
#[derive(Serialize)]
struct WaitingVm {
    dir: String,
    name: String,
    detail: String,
}

/// How far one VM got.
#[derive(Serialize)]
struct VmImport {
    dir: String,
    name: String,
    /// `importing` or `deployed` (into vCenter).
    vcenter: &'static str,
    /// The vCD steps done: `importing`, `imported`, `wired`, `powered_on`, `done`.
    vcd: Vec<&'static str>,
}

/// Prints the inspection as text or `--json`.
pub(super) fn inspect(o: InspectOptions) -> Result<bool> {
    let nas = odt_cli::inspect::inspect(&o.nas[0])?;
    let state = o.state.unwrap_or_else(default_state_dir);
    // Several directories, or a finished job, are opened as units of one job (refusing a
    // unit of another job, or one unit twice); each unit has its own dock record.
    let mounted = match (nas.state, o.nas.len()) {
        ("complete", _) | (_, 2..) => Some(super::open_units(&o.nas, &TrustAnchor::Embedded)?),
        _ => None,
    };
    let docks = match &mounted {
        Some(m) => unit_docks(m, &state)?,
        None => vec![],
    };
    let (dock, dock_detail) = match docks.iter().find(|d| d.2 != "verified").or(docks.first()) {
        Some((st, l, kind, _)) => (*kind, Some(dock_line(st, l, &state))),
        None => ("none", None),
    };
    let journal = match &nas.job_id {
        Some(id) => Journal::peek(&state, id)?,
        None => None,
    };
    let units = mounted
        .as_ref()
        .filter(|m| m.unit_count() > 1)
        .map(|m| units_view(m, &docks, journal.as_ref()));
    let (import, overrides) = journal
        .map(|j| {
            let vms = j.vms.iter().map(|(d, r)| vm_import(d, r)).collect();
            (vms, j.overrides)
        })
        .unwrap_or_default();
    let i = ImportInspection {
        nas,
        dock,
        dock_detail,
        import,
        overrides,
        units,
    };
    let ok = i.nas.ok();
    if o.json {
        odt_cli::json::emit(ok, &i);
    } else {
        print_text(&i);
    }
    Ok(ok)
}

/// One unit's dock status: the status, the unit's directory, its kind, the unit number.
type UnitDock<'m> = (DockStatus, &'m Layout, &'static str, Option<u32>);

/// Each unit's dock status.
fn unit_docks<'m>(m: &'m Mounted, state: &Path) -> Result<Vec<UnitDock<'m>>> {
    let sha = m.manifest_sha256();
    m.units
        .iter()
        .map(|u| {
            let unit = u.index.as_ref().map(|i| i.unit);
            let st = crate::dock::status(state, &u.layout, &sha, &m.manifest.job_id, unit)?;
            let kind = match st {
                DockStatus::Verified(_) => "verified",
                DockStatus::Missing => "missing",
                DockStatus::Changed(_) => "changed",
            };
            Ok((st, &u.layout, kind, unit))
        })
        .collect()
}

/// Which units were given, which are still to come, and the VMs that wait for them.
fn units_view(m: &Mounted, docks: &[UnitDock<'_>], journal: Option<&Journal>) -> UnitsView {
    let given = m
        .units
        .iter()
        .zip(docks)
        .filter_map(|(u, d)| {
            let i = u.index.as_ref()?;
            Some(UnitGiven {
                unit: i.unit,
                unit_id: i.unit_id.clone(),
                nas: u.layout.root().display().to_string(),
                dock: d.2,
            })
        })
        .collect();
    let vms_waiting = m
        .manifest
        .vms
        .iter()
        .filter(|vm| !journal.is_some_and(|j| j.landed(&vm.dir)))
        .filter_map(|vm| {
            let w = m.waiting_for(vm);
            (!w.is_empty()).then(|| WaitingVm {
                dir: vm.dir.clone(),
                name: vm.name.clone(),
                detail: format!("waiting for {}", m.waiting_text(&w)),
            })
        })
        .collect();
    UnitsView {
        units: m.unit_count(),
        given,
        missing_units: m.missing_units(),
        vms_waiting,
    }
}

fn vm_import(dir: &str, r: &VmRecord) -> VmImport {
    let mut vcd = vec![];
    if let Some(v) = &r.vcd {
        for (done, step) in [
            (v.importing, "importing"),
            (v.href.is_some(), "imported"),
            (v.wired, "wired"),
            (v.powered_on, "powered_on"),
            (v.done, "done"),
        ] {
            if done {
                vcd.push(step);
            }
        }
    }
    VmImport {
        dir: dir.to_owned(),
        name: r.name.clone(),
        vcenter: match r.state {
            VmState::Importing => "importing",
            VmState::Deployed => "deployed",
        },
        vcd,
    }
}

fn print_text(i: &ImportInspection) {
    for line in odt_cli::inspect::render(&i.nas) {
        println!("{line}");
    }
    if let Some(d) = &i.dock_detail {
        println!("dock: {d}");
    }
    if let Some(u) = &i.units {
        print_units(u);
    }
    if i.import.is_empty() && i.nas.state == "complete" {
        println!("import: not started on this node");
    }
    for o in &i.overrides {
        println!("import override: {}", printable(&o.to_string()));
    }
    for v in &i.import {
        let vcd = match v.vcd.last() {
            Some(_) => format!("; vCD: {}", v.vcd.join(", ")),
            None => String::new(),
        };
        println!(
            "import {} ({}): vCenter: {}{vcd}",
            printable(&v.name),
            v.dir,
            v.vcenter
        );
    }
}

fn print_units(u: &UnitsView) {
    for g in &u.given {
        println!(
            "unit {} of {} (id {}): {} (dock record {})",
            g.unit,
            u.units,
            g.unit_id,
            printable(&g.nas),
            g.dock
        );
    }
    if !u.missing_units.is_empty() {
        let ks: Vec<String> = u.missing_units.iter().map(u32::to_string).collect();
        println!("units not given: {} of {}", ks.join(", "), u.units);
    }
    for w in &u.vms_waiting {
        println!(
            "still to come: {} ({}): {}",
            printable(&w.name),
            w.dir,
            w.detail
        );
    }
    if u.vms_waiting.is_empty() {
        println!("every VM of the job is on the units given or landed already");
    }
}
