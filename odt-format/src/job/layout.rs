//! Where things live in a job directory on the NAS.
//!
//! ```text
//! NAS/
//!   odt-job.json          the signed manifest (written last: its presence means "complete")
//!   odt-job.json.sig      its Ed25519 signature
//!   odt-journal.json      only while a run is in progress: what resuming needs
//!   .odt-run.lock         only while an exporter runs (its flock)
//!   odt-unit.json         a job over several NAS units: what this unit holds (signed)
//!   odt-unit.json.sig     its Ed25519 signature
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
/// A unit's index file name (a job over several NAS units, docs/FORMAT.md §2.2).
pub const UNIT_INDEX: &str = "odt-unit.json";
/// Its signature file name.
pub const UNIT_SIGNATURE: &str = "odt-unit.json.sig";
/// Data directory name.
pub const DATA: &str = "data";
/// The lock file an exporter holds while it runs (never read).
pub const RUN_LOCK: &str = ".odt-run.lock";
/// What a file system keeps at its root: a job directory may be one (allowed when empty).
pub const LOST_FOUND: &str = "lost+found";

/// The data folder of the VM at `index` in the job: `vm-000`, `vm-001`, ...
pub fn vm_dir_name(index: usize) -> String {
    format!("vm-{index:03}")
}

/// A stream's name, `vm-NNN/NAME`: how the journal and messages name a file of the job.
pub fn stream_name(dir: &str, name: &str) -> String {
    format!("{dir}/{name}")
}

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
    /// `odt-unit.json`.
    pub fn unit_index(&self) -> PathBuf {
        self.root.join(UNIT_INDEX)
    }
    /// `odt-unit.json.sig`.
    pub fn unit_signature(&self) -> PathBuf {
        self.root.join(UNIT_SIGNATURE)
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
    /// `odt-job.json.sig` and `data/`; while an export is unfinished (`in_progress`) also the
    /// journal, the run lock, and what an interrupted atomic write of the JSON files leaves
    /// (`NAME.tmp`, see [`crate::io::nasfile::write_atomic`]). An empty `lost+found` (the root of a
    /// file system) is allowed, and so is a unit index with its signature (whether one belongs
    /// is the manifest's to say: verify checks it).
    pub fn unexpected_root_entries(&self, in_progress: bool) -> std::io::Result<Vec<String>> {
        let temp = [MANIFEST, SIGNATURE, JOURNAL, UNIT_INDEX, UNIT_SIGNATURE]
            .map(|n| Path::new(n).with_extension("tmp"));
        let mut out = vec![];
        for e in std::fs::read_dir(&self.root)? {
            let e = e?;
            let name = e.file_name();
            let dir = e.file_type()?.is_dir();
            let expected = match name.to_str() {
                Some(MANIFEST | SIGNATURE | UNIT_INDEX | UNIT_SIGNATURE) => !dir,
                Some(JOURNAL | RUN_LOCK) => in_progress && !dir,
                Some(n) if temp.iter().any(|t| t.as_os_str() == n) => in_progress && !dir,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/SECURITY.md §S8: verify refuses any unexpected file anywhere in the job, root
    /// included; an unfinished export may hold its journal, lock and temporary files.
    #[test]
    fn what_a_job_root_may_hold() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path());
        let put = |n: &str| std::fs::write(dir.path().join(n), b"x").unwrap();
        std::fs::create_dir(l.data()).unwrap();
        std::fs::create_dir(dir.path().join(LOST_FOUND)).unwrap();
        put(MANIFEST);
        put(SIGNATURE);
        assert!(l.unexpected_root_entries(false).unwrap().is_empty());
        for n in [
            JOURNAL,
            RUN_LOCK,
            "odt-journal.tmp",
            "odt-job.tmp",
            "odt-job.json.tmp",
        ] {
            put(n);
        }
        assert!(l.unexpected_root_entries(true).unwrap().is_empty());
        assert_eq!(
            l.unexpected_root_entries(false).unwrap(),
            [
                RUN_LOCK,
                "odt-job.json.tmp",
                "odt-job.tmp",
                "odt-journal.json",
                "odt-journal.tmp"
            ]
        );
        put("lost+found/x");
        put("notes\x1b[2J.txt");
        std::fs::create_dir(dir.path().join("extra")).unwrap();
        assert_eq!(
            l.unexpected_root_entries(true).unwrap(),
            ["extra", "lost+found", "notes\\u{1b}[2J.txt"]
        );
    }
}
