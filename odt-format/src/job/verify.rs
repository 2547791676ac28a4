//! Verifying a job on the NAS: keyless (signature, sizes, headers, every ciphertext chunk
//! against its signed digest) and deep (decrypt everything and check it against the OVF's own
//! `.mf`). Keyless verification needs no secret, so the customer can run it before shipping
//! and the provider at the dock, before any key is near the data.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::crypto::stanza::Unlock;
use crate::crypto::stream::{chunk_digest, Geometry, CHUNK_DIGEST_LEN as DIGEST, TAG_LEN};
use crate::error::{FormatError, IoContext, Result};
use crate::job::layout::Layout;
use crate::job::manifest::{FileEntry, JobManifest, VmEntry};
use crate::job::reader::{
    data_key, decrypt_small, open_manifest_bytes, open_regular, unwrap_io, DecryptReader,
    TrustAnchor,
};
use crate::job::unit::UnitIndex;
use crate::ovf::{parse_descriptor, Mf};
use crate::progress::{Progress, VmWork};

/// Largest descriptor or `.mf` decrypted into memory.
const MAX_SMALL_FILE: u64 = 16 << 20;
/// At most this many bad chunks are listed per file.
const MAX_BAD_CHUNKS_LISTED: usize = 16;

/// One thing wrong with the job.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// Bundle-relative path (or VM name) of what is wrong.
    pub file: String,
    /// What is wrong, naming chunks where that applies.
    pub what: String,
}

/// The outcome of a verification.
#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    /// The job id.
    pub job_id: String,
    /// Key id of the signer whose signature checked out.
    pub signer_key_id: String,
    /// SHA-256 of the exact manifest bytes that were verified.
    pub manifest_sha256: String,
    /// Whether every file was also decrypted and checked against its `.mf`.
    pub deep: bool,
    /// VMs in the job.
    pub vms: usize,
    /// Files checked.
    pub files: usize,
    /// Encrypted bytes read.
    pub bytes: u64,
    /// Everything found wrong; empty means the job verified (for a unit of a job over
    /// several: this unit's part of it).
    pub problems: Vec<Problem>,
    /// For one unit of a job over several NAS units: which, and what it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<UnitReport>,
}

/// What one unit of a job over several NAS units holds (docs/FORMAT.md §2.2).
#[derive(Clone, Debug, Serialize)]
pub struct UnitReport {
    /// This unit's number, from 1.
    pub unit: u32,
    /// How many units the job spans.
    pub units: u32,
    /// This unit's random id.
    pub unit_id: String,
    /// The VMs (`vm-NNN`) with every file on this unit.
    pub vms_here: Vec<String>,
    /// The VMs with some of their files here and the rest on other units.
    pub vms_partly_here: Vec<String>,
    /// The other units (their numbers), which this verification did not see.
    pub other_units: Vec<u32>,
}

impl UnitReport {
    /// The report of `index` over `m`.
    pub fn new(index: &UnitIndex, m: &JobManifest) -> UnitReport {
        let here = index.whole_vms(m);
        let partly = index
            .view(m)
            .vms
            .iter()
            .map(|vm| vm.dir.clone())
            .filter(|d| !here.contains(&d.as_str()))
            .collect();
        UnitReport {
            unit: index.unit,
            units: index.units,
            unit_id: index.unit_id.clone(),
            vms_here: here.into_iter().map(str::to_owned).collect(),
            vms_partly_here: partly,
            other_units: (1..=index.units).filter(|&k| k != index.unit).collect(),
        }
    }
}

impl VerifyReport {
    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies the job at `layout`. A bad signature or an unusable secret is an `Err`; damage to
/// files is collected into the report so that every damaged file is named in one run.
pub fn verify_job(
    layout: &Layout,
    trusted: &TrustAnchor<'_>,
    deep: Option<&Unlock<'_>>,
    progress: &dyn Progress,
) -> Result<VerifyReport> {
    let (job, bytes) = open_manifest_bytes(layout, trusted)?;
    let index = UnitIndex::open(layout, trusted, &job, &bytes)?;
    // One unit of a job over several is verified for what its index says it holds.
    let m = match &index {
        Some(u) => u.view(&job),
        None => job.clone(),
    };
    let key = deep.map(|u| data_key(&m, u)).transpose()?;
    let mut report = VerifyReport {
        job_id: m.job_id.clone(),
        signer_key_id: m.signer_key_id.clone(),
        manifest_sha256: hex::encode(Sha256::digest(&bytes)),
        deep: key.is_some(),
        vms: m.vms.len(),
        files: 0,
        bytes: 0,
        problems: vec![],
        unit: index.as_ref().map(|u| UnitReport::new(u, &job)),
    };
    progress.plan(&work(&m, key.is_some()));
    let files = files_checked(layout, &m, progress, key.is_none())?;
    report.files = files.files;
    report.bytes = files.bytes;
    report.problems = files.problems;
    if let Some(key) = key {
        let partly = report.unit.as_ref().map(|u| u.vms_partly_here.clone());
        for (i, vm) in m.vms.iter().enumerate() {
            if partly.as_ref().is_some_and(|p| p.contains(&vm.dir)) {
                report.problems.push(Problem {
                    file: format!("data/{}", vm.dir),
                    what: format!(
                        "VM {:?} spans several units: its files here verified keyless; \
                         --deep needs all of its units",
                        vm.name
                    ),
                });
                progress.vm_done(i, Some(keyless_bytes(vm)));
                continue;
            }
            if report
                .problems
                .iter()
                .any(|p| p.file.starts_with(&format!("data/{}/", vm.dir)))
            {
                // Already known bad; decrypting would only repeat it.
                progress.vm_done(i, Some(keyless_bytes(vm)));
                continue;
            }
            if let Err(e) = check_vm_deep(layout, &m, &key, vm, progress) {
                report.problems.push(Problem {
                    file: format!("data/{}", vm.dir),
                    what: format!("VM {:?}: {e}", vm.name),
                });
            }
            progress.vm_done(i, None);
        }
    }
    Ok(report)
}

/// What the keyless pass over a job's files found.
#[derive(Clone, Debug, Default)]
pub struct FilesChecked {
    /// Files checked.
    pub files: usize,
    /// Encrypted bytes read.
    pub bytes: u64,
    /// Everything found wrong.
    pub problems: Vec<Problem>,
}

/// The keyless pass over the files of an already verified manifest `m`: unexpected files,
/// then every listed file's size, header, digest list and chunks.
pub fn verify_files(
    layout: &Layout,
    m: &JobManifest,
    progress: &dyn Progress,
) -> Result<FilesChecked> {
    progress.plan(&work(m, false));
    files_checked(layout, m, progress, true)
}

/// The keyless pass; `vms_done` when it is the whole work (no deep pass follows), so each VM
/// is finished with its files.
fn files_checked(
    layout: &Layout,
    m: &JobManifest,
    progress: &dyn Progress,
    vms_done: bool,
) -> Result<FilesChecked> {
    let mut out = FilesChecked {
        problems: unexpected_files(layout, m)?,
        ..Default::default()
    };
    for (i, vm) in m.vms.iter().enumerate() {
        for f in &vm.files {
            out.files += 1;
            out.bytes += f.encrypted_size;
            if let Err(e) = check_file_keyless(layout, vm, f, progress) {
                out.problems.push(problem(vm, f, e));
            }
        }
        if vms_done {
            progress.vm_done(i, None);
        }
    }
    Ok(out)
}

/// Verifying `m`, as the overall progress counts it: per VM its encrypted bytes (each read
/// once by the keyless pass), and with `deep` the plaintext the deep pass decrypts (every
/// file but the `.mf`, which is read whole without a bar).
pub fn work(m: &JobManifest, deep: bool) -> Vec<VmWork> {
    m.vms
        .iter()
        .map(|vm| {
            let plain: u64 = match deep {
                true => vm
                    .files
                    .iter()
                    .filter(|f| f.name != vm.mf)
                    .map(|f| f.size)
                    .sum(),
                false => 0,
            };
            VmWork {
                bytes: keyless_bytes(vm) + plain,
                ..VmWork::default()
            }
        })
        .collect()
}

fn keyless_bytes(vm: &VmEntry) -> u64 {
    vm.files.iter().map(|f| f.encrypted_size).sum()
}

fn problem(vm: &VmEntry, f: &FileEntry, e: FormatError) -> Problem {
    let file = Layout::rel_encrypted(&vm.dir, &f.name);
    // The problem already names the file: keep only what is wrong with it.
    let what = match e {
        FormatError::Tampered { what, .. } => what,
        FormatError::Truncated { got, want, .. } => {
            format!("truncated: ended after {got} of {want} bytes")
        }
        FormatError::ChunkAuth { chunk, .. } => {
            format!("chunk {chunk} failed to decrypt: it was altered, moved or truncated")
        }
        other => other.to_string(),
    };
    Problem { file, what }
}

/// Files at the job's root that no job has, and files under `data/` that the manifest does not
/// list (docs/SECURITY.md §S8).
fn unexpected_files(layout: &Layout, m: &JobManifest) -> Result<Vec<Problem>> {
    let root = layout.root();
    let mut out: Vec<Problem> = layout
        .unexpected_root_entries(false)
        .ctx("list", root)?
        .into_iter()
        .map(|name| Problem {
            file: name,
            what: "unexpected file (not in the manifest)".into(),
        })
        .collect();
    // A unit index belongs only beside a manifest that says the job spans several units.
    if m.units.is_none() {
        for p in [layout.unit_index(), layout.unit_signature()] {
            if p.exists() {
                out.push(Problem {
                    file: p
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned(),
                    what: "unexpected file (the manifest is of a job on one NAS)".into(),
                });
            }
        }
    }
    let mut expected = BTreeSet::new();
    for vm in &m.vms {
        for f in &vm.files {
            expected.insert(format!("{}/{}.odt", vm.dir, f.name));
            expected.insert(format!("{}/{}.odt.sums", vm.dir, f.name));
        }
    }
    let data = layout.data();
    let Ok(rd) = std::fs::read_dir(&data) else {
        return Ok(out);
    };
    for d in rd {
        let d = d.ctx("list", &data)?;
        // Names found on the NAS are untrusted text: escaped for display.
        let dir_name = crate::text::printable(&d.file_name().to_string_lossy()).into_owned();
        let Ok(inner) = std::fs::read_dir(d.path()) else {
            out.push(Problem {
                file: format!("data/{dir_name}"),
                what: "unexpected file (not in the manifest)".into(),
            });
            continue;
        };
        for e in inner {
            let e = e.ctx("list", &d.path())?;
            let rel = format!(
                "{dir_name}/{}",
                crate::text::printable(&e.file_name().to_string_lossy())
            );
            if !expected.contains(&rel) {
                out.push(Problem {
                    file: format!("data/{rel}"),
                    what: "unexpected file (not in the manifest)".into(),
                });
            }
        }
    }
    Ok(out)
}

/// Checks one encrypted file against the manifest without any key: size, header, the digest
/// list, then every chunk against its digest (on all cores).
pub fn check_file_keyless(
    layout: &Layout,
    vm: &VmEntry,
    f: &FileEntry,
    progress: &dyn Progress,
) -> Result<()> {
    let rel = Layout::rel_encrypted(&vm.dir, &f.name);
    let tampered = |what: String| FormatError::Tampered {
        file: rel.clone(),
        what,
    };
    let path = layout.encrypted(&vm.dir, &f.name);
    let mut file = open_with_length(&path, &rel, f.encrypted_size)?;
    // The digest list is checked against the manifest before any chunk is read (a quick
    // answer for an altered list), then read again, one entry per chunk, and hashed again as
    // it is used, so that what the chunks are compared with is what the manifest signs even if
    // the file changes in between. Never held whole in memory: a 10 TiB disk has 320 MiB of it.
    let sums_path = layout.sums(&vm.dir, &f.name);
    let altered = || tampered(format!("its chunk digest list {}.sums was altered", f.name));
    let sums_len = sums_list_len(&sums_path, &f.name, &tampered)?;
    let sums_file = || open_regular(&sums_path);
    if sums_len != f.chunks * DIGEST as u64
        || hex::encode(sha256_of(&mut sums_file()?).ctx("read", &sums_path)?)
            != f.chunk_digests_sha256
    {
        return Err(altered());
    }
    let mut hb = [0u8; crate::crypto::stream::HEADER_LEN];
    file.read_exact(&mut hb).ctx("read", &path)?;
    if hex::encode(hb) != f.header {
        return Err(tampered(
            "header (bytes 0..32) differs from the manifest".into(),
        ));
    }
    let header = f.parsed_header(&rel)?;
    let g = Geometry {
        plain_size: f.size,
        chunk_size: header.chunk_size() as u64,
    };
    progress.start(&rel, f.encrypted_size);
    let mut sums = std::io::BufReader::new(sums_file()?);
    let mut sums_hash = Sha256::new();
    let mut damaged = Damaged::default();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 8);
    crate::io::pipeline::run(
        0..g.chunks(),
        workers,
        g.chunk_size as usize + TAG_LEN,
        |i, buf| {
            buf.resize(g.plain_len(i) as usize + TAG_LEN, 0);
            file.read_exact(buf).ctx("read", &path)?;
            Ok(i + 1 == g.chunks())
        },
        |_, _, buf| Ok::<_, FormatError>(chunk_digest(buf)),
        |i, _, _, digest| {
            let mut listed = [0u8; DIGEST];
            sums.read_exact(&mut listed).ctx("read", &sums_path)?;
            sums_hash.update(listed);
            if listed != digest {
                damaged.add(i);
            }
            progress.set(g.chunk_offset(i + 1).min(g.encrypted_size()));
            Ok(())
        },
    )?;
    progress.finish();
    if hex::encode(sums_hash.finalize()) != f.chunk_digests_sha256 {
        return Err(altered());
    }
    match damaged.count {
        0 => Ok(()),
        _ => Err(tampered(damaged.describe(g))),
    }
}

/// Opens the encrypted file `path` (`rel` in errors), refusing it unless it is a regular file
/// of exactly `want` bytes.
fn open_with_length(path: &Path, rel: &str, want: u64) -> Result<File> {
    let tampered = |what: String| FormatError::Tampered {
        file: rel.to_owned(),
        what,
    };
    let file = match open_regular(path) {
        Ok(x) => x,
        Err(FormatError::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => {
            return Err(tampered("missing".into()))
        }
        Err(e) => return Err(e),
    };
    let len = file.metadata().ctx("stat", path)?.len();
    if len < want {
        return Err(FormatError::Truncated {
            file: rel.to_owned(),
            got: len,
            want,
        });
    }
    if len > want {
        return Err(tampered(format!(
            "{} bytes longer than the manifest says",
            len - want
        )));
    }
    Ok(file)
}

/// The length of the digest list of `name`, which must be a regular file; `tampered` words
/// a problem with it as tampering with the encrypted file it belongs to.
fn sums_list_len(
    sums_path: &Path,
    name: &str,
    tampered: &dyn Fn(String) -> FormatError,
) -> Result<u64> {
    match std::fs::metadata(sums_path) {
        Ok(m) if !m.is_file() => Err(tampered(format!(
            "its chunk digest list {name}.sums is not a regular file"
        ))),
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(tampered(format!(
            "its chunk digest list {name}.sums is missing"
        ))),
        Err(e) => Err(FormatError::io("stat", sums_path, e)),
    }
}

/// The chunks whose digest does not match: the first ones named, the rest only counted, so
/// memory stays flat however much of a huge disk is damaged.
#[derive(Default)]
struct Damaged {
    first: Vec<u64>,
    count: u64,
}

impl Damaged {
    fn add(&mut self, chunk: u64) {
        self.count += 1;
        if self.first.len() < MAX_BAD_CHUNKS_LISTED {
            self.first.push(chunk);
        }
    }

    /// `3 damaged chunks: 0 (bytes 32..65584), … and 1 more`.
    fn describe(&self, g: Geometry) -> String {
        let listed: Vec<String> = self
            .first
            .iter()
            .map(|&i| {
                format!(
                    "{i} (bytes {}..{})",
                    g.chunk_offset(i),
                    g.chunk_offset(i) + g.plain_len(i) + TAG_LEN as u64
                )
            })
            .collect();
        let more = self.count - self.first.len() as u64;
        format!(
            "{} damaged chunk{}: {}{}",
            self.count,
            if self.count == 1 { "" } else { "s" },
            listed.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        )
    }
}

/// Decrypts every file of `vm` and checks it against the package's own `.mf`.
fn check_vm_deep(
    layout: &Layout,
    m: &JobManifest,
    key: &crate::crypto::keys::DataKey,
    vm: &VmEntry,
    progress: &dyn Progress,
) -> Result<()> {
    let mf = Mf::parse(&decrypt_small(layout, m, key, vm, &vm.mf, MAX_SMALL_FILE)?)?;
    let descriptor = decrypt_small(layout, m, key, vm, &vm.descriptor, MAX_SMALL_FILE)?;
    let env = parse_descriptor(&descriptor)?;
    for r in &env.files {
        if vm.file(&r.href).is_none() {
            return Err(FormatError::malformed(
                &r.href,
                "is referenced by the OVF descriptor but not in the bundle",
            ));
        }
    }
    for f in vm.files.iter().filter(|f| f.name != vm.mf) {
        let entry = mf.get(&f.name).ok_or_else(|| {
            FormatError::malformed(
                format!("{}/{}", vm.dir, f.name),
                format!("has no digest in {}", vm.mf),
            )
        })?;
        let mut h = entry.alg.hasher();
        let rel = Layout::rel_encrypted(&vm.dir, &f.name);
        progress.start(&format!("{rel} (decrypt)"), f.size);
        let mut r = DecryptReader::open(layout, m, key, vm, f)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut done = 0u64;
        loop {
            let n = r.read(&mut buf).map_err(unwrap_io)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            done += n as u64;
            progress.set(done);
        }
        progress.finish();
        if h.finalize() != entry.digest {
            return Err(FormatError::Tampered {
                file: rel,
                what: format!(
                    "decrypts, but its {} differs from {}: the source package was inconsistent",
                    entry.alg.name(),
                    vm.mf
                ),
            });
        }
    }
    Ok(())
}

/// SHA-256 of everything `r` yields, read in 64 KiB pieces.
pub(crate) fn sha256_of(r: &mut impl Read) -> std::io::Result<[u8; 32]> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(h.finalize().into()),
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
