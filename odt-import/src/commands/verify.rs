//! `odt-import verify`: the keyless (or deep) verification at the dock, and the dock record
//! `run` requires when it passes. Several `--nas` units of one job are each verified on their
//! own and get their own record, once they are known to belong together.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use odt_cli::verify as verify_cmd;
use odt_format::job::layout::Layout;
use odt_format::job::reader::TrustAnchor;
use odt_format::job::verify::VerifyReport;

use crate::cli::VerifyOptions;
use crate::journal::default_state_dir;
use crate::tenancy;

/// Verifies, and when it passes leaves the dock record `run` requires. The job directory is
/// fingerprinted before and after: a record only vouches for a NAS that held still.
pub(super) fn verify(o: VerifyOptions) -> Result<bool> {
    // First: an unmounted NAS explains the errors that follow (one line per unit).
    for nas in &o.nas {
        odt_cli::nas::warn_if_not_mounted("odt-import", nas, odt_cli::nas::NasUse::Read);
    }
    let trusted_key = Some(match (&o.signer.trusted_key, &o.signer.trust) {
        (Some(k), _) => k.clone(),
        (None, Some(t)) => tenancy::verify_key_file(t, &o.nas[0], o.json)?,
        (None, None) => return Err(tenancy::no_signer().into()),
    });
    // Before any byte of data is read: the units given are distinct units of one job.
    if o.nas.len() > 1 {
        super::open_units(&o.nas, &TrustAnchor::Embedded)?;
    }
    let state = o.state.clone().unwrap_or_else(default_state_dir);
    let mut ok = true;
    let mut docs = vec![];
    for nas in &o.nas {
        let req = verify_cmd::VerifyRequest {
            trusted_key: trusted_key.clone(),
            nas: nas.clone(),
            deep: o.deep,
            passphrase_file: o.passphrase_file.clone(),
            identity: o.identity.clone(),
            json: o.json,
        };
        let (report, extra, notes) = verify_one(&req, &state, o.nas.len() > 1)?;
        ok &= report.ok();
        if o.json && o.nas.len() > 1 {
            docs.push(verify_cmd::json(&req, &report, extra));
        } else {
            verify_cmd::print(&req, &report, extra, &notes);
        }
    }
    if !docs.is_empty() {
        odt_cli::json::emit(ok, serde_json::json!({ "units": docs }));
    }
    Ok(ok)
}

type Extra = serde_json::Map<String, serde_json::Value>;

/// Verifies one unit (or the one NAS of a job) and records, or forgets, its dock record.
/// `several`: other units are verified in this run, so an error names this one.
fn verify_one(
    req: &verify_cmd::VerifyRequest,
    state: &Path,
    several: bool,
) -> Result<(VerifyReport, Extra, Vec<String>)> {
    let layout = Layout::new(&req.nas);
    // Taken first, used only once the verification ran (its errors name the key or the
    // manifest better than a fingerprint's would).
    let before = crate::dock::stamp_job(&layout);
    let report = verify_cmd::check(req).with_context(|| match several {
        true => format!("verification of {} failed", req.nas.display()),
        false => "verification failed".into(),
    })?;
    let mut extra = Extra::new();
    let mut notes = vec![];
    let unit = report.unit.as_ref().map(|u| u.unit);
    if !report.ok() {
        // What was verified before is not what is there now.
        crate::dock::forget(state, &report.job_id, unit)?;
    } else {
        let path: PathBuf = crate::dock::record(state, &layout, before?, &report)?;
        extra.insert("dock_record".into(), path.display().to_string().into());
        notes.push(format!(
            "dock record: {} (`odt-import run` relies on it while the NAS stays as it is now)",
            path.display()
        ));
    }
    Ok((report, extra, notes))
}
