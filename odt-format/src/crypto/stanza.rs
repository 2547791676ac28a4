//! Wrapping the per-job [`DataKey`] for the people allowed to open the bundle.
//!
//! Each stanza holds the data key encrypted under a key-encryption key (KEK) that only its
//! holder can rebuild: an Argon2id hash of the passphrase, or an X25519 agreement with the
//! provider's identity. The KEK is unique per stanza (random salt / ephemeral key), so the
//! AES-256-GCM wrap uses a fixed all-zero nonce safely. The job's key check (see
//! [`key_check`]) commits to the data key, so a stanza that unwraps to some other key under a
//! crafted KEK is still rejected.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::{CryptoRng, RngCore};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::crypto::keys::{DataKey, Identity, Recipient};
use crate::error::{FormatError, Result};

/// Argon2id cost parameters, stored in the stanza.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl KdfParams {
    /// The smallest memory accepted (OWASP's minimum, 19 MiB).
    pub const MIN_MEMORY_KIB: u32 = 19 * 1024;
    /// The largest memory accepted (4 GiB): a hostile bundle cannot make us allocate more.
    pub const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;
    /// Most passes accepted.
    pub const MAX_ITERATIONS: u32 = 16;
    /// Most lanes accepted.
    pub const MAX_PARALLELISM: u32 = 16;

    /// The default for new jobs: 1 GiB, 3 passes, 4 lanes. The NAS travels and can be attacked
    /// offline for as long as the attacker likes, so this is well above RFC 9106's low-memory
    /// option; it is paid once per job (and once per unlock), never per byte.
    pub const DEFAULT: KdfParams = KdfParams {
        memory_kib: 1024 * 1024,
        iterations: 3,
        parallelism: 4,
    };

    /// Checks the bounds; every reader calls this before doing any work.
    pub fn check(&self) -> Result<()> {
        let ok = (Self::MIN_MEMORY_KIB..=Self::MAX_MEMORY_KIB).contains(&self.memory_kib)
            && (1..=Self::MAX_ITERATIONS).contains(&self.iterations)
            && (1..=Self::MAX_PARALLELISM).contains(&self.parallelism)
            && self.memory_kib >= 8 * self.parallelism;
        if ok {
            Ok(())
        } else {
            Err(FormatError::Bounds(format!(
                "argon2id parameters m={} KiB t={} p={} are outside the accepted bounds \
                 (m {}..={} KiB, t 1..={}, p 1..={})",
                self.memory_kib,
                self.iterations,
                self.parallelism,
                Self::MIN_MEMORY_KIB,
                Self::MAX_MEMORY_KIB,
                Self::MAX_ITERATIONS,
                Self::MAX_PARALLELISM
            )))
        }
    }

    /// Derives a 32-byte KEK from `passphrase` and `salt`.
    pub fn derive(&self, passphrase: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        self.check()?;
        let params =
            argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
                .map_err(|e| FormatError::Bounds(format!("argon2id parameters: {e}")))?;
        let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = Zeroizing::new([0u8; 32]);
        a.hash_password_into(passphrase, salt, out.as_mut())
            .map_err(|e| FormatError::Bounds(format!("argon2id: {e}")))?;
        Ok(out)
    }
}

/// One wrapped copy of the data key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Stanza {
    /// Passphrase: KEK = Argon2id(passphrase, salt, params).
    Argon2id {
        /// 16 random bytes, base64.
        salt: String,
        /// Cost parameters.
        #[serde(flatten)]
        params: KdfParams,
        /// AES-256-GCM(KEK, zero nonce, aad, data key): 48 bytes, base64.
        wrapped_key: String,
    },
    /// Provider's X25519 public key: KEK = HKDF(X25519(eph, recipient), eph ‖ recipient).
    X25519 {
        /// Key id of the recipient (informational: lets an importer pick its stanza).
        recipient_id: String,
        /// The ephemeral public key, base64.
        ephemeral: String,
        /// AES-256-GCM(KEK, zero nonce, aad, data key): 48 bytes, base64.
        wrapped_key: String,
    },
}

/// The secret an importer or a deep verifier brings.
pub enum Unlock<'a> {
    /// A bundle passphrase.
    Passphrase(&'a [u8]),
    /// The provider's X25519 identity.
    Identity(&'a Identity),
}

/// AAD of a stanza wrap: binds the stanza type and the job.
fn wrap_aad(kind: &str, job_id: &[u8; 16]) -> Vec<u8> {
    let mut aad = format!("odt-bundle/v1 stanza {kind}\0").into_bytes();
    aad.extend_from_slice(job_id);
    aad
}

/// Wraps `key` under `kek` (which MUST be used for this one wrap only): base64 of 48 bytes.
pub fn seal_key(kek: &[u8; 32], aad: &[u8], key: &DataKey) -> String {
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, kek).expect("32-byte key"));
    let mut buf = Zeroizing::new(key.expose().to_vec());
    k.seal_in_place_append_tag(
        Nonce::assume_unique_for_key([0; 12]),
        Aad::from(aad),
        &mut *buf,
    )
    .expect("in-memory seal cannot fail");
    B64.encode(&*buf)
}

/// Opens a [`seal_key`] wrap; `None` if the KEK or AAD is wrong or the wrap was altered.
pub fn open_key(kek: &[u8; 32], aad: &[u8], wrapped_b64: &str) -> Option<DataKey> {
    let mut buf = Zeroizing::new(B64.decode(wrapped_b64).ok()?);
    if buf.len() != 48 {
        return None;
    }
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, kek).expect("32-byte key"));
    let plain = k
        .open_in_place(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::from(aad),
            &mut buf,
        )
        .ok()?;
    let mut out = [0u8; 32];
    out.copy_from_slice(plain);
    Some(DataKey::from_bytes(out))
}

fn x25519_kek(shared: &[u8; 32], eph: &[u8; 32], recipient: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(eph);
    salt[32..].copy_from_slice(recipient);
    let hk = hkdf::Hkdf::<Sha256>::new(Some(&salt), shared);
    let mut out = Zeroizing::new([0u8; 32]);
    hk.expand(b"odt-bundle/v1 x25519", out.as_mut())
        .expect("valid length");
    out
}

impl Stanza {
    /// Wraps `key` under `passphrase`. Returns the stanza and the time Argon2id took.
    pub fn passphrase(
        key: &DataKey,
        job_id: &[u8; 16],
        passphrase: &[u8],
        params: KdfParams,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(Stanza, Duration)> {
        let mut salt = [0u8; 16];
        rng.fill_bytes(&mut salt);
        let t = Instant::now();
        let kek = params.derive(passphrase, &salt)?;
        let took = t.elapsed();
        let wrapped_key = seal_key(&kek, &wrap_aad("argon2id", job_id), key);
        Ok((
            Stanza::Argon2id {
                salt: B64.encode(salt),
                params,
                wrapped_key,
            },
            took,
        ))
    }

    /// Wraps `key` for `recipient`.
    pub fn x25519(
        key: &DataKey,
        job_id: &[u8; 16],
        recipient: &Recipient,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Stanza {
        let eph = Identity::generate(rng);
        let eph_pub = eph.recipient().0;
        let shared = eph.diffie_hellman(&recipient.0);
        let kek = x25519_kek(&shared, &eph_pub, &recipient.0);
        Stanza::X25519 {
            recipient_id: recipient.key_id(),
            ephemeral: B64.encode(eph_pub),
            wrapped_key: seal_key(&kek, &wrap_aad("x25519", job_id), key),
        }
    }

    /// Checks the stanza's shape and bounds without any secret.
    pub fn check(&self) -> Result<()> {
        let b64_len = |s: &str, n: usize, what: &str| match B64.decode(s) {
            Ok(v) if v.len() == n => Ok(()),
            _ => Err(FormatError::malformed(
                "key stanza",
                format!("{what} must be {n} bytes of base64"),
            )),
        };
        match self {
            Stanza::Argon2id {
                salt,
                params,
                wrapped_key,
            } => {
                b64_len(salt, 16, "salt")?;
                b64_len(wrapped_key, 48, "wrapped_key")?;
                params.check()
            }
            Stanza::X25519 {
                ephemeral,
                wrapped_key,
                ..
            } => {
                b64_len(ephemeral, 32, "ephemeral")?;
                b64_len(wrapped_key, 48, "wrapped_key")
            }
        }
    }

    /// Tries to open this stanza; `None` when the secret does not fit it.
    pub fn open(&self, job_id: &[u8; 16], unlock: &Unlock<'_>) -> Result<Option<DataKey>> {
        self.check()?;
        match (self, unlock) {
            (
                Stanza::Argon2id {
                    salt,
                    params,
                    wrapped_key,
                },
                Unlock::Passphrase(p),
            ) => {
                let salt = B64.decode(salt).expect("checked");
                let kek = params.derive(p, &salt)?;
                Ok(open_key(&kek, &wrap_aad("argon2id", job_id), wrapped_key))
            }
            (
                Stanza::X25519 {
                    ephemeral,
                    wrapped_key,
                    ..
                },
                Unlock::Identity(id),
            ) => {
                let mut eph = [0u8; 32];
                eph.copy_from_slice(&B64.decode(ephemeral).expect("checked"));
                let shared = id.diffie_hellman(&eph);
                if shared.iter().all(|b| *b == 0) {
                    // A low-order ephemeral key: contributes nothing, reject as RFC 7748 advises.
                    return Ok(None);
                }
                let kek = x25519_kek(&shared, &eph, &id.recipient().0);
                Ok(open_key(&kek, &wrap_aad("x25519", job_id), wrapped_key))
            }
            _ => Ok(None),
        }
    }
}

/// The job's key check: `HMAC-SHA-256(HKDF(K, job_id, "odt-bundle/v1 key check"), job_id)`.
///
/// Stored (signed) in the manifest. It tells a wrong key from a damaged file at once, and makes
/// the bundle committing to exactly one data key.
pub fn key_check(key: &DataKey, job_id: &[u8; 16]) -> String {
    use hmac::Mac;
    let hk = hkdf::Hkdf::<Sha256>::new(Some(job_id), key.expose());
    let mut mk = Zeroizing::new([0u8; 32]);
    hk.expand(b"odt-bundle/v1 key check", mk.as_mut())
        .expect("valid length");
    let mut mac = <hmac::Hmac<Sha256> as Mac>::new_from_slice(mk.as_ref()).expect("any length");
    mac.update(job_id);
    hex::encode(mac.finalize().into_bytes())
}

/// Opens the first stanza `unlock` fits, and checks the result against `expected_check`.
pub fn unwrap_data_key(
    stanzas: &[Stanza],
    job_id: &[u8; 16],
    expected_check: &str,
    unlock: &Unlock<'_>,
) -> Result<DataKey> {
    let mut tried = 0;
    for s in stanzas {
        let kind_fits = matches!(
            (s, unlock),
            (Stanza::Argon2id { .. }, Unlock::Passphrase(_))
                | (Stanza::X25519 { .. }, Unlock::Identity(_))
        );
        if !kind_fits {
            continue;
        }
        tried += 1;
        if let Some(k) = s.open(job_id, unlock)? {
            // The key check is public (it is in the manifest), so a plain comparison is fine.
            if key_check(&k, job_id) == expected_check {
                return Ok(k);
            }
            return Err(FormatError::NoKey(
                "a key stanza opened but its key does not match the manifest's key check: \
                 the stanza was tampered with"
                    .into(),
            ));
        }
    }
    Err(FormatError::NoKey(match (unlock, tried) {
        (Unlock::Passphrase(_), 0) => {
            "this job has no passphrase stanza: unlock it with --identity (the provider's key)"
                .into()
        }
        (Unlock::Passphrase(_), _) => "wrong passphrase: it does not open this job's key".into(),
        (Unlock::Identity(_), 0) => {
            "this job was not encrypted for any X25519 recipient: use the passphrase".into()
        }
        (Unlock::Identity(_), _) => {
            "this identity is not a recipient of this job (the job was wrapped for other keys)"
                .into()
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: KdfParams = KdfParams {
        memory_kib: KdfParams::MIN_MEMORY_KIB,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn passphrase_and_recipient_stanzas_open_only_with_their_secret() {
        let mut rng = rand::rngs::OsRng;
        let job = [3u8; 16];
        let k = DataKey::generate(&mut rng);
        let id = Identity::generate(&mut rng);
        let (s1, _) = Stanza::passphrase(&k, &job, b"correct horse", FAST, &mut rng).unwrap();
        let s2 = Stanza::x25519(&k, &job, &id.recipient(), &mut rng);
        let check = key_check(&k, &job);
        let stanzas = vec![s1, s2];
        let got = unwrap_data_key(
            &stanzas,
            &job,
            &check,
            &Unlock::Passphrase(b"correct horse"),
        )
        .unwrap();
        assert_eq!(got.expose(), k.expose());
        let got = unwrap_data_key(&stanzas, &job, &check, &Unlock::Identity(&id)).unwrap();
        assert_eq!(got.expose(), k.expose());
        let e = unwrap_data_key(&stanzas, &job, &check, &Unlock::Passphrase(b"wrong")).unwrap_err();
        assert!(e.to_string().contains("wrong passphrase"), "{e}");
        let other = Identity::generate(&mut rng);
        assert!(unwrap_data_key(&stanzas, &job, &check, &Unlock::Identity(&other)).is_err());
        // Another job id (stanza moved between jobs) fails.
        assert!(unwrap_data_key(&stanzas, &[4u8; 16], &check, &Unlock::Identity(&id)).is_err());
    }

    #[test]
    fn hostile_kdf_params_are_refused_before_any_work() {
        let s = Stanza::Argon2id {
            salt: B64.encode([0u8; 16]),
            params: KdfParams {
                memory_kib: u32::MAX,
                iterations: 1,
                parallelism: 1,
            },
            wrapped_key: B64.encode([0u8; 48]),
        };
        let e = s.open(&[0; 16], &Unlock::Passphrase(b"x")).unwrap_err();
        assert!(e.to_string().contains("outside the accepted bounds"), "{e}");
    }
}
