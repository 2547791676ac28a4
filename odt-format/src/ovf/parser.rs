//! The OVF descriptor parser: fills [`super::model`]'s types from a descriptor written by
//! someone else, so it treats its input as hostile:
//!
//! - it streams through [`crate::xml::Reader`] (quick-xml underneath), not serde, so memory
//!   stays proportional to what is kept, and elements are matched on **namespace URIs**, never
//!   on prefixes (`ovf:`, `rasd:` and friends are arbitrary and real tools disagree on them);
//! - that reader applies [`Limits::OVF_DESCRIPTOR`]: any `<!DOCTYPE>` is refused, so
//!   entity-expansion bombs ("billion laughs") never start, and input size, element depth,
//!   attributes per element and namespace declarations are capped; this parser caps the number
//!   of files, disks, networks, systems and hardware items;
//! - every `File ovf:href` must be a safe flat name (see [`validate_file_name`]), ids and hrefs
//!   must be unique, every `Disk ovf:fileRef` must name a `File` and every disk a VM attaches
//!   must be declared.
//!
//! Other sections (Product, EULA, Annotation, OperatingSystem, vendor extensions) are skipped
//! but still checked for well-formedness.
//!
//! [`validate_file_name`]: super::validate_file_name

use std::collections::HashMap;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};

use super::model::{
    Content, Disk, Envelope, FileRef, Network, Nic, OvfVersion, VirtualSystem,
    VirtualSystemCollection, EPASD_NAMESPACE, RASD_NAMESPACE, SASD_NAMESPACE,
};
use super::names::file_name_problem;
use super::units::{capacity_bytes, parse_u64};
use super::OvfError;
use crate::xml::{Limits, Reader, XmlError, XmlErrorKind};

/// Largest descriptor accepted ([`Limits::OVF_DESCRIPTOR`]). Real descriptors are a few KiB
/// to a few hundred KiB.
pub const MAX_DESCRIPTOR_BYTES: usize = Limits::OVF_DESCRIPTOR.max_bytes;
/// Deepest element nesting accepted ([`Limits::OVF_DESCRIPTOR`]). Real descriptors nest about
/// 6 deep (a few more with nested collections).
pub const MAX_DEPTH: usize = Limits::OVF_DESCRIPTOR.max_depth;
/// Most files, disks, networks, virtual systems or hardware items accepted (each counted
/// separately).
pub const MAX_ENTRIES: usize = 10_000;
/// Most attributes on one element ([`Limits::OVF_DESCRIPTOR`]). Bounds quick-xml's quadratic
/// duplicate-attribute check.
pub const MAX_ATTRIBUTES: usize = Limits::OVF_DESCRIPTOR.max_attributes;
/// Most namespace declarations in scope at once ([`Limits::OVF_DESCRIPTOR`]): declared on an
/// element and its ancestors. Declarations on siblings do not add up, so tools that re-declare
/// prefixes on every item are fine.
pub const MAX_NAMESPACE_DECLARATIONS: usize = Limits::OVF_DESCRIPTOR.max_namespace_declarations;

/// RASD `ResourceType` of an Ethernet adapter.
const RESOURCE_TYPE_ETHERNET: &str = "10";

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
        // Size first: a huge file is refused as such, whatever its bytes.
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
        Parser::new(text)?.run()
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
    reader: Reader<'a>,
    /// Envelope namespace (set by the root element).
    ns: &'static [u8],
    version: Option<OvfVersion>,
    frames: Vec<Frame>,
    /// Incremental line counting: `line_count` is the line of byte `line_pos`.
    line_pos: usize,
    line_count: usize,
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
    fn new(text: &'a str) -> Result<Self, OvfError> {
        let reader =
            Reader::new(text.as_bytes(), Limits::OVF_DESCRIPTOR).map_err(|e| match e.kind {
                XmlErrorKind::TooLarge { size, limit } => {
                    OvfError::DescriptorTooLarge { size, limit }
                }
                other => OvfError::Xml {
                    line: 1,
                    message: other.to_string(),
                },
            })?;
        Ok(Parser {
            data: text.as_bytes(),
            reader,
            ns: b"",
            version: None,
            frames: Vec::new(),
            line_pos: 0,
            line_count: 1,
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
        })
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

    /// An [`OvfError`] for what the hardened reader refused, at its line.
    fn xml_error(&mut self, err: XmlError) -> OvfError {
        let line = match err.pos {
            Some(pos) => self.line(pos),
            None => 1,
        };
        let too_many = |what, limit| OvfError::TooMany { line, what, limit };
        match err.kind {
            XmlErrorKind::TooLarge { size, limit } => OvfError::DescriptorTooLarge { size, limit },
            XmlErrorKind::Doctype => OvfError::DoctypeForbidden { line },
            XmlErrorKind::AfterRoot { element } => OvfError::TrailingContent { line, element },
            XmlErrorKind::TooDeep { limit } => OvfError::TooDeep { line, limit },
            XmlErrorKind::TooManyElements { limit } => too_many("elements", limit),
            XmlErrorKind::TooManyAttributes { limit, .. } => {
                too_many("attributes on one element", limit)
            }
            XmlErrorKind::TooManyNamespaces { limit } => {
                too_many("namespace declarations in scope", limit)
            }
            kind => OvfError::Xml {
                line,
                message: kind.to_string(),
            },
        }
    }

    fn run(mut self) -> Result<Envelope, OvfError> {
        loop {
            let event = match self.reader.read_event() {
                Ok(ev) => ev,
                Err(e) => return Err(self.xml_error(e)),
            };
            let line = self.line(self.reader.event_position());
            match event {
                Event::Start(e) => self.start(&e, line, false)?,
                Event::Empty(e) => self.start(&e, line, true)?,
                Event::End(_) => self.end()?,
                Event::Text(t) if self.capturing() => {
                    let s = t.unescape().map_err(|e| OvfError::Xml {
                        line,
                        message: e.to_string(),
                    })?;
                    self.text.push_str(&s);
                }
                Event::CData(c) if self.capturing() => {
                    let s = c.decode().map_err(|e| OvfError::Xml {
                        line,
                        message: e.to_string(),
                    })?;
                    self.text.push_str(&s);
                }
                Event::Eof => break,
                // Text we do not keep; the hardened reader refuses DOCTYPEs and skips the
                // declaration, comments and processing instructions.
                _ => {}
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
        self.frames.push(Frame {
            kind,
            name: local_name,
            line,
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
            Kind::File => self.open_file(e, line),
            Kind::Disk => self.open_disk(e, line),
            Kind::Network => self.open_network(e, line),
            Kind::System | Kind::Collection => self.open_content(kind, e, line),
            Kind::Item => {
                self.items += 1;
                Self::too_many(line, "virtual hardware items", self.items)?;
                self.item = Some(ItemBuilder::default());
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A `References/File`: a safe, unique href and a unique id.
    fn open_file(&mut self, e: &BytesStart<'_>, line: usize) -> Result<(), OvfError> {
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
        Ok(())
    }

    /// A `DiskSection/Disk`: a unique id and a capacity in bytes.
    fn open_disk(&mut self, e: &BytesStart<'_>, line: usize) -> Result<(), OvfError> {
        let a = self.attrs(e, line)?;
        let disk_id = required(&a, line, "Disk", "diskId")?;
        let capacity = required(&a, line, "Disk", "capacity")?;
        let units = a.get("capacityAllocationUnits");
        let capacity_bytes = capacity_bytes(&capacity, units).map_err(|(attr, reason)| {
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
        Ok(())
    }

    /// A `NetworkSection/Network`: a unique name.
    fn open_network(&mut self, e: &BytesStart<'_>, line: usize) -> Result<(), OvfError> {
        let a = self.attrs(e, line)?;
        let name = required(&a, line, "Network", "name")?;
        unique(&mut self.network_names, &name, line, "Network ovf:name")?;
        self.networks.push(Network {
            name,
            description: None,
        });
        Self::too_many(line, "Network elements", self.networks.len())?;
        Ok(())
    }

    /// A `VirtualSystem` or `VirtualSystemCollection`: a unique id, and only one at the top.
    fn open_content(
        &mut self,
        kind: Kind,
        e: &BytesStart<'_>,
        line: usize,
    ) -> Result<(), OvfError> {
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
        Ok(())
    }

    /// Reacts to an element closing.
    fn end(&mut self) -> Result<(), OvfError> {
        let Some(frame) = self.frames.pop() else {
            // quick-xml reports unmatched end tags itself; nothing to do.
            return Ok(());
        };
        match frame.kind {
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

#[cfg(test)]
mod tests;
