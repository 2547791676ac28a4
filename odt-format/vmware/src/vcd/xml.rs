//! vCD XML: namespaces, media types, parsing replies, building bodies, and writing an element
//! tree back with its namespaces (for the GET → edit → PUT of network sections).
//!
//! Replies are parsed with the same capped, namespace-aware element tree as vim replies
//! ([`Element`]); elements are matched by local name, as every client library does (vCD uses
//! `vcloud`, `vmext` and `ovf` prefixes inconsistently across versions). Bodies are built as
//! element trees too and written by [`to_xml`], which declares every namespace the tree uses
//! on the root: `vcloud` as the default namespace, the others under their usual prefixes
//! (`vmext`, `ovf`, …). So an edited section goes back with every unknown element, attribute
//! and namespace it came with, in the order it came.
//!
//! The vim [`crate::vsphere::xml::XmlWriter`] is not used for bodies: it writes
//! unqualified names under an implied `urn:vim25` and cannot write attributes, while vCD
//! bodies need attributes on most elements and two or three namespaces. The tree, its hardened
//! parser and the document writer are [`odt_format::xml`]'s; what is vCD's here is the
//! namespaces, their usual prefixes and the media types.

pub use odt_format::xml::XML_NS;
use odt_format::xml::{to_document, Attribute, Element, NamespaceStyle, XSI_NS};

use super::error::{Result, VcdError};

/// The vCloud namespace (every release 1.5 – 10.x).
pub const VCLOUD_NS: &str = "http://www.vmware.com/vcloud/v1.5";
/// The vCloud extension namespace (`vmext`): vimServer, import parameters.
pub const VMEXT_NS: &str = "http://www.vmware.com/vcloud/extension/v1.5";
/// The OVF envelope namespace (`ovf:Info`, `ovf:required`).
pub const OVF_NS: &str = "http://schemas.dmtf.org/ovf/envelope/1";
/// The namespace of `GET /api/versions`.
pub const VERSIONS_NS: &str = "http://www.vmware.com/vcloud/versions";

/// Media types (the `Content-Type` of bodies sent, and the `type` of links followed).
pub mod media {
    /// `NetworkConfigSection` of a vApp.
    pub const NETWORK_CONFIG_SECTION: &str =
        "application/vnd.vmware.vcloud.networkConfigSection+xml";
    /// `NetworkConnectionSection` of a VM.
    pub const NETWORK_CONNECTION_SECTION: &str =
        "application/vnd.vmware.vcloud.networkConnectionSection+xml";
    /// `AllocatedIpAddresses` of a network (its `rel="down"` link; pyvcloud's
    /// `EntityType.ALLOCATED_NETWORK_ADDRESS`).
    pub const ALLOCATED_NETWORK_ADDRESS: &str =
        "application/vnd.vmware.vcloud.allocatedNetworkAddress+xml";
    /// `ImportVmAsVAppParams`.
    pub const IMPORT_VM_AS_VAPP: &str = "application/vnd.vmware.admin.importVmAsVAppParams+xml";
    /// `ImportVmAsVAppTemplateParams`.
    pub const IMPORT_VM_AS_VAPP_TEMPLATE: &str =
        "application/vnd.vmware.admin.importVmAsVAppTemplateParams+xml";
    /// `ImportVmIntoExistingVAppParams`.
    pub const IMPORT_VM_INTO_EXISTING_VAPP: &str =
        "application/vnd.vmware.admin.importVmIntoExistingVAppParams+xml";
    /// `VMWVimServerReferences`.
    pub const VIM_SERVER_REFERENCES: &str =
        "application/vnd.vmware.admin.vmwVimServerReferences+xml";
    /// `VimServer`.
    pub const VIM_SERVER: &str = "application/vnd.vmware.admin.vmwvirtualcenter+xml";
    /// `VMWExtension`.
    pub const VMW_EXTENSION: &str = "application/vnd.vmware.admin.vmwExtension+xml";
    /// `VCloud` (the admin root).
    pub const ADMIN_VCLOUD: &str = "application/vnd.vmware.admin.vcloud+xml";
    /// `OrgList`.
    pub const ORG_LIST: &str = "application/vnd.vmware.vcloud.orgList+xml";
    /// `QueryList`.
    pub const QUERY_LIST: &str = "application/vnd.vmware.vcloud.query.queryList+xml";
    /// `Task`.
    pub const TASK: &str = "application/vnd.vmware.vcloud.task+xml";
    /// `Vdc` (tenant view).
    pub const VDC: &str = "application/vnd.vmware.vcloud.vdc+xml";
}

/// Parses a reply body. `what` and `url` name it in errors.
pub fn parse(what: &str, url: &str, body: &[u8]) -> Result<Element> {
    Element::parse(body).map_err(|e| VcdError::malformed(what, url, e.to_string()))
}

/// Parses a reply and checks its root element's local name.
pub fn parse_root(what: &str, url: &str, body: &[u8], root: &str) -> Result<Element> {
    let el = parse(what, url, body)?;
    if el.name != root {
        return Err(VcdError::malformed(
            what,
            url,
            format!("expected a <{root}> element, got <{}>", el.name),
        ));
    }
    Ok(el)
}

/// A new empty element `name` in namespace `ns`.
pub fn el(ns: &str, name: &str) -> Element {
    Element::new(ns, name)
}

/// A vcloud element holding `text`.
pub fn leaf(ns: &str, name: &str, text: &str) -> Element {
    let mut e = el(ns, name);
    e.text = text.to_owned();
    e
}

/// Builder-style helpers on [`Element`] for bodies.
pub trait Build: Sized {
    /// Adds (or replaces) the unqualified attribute `name`.
    fn with_attr(self, name: &str, value: &str) -> Self;
    /// Appends a child.
    fn with_child(self, child: Element) -> Self;
    /// Appends a child when there is one.
    fn with_opt(self, child: Option<Element>) -> Self;
    /// Appends children, in order.
    fn with_children(self, children: impl IntoIterator<Item = Element>) -> Self;
}

impl Build for Element {
    fn with_attr(mut self, name: &str, value: &str) -> Self {
        set_attr(&mut self, name, value);
        self
    }
    fn with_child(mut self, child: Element) -> Self {
        self.children.push(child);
        self
    }
    fn with_opt(mut self, child: Option<Element>) -> Self {
        self.children.extend(child);
        self
    }
    fn with_children(mut self, children: impl IntoIterator<Item = Element>) -> Self {
        self.children.extend(children);
        self
    }
}

/// Sets the unqualified attribute `name`, keeping its position when it exists.
pub fn set_attr(e: &mut Element, name: &str, value: &str) {
    match e
        .attrs
        .iter_mut()
        .find(|a| a.ns.is_none() && a.name == name)
    {
        Some(a) => a.value = value.to_owned(),
        None => e.attrs.push(Attribute {
            ns: None,
            name: name.to_owned(),
            value: value.to_owned(),
        }),
    }
}

/// A `Link` (any namespace): `rel`, `type`, `href`, `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// `rel` (`down`, `edit`, `add`, `up`, `nextPage`, …).
    pub rel: String,
    /// Media type, may be empty.
    pub media_type: String,
    /// Target.
    pub href: String,
    /// `name`, may be empty.
    pub name: String,
}

/// The `Link` children of `e`, in order.
pub fn links(e: &Element) -> Vec<Link> {
    e.children("Link")
        .map(|l| Link {
            rel: l.attr("rel").unwrap_or_default().to_owned(),
            media_type: l.attr("type").unwrap_or_default().to_owned(),
            href: l.attr("href").unwrap_or_default().to_owned(),
            name: l.attr("name").unwrap_or_default().to_owned(),
        })
        .collect()
}

/// The first link of `e` with `rel` and, when given, a media type equal to `media_type`
/// (parameters after `;` ignored, case-insensitive).
pub fn find_link(e: &Element, rel: &str, media_type: Option<&str>) -> Option<Link> {
    links(e).into_iter().find(|l| {
        l.rel == rel
            && media_type.is_none_or(|t| same_media_type(&l.media_type, t))
            && !l.href.is_empty()
    })
}

/// True when two media types are equal, ignoring parameters and case.
pub fn same_media_type(a: &str, b: &str) -> bool {
    let base = |s: &str| {
        s.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    base(a) == base(b)
}

/// Sets the text of the child `name` (created in `ns` at its schema position when missing).
/// `order` lists the children names of the parent's type in schema order; a child that is
/// missing is inserted after the last present child that comes before it in `order`
/// (unknown children keep their place).
pub fn set_child_text(parent: &mut Element, ns: &str, name: &str, text: &str, order: &[&str]) {
    if let Some(c) = parent.children.iter_mut().find(|c| c.name == name) {
        c.text = text.to_owned();
        c.children.clear();
        return;
    }
    insert_ordered(parent, leaf(ns, name, text), order);
}

/// Inserts `child` at its schema position in `parent` (see [`set_child_text`]).
pub fn insert_ordered(parent: &mut Element, child: Element, order: &[&str]) {
    let rank = |n: &str| order.iter().position(|o| *o == n);
    let at = match rank(&child.name) {
        Some(r) => parent
            .children
            .iter()
            .rposition(|c| rank(&c.name).is_some_and(|cr| cr <= r))
            .map(|i| i + 1)
            .unwrap_or_else(|| {
                // Nothing before it: go before the first known child that comes after it.
                parent
                    .children
                    .iter()
                    .position(|c| rank(&c.name).is_some())
                    .unwrap_or(parent.children.len())
            }),
        None => parent.children.len(),
    };
    parent.children.insert(at, child);
}

/// Removes every child named `name`.
pub fn remove_children(parent: &mut Element, name: &str) {
    parent.children.retain(|c| c.name != name);
}

/// Well-known prefixes, so bodies look like the ones vCD and its SDKs write.
pub const KNOWN_PREFIXES: &[(&str, &str)] = &[
    (VCLOUD_NS, "vcloud"),
    (VMEXT_NS, "vmext"),
    (OVF_NS, "ovf"),
    (XSI_NS, "xsi"),
    (
        "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData",
        "vssd",
    ),
    (
        "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData",
        "rasd",
    ),
    ("http://www.vmware.com/schema/ovf", "vmw"),
    (VERSIONS_NS, "versions"),
];

/// Writes `root` as a complete document (with the XML declaration), in vCD's style: `vcloud`
/// is the default namespace when the tree uses it, every other namespace is declared once on
/// the root with its usual prefix ([`KNOWN_PREFIXES`]), `ns1`, `ns2`, … for unknown ones
/// (see [`to_document`]).
pub fn to_xml(root: &Element) -> String {
    to_document(
        root,
        NamespaceStyle {
            default: VCLOUD_NS,
            prefixes: KNOWN_PREFIXES,
        },
    )
}

/// The UUID in an href or URN: the last `8-4-4-4-12` hex group
/// (`…/api/admin/vdc/UUID`, `…/vApp/vapp-UUID`, `urn:vcloud:vdc:UUID`), lowercased.
pub fn uuid_of(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 36 {
        return None;
    }
    let is_uuid = |w: &[u8]| {
        w.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
    };
    (0..=b.len() - 36)
        .rev()
        .find(|&i| is_uuid(&b[i..i + 36]))
        .map(|i| s[i..i + 36].to_ascii_lowercase())
}

/// True when two hrefs (or URNs) name the same entity: same UUID, or (without UUIDs) the same
/// text.
pub fn same_entity(a: &str, b: &str) -> bool {
    match (uuid_of(a), uuid_of(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.trim_end_matches('/') == b.trim_end_matches('/'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_namespaces_once_and_round_trips() {
        let src = r#"<?xml version="1.0" encoding="UTF-8"?>
<NetworkConfigSection xmlns="http://www.vmware.com/vcloud/v1.5" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:x="urn:unknown" href="h" ovf:required="false" x:extra="1"><ovf:Info>The configuration parameters</ovf:Info><Link rel="edit" href="h"/><x:Thing a="b">t &amp; u</x:Thing><NetworkConfig networkName="VM Network"><Configuration><FenceMode>bridged</FenceMode></Configuration><IsDeployed>false</IsDeployed></NetworkConfig></NetworkConfigSection>"#;
        let e = Element::parse(src.as_bytes()).unwrap();
        let out = to_xml(&e);
        assert!(out.starts_with("<?xml"));
        assert!(
            out.contains("<NetworkConfigSection xmlns=\"http://www.vmware.com/vcloud/v1.5\""),
            "{out}"
        );
        assert!(out.contains("ovf:required=\"false\""), "{out}");
        assert!(out.contains("<ovf:Info>"), "{out}");
        assert!(out.contains("t &amp; u"), "{out}");
        let back = Element::parse(out.as_bytes()).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn unqualified_child_undeclares_the_default() {
        let mut root = el(VCLOUD_NS, "A");
        root.children.push(Element {
            name: "b".into(),
            ..Element::default()
        });
        let out = to_xml(&root);
        assert!(out.contains("<b xmlns=\"\"/>"), "{out}");
        assert_eq!(Element::parse(out.as_bytes()).unwrap(), root);
    }

    #[test]
    fn ordered_insertion() {
        let order = ["A", "B", "C", "D"];
        let mut p = el(VCLOUD_NS, "P")
            .with_child(leaf(VCLOUD_NS, "A", "1"))
            .with_child(leaf(VCLOUD_NS, "X", "?"))
            .with_child(leaf(VCLOUD_NS, "D", "4"));
        set_child_text(&mut p, VCLOUD_NS, "C", "3", &order);
        set_child_text(&mut p, VCLOUD_NS, "B", "2", &order);
        set_child_text(&mut p, VCLOUD_NS, "D", "four", &order);
        let names: Vec<_> = p.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["A", "B", "C", "X", "D"]);
        assert_eq!(p.children[4].text, "four");
        let mut q = el(VCLOUD_NS, "P").with_child(leaf(VCLOUD_NS, "C", "3"));
        set_child_text(&mut q, VCLOUD_NS, "A", "1", &order);
        assert_eq!(q.children[0].name, "A");
    }

    #[test]
    fn uuids() {
        let u = "1f0e3b1c-6c8a-4d2e-9a1b-0c9d8e7f6a5b";
        assert_eq!(
            uuid_of(&format!("https://h/api/vApp/vapp-{u}")).as_deref(),
            Some(u)
        );
        assert_eq!(
            uuid_of(&format!("urn:vcloud:vdc:{}", u.to_uppercase())).as_deref(),
            Some(u)
        );
        assert_eq!(uuid_of("https://h/api/org/"), None);
        assert!(same_entity(
            &format!("https://h/api/admin/vdc/{u}"),
            &format!("https://h/api/vdc/{u}")
        ));
        assert!(!same_entity(
            &format!("https://h/api/vdc/{u}"),
            "https://h/api/vdc/x"
        ));
    }
}
