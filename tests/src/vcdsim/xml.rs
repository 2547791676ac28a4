//! XML for the simulator: namespaces, a small writer for responses, and the XSD checks a
//! real vCD applies to request bodies (root element and namespace, child order, required
//! children), with the JAXB/Xerces messages vCD passes on (`cvc-complex-type.2.4.a: Invalid
//! content was found starting with element …`).
//!
//! Request bodies are parsed with odt-format's namespace-aware tree
//! ([`odt_vmware::vsphere::xml::Element`]), so prefixes are free and elements are matched by
//! (namespace URI, local name).

use odt_vmware::vsphere::xml::{escape_attr, escape_text, Element};

/// `vcloud`.
pub const VCLOUD: &str = "http://www.vmware.com/vcloud/v1.5";
/// `vmext`.
pub const VMEXT: &str = "http://www.vmware.com/vcloud/extension/v1.5";
/// `ovf`.
pub const OVF: &str = "http://schemas.dmtf.org/ovf/envelope/1";

/// Namespace declarations on a response's root element (vcloud is the default namespace).
pub const ROOT_NS: &str = "xmlns=\"http://www.vmware.com/vcloud/v1.5\" \
     xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\" \
     xmlns:vmext=\"http://www.vmware.com/vcloud/extension/v1.5\" \
     xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"";

/// A response being written.
#[derive(Debug, Default)]
pub struct Out {
    s: String,
    root: bool,
}

impl Out {
    /// A new document (with the XML declaration).
    pub fn new() -> Out {
        Out {
            s: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n".into(),
            root: true,
        }
    }

    fn start(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.s.push('<');
        self.s.push_str(name);
        if std::mem::take(&mut self.root) {
            self.s.push(' ');
            self.s.push_str(ROOT_NS);
        }
        for (k, v) in attrs {
            self.s.push(' ');
            self.s.push_str(k);
            self.s.push_str("=\"");
            self.s.push_str(&escape_attr(v));
            self.s.push('"');
        }
    }

    /// `<name attrs>`.
    pub fn open(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.start(name, attrs);
        self.s.push('>');
        self
    }

    /// `<name attrs/>`.
    pub fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.start(name, attrs);
        self.s.push_str("/>");
        self
    }

    /// `</name>`.
    pub fn close(&mut self, name: &str) -> &mut Self {
        self.s.push_str("</");
        self.s.push_str(name);
        self.s.push('>');
        self
    }

    /// `<name>text</name>`.
    pub fn leaf(&mut self, name: &str, text: &str) -> &mut Self {
        self.start(name, &[]);
        self.s.push('>');
        self.s.push_str(&escape_text(text));
        self.close(name)
    }

    /// `<Link rel type href [name]/>`.
    pub fn link(
        &mut self,
        rel: &str,
        ty: Option<&str>,
        href: &str,
        name: Option<&str>,
    ) -> &mut Self {
        let mut a: Vec<(&str, &str)> = vec![("rel", rel), ("href", href)];
        if let Some(t) = ty {
            a.push(("type", t));
        }
        if let Some(n) = name {
            a.push(("name", n));
        }
        self.empty("Link", &a)
    }

    /// The document.
    pub fn finish(self) -> String {
        self.s
    }
}

/// `{"ns":Local}` as Xerces prints a qualified name.
fn qname(ns: Option<&str>, local: &str) -> String {
    match ns {
        Some(n) => format!("{{\"{n}\":{local}}}"),
        None => local.to_owned(),
    }
}

/// One child slot of an `xs:sequence`.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    /// Local name.
    pub name: &'static str,
    /// Accepted namespaces (the first is the schema's).
    pub ns: &'static [&'static str],
    /// minOccurs.
    pub min: u32,
    /// maxOccurs (`u32::MAX` = unbounded).
    pub max: u32,
}

/// Optional, once.
pub const fn opt(name: &'static str, ns: &'static [&'static str]) -> Slot {
    Slot {
        name,
        ns,
        min: 0,
        max: 1,
    }
}
/// Required, once.
pub const fn req(name: &'static str, ns: &'static [&'static str]) -> Slot {
    Slot {
        name,
        ns,
        min: 1,
        max: 1,
    }
}
/// Any number.
pub const fn many(name: &'static str, ns: &'static [&'static str]) -> Slot {
    Slot {
        name,
        ns,
        min: 0,
        max: u32::MAX,
    }
}

/// vcloud only.
pub const C: &[&str] = &[VCLOUD];
/// vmext (as the official examples) or vcloud (as the generated docs print it).
pub const VC: &[&str] = &[VMEXT, VCLOUD];
/// ovf only.
pub const O: &[&str] = &[OVF];

fn slot_matches(s: &Slot, el: &Element) -> bool {
    el.name == s.name && el.ns.as_deref().is_some_and(|n| s.ns.contains(&n))
}

fn expected(slots: &[Slot]) -> String {
    let names: Vec<String> = slots
        .iter()
        .map(|s| qname(s.ns.first().copied(), s.name))
        .collect();
    format!("'{}'", names.join(", ").replace("}, {", ", "))
}

/// The slots a parser could accept from position `i` (where `count` elements already
/// filled slot `i`): every one up to and including the first required one still unmet.
fn acceptable(slots: &[Slot], i: usize, count: u32) -> Vec<Slot> {
    let mut out = vec![];
    for (k, s) in slots.iter().enumerate().skip(i) {
        let c = if k == i { count } else { 0 };
        if c < s.max {
            out.push(*s);
        }
        if c < s.min {
            break;
        }
    }
    out
}

/// Checks that `el`'s children follow `slots` (an `xs:sequence`). `Err` is the Xerces
/// message vCD returns in a 400 `BAD_REQUEST`.
pub fn check_sequence(el: &Element, slots: &[Slot]) -> Result<(), String> {
    let parent = qname(el.ns.as_deref(), &el.name);
    let (mut i, mut count) = (0usize, 0u32);
    for child in &el.children {
        // The first slot at or after `i` that takes this element, without skipping a
        // required slot that is still unmet.
        let mut found = None;
        for (k, s) in slots.iter().enumerate().skip(i) {
            let c = if k == i { count } else { 0 };
            if slot_matches(s, child) && c < s.max {
                found = Some(k);
                break;
            }
            if c < s.min {
                break;
            }
        }
        match found {
            Some(k) => {
                if k != i {
                    i = k;
                    count = 0;
                }
                count += 1;
            }
            None => {
                let exp = acceptable(slots, i, count);
                let name = qname(child.ns.as_deref(), &child.name);
                return Err(if exp.is_empty() {
                    format!(
                        "cvc-complex-type.2.4.d: Invalid content was found starting with element \
                         '{name}'. No child element is expected at this point."
                    )
                } else {
                    format!(
                        "cvc-complex-type.2.4.a: Invalid content was found starting with element \
                         '{name}'. One of {} is expected.",
                        expected(&exp)
                    )
                });
            }
        }
    }
    for (k, s) in slots.iter().enumerate().skip(i) {
        let c = if k == i { count } else { 0 };
        if c < s.min {
            return Err(format!(
                "cvc-complex-type.2.4.b: The content of element '{parent}' is not complete. \
                 One of {} is expected.",
                expected(&acceptable(slots, k, c))
            ));
        }
    }
    Ok(())
}

/// Checks the root element's name and namespace (`cvc-elt.1.a` otherwise).
pub fn check_root(el: &Element, ns: &str, name: &str) -> Result<(), String> {
    if el.name == name && el.ns.as_deref() == Some(ns) {
        Ok(())
    } else {
        Err(format!(
            "cvc-elt.1.a: Cannot find the declaration of element '{}'.",
            match &el.ns {
                Some(n) if n != ns && el.name == name => qname(Some(n), &el.name),
                _ => el.name.clone(),
            }
        ))
    }
}

/// The first child named `local` in one of `ns`.
pub fn child<'a>(el: &'a Element, local: &str, ns: &[&str]) -> Option<&'a Element> {
    el.children
        .iter()
        .find(|c| c.name == local && c.ns.as_deref().is_some_and(|n| ns.contains(&n)))
}

/// Every child named `local` in one of `ns`.
pub fn children<'a>(el: &'a Element, local: &'a str, ns: &'a [&'a str]) -> Vec<&'a Element> {
    el.children
        .iter()
        .filter(|c| c.name == local && c.ns.as_deref().is_some_and(|n| ns.contains(&n)))
        .collect()
}

/// Trimmed text of a child.
pub fn text<'a>(el: &'a Element, local: &str, ns: &[&str]) -> Option<&'a str> {
    child(el, local, ns).map(|c| c.text.trim())
}

/// Parses an `xs:boolean`; `Err` is the Xerces message.
pub fn boolean(v: &str, what: &str) -> Result<bool, String> {
    match v.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(format!(
            "cvc-datatype-valid.1.2.1: '{other}' is not a valid value for 'boolean' ({what})."
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOTS: &[Slot] = &[
        opt("Description", C),
        req("VmMoRef", VC),
        req("Vdc", VC),
        many("ImportedDisk", VC),
    ];

    fn el(xml: &str) -> Element {
        Element::parse(xml.as_bytes()).unwrap()
    }

    #[test]
    fn sequence_checks() {
        let ok = el(
            r#"<a:P xmlns:a="http://www.vmware.com/vcloud/extension/v1.5"><a:VmMoRef>vm-1</a:VmMoRef><a:Vdc href="x"/></a:P>"#,
        );
        check_sequence(&ok, SLOTS).unwrap();
        let swapped = el(
            r#"<a:P xmlns:a="http://www.vmware.com/vcloud/extension/v1.5"><a:Vdc href="x"/><a:VmMoRef>vm-1</a:VmMoRef></a:P>"#,
        );
        let e = check_sequence(&swapped, SLOTS).unwrap_err();
        assert!(e.starts_with("cvc-complex-type.2.4.a: Invalid content was found starting with element '{\"http://www.vmware.com/vcloud/extension/v1.5\":Vdc}'"), "{e}");
        assert!(e.contains("VmMoRef"), "{e}");
        let missing = el(
            r#"<a:P xmlns:a="http://www.vmware.com/vcloud/extension/v1.5"><a:VmMoRef>vm-1</a:VmMoRef></a:P>"#,
        );
        let e = check_sequence(&missing, SLOTS).unwrap_err();
        assert!(e.starts_with("cvc-complex-type.2.4.b"), "{e}");
        let extra = el(
            r#"<a:P xmlns:a="http://www.vmware.com/vcloud/extension/v1.5"><a:VmMoRef>vm-1</a:VmMoRef><a:Vdc href="x"/><a:Bogus/></a:P>"#,
        );
        let e = check_sequence(&extra, SLOTS).unwrap_err();
        assert!(e.starts_with("cvc-complex-type.2.4.a"), "{e}");
        assert!(e.ends_with("One of '{\"http://www.vmware.com/vcloud/extension/v1.5\":ImportedDisk}' is expected."), "{e}");
        let e = check_sequence(&extra, &SLOTS[..3]).unwrap_err();
        assert!(e.starts_with("cvc-complex-type.2.4.d"), "{e}");
        let wrong_ns = el(
            r#"<a:P xmlns:a="http://www.vmware.com/vcloud/extension/v1.5"><a:Description/><a:VmMoRef>vm-1</a:VmMoRef><a:Vdc href="x"/></a:P>"#,
        );
        assert!(check_sequence(&wrong_ns, SLOTS).is_err());
    }
}
