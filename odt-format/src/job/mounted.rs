//! The units of one job that an importer has mounted now (docs/FORMAT.md §2.2): one or several
//! `--nas` directories, each checked to be a unit of the same job, none named twice.
//!
//! Why a reader-side set rather than one unit at a time: units arrive in any order, and the
//! importer deploys every VM whose files are all on the units at hand. Before anything else it
//! must know that the directories it was given belong together: the same manifest bytes (so
//! the same job id and the same signed content), and distinct units (a unit's random id, and
//! its directory). A unit of another job mixed in, or one unit mounted twice (the same path, or
//! a copy), would otherwise deploy VMs twice or from the wrong customer's job.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::FormatError;
use crate::job::layout::Layout;
use crate::job::manifest::{JobManifest, VmEntry};
use crate::job::reader::{open_manifest_bytes, TrustAnchor};
use crate::job::unit::UnitIndex;

/// Why the directories given cannot be imported together. Each names both directories.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MountError {
    /// A directory's manifest, signature or unit index does not check out.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// Two directories hold different jobs.
    #[error(
        "{} holds job {first_job} but {} holds job {other_job}: a unit of another job was \
         mixed in; give only the units of one job",
        first.display(),
        other.display()
    )]
    OtherJob {
        /// The first directory.
        first: PathBuf,
        /// Its job id.
        first_job: String,
        /// The directory of the other job.
        other: PathBuf,
        /// Its job id.
        other_job: String,
    },
    /// The same job id with other manifest bytes: not the same signed job.
    #[error(
        "{} and {} both say job {job_id} but carry different manifests (SHA-256 {first_sha} \
         and {other_sha}): they are not units of one export; give only the units of one job",
        first.display(),
        other.display()
    )]
    OtherManifest {
        /// The first directory.
        first: PathBuf,
        /// Its manifest's SHA-256.
        first_sha: String,
        /// The other directory.
        other: PathBuf,
        /// Its manifest's SHA-256.
        other_sha: String,
        /// The job id both claim.
        job_id: String,
    },
    /// The same unit twice: one directory named twice, or two copies of one unit.
    #[error(
        "{} and {} are the same {what}: name each NAS unit once",
        first.display(),
        other.display()
    )]
    SameUnit {
        /// The first directory.
        first: PathBuf,
        /// The second.
        other: PathBuf,
        /// What they share ("directory", "unit k of n (id …)", "job on one NAS").
        what: String,
    },
}

/// One mounted unit: its directory and, for a job over several units, its verified index.
#[derive(Clone, Debug)]
pub struct MountedUnit {
    /// The unit's job directory.
    pub layout: Layout,
    /// Its index; `None` for a job on one NAS.
    pub index: Option<UnitIndex>,
}

/// The units of one job at hand, all checked to carry the same signed manifest.
#[derive(Clone, Debug)]
pub struct Mounted {
    /// The verified manifest (the same bytes on every unit).
    pub manifest: JobManifest,
    /// Its exact bytes.
    pub manifest_bytes: Vec<u8>,
    /// The units, in the order given.
    pub units: Vec<MountedUnit>,
}

impl Mounted {
    /// Opens every directory of `roots` (at least one): its manifest and signature against
    /// `anchor`, then its unit index against that manifest; refuses another job's unit and
    /// the same unit twice. Reads no data file.
    pub fn open(roots: &[PathBuf], anchor: &TrustAnchor<'_>) -> Result<Mounted, MountError> {
        Self::check_distinct_dirs(roots)?;
        let mut units: Vec<MountedUnit> = vec![];
        let mut first: Option<(JobManifest, Vec<u8>)> = None;
        for root in roots {
            let layout = Layout::new(root);
            let (m, bytes) = open_manifest_bytes(&layout, anchor)?;
            if let Some((fm, fb)) = &first {
                same_job(&units[0].layout, fm, fb, &layout, &m, &bytes)?;
            }
            let index = UnitIndex::open(&layout, anchor, &m, &bytes)?;
            if let Some(prev) = units.iter().find(|u| same_unit(u, &index)) {
                let what = match &index {
                    Some(i) => format!("unit {} of {} (id {})", i.unit, i.units, i.unit_id),
                    None => "job on one NAS".into(),
                };
                return Err(MountError::SameUnit {
                    first: prev.layout.root().to_owned(),
                    other: root.clone(),
                    what,
                });
            }
            units.push(MountedUnit { layout, index });
            if first.is_none() {
                first = Some((m, bytes));
            }
        }
        let (manifest, manifest_bytes) = first.expect("at least one directory");
        Ok(Mounted {
            manifest,
            manifest_bytes,
            units,
        })
    }

    /// The same directory named twice (by any path to it) is refused before anything is read.
    fn check_distinct_dirs(roots: &[PathBuf]) -> Result<(), MountError> {
        let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
        for (i, a) in roots.iter().enumerate() {
            if let Some(b) = roots[..i].iter().find(|b| real(b) == real(a)) {
                return Err(MountError::SameUnit {
                    first: b.clone(),
                    other: a.clone(),
                    what: "directory".into(),
                });
            }
        }
        Ok(())
    }

    /// The SHA-256 of the manifest bytes, hex (what dock records and receipts bind to).
    pub fn manifest_sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.manifest_bytes))
    }

    /// How many units the job spans (1 for a job on one NAS).
    pub fn unit_count(&self) -> u32 {
        self.manifest.units.unwrap_or(1)
    }

    /// The first directory given.
    pub fn first(&self) -> &Layout {
        &self.units[0].layout
    }

    /// The mounted unit holding `dir/name`, if any.
    pub fn unit_of(&self, dir: &str, name: &str) -> Option<&MountedUnit> {
        self.units.iter().find(|u| match &u.index {
            Some(i) => i.holds(dir, name),
            None => true,
        })
    }

    /// Whether every file of `vm` is on a mounted unit.
    pub fn vm_here(&self, vm: &VmEntry) -> bool {
        vm.files
            .iter()
            .all(|f| self.unit_of(&vm.dir, &f.name).is_some())
    }

    /// The unit numbers (from 1) not mounted now, in order.
    pub fn missing_units(&self) -> Vec<u32> {
        let here: Vec<u32> = self
            .units
            .iter()
            .filter_map(|u| u.index.as_ref().map(|i| i.unit))
            .collect();
        if here.is_empty() {
            return vec![];
        }
        (1..=self.unit_count())
            .filter(|k| !here.contains(k))
            .collect()
    }

    /// The units `vm` still waits for: empty when it is here. The indexes at hand say only
    /// what their own unit holds, so a file on none of them is on one of the missing units;
    /// with one unit missing that is the unit, else it is one of them.
    pub fn waiting_for(&self, vm: &VmEntry) -> Vec<u32> {
        if self.vm_here(vm) {
            vec![]
        } else {
            self.missing_units()
        }
    }

    /// "unit k of n" or "one of units k, l of n": what `waiting_for` says, as text.
    pub fn waiting_text(&self, units: &[u32]) -> String {
        let n = self.unit_count();
        match units {
            [k] => format!("unit {k} of {n}"),
            ks => format!(
                "one of units {} of {n}",
                ks.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// `other` (at `ol`) carries the same manifest bytes as `first` (at `fl`).
fn same_job(
    fl: &Layout,
    first: &JobManifest,
    first_bytes: &[u8],
    ol: &Layout,
    other: &JobManifest,
    other_bytes: &[u8],
) -> Result<(), MountError> {
    if first.job_id != other.job_id {
        return Err(MountError::OtherJob {
            first: fl.root().to_owned(),
            first_job: first.job_id.clone(),
            other: ol.root().to_owned(),
            other_job: other.job_id.clone(),
        });
    }
    if first_bytes != other_bytes {
        return Err(MountError::OtherManifest {
            first: fl.root().to_owned(),
            first_sha: hex::encode(Sha256::digest(first_bytes)),
            other: ol.root().to_owned(),
            other_sha: hex::encode(Sha256::digest(other_bytes)),
            job_id: first.job_id.clone(),
        });
    }
    Ok(())
}

/// Whether `index` is the unit `u` already is: the same unit id or number, or (a job on one
/// NAS) any second copy of it.
fn same_unit(u: &MountedUnit, index: &Option<UnitIndex>) -> bool {
    match (&u.index, index) {
        (Some(a), Some(b)) => a.unit_id == b.unit_id || a.unit == b.unit,
        _ => true,
    }
}
