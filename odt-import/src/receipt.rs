//! The import receipt (`odt_format::job::receipt`, `odt-receipt/v1`): built from what the run
//! did and checked, written beside the journal, signed by the provider's receipt key when one
//! is given. The customer checks it with `odt-export verify-receipt`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use odt_format::crypto::keys::SigningKey;
use odt_format::io::nasfile::write_atomic;
use odt_format::job::manifest::JobManifest;
pub use odt_format::job::receipt::{Receipt, ReceiptFile, ReceiptVm, RECEIPT_FORMAT};
use odt_format::job::state::StateDir;
use serde::Serialize;

use crate::deploy::DeployedVm;
use crate::register::Registered;

/// One VM's outcome in a run: deployed into vCenter, and registered in vCD when it was.
#[derive(Serialize)]
pub struct VmOutcome {
    /// The vCenter deploy (or its recognition as done).
    #[serde(flatten)]
    pub deployed: DeployedVm,
    /// The vCD registration, with `--vcd`.
    pub vcd: Option<Registered>,
}

/// The receipt of a finished run. It states, per file, only the digest its bytes were checked
/// against on the way into vCenter (recorded when the VM was deployed); a file that was not
/// checked has none.
pub fn build(
    m: &JobManifest,
    manifest_bytes: &[u8],
    vms: &[VmOutcome],
    vcenter: &str,
    vcd: Option<&str>,
    receipt_key: Option<&SigningKey>,
) -> Receipt {
    use sha2::Digest;
    let out = m
        .vms
        .iter()
        .zip(vms)
        .map(|(vm, r)| ReceiptVm {
            name: vm.name.clone(),
            dir: vm.dir.clone(),
            vcenter_entity: r.deployed.entity.clone(),
            vcd: r.vcd.clone(),
            files: vm
                .files
                .iter()
                .map(|f| ReceiptFile {
                    name: f.name.clone(),
                    size: f.size,
                    digest: r.deployed.verified.get(&f.name).cloned(),
                })
                .collect(),
        })
        .collect();
    Receipt {
        format: RECEIPT_FORMAT.into(),
        job_id: m.job_id.clone(),
        manifest_sha256: hex::encode(sha2::Sha256::digest(manifest_bytes)),
        customer_key_id: m.signer_key_id.clone(),
        provider_key_id: receipt_key.map(|k| k.verifying_key().key_id()),
        vcenter: vcenter.to_owned(),
        vcd: vcd.map(str::to_owned),
        created: crate::now_rfc3339(),
        vms: out,
        overrides: vec![],
    }
}

/// Writes `receipt-<job>.json` (and `.sig` when `key` is given) into `dir`; returns the
/// receipt's path.
pub fn write(receipt: &Receipt, dir: &Path, key: Option<&SigningKey>) -> Result<PathBuf> {
    let state = StateDir::new(dir);
    let path = state.receipt(&receipt.job_id);
    let bytes = receipt.to_bytes();
    write_atomic(&path, &bytes).context("write the receipt")?;
    if let Some(k) = key {
        write_atomic(
            &state.receipt_signature(&receipt.job_id),
            &Receipt::sign(&bytes, k),
        )
        .context("write the receipt signature")?;
    }
    Ok(path)
}
