//! Writing one encrypted file onto the NAS so that a crash, a full disk or a cut cable at any
//! moment leaves something a rerun can resume, and nothing that verifies.
//!
//! Ordering rule (the resume invariant): chunk data is `fsync`ed *before* the digests of those
//! chunks are appended to the `.sums` file, and the `.sums` file is `fsync`ed after. So every
//! digest on disk describes durable ciphertext, and on restart the number of complete digests
//! says how many chunks are good. Anything after that point is cut off and redone.
//!
//! Resuming never seals two plaintexts under one key and nonce (docs/FORMAT.md §9), whatever
//! happened to the source between the runs:
//! - a stream with no checkpointed chunk is started afresh, with a fresh header (salt, hence
//!   key), whatever the earlier run wrote after its header;
//! - the checkpointed prefix is proven to continue the same source: the rerun re-reads it (it
//!   does anyway, for the `.mf` digest), seals each chunk again in memory and compares its
//!   digest with the one in `.sums`. One key and nonce map plaintexts to ciphertexts one to
//!   one, so equal digests mean equal plaintexts;
//! - the chunks the earlier run wrote after its last checkpoint (cut off by [`recover`], which
//!   keeps their digests, and those of the bytes of a torn chunk) must come out of the rerun's
//!   sealing byte for byte the same before they are written again;
//! - at the first difference nothing more is written under the old key: [`encrypt_file`] fails
//!   with [`FormatError::Diverged`], and the caller starts the stream again with a fresh header
//!   (or refuses).
//!
//! A fresh stream pays nothing for this: the proof is made only of a rerun's re-read.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::crypto::keys::DataKey;
use crate::crypto::stream::{
    chunk_digest, FileHeader, Geometry, StreamKey, CHUNK_DIGEST_LEN as DIGEST, HEADER_LEN, TAG_LEN,
};
use crate::error::{FormatError, IoContext, Result};
use crate::job::layout::Layout;
use crate::job::manifest::FileEntry;

/// What to write.
#[derive(Clone, Debug)]
pub struct StreamSpec {
    /// The job directory.
    pub layout: Layout,
    /// `vm-NNN`.
    pub dir: String,
    /// The file's package name.
    pub name: String,
    /// The job id.
    pub job_id: [u8; 16],
    /// Plaintext size.
    pub plain_size: u64,
    /// log2 of the chunk size for a fresh stream.
    pub chunk_log2: u8,
}

impl StreamSpec {
    fn enc(&self) -> PathBuf {
        self.layout.encrypted(&self.dir, &self.name)
    }
    fn sums(&self) -> PathBuf {
        self.layout.sums(&self.dir, &self.name)
    }
    /// `vm-NNN/NAME`.
    pub fn stream_name(&self) -> String {
        format!("{}/{}", self.dir, self.name)
    }
}

/// The durable state of a stream a previous run began.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partial {
    /// Its header (hence its key).
    pub header: FileHeader,
    /// Chunks known good (checkpointed): at least one, or the stream starts afresh.
    pub chunks_done: u64,
    /// What the earlier run wrote after its last checkpoint, which [`recover`] cut off.
    pub cut_off: CutOff,
}

impl Partial {
    /// A stream a previous run finished, as its journal entry records it: resuming it re-reads
    /// the whole source and proves it is still what was sealed (nothing is written).
    pub fn finished(entry: &FileEntry, stream: &str) -> Result<Partial> {
        let bad = || FormatError::malformed(stream, "the journal's header is not 32 hex bytes");
        let bytes = hex::decode(&entry.header).map_err(|_| bad())?;
        Ok(Partial {
            header: FileHeader::parse(&bytes, stream)?,
            chunks_done: entry.chunks,
            cut_off: CutOff::default(),
        })
    }
}

/// The chunks an earlier run wrote after its last checkpoint, as digests. They were sealed under
/// the stream's key, so a rerun that keeps the key must seal exactly the same bytes at their
/// indices again (or start afresh).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CutOff {
    /// [`chunk_digest`] of each whole sealed chunk, from chunk `chunks_done` on.
    pub whole: Vec<[u8; DIGEST]>,
    /// The length and [`chunk_digest`] of the bytes of the torn chunk after those, if any.
    pub torn: Option<(usize, [u8; DIGEST])>,
}

/// More chunks than this after the last checkpoint are not the lead of one interrupted writer
/// (a few checkpoints' worth) but a damaged `.sums`: the stream starts afresh rather than keep
/// that many digests in memory (2 MiB of them).
const MAX_CUT_OFF: usize = 1 << 16;

/// Tuning for [`encrypt_file`].
#[derive(Clone, Copy, Debug)]
pub struct WriteOptions {
    /// Worker threads sealing chunks.
    pub workers: usize,
    /// Bytes between durability checkpoints.
    pub checkpoint_bytes: u64,
}

impl Default for WriteOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        WriteOptions {
            // One core is left to the reading thread (which also feeds the source's `.mf`
            // hash, a sequential SHA-256 and the longest single task) and the writing thread.
            // Measured on 2 cores, 2 GiB, median of 5: one sealing worker 2.35 s, two 2.59 s
            // (the extra worker only competes with the reader for the same two cores).
            workers: cores.saturating_sub(1).clamp(1, 8),
            checkpoint_bytes: 256 << 20,
        }
    }
}

/// Inspects what a previous attempt left of this stream and cuts both files back to their
/// last durable checkpoint, keeping the digests of what it cuts off (see [`CutOff`]). `None`
/// means start from scratch under a fresh header (any leftovers are removed). That is also
/// the answer for a stream with no checkpointed chunk: with nothing to keep, it never keeps
/// its old key either.
pub fn recover(spec: &StreamSpec) -> Result<Option<Partial>> {
    let (enc, sums) = (spec.enc(), spec.sums());
    let remove_both = || -> Result<Option<Partial>> {
        for p in [&enc, &sums] {
            match std::fs::remove_file(p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(FormatError::io("remove", p, e))
                }
                _ => {}
            }
        }
        Ok(None)
    };
    let mut f = match OpenOptions::new().read(true).write(true).open(&enc) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return remove_both(),
        Err(e) => return Err(FormatError::io("open", &enc, e)),
    };
    let mut hb = [0u8; HEADER_LEN];
    let header = match f.read_exact(&mut hb) {
        Ok(()) => FileHeader::parse(&hb, &spec.stream_name()).ok(),
        Err(_) => None,
    };
    let Some(header) = header.filter(|h| h.chunk_log2 == spec.chunk_log2) else {
        drop(f);
        return remove_both();
    };
    let g = Geometry {
        plain_size: spec.plain_size,
        chunk_size: header.chunk_size() as u64,
    };
    let enc_len = f.metadata().ctx("stat", &enc)?.len();
    let sums_len = match std::fs::metadata(&sums) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(FormatError::io("stat", &sums, e)),
    };
    let in_enc = if enc_len >= g.encrypted_size() {
        g.chunks()
    } else {
        (enc_len - HEADER_LEN as u64) / (g.chunk_size + TAG_LEN as u64)
    };
    let k = (sums_len / DIGEST as u64).min(g.chunks()).min(in_enc);
    if k == 0 {
        drop(f);
        return remove_both();
    }
    let Some(cut_off) = read_cut_off(&mut f, &enc, g, k, enc_len)? else {
        drop(f);
        return remove_both();
    };
    let enc_end = if k == g.chunks() {
        g.encrypted_size()
    } else {
        g.chunk_offset(k)
    };
    f.set_len(enc_end).ctx("truncate", &enc)?;
    f.sync_all().ctx("sync", &enc)?;
    let s = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&sums)
        .ctx("open", &sums)?;
    s.set_len(k * DIGEST as u64).ctx("truncate", &sums)?;
    s.sync_all().ctx("sync", &sums)?;
    Ok(Some(Partial {
        header,
        chunks_done: k,
        cut_off,
    }))
}

/// Digests of the chunks in `f` from chunk `k` to its end (`enc_len`): whole ones, then the
/// bytes of a torn one. `None` when there are more than [`MAX_CUT_OFF`].
fn read_cut_off(
    f: &mut File,
    path: &Path,
    g: Geometry,
    k: u64,
    enc_len: u64,
) -> Result<Option<CutOff>> {
    let end = enc_len.min(g.encrypted_size());
    let mut cut = CutOff::default();
    let mut buf = vec![0u8; g.chunk_size as usize + TAG_LEN];
    f.seek(SeekFrom::Start(g.chunk_offset(k)))
        .ctx("seek", path)?;
    for j in k..g.chunks() {
        let at = g.chunk_offset(j);
        if at >= end {
            break;
        }
        let sealed = g.plain_len(j) as usize + TAG_LEN;
        let n = (end - at).min(sealed as u64) as usize;
        f.read_exact(&mut buf[..n]).ctx("read", path)?;
        if n < sealed {
            cut.torn = Some((n, chunk_digest(&buf[..n])));
            break;
        }
        if cut.whole.len() == MAX_CUT_OFF {
            return Ok(None);
        }
        cut.whole.push(chunk_digest(&buf[..n]));
    }
    Ok(Some(cut))
}

/// The plaintext of one stream: where its bytes come from, the path that names it in errors,
/// and the hasher that must see every byte of it in order (the caller's `.mf` digest).
pub struct Plaintext<'a> {
    /// The plaintext, read from its start.
    pub reader: &'a mut (dyn Read + Send),
    /// Its path, for errors.
    pub path: &'a Path,
    /// Sees every plaintext byte once, in order.
    pub hash: &'a mut (dyn FnMut(&[u8]) + Send),
}

/// A stream open for writing: what it is, its header and key, and its two files, positioned
/// at their ends.
struct OpenStream<'a> {
    spec: &'a StreamSpec,
    header: FileHeader,
    key: StreamKey,
    enc_path: PathBuf,
    sums_path: PathBuf,
    enc: File,
    sums: File,
}

impl<'a> OpenStream<'a> {
    /// A fresh stream: new header (fresh salt, hence a fresh key), made durable.
    fn fresh(
        spec: &'a StreamSpec,
        key: &DataKey,
        rng: &mut (impl rand::RngCore + rand::CryptoRng),
    ) -> Result<Self> {
        let (header, enc, sums) = start_fresh(spec, rng)?;
        Ok(OpenStream::new(spec, key, header, enc, sums))
    }

    /// The stream an earlier run began with `header`: its files reopened for appending.
    fn reopen(spec: &'a StreamSpec, key: &DataKey, header: FileHeader) -> Result<Self> {
        let (enc_path, sums_path) = (spec.enc(), spec.sums());
        let mut enc = OpenOptions::new()
            .write(true)
            .open(&enc_path)
            .ctx("open", &enc_path)?;
        enc.seek(SeekFrom::End(0)).ctx("seek", &enc_path)?;
        let sums = OpenOptions::new()
            .append(true)
            .open(&sums_path)
            .ctx("open", &sums_path)?;
        Ok(OpenStream::new(spec, key, header, enc, sums))
    }

    fn new(spec: &'a StreamSpec, key: &DataKey, header: FileHeader, enc: File, sums: File) -> Self {
        OpenStream {
            spec,
            key: StreamKey::new(key, &spec.job_id, &spec.stream_name(), &header),
            header,
            enc_path: spec.enc(),
            sums_path: spec.sums(),
            enc,
            sums,
        }
    }
}

/// Where sealing starts: the first chunk to seal, and what an earlier run wrote from there on
/// (which must come out of this run's sealing the same).
#[derive(Default)]
struct Resume {
    start: u64,
    cut_off: CutOff,
}

/// Encrypts `source` (read from its start) into the stream described by `spec`, resuming after
/// `partial` when given. `source.hash` sees every plaintext byte in order (the prefix a
/// previous run already sealed is read and hashed again, and proven to be what was sealed,
/// never written again). `progress` gets plaintext bytes done so far. Returns the finished
/// file's manifest entry.
///
/// [`FormatError::Diverged`]: the source does not continue what `partial` sealed. Nothing was
/// written under the old key, and the hasher has seen part of the source: start again with a
/// fresh hasher, the source reopened and `partial = None` (a fresh header), or refuse.
pub fn encrypt_file(
    spec: &StreamSpec,
    key: &DataKey,
    partial: Option<Partial>,
    mut source: Plaintext<'_>,
    progress: &(dyn Fn(u64) + Sync),
    opts: WriteOptions,
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
) -> Result<FileEntry> {
    // A partial stream's files exist already; `fresh` makes the folder of a new one.
    let (mut stream, resume) = match partial {
        Some(p) => (
            OpenStream::reopen(spec, key, p.header)?,
            Resume {
                start: p.chunks_done,
                cut_off: p.cut_off,
            },
        ),
        None => (OpenStream::fresh(spec, key, rng)?, Resume::default()),
    };
    let g = Geometry {
        plain_size: spec.plain_size,
        chunk_size: stream.header.chunk_size() as u64,
    };

    // Re-read (and hash) the prefix a previous run sealed, proving it unchanged.
    // A complete stream's last chunk may be short: never re-read past the end.
    let start = resume.start.min(g.chunks());
    let prefix = (start * g.chunk_size).min(spec.plain_size);
    if start > 0 {
        prove_prefix(&stream, g, start, &mut source, progress, opts)?;
    }

    // A stream a previous run completed has nothing left to seal.
    let sealed = if start >= g.chunks() {
        0
    } else {
        let src = &mut source;
        seal_chunks(
            &mut stream,
            g.chunk_size as usize,
            &Resume { start, ..resume },
            opts,
            |i, buf| {
                let n = g.plain_len(i) as usize;
                buf.resize(n, 0);
                read_exact_or_short(src.reader, buf, src.path, spec.plain_size)?;
                (src.hash)(buf);
                Ok(i + 1 == g.chunks())
            },
            &|d| progress(prefix + d),
        )?
    };
    debug_assert_eq!(prefix + sealed, spec.plain_size);
    let mut extra = [0u8; 1];
    if source.reader.read(&mut extra).ctx("read", source.path)? != 0 {
        return Err(FormatError::malformed(
            source.path.display().to_string(),
            format!(
                "is longer than the {} bytes it had when the export began (changed while reading?)",
                spec.plain_size
            ),
        ));
    }
    let header = stream.header;
    drop(stream);
    finish_entry(spec, &header, spec.plain_size)
}

/// Encrypts a source whose length is only known at its end (a disk streamed from a vCenter
/// export lease) into a fresh stream. The last chunk is recognised by reading one byte ahead.
/// Such a stream cannot resume mid-way (the server cannot restart a download in the middle),
/// so any leftovers of an earlier attempt are replaced. `spec.plain_size` is ignored.
pub fn encrypt_unsized(
    spec: &StreamSpec,
    key: &DataKey,
    source: Plaintext<'_>,
    progress: &(dyn Fn(u64) + Sync),
    opts: WriteOptions,
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
) -> Result<FileEntry> {
    let mut stream = OpenStream::fresh(spec, key, rng)?;
    let chunk = stream.header.chunk_size();
    let Plaintext { reader, path, hash } = source;
    // One byte read ahead of the current chunk tells whether it is the last one.
    let mut ahead: Option<u8> = None;
    let total = seal_chunks(
        &mut stream,
        chunk,
        &Resume::default(),
        opts,
        |_, buf| {
            buf.resize(chunk, 0);
            let mut got = 0;
            if let Some(b) = ahead.take() {
                buf[0] = b;
                got = 1;
            }
            while got < chunk {
                match reader.read(&mut buf[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(FormatError::io("read", path, e)),
                }
            }
            buf.truncate(got);
            hash(buf);
            if got < chunk {
                return Ok(true);
            }
            let mut one = [0u8; 1];
            loop {
                match reader.read(&mut one) {
                    Ok(0) => return Ok(true),
                    Ok(_) => {
                        ahead = Some(one[0]);
                        return Ok(false);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(FormatError::io("read", path, e)),
                }
            }
        },
        progress,
    )?;
    let header = stream.header;
    drop(stream);
    finish_entry(spec, &header, total)
}

/// Creates the stream's files afresh: a new header (fresh salt, hence a fresh key) made
/// durable, and an empty digest list.
fn start_fresh(
    spec: &StreamSpec,
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
) -> Result<(FileHeader, File, File)> {
    let (enc_path, sums_path) = (spec.enc(), spec.sums());
    let vm_dir = spec.layout.vm_dir(&spec.dir);
    std::fs::create_dir_all(&vm_dir).ctx("create directory", &vm_dir)?;
    let header = FileHeader::new(spec.chunk_log2, rng);
    let mut enc = create_new(&enc_path)?;
    enc.write_all(&header.to_bytes()).ctx("write", &enc_path)?;
    let sums = create_new(&sums_path)?;
    enc.sync_all().ctx("sync", &enc_path)?;
    sync_dir(&vm_dir)?;
    Ok((header, enc, sums))
}

/// Re-reads the first `chunks` chunks of `source` (each fed to `hash`), seals each again under
/// the stream's key and nonce and compares its digest with the one `.sums` lists. Equal
/// digests mean equal ciphertexts, hence equal plaintexts. The chunks sealed here are only
/// compared, never written. Runs on the chunk pipeline: the re-read (and its `.mf` hash) stays
/// the critical path, as on a fresh write.
fn prove_prefix(
    stream: &OpenStream<'_>,
    g: Geometry,
    chunks: u64,
    source: &mut Plaintext<'_>,
    progress: &(dyn Fn(u64) + Sync),
    opts: WriteOptions,
) -> Result<()> {
    let (spec, sums_path) = (stream.spec, &stream.sums_path);
    let mut listed = std::io::BufReader::new(File::open(sums_path).ctx("open", sums_path)?);
    let last = |i: u64| i + 1 == g.chunks();
    let mut done = 0u64;
    crate::io::pipeline::run(
        0..chunks,
        opts.workers,
        g.chunk_size as usize + TAG_LEN,
        |i, buf| {
            buf.resize(g.plain_len(i) as usize, 0);
            read_exact_or_short(source.reader, buf, source.path, spec.plain_size)?;
            (source.hash)(buf);
            Ok(last(i))
        },
        // The pipeline marks the end of the range as last; the nonce needs the stream's own.
        |i, _, buf| {
            stream.key.seal(i, last(i), buf);
            Ok::<_, FormatError>(chunk_digest(buf))
        },
        |i, _, buf, digest| {
            let mut want = [0u8; DIGEST];
            match listed.read_exact(&mut want) {
                Ok(()) if want == digest => {}
                // A shorter list than `recover` or the journal said: the NAS copy changed.
                Ok(()) => return Err(diverged(spec, i)),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Err(diverged(spec, i))
                }
                Err(e) => return Err(FormatError::io("read", sums_path, e)),
            }
            done += (buf.len() - TAG_LEN) as u64;
            progress(done);
            Ok(())
        },
    )
}

fn diverged(spec: &StreamSpec, chunk: u64) -> FormatError {
    FormatError::Diverged {
        file: spec.stream_name(),
        chunk,
    }
}

/// Seals chunks from `resume.start` on, as `produce` supplies them, appending them to the
/// stream's file and their digests to its `.sums` with durable checkpoints. Returns the
/// plaintext bytes sealed. The chunks in `resume.cut_off` (an earlier run's, from `start` on)
/// must come out the same, or nothing more is written ([`FormatError::Diverged`]).
fn seal_chunks(
    stream: &mut OpenStream<'_>,
    chunk_size: usize,
    resume: &Resume,
    opts: WriteOptions,
    produce: impl FnMut(u64, &mut Vec<u8>) -> Result<bool> + Send,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<u64> {
    let OpenStream {
        spec,
        key: stream_key,
        enc_path,
        sums_path,
        enc,
        sums,
        ..
    } = stream;
    let (spec, enc_path, sums_path) = (*spec, &*enc_path, &*sums_path);
    let (start, cut_off) = (resume.start, &resume.cut_off);
    let enc_for_sync = enc.try_clone().ctx("open", enc_path)?;
    let mut pending: Vec<u8> = Vec::with_capacity(4096);
    let mut since_checkpoint = 0u64;
    let mut done = 0u64;
    // Checkpoints run on their own thread so that flushing one stretch of the file to the
    // device overlaps with sealing and writing the next; the resume invariant holds because
    // the digests of a batch are appended only after the fsync that covers its chunks.
    let (ck_tx, ck_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
    std::thread::scope(|s| -> Result<()> {
        let checkpointer = s.spawn(|| -> Result<()> {
            for digests in ck_rx {
                enc_for_sync.sync_data().ctx("sync", enc_path)?;
                sums.write_all(&digests).ctx("write", sums_path)?;
                sums.sync_data().ctx("sync", sums_path)?;
            }
            Ok(())
        });
        // When the checkpointer has failed, its send fails: its own error is the one to report.
        let stopped = || FormatError::malformed(spec.stream_name(), "checkpoint thread stopped");
        let written = crate::io::pipeline::run(
            start..u64::MAX,
            opts.workers,
            chunk_size + TAG_LEN,
            produce,
            |i, last, buf| {
                stream_key.seal(i, last, buf);
                Ok::<_, FormatError>(chunk_digest(buf))
            },
            |i, _, buf, digest| {
                // Before writing: under this key and nonce an earlier run may have written
                // other bytes, which would be two plaintexts under one nonce.
                if !cut_off.allows((i - start) as usize, buf, &digest) {
                    return Err(diverged(spec, i));
                }
                enc.write_all(buf).ctx("write", enc_path)?;
                pending.extend_from_slice(&digest);
                since_checkpoint += buf.len() as u64;
                done += (buf.len() - TAG_LEN) as u64;
                if since_checkpoint >= opts.checkpoint_bytes {
                    ck_tx
                        .send(std::mem::take(&mut pending))
                        .map_err(|_| stopped())?;
                    since_checkpoint = 0;
                }
                progress(done);
                Ok(())
            },
        )
        .and_then(|()| {
            ck_tx
                .send(std::mem::take(&mut pending))
                .map_err(|_| stopped())
        });
        drop(ck_tx);
        let synced = checkpointer.join().expect("checkpointer does not panic");
        // A real I/O error from the checkpointer explains a "stopped" from the writer.
        synced.and(written)
    })?;
    Ok(done)
}

impl CutOff {
    /// Whether sealing `sealed` (digest `digest`) as the `j`-th chunk after the resume point
    /// writes what an earlier run wrote there, if it wrote anything: a whole chunk must have
    /// the same digest, a torn one the same leading bytes.
    fn allows(&self, j: usize, sealed: &[u8], digest: &[u8; DIGEST]) -> bool {
        match self.whole.get(j) {
            Some(want) => want == digest,
            None => match self.torn {
                Some((n, want)) if j == self.whole.len() => {
                    n <= sealed.len() && chunk_digest(&sealed[..n]) == want
                }
                _ => true,
            },
        }
    }
}

/// Checks what is on disk against the geometry of `plain_size` bytes and builds the entry.
fn finish_entry(spec: &StreamSpec, header: &FileHeader, plain_size: u64) -> Result<FileEntry> {
    let (enc_path, sums_path) = (spec.enc(), spec.sums());
    let g = Geometry {
        plain_size,
        chunk_size: header.chunk_size() as u64,
    };
    // Streamed, not read whole: a 10 TiB disk has 320 MiB of digests.
    let mut sums_file = File::open(&sums_path).ctx("open", &sums_path)?;
    let sums_len = sums_file.metadata().ctx("stat", &sums_path)?.len();
    let sums_sha256 = crate::job::verify::sha256_of(&mut sums_file).ctx("read", &sums_path)?;
    let enc_len = std::fs::metadata(&enc_path).ctx("stat", &enc_path)?.len();
    if sums_len != g.chunks() * DIGEST as u64 || enc_len != g.encrypted_size() {
        return Err(FormatError::Tampered {
            file: Layout::rel_encrypted(&spec.dir, &spec.name),
            what: "wrote an unexpected length (the NAS lost data?): rerun to redo this file".into(),
        });
    }
    Ok(FileEntry {
        name: spec.name.clone(),
        size: plain_size,
        encrypted_size: g.encrypted_size(),
        chunks: g.chunks(),
        header: hex::encode(header.to_bytes()),
        chunk_digests_sha256: hex::encode(sums_sha256),
    })
}

fn read_exact_or_short(
    src: &mut (dyn Read + Send),
    buf: &mut [u8],
    path: &Path,
    size: u64,
) -> Result<()> {
    src.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            FormatError::malformed(
                path.display().to_string(),
                format!("ended before the {size} bytes it had when the export began (changed while reading?)"),
            )
        } else {
            FormatError::io("read", path, e)
        }
    })
}

fn create_new(p: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(p)
        .ctx("create", p)
}

/// `fsync`s a directory so that entries created in it survive a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx("sync directory", dir)
}

/// Writes `bytes` to `path` atomically: a temporary file, `fsync`, rename, directory `fsync`.
/// A crash leaves either the old content or the new, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    let r = (|| {
        let mut f = create_new(&tmp)?;
        f.write_all(bytes).ctx("write", &tmp)?;
        f.sync_all().ctx("sync", &tmp)?;
        std::fs::rename(&tmp, path).ctx("rename into place", path)?;
        sync_dir(dir)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// An exclusive lock held for the length of a run, so that two processes never write the same
/// job (or journal) at once. It is an advisory `flock`, released by the kernel when the
/// process ends (a crash included); the lock file is removed when the run ends normally.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    _file: File,
    held: bool,
}

impl RunLock {
    /// Takes the lock at `path`, or fails at once (never waits) with
    /// [`FormatError::Busy`] naming `what` holds it. A file system that cannot lock (an NFS
    /// mount with `nolock`) gives a lock that is not held: see [`RunLock::is_held`].
    pub fn acquire(path: &Path, what: &str) -> Result<RunLock> {
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .ctx("create lock file", path)?;
        match f.try_lock() {
            Ok(()) => Ok(RunLock {
                path: path.to_owned(),
                _file: f,
                held: true,
            }),
            Err(std::fs::TryLockError::WouldBlock) => Err(FormatError::Busy {
                path: path.to_owned(),
                what: what.to_owned(),
            }),
            Err(std::fs::TryLockError::Error(_)) => Ok(RunLock {
                path: path.to_owned(),
                _file: f,
                held: false,
            }),
        }
    }

    /// False when the file system could not lock at all: nothing then stops a second run.
    pub fn is_held(&self) -> bool {
        self.held
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
