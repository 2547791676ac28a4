//! `report`, the custody report both programs offer (`odt-import report` for the provider
//! handing it over, `odt-export report` for the customer who archives it): a receipt whose
//! signature checks out, rendered with [`custody`](super::custody) as one self-contained HTML
//! page, written atomically (never over an existing file without `--force`) or to stdout.
//!
//! [`ReportOptions`] → [`ReportPlan`] (every file read and checked, the page made, nothing
//! written) → [`ReportPlan::execute`] → [`ReportStats`]. A receipt that does not verify, a
//! manifest it is not about, or a dock record of another job writes nothing.

use std::io::Write;
use std::path::{Path, PathBuf};

use odt_format::error::{FormatError, IoContext};
use odt_format::io::nasfile::sync_dir;
use odt_format::job::dock::DockRecord;
use odt_format::job::reader::read_bounded;
use serde::Serialize;

use super::custody::{render, Page};
use super::receipt::{check, ReceiptError, ReceiptFiles};

/// Largest dock record read (a job with a million files has a record of about 200 MiB).
const MAX_RECORD_BYTES: u64 = 256 << 20;

/// `report` options, the same for both programs.
#[derive(Debug, clap::Args)]
pub struct ReportOptions {
    /// The receipt (receipt-JOB.json); its signature is read from RECEIPT.sig.
    #[arg(long, value_name = "RECEIPT")]
    pub receipt: PathBuf,
    /// The provider's receipt public key (KEY.pub of `odt-import keygen --receipt`).
    #[arg(long, value_name = "KEY.pub")]
    pub provider_key: PathBuf,
    /// The job manifest (odt-job.json) the receipt must be about; the page then says it was
    /// checked against it. Without it the page shows what the receipt states.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// The customer's public key: also check the manifest's signature (FILE.sig beside it).
    #[arg(long, value_name = "KEY.pub", requires = "manifest")]
    pub trusted_key: Option<PathBuf>,
    /// The dock record `odt-import verify` left (STATE/dock-JOB.json): the page then says
    /// what was verified at the dock, and when. It must be of the receipt's job and manifest.
    #[arg(long, value_name = "RECORD")]
    pub verify_record: Option<PathBuf>,
    /// Write the page to FILE (atomically) instead of stdout. An existing FILE is kept unless
    /// --force is given.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace FILE if it exists.
    #[arg(long, requires = "out")]
    pub force: bool,
    /// Print a JSON report on stdout (needs --out: the page goes there).
    #[arg(long, requires = "out")]
    pub json: bool,
}

/// Why no page was written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The receipt (or the manifest it must be about) does not check out.
    #[error(transparent)]
    Receipt(#[from] ReceiptError),
    /// A file could not be read or written, or the dock record is not one.
    #[error(transparent)]
    File(#[from] FormatError),
    /// The dock record is not about the receipt's job and manifest.
    #[error(
        "{path} is not the dock record of this receipt: {what}; give the record of job \
         {job_id} (STATE/dock-{job_id}.json), or leave --verify-record out"
    )]
    OtherDock {
        /// The record given.
        path: String,
        /// What differs.
        what: String,
        /// The receipt's job.
        job_id: String,
    },
    /// `--out` exists and `--force` was not given.
    #[error("{0} already exists: nothing was written; pass --force to replace it, or choose another --out")]
    Exists(String),
}

/// What was made and where it went: the text summary and the `--json` document.
#[derive(Debug, Serialize)]
pub struct ReportStats {
    /// The job.
    pub job_id: String,
    /// The key id the receipt's signature was checked with.
    pub provider_key_id: String,
    /// The receipt rendered.
    pub receipt: PathBuf,
    /// The manifest it was checked against, if any.
    pub manifest: Option<PathBuf>,
    /// Whether the manifest's own signature was checked (`--trusted-key`).
    pub manifest_signature_checked: bool,
    /// The dock record shown, if any.
    pub dock_record: Option<PathBuf>,
    /// VMs on the page.
    pub vms: usize,
    /// The file written (`None`: stdout).
    pub output: Option<PathBuf>,
    /// Bytes of the page.
    pub bytes: usize,
}

/// A page made from checked files, not yet written.
pub struct ReportPlan {
    page: String,
    out: Option<PathBuf>,
    force: bool,
    stats: ReportStats,
}

impl ReportPlan {
    /// Checks the receipt (signature first), the manifest and the dock record, refuses an
    /// existing `--out` without `--force`, and makes the page. Writes nothing.
    pub fn new(program: &str, o: &ReportOptions) -> Result<ReportPlan, ReportError> {
        let checked = check(&ReceiptFiles {
            receipt: &o.receipt,
            provider_key: &o.provider_key,
            manifest: o.manifest.as_deref(),
            trusted_key: o.trusted_key.as_deref(),
        })?;
        let dock = o
            .verify_record
            .as_deref()
            .map(|p| read_dock(p, &checked.receipt))
            .transpose()?;
        if let Some(out) = &o.out {
            refuse_existing(out, o.force)?;
        }
        let dock_path = o.verify_record.as_ref().map(|p| p.display().to_string());
        let rendered_at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .expect("formats");
        let page = render(&Page {
            checked: &checked,
            dock: dock.as_ref().zip(dock_path.as_deref()),
            rendered_at: &rendered_at,
            program: &format!("{program} {}", env!("CARGO_PKG_VERSION")),
        });
        let stats = ReportStats {
            job_id: checked.receipt.job_id.clone(),
            provider_key_id: checked.provider_key_id.clone(),
            receipt: o.receipt.clone(),
            manifest: checked.manifest.clone(),
            manifest_signature_checked: checked.manifest_signer.is_some(),
            dock_record: o.verify_record.clone(),
            vms: checked.receipt.vms.len(),
            output: o.out.clone(),
            bytes: page.len(),
        };
        Ok(ReportPlan {
            page,
            out: o.out.clone(),
            force: o.force,
            stats,
        })
    }

    /// Writes the page to `--out` (atomically) or stdout.
    pub fn execute(self) -> Result<ReportStats, ReportError> {
        match &self.out {
            Some(out) => write_page(out, self.page.as_bytes(), self.force)?,
            None => {
                let mut o = std::io::stdout().lock();
                o.write_all(self.page.as_bytes())
                    .and_then(|_| o.flush())
                    .ctx("write", Path::new("stdout"))?;
            }
        }
        Ok(self.stats)
    }
}

/// Runs `report` for `program` and prints what it wrote (text or `--json`); the page itself
/// goes to stdout when no `--out` is given.
pub fn report(program: &str, o: &ReportOptions) -> Result<bool, ReportError> {
    let stats = ReportPlan::new(program, o)?.execute()?;
    if o.json {
        super::json::emit(true, &stats);
    } else if let Some(out) = &stats.output {
        println!(
            "wrote {} ({} bytes): the custody report of job {}, {} VM(s), receipt signed by \
             provider key {} (checked)",
            out.display(),
            stats.bytes,
            stats.job_id,
            stats.vms,
            stats.provider_key_id
        );
    }
    Ok(true)
}

/// The dock record at `path`, which must be of the receipt's job and manifest.
fn read_dock(
    path: &Path,
    receipt: &odt_format::job::receipt::Receipt,
) -> Result<DockRecord, ReportError> {
    let shown = path.display().to_string();
    let r = DockRecord::parse(&read_bounded(path, MAX_RECORD_BYTES)?, &shown)?;
    let what = if r.job_id != receipt.job_id {
        format!("it is of job {}", r.job_id)
    } else if r.manifest_sha256 != receipt.manifest_sha256 {
        format!(
            "it vouches for manifest SHA-256 {}, the receipt for {}",
            r.manifest_sha256, receipt.manifest_sha256
        )
    } else if r.signer_key_id != receipt.customer_key_id {
        format!(
            "it checked customer key {}, the receipt names {}",
            r.signer_key_id, receipt.customer_key_id
        )
    } else {
        return Ok(r);
    };
    Err(ReportError::OtherDock {
        path: shown,
        what,
        job_id: receipt.job_id.clone(),
    })
}

/// Refuses an existing `out` unless `force` (and anything but a file even then).
fn refuse_existing(out: &Path, force: bool) -> Result<(), ReportError> {
    match std::fs::symlink_metadata(out) {
        Ok(m) if !force || m.is_dir() => Err(ReportError::Exists(out.display().to_string())),
        _ => Ok(()),
    }
}

/// Writes `bytes` to `out` atomically: a new temporary file beside it (never an existing
/// one), `fsync`, then into place, then the directory `fsync`. Without `force` it goes into
/// place with a hard link, which fails if `out` appeared meanwhile, so a file is never
/// replaced by accident; where links are not supported, after checking again.
fn write_page(out: &Path, bytes: &[u8], force: bool) -> Result<(), ReportError> {
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.as_deref().unwrap_or("report"),
        std::process::id()
    ));
    let r = (|| -> Result<(), ReportError> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .ctx("create", &tmp)?;
        f.write_all(bytes).ctx("write", &tmp)?;
        f.sync_all().ctx("sync", &tmp)?;
        if force {
            std::fs::rename(&tmp, out).ctx("rename into place", out)?;
        } else {
            link_new(&tmp, out)?;
        }
        Ok(sync_dir(dir)?)
    })();
    let _ = std::fs::remove_file(&tmp);
    r
}

/// `tmp` into place at `out`, failing if `out` exists.
fn link_new(tmp: &Path, out: &Path) -> Result<(), ReportError> {
    match std::fs::hard_link(tmp, out) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(ReportError::Exists(out.display().to_string()))
        }
        // A file system without hard links (FAT, some SMB shares).
        Err(_) => {
            refuse_existing(out, false)?;
            Ok(std::fs::rename(tmp, out).ctx("rename into place", out)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_written_whole_and_never_over_a_file_without_force() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("custody.html");
        write_page(&out, b"one", false).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"one");
        let e = write_page(&out, b"two", false).unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
        assert_eq!(std::fs::read(&out).unwrap(), b"one");
        assert!(refuse_existing(&out, false).is_err());
        assert!(refuse_existing(&out, true).is_ok());
        write_page(&out, b"three", true).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"three");
        // No temporary file is left, and a file of the user's beside it is untouched.
        std::fs::write(t.path().join("custody.tmp"), b"mine").unwrap();
        write_page(&out, b"four", true).unwrap();
        let names: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(
            std::fs::read(t.path().join("custody.tmp")).unwrap(),
            b"mine"
        );
        // A directory is never replaced, even with --force.
        assert!(refuse_existing(t.path(), true).is_err());
    }
}
