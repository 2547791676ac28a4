//! Export sources: an `.ovf` file, a folder holding one `.ovf`, or an `.ova` archive.
//!
//! Opening a source reads and checks its descriptor and `.mf` (both small) before anything is
//! written to the NAS: every file the descriptor references must exist with the size it
//! claims, and the `.mf`, when present, must cover all of them. Big files are then streamed
//! once, hashed while they are encrypted.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use odt_format::job::manifest::{validate_display, validate_stored_name};
use odt_format::job::reader::open_regular;
use odt_format::ovf::{
    parse_descriptor, read_index, validate_file_name, DigestAlg, Envelope, Mf, MfEntry,
};

/// Largest descriptor accepted.
const MAX_DESCRIPTOR: u64 = 16 << 20;
/// Largest `.mf` accepted.
const MAX_MF: u64 = 1 << 20;

/// Where a package file's bytes are.
#[derive(Clone, Debug)]
pub enum Origin {
    /// A plain file.
    File(PathBuf),
    /// A member of an OVA: the archive, the data offset, the length.
    OvaMember { archive: PathBuf, offset: u64 },
    /// Bytes made by the exporter (a generated `.mf`).
    Generated(Vec<u8>),
    /// A small file read whole when the source was opened (the descriptor, the `.mf`), at
    /// `from`: sealed from these bytes, the very ones that were parsed and checked, so what the
    /// bundle holds is what the export checked every other file against.
    Held {
        /// Where they were read.
        from: Box<Origin>,
        /// The bytes.
        bytes: std::sync::Arc<[u8]>,
    },
}

impl Origin {
    fn shown(&self, name: &str) -> PathBuf {
        match self {
            Origin::File(p) => p.clone(),
            Origin::OvaMember { archive, .. } => {
                PathBuf::from(format!("{}:{name}", archive.display()))
            }
            Origin::Generated(_) => PathBuf::from(format!("<generated {name}>")),
            Origin::Held { from, .. } => from.shown(name),
        }
    }
}

/// One file of an OVF package.
#[derive(Clone, Debug)]
pub struct PackageFile {
    /// Flat name in the package.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Where to read it.
    pub origin: Origin,
    /// Expected digest from the source's `.mf` (None for the `.mf` itself).
    pub expected: Option<MfEntry>,
}

impl PackageFile {
    /// Opens the bytes for reading from the start.
    pub fn open(&self) -> Result<Box<dyn Read + Send>> {
        Ok(match &self.origin {
            Origin::File(p) => Box::new(open_regular(p)?),
            Origin::OvaMember { archive, offset } => {
                let mut f = open_regular(archive)?;
                f.seek(SeekFrom::Start(*offset))
                    .with_context(|| format!("seek in {}", archive.display()))?;
                Box::new(f.take(self.size))
            }
            Origin::Generated(b) => Box::new(std::io::Cursor::new(b.clone())),
            Origin::Held { bytes, .. } => Box::new(std::io::Cursor::new(bytes.clone())),
        })
    }
    /// A path for messages.
    pub fn display_path(&self) -> PathBuf {
        self.origin.shown(&self.name)
    }
}

/// An opened, checked source.
#[derive(Debug)]
pub struct Source {
    /// The path the user gave.
    pub path: PathBuf,
    /// `ovf` or `ova`.
    pub kind: &'static str,
    /// Parsed descriptor.
    pub envelope: Envelope,
    /// Descriptor file name.
    pub descriptor: String,
    /// `.mf` file name (the source's, or a generated one).
    pub mf_name: String,
    /// True when the source had no `.mf` and we generate one.
    pub mf_generated: bool,
    /// Files in export order: descriptor, `.mf`, then References order.
    pub files: Vec<PackageFile>,
    /// Size and mtime of the source files, to tell whether a resumed run sees the same source.
    pub fingerprint: Vec<(String, u64, i128)>,
}

impl Source {
    /// Opens `path`.
    pub fn open(path: &Path) -> Result<Source> {
        let meta = std::fs::metadata(path).with_context(|| format!("source {}", path.display()))?;
        if meta.is_dir() {
            let ovfs: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("list {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("ovf")))
                .collect();
            match ovfs.as_slice() {
                [one] => Self::open_ovf(one),
                [] => bail!("source {}: the folder holds no .ovf file", path.display()),
                _ => bail!(
                    "source {}: the folder holds {} .ovf files; name the one to export",
                    path.display(),
                    ovfs.len()
                ),
            }
        } else {
            match path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("ovf") => Self::open_ovf(path),
                Some("ova") => Self::open_ova(path),
                _ => bail!(
                    "source {}: not an .ovf file, a folder holding one, or an .ova file",
                    path.display()
                ),
            }
        }
    }

    fn open_ovf(ovf: &Path) -> Result<Source> {
        let dir = ovf.parent().unwrap_or(Path::new("."));
        let descriptor = file_name(ovf)?;
        let desc_bytes = read_small(ovf, MAX_DESCRIPTOR)?;
        let envelope = parse_descriptor(&desc_bytes)
            .with_context(|| format!("OVF descriptor {}", ovf.display()))?;
        let mf_path = ovf.with_extension("mf");
        let mf = if mf_path.exists() {
            Some((
                file_name(&mf_path)?,
                read_small(&mf_path, MAX_MF)?,
                Origin::File(mf_path.clone()),
            ))
        } else {
            None
        };
        let mut present = vec![(
            descriptor.clone(),
            std::fs::metadata(ovf)?.len(),
            Origin::File(ovf.to_owned()),
        )];
        for r in &envelope.files {
            let p = dir.join(&r.href);
            let m = std::fs::symlink_metadata(&p).with_context(|| {
                format!(
                    "{} references {:?}, which is missing from {}",
                    ovf.display(),
                    r.href,
                    dir.display()
                )
            })?;
            if !m.is_file() {
                bail!(
                    "{}: {:?} is not a regular file (links and devices are refused)",
                    ovf.display(),
                    r.href
                );
            }
            present.push((r.href.clone(), m.len(), Origin::File(p)));
        }
        let mut fingerprint = vec![];
        for (name, _, origin) in &present {
            if let Origin::File(p) = origin {
                let m = std::fs::metadata(p)?;
                let mtime = mtime_nanos(&m);
                fingerprint.push((name.clone(), m.len(), mtime));
            }
        }
        Opened {
            path: ovf,
            kind: "ovf",
            envelope,
            descriptor,
            desc_bytes,
            mf,
            present,
            fingerprint,
        }
        .assemble()
    }

    fn open_ova(ova: &Path) -> Result<Source> {
        let mut f = open_regular(ova)?;
        let len = f.metadata()?.len();
        let index = read_index(&mut f, len).with_context(|| format!("OVA {}", ova.display()))?;
        let read_member = |name: &str, max: u64| -> Result<Vec<u8>> {
            let m = index.find(name).expect("listed");
            if m.size > max {
                bail!(
                    "{}: member {name} is {} bytes, more than the {max} allowed",
                    ova.display(),
                    m.size
                );
            }
            let mut f = open_regular(ova)?;
            f.seek(SeekFrom::Start(m.offset))?;
            let mut v = vec![0u8; m.size as usize];
            f.read_exact(&mut v)
                .with_context(|| format!("read {}:{name}", ova.display()))?;
            Ok(v)
        };
        let d = index.descriptor();
        let descriptor = d.name.clone();
        let desc_bytes = read_member(&descriptor, MAX_DESCRIPTOR)?;
        let envelope = parse_descriptor(&desc_bytes)
            .with_context(|| format!("OVF descriptor {}:{descriptor}", ova.display()))?;
        let mf_name = Path::new(&descriptor)
            .with_extension("mf")
            .to_string_lossy()
            .into_owned();
        let mf = match index.find(&mf_name) {
            Some(m) => Some((
                mf_name.clone(),
                read_member(&mf_name, MAX_MF)?,
                Origin::OvaMember {
                    archive: ova.to_owned(),
                    offset: m.offset,
                },
            )),
            None => None,
        };
        let member = |name: &str| {
            index.find(name).map(|m| {
                (
                    name.to_owned(),
                    m.size,
                    Origin::OvaMember {
                        archive: ova.to_owned(),
                        offset: m.offset,
                    },
                )
            })
        };
        let mut present = vec![member(&descriptor).expect("descriptor is a member")];
        for r in &envelope.files {
            present.push(member(&r.href).with_context(|| {
                format!(
                    "{}: the descriptor references {:?}, which is not in the archive",
                    ova.display(),
                    r.href
                )
            })?);
        }
        let m = std::fs::metadata(ova)?;
        let mtime = mtime_nanos(&m);
        let fingerprint = vec![(file_name(ova)?, m.len(), mtime)];
        Opened {
            path: ova,
            kind: "ova",
            envelope,
            descriptor,
            desc_bytes,
            mf,
            present,
            fingerprint,
        }
        .assemble()
    }

    /// The digest algorithm for files without an expected digest (generated `.mf`).
    pub fn default_alg() -> DigestAlg {
        DigestAlg::Sha256
    }

    /// The source's file name, for the manifest (no directories).
    pub fn source_name(&self) -> String {
        file_name(&self.path).unwrap_or_default()
    }
}

/// What opening a package read, before it is checked: the descriptor (parsed, and its bytes),
/// the `.mf` if the package has one (name, bytes, where), every file present (the descriptor
/// first, then References order: name, size, where) and the fingerprint.
struct Opened<'a> {
    path: &'a Path,
    kind: &'static str,
    envelope: Envelope,
    descriptor: String,
    desc_bytes: Vec<u8>,
    mf: Option<(String, Vec<u8>, Origin)>,
    present: Vec<(String, u64, Origin)>,
    fingerprint: Vec<(String, u64, i128)>,
}

impl Opened<'_> {
    /// Checks what was read and makes the source of it.
    fn assemble(self) -> Result<Source> {
        check_names(self.path, &self.descriptor, &self.envelope)?;
        self.check_references()?;
        let (mf_name, parsed_mf, mf_file) = self.mf_file()?;
        let mf_generated = parsed_mf.is_none();
        validate_file_name(&mf_name)?;
        for name in [&self.descriptor, &mf_name]
            .into_iter()
            .chain(self.envelope.files.iter().map(|r| &r.href))
        {
            validate_stored_name(name).with_context(|| format!("{}", self.path.display()))?;
        }
        if let Some(mf) = &parsed_mf {
            self.check_against(mf, &mf_name)?;
        }
        let Opened {
            path,
            kind,
            envelope,
            descriptor,
            desc_bytes,
            present,
            fingerprint,
            ..
        } = self;
        let mut files = vec![];
        let mut mf_file = Some(mf_file);
        for (i, (name, size, origin)) in present.into_iter().enumerate() {
            // The descriptor (first) is sealed from the bytes parsed and checked above.
            let (size, origin) = match i {
                0 => (
                    desc_bytes.len() as u64,
                    Origin::Held {
                        from: Box::new(origin),
                        bytes: desc_bytes[..].into(),
                    },
                ),
                _ => (size, origin),
            };
            let expected = parsed_mf.as_ref().and_then(|m| m.get(&name).cloned());
            files.push(PackageFile {
                name,
                size,
                origin,
                expected,
            });
            // The .mf comes right after the descriptor (OVA order).
            files.extend(mf_file.take());
        }
        Ok(Source {
            path: path.to_owned(),
            kind,
            envelope,
            descriptor,
            mf_name,
            mf_generated,
            files,
            fingerprint,
        })
    }

    /// Every referenced file is whole (no `ovf:chunkSize`) and has the size the descriptor
    /// claims.
    fn check_references(&self) -> Result<()> {
        for r in &self.envelope.files {
            if r.chunk_size.is_some() {
                bail!(
                    "{}: {:?} is split into ovf:chunkSize pieces, which odt does not export; \
                     re-export the VM without chunking",
                    self.path.display(),
                    r.href
                );
            }
            let actual = self
                .present
                .iter()
                .find(|p| p.0 == r.href)
                .map(|p| p.1)
                .expect("collected");
            if let Some(claimed) = r.size {
                if claimed != actual {
                    bail!(
                        "{}: the descriptor says {:?} is {claimed} bytes but it is {actual}: the package is incomplete or altered",
                        self.path.display(),
                        r.href
                    );
                }
            }
        }
        Ok(())
    }

    /// The `.mf`: the package's (parsed, sealed from the bytes read), or one generated.
    fn mf_file(&self) -> Result<(String, Option<Mf>, PackageFile)> {
        Ok(match &self.mf {
            Some((name, bytes, origin)) => {
                let parsed = Mf::parse(bytes)
                    .with_context(|| format!("{}: manifest {name}", self.path.display()))?;
                let file = PackageFile {
                    name: name.clone(),
                    size: bytes.len() as u64,
                    origin: Origin::Held {
                        from: Box::new(origin.clone()),
                        bytes: bytes[..].into(),
                    },
                    expected: None,
                };
                (name.clone(), Some(parsed), file)
            }
            None => {
                let name = Path::new(&self.descriptor)
                    .with_extension("mf")
                    .to_string_lossy()
                    .into_owned();
                // Filled in with the digests computed while exporting.
                let file = PackageFile {
                    name: name.clone(),
                    size: 0,
                    origin: Origin::Generated(vec![]),
                    expected: None,
                };
                (name, None, file)
            }
        })
    }

    /// The descriptor is small and read already: check it against the `.mf` now, and that the
    /// `.mf` covers every file, so a mismatching package is refused before anything is
    /// written.
    fn check_against(&self, mf: &Mf, mf_name: &str) -> Result<()> {
        let (path, descriptor) = (self.path, &self.descriptor);
        let e = mf.get(descriptor).with_context(|| {
            format!("{}: {mf_name} has no digest for the descriptor {descriptor}; refusing an unchecked package", path.display())
        })?;
        let mut h = e.alg.hasher();
        h.update(&self.desc_bytes);
        if h.finalize() != e.digest {
            bail!(
                "{}: {descriptor} does not match its {} digest in {mf_name}: the package is corrupt or altered; nothing was written",
                path.display(),
                e.alg.name()
            );
        }
        for (name, ..) in self.present.iter().skip(1) {
            if mf.get(name).is_none() {
                bail!(
                    "{}: {mf_name} has no digest for {name}; refusing an unchecked package",
                    path.display()
                );
            }
        }
        Ok(())
    }
}

/// Refuses, before anything is written, a package the bundle cannot describe: names the
/// provider's tools would show that hold control characters, bidi controls or line separators
/// (docs/FORMAT.md §2.1), and References that list the descriptor or its `.mf` (the bundle
/// lists each file once, so that job would never verify).
fn check_names(path: &Path, descriptor: &str, env: &Envelope) -> Result<()> {
    let mut shown = vec![("the VM name", env.display_name())];
    for v in env.virtual_systems() {
        shown.push(("the virtual system name", v.display_name()));
    }
    for n in &env.networks {
        shown.push(("the network name", n.name.as_str()));
    }
    // `web.ovf: …` for a descriptor, `web.ova: web.ovf: …` for an archive.
    let at = match path.file_name() {
        Some(n) if n == descriptor => path.display().to_string(),
        _ => format!("{}: {descriptor}", path.display()),
    };
    for (what, s) in shown {
        if let Err(e) = validate_display(what, s) {
            bail!("{at}: {e}; rename it in the descriptor (and update the .mf), then export again");
        }
    }
    let mf = Path::new(descriptor).with_extension("mf");
    for r in &env.files {
        if r.href == descriptor || Path::new(&r.href) == mf {
            bail!(
                "{}: the descriptor lists {:?} in its References, but that is the package's own \
                 {}, not one of its files: remove that File element (and update the .mf), then \
                 export again",
                path.display(),
                r.href,
                if r.href == descriptor {
                    "descriptor"
                } else {
                    "manifest"
                }
            );
        }
    }
    Ok(())
}

fn file_name(p: &Path) -> Result<String> {
    let n = p
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{}: has no UTF-8 file name", p.display()))?
        .to_owned();
    validate_file_name(&n).with_context(|| format!("{}", p.display()))?;
    Ok(n)
}

fn read_small(p: &Path, max: u64) -> Result<Vec<u8>> {
    let f = open_regular(p)?;
    let mut v = vec![];
    f.take(max + 1)
        .read_to_end(&mut v)
        .with_context(|| format!("read {}", p.display()))?;
    if v.len() as u64 > max {
        bail!(
            "{}: larger than {max} bytes; not an OVF descriptor or manifest",
            p.display()
        );
    }
    Ok(v)
}

/// A file's modification time in nanoseconds since the epoch (0 when the file system does not
/// say): part of a source's fingerprint, so that a rerun notices a changed source.
fn mtime_nanos(m: &std::fs::Metadata) -> i128 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128)
}
