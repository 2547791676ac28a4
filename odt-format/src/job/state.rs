//! The provider's state folder (`odt-import --state DIR`): the names of the files the importer
//! keeps there for each job. They live here, beside the NAS layout, because docs/FORMAT.md §7
//! names them and only this crate knows the format's names; where the folder is (flags,
//! environment) is the importer's business.

use std::path::{Path, PathBuf};

/// The state folder of one ODT node.
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// The folder at `root` (it need not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> StateDir {
        StateDir { root: root.into() }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `import-<job_id>.json`: what a rerun of `odt-import run` needs.
    pub fn import_journal(&self, job_id: &str) -> PathBuf {
        self.root.join(format!("import-{job_id}.json"))
    }

    /// `import-<job_id>.lock`: its exclusive flock keeps one importer per job on this node.
    pub fn import_lock(&self, job_id: &str) -> PathBuf {
        self.root.join(format!("import-{job_id}.lock"))
    }

    /// `dock-<job_id>.json`: the dock record (FORMAT.md §7.2).
    pub fn dock_record(&self, job_id: &str) -> PathBuf {
        self.root.join(format!("dock-{job_id}.json"))
    }

    /// `dock-<job_id>-unit-<k>.json`: the dock record of unit `k` of a job over several NAS
    /// units (FORMAT.md §7.2): each unit is verified, and vouched for, on its own.
    pub fn unit_dock_record(&self, job_id: &str, unit: u32) -> PathBuf {
        self.root.join(format!("dock-{job_id}-unit-{unit}.json"))
    }

    /// `receipt-<job_id>.json`: the import receipt (FORMAT.md §7.1).
    pub fn receipt(&self, job_id: &str) -> PathBuf {
        self.root.join(format!("receipt-{job_id}.json"))
    }

    /// `receipt-<job_id>.json.sig`: the provider's signature of the receipt.
    pub fn receipt_signature(&self, job_id: &str) -> PathBuf {
        self.root.join(format!("receipt-{job_id}.json.sig"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_ones_format_md_gives() {
        let s = StateDir::new("/var/lib/odt");
        let j = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            s.import_journal(j),
            Path::new("/var/lib/odt/import-0123456789abcdef0123456789abcdef.json")
        );
        assert_eq!(
            s.import_lock(j).file_name().unwrap(),
            "import-0123456789abcdef0123456789abcdef.lock"
        );
        assert_eq!(
            s.dock_record(j).file_name().unwrap(),
            "dock-0123456789abcdef0123456789abcdef.json"
        );
        assert_eq!(
            s.unit_dock_record(j, 2).file_name().unwrap(),
            "dock-0123456789abcdef0123456789abcdef-unit-2.json"
        );
        assert_eq!(
            s.receipt(j).file_name().unwrap(),
            "receipt-0123456789abcdef0123456789abcdef.json"
        );
        assert_eq!(
            s.receipt_signature(j).file_name().unwrap(),
            "receipt-0123456789abcdef0123456789abcdef.json.sig"
        );
    }
}
