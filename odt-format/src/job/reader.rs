//! Reading a bundle back: the signed manifest, the data key, and each file's plaintext as a
//! stream that authenticates every chunk before releasing it.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::crypto::keys::{DataKey, VerifyingKey};
use crate::crypto::stanza::{unwrap_data_key, Unlock};
use crate::crypto::stream::{FileHeader, Geometry, StreamKey, HEADER_LEN, TAG_LEN};
use crate::error::{FormatError, IoContext, Result};
use crate::job::layout::Layout;
use crate::job::manifest::{verify_signed, FileEntry, JobManifest, VmEntry, MAX_MANIFEST_BYTES};

/// Reads a regular file ([`open_regular`]) of at most `max` bytes, naming it in errors: the
/// one way odt reads a small file whole (docs/SECURITY.md §S5).
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>> {
    read_to_end_bounded(open_regular(path)?, path, max)
}

/// Reads what is left of `r` (opened from `path`), failing once it passes `max` bytes: never
/// more than `max + 1` bytes are read.
pub fn read_to_end_bounded(r: impl Read, path: &Path, max: u64) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    r.take(max + 1).read_to_end(&mut v).ctx("read", path)?;
    if v.len() as u64 > max {
        return Err(FormatError::malformed(
            path.display().to_string(),
            format!("larger than {max} bytes"),
        ));
    }
    Ok(v)
}

/// Opens `path` (symlinks followed) for reading, only if it is a regular file. A FIFO, a
/// device, a socket or a directory is refused before it is opened. The open itself is
/// non-blocking and the open file is checked again, so a FIFO swapped in between cannot make
/// the open or the reads wait forever; reads are blocking again once it is known to be a
/// regular file (docs/SECURITY.md §S5).
///
/// # Errors
///
/// [`FormatError::Io`] naming `path` (kind `NotFound` when it does not exist), or
/// [`FormatError::Malformed`] ("PATH: is a FIFO, not a regular file") when it is not a
/// regular file.
pub fn open_regular(path: &Path) -> Result<File> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    check_regular(path, &std::fs::metadata(path).ctx("open", path)?)?;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_NONBLOCK | OFlag::O_NOCTTY).bits())
        .open(path)
        .ctx("open", path)?;
    check_regular(path, &f.metadata().ctx("stat", path)?)?;
    let errno = |e: nix::errno::Errno| FormatError::io("open", path, e.into());
    let flags = OFlag::from_bits_retain(fcntl(f.as_raw_fd(), FcntlArg::F_GETFL).map_err(errno)?);
    fcntl(f.as_raw_fd(), FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK)).map_err(errno)?;
    Ok(f)
}

fn check_regular(path: &Path, m: &std::fs::Metadata) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_file() {
        return Ok(());
    }
    let kind = if t.is_fifo() {
        "a FIFO"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    };
    Err(FormatError::malformed(
        path.display().to_string(),
        format!("is {kind}, not a regular file; odt only reads regular files"),
    ))
}

/// Which key a manifest's signature is checked against.
pub enum TrustAnchor<'a> {
    /// A key the verifier trusts (proves who signed).
    Trusted(&'a VerifyingKey),
    /// The key embedded in the signature file (proves integrity only).
    Embedded,
}

/// Reads `odt-job.json` and its signature and checks them against `trusted`.
pub fn open_manifest(layout: &Layout, trusted: &VerifyingKey) -> Result<JobManifest> {
    open_manifest_with(layout, &TrustAnchor::Trusted(trusted))
}

/// Reads `odt-job.json` and its signature and checks them against `anchor`.
pub fn open_manifest_with(layout: &Layout, anchor: &TrustAnchor<'_>) -> Result<JobManifest> {
    open_manifest_bytes(layout, anchor).map(|(m, _)| m)
}

/// Like [`open_manifest_with`], and also returns the exact bytes that were verified (what a
/// receipt binds to: never read the file a second time).
pub fn open_manifest_bytes(
    layout: &Layout,
    anchor: &TrustAnchor<'_>,
) -> Result<(JobManifest, Vec<u8>)> {
    let mpath = layout.manifest();
    if !mpath.exists() {
        let why = if layout.journal().exists() {
            "the export was interrupted before it finished (odt-journal.json is present): \
             rerun the same `odt-export run` command to complete it"
        } else {
            "no odt job here: check --nas points at the job directory"
        };
        return Err(FormatError::malformed(
            mpath.display().to_string(),
            format!("missing: {why}"),
        ));
    }
    let bytes = read_bounded(&mpath, MAX_MANIFEST_BYTES)?;
    let spath = layout.signature();
    let sig = match read_bounded(&spath, 4096) {
        Ok(s) => s,
        Err(FormatError::Io { cause: source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Err(FormatError::BadSignature(format!(
                "{} is missing: the manifest is unsigned and cannot be trusted",
                spath.display()
            )))
        }
        Err(e) => return Err(e),
    };
    let m = match anchor {
        TrustAnchor::Trusted(k) => verify_signed(&bytes, &sig, k),
        TrustAnchor::Embedded => {
            verify_signed(&bytes, &sig, &crate::job::manifest::embedded_key(&sig)?)
        }
    }?;
    Ok((m, bytes))
}

/// Reads `odt-job.json` *without* checking any signature (the exporter uses this to inspect
/// its own finished job; importers must use [`open_manifest`]).
pub fn read_manifest_unverified(layout: &Layout) -> Result<JobManifest> {
    JobManifest::parse(&read_bounded(&layout.manifest(), MAX_MANIFEST_BYTES)?)
}

/// Unwraps the job's data key with `unlock`.
pub fn data_key(m: &JobManifest, unlock: &Unlock<'_>) -> Result<DataKey> {
    unwrap_data_key(&m.stanzas, &m.job_id_bytes()?, &m.key_check, unlock)
}

/// Decrypts one file as a `Read` stream. Every chunk is authenticated before any of its bytes
/// are returned; a missing, altered, moved or extra chunk is an error naming the chunk.
pub struct DecryptReader<R: Read> {
    inner: R,
    key: StreamKey,
    geometry: Geometry,
    file: String,
    next_chunk: u64,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
}

impl DecryptReader<BufReader<File>> {
    /// Opens `vm`'s `file` in the job at `layout`.
    pub fn open(
        layout: &Layout,
        m: &JobManifest,
        key: &DataKey,
        vm: &VmEntry,
        file: &FileEntry,
    ) -> Result<Self> {
        let path = layout.encrypted(&vm.dir, &file.name);
        let f = open_regular(&path)?;
        DecryptReader::new(BufReader::with_capacity(1 << 20, f), m, key, vm, file)
    }
}

impl<R: Read> DecryptReader<R> {
    /// Wraps `inner`, positioned at the start of the encrypted file.
    pub fn new(
        mut inner: R,
        m: &JobManifest,
        key: &DataKey,
        vm: &VmEntry,
        file: &FileEntry,
    ) -> Result<Self> {
        let stream = vm.stream_name(file);
        let rel = crate::job::layout::Layout::rel_encrypted(&vm.dir, &file.name);
        let mut hb = [0u8; HEADER_LEN];
        inner
            .read_exact(&mut hb)
            .map_err(|_| FormatError::Truncated {
                file: rel.clone(),
                got: 0,
                want: file.encrypted_size,
            })?;
        let header = FileHeader::parse(&hb, &rel)?;
        if hex::encode(hb) != file.header {
            return Err(FormatError::Tampered {
                file: rel,
                what: "header differs from the manifest".into(),
            });
        }
        let geometry = Geometry {
            plain_size: file.size,
            chunk_size: header.chunk_size() as u64,
        };
        Ok(DecryptReader {
            inner,
            key: StreamKey::new(key, &m.job_id_bytes()?, &stream, &header),
            geometry,
            file: rel,
            next_chunk: 0,
            buf: Vec::with_capacity(header.chunk_size() + TAG_LEN),
            pos: 0,
            len: 0,
        })
    }

    fn fill(&mut self) -> Result<bool> {
        let g = self.geometry;
        if self.next_chunk >= g.chunks() {
            let mut extra = [0u8; 1];
            if self
                .inner
                .read(&mut extra)
                .map_err(|e| FormatError::io("read", &self.file, e))?
                != 0
            {
                return Err(FormatError::Tampered {
                    file: self.file.clone(),
                    what: "data after the final chunk".into(),
                });
            }
            return Ok(false);
        }
        let i = self.next_chunk;
        let ct_len = g.plain_len(i) as usize + TAG_LEN;
        self.buf.resize(ct_len, 0);
        let mut got = 0;
        while got < ct_len {
            let n = self
                .inner
                .read(&mut self.buf[got..])
                .map_err(|e| FormatError::io("read", &self.file, e))?;
            if n == 0 {
                return Err(FormatError::Truncated {
                    file: self.file.clone(),
                    got: g.chunk_offset(i) + got as u64,
                    want: g.encrypted_size(),
                });
            }
            got += n;
        }
        let last = i + 1 == g.chunks();
        let n = self
            .key
            .open(i, last, &mut self.buf)
            .ok_or(FormatError::ChunkAuth {
                file: self.file.clone(),
                chunk: i,
            })?;
        self.pos = 0;
        self.len = n;
        self.next_chunk += 1;
        Ok(true)
    }
}

impl<R: Read> Read for DecryptReader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.len {
            if !self.fill().map_err(std::io::Error::other)? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.len - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Decrypts a small file (descriptor, `.mf`) completely into memory, refusing large ones.
pub fn decrypt_small(
    layout: &Layout,
    m: &JobManifest,
    key: &DataKey,
    vm: &VmEntry,
    name: &str,
    max: u64,
) -> Result<Vec<u8>> {
    let file = vm.file(name).ok_or_else(|| {
        FormatError::malformed(format!("VM {}", vm.name), format!("has no file {name:?}"))
    })?;
    if file.size > max {
        return Err(FormatError::malformed(
            format!("{}/{}", vm.dir, name),
            format!("is {} bytes; at most {max} expected", file.size),
        ));
    }
    let mut r = DecryptReader::open(layout, m, key, vm, file)?;
    let mut v = Vec::with_capacity(file.size as usize);
    r.read_to_end(&mut v).map_err(unwrap_io)?;
    Ok(v)
}

/// Recovers a [`FormatError`] that travelled through `std::io::Error`.
pub fn unwrap_io(e: std::io::Error) -> FormatError {
    match e.get_ref().map(|inner| inner.is::<FormatError>()) {
        Some(true) => *e
            .into_inner()
            .expect("checked")
            .downcast::<FormatError>()
            .expect("checked"),
        _ => FormatError::io("read", "<stream>", e),
    }
}

/// A decrypting reader that also checks the plaintext against an expected digest (the
/// package's own `.mf` entry) as it streams.
///
/// The check runs *before the last byte is released*: the read that would complete the file
/// first reads on to the end of the encrypted stream (so that data after the final chunk is
/// found) and compares the digest, and returns an error instead of those last bytes when
/// either is wrong. A consumer that stops at a known length (an HTTP body with a
/// Content-Length) therefore still gets the check, and the server never receives a whole file
/// that was not verified. [`Verified`] tells the caller afterwards whether the check ran and
/// passed on these very bytes: attest only what it says.
pub struct CheckedReader<R: Read> {
    inner: DecryptReader<R>,
    hasher: Option<crate::ovf::MfHasher>,
    expected: Vec<u8>,
    file: String,
    delivered: u64,
    verified: Verified,
}

/// The outcome of a [`CheckedReader`]'s check, shared with the caller (the reader itself is
/// usually moved into an upload).
#[derive(Clone, Debug, Default)]
pub struct Verified(std::sync::Arc<std::sync::OnceLock<String>>);

impl Verified {
    /// `ALG:hex` of the digest that every byte of the file was checked against, or `None`
    /// when the check has not run to completion (the stream ended early or failed).
    pub fn digest(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

impl<R: Read> CheckedReader<R> {
    /// Wraps `inner`; `expected` is the `.mf` entry for this file.
    pub fn new(inner: DecryptReader<R>, expected: &crate::ovf::MfEntry) -> Self {
        let file = inner.file.clone();
        CheckedReader {
            inner,
            hasher: Some(expected.alg.hasher()),
            expected: expected.digest.clone(),
            file,
            delivered: 0,
            verified: Verified::default(),
        }
    }

    /// A handle that reports whether the check ran and passed.
    pub fn verified(&self) -> Verified {
        self.verified.clone()
    }

    /// Reads to the end of the encrypted stream and compares the digest. Idempotent.
    fn finish(&mut self) -> std::io::Result<()> {
        let Some(h) = self.hasher.take() else {
            return match self.verified.digest() {
                Some(_) => Ok(()),
                None => Err(std::io::Error::other(FormatError::Tampered {
                    file: self.file.clone(),
                    what: "its .mf check failed earlier".into(),
                })),
            };
        };
        let mut extra = [0u8; 1];
        if self.inner.read(&mut extra)? != 0 {
            return Err(std::io::Error::other(FormatError::Tampered {
                file: self.file.clone(),
                what: "decrypts to more bytes than the manifest says".into(),
            }));
        }
        let alg = h.alg();
        let got = h.finalize();
        if got != self.expected {
            return Err(std::io::Error::other(FormatError::Tampered {
                file: self.file.clone(),
                what: format!(
                    "decrypts, but its {} does not match the package's .mf",
                    alg.name()
                ),
            }));
        }
        let _ = self
            .verified
            .0
            .set(format!("{}:{}", alg.name(), hex::encode(got)));
        Ok(())
    }
}

impl<R: Read> Read for CheckedReader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let size = self.inner.geometry.plain_size;
        if self.delivered >= size {
            self.finish()?;
            return Ok(0);
        }
        let n = self.inner.read(out)?;
        if n == 0 {
            // DecryptReader reports a short stream as an error; this is only reached if it
            // ended cleanly before `size`, which the geometry rules out. Never attest it.
            return Err(std::io::Error::other(FormatError::Truncated {
                file: self.file.clone(),
                got: self.delivered,
                want: size,
            }));
        }
        if let Some(h) = self.hasher.as_mut() {
            h.update(&out[..n]);
        }
        self.delivered += n as u64;
        if self.delivered >= size {
            self.finish()?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/SECURITY.md §S5: non-regular files are refused before opening; every read is
    /// bounded.
    #[test]
    fn only_regular_files_are_opened_and_reads_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        for p in [fifo.as_path(), dir.path(), Path::new("/dev/null")] {
            let e = open_regular(p).unwrap_err().to_string();
            assert!(e.contains("not a regular file"), "{e}");
            assert!(e.contains(&p.display().to_string()), "{e}");
            let e = read_bounded(p, 10).unwrap_err().to_string();
            assert!(e.contains("not a regular file"), "{e}");
        }
        let missing = dir.path().join("missing");
        assert!(matches!(open_regular(&missing),
            Err(FormatError::Io { cause: source, .. }) if source.kind() == std::io::ErrorKind::NotFound));
        let f = dir.path().join("f");
        std::fs::write(&f, b"0123456789").unwrap();
        assert_eq!(read_bounded(&f, 10).unwrap(), b"0123456789");
        let e = read_bounded(&f, 9).unwrap_err().to_string();
        assert!(e.contains("larger than 9 bytes"), "{e}");
        // A symlink to a regular file is followed; reads block again (no EAGAIN).
        let l = dir.path().join("l");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        let mut s = String::new();
        let mut opened = open_regular(&l).unwrap();
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        let flags = fcntl(
            std::os::unix::io::AsRawFd::as_raw_fd(&opened),
            FcntlArg::F_GETFL,
        );
        assert!(!OFlag::from_bits_retain(flags.unwrap()).contains(OFlag::O_NONBLOCK));
        opened.read_to_string(&mut s).unwrap();
        assert_eq!(s, "0123456789");
    }
}
