//! The lifecycle of a job an exporter writes (docs/FORMAT.md §2, §9): one writer per job
//! directory, a plan decided before anything is written, then the files, the signed manifest,
//! and the journal dropped last.
//!
//! Why a plan first: whether a run starts afresh, resumes, has nothing to do or must refuse
//! depends only on the journal and on what the NAS holds, and a refusal must leave the NAS as
//! it was. So [`JobWriter::plan`] only reads; the caller (which knows its sources) decides
//! what to do with the answer, and only [`JobWriter::discard`], [`JobWriter::create`] and
//! [`JobWriter::resume`] write.
//!
//! ```text
//! JobWriter::open (the run lock) → plan → Fresh | Resume | Complete | Refuse
//!   Fresh:  [discard] → create (journal) → ActiveJob
//!   Resume: resume (the resume key) → ActiveJob
//! ActiveJob: spec / done per file … → finish (signature, manifest, journal removed)
//! ```
//!
//! An [`ActiveJob`] is shared by the threads of a run that seals several files at once: the
//! key and the layout are read-only, and the journal sits behind a lock so each finished file
//! is recorded (and the journal saved) one at a time.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rand::rngs::OsRng;
use rand::RngCore;

use crate::crypto::keys::{DataKey, Recipient, SigningKey};
use crate::crypto::stanza::{key_check, KdfParams, Stanza};
use crate::crypto::stream::DEFAULT_CHUNK_LOG2;
use crate::io::nasfile::{sync_dir, write_atomic, RunLock, StreamSpec};
use crate::job::journal::{Journal, JournalError, JournalUnits, JOURNAL_FORMAT};
use crate::job::layout::{Layout, RUN_LOCK};
use crate::job::manifest::{self, FileEntry, JobManifest, VmEntry, FORMAT};
use crate::job::unit::{UnitFile, UnitIndex, UNIT_FORMAT};
use crate::FormatError;

/// Who holds a job's run lock, as [`FormatError::Busy`] names it.
const LOCK_HOLDER: &str = "another odt-export run";

/// What can go wrong writing a job. The texts say what the operator can do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// Reading or writing a file of the job (the lock, a JSON file, the manifest).
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The journal.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The job directory could not be listed.
    #[error("list {}", path.display())]
    List {
        /// The job directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Something could not be removed while discarding a job.
    #[error("remove {}", path.display())]
    Remove {
        /// What.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The manifest built at the end breaks a rule of the format: it is not signed.
    #[error(
        "the finished job breaks a rule of docs/FORMAT.md, so no verifier would accept it; it \
         was not signed"
    )]
    Unsignable(#[source] FormatError),
}

/// Why a run must not touch what the NAS holds ([`JobPlan::Refuse`]): an error the caller
/// returns as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// Verify refuses a job with anything else at its root (docs/SECURITY.md §S8).
    #[error(
        "{} holds {}, which no odt job has (verify would refuse the job): move it away, or \
         export into an empty directory",
        root.display(),
        entries.join(", ")
    )]
    Unexpected {
        /// The job directory.
        root: PathBuf,
        /// The entries, escaped for display.
        entries: Vec<String>,
    },
    /// An interrupted job of another plan.
    #[error(
        "{} holds an interrupted job ({job_id}) for other sources, targets or keys; rerun the \
         original command to finish it, or add --restart to discard it",
        root.display()
    )]
    OtherInterrupted {
        /// The job directory.
        root: PathBuf,
        /// Its job id.
        job_id: String,
    },
    /// A finished job of other sources.
    #[error(
        "{} already holds a finished job ({job_id}) for other sources; export into an empty \
         directory",
        root.display()
    )]
    OtherFinished {
        /// The job directory.
        root: PathBuf,
        /// Its job id.
        job_id: String,
    },
    /// Data with neither journal nor manifest.
    #[error(
        "{} has a data/ folder but no journal or manifest (left from another tool or a removed \
         journal); use an empty directory, or add --restart to clear it",
        root.display()
    )]
    StrayData {
        /// The job directory.
        root: PathBuf,
    },
}

/// What a run will do, decided before anything is written.
#[derive(Debug)]
pub enum JobPlan {
    /// Start a new job, after discarding what the NAS holds, if anything.
    Fresh {
        /// What must go first.
        discard: Option<Discard>,
    },
    /// Continue the interrupted job of the same plan.
    Resume(Box<Journal>),
    /// The job is finished already: nothing to do.
    Complete(Box<JobManifest>),
    /// Touch nothing.
    Refuse(Refusal),
}

/// What a fresh job discards first (`--restart`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discard {
    /// An interrupted job: its journal and data.
    Interrupted {
        /// Its job id.
        job_id: String,
    },
    /// A `data/` folder with neither journal nor manifest.
    Leftover,
}

/// What a new job is made of.
pub struct NewJob<'a> {
    /// The run's plan digest ([`crate::job::journal::plan_digest`]).
    pub plan_digest: &'a str,
    /// The customer's signing key: it signs the manifest and wraps the resume key.
    pub signing: &'a SigningKey,
    /// The passphrase and its Argon2id parameters, for a passphrase stanza.
    pub passphrase: Option<(&'a [u8], KdfParams)>,
    /// Provider recipients, one X25519 stanza each.
    pub recipients: &'a [Recipient],
    /// For a job over several units: where each VM or file goes, and the units' ids (one
    /// per unit the writer was opened on). `None` for one unit.
    pub units: Option<JournalUnits>,
}

/// The single writer of one job, from its run locks to the plan. A job over several NAS
/// units has one journal, on unit 1 (the first directory), and a run lock on every unit.
#[derive(Debug)]
pub struct JobWriter {
    layout: Layout,
    lock: RunLock,
    /// Units 2..n, each with its lock.
    others: Vec<(Layout, RunLock)>,
}

impl JobWriter {
    /// Takes the run lock of the job directory `root`: a second run on the same directory would
    /// interleave chunks of the same files. Fails at once with [`FormatError::Busy`] if
    /// another run holds it.
    pub fn open(root: &Path) -> Result<JobWriter, JobError> {
        Self::open_units(&[root.to_owned()])
    }

    /// Takes the run lock of every unit of a job over several NAS units (`roots`, unit 1
    /// first, at least one). The caller has made sure no directory is named twice.
    pub fn open_units(roots: &[PathBuf]) -> Result<JobWriter, JobError> {
        let mut units = vec![];
        for root in roots {
            let layout = Layout::new(root);
            let lock = RunLock::acquire(&layout.root().join(RUN_LOCK), LOCK_HOLDER)?;
            units.push((layout, lock));
        }
        let mut units = units.into_iter();
        let (layout, lock) = units.next().expect("at least one unit");
        Ok(JobWriter {
            layout,
            lock,
            others: units.collect(),
        })
    }

    /// Every unit's directory, unit 1 first.
    pub fn units(&self) -> impl Iterator<Item = &Layout> {
        std::iter::once(&self.layout).chain(self.others.iter().map(|(l, _)| l))
    }

    /// The job directory.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// False when the file system could not lock at all (an NFS mount with `nolock`): nothing
    /// then stops a second run, and the caller should say so.
    pub fn lock_held(&self) -> bool {
        self.lock.is_held() && self.others.iter().all(|(_, l)| l.is_held())
    }

    /// Decides what this run does, reading only: from the journal (its plan digest against
    /// `plan_digest`), a finished manifest (`same_job` says whether it is this run's job) and a
    /// leftover `data/`. `restart` discards an interrupted job or leftover data instead of
    /// refusing; it never discards a finished job.
    pub fn plan(
        &self,
        plan_digest: &str,
        restart: bool,
        same_job: impl FnOnce(&JobManifest) -> bool,
    ) -> Result<JobPlan, JobError> {
        let root = self.layout.root().to_owned();
        // Never start, resume or finish a job verify would refuse (docs/SECURITY.md §S6).
        for unit in self.units() {
            let root = unit.root().to_owned();
            let entries = unit
                .unexpected_root_entries(true)
                .map_err(|source| JobError::List {
                    path: root.clone(),
                    source,
                })?;
            if !entries.is_empty() {
                return Ok(JobPlan::Refuse(Refusal::Unexpected { root, entries }));
            }
        }
        for (other, _) in &self.others {
            if let Some(j) = Journal::load(other)? {
                if !restart {
                    let (root, job_id) = (other.root().to_owned(), j.job_id);
                    return Ok(JobPlan::Refuse(Refusal::OtherInterrupted { root, job_id }));
                }
            }
        }
        match Journal::load(&self.layout)? {
            Some(j) if restart => {
                return Ok(JobPlan::Fresh {
                    discard: Some(Discard::Interrupted { job_id: j.job_id }),
                })
            }
            Some(j) if j.plan_digest == plan_digest => return Ok(JobPlan::Resume(Box::new(j))),
            Some(j) => {
                let job_id = j.job_id;
                return Ok(JobPlan::Refuse(Refusal::OtherInterrupted { root, job_id }));
            }
            None => {}
        }
        if self.layout.manifest().exists() {
            let m = crate::job::reader::read_manifest_unverified(&self.layout)?;
            let units = self.others.len() + 1;
            if same_job(&m) && m.units.unwrap_or(1) as usize == units && self.same_manifest()? {
                return Ok(JobPlan::Complete(Box::new(m)));
            }
            let job_id = m.job_id;
            return Ok(JobPlan::Refuse(Refusal::OtherFinished { root, job_id }));
        }
        for unit in self.units() {
            if unit.data().exists() || unit.manifest().exists() || unit.journal().exists() {
                if restart {
                    return Ok(JobPlan::Fresh {
                        discard: Some(Discard::Leftover),
                    });
                }
                let root = unit.root().to_owned();
                return Ok(JobPlan::Refuse(Refusal::StrayData { root }));
            }
        }
        Ok(JobPlan::Fresh { discard: None })
    }

    /// Whether every other unit holds the same manifest bytes as unit 1.
    fn same_manifest(&self) -> Result<bool, JobError> {
        let read = |l: &Layout| {
            crate::job::reader::read_bounded(&l.manifest(), manifest::MAX_MANIFEST_BYTES)
        };
        let first = read(&self.layout)?;
        for (other, _) in &self.others {
            if !other.manifest().exists() || read(other)? != first {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Removes an interrupted job's journal and data (what a [`Discard`] plans), on every
    /// unit.
    pub fn discard(&self) -> Result<(), JobError> {
        self.units().try_for_each(discard)
    }

    /// Starts a new job: a job id, a data key and its stanzas, and the journal, which is the
    /// first thing written.
    pub fn create(self, new: NewJob<'_>) -> Result<ActiveJob, JobError> {
        let mut job_id = [0u8; 16];
        OsRng.fill_bytes(&mut job_id);
        let key = DataKey::generate(&mut OsRng);
        let mut stanzas = vec![];
        let mut kdf_seconds = 0.0;
        if let Some((passphrase, kdf)) = new.passphrase {
            let (s, took) = Stanza::passphrase(&key, &job_id, passphrase, kdf, &mut OsRng)?;
            kdf_seconds = took.as_secs_f64();
            stanzas.push(s);
        }
        for r in new.recipients {
            stanzas.push(Stanza::x25519(&key, &job_id, r, &mut OsRng));
        }
        let journal = Journal {
            format: JOURNAL_FORMAT.to_owned(),
            job_id: hex::encode(job_id),
            plan_digest: new.plan_digest.to_owned(),
            signer_key_id: new.signing.verifying_key().key_id(),
            chunk_log2: DEFAULT_CHUNK_LOG2,
            key_check: key_check(&key, &job_id),
            stanzas,
            resume_key: Journal::wrap_resume_key(new.signing, &job_id, &key),
            kdf_seconds,
            done: Default::default(),
            sealed_digests: Default::default(),
            units: new.units,
        };
        let n = journal.units.as_ref().map_or(1, |u| u.unit_ids.len());
        assert_eq!(n, self.others.len() + 1, "one unit id per unit");
        journal.save(&self.layout)?;
        Ok(self.active(journal, key, job_id, false))
    }

    /// Continues the interrupted job of `journal`; only the signing key that started it opens
    /// its resume key.
    pub fn resume(self, journal: Journal, signing: &SigningKey) -> Result<ActiveJob, JobError> {
        let key = journal.resume_key(signing)?;
        let job_id = journal.job_id_bytes()?;
        Ok(self.active(journal, key, job_id, true))
    }

    fn active(self, journal: Journal, key: DataKey, job_id: [u8; 16], resumed: bool) -> ActiveJob {
        let (others, locks): (Vec<_>, Vec<_>) = self.others.into_iter().unzip();
        ActiveJob {
            layout: self.layout,
            _lock: self.lock,
            others,
            _locks: locks,
            journal: Mutex::new(journal),
            key,
            job_id,
            resumed,
        }
    }
}

/// A job being written: its files go through [`crate::io::nasfile`] with [`ActiveJob::spec`],
/// each finished one recorded with [`ActiveJob::done`]; [`ActiveJob::finish`] signs it.
pub struct ActiveJob {
    layout: Layout,
    _lock: RunLock,
    others: Vec<Layout>,
    _locks: Vec<RunLock>,
    /// Locked for each record: the files of a job may be sealed by several threads at once.
    journal: Mutex<Journal>,
    key: DataKey,
    job_id: [u8; 16],
    resumed: bool,
}

impl ActiveJob {
    /// The job directory.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    /// The data key.
    pub fn key(&self) -> &DataKey {
        &self.key
    }
    /// The journal as saved (a copy: other threads may record files meanwhile).
    pub fn journal(&self) -> Journal {
        self.locked().clone()
    }
    /// Whether this run continues an earlier one.
    pub fn resumed(&self) -> bool {
        self.resumed
    }
    /// The unit (from 1) that stream `dir/name` is placed on.
    pub fn unit_of(&self, dir: &str, name: &str) -> u32 {
        self.locked()
            .units
            .as_ref()
            .map_or(1, |u| u.unit_of(dir, name))
    }
    /// The directory of the unit stream `dir/name` is placed on.
    pub fn layout_of(&self, dir: &str, name: &str) -> &Layout {
        self.unit_layout(self.unit_of(dir, name))
    }
    /// The directory of unit `unit` (from 1).
    fn unit_layout(&self, unit: u32) -> &Layout {
        match unit {
            0 | 1 => &self.layout,
            k => self.others.get(k as usize - 2).unwrap_or(&self.layout),
        }
    }
    /// The spec of a new stream `dir/name` of `plain_size` bytes, on the unit it is placed on.
    pub fn spec(&self, dir: &str, name: &str, plain_size: u64) -> StreamSpec {
        StreamSpec {
            layout: self.unit_layout(self.unit_of(dir, name)).clone(),
            dir: dir.to_owned(),
            name: name.to_owned(),
            job_id: self.job_id,
            plain_size,
            chunk_log2: self.locked().chunk_log2,
        }
    }
    /// The entry of `stream` if an earlier run (or this one) finished it.
    pub fn finished(&self, stream: &str) -> Option<FileEntry> {
        self.locked().done.get(stream).cloned()
    }
    /// Records a finished file, durably.
    pub fn done(&self, stream: String, entry: &FileEntry) -> Result<(), JobError> {
        let mut j = self.locked();
        j.done.insert(stream, entry.clone());
        Ok(j.save(&self.layout)?)
    }
    /// Forgets that `stream` was finished (it is written again), durably.
    pub fn undone(&self, stream: &str) -> Result<(), JobError> {
        let mut j = self.locked();
        j.done.remove(stream);
        Ok(j.save(&self.layout)?)
    }
    /// Seals the plaintext digest of `stream` into the journal (saved with the next
    /// [`ActiveJob::done`]).
    pub fn seal_digest(&self, stream: &str, digest: &[u8]) -> Result<(), JobError> {
        Ok(self.locked().seal_digest(&self.key, stream, digest)?)
    }
    /// Opens the sealed digest of `stream`.
    pub fn open_digest(&self, stream: &str) -> Result<Vec<u8>, JobError> {
        Ok(self.locked().open_digest(&self.key, stream)?)
    }
    /// The journal, for one record. A thread that panicked while holding it left it as it was
    /// before or after a whole record (each record is one insert or remove, then a save), so
    /// the lock's poison carries nothing to fear.
    fn locked(&self) -> MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// A source failed its own digest: leave nothing of a fresh job behind (a resumed job keeps
    /// what earlier runs finished, since those files were checked).
    pub fn refuse(&self) -> Result<(), JobError> {
        if self.resumed {
            return Ok(());
        }
        std::iter::once(&self.layout)
            .chain(&self.others)
            .try_for_each(discard)
    }
    /// Signs the finished job: the manifest of `vms` (made by `exporter` at `created`, RFC
    /// 3339), its signature first and the manifest last (the manifest's appearance is what
    /// marks completion), then drops the journal. A job over several units gets on each unit
    /// its signed unit index, then the signature and the manifest, unit 1 last; the journal
    /// (on unit 1) goes only when every unit is complete.
    pub fn finish(
        self,
        signing: &SigningKey,
        exporter: String,
        created: String,
        vms: Vec<VmEntry>,
    ) -> Result<JobManifest, JobError> {
        let journal = self.journal.into_inner().unwrap_or_else(|e| e.into_inner());
        // A finish cut off after some units got their manifest is done again by the rerun:
        // with the `created` those units carry it signs the same bytes, so a unit that has
        // already left (verified alone, shipped) still belongs with the others.
        let created = self
            .others
            .iter()
            .find_map(|u| finished_at(u, &journal.job_id))
            .unwrap_or(created);
        let m = JobManifest {
            format: FORMAT.to_owned(),
            job_id: journal.job_id.clone(),
            created,
            exporter,
            signer_key_id: signing.verifying_key().key_id(),
            key_check: journal.key_check.clone(),
            stanzas: journal.stanzas.clone(),
            vms,
            units: (!self.others.is_empty()).then_some(self.others.len() as u32 + 1),
        };
        let mbytes = m.to_bytes();
        // Never sign what no verifier would accept (docs/SECURITY.md §S6): the caller's checks
        // catch every rule before anything is written; this is the last line.
        JobManifest::parse(&mbytes).map_err(JobError::Unsignable)?;
        let sig = manifest::sign(signing, &mbytes);
        let index = |unit, layout: &Layout| {
            let units = journal.units.as_ref().expect("a job over several units");
            write_unit_index(signing, units, &m, &mbytes, unit, layout)
        };
        for (k, unit) in self.others.iter().enumerate() {
            index(k as u32 + 2, unit)?;
            write_atomic(&unit.signature(), &sig)?;
            write_atomic(&unit.manifest(), &mbytes)?;
            sync_dir(unit.root())?;
        }
        if !self.others.is_empty() {
            index(1, &self.layout)?;
        }
        write_atomic(&self.layout.signature(), &sig)?;
        write_atomic(&self.layout.manifest(), &mbytes)?;
        let path = self.layout.journal();
        std::fs::remove_file(&path).map_err(|source| JobError::Remove { path, source })?;
        sync_dir(self.layout.root())?;
        Ok(m)
    }
}

/// When `unit` already holds a manifest of job `job_id` (an earlier finish of this job
/// wrote it), its `created`.
fn finished_at(unit: &Layout, job_id: &str) -> Option<String> {
    let bytes =
        crate::job::reader::read_bounded(&unit.manifest(), manifest::MAX_MANIFEST_BYTES).ok()?;
    let m = JobManifest::parse(&bytes).ok()?;
    (m.job_id == job_id).then_some(m.created)
}

/// Writes unit `unit`'s signed index (the files of `m` placed on it by `units`) into
/// `layout`, signature first.
fn write_unit_index(
    signing: &SigningKey,
    units: &JournalUnits,
    m: &JobManifest,
    mbytes: &[u8],
    unit: u32,
    layout: &Layout,
) -> Result<(), JobError> {
    let files = m
        .vms
        .iter()
        .flat_map(|vm| vm.files.iter().map(move |f| (vm, f)))
        .filter(|(vm, f)| units.unit_of(&vm.dir, &f.name) == unit)
        .map(|(vm, f)| UnitFile {
            dir: vm.dir.clone(),
            name: f.name.clone(),
        })
        .collect();
    let index = UnitIndex {
        format: UNIT_FORMAT.to_owned(),
        job_id: m.job_id.clone(),
        manifest_sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(mbytes)),
        unit_id: units.unit_ids[unit as usize - 1].clone(),
        unit,
        units: units.unit_ids.len() as u32,
        files,
    };
    let bytes = index.to_bytes();
    write_atomic(&layout.unit_signature(), &UnitIndex::sign(&bytes, signing))?;
    write_atomic(&layout.unit_index(), &bytes)?;
    Ok(())
}

/// Removes an interrupted job's journal and data (and a unit's index).
fn discard(layout: &Layout) -> Result<(), JobError> {
    let remove = |path: PathBuf, r: std::io::Result<()>| {
        r.map_err(|source| JobError::Remove { path, source })
    };
    let data = layout.data();
    if data.exists() {
        let r = std::fs::remove_dir_all(&data);
        remove(data, r)?;
    }
    for p in [
        layout.journal(),
        layout.manifest(),
        layout.signature(),
        layout.unit_index(),
        layout.unit_signature(),
    ] {
        if p.exists() {
            let r = std::fs::remove_file(&p);
            remove(p, r)?;
        }
    }
    sync_dir(layout.root())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_job<'a>(signing: &'a SigningKey, plan_digest: &'a str) -> NewJob<'a> {
        NewJob {
            plan_digest,
            signing,
            passphrase: None,
            recipients: &[],
            units: None,
        }
    }

    /// The plan follows the journal, the manifest and `data/`, and writes nothing.
    #[test]
    fn plans_from_what_the_nas_holds() {
        let dir = tempfile::tempdir().unwrap();
        let signing = SigningKey::generate(&mut OsRng);
        let w = JobWriter::open(dir.path()).unwrap();
        assert!(matches!(
            w.plan("p", false, |_| true).unwrap(),
            JobPlan::Fresh { discard: None }
        ));
        let job = w.create(new_job(&signing, "p")).unwrap();
        let job_id = job.journal().job_id.clone();
        drop(job);
        let w = JobWriter::open(dir.path()).unwrap();
        assert!(matches!(
            w.plan("p", false, |_| true).unwrap(),
            JobPlan::Resume(_)
        ));
        assert!(matches!(
            w.plan("q", false, |_| true).unwrap(),
            JobPlan::Refuse(Refusal::OtherInterrupted { .. })
        ));
        match w.plan("q", true, |_| true).unwrap() {
            JobPlan::Fresh { discard } => {
                assert_eq!(discard, Some(Discard::Interrupted { job_id }))
            }
            p => panic!("{p:?}"),
        }
        assert!(w.layout().journal().exists(), "planning writes nothing");
        w.discard().unwrap();
        std::fs::create_dir(w.layout().data()).unwrap();
        assert!(matches!(
            w.plan("p", false, |_| true).unwrap(),
            JobPlan::Refuse(Refusal::StrayData { .. })
        ));
        assert!(matches!(
            w.plan("p", true, |_| true).unwrap(),
            JobPlan::Fresh {
                discard: Some(Discard::Leftover)
            }
        ));
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        assert!(matches!(
            w.plan("p", true, |_| true).unwrap(),
            JobPlan::Refuse(Refusal::Unexpected { .. })
        ));
    }

    /// A finish cut off between units (unit 2 has its manifest, unit 1 not yet, the journal
    /// still there) is finished again by the rerun with the very bytes unit 2 holds.
    #[test]
    fn a_finish_done_again_signs_the_bytes_the_finished_units_hold() {
        let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let roots = [d1.path().to_owned(), d2.path().to_owned()];
        let signing = SigningKey::generate(&mut OsRng);
        let recipient = crate::crypto::keys::Identity::generate(&mut OsRng).recipient();
        let units = JournalUnits {
            unit_ids: vec!["11".repeat(16), "22".repeat(16)],
            placement: [("vm-000".to_owned(), 2)].into(),
        };
        let job = JobWriter::open_units(&roots)
            .unwrap()
            .create(NewJob {
                recipients: std::slice::from_ref(&recipient),
                units: Some(units),
                ..new_job(&signing, "p")
            })
            .unwrap();
        let vms = crate::job::manifest::tests_support::small_manifest().vms;
        let (u1, u2) = (Layout::new(d1.path()), Layout::new(d2.path()));
        let journal = std::fs::read(u1.journal()).unwrap();
        job.finish(
            &signing,
            "t".into(),
            "2026-01-01T00:00:00Z".into(),
            vms.clone(),
        )
        .unwrap();
        let shipped = std::fs::read(u2.manifest()).unwrap();
        // As if cut off before unit 1's own index, signature and manifest.
        for f in [
            u1.manifest(),
            u1.signature(),
            u1.unit_index(),
            u1.unit_signature(),
        ] {
            std::fs::remove_file(f).unwrap();
        }
        std::fs::write(u1.journal(), journal).unwrap();
        let w = JobWriter::open_units(&roots).unwrap();
        let JobPlan::Resume(j) = w.plan("p", false, |_| true).unwrap() else {
            panic!("not resumed")
        };
        w.resume(*j, &signing)
            .unwrap()
            .finish(&signing, "t".into(), "2026-12-31T00:00:00Z".into(), vms)
            .unwrap();
        assert_eq!(std::fs::read(u2.manifest()).unwrap(), shipped);
        assert_eq!(std::fs::read(u1.manifest()).unwrap(), shipped);
    }

    /// Only the key that started a job resumes it; a finished job is complete for its own
    /// sources and refused for others, and the lock file goes with the writer.
    #[test]
    fn resume_finish_and_complete() {
        let dir = tempfile::tempdir().unwrap();
        let (signing, other) = (
            SigningKey::generate(&mut OsRng),
            SigningKey::generate(&mut OsRng),
        );
        let w = JobWriter::open(dir.path()).unwrap();
        assert!(matches!(
            JobWriter::open(dir.path()),
            Err(JobError::Format(FormatError::Busy { .. }))
        ));
        drop(w.create(new_job(&signing, "p")).unwrap());
        let journal = || match JobWriter::open(dir.path())
            .unwrap()
            .plan("p", false, |_| true)
        {
            Ok(JobPlan::Resume(j)) => *j,
            p => panic!("{p:?}"),
        };
        let j = journal();
        let w = JobWriter::open(dir.path()).unwrap();
        assert!(matches!(
            w.resume(j, &other),
            Err(JobError::Journal(JournalError::OtherSigner))
        ));
        let j = journal();
        let job = JobWriter::open(dir.path())
            .unwrap()
            .resume(j, &signing)
            .unwrap();
        assert!(job.resumed());
        let m = job
            .finish(
                &signing,
                "test".into(),
                "2026-01-01T00:00:00Z".into(),
                vec![],
            )
            .unwrap_err();
        assert!(matches!(m, JobError::Unsignable(_)), "a job with no VM");
        assert!(!dir.path().join(RUN_LOCK).exists());
    }
}
