//! OVA archives: an OVF package as one USTAR tar file.
//!
//! The exporter reads OVAs straight off the customer's storage and encrypts each member onto
//! the NAS without unpacking to disk, so what it needs is an **index**: for every member, its
//! name and where its bytes lie in the archive. [`read_index`] builds that index from the tar
//! headers alone (seeking over the data), and checks everything a hostile or broken OVA could
//! use to make later stages read the wrong bytes or write outside their directory:
//!
//! - the first member must be the `.ovf` descriptor (DSP0243), so readers find it at once;
//! - members must be plain files with safe flat names: no absolute paths, no `..`, no
//!   directories (a leading `./` is stripped and a lone `./` directory entry is skipped), no
//!   symlinks, hard links, devices, FIFOs or sparse files, no duplicates;
//! - PAX and GNU long names are honoured (the tar crate applies them) and must then pass the
//!   same checks; a PAX `size` overrides the header's, as in every other reader;
//! - "sizes that lie": a member whose offset + size passes the end of the archive is an error
//!   as soon as its header is seen, before any member data is read;
//! - the member count and the bytes spent on headers (including PAX and long-name records,
//!   which the tar crate buffers in memory) are capped.

use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom};

use tar::EntryType;

use super::names::file_name_problem;
use super::OvfError;

/// Most members accepted in one OVA.
pub const MAX_OVA_MEMBERS: usize = 10_000;
/// Most bytes read from the archive while indexing: tar headers plus PAX / GNU long-name
/// records. Member data is skipped by seeking and does not count.
pub const MAX_OVA_HEADER_BYTES: u64 = 32 << 20;

/// One file inside an OVA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvaMember {
    /// Member name: a safe flat file name, `./` prefix removed.
    pub name: String,
    /// Offset of the member's first data byte from the start of the archive.
    pub offset: u64,
    /// Size of the member's data in bytes.
    pub size: u64,
}

/// The members of an OVA, in archive order. The first is always the `.ovf` descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvaIndex {
    /// Members in archive order; `members[0]` is the descriptor.
    pub members: Vec<OvaMember>,
}

impl OvaIndex {
    /// The `.ovf` descriptor, which [`read_index`] guarantees is the first member.
    ///
    /// # Panics
    ///
    /// If `members` is empty, which only an index built by hand can be.
    pub fn descriptor(&self) -> &OvaMember {
        &self.members[0]
    }

    /// The member called `name`, if any.
    pub fn find(&self, name: &str) -> Option<&OvaMember> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// Indexes an OVA from its tar headers, seeking over member data.
///
/// `r` must be positioned at the start of the archive and `archive_len` must be its true
/// length in bytes (e.g. from file metadata): members are checked against it.
///
/// # Errors
///
/// [`OvfError::OvaRead`] for I/O errors and corrupt tar structure, and the `Ova*` variants of
/// [`OvfError`] for each rule in the [module documentation](self).
pub fn read_index<R: Read + Seek>(r: R, archive_len: u64) -> Result<OvaIndex, OvfError> {
    read_index_limited(r, archive_len, MAX_OVA_MEMBERS, MAX_OVA_HEADER_BYTES)
}

/// Marker error raised by [`Budget`] when the header byte budget runs out.
#[derive(Debug)]
struct BudgetExceeded;

impl std::fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("tar header byte budget exceeded")
    }
}

impl std::error::Error for BudgetExceeded {}

/// A reader that fails once `remaining` bytes have been read. Seeks are free, so with
/// `entries_with_seek` only headers and extension records are charged.
struct Budget<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 {
            return Err(io::Error::other(BudgetExceeded));
        }
        let want = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..want])?;
        self.remaining -= n as u64;
        Ok(n)
    }
}

impl<R: Seek> Seek for Budget<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

fn read_error(err: io::Error, last: Option<&OvaMember>, budget: u64) -> OvfError {
    if err
        .get_ref()
        .is_some_and(|inner| inner.is::<BudgetExceeded>())
    {
        return OvfError::OvaHeadersTooLarge { limit: budget };
    }
    OvfError::OvaRead {
        location: match last {
            Some(m) => format!("after member {:?}", m.name),
            None => "at the first member".to_owned(),
        },
        cause: err,
    }
}

/// What a non-regular tar entry is, for error messages.
fn entry_kind(ty: EntryType) -> String {
    match ty {
        EntryType::Directory => "directory".to_owned(),
        EntryType::Symlink => "symbolic link".to_owned(),
        EntryType::Link => "hard link".to_owned(),
        EntryType::Char => "character device".to_owned(),
        EntryType::Block => "block device".to_owned(),
        EntryType::Fifo => "FIFO".to_owned(),
        EntryType::GNUSparse => "sparse file".to_owned(),
        other => format!("tar entry of type {:?}", char::from(other.as_byte())),
    }
}

fn is_descriptor_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 4 && b[b.len() - 4..].eq_ignore_ascii_case(b".ovf")
}

/// The flat name of member `index` (`./` stripped), or `None` for the archive's own `./`
/// directory entry, which is skipped.
///
/// # Errors
///
/// A name that is not UTF-8, absolute, climbs out with `..`, has a directory part or is
/// unsafe ([`OvfError::OvaBadName`]), or a member that is not a regular file
/// ([`OvfError::OvaNotAFile`]).
fn member_name(index: usize, raw_name: &[u8], ty: EntryType) -> Result<Option<&str>, OvfError> {
    let lossy = || String::from_utf8_lossy(raw_name).into_owned();
    let bad = |reason: &'static str| OvfError::OvaBadName {
        index,
        name: lossy(),
        reason,
    };
    let full = std::str::from_utf8(raw_name).map_err(|_| bad("name is not UTF-8"))?;
    let name = full.strip_prefix("./").unwrap_or(full);
    if ty.is_dir() && (name.is_empty() || name == ".") {
        return Ok(None);
    }
    if full.starts_with('/') {
        return Err(bad("absolute path"));
    }
    if name.split(['/', '\\']).any(|part| part == "..") {
        return Err(bad("path climbs out with '..'"));
    }
    if !(ty == EntryType::Regular || ty == EntryType::Continuous) {
        return Err(OvfError::OvaNotAFile {
            index,
            name: lossy(),
            kind: entry_kind(ty),
        });
    }
    if name.contains('/') {
        return Err(bad("name has a directory part, but OVA members are flat"));
    }
    if let Some(reason) = file_name_problem(name) {
        return Err(bad(reason));
    }
    Ok(Some(name))
}

fn read_index_limited<R: Read + Seek>(
    r: R,
    archive_len: u64,
    max_members: usize,
    header_budget: u64,
) -> Result<OvaIndex, OvfError> {
    let mut archive = tar::Archive::new(Budget {
        inner: r,
        remaining: header_budget,
    });
    let entries = archive
        .entries_with_seek()
        .map_err(|e| read_error(e, None, header_budget))?;
    let mut members: Vec<OvaMember> = Vec::new();
    let mut names: HashSet<String> = HashSet::new();

    for (index, entry) in entries.enumerate() {
        if index >= max_members {
            return Err(OvfError::OvaTooManyMembers { limit: max_members });
        }
        let entry = entry.map_err(|e| read_error(e, members.last(), header_budget))?;
        let ty = entry.header().entry_type();
        if ty == EntryType::XGlobalHeader {
            // PAX global defaults (the tar crate does not apply them); not a member.
            continue;
        }
        let raw_name = entry.path_bytes();
        let Some(name) = member_name(index, &raw_name, ty)? else {
            continue;
        };
        if members.is_empty() && !is_descriptor_name(name) {
            return Err(OvfError::OvaDescriptorNotFirst {
                first: name.to_owned(),
            });
        }
        if !names.insert(name.to_owned()) {
            return Err(OvfError::OvaDuplicate {
                index,
                name: name.to_owned(),
            });
        }
        let offset = entry.raw_file_position();
        let size = entry.size();
        if !matches!(offset.checked_add(size), Some(end) if end <= archive_len) {
            return Err(OvfError::OvaMemberOutOfBounds {
                name: name.to_owned(),
                offset,
                size,
                archive_len,
            });
        }
        members.push(OvaMember {
            name: name.to_owned(),
            offset,
            size,
        });
    }
    if members.is_empty() {
        return Err(OvfError::OvaEmpty);
    }
    Ok(OvaIndex { members })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A member for hand-built archives.
    struct Raw<'a> {
        name: &'a [u8],
        typeflag: u8,
        data: &'a [u8],
        /// Size written in the header, if it should differ from `data.len()`.
        claimed: Option<u64>,
        link: &'a [u8],
    }

    fn file<'a>(name: &'a str, data: &'a [u8]) -> Raw<'a> {
        Raw {
            name: name.as_bytes(),
            typeflag: b'0',
            data,
            claimed: None,
            link: b"",
        }
    }

    fn special<'a>(name: &'a str, typeflag: u8, link: &'a str) -> Raw<'a> {
        Raw {
            name: name.as_bytes(),
            typeflag,
            data: b"",
            claimed: None,
            link: link.as_bytes(),
        }
    }

    /// A USTAR header written field by field, so that names `tar::Header::set_path` refuses
    /// (absolute, `..`) can be produced.
    fn header(name: &[u8], typeflag: u8, size: u64, link: &[u8]) -> [u8; 512] {
        let mut h = tar::Header::new_ustar();
        {
            let u = h.as_ustar_mut().unwrap();
            u.name[..name.len()].copy_from_slice(name);
            u.typeflag = [typeflag];
            u.linkname[..link.len()].copy_from_slice(link);
        }
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        *h.as_bytes()
    }

    fn pad(out: &mut Vec<u8>) {
        out.resize(out.len().div_ceil(512) * 512, 0);
    }

    fn build(members: &[Raw<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in members {
            let claimed = m.claimed.unwrap_or(m.data.len() as u64);
            out.extend_from_slice(&header(m.name, m.typeflag, claimed, m.link));
            out.extend_from_slice(m.data);
            pad(&mut out);
        }
        out.extend_from_slice(&[0; 1024]);
        out
    }

    /// A PAX extended-header record `"<len> key=value\n"`.
    fn pax_record(key: &str, value: &str) -> Vec<u8> {
        let body = format!(" {key}={value}\n");
        let mut len = body.len() + 1;
        while format!("{len}{body}").len() != len {
            len += 1;
        }
        format!("{len}{body}").into_bytes()
    }

    fn index(bytes: &[u8]) -> Result<OvaIndex, OvfError> {
        read_index(Cursor::new(bytes), bytes.len() as u64)
    }

    fn builder_ova(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn indexes_a_normal_ova() {
        let ovf = b"<Envelope/>".as_slice();
        let mf = b"SHA256(vm.ovf)= 00\n".as_slice();
        let disk = vec![7u8; 1500];
        let bytes = builder_ova(&[("vm.ovf", ovf), ("vm.mf", mf), ("vm-disk1.vmdk", &disk)]);
        let idx = index(&bytes).unwrap();
        let names: Vec<_> = idx.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["vm.ovf", "vm.mf", "vm-disk1.vmdk"]);
        assert_eq!(idx.descriptor().name, "vm.ovf");
        for (m, want) in idx.members.iter().zip([ovf, mf, &disk[..]]) {
            let start = m.offset as usize;
            assert_eq!(&bytes[start..start + m.size as usize], want, "{}", m.name);
        }
        assert_eq!(idx.find("vm.mf").unwrap().size, mf.len() as u64);
        assert!(idx.find("nope").is_none());
    }

    #[test]
    fn works_on_a_file() {
        let bytes = builder_ova(&[("a.OVF", b"x"), ("b.vmdk", b"yy")]);
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, &bytes).unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        let len = f.metadata().unwrap().len();
        let idx = read_index(&mut f, len).unwrap();
        assert_eq!(idx.members.len(), 2);
        assert_eq!(idx.descriptor().name, "a.OVF");
    }

    #[test]
    fn dot_slash_prefix_and_lone_dot_dir_are_accepted() {
        let bytes = build(&[
            special("./", b'5', ""),
            file("./vm.ovf", b"<x/>"),
            file("./disk.vmdk", b"abc"),
        ]);
        let idx = index(&bytes).unwrap();
        assert_eq!(idx.members[0].name, "vm.ovf");
        assert_eq!(idx.members[1].name, "disk.vmdk");
        // Old-style regular files ('\0') and contiguous files ('7') are regular files.
        let mut old = file("vm.ovf", b"x");
        old.typeflag = 0;
        let mut contiguous = file("d.vmdk", b"y");
        contiguous.typeflag = b'7';
        assert_eq!(index(&build(&[old, contiguous])).unwrap().members.len(), 2);
    }

    #[test]
    fn long_names_via_gnu_and_pax_are_checked() {
        let long = format!("{}.vmdk", "d".repeat(150));
        let bytes = builder_ova(&[("vm.ovf", b"x"), (&long, b"disk")]);
        let idx = index(&bytes).unwrap();
        assert_eq!(idx.members[1].name, long);
        let m = &idx.members[1];
        assert_eq!(&bytes[m.offset as usize..][..4], b"disk");

        // Too long once expanded.
        let too_long = format!("{}.vmdk", "d".repeat(300));
        let bytes = builder_ova(&[("vm.ovf", b"x"), (&too_long, b"disk")]);
        assert!(matches!(
            index(&bytes),
            Err(OvfError::OvaBadName { index: 1, .. })
        ));

        // A PAX path that climbs, hidden behind an innocent ustar name.
        let pax = pax_record("path", "../../etc/cron.d/evil");
        let bytes = build(&[
            file("vm.ovf", b"x"),
            Raw {
                name: b"PaxHeaders/x",
                typeflag: b'x',
                data: &pax,
                claimed: None,
                link: b"",
            },
            file("innocent.vmdk", b"data"),
        ]);
        let err = index(&bytes).unwrap_err();
        assert!(
            matches!(&err, OvfError::OvaBadName { name, .. } if name == "../../etc/cron.d/evil"),
            "{err:?}"
        );

        // A valid PAX path is used.
        let pax = pax_record("path", "renamed.vmdk");
        let bytes = build(&[
            file("vm.ovf", b"x"),
            Raw {
                name: b"PaxHeaders/x",
                typeflag: b'x',
                data: &pax,
                claimed: None,
                link: b"",
            },
            file("short", b"data"),
        ]);
        assert_eq!(index(&bytes).unwrap().members[1].name, "renamed.vmdk");
    }

    #[test]
    fn pax_size_that_lies_is_rejected() {
        let pax = pax_record("size", "99999999999");
        let bytes = build(&[
            file("vm.ovf", b"x"),
            Raw {
                name: b"PaxHeaders/x",
                typeflag: b'x',
                data: &pax,
                claimed: None,
                link: b"",
            },
            file("disk.vmdk", b"data"),
        ]);
        let err = index(&bytes).unwrap_err();
        assert!(
            matches!(&err, OvfError::OvaMemberOutOfBounds { name, size: 99_999_999_999, .. } if name == "disk.vmdk"),
            "{err:?}"
        );
    }

    fn bad_name(bytes: &[u8]) -> (usize, String) {
        match index(bytes) {
            Err(OvfError::OvaBadName { index, reason, .. }) => (index, reason.to_owned()),
            other => panic!("expected OvaBadName, got {other:?}"),
        }
    }

    #[test]
    fn hostile_names_are_rejected() {
        let (i, reason) = bad_name(&build(&[file("vm.ovf", b"x"), file("/etc/passwd", b"r")]));
        assert_eq!((i, reason.as_str()), (1, "absolute path"));
        let (i, reason) = bad_name(&build(&[file("vm.ovf", b"x"), file("../evil", b"r")]));
        assert_eq!(i, 1);
        assert!(reason.contains(".."));
        for name in ["a/b.vmdk", "./a/b", "a\\..\\b", "a\\b", "..", "x\x1b[2J"] {
            bad_name(&build(&[file("vm.ovf", b"x"), file(name, b"r")]));
        }
        // The descriptor itself is checked too.
        let (i, _) = bad_name(&build(&[file("/vm.ovf", b"x")]));
        assert_eq!(i, 0);
        bad_name(&build(&[Raw {
            name: b"vm\xff.ovf",
            typeflag: b'0',
            data: b"x",
            claimed: None,
            link: b"",
        }]));
    }

    #[test]
    fn non_files_are_rejected() {
        for (ty, link, kind) in [
            (b'2', "/etc/shadow", "symbolic link"),
            (b'1', "vm.ovf", "hard link"),
            (b'3', "", "character device"),
            (b'4', "", "block device"),
            (b'6', "", "FIFO"),
            (b'5', "", "directory"),
        ] {
            let bytes = build(&[file("vm.ovf", b"x"), special("thing", ty, link)]);
            match index(&bytes) {
                Err(OvfError::OvaNotAFile {
                    index: 1,
                    kind: k,
                    name,
                }) => {
                    assert_eq!((k.as_str(), name.as_str()), (kind, "thing"))
                }
                other => panic!("{kind}: {other:?}"),
            }
        }
        // A directory that is not the lone "./".
        let bytes = build(&[file("vm.ovf", b"x"), special("disks/", b'5', "")]);
        assert!(matches!(index(&bytes), Err(OvfError::OvaNotAFile { .. })));
        // Unknown type flags.
        let bytes = build(&[file("vm.ovf", b"x"), special("v", b'V', "")]);
        assert!(matches!(index(&bytes), Err(OvfError::OvaNotAFile { .. })));
    }

    #[test]
    fn size_that_lies_is_caught_before_reading_data() {
        struct Counting<R> {
            inner: R,
            read: u64,
        }
        impl<R: Read> Read for Counting<R> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.inner.read(buf)?;
                self.read += n as u64;
                Ok(n)
            }
        }
        impl<R: Seek> Seek for Counting<R> {
            fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
                self.inner.seek(pos)
            }
        }

        let mut liar = file("disk.vmdk", &[1; 10]);
        liar.claimed = Some(1 << 30);
        let bytes = build(&[file("vm.ovf", &[0; 600]), liar]);
        let mut counting = Counting {
            inner: Cursor::new(&bytes),
            read: 0,
        };
        let err = read_index(&mut counting, bytes.len() as u64).unwrap_err();
        match err {
            OvfError::OvaMemberOutOfBounds {
                ref name,
                offset,
                size,
                archive_len,
            } => {
                assert_eq!(name, "disk.vmdk");
                assert_eq!(offset, 512 + 1024 + 512);
                assert_eq!(size, 1 << 30);
                assert_eq!(archive_len, bytes.len() as u64);
            }
            other => panic!("{other:?}"),
        }
        // Only the two headers were read, none of the data.
        assert_eq!(counting.read, 1024);
        assert!(err.to_string().contains("disk.vmdk"));

        // Exactly fitting at the very end (no end-of-archive blocks) is fine...
        let mut bytes = build(&[file("vm.ovf", b"x"), file("d", &[9; 512])]);
        bytes.truncate(bytes.len() - 1024);
        assert_eq!(index(&bytes).unwrap().members[1].size, 512);
        // ...one byte short is not.
        bytes.pop();
        assert!(matches!(
            index(&bytes),
            Err(OvfError::OvaMemberOutOfBounds { .. })
        ));
        // The archive length the caller gives is what counts.
        let bytes = build(&[file("vm.ovf", b"x"), file("d", &[9; 100])]);
        assert!(matches!(
            read_index(Cursor::new(&bytes), 1000),
            Err(OvfError::OvaMemberOutOfBounds { .. })
        ));
    }

    #[test]
    fn descriptor_must_be_first() {
        let bytes = build(&[file("vm-disk1.vmdk", b"d"), file("vm.ovf", b"x")]);
        match index(&bytes) {
            Err(e @ OvfError::OvaDescriptorNotFirst { .. }) => {
                assert!(e.to_string().contains("\"vm-disk1.vmdk\""), "{e}");
            }
            other => panic!("{other:?}"),
        }
        // The .mf first is also wrong.
        assert!(matches!(
            index(&build(&[file("vm.mf", b"m"), file("vm.ovf", b"x")])),
            Err(OvfError::OvaDescriptorNotFirst { .. })
        ));
        // A multi-byte character straddling the last four bytes must not trip the check.
        assert!(matches!(
            index(&build(&[file("\u{e9}xyz", b"x")])),
            Err(OvfError::OvaDescriptorNotFirst { .. })
        ));
        assert!(index(&build(&[file("\u{e9}.OvF", b"x")])).is_ok());
        // A file called just ".ovf" is not a descriptor name.
        assert!(matches!(
            index(&build(&[file(".ovf", b"x")])),
            Err(OvfError::OvaDescriptorNotFirst { .. })
        ));
    }

    #[test]
    fn duplicates_are_rejected() {
        let bytes = build(&[
            file("vm.ovf", b"x"),
            file("disk.vmdk", b"a"),
            file("./disk.vmdk", b"b"),
        ]);
        assert!(matches!(
            index(&bytes),
            Err(OvfError::OvaDuplicate { index: 2, ref name }) if name == "disk.vmdk"
        ));
    }

    #[test]
    fn empty_and_garbage_archives() {
        assert!(matches!(index(&[0; 1024]), Err(OvfError::OvaEmpty)));
        assert!(matches!(index(&[]), Err(OvfError::OvaEmpty)));
        assert!(matches!(
            index(&build(&[special("./", b'5', "")])),
            Err(OvfError::OvaEmpty)
        ));
        // Not a tar file: the header checksum fails.
        let garbage: Vec<u8> = (0..2048u32).map(|i| (i * 31 % 256) as u8).collect();
        assert!(matches!(index(&garbage), Err(OvfError::OvaRead { .. })));
        // Truncated inside a header.
        let bytes = build(&[file("vm.ovf", b"x"), file("d.vmdk", b"y")]);
        let err = index(&bytes[..1024 + 100]).unwrap_err();
        assert!(
            matches!(&err, OvfError::OvaRead { location, .. } if location.contains("vm.ovf")),
            "{err:?}"
        );
        // A corrupted header checksum in the second member.
        let mut bytes = build(&[file("vm.ovf", b"x"), file("d.vmdk", b"y")]);
        bytes[1024 + 10] ^= 0x01;
        assert!(matches!(index(&bytes), Err(OvfError::OvaRead { .. })));
    }

    #[test]
    fn member_count_is_capped() {
        let names: Vec<String> = (0..=MAX_OVA_MEMBERS).map(|i| format!("f{i}")).collect();
        let mut members = vec![file("vm.ovf", b"x")];
        members.extend(names.iter().map(|n| file(n, b"")));
        let bytes = build(&members);
        assert!(matches!(
            index(&bytes),
            Err(OvfError::OvaTooManyMembers {
                limit: MAX_OVA_MEMBERS
            })
        ));
        let bytes = build(&members[..MAX_OVA_MEMBERS]);
        assert_eq!(index(&bytes).unwrap().members.len(), MAX_OVA_MEMBERS);
    }

    #[test]
    fn header_budget_bounds_memory() {
        // A PAX record block claiming to be 1 MiB: the tar crate would buffer it all.
        let pax = vec![b'9'; 1 << 20];
        let bytes = build(&[
            file("vm.ovf", b"x"),
            Raw {
                name: b"PaxHeaders/x",
                typeflag: b'x',
                data: &pax,
                claimed: None,
                link: b"",
            },
            file("disk.vmdk", b"data"),
        ]);
        let err = read_index_limited(Cursor::new(&bytes), bytes.len() as u64, 100, 64 * 1024)
            .unwrap_err();
        assert!(
            matches!(err, OvfError::OvaHeadersTooLarge { limit: 65536 }),
            "{err:?}"
        );
    }
}
