//! `odt-export run`: encrypt sources onto the NAS, resumably, then sign the manifest.
//!
//! Order of work, and why:
//! 1. open every source and check its descriptor and `.mf` (small files) — a bad package is
//!    refused before anything is written;
//! 2. create or resume the journal, and check the NAS has room for what is left;
//! 3. stream each file: read → hash (for the `.mf`) → seal → write, with durable checkpoints;
//!    a file whose digest does not match its `.mf` stops the run and is removed;
//! 4. only when every file is finished: sign and write the manifest, then drop the journal.
//!    Until then, verification fails with "interrupted", so a half-written job never passes.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use odt_format::crypto::keys::{DataKey, Recipient, SigningKey};
use odt_format::crypto::stanza::{key_check, KdfParams, Stanza};
use odt_format::crypto::stream::{Geometry, DEFAULT_CHUNK_LOG2};
use odt_format::io::nasfile::{
    encrypt_file, recover, sync_dir, write_atomic, Partial, StreamSpec, WriteOptions,
};
use odt_format::job::layout::Layout;
use odt_format::job::manifest::{self, FileEntry, JobManifest, Target, VmEntry, VmSummary, FORMAT};
use odt_format::ovf::{Content, DigestAlg, Mf, MfEntry};
use odt_format::progress::{human_bytes, Progress};
use odt_format::FormatError;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::journal::{Journal, JOURNAL_FORMAT};
use crate::source::{Origin, PackageFile, Source};

/// Everything `run` needs.
pub struct ExportRequest {
    /// The NAS job directory.
    pub nas: PathBuf,
    /// The customer's signing key.
    pub signing: SigningKey,
    /// Sources and their targets: paths of OVF folders, `.ovf` or `.ova` files; or, with
    /// `vcenter`, VM names, inventory paths or globs.
    pub sources: Vec<(PathBuf, Target)>,
    /// Export straight from this vCenter instead of from files.
    pub vcenter: Option<crate::vcsource::VcenterSource>,
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
}

/// The `--json` report.
#[derive(Debug, Serialize)]
pub struct ExportReport {
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
}

/// One VM in the report.
#[derive(Debug, Serialize)]
pub struct VmReport {
    /// Name.
    pub name: String,
    /// `vm-NNN`.
    pub dir: String,
    /// Files and sizes.
    pub files: Vec<(String, u64)>,
}

/// Runs the export. `passphrase` is called only if a new job needs one.
pub fn run(
    req: &ExportRequest,
    passphrase: &dyn Fn() -> Result<Zeroizing<String>>,
    kdf: KdfParams,
    progress: &dyn Progress,
) -> Result<ExportReport> {
    let started = Instant::now();
    let layout = Layout::new(&req.nas);
    if !req.nas.is_dir() {
        bail!(
            "--nas {}: not a directory (is the NAS mounted?)",
            req.nas.display()
        );
    }
    // One writer per job directory: a second run on the same NAS folder would interleave
    // chunks of the same files.
    let _lock = lock_job(&layout)?;
    if !_lock.is_held() {
        progress.note(&format!(
            "warning: {} cannot be locked (an NFS mount with nolock?): make sure no other \
             odt-export runs on this job",
            req.nas.display()
        ));
    }
    let mut sources: Vec<(Input, Target)> = vec![];
    match &req.vcenter {
        None => {
            for (path, target) in &req.sources {
                let s = Source::open(path)?;
                crate::jobfile::check_target(target, &path.display().to_string())?;
                sources.push((Input::Package(s), target.clone()));
            }
        }
        Some(vc) => {
            for (vm, target) in vc.resolve(&req.sources)? {
                manifest::validate_display("the VM name", &vm.name)
                    .map_err(|e| anyhow::anyhow!("vCenter {}: {e}", vm.vcenter))?;
                crate::jobfile::check_target(&target, &vm.name)?;
                sources.push((Input::Vcenter(vm), target));
            }
        }
    }
    // Verify refuses a job with anything else at its root (docs/SECURITY.md §S8): never start,
    // resume or finish one there (§S6).
    let extra = layout
        .unexpected_root_entries(true)
        .with_context(|| format!("list {}", req.nas.display()))?;
    if !extra.is_empty() {
        bail!(
            "{} holds {}, which no odt job has (verify would refuse the job): move it away, or \
             export into an empty directory",
            req.nas.display(),
            extra.join(", ")
        );
    }
    let plan_digest = plan_digest(&sources, req);
    let signer_key_id = req.signing.verifying_key().key_id();

    let journal = match Journal::load(&layout)? {
        Some(j) if req.restart => {
            progress.note(&format!("discarding the interrupted job {} (--restart)", j.job_id));
            discard(&layout)?;
            None
        }
        Some(j) if j.plan_digest == plan_digest => Some(j),
        Some(j) => bail!(
            "{} holds an interrupted job ({}) for other sources, targets or keys; rerun the original \
             command to finish it, or add --restart to discard it",
            req.nas.display(),
            j.job_id
        ),
        None => None,
    };
    if journal.is_none() && layout.manifest().exists() {
        let m = odt_format::job::reader::read_manifest_unverified(&layout)?;
        if same_job(&m, &sources) {
            return Ok(ExportReport {
                job_id: m.job_id.clone(),
                nas: req.nas.clone(),
                resumed: false,
                already_complete: true,
                vms: m.vms.iter().map(vm_report).collect(),
                bytes: 0,
                seconds: started.elapsed().as_secs_f64(),
                mib_per_second: 0.0,
                kdf_seconds: 0.0,
                signer_key_id,
            });
        }
        bail!(
            "{} already holds a finished job ({}) for other sources; export into an empty directory",
            req.nas.display(),
            m.job_id
        );
    }
    if journal.is_none() && layout.data().exists() {
        if req.restart {
            discard(&layout)?;
        } else {
            bail!(
                "{} has a data/ folder but no journal or manifest (left from another tool or a \
                 removed journal); use an empty directory, or add --restart to clear it",
                req.nas.display()
            );
        }
    }
    if req.space_check {
        check_space(&layout, &sources, journal.as_ref())?;
    }
    let resumed = journal.is_some();
    let (mut journal, key) = match journal {
        Some(j) => {
            let key = j.resume_key(&req.signing)?;
            progress.note(&format!(
                "resuming interrupted job {} ({} file(s) already done)",
                j.job_id,
                j.done.len()
            ));
            (j, key)
        }
        None => new_job(req, &plan_digest, passphrase, kdf)?,
    };
    let job_id = journal.job_id_bytes()?;

    let mut vms = vec![];
    let mut bytes = 0u64;
    let mut cx = Ctx {
        req,
        layout: &layout,
        key: &key,
        job_id,
        journal: &mut journal,
        progress,
        resumed,
    };
    for (idx, (input, target)) in sources.iter().enumerate() {
        let dir = format!("vm-{idx:03}");
        let (vm, n) = match input {
            Input::Package(src) => export_package(&mut cx, src, target, dir)?,
            Input::Vcenter(v) => req
                .vcenter
                .as_ref()
                .expect("vCenter inputs come with one")
                .export(&mut cx, v, target, dir)?,
        };
        bytes += n;
        vms.push(vm);
    }

    let m = JobManifest {
        format: FORMAT.to_owned(),
        job_id: journal.job_id.clone(),
        created: now_rfc3339(),
        exporter: format!("odt-export {}", env!("CARGO_PKG_VERSION")),
        signer_key_id: signer_key_id.clone(),
        key_check: journal.key_check.clone(),
        stanzas: journal.stanzas.clone(),
        vms,
    };
    let mbytes = m.to_bytes();
    // Never sign what no verifier would accept (docs/SECURITY.md §S6): the checks above catch
    // every rule before anything is written; this is the last line.
    JobManifest::parse(&mbytes).context(
        "the finished job breaks a rule of docs/FORMAT.md, so no verifier would accept it; it \
         was not signed",
    )?;
    let sig = manifest::sign(&req.signing, &mbytes);
    // Signature first, manifest last: the manifest's appearance is what marks completion.
    write_atomic(&layout.signature(), &sig)?;
    write_atomic(&layout.manifest(), &mbytes)?;
    std::fs::remove_file(layout.journal())
        .with_context(|| format!("remove {}", layout.journal().display()))?;
    sync_dir(layout.root())?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(ExportReport {
        job_id: m.job_id.clone(),
        nas: req.nas.clone(),
        resumed,
        already_complete: false,
        vms: m.vms.iter().map(vm_report).collect(),
        bytes,
        seconds,
        mib_per_second: bytes as f64 / 1048576.0 / seconds.max(1e-9),
        kdf_seconds: if resumed { 0.0 } else { journal.kdf_seconds },
        signer_key_id,
    })
}

/// One thing to export: a package on disk, or a VM in a source vCenter.
pub enum Input {
    /// An OVF folder, `.ovf` or `.ova`.
    Package(Source),
    /// A VM streamed from vCenter.
    Vcenter(crate::vcsource::VcVm),
}

impl Input {
    /// What identifies it for "the same command" (path or moref, and what is in it).
    fn identity(&self) -> serde_json::Value {
        match self {
            Input::Package(s) => {
                let abs = std::fs::canonicalize(&s.path).unwrap_or_else(|_| s.path.clone());
                serde_json::json!([abs, s.kind, s.fingerprint])
            }
            Input::Vcenter(v) => {
                serde_json::json!(["vcenter", v.vcenter, v.moref.value, v.change_version])
            }
        }
    }
    fn source_name(&self) -> String {
        match self {
            Input::Package(s) => s.source_name(),
            Input::Vcenter(v) => v.name.clone(),
        }
    }
}

/// What exporting one VM needs from the run.
pub struct Ctx<'a> {
    /// The request.
    pub req: &'a ExportRequest,
    /// The job on the NAS.
    pub layout: &'a Layout,
    /// The data key.
    pub key: &'a DataKey,
    /// The job id.
    pub job_id: [u8; 16],
    /// The journal (saved after every finished file).
    pub journal: &'a mut Journal,
    /// Progress.
    pub progress: &'a dyn Progress,
    /// Whether this run resumes an earlier one.
    pub resumed: bool,
}

impl Ctx<'_> {
    /// The spec of a new stream `dir/name` of `plain_size` bytes.
    pub fn spec(&self, dir: &str, name: &str, plain_size: u64) -> StreamSpec {
        StreamSpec {
            layout: self.layout.clone(),
            dir: dir.to_owned(),
            name: name.to_owned(),
            job_id: self.job_id,
            plain_size,
            chunk_log2: self.journal.chunk_log2,
        }
    }
    /// Records a finished file.
    pub fn done(&mut self, stream: String, entry: &FileEntry) -> Result<()> {
        self.journal.done.insert(stream, entry.clone());
        self.journal.save(self.layout)
    }
}

/// Exports one OVF package; returns its manifest entry and the bytes this run processed.
fn export_package(
    cx: &mut Ctx<'_>,
    src: &Source,
    target: &Target,
    dir: String,
) -> Result<(VmEntry, u64)> {
    let (layout, progress) = (cx.layout, cx.progress);
    let name = src.envelope.display_name().to_owned();
    let mut bytes = 0;
    let mut entries: Vec<FileEntry> = vec![];
    let mut mf_lines: Vec<MfEntry> = vec![];
    let mut files: Vec<PackageFile> = src.files.clone();
    // A generated .mf is written last, once every digest is known.
    if src.mf_generated {
        let pos = files
            .iter()
            .position(|f| f.name == src.mf_name)
            .expect("listed");
        let mf = files.remove(pos);
        files.push(mf);
    }
    for file in &mut files {
        let stream = format!("{dir}/{}", file.name);
        if src.mf_generated && file.name == src.mf_name {
            let bytes = Mf {
                entries: std::mem::take(&mut mf_lines),
            }
            .to_bytes();
            file.size = bytes.len() as u64;
            file.origin = Origin::Generated(bytes);
        }
        // A file a previous run finished stays as it was sealed. This run proves it is still
        // what was sealed when it relies on its bytes: the descriptor and the source's `.mf`
        // (small; every other file is checked against them), and a file whose digest a
        // generated `.mf` needs (read again anyway, to digest it). The rest needs no re-read:
        // it was checked against the same, proven `.mf` when it was sealed.
        let done = cx.journal.done.get(&stream).cloned();
        let checks_others =
            file.name == src.descriptor || (!src.mf_generated && file.name == src.mf_name);
        let digested = src.mf_generated && file.name != src.mf_name;
        if let Some(d) = &done {
            if !(checks_others || digested) {
                entries.push(d.clone());
                continue;
            }
        }
        let spec = cx.spec(&dir, &file.name, file.size);
        let mut partial = match &done {
            Some(d) => Some(Partial::finished(d, &stream)?),
            None => recover(&spec).with_context(|| format!("resume {stream}"))?,
        };
        let mut was_done = done.is_some();
        let alg = file.expected.as_ref().map_or(DigestAlg::Sha256, |e| e.alg);
        let (entry, digest) = loop {
            let resuming = partial.is_some();
            if let (Some(p), false) = (&partial, was_done) {
                progress.note(&format!("{stream}: resuming after chunk {}", p.chunks_done));
            }
            let mut hasher = alg.hasher();
            let mut reader = file.open()?;
            progress.start(&format!("{name}: {}", file.name), file.size);
            let sealed = encrypt_file(
                &spec,
                cx.key,
                partial.take(),
                &mut reader,
                &file.display_path(),
                &mut |b| hasher.update(b),
                &|d| progress.set(d),
                cx.req.write,
                &mut OsRng,
            );
            progress.finish();
            match sealed {
                Ok(entry) => break (entry, hasher.finalize()),
                // The source does not continue what was sealed: nothing more was written under
                // that key. Start the file again under a fresh one (`partial` is None now),
                // unless the package the whole job was checked against changed.
                Err(FormatError::Diverged { chunk, .. }) if resuming => {
                    if was_done && checks_others {
                        bail!(
                            "{}: it changed since the interrupted export sealed it (chunk {chunk} \
                             differs): the package is not the one this job began with. Put the \
                             original back and rerun, or rerun with --restart to export the \
                             package as it is now",
                            file.display_path().display()
                        );
                    }
                    progress.note(&format!(
                        "{stream}: the source changed since the interrupted run sealed it (chunk \
                         {chunk} differs): exporting it again from the start under a fresh key"
                    ));
                    if was_done {
                        cx.journal.done.remove(&stream);
                        cx.journal.save(layout)?;
                        was_done = false;
                    }
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!(
                            "exporting {} of VM {name:?} to {}",
                            file.name,
                            cx.req.nas.display()
                        )
                    })
                }
            }
        };
        if let Some(exp) = &file.expected {
            if exp.digest != digest {
                let msg = format!(
                    "{}: its {} digest does not match {} (expected {}, read {}): the source package is \
                     corrupt or was altered; it was refused",
                    file.display_path().display(),
                    alg.name(),
                    src.mf_name,
                    hex::encode(&exp.digest),
                    hex::encode(&digest)
                );
                refuse(layout, cx.resumed)?;
                bail!(msg);
            }
        }
        if src.mf_generated && file.name != src.mf_name {
            mf_lines.push(MfEntry {
                alg,
                file: file.name.clone(),
                digest,
            });
        }
        if !was_done {
            bytes += file.size;
            cx.done(stream, &entry)?;
        }
        entries.push(entry);
    }
    // Manifest order: the package's own order (descriptor, .mf, References).
    entries.sort_by_key(|e| src.files.iter().position(|f| f.name == e.name));
    let vm = VmEntry {
        name,
        dir,
        source_kind: src.kind.to_owned(),
        source_name: src.source_name(),
        descriptor: src.descriptor.clone(),
        mf: src.mf_name.clone(),
        target: target.clone(),
        summary: summary(&src.envelope),
        files: entries,
    };
    Ok((vm, bytes))
}

fn new_job(
    req: &ExportRequest,
    plan_digest: &str,
    passphrase: &dyn Fn() -> Result<Zeroizing<String>>,
    kdf: KdfParams,
) -> Result<(Journal, DataKey)> {
    let mut job_id = [0u8; 16];
    OsRng.fill_bytes(&mut job_id);
    let key = DataKey::generate(&mut OsRng);
    let mut stanzas = vec![];
    let mut kdf_seconds = 0.0;
    if req.use_passphrase {
        let p = passphrase()?;
        let (s, took) = Stanza::passphrase(&key, &job_id, p.as_bytes(), kdf, &mut OsRng)?;
        kdf_seconds = took.as_secs_f64();
        stanzas.push(s);
    }
    for r in &req.recipients {
        stanzas.push(Stanza::x25519(&key, &job_id, r, &mut OsRng));
    }
    let journal = Journal {
        format: JOURNAL_FORMAT.to_owned(),
        job_id: hex::encode(job_id),
        plan_digest: plan_digest.to_owned(),
        signer_key_id: req.signing.verifying_key().key_id(),
        chunk_log2: DEFAULT_CHUNK_LOG2,
        key_check: key_check(&key, &job_id),
        stanzas,
        resume_key: Journal::wrap_resume_key(&req.signing, &job_id, &key),
        kdf_seconds,
        done: Default::default(),
        sealed_digests: Default::default(),
    };
    journal.save(&Layout::new(&req.nas))?;
    Ok((journal, key))
}

/// What identifies "the same command": sources (path and what is in them), targets, and the
/// key choices.
fn plan_digest(sources: &[(Input, Target)], req: &ExportRequest) -> String {
    let mut h = Sha256::new();
    for (s, t) in sources {
        h.update(serde_json::to_vec(&(s.identity(), t)).expect("serialises"));
    }
    let recipients: Vec<String> = req.recipients.iter().map(Recipient::key_id).collect();
    h.update(serde_json::to_vec(&(req.use_passphrase, recipients)).expect("serialises"));
    hex::encode(h.finalize())
}

fn same_job(m: &JobManifest, sources: &[(Input, Target)]) -> bool {
    m.vms.len() == sources.len()
        && m.vms.iter().zip(sources).all(|(vm, (input, t))| {
            vm.source_name == input.source_name()
                && &vm.target == t
                && match input {
                    Input::Package(s) => s
                        .files
                        .iter()
                        .filter(|f| !(s.mf_generated && f.name == s.mf_name))
                        .all(|f| vm.file(&f.name).is_some_and(|e| e.size == f.size)),
                    Input::Vcenter(_) => vm.source_kind == "vcenter",
                }
        })
}

/// The manifest's readable summary of an OVF.
pub fn summary(env: &odt_format::ovf::Envelope) -> VmSummary {
    VmSummary {
        virtual_systems: env
            .virtual_systems()
            .iter()
            .map(|v| v.display_name().to_owned())
            .collect(),
        disk_capacities: env.disks.iter().map(|d| d.capacity_bytes).collect(),
        networks: env.networks.iter().map(|n| n.name.clone()).collect(),
        is_vapp: matches!(env.content, Content::Collection(_)),
    }
}

fn vm_report(vm: &VmEntry) -> VmReport {
    VmReport {
        name: vm.name.clone(),
        dir: vm.dir.clone(),
        files: vm.files.iter().map(|f| (f.name.clone(), f.size)).collect(),
    }
}

/// Bytes still to write, against the NAS's free space.
/// Runs before a new job writes anything (its journal included).
fn check_space(
    layout: &Layout,
    sources: &[(Input, Target)],
    journal: Option<&Journal>,
) -> Result<()> {
    let chunk = 1u64 << journal.map_or(DEFAULT_CHUNK_LOG2, |j| j.chunk_log2);
    let mut need = 1u64 << 20; // manifest, signature, journal rewrites
    for (idx, (input, _)) in sources.iter().enumerate() {
        let dir = format!("vm-{idx:03}");
        let src = match input {
            Input::Package(s) => s,
            Input::Vcenter(v) => {
                // The download's size is known only at its end: the VM's committed storage
                // bounds it (streamOptimized VMDKs are compressed).
                let done: u64 = journal
                    .map(|j| {
                        j.done
                            .iter()
                            .filter(|(k, _)| k.starts_with(&format!("{dir}/")))
                            .map(|(_, e)| e.size)
                            .sum()
                    })
                    .unwrap_or(0);
                need += v.committed_bytes.saturating_sub(done);
                continue;
            }
        };
        for f in &src.files {
            if journal.is_some_and(|j| j.done.contains_key(&format!("{dir}/{}", f.name))) {
                continue;
            }
            let size = if src.mf_generated && f.name == src.mf_name {
                200 * src.files.len() as u64
            } else {
                f.size
            };
            let g = Geometry {
                plain_size: size,
                chunk_size: chunk,
            };
            let have =
                file_len(&layout.encrypted(&dir, &f.name)) + file_len(&layout.sums(&dir, &f.name));
            need += (g.encrypted_size() + g.chunks() * 32).saturating_sub(have);
        }
    }
    let st = nix::sys::statvfs::statvfs(layout.root())
        .with_context(|| format!("check free space on {}", layout.root().display()))?;
    let free = st.blocks_available() as u64 * st.fragment_size() as u64;
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

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

/// Name of the lock file held while a run writes a job directory.
const LOCK_FILE: &str = odt_format::job::layout::RUN_LOCK;

/// Takes the job directory's exclusive lock for this run.
fn lock_job(layout: &Layout) -> Result<odt_format::io::nasfile::RunLock> {
    Ok(odt_format::io::nasfile::RunLock::acquire(
        &layout.root().join(LOCK_FILE),
        "another odt-export run",
    )?)
}

/// Removes an interrupted job's journal and data.
fn discard(layout: &Layout) -> Result<()> {
    let data = layout.data();
    if data.exists() {
        std::fs::remove_dir_all(&data).with_context(|| format!("remove {}", data.display()))?;
    }
    for p in [layout.journal(), layout.manifest(), layout.signature()] {
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("remove {}", p.display()))?;
        }
    }
    sync_dir(layout.root())?;
    Ok(())
}

/// A source failed its own digest: leave nothing of a fresh job behind (a resumed job keeps
/// what earlier runs finished, since those files were checked).
fn refuse(layout: &Layout, resumed: bool) -> Result<()> {
    if resumed {
        return Ok(());
    }
    discard(layout)
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}
