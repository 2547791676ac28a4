//! The plain data of vim25 that every layer above the XML names: managed object references,
//! what a session starts from, the files an import asks for. Here, below `soap` and `client`,
//! so that those depend on it and not on each other.

use super::error::{Result, VimError};
use super::xml::{escape_attr, escape_text, Element, XmlWriter};

/// A ManagedObjectReference: the type of a server-side object and its opaque id.
///
/// The value is opaque (vcsim uses values such as `session[…]…` and paths with `/` and `@`)
/// and is always XML-escaped when written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MoRef {
    /// The managed object type (`VirtualMachine`, `Folder`, `HttpNfcLease`, …).
    pub kind: String,
    /// The id (`vm-42`).
    pub value: String,
}

impl MoRef {
    /// A reference to `value` of type `kind`.
    pub fn new(kind: impl Into<String>, value: impl Into<String>) -> MoRef {
        MoRef {
            kind: kind.into(),
            value: value.into(),
        }
    }

    /// Reads `<x type="Kind">value</x>`.
    pub fn from_element(el: &Element) -> Result<MoRef> {
        let kind = el.attr("type").ok_or_else(|| {
            VimError::xml(
                format!("<{}>", el.name),
                "a managed object reference without a type attribute",
            )
        })?;
        let value = el.text_trim();
        if value.is_empty() || kind.is_empty() {
            return Err(VimError::xml(
                format!("<{}>", el.name),
                "an empty managed object reference",
            ));
        }
        Ok(MoRef::new(kind, value))
    }

    /// The body of a `<name type="…">…</name>` element, escaped.
    pub fn to_xml(&self, name: &str) -> String {
        let mut w = XmlWriter::new();
        w.moref(name, self);
        w.finish()
    }
}

/// Writing a reference is the writer's job, but it lives here, beside [`MoRef`], so that
/// `xml` stays below `types` and names nothing above it.
impl XmlWriter {
    /// `<name type="Kind">value</name>`, a ManagedObjectReference.
    pub fn moref(&mut self, name: &str, mo: &MoRef) -> &mut Self {
        self.raw(&format!(
            "<{name} type=\"{}\">{}</{name}>",
            escape_attr(&mo.kind),
            escape_text(&mo.value)
        ))
    }
}

impl std::fmt::Display for MoRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

/// `ServiceContent.about`: what the server is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct About {
    /// Product name ("VMware vCenter Server").
    pub name: String,
    /// Full name with version and build.
    pub full_name: String,
    /// Product version ("8.0.2").
    pub version: String,
    /// API version ("6.5", "8.0.2.0"); sent as `SOAPAction: urn:vim25/<apiVersion>`.
    pub api_version: String,
    /// `VirtualCenter` or `HostAgent` (direct ESXi).
    pub api_type: String,
    /// The vCenter's instance UUID, when it has one.
    pub instance_uuid: Option<String>,
}

/// The managed objects a session starts from (`RetrieveServiceContent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceContent {
    /// The inventory's root folder.
    pub root_folder: MoRef,
    /// The PropertyCollector.
    pub property_collector: MoRef,
    /// The SessionManager (Login, Logout).
    pub session_manager: MoRef,
    /// The ViewManager (container views), when the server has one.
    pub view_manager: Option<MoRef>,
    /// The SearchIndex (FindByInventoryPath), when the server has one.
    pub search_index: Option<MoRef>,
    /// The OvfManager (CreateImportSpec), when the server has one.
    pub ovf_manager: Option<MoRef>,
    /// What the server is.
    pub about: About,
}

impl ServiceContent {
    /// The OvfManager, which every vCenter and ESXi has (an error names its absence).
    pub fn ovf_manager(&self) -> Result<MoRef> {
        self.ovf_manager.clone().ok_or_else(|| VimError::NotFound {
            what: "the OvfManager of this server".into(),
            choices: Vec::new(),
        })
    }

    /// Reads a `RetrieveServiceContentResponse`.
    pub fn from_response(resp: &Element) -> Result<ServiceContent> {
        let what = "RetrieveServiceContent reply";
        let rv = resp
            .child("returnval")
            .ok_or_else(|| VimError::xml(what, "no returnval"))?;
        let need = |name: &str| -> Result<MoRef> {
            let el = rv
                .child(name)
                .ok_or_else(|| VimError::xml(what, format!("no {name}")))?;
            MoRef::from_element(el)
        };
        let opt = |name: &str| rv.child(name).and_then(|e| MoRef::from_element(e).ok());
        let about = rv
            .child("about")
            .ok_or_else(|| VimError::xml(what, "no about"))?;
        let s = |n: &str| about.text_of(n).unwrap_or("").to_string();
        let about = About {
            name: s("name"),
            full_name: s("fullName"),
            version: s("version"),
            api_version: s("apiVersion"),
            api_type: s("apiType"),
            instance_uuid: about.text_of("instanceUuid").map(str::to_string),
        };
        if about.api_version.is_empty() {
            return Err(VimError::xml(what, "no about.apiVersion"));
        }
        Ok(ServiceContent {
            root_folder: need("rootFolder")?,
            property_collector: need("propertyCollector")?,
            session_manager: need("sessionManager")?,
            view_manager: opt("viewManager"),
            search_index: opt("searchIndex"),
            ovf_manager: opt("ovfManager"),
            about,
        })
    }
}

/// One file the import wants uploaded (`OvfFileItem`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileItem {
    /// Matches a lease [`DeviceUrl::import_key`].
    pub device_id: String,
    /// The descriptor's `File ovf:href`.
    pub path: String,
    /// The size the descriptor declares, if any.
    pub size: Option<u64>,
    /// True for files to create (ISO, NVRAM: PUT); false for disks (POST as stream VMDK).
    pub create: bool,
    /// CIM type (17 disk, 15 CD-ROM), when given.
    pub cim_type: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moref_xml() {
        let m = MoRef::new("Datastore", "/tmp/govcsim-DC0-LocalDS_0-1@folder-5 <&>");
        assert_eq!(
            m.to_xml("datastore"),
            "<datastore type=\"Datastore\">/tmp/govcsim-DC0-LocalDS_0-1@folder-5 &lt;&amp;&gt;</datastore>"
        );
        let el = Element::parse(m.to_xml("d").as_bytes()).unwrap();
        assert_eq!(MoRef::from_element(&el).unwrap(), m);
        assert!(MoRef::from_element(&Element::parse(b"<d>x</d>").unwrap()).is_err());
        assert!(MoRef::from_element(&Element::parse(b"<d type=\"VM\"> </d>").unwrap()).is_err());
        assert_eq!(
            m.to_string(),
            "Datastore:/tmp/govcsim-DC0-LocalDS_0-1@folder-5 <&>"
        );
    }
}
