//! The export journal (`odt-journal.json` on the NAS): what a rerun of the same command needs
//! to resume an interrupted export.
//!
//! It exists from the moment the job starts until the signed manifest is in place. It holds
//! the job id, the key stanzas, and the data key wrapped under a key derived from the
//! customer's signing key (so only the customer who started the job can resume it, and no
//! passphrase is asked for again). It records which files are finished; how far an
//! unfinished file got is read from the file itself (see `odt_format::io::nasfile`).

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use odt_format::crypto::keys::{DataKey, SigningKey};
use odt_format::crypto::stanza::{open_key, seal_key, Stanza};
use odt_format::io::nasfile::write_atomic;
use odt_format::job::layout::Layout;
use odt_format::job::manifest::FileEntry;
use odt_format::FormatError;
use serde::{Deserialize, Serialize};

/// Journal format identifier.
pub const JOURNAL_FORMAT: &str = "odt-journal/v1";
/// Largest journal read: it lists what the manifest will, so the manifest's limit.
pub const MAX_JOURNAL_BYTES: u64 = odt_format::job::manifest::MAX_MANIFEST_BYTES;

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
}

fn resume_kek(signing: &SigningKey, job_id: &[u8; 16]) -> zeroize::Zeroizing<[u8; 32]> {
    signing.derive_secret(b"odt-bundle/v1 resume key", job_id)
}

const RESUME_AAD: &[u8] = b"odt-bundle/v1 resume";

fn digest_key(key: &DataKey, job_id: &[u8; 16]) -> zeroize::Zeroizing<[u8; 32]> {
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(job_id), key.expose());
    let mut out = zeroize::Zeroizing::new([0u8; 32]);
    hk.expand(b"odt-bundle/v1 journal digests", out.as_mut())
        .expect("valid length");
    out
}

impl Journal {
    /// Wraps `key` for resuming by the holder of `signing`.
    pub fn wrap_resume_key(signing: &SigningKey, job_id: &[u8; 16], key: &DataKey) -> String {
        seal_key(&resume_kek(signing, job_id), RESUME_AAD, key)
    }

    /// Recovers the data key; fails unless `signing` is the key that started the job.
    pub fn resume_key(&self, signing: &SigningKey) -> Result<DataKey> {
        let job_id = self.job_id_bytes()?;
        let key = open_key(&resume_kek(signing, &job_id), RESUME_AAD, &self.resume_key).context(
            "the interrupted job was started with another signing key; use that key to resume it",
        )?;
        if odt_format::crypto::stanza::key_check(&key, &job_id) != self.key_check {
            bail!("the journal's resume key does not match its key check: the journal was altered");
        }
        Ok(key)
    }

    /// Seals `digest` of stream `stream` into the journal (saved by the caller).
    pub fn seal_digest(&mut self, key: &DataKey, stream: &str, digest: &[u8]) -> Result<()> {
        use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
        let k = digest_key(key, &self.job_id_bytes()?);
        let mut nonce = [0u8; 12];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        let mut buf = digest.to_vec();
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, k.as_ref()).expect("32 bytes"))
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(stream.as_bytes()),
                &mut buf,
            )
            .map_err(|_| anyhow::anyhow!("seal a digest"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        self.sealed_digests
            .insert(stream.to_owned(), hex::encode(out));
        Ok(())
    }

    /// Opens the sealed digest of `stream`.
    pub fn open_digest(&self, key: &DataKey, stream: &str) -> Result<Vec<u8>> {
        use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
        let raw = self
            .sealed_digests
            .get(stream)
            .and_then(|h| hex::decode(h).ok())
            .filter(|v| v.len() > 12 + 16)
            .with_context(|| {
                format!("the journal has no digest for {stream}; rerun with --restart")
            })?;
        let k = digest_key(key, &self.job_id_bytes()?);
        let (nonce, ct) = raw.split_at(12);
        let mut buf = ct.to_vec();
        let plain = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, k.as_ref()).expect("32 bytes"))
            .open_in_place(
                Nonce::try_assume_unique_for_key(nonce).expect("12 bytes"),
                Aad::from(stream.as_bytes()),
                &mut buf,
            )
            .map_err(|_| {
                anyhow::anyhow!(
                    "the journal's digest for {stream} was altered; rerun with --restart"
                )
            })?;
        Ok(plain.to_vec())
    }

    /// The job id as bytes.
    pub fn job_id_bytes(&self) -> Result<[u8; 16]> {
        let v = hex::decode(&self.job_id).context("journal job_id is not hex")?;
        v.try_into()
            .map_err(|_| anyhow::anyhow!("journal job_id is not 16 bytes"))
    }

    /// Loads the journal of `layout`, if any: a regular file of at most
    /// [`MAX_JOURNAL_BYTES`] (docs/SECURITY.md §S5).
    pub fn load(layout: &Layout) -> Result<Option<Journal>> {
        let p = layout.journal();
        match odt_format::job::reader::read_bounded(&p, MAX_JOURNAL_BYTES) {
            Ok(b) => {
                let j: Journal = serde_json::from_slice(&b).with_context(|| {
                    format!(
                        "{} is not a valid odt journal; remove it (and data/) to start over",
                        p.display()
                    )
                })?;
                if j.format != JOURNAL_FORMAT {
                    bail!(
                        "{}: journal format {:?} is not {JOURNAL_FORMAT}",
                        p.display(),
                        j.format
                    );
                }
                Ok(Some(j))
            }
            Err(FormatError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(None)
            }
            Err(e) => Err(e).context("read the export journal"),
        }
    }

    /// Writes the journal atomically.
    pub fn save(&self, layout: &Layout) -> Result<()> {
        let mut b = serde_json::to_vec_pretty(self).expect("serialises");
        b.push(b'\n');
        write_atomic(&layout.journal(), &b).context("save the export journal")
    }
}
