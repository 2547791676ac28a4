//! The one error type for OVF packaging: descriptor, `.mf` manifest, OVA archive and member
//! names.
//!
//! Everything this module parses comes from the customer's side of the courier, so every
//! error is expected to be shown to a person. Each variant therefore carries where the problem
//! is (line number, member name, file name) and each message says what failed and what to do.
//! Untrusted strings are printed with `{:?}` so that control characters in a hostile name
//! cannot rewrite the user's terminal.
//!
//! Descriptor and manifest errors name the line but not the file: the parsers see bytes, and
//! the caller, who knows the path, is expected to prefix it.

use std::io;

/// Anything that can go wrong reading OVF descriptors, `.mf` manifests and OVA archives.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OvfError {
    // ---- member and file names -------------------------------------------------------------
    /// A file name (an OVF `href`, a `.mf` entry, an OVA member) is not a safe flat name.
    #[error(
        "unsafe file name {name:?}: {reason}; OVF packages may only reference plain file names \
         inside the package, so re-export the package"
    )]
    InvalidFileName {
        /// The offending name, as found.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    // ---- descriptor (.ovf) -------------------------------------------------------------------
    /// The descriptor is larger than any real descriptor should be.
    #[error(
        "OVF descriptor is {size} bytes, over the {limit}-byte limit; this is not a plausible \
         descriptor (it may be a disk image or corrupt), check which file was given"
    )]
    DescriptorTooLarge {
        /// Size of the input in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The descriptor is not UTF-8 text.
    #[error(
        "OVF descriptor line {line}: not valid UTF-8 text; re-export the package with a tool \
         that writes UTF-8 descriptors (e.g. ovftool), or convert it with iconv"
    )]
    DescriptorNotUtf8 {
        /// Line of the first invalid byte.
        line: usize,
    },
    /// The XML itself is malformed (including truncated mid-tag).
    #[error(
        "OVF descriptor line {line}: malformed XML: {message}; the descriptor is corrupt or \
         truncated, re-copy or re-export the package"
    )]
    Xml {
        /// Line where the parser stopped.
        line: usize,
        /// The XML parser's description.
        message: String,
    },
    /// The document ended while elements were still open.
    #[error(
        "OVF descriptor line {line}: document ends inside <{element}>; the descriptor is \
         truncated, re-copy or re-export the package"
    )]
    Truncated {
        /// Last line of the document.
        line: usize,
        /// Innermost element left open.
        element: String,
    },
    /// A `<!DOCTYPE>` was found. DTDs allow entity expansion bombs and OVF never needs one.
    #[error(
        "OVF descriptor line {line}: a <!DOCTYPE> (DTD) is not allowed in an OVF descriptor \
         because its entities can expand without bound; remove the DOCTYPE declaration"
    )]
    DoctypeForbidden {
        /// Line of the DOCTYPE.
        line: usize,
    },
    /// Elements are nested deeper than any real descriptor.
    #[error(
        "OVF descriptor line {line}: elements nested more than {limit} deep; real descriptors \
         are far shallower, so this file is corrupt or hostile"
    )]
    TooDeep {
        /// Line of the element that went too deep.
        line: usize,
        /// The depth limit.
        limit: usize,
    },
    /// More of something than the parser is willing to hold.
    #[error(
        "OVF descriptor line {line}: more than {limit} {what}; this is beyond any real \
         package, so the file is corrupt or hostile"
    )]
    TooMany {
        /// Line where the limit was crossed.
        line: usize,
        /// What was counted ("File elements", "attributes on one element", ...).
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The root element is not an `Envelope`.
    #[error(
        "OVF descriptor line {line}: root element is <{found}>, expected an OVF <Envelope>; \
         check that the file given is the package's .ovf descriptor"
    )]
    NotEnvelope {
        /// Line of the root element.
        line: usize,
        /// Local name of the root element found.
        found: String,
    },
    /// The `Envelope` is in a namespace that is not OVF 1.x or 2.x.
    #[error(
        "OVF descriptor line {line}: Envelope namespace is {namespace:?}, expected \
         \"http://schemas.dmtf.org/ovf/envelope/1\" or \".../envelope/2\"; only DMTF OVF 1.x \
         and 2.x descriptors are supported"
    )]
    UnsupportedNamespace {
        /// Line of the root element.
        line: usize,
        /// The namespace found (empty if none).
        namespace: String,
    },
    /// Content after the root element closed.
    #[error(
        "OVF descriptor line {line}: element <{element}> after the end of the Envelope; a \
         descriptor holds exactly one Envelope, fix or re-export it"
    )]
    TrailingContent {
        /// Line of the extra element.
        line: usize,
        /// Its local name.
        element: String,
    },
    /// A required attribute is missing.
    #[error(
        "OVF descriptor line {line}: <{element}> has no ovf:{attribute} attribute, which OVF \
         requires; fix or re-export the descriptor"
    )]
    MissingAttribute {
        /// Line of the element.
        line: usize,
        /// Element local name.
        element: &'static str,
        /// Attribute local name.
        attribute: &'static str,
    },
    /// An attribute value cannot be used.
    #[error(
        "OVF descriptor line {line}: <{element}> ovf:{attribute}={value:?} is invalid: \
         {reason}; fix or re-export the descriptor"
    )]
    InvalidAttribute {
        /// Line of the element.
        line: usize,
        /// Element local name.
        element: &'static str,
        /// Attribute local name.
        attribute: &'static str,
        /// The value found.
        value: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A `File` `href` is not a safe flat name inside the package.
    #[error(
        "OVF descriptor line {line}: File ovf:href={href:?} is not allowed: {reason}; a \
         package may only reference plain file names beside the descriptor, re-export it"
    )]
    UnsafeHref {
        /// Line of the `File` element.
        line: usize,
        /// The href found.
        href: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// Two elements share a value that must be unique (file id, href, disk id, ...).
    #[error(
        "OVF descriptor line {line}: duplicate {what} {value:?} (first on line {first_line}); \
         every {what} must be unique, fix or re-export the descriptor"
    )]
    Duplicate {
        /// Line of the second occurrence.
        line: usize,
        /// Line of the first occurrence.
        first_line: usize,
        /// What is duplicated ("File ovf:id", "File ovf:href", ...).
        what: &'static str,
        /// The duplicated value.
        value: String,
    },
    /// A `Disk` names a `fileRef` that no `File` declares.
    #[error(
        "OVF descriptor line {line}: Disk {disk_id:?} has ovf:fileRef={file_ref:?} but \
         References has no File with that id; the package is incomplete, re-export it"
    )]
    UnknownFileRef {
        /// Line of the `Disk` element.
        line: usize,
        /// The disk's id.
        disk_id: String,
        /// The missing file id.
        file_ref: String,
    },
    /// A virtual hardware item points at a disk the `DiskSection` does not declare.
    #[error(
        "OVF descriptor line {line}: VirtualSystem {system:?} attaches disk {disk_id:?} but \
         DiskSection declares no such disk; the descriptor is inconsistent, re-export it"
    )]
    UnknownDiskRef {
        /// Line of the `HostResource` element.
        line: usize,
        /// Id of the virtual system.
        system: String,
        /// The missing disk id.
        disk_id: String,
    },
    /// The `Envelope` holds no `VirtualSystem` or `VirtualSystemCollection`.
    #[error(
        "OVF descriptor: the Envelope contains no VirtualSystem or VirtualSystemCollection, so \
         there is no VM to migrate; check that this is the right descriptor"
    )]
    NoContent,
    /// The `Envelope` holds more than one top-level content element.
    #[error(
        "OVF descriptor line {line}: a second top-level VirtualSystem/VirtualSystemCollection; \
         an Envelope holds exactly one (wrap several VMs in a VirtualSystemCollection)"
    )]
    MultipleContent {
        /// Line of the second content element.
        line: usize,
    },

    // ---- manifest (.mf) ----------------------------------------------------------------------
    /// The manifest is larger than any real manifest should be.
    #[error(
        ".mf manifest is {size} bytes, over the {limit}-byte limit; this is not a plausible \
         manifest, check which file was given"
    )]
    MfTooLarge {
        /// Size of the input in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// A manifest line is not `ALGO(file)= hex`.
    #[error(
        ".mf manifest line {line}: {reason}; expected lines like \"SHA256(disk1.vmdk)= <hex>\", \
         regenerate the manifest"
    )]
    MfSyntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// A manifest line uses an algorithm other than SHA1, SHA256 or SHA512.
    #[error(
        ".mf manifest line {line}: unsupported digest algorithm {algorithm:?}; only SHA1, \
         SHA256 and SHA512 are supported, regenerate the manifest with one of them"
    )]
    MfUnknownAlgorithm {
        /// 1-based line number.
        line: usize,
        /// The algorithm name found.
        algorithm: String,
    },
    /// A digest has the wrong number of hex digits for its algorithm.
    #[error(
        ".mf manifest line {line}: {algorithm} digest for {file:?} has {found} hex digits, \
         expected {expected}; the manifest is corrupt, regenerate it"
    )]
    MfDigestLength {
        /// 1-based line number.
        line: usize,
        /// The file the line is about.
        file: String,
        /// Algorithm name.
        algorithm: &'static str,
        /// Hex digits expected.
        expected: usize,
        /// Hex digits found.
        found: usize,
    },
    /// A file name appears on two manifest lines.
    #[error(
        ".mf manifest line {line}: {file:?} is listed again (first on line {first_line}); each \
         file may be listed once, regenerate the manifest"
    )]
    MfDuplicate {
        /// 1-based line number of the repeat.
        line: usize,
        /// 1-based line number of the first listing.
        first_line: usize,
        /// The repeated name.
        file: String,
    },
    /// A manifest names a file that is not a safe flat name.
    #[error(
        ".mf manifest line {line}: file name {name:?} is not allowed: {reason}; manifests may \
         only list plain file names inside the package"
    )]
    MfUnsafeName {
        /// 1-based line number.
        line: usize,
        /// The name found.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    // ---- OVA archives ------------------------------------------------------------------------
    /// Reading the OVA failed, or the tar structure is corrupt.
    #[error(
        "OVA archive unreadable {location}: {cause}; the file is damaged, truncated or not a tar \
         archive, re-copy or re-export it"
    )]
    OvaRead {
        /// Where the failure happened, e.g. "after member \"disk1.vmdk\"".
        location: String,
        /// The underlying error, shown in the message (so not also a `source()`).
        cause: io::Error,
    },
    /// Tar headers (and their PAX / GNU long-name records) took more bytes than allowed.
    #[error(
        "OVA archive: tar headers and extension records exceed {limit} bytes; a real OVA has a \
         few small headers, so the archive is corrupt or hostile"
    )]
    OvaHeadersTooLarge {
        /// The budget in bytes.
        limit: u64,
    },
    /// The archive holds no members.
    #[error("OVA archive contains no files; an OVA must start with the .ovf descriptor")]
    OvaEmpty,
    /// The first member is not the `.ovf` descriptor.
    #[error(
        "OVA archive: first member is {first:?}, but the .ovf descriptor must come first \
         (DSP0243); repackage the OVA with ovftool or `tar` listing the .ovf first"
    )]
    OvaDescriptorNotFirst {
        /// Name of the first member.
        first: String,
    },
    /// A member name is absolute, climbs, has directories or is otherwise unsafe.
    #[error(
        "OVA archive member #{index} {name:?} is not allowed: {reason}; OVA members must be \
         plain file names, repackage the OVA"
    )]
    OvaBadName {
        /// 0-based position among the archive's members.
        index: usize,
        /// The name as stored in the archive (lossily decoded).
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A member is a link, device, fifo, directory or other non-file.
    #[error(
        "OVA archive member #{index} {name:?} is a {kind}, but an OVA may only hold regular \
         files; repackage the OVA without it"
    )]
    OvaNotAFile {
        /// 0-based position among the archive's members.
        index: usize,
        /// Member name (lossily decoded).
        name: String,
        /// What it is ("symbolic link", "character device", ...).
        kind: String,
    },
    /// Two members share a name.
    #[error(
        "OVA archive member #{index} {name:?} appears twice; a package's files must be \
         unique, repackage the OVA"
    )]
    OvaDuplicate {
        /// 0-based position of the second occurrence.
        index: usize,
        /// The repeated name.
        name: String,
    },
    /// A member's header claims more data than the archive holds.
    #[error(
        "OVA archive member {name:?} claims {size} bytes at offset {offset}, past the end of \
         the {archive_len}-byte archive; the OVA is truncated or its header lies, re-copy it"
    )]
    OvaMemberOutOfBounds {
        /// Member name.
        name: String,
        /// Offset of its data.
        offset: u64,
        /// Size claimed by its header.
        size: u64,
        /// Length of the archive.
        archive_len: u64,
    },
    /// More members than any real OVA.
    #[error(
        "OVA archive has more than {limit} members; real packages have a handful, so the \
         archive is corrupt or hostile"
    )]
    OvaTooManyMembers {
        /// The limit.
        limit: usize,
    },
}
