//! The OVF descriptor (`.ovf`): what files a package holds, its disks, its logical networks and
//! the virtual machines (with their NICs and disk attachments) that must land in the cloud.
//!
//! The exporter needs this to know which files to encrypt and what each VM is called; the
//! importer needs it to map NICs onto org VDC networks. Both read descriptors written by
//! someone else, so the parser treats its input as hostile:
//!
//! - it is a streaming [`quick_xml::NsReader`], not serde, so memory stays proportional to what
//!   is kept, and elements are matched on **namespace URIs**, never on prefixes (`ovf:`,
//!   `rasd:` and friends are arbitrary and real tools disagree on them);
//! - any `<!DOCTYPE>` is refused, so entity-expansion bombs ("billion laughs") never start;
//! - input size, element depth, attributes per element, namespace declarations and the number
//!   of files, disks, networks, systems and hardware items are all capped;
//! - every `File ovf:href` must be a safe flat name (see [`validate_file_name`]), ids and hrefs
//!   must be unique, every `Disk ovf:fileRef` must name a `File` and every disk a VM attaches
//!   must be declared.
//!
//! Only what odt needs is kept; other sections (Product, EULA, Annotation, OperatingSystem,
//! vendor extensions) are skipped but still checked for well-formedness.
//!
//! [`validate_file_name`]: super::validate_file_name

use std::borrow::Cow;
use std::collections::HashMap;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;

use super::names::file_name_problem;
use super::OvfError;

/// OVF 1.x envelope namespace.
pub const OVF1_NAMESPACE: &str = "http://schemas.dmtf.org/ovf/envelope/1";
/// OVF 2.x envelope namespace.
pub const OVF2_NAMESPACE: &str = "http://schemas.dmtf.org/ovf/envelope/2";
/// CIM resource allocation setting data (`rasd:`), the children of OVF `Item`s.
pub const RASD_NAMESPACE: &str =
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData";
/// CIM Ethernet port allocation setting data (`epasd:`), the children of OVF 2 `EthernetPortItem`s.
pub const EPASD_NAMESPACE: &str =
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_EthernetPortAllocationSettingData";
/// CIM storage allocation setting data (`sasd:`), the children of OVF 2 `StorageItem`s.
pub const SASD_NAMESPACE: &str =
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_StorageAllocationSettingData";

/// Largest descriptor accepted. Real descriptors are a few KiB to a few hundred KiB.
pub const MAX_DESCRIPTOR_BYTES: usize = 16 << 20;
/// Deepest element nesting accepted. Real descriptors nest about 6 deep (a few more with
/// nested collections).
pub const MAX_DEPTH: usize = 64;
/// Most files, disks, networks, virtual systems or hardware items accepted (each counted
/// separately).
pub const MAX_ENTRIES: usize = 10_000;
/// Most attributes on one element. Bounds quick-xml's quadratic duplicate-attribute check.
pub const MAX_ATTRIBUTES: usize = 64;
/// Most namespace declarations in scope at once (declared on an element and its ancestors).
/// Every prefix lookup scans the bindings in scope, so this bounds the cost per element;
/// declarations on siblings do not add up, so tools that re-declare prefixes on every item
/// are fine.
pub const MAX_NAMESPACE_DECLARATIONS: usize = 128;

/// RASD `ResourceType` of an Ethernet adapter.
const RESOURCE_TYPE_ETHERNET: &str = "10";

/// Which OVF major version the descriptor is, told by the Envelope's namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OvfVersion {
    /// OVF 1.x (`http://schemas.dmtf.org/ovf/envelope/1`).
    V1,
    /// OVF 2.x (`http://schemas.dmtf.org/ovf/envelope/2`).
    V2,
}

impl OvfVersion {
    /// The envelope namespace URI of this version.
    pub fn namespace(self) -> &'static str {
        match self {
            OvfVersion::V1 => OVF1_NAMESPACE,
            OvfVersion::V2 => OVF2_NAMESPACE,
        }
    }

    fn from_namespace(ns: &[u8]) -> Option<OvfVersion> {
        if ns == OVF1_NAMESPACE.as_bytes() {
            Some(OvfVersion::V1)
        } else if ns == OVF2_NAMESPACE.as_bytes() {
            Some(OvfVersion::V2)
        } else {
            None
        }
    }
}

/// A parsed OVF descriptor: the parts odt needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// OVF 1.x or 2.x.
    pub version: OvfVersion,
    /// `References/File`, in document order. Hrefs are validated flat names.
    pub files: Vec<FileRef>,
    /// `DiskSection/Disk`, in document order.
    pub disks: Vec<Disk>,
    /// `NetworkSection/Network`, in document order.
    pub networks: Vec<Network>,
    /// The one top-level `VirtualSystem` or `VirtualSystemCollection`.
    pub content: Content,
}

/// One `References/File`: a file of the package besides the descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// `ovf:id`, what `Disk ovf:fileRef` points at.
    pub id: String,
    /// `ovf:href`, the file's name in the package (always a safe flat name).
    pub href: String,
    /// `ovf:size` in bytes, if declared.
    pub size: Option<u64>,
    /// `ovf:compression` (e.g. `gzip`), if declared.
    pub compression: Option<String>,
    /// `ovf:chunkSize`: the file is split into `href.000000000`, `href.000000001`, ...
    pub chunk_size: Option<u64>,
}

/// One `DiskSection/Disk`: a virtual disk, usually backed by a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// `ovf:diskId`, what `HostResource` `ovf:/disk/<id>` points at.
    pub disk_id: String,
    /// `ovf:fileRef`: the `FileRef::id` holding the image; `None` for a blank disk.
    pub file_ref: Option<String>,
    /// `ovf:capacity` × `ovf:capacityAllocationUnits`, in bytes.
    pub capacity_bytes: u64,
    /// `ovf:populatedSize` in bytes, if declared.
    pub populated_size: Option<u64>,
    /// `ovf:format`, a URI such as `…/vmdk.html#streamOptimized`.
    pub format: Option<String>,
}

/// One `NetworkSection/Network`: a logical network that NICs connect to by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// `ovf:name`, the value NICs' `Connection` carries.
    pub name: String,
    /// `Description` text, if any.
    pub description: Option<String>,
}

/// The body of the Envelope: one VM, or a vApp of several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A single virtual machine.
    System(VirtualSystem),
    /// A vApp: a collection of virtual systems and nested collections.
    Collection(VirtualSystemCollection),
}

impl Content {
    /// `ovf:id` of the system or collection.
    pub fn id(&self) -> &str {
        match self {
            Content::System(s) => &s.id,
            Content::Collection(c) => &c.id,
        }
    }

    /// `<Name>` of the system or collection, if any.
    pub fn name(&self) -> Option<&str> {
        match self {
            Content::System(s) => s.name.as_deref(),
            Content::Collection(c) => c.name.as_deref(),
        }
    }

    /// The `<Name>`, or the `ovf:id` when there is none.
    pub fn display_name(&self) -> &str {
        self.name().unwrap_or_else(|| self.id())
    }

    fn collect_systems<'a>(&'a self, out: &mut Vec<&'a VirtualSystem>) {
        match self {
            Content::System(s) => out.push(s),
            Content::Collection(c) => {
                for child in &c.children {
                    child.collect_systems(out);
                }
            }
        }
    }
}

/// One virtual machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualSystem {
    /// `ovf:id`.
    pub id: String,
    /// `<Name>`, if any.
    pub name: Option<String>,
    /// Ethernet adapters (RASD `ResourceType` 10), in document order.
    pub nics: Vec<Nic>,
    /// Disk ids attached by the hardware (`HostResource` `ovf:/disk/<id>`), in document order.
    pub disk_refs: Vec<String>,
}

impl VirtualSystem {
    /// The `<Name>`, or the `ovf:id` when there is none.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

/// One Ethernet adapter of a virtual system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    /// `InstanceID`.
    pub instance_id: Option<String>,
    /// `Connection`: the name of the `Network` the NIC is attached to.
    pub connection: Option<String>,
    /// `ResourceSubType`, e.g. `VmxNet3` or `E1000`.
    pub resource_subtype: Option<String>,
    /// `AddressOnParent`: the slot, which fixes NIC order inside the guest.
    pub address_on_parent: Option<String>,
}

/// A vApp: several virtual systems (and nested collections) deployed together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualSystemCollection {
    /// `ovf:id`.
    pub id: String,
    /// `<Name>`, if any.
    pub name: Option<String>,
    /// Member systems and collections, in document order.
    pub children: Vec<Content>,
}

impl Envelope {
    /// Parses an OVF 1.x or 2.x descriptor.
    ///
    /// The input must be UTF-8 (a byte-order mark is allowed), at most
    /// [`MAX_DESCRIPTOR_BYTES`], without a DOCTYPE.
    ///
    /// # Errors
    ///
    /// An [`OvfError`] naming the line for malformed or truncated XML, a DOCTYPE, a wrong
    /// namespace, a limit crossed, a missing or invalid attribute, an unsafe or duplicate href,
    /// a dangling `fileRef` or disk reference, or no VM at all.
    pub fn parse(data: &[u8]) -> Result<Envelope, OvfError> {
        if data.len() > MAX_DESCRIPTOR_BYTES {
            return Err(OvfError::DescriptorTooLarge {
                size: data.len(),
                limit: MAX_DESCRIPTOR_BYTES,
            });
        }
        let text = std::str::from_utf8(data).map_err(|e| OvfError::DescriptorNotUtf8 {
            line: line_at(data, e.valid_up_to()),
        })?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        Parser::new(text).run()
    }

    /// Every virtual system, flattening collections depth-first in document order.
    pub fn virtual_systems(&self) -> Vec<&VirtualSystem> {
        let mut out = Vec::new();
        self.content.collect_systems(&mut out);
        out
    }

    /// The `File` with this `ovf:id`.
    pub fn file_by_id(&self, id: &str) -> Option<&FileRef> {
        self.files.iter().find(|f| f.id == id)
    }

    /// The `Disk` with this `ovf:diskId`.
    pub fn disk_by_id(&self, disk_id: &str) -> Option<&Disk> {
        self.disks.iter().find(|d| d.disk_id == disk_id)
    }

    /// The name to show for the package: the top-level system's or collection's `<Name>`,
    /// or its `ovf:id` when there is none.
    pub fn display_name(&self) -> &str {
        self.content.display_name()
    }
}

/// Parses an OVF descriptor; the same as [`Envelope::parse`].
///
/// # Errors
///
/// See [`Envelope::parse`].
pub fn parse_descriptor(data: &[u8]) -> Result<Envelope, OvfError> {
    Envelope::parse(data)
}

// ---- parser ----------------------------------------------------------------------------------

/// 1-based line number of byte offset `pos` in `data`.
fn line_at(data: &[u8], pos: usize) -> usize {
    let end = pos.min(data.len());
    data[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

/// What an open element means to us, decided from its parent and its namespace + local name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Envelope,
    References,
    File,
    DiskSection,
    Disk,
    NetworkSection,
    Network,
    NetworkDescription,
    System,
    Collection,
    ContentName,
    Hardware,
    Item,
    Field(Prop),
    Other,
}

impl Kind {
    /// Elements whose text content we keep.
    fn captures_text(self) -> bool {
        matches!(
            self,
            Kind::NetworkDescription | Kind::ContentName | Kind::Field(_)
        )
    }
}

/// The RASD / EPASD / SASD properties we read from hardware items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prop {
    ResourceType,
    HostResource,
    Connection,
    ResourceSubType,
    AddressOnParent,
    InstanceId,
}

impl Prop {
    fn from_local(local: &[u8]) -> Option<Prop> {
        Some(match local {
            b"ResourceType" => Prop::ResourceType,
            b"HostResource" => Prop::HostResource,
            b"Connection" => Prop::Connection,
            b"ResourceSubType" => Prop::ResourceSubType,
            b"AddressOnParent" => Prop::AddressOnParent,
            b"InstanceID" => Prop::InstanceId,
            _ => return None,
        })
    }
}

/// How an element's namespace relates to OVF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NsClass {
    /// The Envelope's own OVF namespace.
    Ovf,
    /// One of the CIM setting-data namespaces of hardware item properties.
    Cim,
    /// Anything else (vendor extensions, other OVF version, unbound, unknown prefix).
    Foreign,
}

struct Frame {
    kind: Kind,
    /// Local name, for "document ends inside <X>".
    name: String,
    line: usize,
    /// Namespaces this element declares, released when it closes.
    ns_declared: usize,
}

/// A hardware item being read.
#[derive(Default)]
struct ItemBuilder {
    resource_type: Option<String>,
    host_resources: Vec<(String, usize)>,
    connection: Option<String>,
    resource_subtype: Option<String>,
    address_on_parent: Option<String>,
    instance_id: Option<String>,
}

/// An open `VirtualSystem` or `VirtualSystemCollection`.
enum Node {
    System(VirtualSystem),
    Collection(VirtualSystemCollection),
}

/// A disk attachment to check once the whole DiskSection is known.
struct DiskRefCheck {
    system: String,
    disk_id: String,
    line: usize,
}

/// Attributes of one element that are in the OVF namespace or unqualified.
///
/// OVF's schema makes attributes namespace-qualified (`ovf:id`), but hand-written descriptors
/// sometimes drop the prefix; a qualified attribute wins over an unqualified one.
#[derive(Default)]
struct Attrs {
    items: Vec<(String, bool, String)>,
}

impl Attrs {
    fn get(&self, name: &str) -> Option<&str> {
        let mut fallback = None;
        for (local, qualified, value) in &self.items {
            if local == name {
                if *qualified {
                    return Some(value);
                }
                fallback.get_or_insert(value.as_str());
            }
        }
        fallback
    }
}

struct Parser<'a> {
    data: &'a [u8],
    reader: NsReader<&'a [u8]>,
    /// Envelope namespace (set by the root element).
    ns: &'static [u8],
    version: Option<OvfVersion>,
    frames: Vec<Frame>,
    root_done: bool,
    /// Incremental line counting: `line_count` is the line of byte `line_pos`.
    line_pos: usize,
    line_count: usize,
    /// Namespace declarations on the open elements (see [`MAX_NAMESPACE_DECLARATIONS`]).
    ns_in_scope: usize,
    text: String,

    files: Vec<FileRef>,
    file_ids: HashMap<String, usize>,
    file_hrefs: HashMap<String, usize>,
    disks: Vec<Disk>,
    disk_lines: Vec<usize>,
    disk_ids: HashMap<String, usize>,
    networks: Vec<Network>,
    network_names: HashMap<String, usize>,
    content_ids: HashMap<String, usize>,
    nodes: Vec<Node>,
    content: Option<Content>,
    item: Option<ItemBuilder>,
    items: usize,
    disk_ref_checks: Vec<DiskRefCheck>,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        let mut reader = NsReader::from_str(text);
        let cfg = reader.config_mut();
        cfg.check_end_names = true;
        cfg.expand_empty_elements = false;
        cfg.trim_text(false);
        Parser {
            data: text.as_bytes(),
            reader,
            ns: b"",
            version: None,
            frames: Vec::new(),
            root_done: false,
            line_pos: 0,
            line_count: 1,
            ns_in_scope: 0,
            text: String::new(),
            files: Vec::new(),
            file_ids: HashMap::new(),
            file_hrefs: HashMap::new(),
            disks: Vec::new(),
            disk_lines: Vec::new(),
            disk_ids: HashMap::new(),
            networks: Vec::new(),
            network_names: HashMap::new(),
            content_ids: HashMap::new(),
            nodes: Vec::new(),
            content: None,
            item: None,
            items: 0,
            disk_ref_checks: Vec::new(),
        }
    }

    /// Line of byte `pos`, counting forward from the last position asked about, so that the
    /// whole parse stays linear.
    fn line(&mut self, pos: u64) -> usize {
        let pos = usize::try_from(pos)
            .unwrap_or(usize::MAX)
            .min(self.data.len());
        if pos < self.line_pos {
            return line_at(self.data, pos);
        }
        self.line_count += self.data[self.line_pos..pos]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.line_pos = pos;
        self.line_count
    }

    fn xml_error(&mut self, err: impl std::fmt::Display) -> OvfError {
        let pos = self.reader.error_position();
        OvfError::Xml {
            line: self.line(pos),
            message: err.to_string(),
        }
    }

    fn run(mut self) -> Result<Envelope, OvfError> {
        loop {
            let pos = self.reader.buffer_position();
            let event = match self.reader.read_event() {
                Ok(ev) => ev,
                Err(e) => return Err(self.xml_error(e)),
            };
            let line = self.line(pos);
            match event {
                Event::Start(e) => self.start(&e, line, false)?,
                Event::Empty(e) => self.start(&e, line, true)?,
                Event::End(_) => self.end()?,
                Event::Text(t) => {
                    if self.capturing() {
                        let s = t.unescape().map_err(|e| OvfError::Xml {
                            line,
                            message: e.to_string(),
                        })?;
                        self.text.push_str(&s);
                    }
                }
                Event::CData(c) => {
                    if self.capturing() {
                        let s = c.decode().map_err(|e| OvfError::Xml {
                            line,
                            message: e.to_string(),
                        })?;
                        self.text.push_str(&s);
                    }
                }
                Event::DocType(_) => return Err(OvfError::DoctypeForbidden { line }),
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
                Event::Eof => break,
            }
        }
        self.finish()
    }

    fn capturing(&self) -> bool {
        self.frames.last().is_some_and(|f| f.kind.captures_text())
    }

    fn too_many(line: usize, what: &'static str, count: usize) -> Result<(), OvfError> {
        if count > MAX_ENTRIES {
            Err(OvfError::TooMany {
                line,
                what,
                limit: MAX_ENTRIES,
            })
        } else {
            Ok(())
        }
    }

    /// Enforces the per-element attribute cap and the in-scope namespace-declaration cap,
    /// before anything iterates the attributes with quick-xml's quadratic duplicate check.
    /// Returns how many namespaces `e` declares.
    fn check_attribute_counts(&self, e: &BytesStart<'_>, line: usize) -> Result<usize, OvfError> {
        let mut attrs = e.attributes();
        attrs.with_checks(false);
        let mut declared = 0;
        for (n, attr) in attrs.enumerate() {
            let attr = attr.map_err(|err| OvfError::Xml {
                line,
                message: err.to_string(),
            })?;
            if n >= MAX_ATTRIBUTES {
                return Err(OvfError::TooMany {
                    line,
                    what: "attributes on one element",
                    limit: MAX_ATTRIBUTES,
                });
            }
            if attr.key.as_namespace_binding().is_some() {
                declared += 1;
                if self.ns_in_scope + declared > MAX_NAMESPACE_DECLARATIONS {
                    return Err(OvfError::TooMany {
                        line,
                        what: "namespace declarations in scope",
                        limit: MAX_NAMESPACE_DECLARATIONS,
                    });
                }
            }
        }
        Ok(declared)
    }

    fn classify_ns(&self, res: &ResolveResult<'_>) -> NsClass {
        match res {
            ResolveResult::Bound(Namespace(ns)) if *ns == self.ns => NsClass::Ovf,
            ResolveResult::Bound(Namespace(ns))
                if *ns == RASD_NAMESPACE.as_bytes()
                    || *ns == EPASD_NAMESPACE.as_bytes()
                    || *ns == SASD_NAMESPACE.as_bytes() =>
            {
                NsClass::Cim
            }
            _ => NsClass::Foreign,
        }
    }

    fn start(&mut self, e: &BytesStart<'_>, line: usize, empty: bool) -> Result<(), OvfError> {
        if self.root_done {
            return Err(OvfError::TrailingContent {
                line,
                element: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
            });
        }
        if self.frames.len() >= MAX_DEPTH {
            return Err(OvfError::TooDeep {
                line,
                limit: MAX_DEPTH,
            });
        }
        let ns_declared = self.check_attribute_counts(e, line)?;

        let name = e.name();
        let (res, local) = self.reader.resolve_element(name);
        let local = local.as_ref();
        let local_name = String::from_utf8_lossy(local).into_owned();
        let kind = match self.frames.last().map(|f| f.kind) {
            None => {
                let version = match &res {
                    ResolveResult::Bound(Namespace(ns)) => OvfVersion::from_namespace(ns),
                    _ => None,
                };
                if local != b"Envelope" {
                    return Err(OvfError::NotEnvelope {
                        line,
                        found: local_name,
                    });
                }
                let Some(version) = version else {
                    let namespace = match &res {
                        ResolveResult::Bound(Namespace(ns)) => {
                            String::from_utf8_lossy(ns).into_owned()
                        }
                        ResolveResult::Unbound => String::new(),
                        ResolveResult::Unknown(p) => {
                            format!("(undeclared prefix {})", String::from_utf8_lossy(p))
                        }
                    };
                    return Err(OvfError::UnsupportedNamespace { line, namespace });
                };
                self.version = Some(version);
                self.ns = version.namespace().as_bytes();
                Kind::Envelope
            }
            Some(parent) => classify(parent, self.classify_ns(&res), local),
        };

        self.open(kind, e, line)?;
        if kind.captures_text() {
            self.text.clear();
        }
        self.ns_in_scope += ns_declared;
        self.frames.push(Frame {
            kind,
            name: local_name,
            line,
            ns_declared,
        });
        if empty {
            self.end()?;
        }
        Ok(())
    }

    /// The OVF-namespace or unqualified attributes of `e`.
    fn attrs(&self, e: &BytesStart<'_>, line: usize) -> Result<Attrs, OvfError> {
        let xml = |err: &dyn std::fmt::Display| OvfError::Xml {
            line,
            message: err.to_string(),
        };
        let mut out = Attrs::default();
        for attr in e.attributes() {
            let attr = attr.map_err(|err| xml(&err))?;
            if attr.key.as_namespace_binding().is_some() {
                continue;
            }
            let (res, local) = self.reader.resolve_attribute(attr.key);
            let qualified = match res {
                ResolveResult::Bound(Namespace(ns)) if ns == self.ns => true,
                ResolveResult::Unbound => false,
                _ => continue,
            };
            let value = attr.unescape_value().map_err(|err| xml(&err))?;
            out.items.push((
                String::from_utf8_lossy(local.as_ref()).into_owned(),
                qualified,
                value.into_owned(),
            ));
        }
        Ok(out)
    }

    /// Reacts to an element opening: reads attributes of the elements we keep.
    fn open(&mut self, kind: Kind, e: &BytesStart<'_>, line: usize) -> Result<(), OvfError> {
        match kind {
            Kind::File => {
                let a = self.attrs(e, line)?;
                let id = required(&a, line, "File", "id")?;
                let href = required(&a, line, "File", "href")?;
                if let Some(reason) = file_name_problem(&href) {
                    return Err(OvfError::UnsafeHref { line, href, reason });
                }
                let size = optional_u64(&a, line, "File", "size")?;
                let chunk_size = optional_u64(&a, line, "File", "chunkSize")?;
                if chunk_size == Some(0) {
                    return Err(invalid(line, "File", "chunkSize", "0", "must be positive"));
                }
                let compression = a.get("compression").map(str::to_owned);
                unique(&mut self.file_ids, &id, line, "File ovf:id")?;
                unique(&mut self.file_hrefs, &href, line, "File ovf:href")?;
                self.files.push(FileRef {
                    id,
                    href,
                    size,
                    compression,
                    chunk_size,
                });
                Self::too_many(line, "File elements", self.files.len())?;
            }
            Kind::Disk => {
                let a = self.attrs(e, line)?;
                let disk_id = required(&a, line, "Disk", "diskId")?;
                let capacity = required(&a, line, "Disk", "capacity")?;
                let units = a.get("capacityAllocationUnits");
                let capacity_bytes =
                    capacity_bytes(&capacity, units).map_err(|(attr, reason)| {
                        let value = if attr == "capacity" {
                            capacity.clone()
                        } else {
                            units.unwrap_or_default().to_owned()
                        };
                        invalid(line, "Disk", attr, &value, &reason)
                    })?;
                let populated_size = optional_u64(&a, line, "Disk", "populatedSize")?;
                let file_ref = a.get("fileRef").map(str::to_owned);
                let format = a.get("format").map(str::to_owned);
                unique(&mut self.disk_ids, &disk_id, line, "Disk ovf:diskId")?;
                self.disks.push(Disk {
                    disk_id,
                    file_ref,
                    capacity_bytes,
                    populated_size,
                    format,
                });
                self.disk_lines.push(line);
                Self::too_many(line, "Disk elements", self.disks.len())?;
            }
            Kind::Network => {
                let a = self.attrs(e, line)?;
                let name = required(&a, line, "Network", "name")?;
                unique(&mut self.network_names, &name, line, "Network ovf:name")?;
                self.networks.push(Network {
                    name,
                    description: None,
                });
                Self::too_many(line, "Network elements", self.networks.len())?;
            }
            Kind::System | Kind::Collection => {
                let element = if kind == Kind::System {
                    "VirtualSystem"
                } else {
                    "VirtualSystemCollection"
                };
                if self.nodes.is_empty() && self.content.is_some() {
                    return Err(OvfError::MultipleContent { line });
                }
                let a = self.attrs(e, line)?;
                let id = required(&a, line, element, "id")?;
                unique(&mut self.content_ids, &id, line, "VirtualSystem ovf:id")?;
                Self::too_many(
                    line,
                    "VirtualSystem/VirtualSystemCollection elements",
                    self.content_ids.len(),
                )?;
                self.nodes.push(if kind == Kind::System {
                    Node::System(VirtualSystem {
                        id,
                        name: None,
                        nics: Vec::new(),
                        disk_refs: Vec::new(),
                    })
                } else {
                    Node::Collection(VirtualSystemCollection {
                        id,
                        name: None,
                        children: Vec::new(),
                    })
                });
            }
            Kind::Item => {
                self.items += 1;
                Self::too_many(line, "virtual hardware items", self.items)?;
                self.item = Some(ItemBuilder::default());
            }
            _ => {}
        }
        Ok(())
    }

    /// Reacts to an element closing.
    fn end(&mut self) -> Result<(), OvfError> {
        let Some(frame) = self.frames.pop() else {
            // quick-xml reports unmatched end tags itself; nothing to do.
            return Ok(());
        };
        self.ns_in_scope -= frame.ns_declared;
        match frame.kind {
            Kind::Envelope => self.root_done = true,
            Kind::NetworkDescription => {
                let text = std::mem::take(&mut self.text);
                if let Some(net) = self.networks.last_mut() {
                    net.description = Some(text.trim().to_owned());
                }
            }
            Kind::ContentName => {
                let text = std::mem::take(&mut self.text).trim().to_owned();
                match self.nodes.last_mut() {
                    Some(Node::System(s)) => s.name = Some(text),
                    Some(Node::Collection(c)) => c.name = Some(text),
                    None => {}
                }
            }
            Kind::Field(field) => {
                let text = std::mem::take(&mut self.text).trim().to_owned();
                if let Some(item) = self.item.as_mut() {
                    let slot = match field {
                        Prop::HostResource => {
                            item.host_resources.push((text, frame.line));
                            return Ok(());
                        }
                        Prop::ResourceType => &mut item.resource_type,
                        Prop::Connection => &mut item.connection,
                        Prop::ResourceSubType => &mut item.resource_subtype,
                        Prop::AddressOnParent => &mut item.address_on_parent,
                        Prop::InstanceId => &mut item.instance_id,
                    };
                    // Single-valued for odt: the first occurrence wins.
                    slot.get_or_insert(text);
                }
            }
            Kind::Item => {
                let item = self.item.take().unwrap_or_default();
                if let Some(Node::System(system)) = self.nodes.last_mut() {
                    for (resource, line) in item.host_resources {
                        if let Some(disk_id) = disk_id_of(&resource) {
                            system.disk_refs.push(disk_id.to_owned());
                            self.disk_ref_checks.push(DiskRefCheck {
                                system: system.id.clone(),
                                disk_id: disk_id.to_owned(),
                                line,
                            });
                        }
                    }
                    if item.resource_type.as_deref() == Some(RESOURCE_TYPE_ETHERNET) {
                        system.nics.push(Nic {
                            instance_id: item.instance_id,
                            connection: item.connection,
                            resource_subtype: item.resource_subtype,
                            address_on_parent: item.address_on_parent,
                        });
                    }
                }
            }
            Kind::System | Kind::Collection => {
                let content = match self.nodes.pop() {
                    Some(Node::System(s)) => Content::System(s),
                    Some(Node::Collection(c)) => Content::Collection(c),
                    None => return Ok(()),
                };
                match self.nodes.last_mut() {
                    Some(Node::Collection(parent)) => parent.children.push(content),
                    // A system inside a system is classified as `Other`, never pushed.
                    Some(Node::System(_)) => {}
                    None => self.content = Some(content),
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Envelope, OvfError> {
        if let Some(open) = self.frames.last() {
            let element = open.name.clone();
            let end = self.data.len() as u64;
            return Err(OvfError::Truncated {
                line: self.line(end),
                element,
            });
        }
        let Some(version) = self.version else {
            return Err(OvfError::Xml {
                line: 1,
                message: "the document has no root element".to_owned(),
            });
        };
        let content = self.content.ok_or(OvfError::NoContent)?;
        for (disk, &line) in self.disks.iter().zip(&self.disk_lines) {
            if let Some(file_ref) = &disk.file_ref {
                if !self.file_ids.contains_key(file_ref) {
                    return Err(OvfError::UnknownFileRef {
                        line,
                        disk_id: disk.disk_id.clone(),
                        file_ref: file_ref.clone(),
                    });
                }
            }
        }
        for check in self.disk_ref_checks {
            if !self.disk_ids.contains_key(&check.disk_id) {
                return Err(OvfError::UnknownDiskRef {
                    line: check.line,
                    system: check.system,
                    disk_id: check.disk_id,
                });
            }
        }
        Ok(Envelope {
            version,
            files: self.files,
            disks: self.disks,
            networks: self.networks,
            content,
        })
    }
}

/// What a child element means, given its parent.
fn classify(parent: Kind, ns: NsClass, local: &[u8]) -> Kind {
    use Kind::*;
    match (parent, ns, local) {
        (Envelope, NsClass::Ovf, b"References") => References,
        (Envelope, NsClass::Ovf, b"DiskSection") => DiskSection,
        (Envelope, NsClass::Ovf, b"NetworkSection") => NetworkSection,
        (Envelope | Collection, NsClass::Ovf, b"VirtualSystem") => System,
        (Envelope | Collection, NsClass::Ovf, b"VirtualSystemCollection") => Collection,
        (References, NsClass::Ovf, b"File") => File,
        (DiskSection, NsClass::Ovf, b"Disk") => Disk,
        (NetworkSection, NsClass::Ovf, b"Network") => Network,
        (Network, NsClass::Ovf, b"Description") => NetworkDescription,
        (System | Collection, NsClass::Ovf, b"Name") => ContentName,
        (System, NsClass::Ovf, b"VirtualHardwareSection") => Hardware,
        (Hardware, NsClass::Ovf, b"Item" | b"EthernetPortItem" | b"StorageItem") => Item,
        (Item, NsClass::Cim, _) => Prop::from_local(local).map_or(Other, Kind::Field),
        _ => Other,
    }
}

/// The disk id in a `HostResource` value, if it names a disk.
///
/// DSP0243 writes `ovf:/disk/<id>`; older VMware output has `ovf:disk/<id>` and VirtualBox
/// writes `/disk/<id>`. `ovf:/file/<id>` (an ISO in a CD drive) is not a disk.
fn disk_id_of(resource: &str) -> Option<&str> {
    ["ovf:/disk/", "ovf:disk/", "/disk/"]
        .iter()
        .find_map(|p| resource.strip_prefix(p))
}

fn invalid(
    line: usize,
    element: &'static str,
    attribute: &'static str,
    value: &str,
    reason: &str,
) -> OvfError {
    OvfError::InvalidAttribute {
        line,
        element,
        attribute,
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

fn required(
    a: &Attrs,
    line: usize,
    element: &'static str,
    attribute: &'static str,
) -> Result<String, OvfError> {
    match a.get(attribute) {
        Some(v) if !v.is_empty() => Ok(v.to_owned()),
        Some(v) => Err(invalid(line, element, attribute, v, "must not be empty")),
        None => Err(OvfError::MissingAttribute {
            line,
            element,
            attribute,
        }),
    }
}

fn optional_u64(
    a: &Attrs,
    line: usize,
    element: &'static str,
    attribute: &'static str,
) -> Result<Option<u64>, OvfError> {
    a.get(attribute)
        .map(|v| {
            parse_u64(v).ok_or_else(|| {
                invalid(
                    line,
                    element,
                    attribute,
                    v,
                    "expected a non-negative whole number of bytes",
                )
            })
        })
        .transpose()
}

/// Records `value` as seen on `line`, failing if it was seen before.
fn unique(
    seen: &mut HashMap<String, usize>,
    value: &str,
    line: usize,
    what: &'static str,
) -> Result<(), OvfError> {
    if let Some(&first_line) = seen.get(value) {
        return Err(OvfError::Duplicate {
            line,
            first_line,
            what,
            value: value.to_owned(),
        });
    }
    seen.insert(value.to_owned(), line);
    Ok(())
}

/// A decimal `u64`, surrounding whitespace allowed, no sign.
fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `capacity` × `units` in bytes. On error, the attribute at fault and why.
fn capacity_bytes(
    capacity: &str,
    units: Option<&str>,
) -> Result<u64, (&'static str, Cow<'static, str>)> {
    let Some(n) = parse_u64(capacity) else {
        let why = if capacity.contains("${") {
            "property references (${...}) are not supported; give the capacity as a number"
        } else {
            "expected a non-negative whole number"
        };
        return Err(("capacity", why.into()));
    };
    let multiplier = match units {
        None => 1,
        Some(u) => allocation_unit_bytes(u).ok_or((
            "capacityAllocationUnits",
            "expected units such as \"byte\", \"byte * 2^30\", \"MegaBytes\" or \"GigaBytes\""
                .into(),
        ))?,
    };
    n.checked_mul(multiplier).ok_or((
        "capacity",
        "capacity times its allocation units overflows 64 bits".into(),
    ))
}

/// Bytes per unit of a `capacityAllocationUnits` value.
///
/// Accepts DMTF programmatic units (`byte`, `byte * 2^30`, `byte*2^20`, `byte * 10^9`,
/// `byte * 1024`, products of such factors) and the legacy OVF 1.0 names `KiloBytes`,
/// `MegaBytes`, `GigaBytes` and `TeraBytes` (binary multiples, as VMware reads them).
/// Case and whitespace are ignored.
pub(crate) fn allocation_unit_bytes(units: &str) -> Option<u64> {
    let norm: String = units
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    let legacy = match norm.as_str() {
        "byte" | "bytes" => Some(1),
        "kilobytes" | "kilobyte" | "kb" => Some(1 << 10),
        "megabytes" | "megabyte" | "mb" => Some(1 << 20),
        "gigabytes" | "gigabyte" | "gb" => Some(1 << 30),
        "terabytes" | "terabyte" | "tb" => Some(1 << 40),
        _ => None,
    };
    if legacy.is_some() {
        return legacy;
    }
    let factors = norm
        .strip_prefix("byte*")
        .or_else(|| norm.strip_prefix("bytes*"))?;
    let mut total: u64 = 1;
    for factor in factors.split('*') {
        let value = match factor.split_once('^') {
            Some((base, exp)) => {
                let base = parse_u64(base)?;
                let exp: u32 = parse_u64(exp)?.try_into().ok()?;
                base.checked_pow(exp)?
            }
            None => parse_u64(factor)?,
        };
        if value == 0 {
            return None;
        }
        total = total.checked_mul(value)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An OVF 1.0 descriptor in the shape ovftool writes for a vSphere VM: two disks, two NICs,
    /// a CD drive with no backing, vendor `vmw:` extensions and `vssd`/`rasd` namespaces.
    const VMWARE_OVF1: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!--Generated by VMware ovftool 4.4.0 (build-16360108), UTC time: 2021-03-04T10:11:12.345Z-->
<Envelope vmw:buildId="build-16360108" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:href="web01-disk1.vmdk" ovf:id="file1" ovf:size="1254006272"/>
    <File ovf:href="web01-disk2.vmdk" ovf:id="file2" ovf:size="68608"/>
    <File ovf:href="web01-file1.nvram" ovf:id="file3" ovf:size="8684"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="40" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized" ovf:populatedSize="3019898880"/>
    <Disk ovf:capacity="100" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk2" ovf:fileRef="file2" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized" ovf:populatedSize="0"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="VM Network">
      <Description>The VM Network network</Description>
    </Network>
    <Network ovf:name="Backend &amp; DB">
      <Description>Backend network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="web01">
    <Info>A virtual machine</Info>
    <Name>web01</Name>
    <OperatingSystemSection ovf:id="101" vmw:osType="ubuntu64Guest">
      <Info>The kind of installed guest operating system</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>web01</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of Virtual CPUs</rasd:Description>
        <rasd:ElementName>2 virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>2</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>4096MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>4096</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SCSI Controller</rasd:Description>
        <rasd:ElementName>SCSI controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
        <vmw:Config ovf:required="false" vmw:key="backing.writeThrough" vmw:value="false"/>
      </Item>
      <Item>
        <rasd:AddressOnParent>1</rasd:AddressOnParent>
        <rasd:ElementName>Hard disk 2</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk2</rasd:HostResource>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item ovf:required="false">
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>false</rasd:AutomaticAllocation>
        <rasd:ElementName>CD/DVD drive 1</rasd:ElementName>
        <rasd:InstanceID>6</rasd:InstanceID>
        <rasd:ResourceSubType>vmware.cdrom.remotepassthrough</rasd:ResourceSubType>
        <rasd:ResourceType>15</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>7</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>VM Network</rasd:Connection>
        <rasd:Description>VmxNet3 ethernet adapter on "VM Network"</rasd:Description>
        <rasd:ElementName>Network adapter 1</rasd:ElementName>
        <rasd:InstanceID>7</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
        <vmw:Config ovf:required="false" vmw:key="slotInfo.pciSlotNumber" vmw:value="160"/>
      </Item>
      <Item>
        <rasd:AddressOnParent>8</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>Backend &amp; DB</rasd:Connection>
        <rasd:ElementName>Network adapter 2</rasd:ElementName>
        <rasd:InstanceID>8</rasd:InstanceID>
        <rasd:ResourceSubType>E1000</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="efi"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"#;

    /// An OVF 2.0 descriptor using `EthernetPortItem` / `StorageItem`, a default namespace
    /// that differs from the attribute prefix, and unusual prefixes for the CIM namespaces.
    const OVF2: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/2"
          xmlns:o="http://schemas.dmtf.org/ovf/envelope/2"
          xmlns:r="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
          xmlns:e="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_EthernetPortAllocationSettingData"
          xmlns:s="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_StorageAllocationSettingData">
  <References>
    <File o:id="f1" o:href="db-0.vmdk" o:size="1000" o:compression="gzip"/>
    <File o:id="f2" o:href="db-1.vmdk" o:chunkSize="1073741824"/>
  </References>
  <DiskSection>
    <Info>Disks</Info>
    <Disk o:diskId="d1" o:fileRef="f1" o:capacity="2" o:capacityAllocationUnits="GigaBytes"/>
    <Disk o:diskId="d2" o:fileRef="f2" o:capacity="5" o:capacityAllocationUnits="byte*2^30"/>
    <Disk o:diskId="scratch" o:capacity="1048576"/>
  </DiskSection>
  <NetworkSection>
    <Info>Networks</Info>
    <Network o:name="front"/>
    <Network o:name="back"><Description><![CDATA[back <office>]]></Description></Network>
  </NetworkSection>
  <VirtualSystem o:id="db">
    <Info>A VM</Info>
    <VirtualHardwareSection>
      <Info>hw</Info>
      <Item>
        <r:InstanceID>1</r:InstanceID>
        <r:ResourceType>6</r:ResourceType>
      </Item>
      <StorageItem>
        <s:AddressOnParent>0</s:AddressOnParent>
        <s:HostResource>ovf:/disk/d1</s:HostResource>
        <s:InstanceID>2</s:InstanceID>
        <s:ResourceType>17</s:ResourceType>
      </StorageItem>
      <StorageItem>
        <s:HostResource>ovf:disk/d2</s:HostResource>
        <s:ResourceType>17</s:ResourceType>
      </StorageItem>
      <StorageItem>
        <s:HostResource>/disk/scratch</s:HostResource>
        <s:ResourceType>17</s:ResourceType>
      </StorageItem>
      <EthernetPortItem>
        <e:Connection>front</e:Connection>
        <e:InstanceID>10</e:InstanceID>
        <e:ResourceSubType>VmxNet3</e:ResourceSubType>
        <e:ResourceType>10</e:ResourceType>
      </EthernetPortItem>
      <EthernetPortItem>
        <e:AddressOnParent>1</e:AddressOnParent>
        <e:Connection>back</e:Connection>
        <e:InstanceID>11</e:InstanceID>
        <e:ResourceType>10</e:ResourceType>
      </EthernetPortItem>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"#;

    /// A vApp of two VMs sharing one network.
    const COLLECTION: &str = r#"<?xml version="1.0"?>
<ovf:Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
    xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <ovf:References>
    <ovf:File ovf:id="a-disk" ovf:href="app-disk1.vmdk"/>
    <ovf:File ovf:id="b-disk" ovf:href="db-disk1.vmdk"/>
  </ovf:References>
  <ovf:DiskSection>
    <ovf:Info>Disks</ovf:Info>
    <ovf:Disk ovf:diskId="a1" ovf:fileRef="a-disk" ovf:capacity="8589934592"/>
    <ovf:Disk ovf:diskId="b1" ovf:fileRef="b-disk" ovf:capacity="16" ovf:capacityAllocationUnits="byte * 2^30"/>
  </ovf:DiskSection>
  <ovf:NetworkSection>
    <ovf:Info>Networks</ovf:Info>
    <ovf:Network ovf:name="app-net"/>
  </ovf:NetworkSection>
  <ovf:VirtualSystemCollection ovf:id="shop">
    <ovf:Info>A vApp</ovf:Info>
    <ovf:Name>Shop vApp</ovf:Name>
    <ovf:VirtualSystem ovf:id="app">
      <ovf:Info>VM</ovf:Info>
      <ovf:Name>app01</ovf:Name>
      <ovf:VirtualHardwareSection>
        <ovf:Info>hw</ovf:Info>
        <ovf:Item>
          <rasd:HostResource>ovf:/disk/a1</rasd:HostResource>
          <rasd:InstanceID>1</rasd:InstanceID>
          <rasd:ResourceType>17</rasd:ResourceType>
        </ovf:Item>
        <ovf:Item>
          <rasd:Connection>app-net</rasd:Connection>
          <rasd:InstanceID>2</rasd:InstanceID>
          <rasd:ResourceType>10</rasd:ResourceType>
        </ovf:Item>
      </ovf:VirtualHardwareSection>
    </ovf:VirtualSystem>
    <ovf:VirtualSystem ovf:id="db">
      <ovf:Info>VM</ovf:Info>
      <ovf:VirtualHardwareSection>
        <ovf:Info>hw</ovf:Info>
        <ovf:Item>
          <rasd:HostResource>ovf:/disk/b1</rasd:HostResource>
          <rasd:ResourceType>17</rasd:ResourceType>
        </ovf:Item>
        <ovf:Item>
          <rasd:Connection>app-net</rasd:Connection>
          <rasd:ResourceType>10</rasd:ResourceType>
        </ovf:Item>
      </ovf:VirtualHardwareSection>
    </ovf:VirtualSystem>
  </ovf:VirtualSystemCollection>
</ovf:Envelope>
"#;

    /// A minimal valid descriptor with `extra` inserted in References and `body` as content.
    fn minimal(references: &str, disks: &str, system_body: &str) -> String {
        format!(
            r#"<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="{RASD_NAMESPACE}">
<References>{references}</References>
<DiskSection><Info>d</Info>{disks}</DiskSection>
<VirtualSystem ovf:id="vm"><Info>i</Info>{system_body}</VirtualSystem>
</Envelope>"#
        )
    }

    fn parse_str(s: &str) -> Result<Envelope, OvfError> {
        Envelope::parse(s.as_bytes())
    }

    #[test]
    fn vmware_ovf1_multi_disk_multi_nic() {
        let env = parse_str(VMWARE_OVF1).unwrap();
        assert_eq!(env.version, OvfVersion::V1);
        assert_eq!(env.files.len(), 3);
        assert_eq!(
            env.files[0],
            FileRef {
                id: "file1".into(),
                href: "web01-disk1.vmdk".into(),
                size: Some(1_254_006_272),
                compression: None,
                chunk_size: None,
            }
        );
        assert_eq!(env.disks.len(), 2);
        assert_eq!(env.disks[0].disk_id, "vmdisk1");
        assert_eq!(env.disks[0].file_ref.as_deref(), Some("file1"));
        assert_eq!(env.disks[0].capacity_bytes, 40 << 30);
        assert_eq!(env.disks[0].populated_size, Some(3_019_898_880));
        assert!(env.disks[0]
            .format
            .as_deref()
            .unwrap()
            .ends_with("#streamOptimized"));
        assert_eq!(env.disks[1].capacity_bytes, 100 << 20);
        assert_eq!(
            env.networks,
            vec![
                Network {
                    name: "VM Network".into(),
                    description: Some("The VM Network network".into())
                },
                Network {
                    name: "Backend & DB".into(),
                    description: Some("Backend network".into())
                },
            ]
        );
        let Content::System(vm) = &env.content else {
            panic!("expected a VirtualSystem")
        };
        assert_eq!(vm.id, "web01");
        assert_eq!(vm.name.as_deref(), Some("web01"));
        assert_eq!(vm.disk_refs, vec!["vmdisk1", "vmdisk2"]);
        assert_eq!(
            vm.nics,
            vec![
                Nic {
                    instance_id: Some("7".into()),
                    connection: Some("VM Network".into()),
                    resource_subtype: Some("VmxNet3".into()),
                    address_on_parent: Some("7".into()),
                },
                Nic {
                    instance_id: Some("8".into()),
                    connection: Some("Backend & DB".into()),
                    resource_subtype: Some("E1000".into()),
                    address_on_parent: Some("8".into()),
                },
            ]
        );
        assert_eq!(env.display_name(), "web01");
        assert_eq!(env.virtual_systems().len(), 1);
        assert_eq!(env.file_by_id("file2").unwrap().href, "web01-disk2.vmdk");
        assert!(env.file_by_id("nope").is_none());
        assert_eq!(
            env.disk_by_id("vmdisk2").unwrap().file_ref.as_deref(),
            Some("file2")
        );
    }

    #[test]
    fn ovf2_with_port_and_storage_items() {
        let env = parse_str(OVF2).unwrap();
        assert_eq!(env.version, OvfVersion::V2);
        assert_eq!(env.files[0].compression.as_deref(), Some("gzip"));
        assert_eq!(env.files[1].chunk_size, Some(1 << 30));
        assert_eq!(env.files[1].size, None);
        assert_eq!(env.disks[0].capacity_bytes, 2 << 30);
        assert_eq!(env.disks[1].capacity_bytes, 5 << 30);
        assert_eq!(env.disks[2].capacity_bytes, 1_048_576);
        assert_eq!(env.disks[2].file_ref, None);
        assert_eq!(env.networks[0].description, None);
        assert_eq!(
            env.networks[1].description.as_deref(),
            Some("back <office>")
        );
        let vms = env.virtual_systems();
        assert_eq!(vms.len(), 1);
        assert_eq!(vms[0].disk_refs, vec!["d1", "d2", "scratch"]);
        assert_eq!(vms[0].nics.len(), 2);
        assert_eq!(vms[0].nics[0].connection.as_deref(), Some("front"));
        assert_eq!(vms[0].nics[0].resource_subtype.as_deref(), Some("VmxNet3"));
        assert_eq!(vms[0].nics[1].address_on_parent.as_deref(), Some("1"));
        assert_eq!(vms[0].nics[1].instance_id.as_deref(), Some("11"));
        // No <Name>: the id stands in.
        assert_eq!(env.display_name(), "db");
    }

    #[test]
    fn collection_of_two_vms() {
        let env = parse_str(COLLECTION).unwrap();
        let Content::Collection(c) = &env.content else {
            panic!("expected a collection")
        };
        assert_eq!(c.id, "shop");
        assert_eq!(c.children.len(), 2);
        assert_eq!(env.display_name(), "Shop vApp");
        let vms = env.virtual_systems();
        let ids: Vec<_> = vms.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(ids, ["app", "db"]);
        assert_eq!(vms[0].display_name(), "app01");
        assert_eq!(vms[1].display_name(), "db");
        assert_eq!(vms[0].disk_refs, ["a1"]);
        assert_eq!(vms[1].disk_refs, ["b1"]);
        assert_eq!(vms[1].nics[0].connection.as_deref(), Some("app-net"));
        assert_eq!(env.disks[0].capacity_bytes, 8_589_934_592);
        assert_eq!(env.disks[1].capacity_bytes, 16 << 30);
    }

    #[test]
    fn nested_collections_flatten_depth_first() {
        let doc = format!(
            r#"<Envelope xmlns="{OVF1_NAMESPACE}" xmlns:ovf="{OVF1_NAMESPACE}">
<VirtualSystemCollection ovf:id="top">
  <VirtualSystem ovf:id="a"/>
  <VirtualSystemCollection ovf:id="inner"><VirtualSystem ovf:id="b"/></VirtualSystemCollection>
  <VirtualSystem ovf:id="c"/>
</VirtualSystemCollection></Envelope>"#
        );
        let env = parse_str(&doc).unwrap();
        let ids: Vec<_> = env.virtual_systems().iter().map(|v| v.id.clone()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert!(env.files.is_empty() && env.disks.is_empty() && env.networks.is_empty());
    }

    #[test]
    fn prefixes_are_irrelevant_namespaces_matter() {
        // Same document, everything under odd prefixes.
        let doc = VMWARE_OVF1
            .replace("xmlns:rasd=", "xmlns:zz=")
            .replace("rasd:", "zz:");
        let env = parse_str(&doc).unwrap();
        assert_eq!(env.virtual_systems()[0].nics.len(), 2);

        // RASD-looking elements in the wrong namespace are not hardware properties.
        let doc = VMWARE_OVF1.replace(
            "xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData\"",
            "xmlns:rasd=\"urn:not-rasd\"",
        );
        let env = parse_str(&doc).unwrap();
        assert!(env.virtual_systems()[0].nics.is_empty());
        assert!(env.virtual_systems()[0].disk_refs.is_empty());
    }

    #[test]
    fn unprefixed_attributes_are_accepted() {
        let doc = minimal(
            r#"<File id="f" href="d.vmdk"/>"#,
            r#"<Disk diskId="d" fileRef="f" capacity="1"/>"#,
            "",
        );
        let env = parse_str(&doc).unwrap();
        assert_eq!(env.files[0].href, "d.vmdk");
        assert_eq!(env.disks[0].capacity_bytes, 1);
    }

    #[test]
    fn byte_order_mark_is_skipped() {
        let mut data = vec![0xEF, 0xBB, 0xBF];
        data.extend_from_slice(VMWARE_OVF1.as_bytes());
        assert!(Envelope::parse(&data).is_ok());
    }

    #[test]
    fn allocation_units() {
        for (u, v) in [
            ("byte", 1),
            ("Bytes", 1),
            ("byte * 2^30", 1 << 30),
            ("byte*2^20", 1 << 20),
            ("  BYTE  *  2 ^ 10 ", 1 << 10),
            ("byte * 10^3", 1000),
            ("byte * 1024", 1024),
            ("byte * 2^10 * 1024", 1 << 20),
            ("KiloBytes", 1 << 10),
            ("MegaBytes", 1 << 20),
            ("GigaBytes", 1 << 30),
            ("TeraBytes", 1 << 40),
            ("byte * 2^63", 1 << 63),
        ] {
            assert_eq!(allocation_unit_bytes(u), Some(v), "{u}");
        }
        for u in [
            "",
            "bit",
            "byte *",
            "byte * 2^",
            "byte * 2^64",
            "byte * 0",
            "byte * -1",
            "byte * 2^99999999999",
            "hertz * 10^6",
            "byte * 2^30 junk",
        ] {
            assert_eq!(allocation_unit_bytes(u), None, "{u}");
        }
    }

    #[test]
    fn capacity_errors() {
        let cases = [
            (r#"capacity="abc""#, "capacity"),
            (r#"capacity="-1""#, "capacity"),
            (r#"capacity="${disk.size}""#, "capacity"),
            (
                r#"capacity="1" capacityAllocationUnits="furlongs""#,
                "capacityAllocationUnits",
            ),
            (
                r#"capacity="17179869184" capacityAllocationUnits="byte * 2^40""#,
                "capacity",
            ),
        ];
        for (attrs, expected) in cases {
            let doc = minimal("", &format!(r#"<Disk ovf:diskId="d" {attrs}/>"#), "");
            match parse_str(&doc) {
                Err(OvfError::InvalidAttribute {
                    element: "Disk",
                    attribute,
                    line: 3,
                    ..
                }) => assert_eq!(attribute, expected, "{attrs}"),
                other => panic!("{attrs}: {other:?}"),
            }
        }
        let doc = minimal("", r#"<Disk ovf:diskId="d"/>"#, "");
        assert!(matches!(
            parse_str(&doc),
            Err(OvfError::MissingAttribute {
                attribute: "capacity",
                ..
            })
        ));
    }

    #[test]
    fn billion_laughs_is_rejected_before_expansion() {
        let doc = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"><Name>&lol9;</Name></Envelope>"#;
        let err = parse_str(doc).unwrap_err();
        assert!(
            matches!(err, OvfError::DoctypeForbidden { line: 2 }),
            "{err:?}"
        );
        assert!(err.to_string().contains("DOCTYPE"));
    }

    #[test]
    fn external_entity_doctype_is_rejected() {
        let doc = r#"<!DOCTYPE Envelope SYSTEM "file:///etc/passwd"><Envelope/>"#;
        assert!(matches!(
            parse_str(doc),
            Err(OvfError::DoctypeForbidden { line: 1 })
        ));
    }

    #[test]
    fn undeclared_entities_are_errors() {
        let doc = VMWARE_OVF1.replace("<Name>web01</Name>", "<Name>&xxe;</Name>");
        assert!(matches!(parse_str(&doc), Err(OvfError::Xml { .. })));
    }

    #[test]
    fn wrong_namespace_is_rejected() {
        let doc = VMWARE_OVF1.replace(
            "xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\"",
            "xmlns=\"http://schemas.xmlsoap.org/soap/envelope/\"",
        );
        match parse_str(&doc) {
            Err(OvfError::UnsupportedNamespace { line: 3, namespace }) => {
                assert_eq!(namespace, "http://schemas.xmlsoap.org/soap/envelope/")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_str("<Envelope/>"),
            Err(OvfError::UnsupportedNamespace { .. })
        ));
        assert!(matches!(
            parse_str("<x:Envelope/>"),
            Err(OvfError::UnsupportedNamespace { .. })
        ));
        assert!(matches!(
            parse_str(r#"<Foo xmlns="http://schemas.dmtf.org/ovf/envelope/1"/>"#),
            Err(OvfError::NotEnvelope { .. })
        ));
        // An OVF 0.9-era namespace is not OVF 1.x either.
        assert!(matches!(
            parse_str(r#"<Envelope xmlns="http://www.vmware.com/schema/ovf/1/envelope"/>"#),
            Err(OvfError::UnsupportedNamespace { .. })
        ));
    }

    #[test]
    fn truncated_xml_is_rejected() {
        // Cut everywhere from 1 byte to the whole document minus the closing tag: every cut
        // must fail, and none may panic.
        let full = VMWARE_OVF1.as_bytes();
        let end_tag = VMWARE_OVF1.rfind("</Envelope>").unwrap();
        for cut in (0..end_tag).step_by(7) {
            assert!(Envelope::parse(&full[..cut]).is_err(), "cut at {cut}");
        }
        let err = parse_str(&VMWARE_OVF1[..end_tag]).unwrap_err();
        assert!(
            matches!(&err, OvfError::Truncated { element, .. } if element == "Envelope"),
            "{err:?}"
        );
        let err =
            Envelope::parse(&full[..VMWARE_OVF1.find("<DiskSection>").unwrap() + 20]).unwrap_err();
        assert!(matches!(
            err,
            OvfError::Xml { .. } | OvfError::Truncated { .. }
        ));
        assert!(parse_str("").is_err());
        assert!(parse_str("   \n").is_err());
    }

    #[test]
    fn mismatched_tags_are_rejected() {
        let doc = VMWARE_OVF1.replace("</References>", "</Referencez>");
        assert!(matches!(
            parse_str(&doc),
            Err(OvfError::Xml { line: 8, .. })
        ));
    }

    #[test]
    fn hostile_hrefs_are_rejected() {
        for href in [
            "../x",
            "/etc/passwd",
            "a/b",
            "..",
            ".",
            "",
            "a\\b",
            "http://evil.example/disk.vmdk",
            "bad&#10;name",
            "nul&#x7;",
        ] {
            let doc = minimal(&format!(r#"<File ovf:id="f" ovf:href="{href}"/>"#), "", "");
            let err = parse_str(&doc).unwrap_err();
            assert!(
                matches!(
                    err,
                    OvfError::UnsafeHref { line: 2, .. } | OvfError::InvalidAttribute { .. }
                ),
                "{href}: {err:?}"
            );
        }
    }

    #[test]
    fn duplicates_are_rejected() {
        let doc = minimal(
            r#"<File ovf:id="f" ovf:href="a.vmdk"/>
<File ovf:id="f" ovf:href="b.vmdk"/>"#,
            "",
            "",
        );
        match parse_str(&doc) {
            Err(OvfError::Duplicate {
                what,
                value,
                line,
                first_line,
            }) => {
                assert_eq!(
                    (what, value.as_str(), line, first_line),
                    ("File ovf:id", "f", 3, 2)
                );
            }
            other => panic!("{other:?}"),
        }
        let doc = minimal(
            r#"<File ovf:id="f" ovf:href="a.vmdk"/><File ovf:id="g" ovf:href="a.vmdk"/>"#,
            "",
            "",
        );
        assert!(matches!(
            parse_str(&doc),
            Err(OvfError::Duplicate {
                what: "File ovf:href",
                ..
            })
        ));
        let doc = minimal(
            "",
            r#"<Disk ovf:diskId="d" ovf:capacity="1"/><Disk ovf:diskId="d" ovf:capacity="1"/>"#,
            "",
        );
        assert!(matches!(
            parse_str(&doc),
            Err(OvfError::Duplicate {
                what: "Disk ovf:diskId",
                ..
            })
        ));
        let doc = COLLECTION.replace(r#"ovf:id="db""#, r#"ovf:id="app""#);
        assert!(matches!(
            parse_str(&doc),
            Err(OvfError::Duplicate {
                what: "VirtualSystem ovf:id",
                ..
            })
        ));
        let doc = VMWARE_OVF1.replace(r#"ovf:name="Backend &amp; DB""#, r#"ovf:name="VM Network""#);
        assert!(matches!(
            parse_str(&doc),
            Err(OvfError::Duplicate {
                what: "Network ovf:name",
                ..
            })
        ));
    }

    #[test]
    fn duplicate_attribute_is_rejected() {
        let doc = minimal(r#"<File ovf:id="f" ovf:id="g" ovf:href="a"/>"#, "", "");
        assert!(matches!(
            parse_str(&doc),
            Err(OvfError::Xml { line: 2, .. })
        ));
    }

    #[test]
    fn dangling_references_are_rejected() {
        let doc = minimal(
            r#"<File ovf:id="f" ovf:href="a.vmdk"/>"#,
            r#"<Disk ovf:diskId="d" ovf:fileRef="missing" ovf:capacity="1"/>"#,
            "",
        );
        match parse_str(&doc) {
            Err(OvfError::UnknownFileRef {
                line: 3,
                disk_id,
                file_ref,
            }) => assert_eq!((disk_id.as_str(), file_ref.as_str()), ("d", "missing")),
            other => panic!("{other:?}"),
        }
        let doc = minimal(
            "",
            r#"<Disk ovf:diskId="d" ovf:capacity="1"/>"#,
            "<VirtualHardwareSection><Item><rasd:HostResource>ovf:/disk/nope</rasd:HostResource>\
             <rasd:ResourceType>17</rasd:ResourceType></Item></VirtualHardwareSection>",
        );
        match parse_str(&doc) {
            Err(OvfError::UnknownDiskRef {
                system, disk_id, ..
            }) => assert_eq!((system.as_str(), disk_id.as_str()), ("vm", "nope")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn file_host_resources_are_not_disks() {
        let doc = minimal(
            r#"<File ovf:id="iso" ovf:href="tools.iso"/>"#,
            "",
            "<VirtualHardwareSection><Item><rasd:HostResource>ovf:/file/iso</rasd:HostResource>\
             <rasd:ResourceType>15</rasd:ResourceType></Item></VirtualHardwareSection>",
        );
        let env = parse_str(&doc).unwrap();
        assert!(env.virtual_systems()[0].disk_refs.is_empty());
    }

    #[test]
    fn missing_required_attributes() {
        for (refs, attr) in [
            (r#"<File ovf:href="a"/>"#, "id"),
            (r#"<File ovf:id="a"/>"#, "href"),
        ] {
            let err = parse_str(&minimal(refs, "", "")).unwrap_err();
            assert!(
                matches!(err, OvfError::MissingAttribute { attribute, element: "File", .. } if attribute == attr),
                "{err:?}"
            );
        }
        let doc = format!(r#"<Envelope xmlns="{OVF1_NAMESPACE}"><VirtualSystem/></Envelope>"#);
        assert!(matches!(
            parse_str(&doc),
            Err(OvfError::MissingAttribute {
                element: "VirtualSystem",
                attribute: "id",
                ..
            })
        ));
        let doc = minimal(r#"<File ovf:id="a" ovf:href="a" ovf:size="12x"/>"#, "", "");
        assert!(matches!(
            parse_str(&doc),
            Err(OvfError::InvalidAttribute {
                attribute: "size",
                ..
            })
        ));
    }

    #[test]
    fn content_rules() {
        let doc = format!(r#"<Envelope xmlns="{OVF1_NAMESPACE}"><References/></Envelope>"#);
        assert!(matches!(parse_str(&doc), Err(OvfError::NoContent)));
        let doc = format!(
            r#"<Envelope xmlns="{OVF1_NAMESPACE}" xmlns:ovf="{OVF1_NAMESPACE}">
<VirtualSystem ovf:id="a"/>
<VirtualSystem ovf:id="b"/></Envelope>"#
        );
        assert!(matches!(
            parse_str(&doc),
            Err(OvfError::MultipleContent { line: 3 })
        ));
        // Elements of the other OVF version are foreign, not content.
        let doc = format!(
            r#"<Envelope xmlns="{OVF1_NAMESPACE}" xmlns:o2="{OVF2_NAMESPACE}"><o2:VirtualSystem o2:id="a"/></Envelope>"#
        );
        assert!(matches!(parse_str(&doc), Err(OvfError::NoContent)));
    }

    #[test]
    fn trailing_root_is_rejected() {
        let doc = format!("{VMWARE_OVF1}<Envelope xmlns=\"{OVF1_NAMESPACE}\"/>");
        assert!(matches!(
            parse_str(&doc),
            Err(OvfError::TrailingContent { .. })
        ));
    }

    #[test]
    fn depth_limit() {
        let deep = format!(
            "<Envelope xmlns=\"{OVF1_NAMESPACE}\">{}{}</Envelope>",
            "<a>".repeat(MAX_DEPTH),
            "</a>".repeat(MAX_DEPTH)
        );
        assert!(matches!(
            parse_str(&deep),
            Err(OvfError::TooDeep {
                limit: MAX_DEPTH,
                ..
            })
        ));
        let ok = format!(
            "<Envelope xmlns=\"{OVF1_NAMESPACE}\" xmlns:ovf=\"{OVF1_NAMESPACE}\">\
             <VirtualSystem ovf:id=\"v\"/>{}{}</Envelope>",
            "<a>".repeat(MAX_DEPTH - 1),
            "</a>".repeat(MAX_DEPTH - 1)
        );
        assert!(parse_str(&ok).is_ok());
    }

    #[test]
    fn size_limit() {
        let mut big = VMWARE_OVF1.as_bytes().to_vec();
        big.resize(MAX_DESCRIPTOR_BYTES + 1, b' ');
        assert!(matches!(
            Envelope::parse(&big),
            Err(OvfError::DescriptorTooLarge { .. })
        ));
    }

    #[test]
    fn count_limits() {
        let files: String = (0..=MAX_ENTRIES)
            .map(|i| format!(r#"<File ovf:id="f{i}" ovf:href="f{i}"/>"#))
            .collect();
        assert!(matches!(
            parse_str(&minimal(&files, "", "")),
            Err(OvfError::TooMany {
                what: "File elements",
                ..
            })
        ));
        let attrs: String = (0..=MAX_ATTRIBUTES)
            .map(|i| format!(" a{i}=\"\""))
            .collect();
        assert!(matches!(
            parse_str(&minimal(&format!("<File{attrs}/>"), "", "")),
            Err(OvfError::TooMany {
                what: "attributes on one element",
                ..
            })
        ));
        // Counted over the open elements: nesting them adds up...
        let decls: String = (0..=MAX_NAMESPACE_DECLARATIONS)
            .map(|i| format!(" xmlns:p{i}=\"urn:x\""))
            .collect::<Vec<_>>()
            .chunks(MAX_ATTRIBUTES / 2)
            .map(|c| format!("<x{}>", c.concat()))
            .collect();
        let depth = MAX_NAMESPACE_DECLARATIONS.div_ceil(MAX_ATTRIBUTES / 2) + 1;
        let doc = minimal(&format!("{decls}{}", "</x>".repeat(depth)), "", "");
        assert!(matches!(
            parse_str(&doc),
            Err(OvfError::TooMany {
                what: "namespace declarations in scope",
                ..
            })
        ));
        // ...siblings do not (tools that re-declare prefixes on every item are fine).
        let siblings: String = (0..=MAX_NAMESPACE_DECLARATIONS)
            .map(|i| format!("<x xmlns:p=\"urn:{i}\" xmlns:q=\"urn:q\"/>"))
            .collect();
        assert!(parse_str(&minimal(&siblings, "", "")).is_ok());
    }

    #[test]
    fn not_utf8() {
        let mut data = VMWARE_OVF1.as_bytes().to_vec();
        let at = VMWARE_OVF1.find("web01</Name>").unwrap();
        data[at] = 0xFF;
        assert!(matches!(
            Envelope::parse(&data),
            Err(OvfError::DescriptorNotUtf8 { line: 25 })
        ));
    }

    #[test]
    fn errors_name_lines() {
        let doc = VMWARE_OVF1.replace(r#"ovf:href="web01-disk2.vmdk""#, r#"ovf:href="../x""#);
        let err = parse_str(&doc).unwrap_err();
        assert!(
            matches!(err, OvfError::UnsafeHref { line: 6, .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("line 6") && msg.contains("\"../x\""), "{msg}");
    }

    #[test]
    fn garbage_does_not_panic() {
        for doc in [
            &b"<"[..],
            b"<?xml",
            b"<Envelope xmlns=",
            b"<Envelope xmlns='http://schemas.dmtf.org/ovf/envelope/1'><",
            b"</Envelope>",
            b"\x00\x01\x02",
            b"<![CDATA[x]]>",
            b"<!-- -->",
            b"<a:b:c/>",
        ] {
            assert!(Envelope::parse(doc).is_err(), "{doc:?}");
        }
    }
}
