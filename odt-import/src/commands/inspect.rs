//! `odt-import inspect`: what is on the NAS (as `odt-export inspect` shows it), then how far
//! it got on this node: the dock record and, per VM, the import journal's steps. No secret.

use anyhow::Result;
use odt_format::job::layout::Layout;
use odt_format::job::reader::read_bounded;
use odt_format::text::printable;
use serde::Serialize;

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
    let nas = odt_cli::inspect::inspect(&o.nas)?;
    let state = o.state.unwrap_or_else(default_state_dir);
    let layout = Layout::new(&o.nas);
    let (dock, dock_detail) = match (&nas.job_id, nas.state) {
        (Some(id), "complete") => {
            let bytes = read_bounded(&layout.manifest(), 64 << 20)?;
            let sha = {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(&bytes))
            };
            let st = crate::dock::status(&state, &layout, &sha, id)?;
            let kind = match st {
                DockStatus::Verified(_) => "verified",
                DockStatus::Missing => "missing",
                DockStatus::Changed(_) => "changed",
            };
            (kind, Some(dock_line(&st, &layout, &state)))
        }
        _ => ("none", None),
    };
    let journal = match &nas.job_id {
        Some(id) => Journal::peek(&state, id)?,
        None => None,
    };
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
    };
    if o.json {
        odt_cli::json::emit(true, &i);
    } else {
        print_text(&i);
    }
    Ok(true)
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
