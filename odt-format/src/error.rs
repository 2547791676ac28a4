//! Errors of the bundle format.
//!
//! Policy: every variant says *what* failed and *where* (bundle-relative path, chunk index,
//! stanza); the `Display` text ends with what the operator can do when there is something to
//! do. Crypto failures are deliberately coarse (a chunk failed to authenticate, a key did not
//! unwrap) so they leak nothing beyond "this was altered or the key is wrong".

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = FormatError> = std::result::Result<T, E>;

/// Everything that can go wrong reading, writing or verifying a bundle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// An I/O error on a named path. The message carries the OS error itself, so `cause` is
    /// not also returned as `source()`: a chain printer (`{:#}`) would print it twice.
    #[error("{op} {path}: {cause}{hint}", hint = io_hint(cause))]
    Io {
        /// What we were doing ("read", "write", "open", ...).
        op: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error, shown in the message (not a `source()`).
        cause: std::io::Error,
    },
    /// A file's bytes are not what the signed manifest says.
    #[error("{file}: {what}")]
    Tampered {
        /// Bundle-relative path of the damaged file.
        file: String,
        /// What exactly differs, including the chunk index where one applies.
        what: String,
    },
    /// A chunk failed AEAD authentication (altered, reordered, spliced or wrong key).
    #[error("{file}: chunk {chunk} failed to decrypt: it was altered, moved or truncated")]
    ChunkAuth {
        /// Bundle-relative path.
        file: String,
        /// Zero-based chunk index.
        chunk: u64,
    },
    /// A file ended before its final chunk.
    #[error("{file}: truncated: ended after {got} of {want} bytes")]
    Truncated {
        /// Bundle-relative path.
        file: String,
        /// Bytes present.
        got: u64,
        /// Bytes the manifest promises.
        want: u64,
    },
    /// No stanza could be opened with the secret we were given.
    #[error("{0}")]
    NoKey(String),
    /// The manifest signature does not verify under the trusted key.
    #[error("manifest signature check failed: {0}")]
    BadSignature(String),
    /// An import receipt's signature does not verify under the provider's key.
    #[error("receipt signature check failed: {0}")]
    BadReceipt(String),
    /// Malformed or unsupported structure (manifest, header, key file, stanza).
    #[error("{what}: {detail}")]
    Malformed {
        /// The thing that is malformed (a path or a name).
        what: String,
        /// Why.
        detail: String,
    },
    /// A parameter outside the bounds this version accepts.
    #[error("{0}")]
    Bounds(String),
    /// A key file problem.
    #[error("key file {path}: {detail}")]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// Why it cannot be used.
        detail: String,
    },
    /// Another process holds the lock of this job or journal.
    #[error(
        "{path}: {what} is running on it already; wait for it to finish or stop it, then rerun"
    )]
    Busy {
        /// The lock file.
        path: PathBuf,
        /// Who holds it ("another odt-export run").
        what: String,
    },
    /// Resuming a stream: the source no longer continues what an earlier run sealed (it changed
    /// since, or the NAS copy was damaged). Nothing was written under the old key; the caller
    /// starts the stream again with a fresh header, or refuses.
    #[error(
        "{file}: chunk {chunk} of the source is not what an earlier run sealed there (the source \
         changed since that run, or the copy on the NAS was damaged)"
    )]
    Diverged {
        /// The stream, `vm-NNN/NAME`.
        file: String,
        /// The first chunk found to differ.
        chunk: u64,
    },
    /// OVF / OVA / .mf parsing failed.
    #[error(transparent)]
    Ovf(#[from] crate::ovf::OvfError),
}

fn io_hint(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(28) => " (the disk is full: free space, then rerun the same command to resume)",
        Some(5) => " (I/O error on the device: check the NAS and its mount, then rerun to resume)",
        Some(122) => " (quota exceeded: raise the quota or free space, then rerun to resume)",
        Some(30) => " (the file system is read-only: remount it read-write)",
        _ => "",
    }
}

impl FormatError {
    /// Builds an [`FormatError::Io`] for `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        FormatError::Io {
            op,
            path: path.into(),
            cause: source,
        }
    }

    /// Builds a [`FormatError::Malformed`].
    pub fn malformed(what: impl Into<String>, detail: impl Into<String>) -> Self {
        FormatError::Malformed {
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// True when the error means "the disk is full" (ENOSPC or EDQUOT).
    pub fn is_no_space(&self) -> bool {
        matches!(self, FormatError::Io { cause, .. } if matches!(cause.raw_os_error(), Some(28) | Some(122)))
    }
}

/// Extension to attach a path to `std::io::Result`s.
pub trait IoContext<T> {
    /// Maps the error to [`FormatError::Io`] with `op` and `path`.
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| FormatError::io(op, path, e))
    }
}
