//! `odt-export run`: encrypt sources onto the NAS, resumably, then sign the manifest.
//!
//! [`ExportOptions`] (what the command line asked) → [`ExportPlan`] (the sources opened and
//! checked, what goes where, the job's plan and the space it needs; nothing written yet) →
//! [`ExportPlan::execute`] → [`ExportStats`] (what the summary prints).
//!
//! Order of work, and why:
//! 1. open every source and check its descriptor and `.mf` (small files) — a bad package is
//!    refused before anything is written;
//! 2. decide from the journal and the NAS whether to start, resume, do nothing or refuse
//!    (`odt_format::job::writer`), and how much room is needed;
//! 3. discard what `--restart` discards, check the room, create or resume the journal;
//! 4. stream each file: read → hash (for the `.mf`) → seal → write, with durable checkpoints;
//!    up to `parallel` VMs at once, each on its own thread (its files one after the other, so
//!    each keeps its own sequential hash); a file whose digest does not match its `.mf` stops
//!    the run and, once every thread is done, leaves nothing of a fresh job;
//! 5. only when every file is finished: sign and write the manifest, then drop the journal.
//!    Until then, verification fails with "interrupted", so a half-written job never passes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use odt_format::crypto::keys::{Recipient, SigningKey};
use odt_format::crypto::stanza::KdfParams;
use odt_format::io::nasfile::WriteOptions;
use odt_format::job::journal::{plan_digest, Journal, JournalUnits};
use odt_format::job::layout::{vm_dir_name, Layout};
use odt_format::job::manifest::{self, JobManifest, Target, VmEntry};
use odt_format::job::writer::{ActiveJob, Discard, JobPlan, JobWriter, NewJob};
use odt_format::progress::{human_bytes, Progress, VmWork};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::input::{each_at_once, Ctx, Input};
use crate::placement::{place, VmNeed};
use crate::source::Source;
use crate::vcsource::{VcInput, VcenterSource};

/// Everything the command line asked of `run`.
pub struct ExportOptions {
    /// The NAS job directory: one, or one per NAS unit of a job that spans several (unit 1
    /// first; it holds the journal).
    pub nas: Vec<PathBuf>,
    /// The customer's signing key.
    pub signing: SigningKey,
    /// Sources and their targets: paths of OVF folders, `.ovf` or `.ova` files; or, with
    /// `vcenter`, VM names, inventory paths or globs.
    pub sources: Vec<(PathBuf, Target)>,
    /// Export straight from this vCenter instead of from files.
    pub vcenter: Option<VcenterSource>,
    /// Whether a passphrase stanza is wanted (the passphrase itself is fetched lazily, since a
    /// resumed job does not need it).
    pub use_passphrase: bool,
    /// Provider recipients.
    pub recipients: Vec<Recipient>,
    /// Discard an interrupted job (for these sources or others) instead of resuming or refusing.
    pub restart: bool,
    /// Check free space first.
    pub space_check: bool,
    /// Tuning.
    pub write: WriteOptions,
    /// How many VMs are exported at once (at least 1): on a multi-core machine sealing is
    /// CPU-bound per stream, and a vCenter bounds each NFC download, so several streams pay.
    pub parallel: usize,
}

/// What `run` prints, and its `--json` report.
#[derive(Debug, Serialize)]
pub struct ExportStats {
    /// Job id.
    pub job_id: String,
    /// The NAS directory.
    pub nas: PathBuf,
    /// True when this run continued an interrupted one.
    pub resumed: bool,
    /// True when the job was already complete and nothing was done.
    pub already_complete: bool,
    /// VMs exported.
    pub vms: Vec<VmReport>,
    /// Plaintext bytes processed by this run.
    pub bytes: u64,
    /// Wall time of this run.
    pub seconds: f64,
    /// Throughput of the data path (plaintext bytes / second).
    pub mib_per_second: f64,
    /// Time Argon2id took (0 with no passphrase or when resumed).
    pub kdf_seconds: f64,
    /// Key id of the signer.
    pub signer_key_id: String,
    /// A job over several NAS units: what each holds (absent for one NAS).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<UnitPlaced>,
}

/// What one NAS unit received.
#[derive(Debug, Serialize)]
pub struct UnitPlaced {
    /// Its number, from 1.
    pub unit: u32,
    /// Its directory.
    pub nas: PathBuf,
    /// The VMs (`vm-NNN`) with files on it.
    pub vms: Vec<String>,
}

/// One VM in the report.
#[derive(Debug, Serialize)]
pub struct VmReport {
    /// Name.
    pub name: String,
    /// `vm-NNN`.
    pub dir: String,
    /// Its files, in package order.
    pub files: Vec<FileReport>,
    /// A job over several NAS units: the unit its files went to (the first, for a VM split
    /// over units).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<u32>,
}

/// One file of a VM in the report.
#[derive(Debug, Serialize)]
pub struct FileReport {
    /// The package file's name (`disk1.vmdk`).
    pub name: String,
    /// Its plaintext size.
    pub size: u64,
}

/// The sources of a run, each with its target, in job order (the `vm-NNN` order).
type Inputs<'a> = Vec<(Box<dyn Input + 'a>, Target)>;

/// A run decided, before anything is written.
pub struct ExportPlan<'a> {
    opts: &'a ExportOptions,
    started: Instant,
    writer: JobWriter,
    inputs: Inputs<'a>,
    plan_digest: String,
    job: JobPlan,
    /// Bytes still to write, when the space check is on and there is something to write.
    space_needed: Option<u64>,
    /// A fresh job over several units: where everything goes.
    units: Option<JournalUnits>,
}

impl<'a> ExportPlan<'a> {
    /// Takes the job directory's lock, opens and checks every source, and decides the job's
    /// plan; a refusal is an error, and nothing is written either way.
    pub fn new(opts: &'a ExportOptions, progress: &dyn Progress) -> Result<ExportPlan<'a>> {
        let started = Instant::now();
        for nas in &opts.nas {
            if !nas.is_dir() {
                bail!(
                    "--nas {}: not a directory (is the NAS mounted?)",
                    nas.display()
                );
            }
        }
        crate::placement::check_distinct(&opts.nas)?;
        // One writer per job directory: a second run on the same NAS folder would interleave
        // chunks of the same files.
        let writer = JobWriter::open_units(&opts.nas)?;
        if !writer.lock_held() {
            progress.note(&format!(
                "warning: {} cannot be locked (an NFS mount with nolock?): make sure no other \
                 odt-export runs on this job",
                opts.nas[0].display()
            ));
        }
        let inputs = open_inputs(opts)?;
        let plan_digest = units_digest(
            plan_digest(
                inputs.iter().map(|(i, t)| (i.identity(), t)),
                opts.use_passphrase,
                &opts.recipients,
            ),
            &opts.nas,
        );
        let job = match writer.plan(&plan_digest, opts.restart, |m| same_job(m, &inputs))? {
            JobPlan::Refuse(r) => return Err(r.into()),
            job => job,
        };
        let units = match &job {
            JobPlan::Fresh { .. } if opts.nas.len() > 1 => {
                Some(plan_units(opts, &inputs, progress)?)
            }
            JobPlan::Resume(j) if opts.nas.len() > 1 => {
                check_units_space(&writer, &inputs, j, opts.space_check)?;
                None
            }
            _ => None,
        };
        tracing::info!(
            plan = plan_name(&job),
            sources = inputs.len(),
            "export plan"
        );
        // A finished job needs no room; a fresh one has no data yet, or discards it first.
        let space_needed = match &job {
            _ if opts.nas.len() > 1 => None,
            JobPlan::Resume(j) if opts.space_check => {
                Some(space_needed(writer.layout(), &inputs, Some(j)))
            }
            JobPlan::Fresh { .. } if opts.space_check => {
                Some(space_needed(writer.layout(), &inputs, None))
            }
            _ => None,
        };
        Ok(ExportPlan {
            opts,
            started,
            writer,
            inputs,
            plan_digest,
            job,
            space_needed,
            units,
        })
    }

    /// Writes the job as planned. `passphrase` is called only if a new job needs one.
    pub fn execute(
        self,
        passphrase: &dyn Fn() -> Result<Zeroizing<String>>,
        kdf: KdfParams,
        progress: &dyn Progress,
    ) -> Result<ExportStats> {
        let opts = self.opts;
        let signer_key_id = opts.signing.verifying_key().key_id();
        let job = match self.job {
            JobPlan::Complete(m) => return Ok(complete(opts, self.started, &m, signer_key_id)),
            JobPlan::Refuse(r) => return Err(r.into()),
            JobPlan::Resume(j) => {
                check_space(self.writer.layout(), self.space_needed)?;
                let job = self.writer.resume(*j, &opts.signing)?;
                progress.note(&format!(
                    "resuming interrupted job {} ({} file(s) already done)",
                    job.journal().job_id,
                    job.journal().done.len()
                ));
                job
            }
            JobPlan::Fresh { discard } => {
                if let Some(d) = discard {
                    if let Discard::Interrupted { job_id } = d {
                        progress.note(&format!(
                            "discarding the interrupted job {job_id} (--restart)"
                        ));
                    }
                    self.writer.discard()?;
                }
                check_space(self.writer.layout(), self.space_needed)?;
                create(
                    self.writer,
                    opts,
                    &self.plan_digest,
                    self.units,
                    passphrase,
                    kdf,
                )?
            }
        };
        let (vms, bytes) = export_all(&job, &self.inputs, opts, progress)?;
        let unit_of = |vm: &VmEntry| {
            let f = vm.files.first().map_or("", |f| f.name.as_str());
            (opts.nas.len() > 1).then(|| job.unit_of(&vm.dir, f))
        };
        let reports: Vec<VmReport> = vms.iter().map(|vm| vm_report(vm, unit_of(vm))).collect();
        let units = units_placed(&job, &vms, &opts.nas);
        let resumed = job.resumed();
        let kdf_seconds = if resumed {
            0.0
        } else {
            job.journal().kdf_seconds
        };
        let exporter = format!("odt-export {}", env!("CARGO_PKG_VERSION"));
        let m = job.finish(&opts.signing, exporter, now_rfc3339(), vms)?;
        let seconds = self.started.elapsed().as_secs_f64();
        Ok(ExportStats {
            job_id: m.job_id.clone(),
            nas: opts.nas[0].clone(),
            resumed,
            already_complete: false,
            vms: reports,
            bytes,
            seconds,
            mib_per_second: bytes as f64 / 1048576.0 / seconds.max(1e-9),
            kdf_seconds,
            signer_key_id,
            units,
        })
    }
}

/// The stats of a run that found its job finished already.
fn complete(
    opts: &ExportOptions,
    started: Instant,
    m: &JobManifest,
    signer_key_id: String,
) -> ExportStats {
    ExportStats {
        job_id: m.job_id.clone(),
        nas: opts.nas[0].clone(),
        resumed: false,
        already_complete: true,
        vms: m.vms.iter().map(|vm| vm_report(vm, None)).collect(),
        bytes: 0,
        seconds: started.elapsed().as_secs_f64(),
        mib_per_second: 0.0,
        kdf_seconds: 0.0,
        signer_key_id,
        units: vec![],
    }
}

/// Opens every source (a package on disk, or the VMs a vCenter pattern names) and checks its
/// target.
fn open_inputs(opts: &ExportOptions) -> Result<Inputs<'_>> {
    let mut inputs: Inputs<'_> = vec![];
    match &opts.vcenter {
        None => {
            for (path, target) in &opts.sources {
                let s = Source::open(path)?;
                let what = path.display().to_string();
                crate::jobfile::check_target(target, &what)?;
                let nics = crate::input::nic_count(&s.envelope);
                crate::jobfile::check_ip(target, Some(nics), &what)?;
                inputs.push((Box::new(s), target.clone()));
            }
        }
        Some(vc) => {
            for (vm, target) in vc.resolve(&opts.sources)? {
                manifest::validate_display("the VM name", &vm.name)
                    .map_err(|e| anyhow!("vCenter {}: {e}", vm.vcenter))?;
                crate::jobfile::check_target(&target, &vm.name)?;
                crate::jobfile::check_ip(&target, None, &vm.name)?;
                inputs.push((Box::new(VcInput { source: vc, vm }), target));
            }
        }
    }
    crate::jobfile::check_ips_unique(inputs.iter().map(|(i, t)| (i.source_name(), t)))?;
    Ok(inputs)
}

/// Starts a new job, asking for the passphrase only now.
fn create(
    writer: JobWriter,
    opts: &ExportOptions,
    plan_digest: &str,
    units: Option<JournalUnits>,
    passphrase: &dyn Fn() -> Result<Zeroizing<String>>,
    kdf: KdfParams,
) -> Result<ActiveJob> {
    let p = match opts.use_passphrase {
        true => Some(passphrase()?),
        false => None,
    };
    Ok(writer.create(NewJob {
        plan_digest,
        signing: &opts.signing,
        passphrase: p.as_ref().map(|p| (p.as_bytes(), kdf)),
        recipients: &opts.recipients,
        units,
    })?)
}

/// Exports every input into its `vm-NNN`, up to `opts.parallel` transfers at once: that many
/// VMs, or fewer VMs each with a share of the streams for its disks (a vCenter VM downloads
/// several disks at once). Returns the manifest entries in input order and the bytes this
/// run processed; the first failure in input order is the run's error.
fn export_all(
    job: &ActiveJob,
    inputs: &Inputs<'_>,
    opts: &ExportOptions,
    progress: &dyn Progress,
) -> Result<(Vec<VmEntry>, u64)> {
    let refused = AtomicBool::new(false);
    let mut cx = Ctx {
        job,
        progress,
        write: opts.write,
        refused: &refused,
        streams: opts.parallel.max(1),
    };
    let vms_at_once = opts.parallel.clamp(1, inputs.len().max(1));
    let journal = job.journal();
    let work: Vec<VmWork> = inputs
        .iter()
        .enumerate()
        .map(|(idx, (input, _))| input.work(job, &vm_dir_name(idx), &journal))
        .collect();
    progress.plan(&work);
    // From here Ctrl-C stops the work in flight at its next read (the passphrase, if one was
    // asked for, has been read).
    odt_cli::interrupt::arm().context("install the Ctrl-C handler")?;
    let export_one = |cx: &mut Ctx<'_>, idx: usize| {
        let (input, target) = &inputs[idx];
        let r = input.export(cx, target, vm_dir_name(idx));
        if let Ok((vm, _)) = &r {
            cx.progress
                .vm_done(idx, Some(vm.files.iter().map(|f| f.size).sum()));
        }
        r
    };
    let results = each_at_once(&mut cx, inputs.len(), vms_at_once, &export_one);
    if refused.load(Ordering::SeqCst) {
        job.refuse()?;
    }
    let mut vms = vec![];
    let mut bytes = 0u64;
    for r in results {
        let (vm, n) = r?;
        bytes += n;
        vms.push(vm);
    }
    Ok((vms, bytes))
}

/// Whether the finished job `m` is the one these inputs make.
fn same_job(m: &JobManifest, inputs: &Inputs<'_>) -> bool {
    m.vms.len() == inputs.len()
        && m.vms.iter().zip(inputs).all(|(vm, (input, t))| {
            vm.source_name == input.source_name() && &vm.target == t && input.same_as(vm)
        })
}

fn vm_report(vm: &VmEntry, unit: Option<u32>) -> VmReport {
    VmReport {
        name: vm.name.clone(),
        dir: vm.dir.clone(),
        files: vm
            .files
            .iter()
            .map(|f| FileReport {
                name: f.name.clone(),
                size: f.size,
            })
            .collect(),
        unit,
    }
}

/// The plan digest of a job over several units also covers the units, in order: a rerun
/// must name the same units (where the first run put each file). One NAS: unchanged.
fn units_digest(digest: String, nas: &[PathBuf]) -> String {
    if nas.len() < 2 {
        return digest;
    }
    let abs: Vec<PathBuf> = nas
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let v = serde_json::json!([digest, abs]);
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(v.to_string()))
}

/// Bytes free on `root` (statvfs).
fn free_space(root: &std::path::Path) -> Result<u64> {
    let st = nix::sys::statvfs::statvfs(root)
        .with_context(|| format!("check free space on {}", root.display()))?;
    Ok(st.blocks_available() as u64 * st.fragment_size() as u64)
}

/// Places a fresh job over its units by their free space, and says where each VM goes.
fn plan_units(
    opts: &ExportOptions,
    inputs: &Inputs<'_>,
    progress: &dyn Progress,
) -> Result<JournalUnits> {
    let empty = Layout::new(&opts.nas[0]);
    let needs: Vec<VmNeed> = inputs
        .iter()
        .enumerate()
        .map(|(idx, (input, _))| VmNeed {
            dir: vm_dir_name(idx),
            name: input.source_name(),
            total: input.space_needed(&empty, &vm_dir_name(idx), None),
            files: input.file_needs(),
        })
        .collect();
    let free = opts
        .nas
        .iter()
        .map(|r| free_space(r))
        .collect::<Result<Vec<_>>>()?;
    let roots: Vec<String> = opts.nas.iter().map(|r| r.display().to_string()).collect();
    let p = place(&needs, &free, &roots)?;
    for (k, root) in roots.iter().enumerate() {
        let unit = k as u32 + 1;
        let here: Vec<String> = needs
            .iter()
            .filter(|n| {
                p.placement.get(&n.dir) == Some(&unit)
                    || p.placement
                        .iter()
                        .any(|(s, &u)| u == unit && s.starts_with(&format!("{}/", n.dir)))
            })
            .map(|n| format!("{} ({})", n.name, n.dir))
            .collect();
        progress.note(&format!(
            "unit {unit} of {}: {root}: {} of {} free: {}",
            roots.len(),
            human_bytes(p.bytes[k]),
            human_bytes(free[k]),
            if here.is_empty() {
                "nothing".into()
            } else {
                here.join(", ")
            }
        ));
    }
    Ok(JournalUnits {
        unit_ids: roots
            .iter()
            .map(|_| odt_format::job::unit::new_unit_id())
            .collect(),
        placement: p.placement,
    })
}

/// A resumed job over several units: each unit has room for what is still to go there.
fn check_units_space(
    writer: &JobWriter,
    inputs: &Inputs<'_>,
    j: &Journal,
    space_check: bool,
) -> Result<()> {
    if j.units.is_none() {
        bail!("the interrupted job's journal has no unit placement; rerun with --restart");
    }
    if !space_check {
        return Ok(());
    }
    for (k, layout) in writer.units().enumerate() {
        let unit = k as u32 + 1;
        let mut need = crate::placement::RESERVE;
        for (idx, (input, _)) in inputs.iter().enumerate() {
            // A VM split by file has files on several units: each counts where it goes.
            need += input.space_needed_on(layout, &vm_dir_name(idx), j, unit);
        }
        check_space(layout, Some(need))?;
    }
    Ok(())
}

/// What each unit received, for the report.
fn units_placed(job: &ActiveJob, vms: &[VmEntry], nas: &[PathBuf]) -> Vec<UnitPlaced> {
    if nas.len() < 2 {
        return vec![];
    }
    (1..=nas.len() as u32)
        .map(|unit| UnitPlaced {
            unit,
            nas: nas[unit as usize - 1].clone(),
            vms: vms
                .iter()
                .filter(|vm| {
                    vm.files
                        .iter()
                        .any(|f| job.unit_of(&vm.dir, &f.name) == unit)
                })
                .map(|vm| vm.dir.clone())
                .collect(),
        })
        .collect()
}

/// Bytes still to write; `resume` is the journal of the job this run continues.
fn space_needed(layout: &Layout, inputs: &Inputs<'_>, resume: Option<&Journal>) -> u64 {
    let mut need = 1u64 << 20; // manifest, signature, journal rewrites
    for (idx, (input, _)) in inputs.iter().enumerate() {
        need += input.space_needed(layout, &vm_dir_name(idx), resume);
    }
    need
}

/// `need` against the NAS's free space. Runs before a new job writes anything (its journal
/// included), after what `--restart` discards.
fn check_space(layout: &Layout, need: Option<u64>) -> Result<()> {
    let Some(need) = need else {
        return Ok(());
    };
    let free = free_space(layout.root())?;
    if free < need {
        bail!(
            "not enough space on the NAS {}: {} free, this job needs {} more. Free space or use a \
             larger NAS, then rerun the same command (it resumes). If the NAS reports its free \
             space wrongly, --no-space-check skips this check.",
            layout.root().display(),
            human_bytes(free),
            human_bytes(need)
        );
    }
    Ok(())
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

/// The writer's decision, as the log names it.
fn plan_name(job: &JobPlan) -> &'static str {
    match job {
        JobPlan::Fresh { discard: None } => "fresh",
        JobPlan::Fresh { discard: Some(_) } => "fresh (after discarding what the NAS held)",
        JobPlan::Resume(_) => "resume",
        JobPlan::Complete(_) => "complete (nothing to do)",
        JobPlan::Refuse(_) => "refuse",
    }
}
