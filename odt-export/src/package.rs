//! Exporting an opened package (`source::Source`): each file is read once, hashed for the
//! `.mf` while it is sealed, and checked against the package's own `.mf`.
//!
//! On a rerun, a file whose source no longer continues what was sealed is exported again from
//! the start under a fresh key; a finished descriptor or `.mf` that changed is refused
//! (docs/FORMAT.md §9.1). A file whose digest does not match the `.mf` stops the run, and a
//! fresh job is removed.

use std::path::Path;

use anyhow::{bail, Context, Result};
use odt_format::crypto::stream::{
    Geometry, CHUNK_DIGEST_LEN, DEFAULT_CHUNK_LOG2, HEADER_LEN, TAG_LEN,
};
use odt_format::io::nasfile::{encrypt_file, recover, Partial, Plaintext};
use odt_format::job::journal::Journal;
use odt_format::job::layout::{stream_name, Layout};
use odt_format::job::manifest::{FileEntry, Target, VmEntry};
use odt_format::job::writer::ActiveJob;
use odt_format::ovf::{DigestAlg, Mf, MfEntry};
use odt_format::progress::VmWork;
use odt_format::FormatError;
use rand::rngs::OsRng;

use crate::input::{summary, Ctx, Input};
use crate::source::{Origin, PackageFile, Source};

impl Input for Source {
    fn identity(&self) -> serde_json::Value {
        let abs = std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        serde_json::json!([abs, self.kind, self.fingerprint])
    }

    fn source_name(&self) -> String {
        Source::source_name(self)
    }

    fn same_as(&self, vm: &VmEntry) -> bool {
        self.files
            .iter()
            .filter(|f| !(self.mf_generated && f.name == self.mf_name))
            .all(|f| vm.file(&f.name).is_some_and(|e| e.size == f.size))
    }

    fn space_needed(&self, layout: &Layout, dir: &str, resume: Option<&Journal>) -> u64 {
        self.files_space_needed(layout, dir, resume, |_| true)
    }

    fn space_needed_on(&self, layout: &Layout, dir: &str, resume: &Journal, unit: u32) -> u64 {
        let on_unit =
            |name: &str| resume.units.as_ref().map_or(1, |u| u.unit_of(dir, name)) == unit;
        self.files_space_needed(layout, dir, Some(resume), on_unit)
    }

    fn work(&self, job: &ActiveJob, dir: &str, journal: &Journal) -> VmWork {
        let mut w = VmWork {
            finished: true,
            ..VmWork::default()
        };
        for f in &self.files {
            match journal.done.get(&stream_name(dir, &f.name)) {
                Some(e) => {
                    w.bytes += e.size;
                    w.done += e.size;
                }
                None => {
                    w.finished = false;
                    w.bytes += f.size;
                    let layout = job.layout_of(dir, &f.name);
                    w.done += checkpointed(layout, dir, &f.name, f.size, journal.chunk_log2);
                }
            }
        }
        w
    }

    fn file_needs(&self) -> Option<Vec<(String, u64)>> {
        let need = |f: &PackageFile| {
            let size = match self.mf_generated && f.name == self.mf_name {
                true => 200 * self.files.len() as u64,
                false => f.size,
            };
            let g = Geometry {
                plain_size: size,
                chunk_size: 1 << DEFAULT_CHUNK_LOG2,
            };
            g.encrypted_size() + g.chunks() * 32
        };
        Some(
            self.files
                .iter()
                .map(|f| (f.name.clone(), need(f)))
                .collect(),
        )
    }

    fn export(&self, cx: &mut Ctx<'_>, target: &Target, dir: String) -> Result<(VmEntry, u64)> {
        let name = self.envelope.display_name().to_owned();
        let mut bytes = 0;
        let mut entries: Vec<FileEntry> = vec![];
        let mut mf_lines: Vec<MfEntry> = vec![];
        for mut file in self.export_order() {
            let stream = stream_name(&dir, &file.name);
            if self.mf_generated && file.name == self.mf_name {
                let bytes = Mf {
                    entries: std::mem::take(&mut mf_lines),
                }
                .to_bytes();
                file.size = bytes.len() as u64;
                file.origin = Origin::Generated(bytes);
            }
            // A file a previous run finished stays as it was sealed. This run proves it is
            // still what was sealed when it relies on its bytes: the descriptor and the
            // source's `.mf` (small; every other file is checked against them), and a file
            // whose digest a generated `.mf` needs (read again anyway, to digest it). The rest
            // needs no re-read: it was checked against the same, proven `.mf` when it was
            // sealed.
            let done = cx.job.finished(&stream);
            let checks_others =
                file.name == self.descriptor || (!self.mf_generated && file.name == self.mf_name);
            let digested = self.mf_generated && file.name != self.mf_name;
            if let Some(d) = &done {
                if !(checks_others || digested) {
                    entries.push(d.clone());
                    continue;
                }
            }
            let sealed = Sealing {
                vm: &name,
                dir: &dir,
                stream: &stream,
                file: &file,
                checks_others,
            }
            .seal(cx, done)?;
            self.check_digest(cx, &file, &sealed.digest)?;
            if digested {
                mf_lines.push(MfEntry {
                    alg: sealed.alg,
                    file: file.name.clone(),
                    digest: sealed.digest,
                });
            }
            if !sealed.was_done {
                bytes += file.size;
                cx.done(stream, &sealed.entry)?;
            }
            entries.push(sealed.entry);
        }
        // Manifest order: the package's own order (descriptor, .mf, References).
        entries.sort_by_key(|e| self.files.iter().position(|f| f.name == e.name));
        let vm = VmEntry {
            name,
            dir,
            source_kind: self.kind.to_owned(),
            source_name: Source::source_name(self),
            descriptor: self.descriptor.clone(),
            mf: self.mf_name.clone(),
            target: target.clone(),
            summary: summary(&self.envelope, target),
            files: entries,
        };
        Ok((vm, bytes))
    }
}

impl Source {
    /// Bytes still to write into `dir` for the files `wanted` names (by file name): each
    /// file's encrypted size and digest list, less what a resumed job's partial files hold.
    fn files_space_needed(
        &self,
        layout: &Layout,
        dir: &str,
        resume: Option<&Journal>,
        wanted: impl Fn(&str) -> bool,
    ) -> u64 {
        let chunk = 1u64 << resume.map_or(DEFAULT_CHUNK_LOG2, |j| j.chunk_log2);
        let mut need = 0;
        for f in self.files.iter().filter(|f| wanted(&f.name)) {
            if resume.is_some_and(|j| j.done.contains_key(&stream_name(dir, &f.name))) {
                continue;
            }
            let size = if self.mf_generated && f.name == self.mf_name {
                200 * self.files.len() as u64
            } else {
                f.size
            };
            let g = Geometry {
                plain_size: size,
                chunk_size: chunk,
            };
            // Only a resumed job keeps what an earlier run wrote; a fresh one has no data/
            // (or discards it first).
            let have = match resume {
                Some(_) => {
                    file_len(&layout.encrypted(dir, &f.name)) + file_len(&layout.sums(dir, &f.name))
                }
                None => 0,
            };
            need += (g.encrypted_size() + g.chunks() * 32).saturating_sub(have);
        }
        need
    }

    /// The files in the order they are sealed: the package's, except that a generated `.mf`
    /// is written last, once every digest is known.
    fn export_order(&self) -> Vec<PackageFile> {
        let mut files = self.files.clone();
        if self.mf_generated {
            let pos = files
                .iter()
                .position(|f| f.name == self.mf_name)
                .expect("listed");
            let mf = files.remove(pos);
            files.push(mf);
        }
        files
    }

    /// Refuses a file whose digest is not the one the package's `.mf` gives it.
    fn check_digest(&self, cx: &Ctx<'_>, file: &PackageFile, digest: &[u8]) -> Result<()> {
        let Some(exp) = &file.expected else {
            return Ok(());
        };
        if exp.digest == digest {
            return Ok(());
        }
        let msg = format!(
            "{}: its {} digest does not match {} (expected {}, read {}): the source package is \
             corrupt or was altered; it was refused",
            file.display_path().display(),
            exp.alg.name(),
            self.mf_name,
            hex::encode(&exp.digest),
            hex::encode(digest)
        );
        cx.refuse();
        bail!(msg);
    }
}

/// One file of a package being sealed into `dir`.
struct Sealing<'a> {
    vm: &'a str,
    dir: &'a str,
    stream: &'a str,
    file: &'a PackageFile,
    /// The descriptor or the source's `.mf`: the package every other file is checked against.
    checks_others: bool,
}

/// A file sealed: its manifest entry, its plaintext digest, and whether an earlier run had
/// finished it (then this run only proved it unchanged).
struct Sealed {
    entry: FileEntry,
    alg: DigestAlg,
    digest: Vec<u8>,
    was_done: bool,
}

impl Sealing<'_> {
    /// Seals the file, continuing what an earlier run began (`done` if it finished it).
    fn seal(&self, cx: &mut Ctx<'_>, done: Option<FileEntry>) -> Result<Sealed> {
        let (file, stream, progress) = (self.file, self.stream, cx.progress);
        let spec = cx.spec(self.dir, &file.name, file.size);
        let mut partial = match &done {
            Some(d) => Some(Partial::finished(d, stream)?),
            None => recover(&spec).with_context(|| format!("resume {stream}"))?,
        };
        let mut was_done = done.is_some();
        let alg = file.expected.as_ref().map_or(DigestAlg::Sha256, |e| e.alg);
        loop {
            let resuming = partial.is_some();
            if let (Some(p), false) = (&partial, was_done) {
                progress.note(&format!("{stream}: resuming after chunk {}", p.chunks_done));
            }
            let mut hasher = alg.hasher();
            // Ctrl-C stops the file at its next read, as a read error would: what was
            // checkpointed stays for the rerun (docs/FORMAT.md §9).
            let mut reader = odt_cli::interrupt::Stoppable(file.open()?);
            progress.start(&format!("{}: {}", self.vm, file.name), file.size);
            if let Some(p) = &partial {
                // Re-read and proven, not sealed again: counted as an earlier run's.
                let chunk = p.header.chunk_size() as u64;
                progress.resumed(p.chunks_done.saturating_mul(chunk).min(file.size));
            }
            let sealed = encrypt_file(
                &spec,
                cx.job.key(),
                partial.take(),
                Plaintext {
                    reader: &mut reader,
                    path: &file.display_path(),
                    hash: &mut |b| hasher.update(b),
                },
                &|d| progress.set(d),
                cx.write,
                &mut OsRng,
            );
            progress.finish();
            match sealed {
                Ok(entry) => {
                    let digest = hasher.finalize();
                    return Ok(Sealed {
                        entry,
                        alg,
                        digest,
                        was_done,
                    });
                }
                // The source does not continue what was sealed: nothing more was written under
                // that key. Start the file again under a fresh one (`partial` is None now),
                // unless the package the whole job was checked against changed.
                Err(FormatError::Diverged { chunk, .. }) if resuming => {
                    progress.discard();
                    self.diverged(cx, chunk, was_done)?;
                    was_done = false;
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!(
                            "exporting {} of VM {:?} to {}",
                            file.name,
                            self.vm,
                            // The unit it goes to, for a job over several.
                            cx.job.layout_of(self.dir, &file.name).root().display()
                        )
                    });
                }
            }
        }
    }

    /// The source changed at `chunk` since an earlier run sealed it: refuses a finished file
    /// the package is checked against, else forgets the file so it is sealed again.
    fn diverged(&self, cx: &mut Ctx<'_>, chunk: u64, was_done: bool) -> Result<()> {
        if was_done && self.checks_others {
            bail!(
                "{}: it changed since the interrupted export sealed it (chunk {chunk} \
                 differs): the package is not the one this job began with. Put the \
                 original back and rerun, or rerun with --restart to export the \
                 package as it is now",
                self.file.display_path().display()
            );
        }
        cx.progress.note(&format!(
            "{}: the source changed since the interrupted run sealed it (chunk \
             {chunk} differs): exporting it again from the start under a fresh key",
            self.stream
        ));
        if was_done {
            cx.job.undone(self.stream)?;
        }
        Ok(())
    }
}

/// The plaintext bytes of a partial file that `recover` keeps (the chunks both its data and
/// its `.sums` hold), without touching it: what the overall progress counts as done before.
fn checkpointed(layout: &Layout, dir: &str, name: &str, size: u64, chunk_log2: u8) -> u64 {
    let g = Geometry {
        plain_size: size,
        chunk_size: 1u64 << chunk_log2,
    };
    let enc = file_len(&layout.encrypted(dir, name));
    let in_enc = match enc >= g.encrypted_size() {
        true => g.chunks(),
        false => enc.saturating_sub(HEADER_LEN as u64) / (g.chunk_size + TAG_LEN as u64),
    };
    let listed = file_len(&layout.sums(dir, name)) / CHUNK_DIGEST_LEN as u64;
    let k = listed.min(in_enc).min(g.chunks());
    k.saturating_mul(g.chunk_size).min(size)
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}
