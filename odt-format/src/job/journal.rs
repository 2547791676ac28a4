//! The export journal (`odt-journal.json` on the NAS, docs/FORMAT.md §9): what a rerun of the
//! same command needs to resume an interrupted export.
//!
//! It exists from the moment the job starts until the signed manifest is in place. It holds
//! the job id, the key stanzas, and the data key wrapped under a key derived from the
//! customer's signing key (so only the customer who started the job can resume it, and no
//! passphrase is asked for again). It records which files are finished; how far an
//! unfinished file got is read from the file itself (see [`crate::io::nasfile`]).
//!
//! The domain strings of its key derivations are FORMAT.md's, so they live here and nowhere
//! else.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use sha2::{Digest, Sha256};

use crate::crypto::keys::{DataKey, Recipient, SigningKey};
use crate::crypto::stanza::{key_check, open_key, seal_key, Stanza};
use crate::io::nasfile::write_atomic;
use crate::job::layout::Layout;
use crate::job::manifest::{FileEntry, Target};
use crate::FormatError;

/// Journal format identifier.
pub const JOURNAL_FORMAT: &str = "odt-journal/v1";
/// Largest journal read: it lists what the manifest will, so the manifest's limit.
pub const MAX_JOURNAL_BYTES: u64 = crate::job::manifest::MAX_MANIFEST_BYTES;
/// HKDF info of the key that wraps the resume key, from the signing key's seed (§9).
pub const RESUME_KEY_INFO: &[u8] = b"odt-bundle/v1 resume key";
/// AAD of the wrapped resume key.
pub const RESUME_AAD: &[u8] = b"odt-bundle/v1 resume";
/// HKDF info of the key that seals plaintext digests in the journal, from the data key (§9).
pub const DIGEST_KEY_INFO: &[u8] = b"odt-bundle/v1 journal digests";

/// What can go wrong with the journal. The texts say what the operator can do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The journal could not be read.
    #[error("read the export journal")]
    Read(#[source] FormatError),
    /// The journal is not JSON of this schema.
    #[error("{} is not a valid odt journal; remove it (and data/) to start over", path.display())]
    Invalid {
        /// The journal.
        path: PathBuf,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// Another journal format.
    #[error("{}: journal format {found:?} is not {JOURNAL_FORMAT}", path.display())]
    Format {
        /// The journal.
        path: PathBuf,
        /// Its `format`.
        found: String,
    },
    /// The journal could not be written.
    #[error("save the export journal")]
    Save(#[source] FormatError),
    /// `job_id` is not hex.
    #[error("journal job_id is not hex")]
    JobIdHex(#[source] hex::FromHexError),
    /// `job_id` is not 16 bytes.
    #[error("journal job_id is not 16 bytes")]
    JobIdLen,
    /// The resume key does not open with this signing key.
    #[error("the interrupted job was started with another signing key; use that key to resume it")]
    OtherSigner,
    /// The resume key opens but is not the job's key.
    #[error("the journal's resume key does not match its key check: the journal was altered")]
    KeyCheck,
    /// Sealing a digest failed.
    #[error("seal a digest")]
    Seal,
    /// No sealed digest for a stream.
    #[error("the journal has no digest for {0}; rerun with --restart")]
    NoDigest(String),
    /// A sealed digest does not open.
    #[error("the journal's digest for {0} was altered; rerun with --restart")]
    DigestAltered(String),
}

/// The journal's content.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    /// Always [`JOURNAL_FORMAT`].
    pub format: String,
    /// Hex job id.
    pub job_id: String,
    /// Digest of the sources, targets and key choices: a rerun must match it.
    pub plan_digest: String,
    /// The signer's key id.
    pub signer_key_id: String,
    /// Chunk size (log2) for new streams.
    pub chunk_log2: u8,
    /// The job's key check.
    pub key_check: String,
    /// The key stanzas made when the job started.
    pub stanzas: Vec<Stanza>,
    /// The data key wrapped under a secret derived from the signing key.
    pub resume_key: String,
    /// Seconds Argon2id took when the job started (for the report).
    pub kdf_seconds: f64,
    /// Finished files, by stream name `vm-NNN/NAME`.
    pub done: BTreeMap<String, FileEntry>,
    /// Plaintext SHA-256 of finished files that cannot be read again cheaply (disks
    /// downloaded from a vCenter), sealed under a key derived from the data key: the `.mf`
    /// written at the end needs them, and plaintext digests must never lie on the NAS in the
    /// clear.
    #[serde(default)]
    pub sealed_digests: BTreeMap<String, String>,
    /// A job over several NAS units: the units' ids and what goes where, decided before
    /// anything was written, so a rerun puts every file where the first run began it.
    /// Absent for a job on one NAS (whose journal keeps the bytes it had).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<JournalUnits>,
}

/// Where the files of a job over several NAS units go (docs/FORMAT.md §9).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalUnits {
    /// Each unit's id (its index's `unit_id`), unit 1 first; unit 1 holds this journal.
    pub unit_ids: Vec<String>,
    /// The unit (from 1) of each VM (`vm-NNN`: all its files) or, for a VM split over
    /// units, of each file (`vm-NNN/NAME`). Anything not listed goes to unit 1.
    pub placement: BTreeMap<String, u32>,
}

impl JournalUnits {
    /// The unit (from 1) that holds stream `dir/name`.
    pub fn unit_of(&self, dir: &str, name: &str) -> u32 {
        let stream = crate::job::layout::stream_name(dir, name);
        self.placement
            .get(&stream)
            .or_else(|| self.placement.get(dir))
            .copied()
            .unwrap_or(1)
    }
}

fn resume_kek(signing: &SigningKey, job_id: &[u8; 16]) -> Zeroizing<[u8; 32]> {
    signing.derive_secret(RESUME_KEY_INFO, job_id)
}

fn digest_key(key: &DataKey, job_id: &[u8; 16]) -> LessSafeKey {
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(job_id), key.expose());
    let mut out = Zeroizing::new([0u8; 32]);
    hk.expand(DIGEST_KEY_INFO, out.as_mut())
        .expect("valid length");
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, out.as_ref()).expect("32 bytes"))
}

/// The journal's `plan_digest`: what identifies "the same command", from each source's
/// identity (what it is and what is in it) and target, and the key choices (a passphrase or
/// not, the recipients' key ids). A rerun whose digest differs is another job.
pub fn plan_digest<'a>(
    sources: impl IntoIterator<Item = (serde_json::Value, &'a Target)>,
    use_passphrase: bool,
    recipients: &[Recipient],
) -> String {
    let mut h = Sha256::new();
    for (identity, target) in sources {
        h.update(serde_json::to_vec(&(identity, target)).expect("serialises"));
    }
    let recipients: Vec<String> = recipients.iter().map(Recipient::key_id).collect();
    h.update(serde_json::to_vec(&(use_passphrase, recipients)).expect("serialises"));
    hex::encode(h.finalize())
}

impl Journal {
    /// Wraps `key` for resuming by the holder of `signing`.
    pub fn wrap_resume_key(signing: &SigningKey, job_id: &[u8; 16], key: &DataKey) -> String {
        seal_key(&resume_kek(signing, job_id), RESUME_AAD, key)
    }

    /// Recovers the data key; fails unless `signing` is the key that started the job.
    pub fn resume_key(&self, signing: &SigningKey) -> Result<DataKey, JournalError> {
        let job_id = self.job_id_bytes()?;
        let key = open_key(&resume_kek(signing, &job_id), RESUME_AAD, &self.resume_key)
            .ok_or(JournalError::OtherSigner)?;
        if key_check(&key, &job_id) != self.key_check {
            return Err(JournalError::KeyCheck);
        }
        Ok(key)
    }

    /// Seals `digest` of stream `stream` into the journal (saved by the caller).
    pub fn seal_digest(
        &mut self,
        key: &DataKey,
        stream: &str,
        digest: &[u8],
    ) -> Result<(), JournalError> {
        let k = digest_key(key, &self.job_id_bytes()?);
        let mut nonce = [0u8; 12];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        let mut buf = digest.to_vec();
        k.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(stream.as_bytes()),
            &mut buf,
        )
        .map_err(|_| JournalError::Seal)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        self.sealed_digests
            .insert(stream.to_owned(), hex::encode(out));
        Ok(())
    }

    /// Opens the sealed digest of `stream`.
    pub fn open_digest(&self, key: &DataKey, stream: &str) -> Result<Vec<u8>, JournalError> {
        let raw = self
            .sealed_digests
            .get(stream)
            .and_then(|h| hex::decode(h).ok())
            .filter(|v| v.len() > 12 + 16)
            .ok_or_else(|| JournalError::NoDigest(stream.to_owned()))?;
        let k = digest_key(key, &self.job_id_bytes()?);
        let (nonce, ct) = raw.split_at(12);
        let mut buf = ct.to_vec();
        let plain = k
            .open_in_place(
                Nonce::try_assume_unique_for_key(nonce).expect("12 bytes"),
                Aad::from(stream.as_bytes()),
                &mut buf,
            )
            .map_err(|_| JournalError::DigestAltered(stream.to_owned()))?;
        Ok(plain.to_vec())
    }

    /// The job id as bytes.
    pub fn job_id_bytes(&self) -> Result<[u8; 16], JournalError> {
        let v = hex::decode(&self.job_id).map_err(JournalError::JobIdHex)?;
        v.try_into().map_err(|_| JournalError::JobIdLen)
    }

    /// Loads the journal of `layout`, if any: a regular file of at most
    /// [`MAX_JOURNAL_BYTES`] (docs/SECURITY.md §S5).
    pub fn load(layout: &Layout) -> Result<Option<Journal>, JournalError> {
        let path = layout.journal();
        let b = match crate::job::reader::read_bounded(&path, MAX_JOURNAL_BYTES) {
            Ok(b) => b,
            Err(FormatError::Io { cause: source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(None)
            }
            Err(e) => return Err(JournalError::Read(e)),
        };
        let j: Journal = serde_json::from_slice(&b).map_err(|source| JournalError::Invalid {
            path: path.clone(),
            source,
        })?;
        if j.format != JOURNAL_FORMAT {
            return Err(JournalError::Format {
                path,
                found: j.format,
            });
        }
        Ok(Some(j))
    }

    /// Writes the journal atomically.
    pub fn save(&self, layout: &Layout) -> Result<(), JournalError> {
        let mut b = serde_json::to_vec_pretty(self).expect("serialises");
        b.push(b'\n');
        write_atomic(&layout.journal(), &b).map_err(JournalError::Save)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal(signing: &SigningKey, key: &DataKey) -> Journal {
        let job_id = [7u8; 16];
        Journal {
            format: JOURNAL_FORMAT.to_owned(),
            job_id: hex::encode(job_id),
            plan_digest: String::new(),
            signer_key_id: signing.verifying_key().key_id(),
            chunk_log2: 20,
            key_check: key_check(key, &job_id),
            stanzas: vec![],
            resume_key: Journal::wrap_resume_key(signing, &job_id, key),
            kdf_seconds: 0.0,
            done: BTreeMap::new(),
            sealed_digests: BTreeMap::new(),
            units: None,
        }
    }

    /// Only the signing key that started a job resumes it; a sealed digest opens only for its
    /// own stream.
    #[test]
    fn resume_key_and_sealed_digests() {
        let mut rng = rand::rngs::OsRng;
        let (signing, other) = (
            SigningKey::generate(&mut rng),
            SigningKey::generate(&mut rng),
        );
        let key = DataKey::generate(&mut rng);
        let mut j = journal(&signing, &key);
        assert_eq!(j.resume_key(&signing).unwrap().expose(), key.expose());
        assert!(matches!(
            j.resume_key(&other),
            Err(JournalError::OtherSigner)
        ));
        j.seal_digest(&key, "vm-000/a", b"digest").unwrap();
        assert_eq!(j.open_digest(&key, "vm-000/a").unwrap(), b"digest");
        let sealed = j.sealed_digests.remove("vm-000/a").unwrap();
        j.sealed_digests.insert("vm-000/b".into(), sealed);
        assert!(matches!(
            j.open_digest(&key, "vm-000/b"),
            Err(JournalError::DigestAltered(_))
        ));
        assert!(matches!(
            j.open_digest(&key, "vm-000/a"),
            Err(JournalError::NoDigest(_))
        ));
    }

    #[test]
    fn load_save_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        assert!(Journal::load(&layout).unwrap().is_none());
        let mut rng = rand::rngs::OsRng;
        let signing = SigningKey::generate(&mut rng);
        let j = journal(&signing, &DataKey::generate(&mut rng));
        j.save(&layout).unwrap();
        assert_eq!(Journal::load(&layout).unwrap().unwrap().job_id, j.job_id);
        std::fs::write(layout.journal(), b"{}").unwrap();
        assert!(matches!(
            Journal::load(&layout),
            Err(JournalError::Invalid { .. })
        ));
    }
}
