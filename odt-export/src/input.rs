//! One thing to export, whatever it comes from: the trait the run drives, and what exporting
//! one VM gets from the run.
//!
//! Why a trait: the run (`export`) decides the job's plan, the space check and the manifest
//! the same way for every kind of source; only how a VM's files are found, identified and
//! streamed differs (`source`: OVF folders, `.ovf`, `.ova`; `vcsource`: a VM in vCenter). So
//! the run knows no kind of source, and no source knows the run.

use std::path::Path;

use anyhow::Result;
use odt_format::io::nasfile::{StreamSpec, WriteOptions};
use odt_format::job::journal::Journal;
use odt_format::job::layout::Layout;
use odt_format::job::manifest::{FileEntry, Target, VmEntry, VmSummary};
use odt_format::job::writer::ActiveJob;
use odt_format::ovf::{Content, Envelope};
use odt_format::progress::Progress;

/// A source of one VM.
pub trait Input {
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
    /// Bytes each of its files needs in a fresh job, when its files are known before the
    /// export (so a VM larger than one NAS unit can be split by file); `None` by default.
    fn file_needs(&self) -> Option<Vec<(String, u64)>> {
        None
    }
    /// Exports it into `dir`; returns its manifest entry and the bytes this run processed.
    fn export(&self, cx: &mut Ctx<'_>, target: &Target, dir: String) -> Result<(VmEntry, u64)>;
}

/// What exporting one VM gets from the run.
pub struct Ctx<'a> {
    /// The job being written.
    pub job: &'a mut ActiveJob,
    /// Progress.
    pub progress: &'a dyn Progress,
    /// Tuning of the writes.
    pub write: WriteOptions,
    /// The NAS job directory, for messages.
    pub nas: &'a Path,
}

impl Ctx<'_> {
    /// The spec of a new stream `dir/name` of `plain_size` bytes.
    pub fn spec(&self, dir: &str, name: &str, plain_size: u64) -> StreamSpec {
        self.job.spec(dir, name, plain_size)
    }
    /// Records a finished file.
    pub fn done(&mut self, stream: String, entry: &FileEntry) -> Result<()> {
        Ok(self.job.done(stream, entry)?)
    }
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
