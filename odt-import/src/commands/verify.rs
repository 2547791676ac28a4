//! `odt-import verify`: the keyless (or deep) verification at the dock, and the dock record
//! `run` requires when it passes.

use anyhow::{Context, Result};
use odt_cli::verify as verify_cmd;
use odt_format::job::layout::Layout;

use crate::cli::VerifyOptions;
use crate::journal::default_state_dir;
use crate::tenancy;

/// Verifies, and when it passes leaves the dock record `run` requires. The job directory is
/// fingerprinted before and after: a record only vouches for a NAS that held still.
pub(super) fn verify(o: VerifyOptions) -> Result<bool> {
    let req = verify_cmd::VerifyRequest {
        trusted_key: Some(match (o.signer.trusted_key, &o.signer.trust) {
            (Some(k), _) => k,
            (None, Some(t)) => tenancy::verify_key_file(t, &o.nas, o.json)?,
            (None, None) => return Err(tenancy::no_signer().into()),
        }),
        nas: o.nas,
        deep: o.deep,
        passphrase_file: o.passphrase_file,
        identity: o.identity,
        json: o.json,
    };
    let layout = Layout::new(&req.nas);
    // Taken first, used only once the verification ran (its errors name the key or the
    // manifest better than a fingerprint's would).
    let before = crate::dock::stamp_job(&layout);
    let report = verify_cmd::check(&req).context("verification failed")?;
    let mut extra = serde_json::Map::new();
    let mut notes = vec![];
    let state = o.state.unwrap_or_else(default_state_dir);
    if !report.ok() {
        // What was verified before is not what is there now.
        crate::dock::forget(&state, &report.job_id)?;
    } else {
        let path = crate::dock::record(&state, &layout, before?, &report)?;
        extra.insert("dock_record".into(), path.display().to_string().into());
        notes.push(format!(
            "dock record: {} (`odt-import run` relies on it while the NAS stays as it is now)",
            path.display()
        ));
    }
    verify_cmd::print(&req, &report, extra, &notes);
    Ok(report.ok())
}
