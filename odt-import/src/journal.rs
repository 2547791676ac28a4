//! The import journal on the ODT node (`--state DIR`, one file per job): which VMs are being
//! deployed or are deployed, and the moref of each VM the importer created. Together with the
//! marker the importer sets on every VM it finishes (`odt.job`, `odt.vm` in extraConfig), it
//! lets a rerun skip finished VMs and clean up a half-made one, never trusting names alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use odt_format::io::nasfile::write_atomic;
use odt_format::job::receipt::Override;
use odt_format::job::state::StateDir;
use odt_format::text::printable;
use odt_format::FormatError;
use serde::{Deserialize, Serialize};

/// Per-VM state.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum VmState {
    /// ImportVApp was called; the lease may hold a half-made VM.
    Importing,
    /// Uploaded, lease completed and the marker set.
    Deployed,
}

/// One VM's record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VmRecord {
    /// VM name.
    pub name: String,
    /// State.
    pub state: VmState,
    /// The entity ImportVApp created (`VirtualMachine:vm-42`), once known.
    pub entity: Option<String>,
    /// When the state was last changed (RFC 3339).
    pub updated: String,
    /// Its registration in vCloud Director, once begun.
    #[serde(default)]
    pub vcd: Option<VcdRecord>,
    /// File name → `ALG:hex` of the `.mf` digest that file's bytes were checked against as
    /// they were deployed (the descriptor, and every file uploaded). Only what is here may be
    /// attested in the receipt.
    #[serde(default)]
    pub verified: BTreeMap<String, String>,
}

/// How far a VM's registration in vCD got.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct VcdRecord {
    /// An import action was sent (a vApp of this name in the VDC is then ours to adopt).
    pub importing: bool,
    /// `vapp` or `template`.
    pub kind: String,
    /// The vApp or vApp template href, once imported.
    pub href: Option<String>,
    /// Its id (`urn:vcloud:vapp:…`).
    pub id: Option<String>,
    /// NICs connected to the org VDC network.
    pub wired: bool,
    /// Powered on.
    pub powered_on: bool,
    /// Everything the manifest asked for is done.
    pub done: bool,
    /// The VMs of the entity in vCenter, in order, recorded before the first import: the
    /// first becomes the vCD vApp (or template), the others join it. vCD moves each VM it
    /// imports out of the vSphere vApp (and renames it), so a live listing of the vApp's
    /// children cannot say which are left (vcd-api.md §11).
    #[serde(default)]
    pub members: Vec<Member>,
    /// The request id vCD answered each step's change with (`import`, `join-N`, `wire`,
    /// `power-on`), in order: what the receipt states, and what an operator looks up in
    /// vCD's logs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<odt_format::job::receipt::StepRequest>,
}

/// One VM of a deployed entity, as vCenter had it before vCD took any of them over.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Member {
    /// Its name in vCenter before the import (the name vCD gives its VM).
    pub name: String,
    /// Its moref value (`vm-42`), which a move-import keeps.
    pub moref: String,
    /// vCD holds it.
    #[serde(default)]
    pub imported: bool,
}

/// The journal of one job.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Journal {
    /// Job id.
    pub job_id: String,
    /// vCenter URL it was deployed to.
    pub vcenter: String,
    /// Records by VM dir (`vm-000`).
    pub vms: BTreeMap<String, VmRecord>,
    /// The dock overrides (`--rename`, `--set`) the run that started this journal applied:
    /// a rerun must apply the same ones, or it would land the rest of the job elsewhere than
    /// what is already in place (see [`Journal::check_overrides`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<Override>,
    /// SHA-256 of the manifest bytes the import began from: a later run with another NAS
    /// unit of "the same job" must carry the same bytes. Absent in journals written before
    /// units existed (then nothing is compared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
    #[serde(skip)]
    path: PathBuf,
    /// Held while this run owns the journal: two imports of one job never run at once.
    #[serde(skip)]
    _lock: Option<std::sync::Arc<odt_format::io::nasfile::RunLock>>,
}

/// Largest import journal read (one record per VM: a few hundred bytes each).
pub const MAX_JOURNAL_BYTES: u64 = 16 << 20;

/// Reads a journal file: a regular file, bounded (docs/SECURITY.md §S5).
fn read(path: &Path) -> Result<Vec<u8>, FormatError> {
    odt_format::job::reader::read_bounded(path, MAX_JOURNAL_BYTES)
}

/// The default state folder: `$ODT_STATE_DIR`, else `$XDG_STATE_HOME/odt`, else
/// `~/.local/state/odt`.
pub fn default_state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ODT_STATE_DIR") {
        return d.into();
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME") {
        return Path::new(&d).join("odt");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    Path::new(&home).join(".local/state/odt")
}

impl Journal {
    /// Loads (or starts) the journal of `job_id` in `dir`.
    pub fn open(dir: &Path, job_id: &str, vcenter: &str) -> Result<Journal> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("create state folder {}", dir.display()))?;
        let lock = odt_format::io::nasfile::RunLock::acquire(
            &StateDir::new(dir).import_lock(job_id),
            "another odt-import run of this job",
        )?;
        let path = StateDir::new(dir).import_journal(job_id);
        let mut j = match read(&path) {
            Ok(b) => serde_json::from_slice::<Journal>(&b).with_context(|| {
                format!(
                    "{} is not a valid import journal; move it away to start over",
                    path.display()
                )
            })?,
            Err(FormatError::Io { cause: source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Journal {
                    job_id: job_id.into(),
                    vcenter: vcenter.into(),
                    ..Default::default()
                }
            }
            Err(e) => return Err(e).context("read the import journal"),
        };
        j.path = path;
        j._lock = Some(std::sync::Arc::new(lock));
        Ok(j)
    }

    /// Refuses `overrides` when this journal has begun under other ones (a usage error:
    /// the operator reruns with the overrides it names, or moves the journal away to start
    /// over). A rerun with the same overrides, or a journal with nothing done yet, passes.
    pub fn check_overrides(&self, overrides: &[Override]) -> Result<()> {
        if self.vms.is_empty() || self.overrides == overrides {
            return Ok(());
        }
        let list = |o: &[Override]| {
            if o.is_empty() {
                "  (none)".to_owned()
            } else {
                o.iter()
                    .map(|x| format!("  {}", printable(&x.to_string())))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        };
        Err(odt_cli::UsageError(format!(
            "this job's import was started with other overrides than this run's, and VMs \
             already landed under those; nothing was done. The journal {} recorded:\n{}\nthis \
             run asks for:\n{}\nrerun with the same --rename/--set options, or move the journal \
             away to start a new import",
            self.path.display(),
            list(&self.overrides),
            list(overrides)
        ))
        .into())
    }

    /// The journal of `job_id` in `dir` if one exists, without creating anything (for `plan`).
    pub fn peek(dir: &Path, job_id: &str) -> Result<Option<Journal>> {
        let path = StateDir::new(dir).import_journal(job_id);
        match read(&path) {
            Ok(b) => {
                let mut j: Journal = serde_json::from_slice(&b)
                    .with_context(|| format!("{} is not a valid import journal", path.display()))?;
                j.path = path;
                Ok(Some(j))
            }
            Err(FormatError::Io { cause: source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(None)
            }
            Err(e) => Err(e).context("read the import journal"),
        }
    }

    /// Whether VM `dir` is in vCenter already: a later run reports it from the journal and
    /// its marker without reading its files, so its NAS unit need not be mounted any more.
    pub fn landed(&self, dir: &str) -> bool {
        self.vms
            .get(dir)
            .is_some_and(|r| r.state == VmState::Deployed)
    }

    /// Records `dir`'s new state and saves atomically.
    pub fn set(
        &mut self,
        dir: &str,
        name: &str,
        state: VmState,
        entity: Option<String>,
    ) -> Result<()> {
        tracing::info!(vm = %dir, name = %name, state = ?state, "journal checkpoint");
        // Keep the vCD progress and what was verified: a VM is deployed once, registered after.
        let (vcd, verified) = match self.vms.get(dir) {
            Some(r) => (r.vcd.clone(), r.verified.clone()),
            None => Default::default(),
        };
        self.vms.insert(
            dir.into(),
            VmRecord {
                name: name.into(),
                state,
                entity,
                updated: crate::now_rfc3339(),
                vcd,
                verified,
            },
        );
        self.save()
    }

    /// Records that `dir` is deployed as `entity`, with the digests its files were checked
    /// against on the way in, in one atomic save.
    pub fn set_deployed(
        &mut self,
        dir: &str,
        name: &str,
        entity: String,
        verified: BTreeMap<String, String>,
    ) -> Result<()> {
        self.vms.insert(
            dir.into(),
            VmRecord {
                name: name.into(),
                state: VmState::Deployed,
                entity: Some(entity),
                updated: crate::now_rfc3339(),
                vcd: self.vms.get(dir).and_then(|r| r.vcd.clone()),
                verified,
            },
        );
        tracing::info!(vm = %dir, name = %name, state = "deployed", "journal checkpoint");
        self.save()
    }

    /// Records `dir`'s vCD progress and saves atomically.
    pub fn set_vcd(&mut self, dir: &str, vcd: VcdRecord) -> Result<()> {
        if let Some(r) = self.vms.get_mut(dir) {
            r.vcd = Some(vcd.clone());
            r.updated = crate::now_rfc3339();
        }
        tracing::info!(
            vm = %dir,
            imported = vcd.href.is_some(),
            wired = vcd.wired,
            powered_on = vcd.powered_on,
            done = vcd.done,
            "journal checkpoint (vCD)"
        );
        self.save()
    }

    /// Forgets `dir` (after its half-made VM was removed).
    pub fn clear(&mut self, dir: &str) -> Result<()> {
        self.vms.remove(dir);
        tracing::info!(vm = %dir, "journal checkpoint: forgotten (its half-made VM was removed)");
        self.save()
    }

    fn save(&self) -> Result<()> {
        let mut b = serde_json::to_vec_pretty(self)?;
        b.push(b'\n');
        write_atomic(&self.path, &b).context("save the import journal")
    }

    /// Where it lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The journal shared by the deployments a run makes at once (`run --parallel`): each
/// update takes the lock for one change and its atomic save, so concurrent VMs never lose
/// each other's records, and no lock is held while bytes move.
pub struct SharedJournal<'a>(pub &'a std::sync::Mutex<Journal>);

impl SharedJournal<'_> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Journal> {
        // A worker that panicked mid-update left the record as it was before (saves are
        // atomic): the journal is still usable.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The id of the job the journal is for.
    pub fn job_id(&self) -> String {
        self.lock().job_id.clone()
    }

    /// The record of `dir`, as it is now.
    pub fn vm(&self, dir: &str) -> Option<VmRecord> {
        self.lock().vms.get(dir).cloned()
    }

    /// See [`Journal::set`].
    pub fn set(&self, dir: &str, name: &str, state: VmState, entity: Option<String>) -> Result<()> {
        self.lock().set(dir, name, state, entity)
    }

    /// See [`Journal::set_deployed`].
    pub fn set_deployed(
        &self,
        dir: &str,
        name: &str,
        entity: String,
        verified: BTreeMap<String, String>,
    ) -> Result<()> {
        self.lock().set_deployed(dir, name, entity, verified)
    }

    /// See [`Journal::set_vcd`].
    pub fn set_vcd(&self, dir: &str, vcd: VcdRecord) -> Result<()> {
        self.lock().set_vcd(dir, vcd)
    }

    /// See [`Journal::clear`].
    pub fn clear(&self, dir: &str) -> Result<()> {
        self.lock().clear(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/SECURITY.md §S5: non-regular files are refused before opening; every read is bounded.
    /// The import journal in the state folder is read the same way.
    #[test]
    fn a_fifo_or_oversized_import_journal_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let job = "ab".repeat(16);
        let path = StateDir::new(dir.path()).import_journal(&job);
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let d = dir.path().to_owned();
        let j = job.clone();
        std::thread::spawn(move || {
            let peek = Journal::peek(&d, &j)
                .map(|_| ())
                .map_err(|e| format!("{e:#}"));
            let open = Journal::open(&d, &j, "https://vc")
                .map(|_| ())
                .map_err(|e| format!("{e:#}"));
            let _ = tx.send((peek, open));
        });
        let (peek, open) = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("reading a FIFO import journal hangs");
        for r in [peek, open] {
            assert!(
                r.as_ref().is_err_and(|e| e.contains("not a regular file")),
                "{r:?}"
            );
        }
        std::fs::remove_file(&path).unwrap();
        std::fs::File::create(&path)
            .unwrap()
            .set_len((64 << 20) + 1)
            .unwrap();
        let e = format!("{:#}", Journal::peek(dir.path(), &job).unwrap_err());
        assert!(e.contains("larger than"), "{e}");
    }
}
