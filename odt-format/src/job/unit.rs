//! The unit index (`odt-unit.json`, docs/FORMAT.md §2.2): what one NAS unit of a job that spans
//! several holds, signed like the manifest.
//!
//! Why a signed index per unit rather than only the manifest: the manifest (the same bytes on
//! every unit) says what the job is; the index says which part of it this unit carries, "unit k
//! of n", and the unit's random id, so a verifier with one unit can say what is complete here
//! and what is elsewhere, and an importer can tell a unit of another job (its job id and
//! manifest SHA-256 differ) and the same unit mounted twice (the same unit id) from a unit it
//! has not seen. The index is bound to the manifest's exact bytes, so it cannot be moved to
//! another job, and signed under its own domain string, so no manifest or receipt signature
//! passes for it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crypto::keys::{SigningKey, VerifyingKey};
use crate::error::{FormatError, Result};
use crate::job::layout::{stream_name, Layout, UNIT_INDEX, UNIT_SIGNATURE};
use crate::job::manifest::{
    embedded_key, sign_with_context, verify_with_context, JobManifest, SignedDoc,
};
use crate::job::reader::{read_bounded, TrustAnchor};

/// The format identifier of a unit index.
pub const UNIT_FORMAT: &str = "odt-unit/v1";
/// Domain separation prefix of the unit index's signature.
pub const UNIT_CONTEXT: &[u8] = b"odt-unit/v1\0";
/// Largest unit index a reader accepts (as the manifest: it lists at most every file).
pub const MAX_UNIT_INDEX_BYTES: u64 = 64 << 20;
/// Most units a job may span. A bound, so a hostile manifest cannot make a reader list
/// millions of missing units; far more NAS units than any courier carries.
pub const MAX_UNITS: u32 = 256;

const SIGNED_DOC: SignedDoc<'static> = SignedDoc {
    file: UNIT_INDEX,
    sig_file: UNIT_SIGNATURE,
    what: "the unit index",
    key_flag: "--trusted-key",
    signer: "the unit was not made by the customer you expect",
};

/// One file of the job that a unit holds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitFile {
    /// The VM folder (`vm-NNN`).
    pub dir: String,
    /// The file's name in the package.
    pub name: String,
}

/// The signed index of one unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitIndex {
    /// Always [`UNIT_FORMAT`].
    pub format: String,
    /// The job's id (as the manifest's).
    pub job_id: String,
    /// SHA-256 of the exact manifest bytes this unit carries.
    pub manifest_sha256: String,
    /// 16 random bytes, hex, fresh for each unit of each job.
    pub unit_id: String,
    /// Which unit this is, from 1.
    pub unit: u32,
    /// How many units the job spans (the manifest's `units`).
    pub units: u32,
    /// The files this unit holds, in manifest order.
    pub files: Vec<UnitFile>,
}

impl UnitIndex {
    /// The exact bytes written and signed: pretty JSON with a trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a unit index serialises");
        v.push(b'\n');
        v
    }

    /// Signs [`UnitIndex::to_bytes`] with the job's signing key; returns the signature file.
    pub fn sign(bytes: &[u8], key: &SigningKey) -> Vec<u8> {
        sign_with_context(key, UNIT_CONTEXT, bytes)
    }

    /// Parses and checks the index's own structure (no signature, no manifest).
    pub fn parse(bytes: &[u8]) -> Result<UnitIndex> {
        let bad = |d: String| FormatError::malformed(UNIT_INDEX, d);
        if bytes.len() as u64 > MAX_UNIT_INDEX_BYTES {
            return Err(bad(format!("larger than {MAX_UNIT_INDEX_BYTES} bytes")));
        }
        let u: UnitIndex = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("not a valid unit index: {e}")))?;
        if u.format != UNIT_FORMAT {
            return Err(bad(format!(
                "format is {:?}; this odt reads {UNIT_FORMAT}",
                u.format
            )));
        }
        let hex_of = |s: &str, n: usize| s.len() == 2 * n && hex::decode(s).is_ok();
        if !hex_of(&u.job_id, 16) || !hex_of(&u.unit_id, 16) || !hex_of(&u.manifest_sha256, 32) {
            return Err(bad(
                "job_id and unit_id must be 16 bytes of hex, manifest_sha256 32".into(),
            ));
        }
        if !(2..=MAX_UNITS).contains(&u.units) || !(1..=u.units).contains(&u.unit) {
            return Err(bad(format!(
                "unit {} of {}: a job spans 2 to {MAX_UNITS} units, numbered from 1",
                u.unit, u.units
            )));
        }
        let mut seen = BTreeSet::new();
        if let Some(f) = u.files.iter().find(|f| !seen.insert(*f)) {
            return Err(bad(format!("lists {} twice", stream_name(&f.dir, &f.name))));
        }
        Ok(u)
    }

    /// Checks the signature over `bytes` with `key` (the key the manifest was verified with)
    /// first, then parses the index and checks it against the manifest it travels with:
    /// the same job, bound to these exact manifest bytes, the manifest's unit count, and
    /// only files the manifest lists.
    pub fn verify(
        bytes: &[u8],
        sig_bytes: &[u8],
        key: &VerifyingKey,
        manifest: &JobManifest,
        manifest_bytes: &[u8],
    ) -> Result<UnitIndex> {
        if bytes.len() as u64 > MAX_UNIT_INDEX_BYTES {
            return Err(FormatError::malformed(UNIT_INDEX, "too large"));
        }
        verify_with_context(bytes, sig_bytes, key, UNIT_CONTEXT, &SIGNED_DOC)?;
        let u = UnitIndex::parse(bytes)?;
        u.check_against(manifest, manifest_bytes)?;
        Ok(u)
    }

    /// The index fits the manifest `m` (of exact bytes `manifest_bytes`) it travels with.
    pub(crate) fn check_against(&self, m: &JobManifest, manifest_bytes: &[u8]) -> Result<()> {
        let bad = |d: String| Err(FormatError::malformed(UNIT_INDEX, d));
        if self.job_id != m.job_id {
            return bad(format!(
                "belongs to job {} but the manifest beside it is job {}: the unit was mixed \
                 with another job's files",
                self.job_id, m.job_id
            ));
        }
        if self.manifest_sha256 != hex::encode(Sha256::digest(manifest_bytes)) {
            return bad("is bound to another manifest than the one beside it".into());
        }
        if m.units != Some(self.units) {
            return bad(format!(
                "says the job spans {} units but the manifest says {}",
                self.units,
                m.units.unwrap_or(1)
            ));
        }
        for f in &self.files {
            let listed = m
                .vms
                .iter()
                .any(|v| v.dir == f.dir && v.file(&f.name).is_some());
            if !listed {
                return bad(format!(
                    "lists {}, which the manifest does not",
                    stream_name(&f.dir, &f.name)
                ));
            }
        }
        Ok(())
    }

    /// Whether this unit holds `dir/name`.
    pub fn holds(&self, dir: &str, name: &str) -> bool {
        self.files.iter().any(|f| f.dir == dir && f.name == name)
    }

    /// The manifest cut down to what this unit holds: the VMs with at least one file here,
    /// each with only its files here (what a keyless verification of this unit checks).
    pub fn view(&self, m: &JobManifest) -> JobManifest {
        let mut v = m.clone();
        v.vms.retain_mut(|vm| {
            vm.files.retain(|f| self.holds(&vm.dir, &f.name));
            !vm.files.is_empty()
        });
        v
    }

    /// The VMs (their `dir`s) of `m` with every file on this unit.
    pub fn whole_vms<'m>(&self, m: &'m JobManifest) -> Vec<&'m str> {
        m.vms
            .iter()
            .filter(|vm| vm.files.iter().all(|f| self.holds(&vm.dir, &f.name)))
            .map(|vm| vm.dir.as_str())
            .collect()
    }
}

impl UnitIndex {
    /// Reads and verifies the unit index of `layout` for the verified manifest `m` (its exact
    /// `manifest_bytes`), with the key the manifest was verified with. `None` for a job on
    /// one NAS; an error for a unit whose index is missing, unsigned or of another job.
    pub fn open(
        layout: &Layout,
        anchor: &TrustAnchor<'_>,
        m: &JobManifest,
        manifest_bytes: &[u8],
    ) -> Result<Option<UnitIndex>> {
        let Some(units) = m.units else {
            return Ok(None);
        };
        let (path, spath) = (layout.unit_index(), layout.unit_signature());
        if !path.exists() || !spath.exists() {
            return Err(FormatError::malformed(
                path.display().to_string(),
                format!(
                    "missing: the manifest says this job spans {units} NAS units, and each \
                     carries its signed unit index; this directory holds none, so it is not \
                     a whole unit"
                ),
            ));
        }
        let bytes = read_bounded(&path, MAX_UNIT_INDEX_BYTES)?;
        let sig = read_bounded(&spath, 4096)?;
        let embedded;
        let key = match anchor {
            TrustAnchor::Trusted(k) => *k,
            TrustAnchor::Embedded => {
                embedded = embedded_key(&read_bounded(&layout.signature(), 4096)?)?;
                &embedded
            }
        };
        UnitIndex::verify(&bytes, &sig, key, m, manifest_bytes).map(Some)
    }
}

/// A fresh random unit id (16 bytes, hex).
pub fn new_unit_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::manifest::tests_support::small_manifest;

    fn index(m: &JobManifest, bytes: &[u8], unit: u32) -> UnitIndex {
        UnitIndex {
            format: UNIT_FORMAT.into(),
            job_id: m.job_id.clone(),
            manifest_sha256: hex::encode(Sha256::digest(bytes)),
            unit_id: "11".repeat(16),
            unit,
            units: 2,
            files: vec![UnitFile {
                dir: m.vms[0].dir.clone(),
                name: m.vms[0].files[0].name.clone(),
            }],
        }
    }

    /// A signed index verifies with its key and manifest, and nothing else does: another
    /// key, a flipped byte, another manifest, a manifest or receipt signature moved onto it.
    #[test]
    fn sign_verify_and_tamper() {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let other = SigningKey::generate(&mut rand::rngs::OsRng);
        let mut m = small_manifest();
        m.units = Some(2);
        let mb = m.to_bytes();
        let u = index(&m, &mb, 2);
        let b = u.to_bytes();
        let sig = UnitIndex::sign(&b, &key);
        let vk = key.verifying_key();
        assert_eq!(UnitIndex::verify(&b, &sig, &vk, &m, &mb).unwrap(), u);
        let e = UnitIndex::verify(&b, &sig, &other.verifying_key(), &m, &mb).unwrap_err();
        assert!(e.to_string().contains("signed by key"), "{e}");
        let mut t = b.clone();
        let at = t.iter().position(|&c| c == b'2').unwrap();
        t[at] = b'1';
        let e = UnitIndex::verify(&t, &sig, &vk, &m, &mb).unwrap_err();
        assert!(e.to_string().contains("altered after signing"), "{e}");
        let msig = crate::job::manifest::sign(&key, &b);
        assert!(UnitIndex::verify(&b, &msig, &vk, &m, &mb).is_err());
        let mut m2 = m.clone();
        m2.created = "2026-01-02T00:00:00Z".into();
        let e = UnitIndex::verify(&b, &sig, &vk, &m2, &m2.to_bytes()).unwrap_err();
        assert!(e.to_string().contains("another manifest"), "{e}");
        let mut m3 = m.clone();
        m3.job_id = "ab".repeat(16);
        let e = UnitIndex::verify(&b, &sig, &vk, &m3, &mb).unwrap_err();
        assert!(e.to_string().contains("another job"), "{e}");
    }

    /// Units outside 1..=units, a unit count out of bounds, a file listed twice, a file the
    /// manifest lacks, bad ids and unknown fields are refused.
    #[test]
    fn parse_limits() {
        let mut m = small_manifest();
        m.units = Some(2);
        let mb = m.to_bytes();
        let good = index(&m, &mb, 1);
        assert!(UnitIndex::parse(&good.to_bytes()).is_ok());
        let refused = |f: &dyn Fn(&mut UnitIndex)| {
            let mut u = good.clone();
            f(&mut u);
            UnitIndex::parse(&u.to_bytes()).unwrap_err().to_string()
        };
        assert!(refused(&|u| u.unit = 0).contains("unit 0 of 2"));
        assert!(refused(&|u| u.unit = 3).contains("unit 3 of 2"));
        assert!(refused(&|u| u.units = 1).contains("2 to 256"));
        assert!(refused(&|u| u.units = MAX_UNITS + 1).contains("2 to 256"));
        assert!(refused(&|u| u.unit_id = "xyz".into()).contains("hex"));
        assert!(refused(&|u| u.format = "odt-unit/v2".into()).contains("odt-unit/v1"));
        assert!(refused(&|u| u.files.push(u.files[0].clone())).contains("twice"));
        let mut text = String::from_utf8(good.to_bytes()).unwrap();
        text = text.replacen("{", "{\"extra\": 1,", 1);
        assert!(UnitIndex::parse(text.as_bytes()).is_err());
        let mut u = good.clone();
        u.files[0].name = "nope.vmdk".into();
        let e = u.check_against(&m, &mb).unwrap_err().to_string();
        assert!(e.contains("does not"), "{e}");
        let mut single = m.clone();
        single.units = None;
        let e = good.check_against(&single, &mb).unwrap_err().to_string();
        assert!(e.contains("manifest says 1"), "{e}");
        let huge = vec![b' '; MAX_UNIT_INDEX_BYTES as usize + 1];
        assert!(UnitIndex::parse(&huge)
            .unwrap_err()
            .to_string()
            .contains("larger"));
    }

    /// The view keeps only this unit's files and drops VMs with none here.
    #[test]
    fn view_and_whole_vms() {
        let mut m = small_manifest();
        m.units = Some(2);
        let mb = m.to_bytes();
        let u = index(&m, &mb, 1);
        let v = u.view(&m);
        assert_eq!(v.vms.len(), 1);
        assert_eq!(v.vms[0].files.len(), 1);
        let all = m.vms[0].files.len() == 1;
        assert_eq!(u.whole_vms(&m).is_empty(), !all);
    }
}
