//! The vim25 side of XML: the namespace of every vSphere element, and [`XmlWriter`], the
//! builder of request bodies. Parsing replies is [`odt_format::xml`]'s namespace-aware
//! [`Element`] tree under [`odt_format::xml::Limits::API_REPLY`] (re-exported here, so the
//! rest of the client reads `xml::Element`): one hardened reader for OVF, SOAP and vCD, with
//! `<!DOCTYPE>` refused and size, depth, element and attribute counts capped, since replies
//! are semi-trusted (the server is the one we chose to talk to, but it may be a proxy, or
//! broken).
//!
//! What is vim-specific here: request bodies live in the default namespace `urn:vim25` with
//! `xsi` and `xsd` declared on the envelope, so the writer writes unqualified names and
//! `xsi:type="xsd:string"` directly, and re-serialises parsed elements (an `importSpec`)
//! relative to that default namespace.

use std::fmt::Write as _;

use odt_format::xml::Limits;
pub use odt_format::xml::{
    escape_attr, escape_text, parse_bool, Attribute, Element, QualName, XSD_NS, XSI_NS,
};

/// The vim25 namespace of every vSphere API element and type.
pub const VIM25_NS: &str = "urn:vim25";

/// Largest reply accepted, in bytes (the limit the tree parser applies, read up front by the
/// HTTP layer so an oversized body is never buffered whole).
pub const MAX_REPLY_BYTES: usize = Limits::API_REPLY.max_bytes;

/// Builds the body of a vim request: the children of the method element, which the envelope
/// puts in the default namespace `urn:vim25`. The `xsi` and `xsd` prefixes are declared on the
/// envelope, so `xsi:type="xsd:string"` may be written directly.
///
/// Names are the caller's constants and are written as given; every text and attribute value
/// is escaped.
#[derive(Debug, Default, Clone)]
pub struct XmlWriter {
    out: String,
}

impl XmlWriter {
    /// An empty body.
    pub fn new() -> Self {
        XmlWriter::default()
    }

    /// Opens `<name>`.
    pub fn open(&mut self, name: &str) -> &mut Self {
        let _ = write!(self.out, "<{name}>");
        self
    }

    /// Opens `<name xsi:type="ty">`; `ty` is a QName such as `TraversalSpec` or `xsd:string`.
    pub fn open_typed(&mut self, name: &str, ty: &str) -> &mut Self {
        let _ = write!(self.out, "<{name} xsi:type=\"{}\">", escape_attr(ty));
        self
    }

    /// Closes `</name>`.
    pub fn close(&mut self, name: &str) -> &mut Self {
        let _ = write!(self.out, "</{name}>");
        self
    }

    /// `<name>text</name>`.
    pub fn leaf(&mut self, name: &str, text: &str) -> &mut Self {
        let _ = write!(self.out, "<{name}>{}</{name}>", escape_text(text));
        self
    }

    /// `<name xsi:type="ty">text</name>`, for `anyType` slots (`OptionValue.value`).
    pub fn leaf_typed(&mut self, name: &str, ty: &str, text: &str) -> &mut Self {
        let _ = write!(
            self.out,
            "<{name} xsi:type=\"{}\">{}</{name}>",
            escape_attr(ty),
            escape_text(text)
        );
        self
    }

    /// Re-serialises a parsed element under the name `name`, keeping its `xsi:type`s,
    /// attributes, text and children. Used to send an `importSpec` back: its raw text cannot
    /// be copied, because the prefix declarations it relies on live on ancestor elements.
    pub fn element(&mut self, name: &str, el: &Element) -> &mut Self {
        write_element(&mut self.out, name, el, Some(VIM25_NS));
        self
    }

    /// Appends pre-built XML (another writer's output).
    pub fn raw(&mut self, xml: &str) -> &mut Self {
        self.out.push_str(xml);
        self
    }

    /// The body built so far.
    pub fn as_str(&self) -> &str {
        &self.out
    }

    /// The finished body.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Writes `el` as `<name …>` where `default_ns` is the default namespace in scope.
fn write_element(out: &mut String, name: &str, el: &Element, default_ns: Option<&str>) {
    let _ = write!(out, "<{name}");
    let own_ns = el.ns.as_deref();
    if own_ns != default_ns {
        let _ = write!(out, " xmlns=\"{}\"", escape_attr(own_ns.unwrap_or("")));
    }
    let scope = own_ns;
    let mut decl = 0usize;
    if let Some(t) = &el.xsi_type {
        let value = match t.ns.as_deref() {
            Some(XSD_NS) => format!("xsd:{}", t.name),
            ns if ns == scope => t.name.clone(),
            None => t.name.clone(),
            Some(other) => {
                decl += 1;
                let _ = write!(out, " xmlns:t{decl}=\"{}\"", escape_attr(other));
                format!("t{decl}:{}", t.name)
            }
        };
        let _ = write!(out, " xsi:type=\"{}\"", escape_attr(&value));
    }
    for a in &el.attrs {
        match a.ns.as_deref() {
            None => {
                let _ = write!(out, " {}=\"{}\"", a.name, escape_attr(&a.value));
            }
            Some(XSI_NS) if a.name == "type" => {}
            Some(XSI_NS) => {
                let _ = write!(out, " xsi:{}=\"{}\"", a.name, escape_attr(&a.value));
            }
            Some(other) => {
                decl += 1;
                let _ = write!(
                    out,
                    " xmlns:a{decl}=\"{}\" a{decl}:{}=\"{}\"",
                    escape_attr(other),
                    a.name,
                    escape_attr(&a.value)
                );
            }
        }
    }
    out.push('>');
    out.push_str(&escape_text(&el.text));
    for c in &el.children {
        write_element(out, &c.name, c, scope);
    }
    let _ = write!(out, "</{name}>");
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::vsphere::types::MoRef;

    #[test]
    fn escaping() {
        assert_eq!(escape_text("a<b>&c"), "a&lt;b&gt;&amp;c");
        assert_eq!(escape_attr("\"x\"\n"), "&quot;x&quot;&#10;");
        assert!(matches!(escape_text("plain"), Cow::Borrowed(_)));
        let mut w = XmlWriter::new();
        w.leaf("userName", "a<&>b")
            .moref("_this", &MoRef::new("Folder", "x&y"))
            .leaf_typed("value", "xsd:string", "v");
        assert_eq!(
            w.finish(),
            "<userName>a&lt;&amp;&gt;b</userName><_this type=\"Folder\">x&amp;y</_this>\
             <value xsi:type=\"xsd:string\">v</value>"
        );
    }

    #[test]
    fn element_round_trip_keeps_types_and_namespaces() {
        let src = r#"<r xmlns="urn:vim25" xmlns:x="http://www.w3.org/2001/XMLSchema-instance" xmlns:s="http://www.w3.org/2001/XMLSchema"><importSpec x:type="VirtualMachineImportSpec"><configSpec><name>a &lt;b&gt;</name><deviceChange><device x:type="VirtualVmxnet3"><key>-1</key><unitNumber>0</unitNumber></device></deviceChange><extraConfig><key>k</key><value x:type="s:string">v</value></extraConfig></configSpec><resPoolEntity type="ResourcePool">resgroup-1</resPoolEntity></importSpec></r>"#;
        let root = Element::parse(src.as_bytes()).unwrap();
        let spec = root.child("importSpec").unwrap();
        let mut w = XmlWriter::new();
        w.element("spec", spec);
        let out = w.finish();
        assert_eq!(
            out,
            "<spec xsi:type=\"VirtualMachineImportSpec\"><configSpec><name>a &lt;b&gt;</name>\
             <deviceChange><device xsi:type=\"VirtualVmxnet3\"><key>-1</key><unitNumber>0</unitNumber>\
             </device></deviceChange><extraConfig><key>k</key><value xsi:type=\"xsd:string\">v</value>\
             </extraConfig></configSpec><resPoolEntity type=\"ResourcePool\">resgroup-1</resPoolEntity></spec>"
        );
        // And it parses back to the same tree inside a declaring wrapper.
        let wrapped = format!(
            "<w xmlns=\"urn:vim25\" xmlns:xsi=\"{XSI_NS}\" xmlns:xsd=\"{XSD_NS}\">{out}</w>"
        );
        let back = Element::parse(wrapped.as_bytes()).unwrap();
        let mut again = back.child("spec").unwrap().clone();
        again.name = "importSpec".into();
        // Equal once the xsi:type attributes (whose prefix spelling differs) are set aside;
        // the resolved xsi_type fields are compared.
        assert_eq!(norm(&again), norm(spec));
    }

    fn norm(e: &Element) -> Element {
        let mut e = e.clone();
        e.attrs.retain(|a| a.ns.as_deref() != Some(XSI_NS));
        e.children = e.children.iter().map(norm).collect();
        e
    }

    #[test]
    fn foreign_namespace_is_declared_on_write() {
        let src = r#"<r xmlns="urn:vim25"><a xmlns="urn:other"><b>1</b></a></r>"#;
        let root = Element::parse(src.as_bytes()).unwrap();
        let mut w = XmlWriter::new();
        w.element("r", &root);
        assert_eq!(w.finish(), "<r><a xmlns=\"urn:other\"><b>1</b></a></r>");
    }
}
