//! The import receipt: per VM, what landed where (vCenter entity, vCD ids and hrefs) and the
//! digests of what was uploaded (from the package's own `.mf`), bound to the job by the
//! manifest's digest and signed by the provider's key. It is written beside the journal and
//! can be handed to the customer, who can check it against their own `.mf` files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use odt_format::keys::SigningKey;
use odt_format::manifest::sign_with_context;
use odt_format::nasfile::write_atomic;
use serde::Serialize;

use crate::register::Registered;

/// Receipt format identifier.
pub const RECEIPT_FORMAT: &str = "odt-receipt/v1";
/// Domain separation for the receipt's signature.
pub const RECEIPT_CONTEXT: &[u8] = b"odt-receipt/v1\0";

/// The receipt.
#[derive(Clone, Debug, Serialize)]
pub struct Receipt {
    /// Always [`RECEIPT_FORMAT`].
    pub format: String,
    /// The job.
    pub job_id: String,
    /// SHA-256 of the exact `odt-job.json` bytes imported.
    pub manifest_sha256: String,
    /// Key id of the customer who signed the job.
    pub customer_key_id: String,
    /// Key id of the provider key that signs this receipt (absent when unsigned).
    pub provider_key_id: Option<String>,
    /// The target vCenter.
    pub vcenter: String,
    /// The vCD, when registration was done.
    pub vcd: Option<String>,
    /// When.
    pub created: String,
    /// The VMs.
    pub vms: Vec<ReceiptVm>,
}

/// One VM in the receipt.
#[derive(Clone, Debug, Serialize)]
pub struct ReceiptVm {
    /// Name.
    pub name: String,
    /// Bundle dir.
    pub dir: String,
    /// vCenter entity (`VirtualMachine:vm-42`).
    pub vcenter_entity: String,
    /// Where it is in vCD.
    pub vcd: Option<Registered>,
    /// Files and the digests they were checked against on upload.
    pub files: Vec<ReceiptFile>,
}

/// One file of a VM.
#[derive(Clone, Debug, Serialize)]
pub struct ReceiptFile {
    /// Name in the package.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// `SHA256:hex` (the package's `.mf` algorithm).
    pub digest: Option<String>,
}

impl Receipt {
    /// Writes `receipt-<job>.json` (and `.sig` when `key` is given) into `dir`; returns the
    /// receipt's path.
    pub fn write(&self, dir: &Path, key: Option<&SigningKey>) -> Result<PathBuf> {
        let path = dir.join(format!("receipt-{}.json", self.job_id));
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        write_atomic(&path, &bytes).context("write the receipt")?;
        if let Some(k) = key {
            let sig = sign_with_context(k, RECEIPT_CONTEXT, &bytes);
            let mut sp = path.as_os_str().to_owned();
            sp.push(".sig");
            write_atomic(Path::new(&sp), &sig).context("write the receipt signature")?;
        }
        Ok(path)
    }
}
