//! The payload encryption: AES-256-GCM in a STREAM construction, one stream per file.
//!
//! Each encrypted file starts with a 32-byte [`FileHeader`] (magic, chunk size, random salt).
//! The file key is `HKDF-SHA-256(K, salt, "odt-bundle/v1 file key\0" ‖ job_id ‖ name)`, so
//! every file (and every fresh attempt at a file) has its own key. Chunk `i` of the plaintext
//! is sealed with nonce `0x000000 ‖ u64be(i) ‖ last` and associated data [`chunk_aad`], which
//! binds the job, the file's bundle name and the header. Consequences (the security
//! invariants of docs/FORMAT.md):
//!
//! - a chunk moved to another index, or another file, or another job, fails to authenticate;
//! - a stream cut at a chunk boundary lacks its `last = 1` chunk and is reported truncated;
//! - a stream extended past its last chunk is reported, never silently ignored;
//! - a nonce is never reused under one key: indices are unique within a stream, a stream
//!   restarted from scratch gets a fresh salt, hence a fresh key, and a resumed stream keeps its
//!   key only while its source is proven to continue what was sealed (`nasfile`).

use ring::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey, AES_256_GCM};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto::keys::DataKey;
use crate::error::{FormatError, Result};

/// Magic bytes at the start of every encrypted file.
pub const MAGIC: &[u8; 8] = b"ODTENC01";
/// Header length in bytes.
pub const HEADER_LEN: usize = 32;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
/// Default chunk size: 1 MiB (log2 = 20).
pub const DEFAULT_CHUNK_LOG2: u8 = 20;
/// Smallest and largest chunk sizes a reader accepts (64 KiB .. 16 MiB): bounds the memory a
/// hostile bundle can make a reader allocate.
pub const CHUNK_LOG2_RANGE: std::ops::RangeInclusive<u8> = 16..=24;

/// Length of one entry of a chunk digest list (`NAME.odt.sums`).
pub const CHUNK_DIGEST_LEN: usize = 32;

/// The digest of one sealed chunk (ciphertext ‖ tag) as listed in `NAME.odt.sums`: BLAKE3
/// with its default 32-byte output.
///
/// Why BLAKE3 and not SHA-256: every ciphertext byte is hashed once more after encryption, on
/// the export's critical CPU budget and again by every keyless verify. On the 2-core target
/// (SHA-NI, AVX2, no AVX-512) BLAKE3 hashes a 1 MiB chunk about 2× faster than SHA-256, and a 2 GiB
/// export spends ~0.7 s less CPU (`scripts/bench-export.sh`). It stays checkable
/// with a standard tool (`b3sum`).
pub fn chunk_digest(sealed: &[u8]) -> [u8; CHUNK_DIGEST_LEN] {
    *blake3::hash(sealed).as_bytes()
}

/// The fixed-size header of an encrypted file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileHeader {
    /// log2 of the plaintext chunk size.
    pub chunk_log2: u8,
    /// Random per-stream salt for the file key.
    pub salt: [u8; 16],
}

impl FileHeader {
    /// A header with a fresh salt.
    pub fn new(chunk_log2: u8, rng: &mut (impl rand::RngCore + rand::CryptoRng)) -> Self {
        let mut salt = [0u8; 16];
        rng.fill_bytes(&mut salt);
        FileHeader { chunk_log2, salt }
    }

    /// Serialises: magic(8) ‖ chunk_log2(1) ‖ zero(7) ‖ salt(16).
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..8].copy_from_slice(MAGIC);
        b[8] = self.chunk_log2;
        b[16..].copy_from_slice(&self.salt);
        b
    }

    /// Parses and bounds-checks a header.
    pub fn parse(b: &[u8], file: &str) -> Result<Self> {
        let bad = |d: &str| FormatError::Tampered {
            file: file.into(),
            what: format!("header: {d}"),
        };
        if b.len() < HEADER_LEN {
            return Err(bad("shorter than 32 bytes"));
        }
        if &b[..8] != MAGIC {
            return Err(bad("bad magic (not an odt-bundle/v1 encrypted file)"));
        }
        if !CHUNK_LOG2_RANGE.contains(&b[8]) {
            return Err(bad(&format!("chunk size 2^{} is out of range", b[8])));
        }
        if b[9..16].iter().any(|x| *x != 0) {
            return Err(bad("reserved bytes are not zero"));
        }
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&b[16..32]);
        Ok(FileHeader {
            chunk_log2: b[8],
            salt,
        })
    }

    /// Plaintext chunk size in bytes.
    pub fn chunk_size(&self) -> usize {
        1usize << self.chunk_log2
    }
}

/// Geometry of a stream of `plain_size` bytes cut into chunks of `chunk_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Plaintext bytes.
    pub plain_size: u64,
    /// Plaintext chunk size.
    pub chunk_size: u64,
}

impl Geometry {
    /// Number of chunks: at least one (an empty file is one empty final chunk).
    pub fn chunks(&self) -> u64 {
        self.plain_size.div_ceil(self.chunk_size).max(1)
    }
    /// Plaintext length of chunk `i`.
    pub fn plain_len(&self, i: u64) -> u64 {
        if i + 1 < self.chunks() {
            self.chunk_size
        } else {
            self.plain_size - (self.chunks() - 1) * self.chunk_size
        }
    }
    /// Size of the whole encrypted file, header included.
    pub fn encrypted_size(&self) -> u64 {
        HEADER_LEN as u64 + self.chunks() * TAG_LEN as u64 + self.plain_size
    }
    /// [`Geometry::encrypted_size`], or `None` when it does not fit in 64 bits (a hostile
    /// manifest claiming an absurd size).
    pub fn checked_encrypted_size(&self) -> Option<u64> {
        self.chunks()
            .checked_mul(TAG_LEN as u64)?
            .checked_add(HEADER_LEN as u64)?
            .checked_add(self.plain_size)
    }
    /// Offset of chunk `i` in the encrypted file.
    pub fn chunk_offset(&self, i: u64) -> u64 {
        HEADER_LEN as u64 + i * (self.chunk_size + TAG_LEN as u64)
    }
}

/// Why a chunk nonce could not be formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NonceError {
    /// A chunk after the one flagged last: the stream is finished, and sealing more would
    /// make a stream whose end a reader cannot tell.
    #[error("no chunk may follow the last chunk of a stream")]
    AfterLast,
    /// The 64-bit chunk counter would wrap around and reuse a nonce.
    #[error("the chunk counter would overflow")]
    CounterOverflow,
}

/// The nonce of one chunk, as age's STREAM nonce: three zero bytes, the 64-bit big-endian
/// chunk counter, and the last flag. Private so that every nonce is made here, where the two
/// rules that keep a nonce unique under a stream key are enforced: nothing comes after the
/// last chunk, and the counter never wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ChunkNonce {
    counter: u64,
    last: bool,
}

impl ChunkNonce {
    /// The nonce of chunk `index`, not (yet) flagged last.
    fn at(index: u64) -> Self {
        ChunkNonce {
            counter: index,
            last: false,
        }
    }

    /// Flags this chunk as the stream's last.
    fn set_last(&mut self) -> Result<(), NonceError> {
        if self.last {
            return Err(NonceError::AfterLast);
        }
        self.last = true;
        Ok(())
    }

    /// Moves on to the next chunk.
    fn increment(&mut self) -> Result<(), NonceError> {
        if self.last {
            return Err(NonceError::AfterLast);
        }
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or(NonceError::CounterOverflow)?;
        Ok(())
    }

    /// The 12 bytes given to AES-GCM.
    fn to_bytes(self) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[3..11].copy_from_slice(&self.counter.to_be_bytes());
        n[11] = self.last as u8;
        n
    }

    /// The nonce of chunk `index`, flagged last when `last`.
    fn of_chunk(index: u64, last: bool) -> Self {
        let mut n = ChunkNonce::at(index);
        n.last = last;
        n
    }
}

/// Associated data of every chunk of one stream:
/// `SHA-256("odt-bundle/v1 chunk\0" ‖ job_id ‖ u32be(len(name)) ‖ name ‖ header)`.
pub fn chunk_aad(job_id: &[u8; 16], name: &str, header: &FileHeader) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"odt-bundle/v1 chunk\0");
    h.update(job_id);
    h.update((name.len() as u32).to_be_bytes());
    h.update(name.as_bytes());
    h.update(header.to_bytes());
    h.finalize().into()
}

/// Seals and opens the chunks of one stream. Cheap to share between worker threads.
pub struct StreamKey {
    key: LessSafeKey,
    aad: [u8; 32],
}

impl StreamKey {
    /// Derives the key of the stream `name` of job `job_id`.
    pub fn new(data_key: &DataKey, job_id: &[u8; 16], name: &str, header: &FileHeader) -> Self {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(&header.salt), data_key.expose());
        let mut info = b"odt-bundle/v1 file key\0".to_vec();
        info.extend_from_slice(job_id);
        info.extend_from_slice(name.as_bytes());
        let mut k = Zeroizing::new([0u8; 32]);
        hk.expand(&info, k.as_mut()).expect("valid length");
        StreamKey {
            key: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, k.as_ref()).expect("32 bytes")),
            aad: chunk_aad(job_id, name, header),
        }
    }

    /// Encrypts `buf` (chunk `index`) in place and appends the 16-byte tag.
    pub fn seal(&self, index: u64, last: bool, buf: &mut Vec<u8>) {
        let tag: Tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(ChunkNonce::of_chunk(index, last).to_bytes()),
                Aad::from(self.aad),
                buf,
            )
            .expect("chunk sizes are far below the AES-GCM limit");
        buf.extend_from_slice(tag.as_ref());
    }

    /// A sealer for this stream's chunks in order, from chunk 0: the chunk counter is kept
    /// for the caller, and a chunk after the last one is refused.
    pub fn sealer(&self) -> Sealer<'_> {
        Sealer {
            key: self,
            next: Ok(ChunkNonce::at(0)),
        }
    }

    /// Decrypts `buf` (ciphertext ‖ tag of chunk `index`) in place; returns the plaintext length.
    /// `None` means the chunk does not authenticate at this index and position.
    pub fn open(&self, index: u64, last: bool, buf: &mut [u8]) -> Option<usize> {
        self.key
            .open_in_place(
                Nonce::assume_unique_for_key(ChunkNonce::of_chunk(index, last).to_bytes()),
                Aad::from(self.aad),
                buf,
            )
            .ok()
            .map(|p| p.len())
    }
}

/// Seals one stream's chunks in order (see [`StreamKey::sealer`]).
pub struct Sealer<'k> {
    key: &'k StreamKey,
    /// The nonce of the next chunk, or why there is none (the last chunk was sealed, or the
    /// counter is exhausted).
    next: Result<ChunkNonce, NonceError>,
}

impl Sealer<'_> {
    /// Seals `buf` in place as the next chunk (the last one when `last`), appending its tag;
    /// returns the chunk's index.
    ///
    /// # Errors
    ///
    /// [`NonceError::AfterLast`] once a chunk was sealed as last, [`NonceError::CounterOverflow`]
    /// after 2^64 chunks. `buf` is left untouched.
    pub fn seal_next(&mut self, last: bool, buf: &mut Vec<u8>) -> Result<u64, NonceError> {
        let mut nonce = self.next?;
        if last {
            nonce.set_last()?;
        }
        self.key.seal(nonce.counter, nonce.last, buf);
        // The nonce after this one; an error here is the next call's to report.
        let mut after = nonce;
        self.next = after.increment().map(|()| after);
        Ok(nonce.counter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> (StreamKey, FileHeader) {
        let h = FileHeader {
            chunk_log2: 16,
            salt: [5; 16],
        };
        (
            StreamKey::new(&DataKey::from_bytes([1; 32]), &[2; 16], "vm-000/a.vmdk", &h),
            h,
        )
    }

    /// Pins the chunk digest to BLAKE3 itself (known answers from the BLAKE3 reference), so
    /// the writer and verifier cannot drift together to some other function.
    #[test]
    fn chunk_digest_is_plain_blake3() {
        assert_eq!(
            hex::encode(chunk_digest(b"")),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert_eq!(
            hex::encode(chunk_digest(b"abc")),
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
    }

    #[test]
    fn geometry_edges() {
        let g = |n| Geometry {
            plain_size: n,
            chunk_size: 4,
        };
        assert_eq!(g(0).chunks(), 1);
        assert_eq!(g(0).plain_len(0), 0);
        assert_eq!(g(4).chunks(), 1);
        assert_eq!(g(5).chunks(), 2);
        assert_eq!(g(5).plain_len(1), 1);
        assert_eq!(g(5).encrypted_size(), 32 + 32 + 5);
    }

    #[test]
    fn chunks_only_open_at_their_index_and_position() {
        let (k, _) = key();
        let mut c = b"hello".to_vec();
        k.seal(7, false, &mut c);
        assert!(
            k.open(7, true, &mut c.clone()).is_none(),
            "last flag is bound"
        );
        assert!(k.open(8, false, &mut c.clone()).is_none(), "index is bound");
        let (other, _) = {
            let h = FileHeader {
                chunk_log2: 16,
                salt: [5; 16],
            };
            (
                StreamKey::new(&DataKey::from_bytes([1; 32]), &[2; 16], "vm-000/b.vmdk", &h),
                h,
            )
        };
        assert!(
            other.open(7, false, &mut c.clone()).is_none(),
            "file name is bound"
        );
        let n = k.open(7, false, &mut c).unwrap();
        assert_eq!(&c[..n], b"hello");
    }

    #[test]
    fn nonce_layout_is_counter_then_last_flag() {
        let n = ChunkNonce::of_chunk(0x0102_0304_0506_0708, true).to_bytes();
        assert_eq!(n, [0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 1]);
        assert_eq!(ChunkNonce::at(0).to_bytes(), [0; 12]);
    }

    #[test]
    fn nonce_refuses_anything_after_the_last_chunk() {
        let mut n = ChunkNonce::at(5);
        n.increment().unwrap();
        assert_eq!(n.counter, 6);
        n.set_last().unwrap();
        assert_eq!(n.increment(), Err(NonceError::AfterLast));
        assert_eq!(n.set_last(), Err(NonceError::AfterLast));
        let mut top = ChunkNonce::at(u64::MAX);
        assert_eq!(top.increment(), Err(NonceError::CounterOverflow));
        assert_eq!(top.counter, u64::MAX, "a failed increment changes nothing");
    }

    #[test]
    fn sealer_counts_and_stops_at_the_last_chunk() {
        let (k, _) = key();
        let mut s = k.sealer();
        let mut a = b"one".to_vec();
        assert_eq!(s.seal_next(false, &mut a), Ok(0));
        let mut b = b"two".to_vec();
        assert_eq!(s.seal_next(true, &mut b), Ok(1));
        // Same bytes as sealing by index.
        let mut b2 = b"two".to_vec();
        k.seal(1, true, &mut b2);
        assert_eq!(b, b2);
        let mut c = b"three".to_vec();
        assert_eq!(s.seal_next(false, &mut c), Err(NonceError::AfterLast));
        assert_eq!(s.seal_next(true, &mut c), Err(NonceError::AfterLast));
        assert_eq!(c, b"three", "a refused chunk is not sealed");
    }

    #[test]
    fn header_round_trip_and_bounds() {
        let (_, h) = key();
        assert_eq!(FileHeader::parse(&h.to_bytes(), "f").unwrap(), h);
        let mut b = h.to_bytes();
        b[8] = 40;
        assert!(FileHeader::parse(&b, "f").is_err());
        let mut b = h.to_bytes();
        b[0] = b'X';
        assert!(FileHeader::parse(&b, "f").is_err());
    }
}
