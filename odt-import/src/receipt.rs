//! Writing the import receipt (`odt_format::job::receipt`, `odt-receipt/v1`) beside the journal,
//! signed by the provider's receipt key when one is given. The customer checks it with
//! `odt-export verify-receipt`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use odt_format::crypto::keys::SigningKey;
use odt_format::io::nasfile::write_atomic;
pub use odt_format::job::receipt::{Receipt, ReceiptFile, ReceiptVm, RECEIPT_FORMAT};

/// Writes `receipt-<job>.json` (and `.sig` when `key` is given) into `dir`; returns the
/// receipt's path.
pub fn write(receipt: &Receipt, dir: &Path, key: Option<&SigningKey>) -> Result<PathBuf> {
    let path = dir.join(format!("receipt-{}.json", receipt.job_id));
    let bytes = receipt.to_bytes();
    write_atomic(&path, &bytes).context("write the receipt")?;
    if let Some(k) = key {
        let mut sp = path.as_os_str().to_owned();
        sp.push(".sig");
        write_atomic(Path::new(&sp), &Receipt::sign(&bytes, k))
            .context("write the receipt signature")?;
    }
    Ok(path)
}
