//! Checking a provider's import receipt from its files, as both `odt-export verify-receipt`
//! and the `report` command of both programs do it: the signature with the provider's
//! receipt key first (nothing of an unauthenticated receipt is believed), then, when a
//! manifest is given, that manifest's own signature (with `--trusted-key`) and that the
//! receipt is about exactly that job (`Receipt::check_against`).

use std::path::{Path, PathBuf};

use odt_format::crypto::keys::VerifyingKey;
use odt_format::error::FormatError;
use odt_format::job::manifest::{verify_signed, MAX_MANIFEST_BYTES};
use odt_format::job::reader::read_bounded;
use odt_format::job::receipt::{Receipt, MAX_RECEIPT_BYTES};
use sha2::{Digest, Sha256};

/// The largest signature file read (a real one is about 300 bytes).
const MAX_SIG_BYTES: u64 = 64 << 10;

/// Why a receipt must not be trusted. Each variant says what failed and where; the cause,
/// when there is one, is the `source()` and is not repeated in the message.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// A file could not be read, or a key file is not a key.
    #[error(transparent)]
    Read(#[from] FormatError),
    /// The receipt has no signature beside it.
    #[error(
        "{0} is missing: the receipt was written without --receipt-key, or its .sig was not \
         handed over with it; an unsigned receipt proves nothing"
    )]
    Unsigned(String),
    /// A check failed: what, then (as the source) why.
    #[error("{what}")]
    Failed {
        /// What failed, naming the file.
        what: String,
        /// Why.
        #[source]
        source: FormatError,
    },
}

/// The files to check a receipt with.
#[derive(Clone, Debug)]
pub struct ReceiptFiles<'a> {
    /// The receipt (`receipt-JOB.json`); its signature is `RECEIPT.sig`.
    pub receipt: &'a Path,
    /// The provider's receipt public key.
    pub provider_key: &'a Path,
    /// The job manifest the receipt must be about, if one is given.
    pub manifest: Option<&'a Path>,
    /// The customer's public key: also check the manifest's signature (`FILE.sig`).
    pub trusted_key: Option<&'a Path>,
}

/// A receipt whose signature checked out, and what else was checked.
#[derive(Clone, Debug)]
pub struct CheckedReceipt {
    /// The receipt.
    pub receipt: Receipt,
    /// The key id of the provider key its signature was checked with.
    pub provider_key_id: String,
    /// SHA-256 of the receipt file's exact bytes.
    pub receipt_sha256: String,
    /// SHA-256 of its signature file.
    pub signature_sha256: String,
    /// The manifest it was checked against (`None`: none was given).
    pub manifest: Option<PathBuf>,
    /// The key id the manifest's own signature was checked with (`--trusted-key`).
    pub manifest_signer: Option<String>,
}

/// `path` with `.sig` appended.
fn sig_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

/// Checks the receipt in `f`: its signature first, then the manifest if one is given.
pub fn check(f: &ReceiptFiles<'_>) -> Result<CheckedReceipt, ReceiptError> {
    let key = VerifyingKey::read(f.provider_key)?;
    let bytes = read_bounded(f.receipt, MAX_RECEIPT_BYTES)?;
    let sig_file = sig_path(f.receipt);
    if !sig_file.exists() {
        return Err(ReceiptError::Unsigned(sig_file.display().to_string()));
    }
    let sig = read_bounded(&sig_file, MAX_SIG_BYTES)?;
    let receipt = Receipt::verify(&bytes, &sig, &key).map_err(|source| ReceiptError::Failed {
        what: format!("receipt verification failed for {}", f.receipt.display()),
        source,
    })?;
    let mut out = CheckedReceipt {
        receipt,
        provider_key_id: key.key_id(),
        receipt_sha256: hex::encode(Sha256::digest(&bytes)),
        signature_sha256: hex::encode(Sha256::digest(&sig)),
        manifest: None,
        manifest_signer: None,
    };
    if let Some(m) = f.manifest {
        out.manifest_signer = check_manifest(&out.receipt, f.receipt, m, f.trusted_key)?;
        out.manifest = Some(m.to_owned());
    }
    Ok(out)
}

/// The manifest at `m`: its signature with `trusted` (returning that key's id), then the
/// receipt against its exact bytes.
fn check_manifest(
    receipt: &Receipt,
    receipt_path: &Path,
    m: &Path,
    trusted: Option<&Path>,
) -> Result<Option<String>, ReceiptError> {
    let manifest = read_bounded(m, MAX_MANIFEST_BYTES)?;
    let signer = match trusted {
        Some(k) => {
            let customer = VerifyingKey::read(k)?;
            let msig = read_bounded(&sig_path(m), MAX_SIG_BYTES)?;
            verify_signed(&manifest, &msig, &customer).map_err(|source| ReceiptError::Failed {
                what: format!(
                    "{} is not the job you signed: the receipt cannot be checked against it",
                    m.display()
                ),
                source,
            })?;
            Some(customer.key_id())
        }
        None => None,
    };
    receipt
        .check_against(&manifest)
        .map_err(|source| ReceiptError::Failed {
            what: format!(
                "receipt verification failed: {} is not about the job in {}",
                receipt_path.display(),
                m.display()
            ),
            source,
        })?;
    Ok(signer)
}
