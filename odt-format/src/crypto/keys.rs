//! Key material and the text files that hold it.
//!
//! Four kinds of key file, each one line `PREFIX:BASE64` (lines starting with `#` are
//! comments), so a truncated or swapped file is recognised by its prefix:
//!
//! | file                  | prefix                  | bytes |
//! |-----------------------|-------------------------|-------|
//! | customer signing key  | `odt-sign-secret-v1`    | 32 (Ed25519 seed) |
//! | customer public key   | `odt-sign-public-v1`    | 32 |
//! | provider identity     | `odt-x25519-secret-v1`  | 32 |
//! | provider recipient    | `odt-x25519-public-v1`  | 32 |
//!
//! Secrets live in types that zeroize on drop, and secret files are created mode 0600 and
//! never overwritten.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::Signer;
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{FormatError, IoContext, Result};

/// Prefix of a customer signing (secret) key file.
pub const SIGN_SECRET_PREFIX: &str = "odt-sign-secret-v1";
/// Prefix of a customer public (verifying) key file.
pub const SIGN_PUBLIC_PREFIX: &str = "odt-sign-public-v1";
/// Prefix of a provider X25519 identity (secret) file.
pub const X25519_SECRET_PREFIX: &str = "odt-x25519-secret-v1";
/// Prefix of a provider X25519 recipient (public) file.
pub const X25519_PUBLIC_PREFIX: &str = "odt-x25519-public-v1";

/// Every key file prefix odt writes.
const ALL_PREFIXES: [&str; 4] = [
    SIGN_SECRET_PREFIX,
    SIGN_PUBLIC_PREFIX,
    X25519_SECRET_PREFIX,
    X25519_PUBLIC_PREFIX,
];

/// Why a secret file (a secret key, a passphrase or password file) at `path` with metadata `m`
/// must not be used, or `None`: like ssh, odt refuses one that group or others may read, write
/// or run (`mode & 0o077`). The text follows the file's name: "is readable by others (mode
/// 0644): run `chmod 600 PATH`" (docs/SECURITY.md §S7).
pub fn private_file_problem(path: &Path, m: &std::fs::Metadata) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = m.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        return None;
    }
    let how = if mode & 0o044 != 0 {
        "readable"
    } else if mode & 0o022 != 0 {
        "writable"
    } else {
        "accessible"
    };
    Some(format!(
        "is {how} by others (mode {mode:04o}): run `chmod 600 {}`",
        path.display()
    ))
}

/// The random per-job data key. Everything in a bundle is encrypted under keys derived from it.
///
/// It MUST be fresh for every job and MUST NOT be written anywhere in the clear.
#[derive(Clone, zeroize::ZeroizeOnDrop)]
pub struct DataKey([u8; 32]);

impl DataKey {
    /// A fresh random key.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut k = [0u8; 32];
        rng.fill_bytes(&mut k);
        DataKey(k)
    }
    /// Wraps raw bytes (from an unwrapped stanza).
    pub fn from_bytes(b: [u8; 32]) -> Self {
        DataKey(b)
    }
    /// The raw key; callers must not copy it into long-lived buffers.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// Short identifier of a public key: the first 8 bytes of its SHA-256, in hex.
pub fn key_id(public: &[u8; 32]) -> String {
    hex::encode(&Sha256::digest(public)[..8])
}

/// The customer's Ed25519 signing key.
pub struct SigningKey(ed25519_dalek::SigningKey);

/// The customer's Ed25519 public key, trusted by the provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyingKey(ed25519_dalek::VerifyingKey);

impl SigningKey {
    /// A fresh key.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        SigningKey(ed25519_dalek::SigningKey::generate(rng))
    }
    /// From a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(seed))
    }
    /// The 32-byte seed (secret: for writing the key file only).
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
    /// The matching public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(self.0.verifying_key())
    }
    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.0.sign(msg).to_bytes()
    }
    /// A 32-byte secret derived from the seed for `purpose`; used to wrap the resume key.
    pub fn derive_secret(&self, purpose: &[u8], salt: &[u8]) -> Zeroizing<[u8; 32]> {
        let seed = Zeroizing::new(self.0.to_bytes());
        let hk = hkdf::Hkdf::<Sha256>::new(Some(salt), seed.as_ref());
        let mut out = Zeroizing::new([0u8; 32]);
        hk.expand(purpose, out.as_mut())
            .expect("32 bytes is a valid HKDF length");
        out
    }
    /// Reads a signing key file (private: see [`private_file_problem`]).
    pub fn read(path: &Path) -> Result<Self> {
        let seed = read_key_file(path, SIGN_SECRET_PREFIX, true)?;
        Ok(SigningKey::from_seed(&seed))
    }
}

impl VerifyingKey {
    /// From raw bytes.
    pub fn from_bytes(b: &[u8; 32]) -> Result<Self> {
        ed25519_dalek::VerifyingKey::from_bytes(b)
            .map(VerifyingKey)
            .map_err(|e| FormatError::malformed("public key", e.to_string()))
    }
    /// Raw bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
    /// See [`key_id`].
    pub fn key_id(&self) -> String {
        key_id(&self.to_bytes())
    }
    /// Strict Ed25519 verification (rejects malleable and small-order forms).
    pub fn verify(&self, msg: &[u8], sig: &[u8; 64]) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(sig);
        self.0.verify_strict(msg, &sig).is_ok()
    }
    /// Reads a public key file.
    pub fn read(path: &Path) -> Result<Self> {
        let b = read_key_file(path, SIGN_PUBLIC_PREFIX, false)?;
        VerifyingKey::from_bytes(&b).map_err(|e| FormatError::KeyFile {
            path: path.to_owned(),
            detail: e.to_string(),
        })
    }
}

/// The provider's X25519 secret key ("identity").
pub struct Identity(x25519_dalek::StaticSecret);

/// The provider's X25519 public key ("recipient").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recipient(pub [u8; 32]);

impl Identity {
    /// A fresh identity.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        Identity(x25519_dalek::StaticSecret::random_from_rng(rng))
    }
    /// From raw bytes.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Identity(x25519_dalek::StaticSecret::from(b))
    }
    /// The secret bytes (for writing the key file only).
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
    /// The matching recipient.
    pub fn recipient(&self) -> Recipient {
        Recipient(x25519_dalek::PublicKey::from(&self.0).to_bytes())
    }
    /// X25519 with `their`.
    pub(crate) fn diffie_hellman(&self, their: &[u8; 32]) -> Zeroizing<[u8; 32]> {
        let pk = x25519_dalek::PublicKey::from(*their);
        Zeroizing::new(self.0.diffie_hellman(&pk).to_bytes())
    }
    /// Reads an identity file (private: see [`private_file_problem`]).
    pub fn read(path: &Path) -> Result<Self> {
        let b = read_key_file(path, X25519_SECRET_PREFIX, true)?;
        Ok(Identity::from_bytes(*b))
    }
}

impl Recipient {
    /// Reads a recipient file.
    pub fn read(path: &Path) -> Result<Self> {
        let b = read_key_file(path, X25519_PUBLIC_PREFIX, false)?;
        Ok(Recipient(*b))
    }
    /// See [`key_id`].
    pub fn key_id(&self) -> String {
        key_id(&self.0)
    }
}

/// Parses a key file's text, returning its 32 bytes.
pub fn parse_key_text(
    text: &str,
    prefix: &str,
) -> std::result::Result<Zeroizing<[u8; 32]>, String> {
    let mut found = None;
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if found.is_some() {
            return Err("more than one key line".into());
        }
        found = Some(line);
    }
    let line = found.ok_or("no key line found")?;
    // Nothing of the file is quoted unless it is one of odt's own prefixes: a wrong file may
    // hold a secret (a passphrase, another tool's key), and errors are shown and logged.
    let not_odt = || format!("not an odt key file: a `{prefix}:…` line is needed here");
    let (p, body) = line.split_once(':').ok_or_else(not_odt)?;
    if p != prefix {
        return Err(match ALL_PREFIXES.iter().find(|&&k| k == p) {
            Some(k) => format!("this is a `{k}` key, but a `{prefix}` key is needed here"),
            None => not_odt(),
        });
    }
    let mut raw = Zeroizing::new(B64.decode(body).map_err(|_| "key is not valid base64")?);
    if raw.len() != 32 {
        return Err(format!("key has {} bytes, expected 32", raw.len()));
    }
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&raw);
    raw.zeroize();
    Ok(out)
}

/// Largest key file read (a real one is about 150 bytes).
const MAX_KEY_FILE_BYTES: u64 = 4096;

fn read_key_file(path: &Path, prefix: &str, secret: bool) -> Result<Zeroizing<[u8; 32]>> {
    let key_file = |detail: &str| FormatError::KeyFile {
        path: path.into(),
        detail: detail.into(),
    };
    // A regular file only (a FIFO would block), and never more than the limit read.
    let f = crate::job::reader::open_regular(path)?;
    let meta = f.metadata().ctx("read key file", path)?;
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(key_file("file is too large to be a key"));
    }
    // Room for all of it up front: no reallocation leaves copies of a secret behind.
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_KEY_FILE_BYTES as usize + 1));
    f.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .ctx("read key file", path)?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(key_file("file is too large to be a key"));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| key_file("not a text file"))?;
    if secret {
        // A public key given for a secret one is the common slip (KEY.pub for KEY); its mode
        // is 0644 by design, so say what it is rather than "others may read it".
        if let Some(detail) = public_for_secret(path, text) {
            return Err(key_file(&detail));
        }
        // Checked on the open file: what was read is what was checked.
        if let Some(why) = private_file_problem(path, &meta) {
            return Err(FormatError::KeyFile {
                path: path.into(),
                detail: why,
            });
        }
    }
    parse_key_text(text, prefix).map_err(|detail| FormatError::KeyFile {
        path: path.into(),
        detail,
    })
}

/// When `text` is an odt public key file, what to say: it is the public half, and where the
/// secret half usually is (`KEY` beside `KEY.pub`, as `keygen` writes them), so the message
/// names both files.
fn public_for_secret(path: &Path, text: &str) -> Option<String> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    let (prefix, _) = line.split_once(':')?;
    if prefix != SIGN_PUBLIC_PREFIX && prefix != X25519_PUBLIC_PREFIX {
        return None;
    }
    let shown = path.display().to_string();
    Some(match shown.strip_suffix(".pub") {
        Some(secret) => format!(
            "this is a public key (`{prefix}`), but a secret key is needed here: give {secret} \
             (the secret key keygen wrote beside {shown})"
        ),
        None => format!(
            "this is a public key (`{prefix}`), but a secret key is needed here: give the \
             secret key keygen wrote with it (KEY beside KEY.pub)"
        ),
    })
}

/// Formats a key line.
pub fn key_line(prefix: &str, bytes: &[u8; 32]) -> Zeroizing<String> {
    Zeroizing::new(format!("{prefix}:{}\n", B64.encode(bytes)))
}

/// Writes a new key pair: `path` (secret, mode 0600, created exclusively) and `path.pub`.
///
/// Refuses to overwrite either file, so an existing key is never lost.
pub fn write_key_pair(
    path: &Path,
    secret_prefix: &str,
    secret: &[u8; 32],
    public_prefix: &str,
    public: &[u8; 32],
    comment: &str,
) -> Result<PathBuf> {
    let pub_path = pub_path(path);
    for p in [path, pub_path.as_path()] {
        if p.exists() {
            return Err(FormatError::KeyFile {
                path: p.into(),
                detail: "already exists; refusing to overwrite a key (choose another --out)".into(),
            });
        }
    }
    let mut text = Zeroizing::new(format!(
        "# {comment}\n# public key id: {}\n",
        key_id(public)
    ));
    text.push_str(&key_line(secret_prefix, secret));
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).ctx("create key file", path)?;
    f.write_all(text.as_bytes()).ctx("write key file", path)?;
    f.sync_all().ctx("sync key file", path)?;
    let pub_text = format!(
        "# {comment}\n# key id: {}\n{}",
        key_id(public),
        *key_line(public_prefix, public)
    );
    let mut pf = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&pub_path)
        .ctx("create", &pub_path)?;
    pf.write_all(pub_text.as_bytes()).ctx("write", &pub_path)?;
    pf.sync_all().ctx("sync", &pub_path)?;
    Ok(pub_path)
}

/// `KEY` → `KEY.pub`.
pub fn pub_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_text_round_trip_and_prefix_check() {
        let k = [9u8; 32];
        let line = key_line(SIGN_PUBLIC_PREFIX, &k);
        assert_eq!(*parse_key_text(&line, SIGN_PUBLIC_PREFIX).unwrap(), k);
        let err = parse_key_text(&line, SIGN_SECRET_PREFIX).unwrap_err();
        assert!(err.contains("odt-sign-public-v1"), "{err}");
        assert!(parse_key_text("# only a comment\n", SIGN_PUBLIC_PREFIX).is_err());
        assert!(parse_key_text("odt-sign-public-v1:AAAA\n", SIGN_PUBLIC_PREFIX).is_err());
    }

    /// docs/SECURITY.md §S7: key-file errors never echo contents. Only odt's own prefixes
    /// are named; anything else in a wrong file (a passphrase, another tool's key) is not.
    #[test]
    fn errors_quote_nothing_but_odt_prefixes() {
        for text in [
            "hunter2:correct-horse\n",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI:comment\n",
            "-----BEGIN OPENSSH PRIVATE KEY-----\n",
            "odt-sign-secret-v2:AAAA\n",
        ] {
            let e = parse_key_text(text, SIGN_PUBLIC_PREFIX).unwrap_err();
            let first = text.split([':', '\n']).next().unwrap();
            assert!(!e.contains(first), "{e}");
            assert!(e.contains("not an odt key file"), "{e}");
        }
        let secret = key_line(SIGN_SECRET_PREFIX, &[7; 32]);
        let e = parse_key_text(&secret, SIGN_PUBLIC_PREFIX).unwrap_err();
        assert!(e.contains("`odt-sign-secret-v1` key"), "{e}");
        assert!(!e.contains(secret.trim().split_once(':').unwrap().1), "{e}");
    }

    /// docs/SECURITY.md §S7: secret files must be 0600-ish like ssh; public keys stay readable.
    #[test]
    fn secret_key_files_open_to_others_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        let sk = SigningKey::generate(&mut rand::rngs::OsRng);
        let vk = sk.verifying_key().to_bytes();
        write_key_pair(
            &p,
            SIGN_SECRET_PREFIX,
            &sk.seed(),
            SIGN_PUBLIC_PREFIX,
            &vk,
            "t",
        )
        .unwrap();
        let chmod = |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
        for mode in [0o600, 0o400, 0o700] {
            chmod(&p, mode).unwrap();
            SigningKey::read(&p).unwrap();
        }
        for (mode, how) in [
            (0o644, "readable"),
            (0o640, "readable"),
            (0o604, "readable"),
            (0o620, "writable"),
            (0o610, "accessible"),
        ] {
            chmod(&p, mode).unwrap();
            let e = SigningKey::read(&p).err().expect("refused").to_string();
            let want = format!(
                "is {how} by others (mode 0{mode:o}): run `chmod 600 {}`",
                p.display()
            );
            assert!(e.contains(&want), "{e}");
        }
        chmod(&pub_path(&p), 0o644).unwrap();
        VerifyingKey::read(&pub_path(&p)).unwrap();
        let id = dir.path().join("id");
        let i = Identity::generate(&mut rand::rngs::OsRng);
        let r = i.recipient().0;
        write_key_pair(
            &id,
            X25519_SECRET_PREFIX,
            &i.secret_bytes(),
            X25519_PUBLIC_PREFIX,
            &r,
            "t",
        )
        .unwrap();
        chmod(&id, 0o640).unwrap();
        assert!(Identity::read(&id).is_err());
        Recipient::read(&pub_path(&id)).unwrap();
    }

    #[test]
    fn key_pair_files_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        let sk = SigningKey::generate(&mut rand::rngs::OsRng);
        let seed = sk.0.to_bytes();
        let vk = sk.verifying_key().to_bytes();
        write_key_pair(
            &p,
            SIGN_SECRET_PREFIX,
            &seed,
            SIGN_PUBLIC_PREFIX,
            &vk,
            "test",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let again = write_key_pair(
            &p,
            SIGN_SECRET_PREFIX,
            &seed,
            SIGN_PUBLIC_PREFIX,
            &vk,
            "test",
        );
        assert!(again.is_err());
        let back = SigningKey::read(&p).unwrap();
        assert_eq!(
            back.verifying_key(),
            VerifyingKey::read(&pub_path(&p)).unwrap()
        );
        let sig = back.sign(b"m");
        assert!(back.verifying_key().verify(b"m", &sig));
        assert!(!back.verifying_key().verify(b"n", &sig));
    }
}
