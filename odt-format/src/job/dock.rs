//! The dock record: what lets `odt-import run` trust a keyless verification done earlier at
//! the dock without reading terabytes a second time.
//!
//! Keyless verification reads every byte; the record it leaves on the ODT node binds its
//! outcome to the SHA-256 of the exact manifest bytes it checked and to a fingerprint of every
//! entry of the job directory (path, kind, size, inode, mtime, ctime). `run` refuses to start
//! unless the fingerprints are still the same, so anything added, removed, replaced, grown,
//! cut or touched since (an appended chunk, an altered `.sums`, a new file) stops it before
//! anything is deployed. What the fingerprint cannot see (bytes rewritten in place with the
//! times restored by someone with root on the NAS) is still caught while uploading: every
//! chunk is authenticated and every file checked against the package's `.mf` on the way in.
//!
//! The device number is left out on purpose: an NFS mount gets a new one when it is mounted
//! again, and the inode (the server's file id) already names the file.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{FormatError, IoContext, Result};

/// Format of the record file.
pub const DOCK_FORMAT: &str = "odt-dock-record/1";
/// Entries a job directory may hold before fingerprinting gives up (a job has two per file).
const MAX_ENTRIES: usize = 1 << 20;
/// How deep a job directory goes: `data/vm-NNN/FILE`.
const MAX_DEPTH: usize = 3;

/// The fingerprint of one entry of the job directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stamp {
    /// Path relative to the job directory, `/`-separated.
    pub path: String,
    /// `file`, `dir`, `symlink` or `other`.
    pub kind: String,
    /// Size in bytes.
    pub size: u64,
    /// Inode number (the NFS file id).
    pub ino: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// Status change time, nanoseconds since the epoch (set by the file server on any change,
    /// and not settable by a client).
    pub ctime_ns: i128,
}

/// The record `verify` leaves and `run` requires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockRecord {
    /// Always [`DOCK_FORMAT`].
    pub format: String,
    /// The job.
    pub job_id: String,
    /// SHA-256 of the exact manifest bytes whose signature and files were verified.
    pub manifest_sha256: String,
    /// The key id the signature was checked against.
    pub signer_key_id: String,
    /// When (RFC 3339, UTC).
    pub verified_at: String,
    /// Whether the verification also decrypted every file (`--deep`).
    pub deep: bool,
    /// Every entry of the job directory when it was verified, sorted by path.
    pub entries: Vec<Stamp>,
}

/// Fingerprints every entry under `root` (not following symlinks), sorted by path.
pub fn stamp_tree(root: &Path) -> Result<Vec<Stamp>> {
    let mut out = vec![];
    walk(root, "", 1, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<Stamp>) -> Result<()> {
    for entry in std::fs::read_dir(dir).ctx("list", dir)? {
        let entry = entry.ctx("list", dir)?;
        let path = entry.path();
        let md = std::fs::symlink_metadata(&path).ctx("stat", &path)?;
        let rel = format!("{prefix}{}", entry.file_name().to_string_lossy());
        let ft = md.file_type();
        let kind = if ft.is_file() {
            "file"
        } else if ft.is_dir() {
            "dir"
        } else if ft.is_symlink() {
            "symlink"
        } else {
            "other"
        };
        out.push(Stamp {
            path: rel.clone(),
            kind: kind.into(),
            size: md.len(),
            ino: md.ino(),
            mtime_ns: md.mtime() as i128 * 1_000_000_000 + md.mtime_nsec() as i128,
            ctime_ns: md.ctime() as i128 * 1_000_000_000 + md.ctime_nsec() as i128,
        });
        if out.len() > MAX_ENTRIES {
            return Err(FormatError::malformed(
                dir.display().to_string(),
                format!("holds more than {MAX_ENTRIES} entries; this is not an odt job"),
            ));
        }
        if ft.is_dir() && depth < MAX_DEPTH {
            walk(&path, &format!("{rel}/"), depth + 1, out)?;
        }
    }
    Ok(())
}

/// What differs between the fingerprints `then` and `now`, one line per entry, in path order.
pub fn differences(then: &[Stamp], now: &[Stamp]) -> Vec<String> {
    use std::collections::BTreeMap;
    let a: BTreeMap<&str, &Stamp> = then.iter().map(|s| (s.path.as_str(), s)).collect();
    let b: BTreeMap<&str, &Stamp> = now.iter().map(|s| (s.path.as_str(), s)).collect();
    let mut out = vec![];
    let paths: std::collections::BTreeSet<&str> = a.keys().chain(b.keys()).copied().collect();
    for raw in paths {
        // Names on the NAS are anyone's: never print them raw.
        let p = crate::text::printable(raw);
        let p = p.as_ref();
        match (a.get(raw), b.get(raw)) {
            (Some(_), None) => out.push(format!("{p}: removed")),
            (None, Some(_)) => out.push(format!("{p}: added")),
            (Some(x), Some(y)) if x != y => {
                let mut what = vec![];
                if x.kind != y.kind {
                    what.push(format!("was a {}, now a {}", x.kind, y.kind));
                }
                if x.size != y.size {
                    what.push(format!("size {} -> {}", x.size, y.size));
                }
                if x.ino != y.ino {
                    what.push("replaced by another file".into());
                }
                if x.mtime_ns != y.mtime_ns || x.ctime_ns != y.ctime_ns {
                    what.push("modified".into());
                }
                out.push(format!("{p}: {}", what.join(", ")));
            }
            _ => {}
        }
    }
    out
}

impl DockRecord {
    /// Parses a record, refusing other formats.
    pub fn parse(bytes: &[u8], what: &str) -> Result<DockRecord> {
        let r: DockRecord = serde_json::from_slice(bytes)
            .map_err(|e| FormatError::malformed(what, format!("is not a dock record: {e}")))?;
        if r.format != DOCK_FORMAT {
            return Err(FormatError::malformed(
                what,
                format!("has format {:?}; this odt reads {DOCK_FORMAT}", r.format),
            ));
        }
        Ok(r)
    }

    /// Why this record does not vouch for the job whose manifest bytes hash to
    /// `manifest_sha256` and whose directory now fingerprints as `now`; empty when it does.
    pub fn mismatches(&self, manifest_sha256: &str, now: &[Stamp]) -> Vec<String> {
        let mut out = vec![];
        if self.manifest_sha256 != manifest_sha256 {
            out.push(format!(
                "odt-job.json: it is not the manifest that was verified (SHA-256 {} then, {manifest_sha256} now)",
                self.manifest_sha256
            ));
        }
        out.extend(differences(&self.entries, now));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("data/vm-000")).unwrap();
        std::fs::write(t.path().join("odt-job.json"), b"{}").unwrap();
        std::fs::write(t.path().join("data/vm-000/a.odt"), b"0123456789").unwrap();
        std::fs::write(t.path().join("data/vm-000/a.odt.sums"), b"s").unwrap();
        t
    }

    /// docs/SECURITY.md §S2: every kind of change to the job directory after verification is
    /// seen, with the entry named.
    #[test]
    fn every_change_to_the_job_directory_is_named() {
        let t = tree();
        let then = stamp_tree(t.path()).unwrap();
        assert_eq!(
            then.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(),
            [
                "data",
                "data/vm-000",
                "data/vm-000/a.odt",
                "data/vm-000/a.odt.sums",
                "odt-job.json"
            ]
        );
        assert!(differences(&then, &stamp_tree(t.path()).unwrap()).is_empty());
        let f = t.path().join("data/vm-000/a.odt");
        // Appended bytes.
        let mut o = std::fs::OpenOptions::new().append(true).open(&f).unwrap();
        std::io::Write::write_all(&mut o, b"x").unwrap();
        drop(o);
        let d = differences(&then, &stamp_tree(t.path()).unwrap());
        assert!(
            d.iter()
                .any(|l| l.starts_with("data/vm-000/a.odt: size 10 -> 11")),
            "{d:?}"
        );
        // Same size, rewritten in place with the mtime restored: ctime still moves.
        let t = tree();
        let then = stamp_tree(t.path()).unwrap();
        let f = t.path().join("data/vm-000/a.odt.sums");
        let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&f, b"S").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let d = differences(&then, &stamp_tree(t.path()).unwrap());
        assert_eq!(d, ["data/vm-000/a.odt.sums: modified"]);
        // A new file anywhere, root included, and a removed one.
        std::fs::write(t.path().join("extra"), b"").unwrap();
        std::fs::remove_file(t.path().join("data/vm-000/a.odt")).unwrap();
        let d = differences(&then, &stamp_tree(t.path()).unwrap());
        assert!(d.contains(&"extra: added".to_string()), "{d:?}");
        assert!(
            d.contains(&"data/vm-000/a.odt: removed".to_string()),
            "{d:?}"
        );
    }

    #[test]
    fn a_record_for_other_manifest_bytes_does_not_vouch() {
        let t = tree();
        let r = DockRecord {
            format: DOCK_FORMAT.into(),
            job_id: "j".into(),
            manifest_sha256: "aa".into(),
            signer_key_id: "k".into(),
            verified_at: "2026-01-01T00:00:00Z".into(),
            deep: false,
            entries: stamp_tree(t.path()).unwrap(),
        };
        let now = stamp_tree(t.path()).unwrap();
        assert!(r.mismatches("aa", &now).is_empty());
        assert!(r.mismatches("bb", &now)[0].contains("not the manifest that was verified"));
        let bytes = serde_json::to_vec(&r).unwrap();
        assert_eq!(DockRecord::parse(&bytes, "r").unwrap(), r);
        let other = String::from_utf8(bytes)
            .unwrap()
            .replace(DOCK_FORMAT, "x/9");
        assert!(DockRecord::parse(other.as_bytes(), "r").is_err());
    }
}
