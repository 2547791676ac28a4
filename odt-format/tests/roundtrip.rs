//! Stream round trips through the public writer (`nasfile::encrypt_file`, `nasfile::recover`)
//! and reader (`reader::DecryptReader`): chunk-edge sizes, worker counts, resuming at chunk
//! granularity after a failed read, recovery from leftovers, resuming over a changed source
//! (never two plaintexts under one key and nonce), and how the reader names damage.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use odt_format::crypto::keys::DataKey;
use odt_format::crypto::stream::{FileHeader, Geometry, HEADER_LEN, TAG_LEN};
use odt_format::io::nasfile::{
    encrypt_file, recover, Partial, Plaintext, StreamSpec, WriteOptions,
};
use odt_format::job::layout::Layout;
use odt_format::job::manifest::{FileEntry, JobManifest, Target, VmEntry, VmSummary, FORMAT};
use odt_format::job::reader::{unwrap_io, CheckedReader, DecryptReader};
use odt_format::ovf::{DigestAlg, MfEntry};
use odt_format::FormatError;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

const LOG2: u8 = 16;
const C: u64 = 1 << LOG2;
const JOB_ID: [u8; 16] = [7; 16];
const DIR: &str = "vm-000";
const NAME: &str = "disk1.vmdk";
const REL: &str = "data/vm-000/disk1.vmdk.odt";

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn key() -> DataKey {
    DataKey::generate(&mut rng(1))
}

/// `n` deterministic bytes.
fn data(n: u64) -> Vec<u8> {
    let mut v = vec![0u8; n as usize];
    rng(n ^ 0x5eed).fill_bytes(&mut v);
    v
}

fn spec(root: &Path, size: u64) -> StreamSpec {
    StreamSpec {
        layout: Layout::new(root),
        dir: DIR.into(),
        name: NAME.into(),
        job_id: JOB_ID,
        plain_size: size,
        chunk_log2: LOG2,
    }
}

fn opts(workers: usize, checkpoint_bytes: u64) -> WriteOptions {
    WriteOptions {
        workers,
        checkpoint_bytes,
    }
}

/// What one `encrypt_file` call saw.
struct Run {
    result: Result<FileEntry, FormatError>,
    /// Everything the hash callback was given, in order.
    hashed: Vec<u8>,
    /// The last progress value.
    progress: u64,
}

fn encrypt(
    spec: &StreamSpec,
    partial: Option<Partial>,
    source: &mut (dyn Read + Send),
    opts: WriteOptions,
    seed: u64,
) -> Run {
    let hashed = Mutex::new(Vec::new());
    let progress = AtomicU64::new(0);
    let result = encrypt_file(
        spec,
        &key(),
        partial,
        Plaintext {
            reader: source,
            path: Path::new("/source/disk1.vmdk"),
            hash: &mut |b| hashed.lock().unwrap().extend_from_slice(b),
        },
        &|d| progress.store(d, Ordering::SeqCst),
        opts,
        &mut rng(seed),
    );
    Run {
        result,
        hashed: hashed.into_inner().unwrap(),
        progress: progress.into_inner(),
    }
}

/// A manifest holding just `entry`, enough for [`DecryptReader`].
fn manifest(entry: FileEntry) -> JobManifest {
    JobManifest {
        format: FORMAT.into(),
        units: None,
        job_id: hex::encode(JOB_ID),
        created: "2024-01-01T00:00:00Z".into(),
        exporter: "roundtrip test".into(),
        signer_key_id: String::new(),
        key_check: String::new(),
        stanzas: vec![],
        vms: vec![VmEntry {
            name: "vm".into(),
            dir: DIR.into(),
            source_kind: "ovf".into(),
            source_name: "vm.ovf".into(),
            descriptor: NAME.into(),
            mf: NAME.into(),
            target: Target::default(),
            summary: VmSummary::default(),
            files: vec![entry],
        }],
    }
}

/// Decrypts the stream of `entry` under `root` with `key`: the bytes released before the
/// first error, and that error.
fn decrypt_with(root: &Path, entry: &FileEntry, key: &DataKey) -> (Vec<u8>, Option<FormatError>) {
    let m = manifest(entry.clone());
    let vm = &m.vms[0];
    let mut r = match DecryptReader::open(&Layout::new(root), &m, key, vm, &vm.files[0]) {
        Ok(r) => r,
        Err(e) => return (vec![], Some(e)),
    };
    let mut out = vec![];
    let mut buf = vec![0u8; 10_000]; // not a divisor of the chunk size
    loop {
        match r.read(&mut buf) {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return (out, Some(unwrap_io(e))),
        }
    }
}

fn decrypt(root: &Path, entry: &FileEntry) -> Vec<u8> {
    match decrypt_with(root, entry, &key()) {
        (v, None) => v,
        (_, Some(e)) => panic!("decrypt failed: {e}"),
    }
}

fn enc_path(root: &Path) -> std::path::PathBuf {
    Layout::new(root).encrypted(DIR, NAME)
}

fn sums_path(root: &Path) -> std::path::PathBuf {
    Layout::new(root).sums(DIR, NAME)
}

fn geometry(size: u64) -> Geometry {
    Geometry {
        plain_size: size,
        chunk_size: C,
    }
}

#[test]
fn round_trips_at_chunk_edges_with_one_and_three_workers() {
    for size in [0, 1, C - 1, C, C + 1, 3 * C + 5] {
        let plain = data(size);
        let mut first: Option<Vec<u8>> = None;
        for workers in [1, 3] {
            let tmp = tempfile::tempdir().unwrap();
            let s = spec(tmp.path(), size);
            let run = encrypt(&s, None, &mut &plain[..], opts(workers, C), 42);
            let what = format!("size {size}, {workers} worker(s)");
            let entry = run.result.unwrap_or_else(|e| panic!("{what}: {e}"));
            let g = geometry(size);
            assert_eq!(entry.size, size, "{what}");
            assert_eq!(entry.chunks, g.chunks(), "{what}");
            assert_eq!(entry.chunks, size.div_ceil(C).max(1), "{what}");
            assert_eq!(entry.encrypted_size, g.encrypted_size(), "{what}");
            let ct = std::fs::read(enc_path(tmp.path())).unwrap();
            assert_eq!(ct.len() as u64, entry.encrypted_size, "{what}");
            assert_eq!(
                std::fs::metadata(sums_path(tmp.path())).unwrap().len(),
                entry.chunks * 32,
                "{what}"
            );
            assert!(run.hashed == plain, "{what}: hash callback saw other bytes");
            assert_eq!(run.progress, size, "{what}");
            assert!(decrypt(tmp.path(), &entry) == plain, "{what}: round trip");
            // Same RNG, same key: the worker count must not change a single byte.
            match &first {
                None => first = Some(ct),
                Some(f) => assert!(*f == ct, "{what}: output depends on the worker count"),
            }
        }
    }
}

/// A source that returns its bytes, then fails with an I/O error after `fail_at` bytes.
struct FailingReader<'a> {
    data: &'a [u8],
    pos: usize,
    fail_at: usize,
}

impl Read for FailingReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.fail_at {
            return Err(std::io::Error::other("the USB cable was pulled"));
        }
        let n = out.len().min(self.fail_at - self.pos).min(4096);
        out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Fails mid-chunk, recovers, resumes; returns (chunks_done after the failure, the resumed
/// file's bytes, its entry). With no chunk checkpointed, the resume is a fresh start.
fn interrupted_then_resumed(
    root: &Path,
    plain: &[u8],
    fail_at: u64,
    checkpoint_bytes: u64,
    workers: usize,
) -> (u64, Vec<u8>, FileEntry) {
    let size = plain.len() as u64;
    let s = spec(root, size);
    let mut failing = FailingReader {
        data: plain,
        pos: 0,
        fail_at: fail_at as usize,
    };
    let run = encrypt(&s, None, &mut failing, opts(workers, checkpoint_bytes), 42);
    match run.result {
        Err(FormatError::Io {
            op: "read",
            ref path,
            ref cause,
        }) if path == Path::new("/source/disk1.vmdk")
            && cause.to_string().contains("cable was pulled") => {}
        other => panic!("expected the read error, got {:?}", other.map(|_| ())),
    }
    let header_before = std::fs::read(enc_path(root)).unwrap()[..HEADER_LEN].to_vec();
    let partial = recover(&s).unwrap();
    let done = partial.as_ref().map_or(0, |p| p.chunks_done);
    let prefix = match &partial {
        Some(p) => {
            assert_eq!(p.header.to_bytes().to_vec(), header_before);
            let enc_len = std::fs::metadata(enc_path(root)).unwrap().len();
            assert_eq!(
                enc_len,
                geometry(size).chunk_offset(done),
                "cut back to the checkpoint"
            );
            assert_eq!(std::fs::metadata(sums_path(root)).unwrap().len(), done * 32);
            std::fs::read(enc_path(root)).unwrap()
        }
        None => {
            assert!(!enc_path(root).exists() && !sums_path(root).exists());
            vec![]
        }
    };

    // Resume with a fresh reader from the start of the source.
    let run = encrypt(
        &s,
        partial,
        &mut &plain[..],
        opts(workers, checkpoint_bytes),
        99,
    );
    let entry = run.result.unwrap();
    assert!(
        run.hashed == plain,
        "the hash callback must see every byte exactly once, in order, across the prefix \
         re-read ({} bytes seen, {} expected)",
        run.hashed.len(),
        plain.len()
    );
    assert_eq!(run.progress, size);
    let file = std::fs::read(enc_path(root)).unwrap();
    assert!(
        file[..prefix.len()] == prefix[..],
        "sealed chunks are kept, not redone"
    );
    assert!(
        decrypt(root, &entry) == plain,
        "resumed stream decrypts to the source"
    );
    (done, file, entry)
}

#[test]
fn resume_at_chunk_granularity_after_a_failed_read() {
    let size = 5 * C + 123;
    let plain = data(size);
    // The same stream written in one go (same RNG seed, hence the same header and key).
    let whole_dir = tempfile::tempdir().unwrap();
    let whole = encrypt(
        &spec(whole_dir.path(), size),
        None,
        &mut &plain[..],
        opts(2, C),
        42,
    );
    let whole_entry = whole.result.unwrap();
    let whole_file = std::fs::read(enc_path(whole_dir.path())).unwrap();

    // (fail after byte, checkpoint every, workers) → chunks known good.
    let cases = [
        (3 * C + C / 2, C, 1, 3), // checkpoint after every chunk
        (3 * C + C / 2, C, 3, 3), // the same with three workers
        (3 * C + C / 2, 2 * (C + TAG_LEN as u64), 1, 2), // chunk 2 written, not checkpointed
        (C / 3, C, 2, 0),         // fails inside the first chunk
        (5 * C + 100, C, 2, 5),   // fails inside the short final chunk
    ];
    for (fail_at, checkpoint, workers, want_done) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let (done, file, entry) =
            interrupted_then_resumed(tmp.path(), &plain, fail_at, checkpoint, workers);
        let what = format!("fail at {fail_at}, checkpoint {checkpoint}, {workers} worker(s)");
        assert_eq!(done, want_done, "{what}: chunks_done");
        if done == 0 {
            // Nothing was checkpointed: written afresh, under a new header and key.
            assert_ne!(file[..HEADER_LEN], whole_file[..HEADER_LEN], "{what}");
            assert_eq!(
                (entry.size, entry.chunks, entry.encrypted_size),
                (
                    whole_entry.size,
                    whole_entry.chunks,
                    whole_entry.encrypted_size
                ),
                "{what}"
            );
            continue;
        }
        assert!(
            file == whole_file,
            "{what}: resumed file differs from an uninterrupted one"
        );
        assert_eq!(entry, whole_entry, "{what}");
    }
}

#[test]
fn recover_starts_fresh_on_garbage_short_header_or_other_chunk_size() {
    let size = 2 * C + 9;
    let valid = FileHeader {
        chunk_log2: LOG2,
        salt: [3; 16],
    }
    .to_bytes();
    let other_size = FileHeader {
        chunk_log2: LOG2 + 1,
        salt: [3; 16],
    }
    .to_bytes();
    let mut garbage = vec![0u8; 5000];
    rng(5).fill_bytes(&mut garbage);
    let cases: [(&str, Vec<u8>); 4] = [
        ("garbage", garbage),
        ("short header", valid[..20].to_vec()),
        ("empty file", vec![]),
        (
            "other chunk size",
            [&other_size[..], &[0u8; 1000][..]].concat(),
        ),
    ];
    for (what, enc) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let s = spec(tmp.path(), size);
        std::fs::create_dir_all(Layout::new(tmp.path()).vm_dir(DIR)).unwrap();
        std::fs::write(enc_path(tmp.path()), &enc).unwrap();
        std::fs::write(sums_path(tmp.path()), [1u8; 64]).unwrap();
        assert_eq!(recover(&s).unwrap(), None, "{what}");
        assert!(
            !enc_path(tmp.path()).exists(),
            "{what}: leftover .odt removed"
        );
        assert!(
            !sums_path(tmp.path()).exists(),
            "{what}: leftover .sums removed"
        );
        // And a fresh write then works.
        let plain = data(size);
        let entry = encrypt(&s, None, &mut &plain[..], opts(2, C), 8)
            .result
            .unwrap();
        assert!(decrypt(tmp.path(), &entry) == plain, "{what}");
    }
    // Nothing there at all: fresh.
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(recover(&spec(tmp.path(), size)).unwrap(), None);

    // A crash right after the header: nothing was checkpointed, so it starts afresh under a
    // new header (docs/SECURITY.md §S3: an old key with no proven prefix is never kept).
    let tmp = tempfile::tempdir().unwrap();
    let s = spec(tmp.path(), size);
    std::fs::create_dir_all(Layout::new(tmp.path()).vm_dir(DIR)).unwrap();
    std::fs::write(enc_path(tmp.path()), valid).unwrap();
    assert_eq!(recover(&s).unwrap(), None);
    assert!(!enc_path(tmp.path()).exists());
    let plain = data(size);
    let entry = encrypt(&s, None, &mut &plain[..], opts(1, C), 8)
        .result
        .unwrap();
    assert_ne!(entry.header, hex::encode(valid));
    assert!(decrypt(tmp.path(), &entry) == plain);
}

#[test]
fn recover_cuts_back_a_file_extended_after_a_complete_write() {
    let size = 2 * C + 7;
    let plain = data(size);
    let tmp = tempfile::tempdir().unwrap();
    let s = spec(tmp.path(), size);
    let entry = encrypt(&s, None, &mut &plain[..], opts(2, C), 3)
        .result
        .unwrap();
    let complete = std::fs::read(enc_path(tmp.path())).unwrap();
    let sums = std::fs::read(sums_path(tmp.path())).unwrap();
    let append = |p: &Path, n: usize| {
        let mut b = std::fs::read(p).unwrap();
        b.extend_from_slice(&vec![0xAA; n]);
        std::fs::write(p, b).unwrap();
    };
    append(&enc_path(tmp.path()), 777);
    append(&sums_path(tmp.path()), 40);
    let p = recover(&s).unwrap().expect("complete stream");
    assert_eq!(p.chunks_done, entry.chunks);
    assert!(
        std::fs::read(enc_path(tmp.path())).unwrap() == complete,
        "cut back exactly"
    );
    assert!(std::fs::read(sums_path(tmp.path())).unwrap() == sums);
    // Its size is a whole number of chunks (see below for the general case).
}

/// A crash after a stream's final checkpoint but before the caller recorded it as done leaves
/// a complete stream; `recover` says so (`chunks_done == chunks`), and resuming it must only
/// re-read (and hash) the source and return the same entry, including when the final chunk is
/// short (the prefix re-read must stop at the end of the source).
#[test]
fn resuming_a_complete_stream_only_rereads_the_source() {
    for size in [0, 1, C, 2 * C + 7] {
        let plain = data(size);
        let tmp = tempfile::tempdir().unwrap();
        let s = spec(tmp.path(), size);
        let entry = encrypt(&s, None, &mut &plain[..], opts(2, C), 3)
            .result
            .unwrap();
        let complete = std::fs::read(enc_path(tmp.path())).unwrap();
        let p = recover(&s).unwrap().expect("complete stream");
        assert_eq!(p.chunks_done, entry.chunks, "size {size}");
        let run = encrypt(&s, Some(p), &mut &plain[..], opts(2, C), 4);
        let got = run.result.unwrap_or_else(|e| panic!("size {size}: {e}"));
        assert_eq!(got, entry, "size {size}");
        assert!(run.hashed == plain, "size {size}");
        assert_eq!(run.progress, size, "size {size}");
        assert!(
            std::fs::read(enc_path(tmp.path())).unwrap() == complete,
            "size {size}"
        );
    }
}

#[test]
fn a_source_of_another_size_is_refused() {
    let size = C + 10;
    let plain = data(size + 1);
    for (what, src, want) in [
        ("shorter", &plain[..size as usize - 1], "ended before"),
        ("longer", &plain[..], "is longer than"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let run = encrypt(&spec(tmp.path(), size), None, &mut &src[..], opts(2, C), 1);
        let e = run.result.expect_err(what);
        assert!(
            matches!(e, FormatError::Malformed { .. }) && e.to_string().contains(want),
            "{what}: {e}"
        );
    }
}

/// A complete stream of `size` bytes in a fresh directory.
fn written(size: u64) -> (tempfile::TempDir, Vec<u8>, FileEntry) {
    let tmp = tempfile::tempdir().unwrap();
    let plain = data(size);
    let entry = encrypt(
        &spec(tmp.path(), size),
        None,
        &mut &plain[..],
        opts(2, C),
        11,
    )
    .result
    .unwrap();
    (tmp, plain, entry)
}

fn edit(p: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut b = std::fs::read(p).unwrap();
    f(&mut b);
    std::fs::write(p, b).unwrap();
}

#[test]
fn decrypt_reader_names_a_flipped_chunk_and_releases_nothing_of_it() {
    let size = 3 * C + 5;
    let g = geometry(size);
    for chunk in [0, 1, 3] {
        let (tmp, plain, entry) = written(size);
        let at = g.chunk_offset(chunk) as usize + 2;
        edit(&enc_path(tmp.path()), |b| b[at] ^= 0x40);
        let (got, err) = decrypt_with(tmp.path(), &entry, &key());
        match err {
            Some(FormatError::ChunkAuth { ref file, chunk: c }) if file == REL && c == chunk => {}
            other => panic!("chunk {chunk}: expected ChunkAuth, got {other:?}"),
        }
        let msg = err.unwrap().to_string();
        assert!(msg.contains(&format!("{REL}: chunk {chunk} ")), "{msg}");
        assert_eq!(
            got.len() as u64,
            chunk * C,
            "only the chunks before are released"
        );
        assert!(got[..] == plain[..got.len()]);
    }
    // The tag is covered too.
    let (tmp, _, entry) = written(size);
    let at = (g.chunk_offset(1) + C + 3) as usize;
    edit(&enc_path(tmp.path()), |b| b[at] ^= 1);
    let (_, err) = decrypt_with(tmp.path(), &entry, &key());
    assert!(
        matches!(err, Some(FormatError::ChunkAuth { chunk: 1, .. })),
        "{err:?}"
    );
    // Another data key: the first chunk fails.
    let (tmp, _, entry) = written(size);
    let (got, err) = decrypt_with(tmp.path(), &entry, &DataKey::from_bytes([9; 32]));
    assert!(
        matches!(err, Some(FormatError::ChunkAuth { chunk: 0, .. })),
        "{err:?}"
    );
    assert!(got.is_empty());
}

#[test]
fn decrypt_reader_reports_truncation() {
    let size = 3 * C + 5;
    let g = geometry(size);
    // At the boundary before the final chunk, inside a chunk, inside the header.
    for cut in [g.chunk_offset(3), g.chunk_offset(1) + 100, 10] {
        let (tmp, _, entry) = written(size);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(enc_path(tmp.path()))
            .unwrap();
        f.set_len(cut).unwrap();
        let (_, err) = decrypt_with(tmp.path(), &entry, &key());
        match err {
            Some(FormatError::Truncated {
                ref file,
                got,
                want,
            }) if file == REL && want == g.encrypted_size() && (got == cut || cut < 32) => {}
            other => panic!("cut at {cut}: expected Truncated, got {other:?}"),
        }
    }
    // An empty stream cut to its header: the one (empty, final) chunk is missing.
    let (tmp, _, entry) = written(0);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(enc_path(tmp.path()))
        .unwrap();
    f.set_len(HEADER_LEN as u64).unwrap();
    let (_, err) = decrypt_with(tmp.path(), &entry, &key());
    assert!(
        matches!(
            err,
            Some(FormatError::Truncated {
                got: 32,
                want: 48,
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn decrypt_reader_reports_data_after_the_final_chunk() {
    for size in [0, C, 3 * C + 5] {
        let (tmp, plain, entry) = written(size);
        edit(&enc_path(tmp.path()), |b| b.extend_from_slice(b"extra"));
        let (got, err) = decrypt_with(tmp.path(), &entry, &key());
        match err {
            Some(FormatError::Tampered { ref file, ref what })
                if file == REL && what.contains("after the final chunk") => {}
            other => panic!("size {size}: expected Tampered, got {other:?}"),
        }
        assert!(got == plain, "every authenticated byte was released first");
    }
    // A stream whose final chunk was dropped and the one before relabelled as last cannot be
    // made: chunk 2 was sealed as "not last", so a manifest claiming 3 chunks fails on it.
    let (tmp, _, entry) = written(3 * C + 5);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(enc_path(tmp.path()))
        .unwrap();
    f.set_len(geometry(3 * C).encrypted_size()).unwrap();
    let short = FileEntry {
        size: 3 * C,
        chunks: 3,
        encrypted_size: geometry(3 * C).encrypted_size(),
        ..entry
    };
    let (got, err) = decrypt_with(tmp.path(), &short, &key());
    assert!(
        matches!(err, Some(FormatError::ChunkAuth { chunk: 2, .. })),
        "{err:?}"
    );
    assert_eq!(got.len() as u64, 2 * C);
}

#[test]
fn decrypt_reader_checks_the_header_against_the_manifest() {
    let (tmp, _, entry) = written(C + 1);
    edit(&enc_path(tmp.path()), |b| b[20] ^= 1); // a salt byte
    let (_, err) = decrypt_with(tmp.path(), &entry, &key());
    match err {
        Some(FormatError::Tampered { ref file, ref what })
            if file == REL && what.contains("header") => {}
        other => panic!("expected Tampered header, got {other:?}"),
    }
}

/// A source of unknown length (a vCenter export download) yields exactly the stream a
/// known-size write of the same bytes does: the one-byte read-ahead finds the last chunk at
/// every chunk edge, including an empty source.
#[test]
fn unsized_sources_give_the_same_stream_as_sized_ones() {
    for size in [0, 1, C - 1, C, C + 1, 3 * C, 3 * C + 5] {
        let plain = data(size);
        for workers in [1, 3] {
            let a = tempfile::tempdir().unwrap();
            let b = tempfile::tempdir().unwrap();
            let sized = encrypt(
                &spec(a.path(), size),
                None,
                &mut &plain[..],
                opts(workers, C),
                9,
            );
            let sized = sized.result.unwrap();
            let hashed = Mutex::new(Vec::new());
            // A reader that hands out a few bytes at a time, like a network body.
            let mut trickle = Trickle(&plain[..]);
            let unsized_entry = odt_format::io::nasfile::encrypt_unsized(
                &spec(b.path(), 0),
                &key(),
                Plaintext {
                    reader: &mut trickle,
                    path: Path::new("download"),
                    hash: &mut |d: &[u8]| hashed.lock().unwrap().extend_from_slice(d),
                },
                &|_| {},
                opts(workers, C),
                &mut rng(9),
            )
            .unwrap();
            assert_eq!(unsized_entry, sized, "size {size}, workers {workers}");
            assert_eq!(*hashed.lock().unwrap(), plain);
            let enc_a = std::fs::read(spec(a.path(), size).layout.encrypted(DIR, NAME)).unwrap();
            let enc_b = std::fs::read(spec(b.path(), size).layout.encrypted(DIR, NAME)).unwrap();
            assert_eq!(enc_a, enc_b);
        }
    }
}

struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.0.len()).min(1000);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// Reads exactly `len` bytes through `r` (as an HTTP client sending a sized body does: it
/// never asks for the end of the stream) and returns what it got and the first error.
fn read_exactly(r: &mut impl Read, len: u64) -> (Vec<u8>, Option<FormatError>) {
    let mut out = vec![];
    let mut buf = vec![0u8; 10_000];
    while (out.len() as u64) < len {
        let want = buf.len().min((len - out.len() as u64) as usize);
        match r.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return (out, Some(unwrap_io(e))),
        }
    }
    (out, None)
}

fn checked(
    root: &Path,
    entry: &FileEntry,
    expected: &[u8],
) -> CheckedReader<std::io::BufReader<std::fs::File>> {
    let m = manifest(entry.clone());
    let vm = &m.vms[0];
    let inner = DecryptReader::open(&Layout::new(root), &m, &key(), vm, &vm.files[0]).unwrap();
    CheckedReader::new(
        inner,
        &MfEntry {
            alg: DigestAlg::Sha256,
            file: NAME.into(),
            digest: expected.to_vec(),
        },
    )
}

/// docs/SECURITY.md §S1: a consumer that stops at the file's length (a sized upload body)
/// still gets the `.mf` check and the "nothing after the final chunk" check, *before* the
/// last bytes are released; and only a check that ran is reported as verified.
#[test]
fn checked_reader_verifies_before_the_last_byte_even_when_read_only_to_its_length() {
    use sha2::Digest;
    for size in [0, 1, C, 3 * C + 5] {
        let (tmp, plain, entry) = written(size);
        let good = sha2::Sha256::digest(&plain).to_vec();
        // Matching digest: everything is released and the check is attested.
        let mut r = checked(tmp.path(), &entry, &good);
        let proof = r.verified();
        assert_eq!(proof.digest(), None, "nothing is attested before reading");
        let (got, err) = read_exactly(&mut r, size);
        assert!(err.is_none(), "size {size}: {err:?}");
        assert!(got == plain);
        if size > 0 {
            assert_eq!(
                proof.digest(),
                Some(format!("SHA256:{}", hex::encode(&good)).as_str()),
                "size {size}: the check ran without anyone reading to EOF"
            );
        }
        // A digest that differs: the read that would complete the file fails instead, so the
        // consumer never holds the whole file.
        let mut r = checked(tmp.path(), &entry, &[0u8; 32]);
        let proof = r.verified();
        let (got, err) = read_exactly(&mut r, size.max(1));
        match err {
            Some(FormatError::Tampered { ref what, .. }) if what.contains(".mf") => {}
            other => panic!("size {size}: expected a .mf mismatch, got {other:?}"),
        }
        assert!(
            (got.len() as u64) < size.max(1),
            "size {size}: the last bytes were released"
        );
        assert_eq!(proof.digest(), None);
        // Bytes appended after the final chunk are found without reading past the length.
        if size > 0 {
            edit(&enc_path(tmp.path()), |b| b.extend_from_slice(b"extra"));
            let mut r = checked(tmp.path(), &entry, &good);
            let proof = r.verified();
            let (got, err) = read_exactly(&mut r, size);
            match err {
                Some(FormatError::Tampered { ref what, .. })
                    if what.contains("after the final chunk") => {}
                other => panic!("size {size}: expected data after the final chunk, got {other:?}"),
            }
            assert!((got.len() as u64) < size);
            assert_eq!(proof.digest(), None);
        }
    }
}

/// Panics unless `after` keeps every byte of `before` wherever both hold the same header: one
/// header is one stream key, and one offset is one chunk nonce (the size is the same, so the
/// last flag is too), so a differing byte would be two plaintexts sealed under one (key, nonce).
fn assert_never_resealed_differently(before: &[u8], after: &[u8], what: &str) {
    if before.len() < HEADER_LEN || after.len() < HEADER_LEN || before[..32] != after[..32] {
        return;
    }
    let n = before.len().min(after.len());
    if let Some(at) = (0..n).find(|&i| before[i] != after[i]) {
        let chunk = (at - HEADER_LEN) as u64 / (C + TAG_LEN as u64);
        panic!(
            "{what}: chunk {chunk} was sealed twice under one key and nonce with different \
             plaintexts (docs/SECURITY.md §S3)"
        );
    }
}

/// Writes `plain` whole, then leaves what a crash would: `.sums` cut to `durable` digests and the
/// `.odt` to `odt_len` bytes. Returns those `.odt` bytes (what a thief could have read).
fn crashed(root: &Path, plain: &[u8], durable: u64, odt_len: u64) -> Vec<u8> {
    let s = spec(root, plain.len() as u64);
    encrypt(&s, None, &mut &plain[..], opts(1, C), 42)
        .result
        .unwrap();
    let cut = |p: std::path::PathBuf, n: u64| {
        let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
        f.set_len(n).unwrap();
    };
    cut(sums_path(root), durable * 32);
    cut(enc_path(root), odt_len);
    std::fs::read(enc_path(root)).unwrap()
}

/// docs/SECURITY.md §S3: a (key, nonce) pair never seals two different plaintexts, including
/// across resumes. A write is interrupted (chunks 0 and 1 checkpointed, chunk 2 written after
/// the checkpoint, sometimes torn), then the source changes before the resume. Wherever the
/// change falls within what the earlier run wrote (the checkpointed prefix, the chunk after the
/// checkpoint, the bytes of a torn chunk), the resume refuses to continue (`Diverged`) before
/// writing anything under the old key, and the file is then written afresh under a new one.
/// A change only where nothing was written yet resumes under the old key.
#[test]
fn a_resume_over_a_changed_source_never_seals_other_bytes_under_the_old_key() {
    let size = 5 * C + 123;
    let plain = data(size);
    let g = geometry(size);
    let off = |chunk: u64, at: u64| (chunk * C + at) as usize;
    // (what, .odt length left by the crash, changed plaintext byte, resumes)
    let cases = [
        ("a change in chunk 0", g.chunk_offset(3), off(0, 7), false),
        (
            "a change in chunk 1",
            g.chunk_offset(3),
            off(1, C - 1),
            false,
        ),
        (
            "a change in the chunk after the checkpoint",
            g.chunk_offset(3),
            off(2, 10),
            false,
        ),
        (
            "a change in a torn chunk's bytes",
            g.chunk_offset(2) + 100,
            off(2, 50),
            false,
        ),
        (
            "a change past a torn chunk's bytes",
            g.chunk_offset(2) + 100,
            off(2, 5000),
            true,
        ),
        (
            "a change where nothing was written",
            g.chunk_offset(3),
            off(4, 1),
            true,
        ),
        (
            "a change past the checkpoint, no more written",
            g.chunk_offset(2),
            off(2, 0),
            true,
        ),
    ];
    for (what, odt_len, at, resumes) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let s = spec(tmp.path(), size);
        let before = crashed(tmp.path(), &plain, 2, odt_len);
        let mut changed = plain.clone();
        changed[at] ^= 0x20;

        let partial = recover(&s).unwrap();
        let run = encrypt(&s, partial, &mut &changed[..], opts(1, C), 43);
        assert_never_resealed_differently(
            &before,
            &std::fs::read(enc_path(tmp.path())).unwrap(),
            what,
        );
        let entry = match run.result {
            Ok(entry) => {
                assert!(resumes, "{what}: resumed over a changed source");
                assert_eq!(entry.header, hex::encode(&before[..HEADER_LEN]), "{what}");
                entry
            }
            Err(e) => {
                assert!(!resumes, "{what}: {e}");
                assert!(
                    matches!(e, FormatError::Diverged { chunk, .. } if chunk == at as u64 / C),
                    "{what}: {e}"
                );
                // The caller starts the file again, under a fresh key.
                let run = encrypt(&s, None, &mut &changed[..], opts(1, C), 44);
                let entry = run.result.unwrap();
                assert_ne!(entry.header, hex::encode(&before[..HEADER_LEN]), "{what}");
                assert!(run.hashed == changed, "{what}");
                entry
            }
        };
        assert!(decrypt(tmp.path(), &entry) == changed, "{what}");
    }
}

/// docs/SECURITY.md §S3: a stream with no checkpointed chunk never keeps its header (hence its
/// key). `recover` starts it afresh, whatever the earlier run wrote after the header, so a
/// changed source can never meet its old nonces.
#[test]
fn a_stream_with_no_checkpointed_chunk_is_started_afresh_under_a_new_key() {
    let size = 3 * C + 5;
    let plain = data(size);
    let g = geometry(size);
    for odt_len in [HEADER_LEN as u64, g.chunk_offset(1) + 9, g.chunk_offset(2)] {
        let tmp = tempfile::tempdir().unwrap();
        let s = spec(tmp.path(), size);
        let before = crashed(tmp.path(), &plain, 0, odt_len);
        let mut changed = plain.clone();
        changed[3] ^= 1;
        let partial = recover(&s).unwrap();
        assert!(partial.is_none(), "{odt_len}: {partial:?}");
        let entry = encrypt(&s, partial, &mut &changed[..], opts(1, C), 43)
            .result
            .unwrap();
        assert_ne!(entry.header, hex::encode(&before[..HEADER_LEN]));
        assert!(decrypt(tmp.path(), &entry) == changed);
    }
}
/// docs/SECURITY.md §S3 and the `.mf` rule: re-reading a finished stream (the exporter does, to
/// digest it again for a generated `.mf`) proves the source is still what was sealed. A changed
/// source is `Diverged`, never hashed as if it were the sealed one.
#[test]
fn rereading_a_complete_stream_proves_the_source_unchanged() {
    for size in [0, 1, C, 2 * C + 7] {
        let plain = data(size);
        let tmp = tempfile::tempdir().unwrap();
        let s = spec(tmp.path(), size);
        encrypt(&s, None, &mut &plain[..], opts(2, C), 3)
            .result
            .unwrap();
        let complete = std::fs::read(enc_path(tmp.path())).unwrap();
        for at in [0, size / 2, size.saturating_sub(1)] {
            if size == 0 {
                // An empty source cannot change at the same size.
                continue;
            }
            let mut changed = plain.clone();
            changed[at as usize] ^= 4;
            let p = recover(&s).unwrap().expect("complete stream");
            let run = encrypt(&s, Some(p), &mut &changed[..], opts(2, C), 4);
            match run.result {
                Err(FormatError::Diverged { chunk, .. }) => assert_eq!(chunk, at / C),
                other => panic!("size {size}, byte {at}: {:?}", other.map(|_| ())),
            }
            assert!(
                std::fs::read(enc_path(tmp.path())).unwrap() == complete,
                "size {size}: the finished stream is left as it was"
            );
        }
    }
}
