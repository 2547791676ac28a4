//! Hardened XML for every reader of untrusted XML in odt: the OVF descriptor parser
//! ([`crate::ovf`]), and the vSphere SOAP and vCloud clients of odt-vmware.
//!
//! - [`reader`]: [`Reader`], the one quick-xml wrapper that applies the hardening rules
//!   ([`Limits`]: size, depth, elements, attributes, namespace declarations; DOCTYPE and so
//!   entities refused; one root). The OVF parser streams through it; the tree is built on it.
//! - [`tree`]: [`Element`], a namespace-aware element tree parsed whole, with `xsi:type`
//!   resolved, for API replies.
//! - [`write`](mod@write): escaping, and [`to_document`] to write a tree back with its namespaces.
//!
//! Protocol specifics stay with the protocols: vim25 namespaces, envelopes and the request
//! body writer in odt-vmware's `vsphere`, vCloud namespaces and media types in its `vcd`.

pub mod reader;
pub mod tree;
pub mod write;

pub use reader::{Limits, Reader, XmlError, XmlErrorKind};
pub use tree::{Attribute, Element, QualName};
pub use write::{escape_attr, escape_text, to_document, NamespaceStyle};

/// XML Schema instance namespace (`xsi:`), home of the `type` attribute.
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// XML Schema namespace (`xsd:`), home of `string`, `long`, `int`, `boolean`, ….
pub const XSD_NS: &str = "http://www.w3.org/2001/XMLSchema";
/// The `xml:` namespace, bound in every document without a declaration.
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Parses an `xsd:boolean` (`true`/`false`/`1`/`0`, surrounding whitespace allowed).
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}
