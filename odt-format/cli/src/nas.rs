//! The warning for a `--nas` folder that is not on a mounted NAS (issue 13, item 4): the
//! classic mistake of running before the NAS is mounted, when `/mnt/nas` is an empty folder of
//! the machine's own disk. Export then fills the local disk and ships an empty NAS; at the
//! dock the import reads whatever that folder holds.
//!
//! The rule, one `stat` per folder: a folder is a mount point when its device (`st_dev`)
//! differs from its parent's; `/` (the folder with the root's device and inode) is this
//! machine's own disk, never the NAS. A job usually is one folder below the mount
//! (`/mnt/nas/job1`), so the warning is given only when neither the folder nor its parent is
//! a mount point. A job two or more folders below the mount gets the warning although the NAS
//! is mounted, and a bind mount of a folder of the same file system does not count as one:
//! it is a warning, never a refusal. Callers with several NAS units call
//! [`warn_if_not_mounted`] once per `--nas`.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use odt_format::text::printable;

/// Whether `dir` is a mount point: its device differs from its parent's. `/` is not one here
/// (it is this machine's own disk, whatever it is mounted from).
pub fn is_mount_point(dir: &Path) -> std::io::Result<bool> {
    let dir = dir.canonicalize()?;
    let md = std::fs::metadata(&dir)?;
    let root = std::fs::metadata("/")?;
    if (md.dev(), md.ino()) == (root.dev(), root.ino()) {
        return Ok(false);
    }
    let Some(parent) = dir.parent() else {
        return Ok(false);
    };
    Ok(std::fs::metadata(parent)?.dev() != md.dev())
}

/// Whether `nas` looks like a folder on a mounted NAS: it or its parent is a mount point.
/// `None` when that cannot be told (the folder does not exist: the command's own error
/// says so).
pub fn on_a_mount(nas: &Path) -> Option<bool> {
    let dir = nas.canonicalize().ok()?;
    if is_mount_point(&dir).ok()? {
        return Some(true);
    }
    match dir.parent() {
        Some(p) => is_mount_point(p).ok(),
        None => Some(false),
    }
}

/// What the program does with the NAS folder, for the warning's words.
#[derive(Clone, Copy, Debug)]
pub enum NasUse {
    /// `odt-export run` writes the job there.
    Write,
    /// `odt-import verify` and `run` read it.
    Read,
}

/// The warning line for `nas`, or `None` when it is on a mount (or cannot be told).
pub fn mount_warning(program: &str, nas: &Path, usage: NasUse) -> Option<String> {
    if on_a_mount(nas)? {
        return None;
    }
    let what = match usage {
        NasUse::Write => "writing the job to this machine's own disk?",
        NasUse::Read => "reading the ODT node's own disk?",
    };
    Some(format!(
        "{program}: warning: --nas {} is not on a mounted NAS (neither it nor its parent is a \
         mount point): {what} Mount the NAS there first (ignore this if the job folder lies \
         deeper below the mount)",
        printable(&nas.display().to_string())
    ))
}

/// Prints [`mount_warning`] on stderr, once, when there is one (never on stdout: `--json`
/// documents stay clean).
pub fn warn_if_not_mounted(program: &str, nas: &Path, usage: NasUse) {
    if let Some(w) = mount_warning(program, nas, usage) {
        eprintln!("{w}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_folders_are_not_mounts_and_the_root_is_no_nas() {
        let t = tempfile::tempdir().unwrap();
        let nested = t.path().join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        assert!(!is_mount_point(&nested).unwrap());
        assert!(!is_mount_point(Path::new("/")).unwrap());
        assert_eq!(on_a_mount(Path::new("/")), Some(false));
        assert_eq!(on_a_mount(&t.path().join("missing")), None);
        // /proc is its own file system wherever these tests run (Linux).
        assert!(is_mount_point(Path::new("/proc")).unwrap());
        assert_eq!(on_a_mount(Path::new("/proc/self")), Some(true));
        // Neither b nor its parent a (made here) is a mount point.
        assert_eq!(on_a_mount(&nested), Some(false));
        let w = mount_warning("odt-export", &nested, NasUse::Write).unwrap();
        assert!(w.starts_with("odt-export: warning: --nas "), "{w}");
        assert!(w.contains("is not on a mounted NAS"), "{w}");
        assert!(w.contains("this machine's own disk"), "{w}");
        assert!(!w.contains('\n'));
        assert!(mount_warning("odt-import", Path::new("/proc/self"), NasUse::Read).is_none());
    }
}
