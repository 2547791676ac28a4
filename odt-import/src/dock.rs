//! The dock record on the ODT node (`--state DIR/dock-<job>.json`): `odt-import verify`
//! leaves it when keyless verification passed and the NAS did not change while it ran;
//! `odt-import run` requires it (or does the keyless pass itself with `--verify-now`), so a
//! job that `verify` would refuse is never deployed, without reading terabytes twice. See
//! `odt_format::job::dock` for what the fingerprints cover and why.
//!
//! A job over several NAS units has one record per unit (`dock-<job>-unit-<k>.json`): units
//! arrive and are verified at different times, and each record vouches only for the unit
//! directory it fingerprinted.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use odt_format::io::nasfile::write_atomic;
use odt_format::job::dock::{stamp_tree, DockRecord, Stamp, DOCK_FORMAT};
use odt_format::job::layout::Layout;
use odt_format::job::manifest::JobManifest;
use odt_format::job::mounted::MountedUnit;
use odt_format::job::reader::read_bounded;
use odt_format::job::verify::{verify_files, Problem, UnitReport, VerifyReport};
use odt_format::progress::Progress;

/// Largest record read back (a job with a million files has a record of about 200 MiB).
const MAX_RECORD_BYTES: u64 = 256 << 20;

/// Where the record of `job_id` (of its unit `unit`, for a job over several units) lives.
pub fn record_path(state: &Path, job_id: &str, unit: Option<u32>) -> PathBuf {
    let s = odt_format::job::state::StateDir::new(state);
    match unit {
        Some(k) => s.unit_dock_record(job_id, k),
        None => s.dock_record(job_id),
    }
}

/// Fingerprints the job directory (before and after a verification, and when `run` checks the record).
pub fn stamp_job(layout: &Layout) -> Result<Vec<Stamp>> {
    stamp_tree(layout.root()).context("fingerprint the job directory on the NAS")
}

/// After a verification that passed: fingerprints the job directory again and, if nothing
/// changed while it ran, saves the record. Returns its path.
pub fn record(
    state: &Path,
    layout: &Layout,
    before: Vec<Stamp>,
    report: &VerifyReport,
) -> Result<PathBuf> {
    let after = stamp_job(layout)?;
    let changed = odt_format::job::dock::differences(&before, &after);
    if !changed.is_empty() {
        bail!(
            "the NAS changed while it was being verified, so this verification proves nothing \
             about what is there now:\n  {}\nfind out who or what writes to it, then verify again",
            changed.join("\n  ")
        );
    }
    let r = DockRecord {
        format: DOCK_FORMAT.into(),
        job_id: report.job_id.clone(),
        manifest_sha256: report.manifest_sha256.clone(),
        signer_key_id: report.signer_key_id.clone(),
        verified_at: crate::now_rfc3339(),
        deep: report.deep,
        entries: after,
    };
    save(state, &r, report.unit.as_ref().map(|u| u.unit))
}

/// Removes the record of `job_id` (its unit `unit`), if any (after a verification that
/// failed).
pub fn forget(state: &Path, job_id: &str, unit: Option<u32>) -> Result<()> {
    let path = record_path(state, job_id, unit);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("remove the stale dock record {}", path.display()))
        }
        _ => Ok(()),
    }
}

fn save(state: &Path, r: &DockRecord, unit: Option<u32>) -> Result<PathBuf> {
    std::fs::create_dir_all(state)
        .with_context(|| format!("create state folder {}", state.display()))?;
    let path = record_path(state, &r.job_id, unit);
    let mut b = serde_json::to_vec_pretty(r)?;
    b.push(b'\n');
    write_atomic(&path, &b).context("save the dock record")?;
    Ok(path)
}

/// What the state folder says about this job's verification at the dock.
#[derive(Debug)]
pub enum DockStatus {
    /// Verified, and nothing on the NAS changed since.
    Verified(DockRecord),
    /// Never verified on this node (with this `--state`).
    Missing,
    /// Verified, but the NAS is not what was verified any more: what differs.
    Changed(Vec<String>),
}

/// Compares the record of `job_id` (its unit `unit`), if any, with the unit directory
/// `layout` as it is now.
pub fn status(
    state: &Path,
    layout: &Layout,
    manifest_sha256: &str,
    job_id: &str,
    unit: Option<u32>,
) -> Result<DockStatus> {
    let path = record_path(state, job_id, unit);
    let bytes = match read_bounded(&path, MAX_RECORD_BYTES) {
        Ok(b) => b,
        Err(odt_format::FormatError::Io { cause: source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(DockStatus::Missing)
        }
        Err(e) => return Err(e.into()),
    };
    let r = DockRecord::parse(&bytes, &path.display().to_string())?;
    let now = stamp_job(layout)?;
    let wrong = r.mismatches(manifest_sha256, &now);
    Ok(if wrong.is_empty() {
        DockStatus::Verified(r)
    } else {
        DockStatus::Changed(wrong)
    })
}

/// `run --verify-now`: the keyless pass over every file the unit `u` holds of the (already
/// signature-checked) manifest `job`, recorded like `verify` records it. Damage is an error
/// naming every problem.
pub fn verify_now(
    state: &Path,
    u: &MountedUnit,
    job: &JobManifest,
    manifest_sha256: &str,
    progress: &dyn Progress,
) -> Result<PathBuf> {
    let layout = &u.layout;
    let m = &match &u.index {
        Some(i) => i.view(job),
        None => job.clone(),
    };
    let before = stamp_job(layout)?;
    let checked = verify_files(layout, m, progress)?;
    if !checked.problems.is_empty() {
        bail!("{}\nnothing was deployed", damaged(&checked.problems));
    }
    let report = VerifyReport {
        job_id: m.job_id.clone(),
        signer_key_id: m.signer_key_id.clone(),
        manifest_sha256: manifest_sha256.to_owned(),
        deep: false,
        vms: m.vms.len(),
        files: checked.files,
        bytes: checked.bytes,
        problems: vec![],
        unit: u.index.as_ref().map(|i| UnitReport::new(i, job)),
    };
    record(state, layout, before, &report)
}

/// The message for a NAS that verification found damaged.
pub fn damaged(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| {
            format!(
                "{}: {}",
                odt_format::text::printable(&p.file),
                odt_format::text::printable(&p.what)
            )
        })
        .collect();
    format!(
        "the NAS is damaged ({} problem(s)):\n  {}\nrerunning will not help: have the customer \
         export the job again (or ship the NAS again)",
        problems.len(),
        lines.join("\n  ")
    )
}
