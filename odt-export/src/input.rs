//! One thing to export, whatever it comes from: the trait the run drives, and what exporting
//! one VM gets from the run.
//!
//! Why a trait: the run (`export`) decides the job's plan, the space check and the manifest
//! the same way for every kind of source; only how a VM's files are found, identified and
//! streamed differs (`source`: OVF folders, `.ovf`, `.ova`; `vcsource`: a VM in vCenter). So
//! the run knows no kind of source, and no source knows the run.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::Result;
use odt_format::io::nasfile::{StreamSpec, WriteOptions};
use odt_format::job::journal::Journal;
use odt_format::job::layout::Layout;
use odt_format::job::manifest::{FileEntry, Target, VmEntry, VmSummary};
use odt_format::job::writer::ActiveJob;
use odt_format::ovf::{Content, Envelope};
use odt_format::progress::{Progress, VmWork};

/// A source of one VM. `Sync`: a run exports several VMs at once, each on its own thread.
pub trait Input: Sync {
    /// What identifies it for "the same command" (path or moref, and what is in it): part of
    /// the journal's plan digest.
    fn identity(&self) -> serde_json::Value;
    /// Its name in the manifest (`source_name`).
    fn source_name(&self) -> String;
    /// Whether `vm`, of a finished job whose source name and target match, is this source.
    fn same_as(&self, vm: &VmEntry) -> bool;
    /// Bytes still to write for it into `dir` (`vm-NNN`); `resume` is the journal of the job
    /// this run continues.
    fn space_needed(&self, layout: &Layout, dir: &str, resume: Option<&Journal>) -> u64;
    /// Bytes still to write for it into `dir` on unit `unit` (from 1) of the resumed job over
    /// several units whose journal is `resume`: all of them when the VM is placed there
    /// whole, none elsewhere. An input that can be split by file (`file_needs`) counts the
    /// files placed on that unit instead.
    fn space_needed_on(&self, layout: &Layout, dir: &str, resume: &Journal, unit: u32) -> u64 {
        let placed = resume
            .units
            .as_ref()
            .and_then(|u| u.placement.get(dir).copied())
            .unwrap_or(1);
        match placed == unit {
            true => self.space_needed(layout, dir, Some(resume)),
            false => 0,
        }
    }
    /// What exporting it into `dir` amounts to for the overall progress: its bytes, as its
    /// progress pieces will count them, and what `journal` (of `job`, the job this run
    /// writes) and the partial files, on whichever unit each is placed, say an earlier run did.
    fn work(&self, job: &ActiveJob, dir: &str, journal: &Journal) -> VmWork;
    /// Bytes each of its files needs in a fresh job, when its files are known before the
    /// export (so a VM larger than one NAS unit can be split by file); `None` by default.
    fn file_needs(&self) -> Option<Vec<(String, u64)>> {
        None
    }
    /// Exports it into `dir`; returns its manifest entry and the bytes this run processed.
    fn export(&self, cx: &mut Ctx<'_>, target: &Target, dir: String) -> Result<(VmEntry, u64)>;
}

/// What exporting one VM gets from the run: one per thread of the run.
pub struct Ctx<'a> {
    /// The job being written, shared by the run's threads.
    pub job: &'a ActiveJob,
    /// Progress of this thread's VM.
    pub progress: &'a dyn Progress,
    /// Tuning of the writes.
    pub write: WriteOptions,
    /// Set when a source failed its own digest: the run then stops and, once every thread is
    /// done with the job, leaves nothing of a fresh one behind ([`ActiveJob::refuse`]).
    pub refused: &'a AtomicBool,
    /// How many transfers this VM may run at once (a vCenter VM's disks; see
    /// [`each_at_once`]).
    pub streams: usize,
}

impl Ctx<'_> {
    /// The spec of a new stream `dir/name` of `plain_size` bytes.
    pub fn spec(&self, dir: &str, name: &str, plain_size: u64) -> StreamSpec {
        self.job.spec(dir, name, plain_size)
    }
    /// Records a finished file.
    pub fn done(&mut self, stream: String, entry: &FileEntry) -> Result<()> {
        tracing::info!(stream = %stream, bytes = entry.size, "journal checkpoint: file done");
        Ok(self.job.done(stream, entry)?)
    }
    /// A source failed its own digest: the job is refused (see [`Ctx::refused`]).
    pub fn refuse(&self) {
        self.refused.store(true, Ordering::SeqCst);
    }
}

/// Runs `work(cx, i)` for every `i` in `0..n`, `streams` at once, each thread with a `Ctx` of
/// its own: its own progress lane, its share of the sealing workers and of `cx.streams`. With
/// one stream the items run in turn on the caller's `cx` (its single bar, all its streams).
/// After a failure (or Ctrl-C) no new item starts; the ones under way finish. The results come in item
/// order; items that never started (only after a failure) are left out, and they are always
/// the last ones, since items are taken in order.
pub fn each_at_once<T: Send>(
    cx: &mut Ctx<'_>,
    n: usize,
    streams: usize,
    work: &(dyn Fn(&mut Ctx<'_>, usize) -> Result<T> + Sync),
) -> Vec<Result<T>> {
    let streams = streams.clamp(1, n.max(1));
    if streams == 1 {
        let mut out = vec![];
        for i in 0..n {
            if let Err(e) = odt_cli::interrupt::check() {
                out.push(Err(e.into()));
                break;
            }
            let r = work(cx, i);
            let failed = r.is_err();
            out.push(r);
            if failed {
                break;
            }
        }
        return out;
    }
    let cx = &*cx;
    let failed = AtomicBool::new(false);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<T>>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..streams {
            s.spawn(|| {
                let lane = cx.progress.lane();
                let mut own = Ctx {
                    job: cx.job,
                    progress: &*lane,
                    write: WriteOptions {
                        workers: (cx.write.workers / streams).max(1),
                        ..cx.write
                    },
                    refused: cx.refused,
                    streams: (cx.streams / streams).max(1),
                };
                while !failed.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        break;
                    }
                    // After Ctrl-C the next item fails at once (those under way stop at their
                    // next read), so the caller never takes the items left out for done.
                    let r = match odt_cli::interrupt::check() {
                        Ok(()) => work(&mut own, i),
                        Err(e) => Err(e.into()),
                    };
                    failed.fetch_or(r.is_err(), Ordering::SeqCst);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.into_iter().flatten().collect()
}

/// The manifest's readable summary of an OVF. The NIC counts are recorded only for a
/// target that sets `ip_mode` (docs/FORMAT.md §6), so other manifests keep their bytes.
pub fn summary(env: &Envelope, target: &Target) -> VmSummary {
    let nics = match target.ip_mode {
        Some(_) => env
            .virtual_systems()
            .iter()
            .map(|v| v.nics.len() as u32)
            .collect(),
        None => vec![],
    };
    VmSummary {
        virtual_systems: env
            .virtual_systems()
            .iter()
            .map(|v| v.display_name().to_owned())
            .collect(),
        disk_capacities: env.disks.iter().map(|d| d.capacity_bytes).collect(),
        networks: env.networks.iter().map(|n| n.name.clone()).collect(),
        is_vapp: matches!(env.content, Content::Collection(_)),
        nics,
    }
}

/// How many NICs the OVF's virtual systems have in all.
pub fn nic_count(env: &Envelope) -> usize {
    env.virtual_systems().iter().map(|v| v.nics.len()).sum()
}
