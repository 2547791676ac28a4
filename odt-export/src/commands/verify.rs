//! `odt-export verify`: the NAS checked against its signed manifest, before it ships.

use anyhow::{Context, Result};
use odt_cli::verify as verify_cmd;

use crate::cli::VerifyArgs;

/// Verifies; `Ok(false)` when the job fails verification.
pub fn verify(a: VerifyArgs) -> Result<bool> {
    let report = verify_cmd::run(&verify_cmd::VerifyRequest {
        nas: a.nas,
        trusted_key: a.trusted_key,
        deep: a.deep,
        passphrase_file: a.passphrase_file,
        identity: a.identity,
        json: a.json,
    })
    .context("verification failed")?;
    Ok(report.ok())
}
