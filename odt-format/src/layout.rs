//! Where things live in a job directory on the NAS.
//!
//! ```text
//! NAS/
//!   odt-job.json          the signed manifest (written last: its presence means "complete")
//!   odt-job.json.sig      its Ed25519 signature
//!   odt-journal.json      only while a run is in progress: what resuming needs
//!   .odt-run.lock         only while an exporter runs (its flock)
//!   data/vm-000/NAME.odt        an encrypted file
//!   data/vm-000/NAME.odt.sums   its chunk digests (32 bytes per chunk)
//! ```

use std::path::{Path, PathBuf};

/// Manifest file name.
pub const MANIFEST: &str = "odt-job.json";
/// Signature file name.
pub const SIGNATURE: &str = "odt-job.json.sig";
/// Journal file name.
pub const JOURNAL: &str = "odt-journal.json";
/// Data directory name.
pub const DATA: &str = "data";
/// The lock file an exporter holds while it runs (never read).
pub const RUN_LOCK: &str = ".odt-run.lock";
/// What a file system keeps at its root: a job directory may be one (allowed when empty).
pub const LOST_FOUND: &str = "lost+found";

/// A job directory.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The job at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }
    /// The root.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `odt-job.json`.
    pub fn manifest(&self) -> PathBuf {
        self.root.join(MANIFEST)
    }
    /// `odt-job.json.sig`.
    pub fn signature(&self) -> PathBuf {
        self.root.join(SIGNATURE)
    }
    /// `odt-journal.json`.
    pub fn journal(&self) -> PathBuf {
        self.root.join(JOURNAL)
    }
    /// `data/`.
    pub fn data(&self) -> PathBuf {
        self.root.join(DATA)
    }
    /// `data/DIR/`.
    pub fn vm_dir(&self, dir: &str) -> PathBuf {
        self.data().join(dir)
    }
    /// `data/DIR/NAME.odt`.
    pub fn encrypted(&self, dir: &str, name: &str) -> PathBuf {
        self.vm_dir(dir).join(format!("{name}.odt"))
    }
    /// `data/DIR/NAME.odt.sums`.
    pub fn sums(&self, dir: &str, name: &str) -> PathBuf {
        self.vm_dir(dir).join(format!("{name}.odt.sums"))
    }
    /// Entries at the root that are not part of a job (docs/FORMAT.md §2), sorted, their names
    /// escaped for display ([`crate::text::printable`]). A job holds `odt-job.json`,
    /// `odt-job.json.sig` and `data/`; while an export runs (`in_progress`) also the journal
    /// and the run lock. An empty `lost+found` (the root of a file system) is allowed.
    pub fn unexpected_root_entries(&self, in_progress: bool) -> std::io::Result<Vec<String>> {
        let mut out = vec![];
        for e in std::fs::read_dir(&self.root)? {
            let e = e?;
            let name = e.file_name();
            let dir = e.file_type()?.is_dir();
            let expected = match name.to_str() {
                Some(MANIFEST | SIGNATURE) => !dir,
                Some(JOURNAL | RUN_LOCK) => in_progress && !dir,
                Some(DATA) => dir,
                Some(LOST_FOUND) => dir && std::fs::read_dir(e.path())?.next().is_none(),
                _ => false,
            };
            if !expected {
                out.push(crate::text::printable(&name.to_string_lossy()).into_owned());
            }
        }
        out.sort();
        Ok(out)
    }
    /// Bundle-relative display path of an encrypted file.
    pub fn rel_encrypted(dir: &str, name: &str) -> String {
        format!("{DATA}/{dir}/{name}.odt")
    }
}
