//! `odt-import plan`: everything `run` checks, against the live vCenter (and vCD), and what
//! `run` would do; deploys nothing.

use anyhow::Result;
use odt_format::progress::human_bytes;
use odt_format::text::printable;

use super::{connect_vcd, dock_line, OpenJob};
use crate::cli::PlanOptions;
use crate::deploy::gather_facts;
use crate::dock::DockStatus;
use crate::journal::{default_state_dir, Journal};
use crate::overrides::Override;
use crate::plan::{plan as make_plan, Check, Plan, VM_NETWORK};
use crate::register::gather_vcd_facts;
use crate::tenancy;

pub(super) fn plan(o: PlanOptions) -> Result<bool> {
    let job = OpenJob::open(&o.job, &o.overrides, o.vcd.vcd.is_some())?;
    let state = o.state.clone().unwrap_or_else(default_state_dir);
    let mut p = plan_against_targets(&o, &job, &state)?;
    p.checks.splice(
        0..0,
        tenancy::plan_checks(job.policy.as_ref(), &job.manifest),
    );
    let journal = Journal::peek(&state, &job.manifest.job_id)?;
    if let Some(j) = &journal {
        if let Err(e) = j.check_overrides(&job.overrides) {
            p.checks.push(Check {
                name: "the overrides are those the import began with".into(),
                ok: false,
                detail: e.to_string(),
            });
        }
        job.check_journal(j)?;
    }
    // VMs on units not given are not failures: a later run with their unit does them.
    for (i, units) in job.waiting(journal.as_ref()) {
        let dir = &job.manifest.vms[i].dir;
        if let Some(v) = p.vms.iter_mut().find(|v| &v.dir == dir) {
            v.action = format!("waiting for {}", job.units.waiting_text(&units));
        }
    }
    // Run refuses a NAS that changed since it was verified; one not yet verified is only a
    // note here (`run --verify-now` can still do it).
    let (dock, layout) = job.dock_status(&state)?;
    let line = dock_line(&dock, layout, &state);
    let dock_verified = matches!(dock, DockStatus::Verified(_));
    let dock_note = match dock {
        DockStatus::Missing => Some(line),
        DockStatus::Verified(_) | DockStatus::Changed(_) => {
            p.checks.push(Check {
                name: "the NAS was verified at the dock".into(),
                ok: dock_verified,
                detail: line,
            });
            None
        }
    };
    log_plan(&p);
    if o.json {
        let mut v = serde_json::to_value(&p)?;
        v["dock_verified"] = dock_verified.into();
        v["overrides"] = serde_json::to_value(&job.overrides)?;
        odt_cli::json::emit(p.ok(), v);
    } else {
        print_text(&p, &job.overrides, dock_note.as_deref());
    }
    Ok(p.ok())
}

/// The facts read from vCenter (and vCD, with the journal so VMs already registered are not
/// name clashes), turned into the pure plan.
fn plan_against_targets(o: &PlanOptions, job: &OpenJob, state: &std::path::Path) -> Result<Plan> {
    let client = o.vcenter.connect()?;
    let vcd = connect_vcd(
        &o.vcd,
        crate::register::client_request_id(&job.manifest.job_id, None, "plan"),
    )?;
    let placement = o.vcenter.placement(&client)?;
    let mut facts = gather_facts(&client, &placement, &job.manifest, &job.manifest_sha())?;
    if let Some(v) = &vcd {
        let journal = Journal::peek(state, &job.manifest.job_id)?;
        facts.vcd = Some(gather_vcd_facts(
            v,
            client.url(),
            &job.manifest,
            journal.as_ref(),
        )?);
        let _ = v.logout();
    }
    let _ = client.logout();
    Ok(make_plan(&job.manifest, &facts))
}

/// The plan's decisions for `--log-file`: each check and what happens to each VM.
pub(super) fn log_plan(p: &Plan) {
    for c in &p.checks {
        tracing::info!(check = %c.name, ok = c.ok, detail = %c.detail, "plan check");
    }
    for v in &p.vms {
        tracing::info!(vm = %v.dir, name = %v.name, action = %v.action, "plan");
    }
}

fn print_text(p: &Plan, overrides: &[Override], dock_note: Option<&str>) {
    print_plan(p);
    for o in overrides {
        println!("  override: {}", printable(&o.to_string()));
    }
    if let Some(n) = dock_note {
        println!("  note: {n}");
    }
    if p.ok() {
        println!(
            "plan OK: `odt-import run` with the same options will deploy {} VM(s)",
            p.vms.iter().filter(|v| v.action == "deploy").count()
        );
        let waiting = p
            .vms
            .iter()
            .filter(|v| v.action.starts_with("waiting for"))
            .count();
        if waiting > 0 {
            println!(
                "{waiting} VM(s) wait for NAS units not given: a later run with those units \
                 imports them"
            );
        }
    } else {
        eprintln!("plan FAILED: fix the checks marked FAIL; nothing was deployed");
    }
}

/// Prints the plan. Names come from the customer's manifest and from vCenter and vCD: all of
/// it goes through `printable` (docs/SECURITY.md §S4).
pub(super) fn print_plan(p: &Plan) {
    let t = &p.target;
    println!(
        "{}",
        printable(&format!(
            "job {} -> {} / {} / {} / datastore {}",
            p.job_id, t.vcenter, t.datacenter, t.compute, t.datastore
        ))
    );
    for c in &p.checks {
        println!(
            "  [{}] {}: {}",
            if c.ok { " ok " } else { "FAIL" },
            printable(&c.name),
            printable(&c.detail)
        );
    }
    for v in &p.vms {
        println!(
            "  {:<24} {:<26} disks {:>10}, networks {} -> \"{VM_NETWORK}\"",
            printable(&v.name),
            v.action,
            if v.disk_bytes == u64::MAX {
                "overflow".into()
            } else {
                human_bytes(v.disk_bytes)
            },
            if v.networks.is_empty() {
                "(none)".into()
            } else {
                printable(&v.networks.join(", ")).into_owned()
            }
        );
    }
}
