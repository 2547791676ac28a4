//! A namespace-aware element tree, parsed whole under [`Limits`].
//!
//! Why a tree and not serde: API replies are polymorphic (`xsi:type` decides what a vim `val`
//! or `device` is), values arrive as `anyType`, and parts of a reply (a vim `importSpec`, a vCD
//! network section) must be sent back exactly as received. A generic tree handles all three;
//! typed views are built on top of it by the callers.
//!
//! Why namespace-aware: prefixes are arbitrary. vcsim writes
//! `xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance"
//! XMLSchema-instance:type="xsd:string"`, vCenter writes `xsi:type`, and the *value* of the
//! type attribute is itself a QName whose prefix must be resolved against the declarations in
//! scope at that element. So elements and attributes are matched by (namespace URI, local
//! name), and [`Element::xsi_type`] is resolved while parsing.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{QName, ResolveResult};

use super::reader::{Limits, Reader, XmlError, XmlErrorKind};
use super::{parse_bool, XSI_NS};

/// A namespace-qualified name: a namespace URI (or none) and a local name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QualName {
    /// The namespace URI, `None` for no namespace.
    pub ns: Option<String>,
    /// The local part.
    pub name: String,
}

impl QualName {
    /// True when this is `local` in namespace `ns`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.ns.as_deref() == Some(ns) && self.name == local
    }
}

/// One attribute, its name resolved to a namespace (`None` for plain attributes such as a
/// MoRef's `type`). Namespace declarations (`xmlns`, `xmlns:p`) are not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Namespace URI of the attribute name, `None` when unprefixed.
    pub ns: Option<String>,
    /// Local name.
    pub name: String,
    /// Unescaped value.
    pub value: String,
}

/// One element of a parsed document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Namespace URI of the element, `None` when it has none.
    pub ns: Option<String>,
    /// Local name (no prefix).
    pub name: String,
    /// Attributes other than namespace declarations, in document order.
    pub attrs: Vec<Attribute>,
    /// Child elements, in document order.
    pub children: Vec<Element>,
    /// The element's character data, concatenated and unescaped (whitespace kept; empty for
    /// elements that only hold children, since whitespace-only runs between children are
    /// dropped).
    pub text: String,
    /// The `xsi:type` attribute's value, its QName prefix resolved against the namespace
    /// declarations in scope where it appeared.
    pub xsi_type: Option<QualName>,
}

impl Element {
    /// A new element `name` in namespace `ns`, with no content.
    pub fn new(ns: &str, name: impl Into<String>) -> Self {
        Element {
            ns: Some(ns.to_owned()),
            name: name.into(),
            ..Element::default()
        }
    }

    /// True when this element is `local` in namespace `ns`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.ns.as_deref() == Some(ns) && self.name == local
    }

    /// The first child element whose local name is `local` (any namespace: vim replies keep
    /// every element in `urn:vim25`, and vCD mixes prefixes across versions).
    pub fn child(&self, local: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == local)
    }

    /// Every child element whose local name is `local`, in order.
    pub fn children<'a>(&'a self, local: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == local)
    }

    /// The text of the first child named `local`, trimmed; `None` when there is no such
    /// child.
    pub fn text_of(&self, local: &str) -> Option<&str> {
        self.child(local).map(|c| c.text.trim())
    }

    /// Follows a path of child names (`"summary/capacity"` style, as a slice).
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        let mut cur = self;
        for n in names {
            cur = cur.child(n)?;
        }
        Some(cur)
    }

    /// The element's own text, trimmed.
    pub fn text_trim(&self) -> &str {
        self.text.trim()
    }

    /// The local name of the resolved `xsi:type` (`"InvalidLogin"`, `"string"`,
    /// `"ArrayOfManagedObjectReference"`), whatever prefix the server used.
    pub fn xsi_type(&self) -> Option<&str> {
        self.xsi_type.as_ref().map(|q| q.name.as_str())
    }

    /// The value of the attribute `local` that has no namespace (such as a MoRef's `type`).
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.is_none() && a.name == local)
            .map(|a| a.value.as_str())
    }

    /// The value of the attribute `local` in namespace `ns`.
    pub fn attr_ns(&self, ns: &str, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.as_deref() == Some(ns) && a.name == local)
            .map(|a| a.value.as_str())
    }

    /// Parses the child `local` as a number (`xsd:long`, `xsd:int`, …).
    pub fn parse_of<T: std::str::FromStr>(&self, local: &str) -> Option<T> {
        self.text_of(local).and_then(|t| t.parse().ok())
    }

    /// Parses the child `local` as an `xsd:boolean` (`true`/`false`/`1`/`0`).
    pub fn bool_of(&self, local: &str) -> Option<bool> {
        self.text_of(local).and_then(parse_bool)
    }

    /// Parses a whole API reply (or request body) into its root element, under
    /// [`Limits::API_REPLY`].
    ///
    /// # Errors
    ///
    /// An [`XmlError`] for malformed XML, a DOCTYPE, an undeclared prefix, text or elements
    /// outside the root, no root, truncation, or a limit crossed.
    pub fn parse(xml: &[u8]) -> Result<Element, XmlError> {
        Element::parse_with(xml, Limits::API_REPLY)
    }

    /// Parses a whole document into its root element under `limits`.
    ///
    /// # Errors
    ///
    /// As [`Element::parse`].
    pub fn parse_with(xml: &[u8], limits: Limits) -> Result<Element, XmlError> {
        let mut reader = Reader::new(xml, limits)?;
        let mut stack: Vec<Element> = Vec::new();
        let mut root: Option<Element> = None;
        loop {
            let ev = reader.read_event()?;
            let pos = reader.event_position();
            match ev {
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let el = start_element(&reader, e).map_err(|d| XmlError::syntax(pos, d))?;
                    if matches!(ev, Event::Empty(_)) {
                        finish(el, &mut stack, &mut root);
                    } else {
                        stack.push(el);
                    }
                }
                Event::End(_) => {
                    // The reader refuses unbalanced end tags, so there is an open element.
                    if let Some(mut el) = stack.pop() {
                        if !el.children.is_empty() && el.text.trim().is_empty() {
                            el.text.clear();
                        }
                        finish(el, &mut stack, &mut root);
                    }
                }
                Event::Text(t) => {
                    if let Some(top) = stack.last_mut() {
                        let s = t.unescape().map_err(|e| XmlError::syntax(pos, e))?;
                        top.text.push_str(&s);
                    } else if !t.iter().all(|b| b.is_ascii_whitespace()) {
                        return Err(XmlError::syntax(pos, "text outside the root element"));
                    }
                }
                Event::CData(c) => {
                    let Some(top) = stack.last_mut() else {
                        return Err(XmlError::syntax(pos, "CDATA outside the root element"));
                    };
                    let s = c.decode().map_err(|e| XmlError::syntax(pos, e))?;
                    top.text.push_str(&s);
                }
                Event::Eof => break,
                // The reader returns no other event.
                _ => {}
            }
        }
        if !stack.is_empty() {
            return Err(XmlError::new(None, XmlErrorKind::Truncated));
        }
        root.ok_or(XmlError::new(None, XmlErrorKind::NoRoot))
    }
}

fn finish(el: Element, stack: &mut [Element], root: &mut Option<Element>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

fn ns_of(r: &ResolveResult) -> Result<Option<String>, String> {
    match r {
        ResolveResult::Bound(ns) => Ok(Some(String::from_utf8_lossy(ns.0).into_owned())),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(p) => Err(format!(
            "undeclared namespace prefix '{}'",
            String::from_utf8_lossy(p)
        )),
    }
}

/// The element a start tag opens, its name, attributes and `xsi:type` resolved.
fn start_element(reader: &Reader<'_>, e: &BytesStart<'_>) -> Result<Element, String> {
    let (res, local) = reader.resolve_element(e.name());
    let mut el = Element {
        ns: ns_of(&res)?,
        name: String::from_utf8_lossy(local.as_ref()).into_owned(),
        ..Element::default()
    };
    // The reader has bounded the attribute count, so quick-xml's duplicate check is cheap.
    for attr in e.attributes() {
        let attr = attr.map_err(|e| e.to_string())?;
        if attr.key.as_namespace_binding().is_some() {
            continue;
        }
        let (ares, local) = reader.resolve_attribute(attr.key);
        let ans = ns_of(&ares)?;
        let value = attr
            .unescape_value()
            .map_err(|e| e.to_string())?
            .into_owned();
        let local = String::from_utf8_lossy(local.as_ref()).into_owned();
        if ans.as_deref() == Some(XSI_NS) && local == "type" {
            // The value is a QName: resolve its prefix with the declarations in scope here
            // (an unprefixed value takes the default namespace, per XML Schema).
            let (tres, tlocal) = reader.resolve_element(QName(value.trim().as_bytes()));
            el.xsi_type = Some(QualName {
                ns: ns_of(&tres)?,
                name: String::from_utf8_lossy(tlocal.as_ref()).into_owned(),
            });
        }
        el.attrs.push(Attribute {
            ns: ans,
            name: local,
            value,
        });
    }
    Ok(el)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::XSD_NS;

    const VCSIM_VAL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><R xmlns="urn:vim25"><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="xsd:string">DC0 &amp; co</val><v2 xsi:type="ArrayOfManagedObjectReference"><ManagedObjectReference type="Network">network-7</ManagedObjectReference></v2></R></soapenv:Body></soapenv:Envelope>"#;

    #[test]
    fn resolves_xsi_type_whatever_the_prefix() {
        let root = Element::parse(VCSIM_VAL.as_bytes()).unwrap();
        assert!(root.is("http://schemas.xmlsoap.org/soap/envelope/", "Envelope"));
        let r = &root.children[0].children[0];
        assert!(r.is("urn:vim25", "R"));
        let val = r.child("val").unwrap();
        assert_eq!(val.text, "DC0 & co");
        assert_eq!(
            val.xsi_type,
            Some(QualName {
                ns: Some(XSD_NS.into()),
                name: "string".into()
            })
        );
        let v2 = r.child("v2").unwrap();
        assert_eq!(v2.xsi_type(), Some("ArrayOfManagedObjectReference"));
        assert_eq!(
            v2.xsi_type.as_ref().unwrap().ns.as_deref(),
            Some("urn:vim25")
        );
        let m = v2.child("ManagedObjectReference").unwrap();
        assert_eq!(m.attr("type"), Some("Network"));
        assert_eq!(m.text, "network-7");
    }

    #[test]
    fn refuses_doctype_and_garbage() {
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>"#;
        assert!(Element::parse(bomb).is_err());
        assert!(Element::parse(b"").is_err());
        assert!(Element::parse(b"<a><b></a>").is_err());
        assert!(Element::parse(b"<a>").is_err());
        assert!(Element::parse(b"<p:a/>").is_err(), "undeclared prefix");
        assert!(Element::parse(b"<a/><b/>").is_err());
        assert!(Element::parse(b"<a/>text").is_err());
        assert!(Element::parse(b"</a>").is_err());
    }

    #[test]
    fn caps_depth() {
        let max = Limits::API_REPLY.max_depth;
        let deep = "<a>".repeat(max + 1) + &"</a>".repeat(max + 1);
        let err = Element::parse(deep.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("deeper"), "{err}");
        let ok = "<a>".repeat(max) + &"</a>".repeat(max);
        assert!(Element::parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn caps_attributes_elements_and_size() {
        let small = Limits {
            max_bytes: 200,
            max_depth: 4,
            max_elements: 3,
            max_attributes: 2,
            max_namespace_declarations: 1,
        };
        let kind = |doc: &str| Element::parse_with(doc.as_bytes(), small).unwrap_err().kind;
        assert!(matches!(
            kind("<a x='1' y='2' z='3'/>"),
            XmlErrorKind::TooManyAttributes { limit: 2, .. }
        ));
        assert!(matches!(
            kind("<a><b/><c/><d/></a>"),
            XmlErrorKind::TooManyElements { limit: 3 }
        ));
        assert!(matches!(
            kind("<a xmlns:p='urn:p'><b xmlns:q='urn:q'/></a>"),
            XmlErrorKind::TooManyNamespaces { limit: 1 }
        ));
        assert!(Element::parse_with(b"<a xmlns:p='urn:p'/>", small).is_ok());
        let big = format!("<a>{}</a>", " ".repeat(200));
        assert!(matches!(
            kind(&big),
            XmlErrorKind::TooLarge { limit: 200, .. }
        ));
    }
}
