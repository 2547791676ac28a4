//! The OVF descriptor (`.ovf`) as odt sees it: what files a package holds, its disks, its
//! logical networks and the virtual machines (with their NICs and disk attachments) that must
//! land in the cloud.
//!
//! The exporter needs this to know which files to encrypt and what each VM is called; the
//! importer needs it to map NICs onto org VDC networks. Only what odt needs is kept; the
//! parser that fills these types from hostile input is [`super::parser`].

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

    pub(super) fn from_namespace(ns: &[u8]) -> Option<OvfVersion> {
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

    pub(super) fn collect_systems<'a>(&'a self, out: &mut Vec<&'a VirtualSystem>) {
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
