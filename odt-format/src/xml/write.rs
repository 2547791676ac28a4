//! Writing XML: escaping for text and attribute values, and a whole-document writer for
//! element trees that declares every namespace the tree uses once, on the root.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::tree::{Element, QualName};
use super::{XML_NS, XSI_NS};

/// Escapes character data for use as element text.
pub fn escape_text(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Escapes a value for use inside a double-quoted attribute.
pub fn escape_attr(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, attr: bool) -> Cow<'_, str> {
    let needs = s.bytes().any(|b| {
        matches!(b, b'&' | b'<' | b'>' | b'\r') || (attr && matches!(b, b'"' | b'\n' | b'\t'))
    });
    if !needs {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // A raw CR would be normalised away by the receiving parser.
            '\r' => out.push_str("&#13;"),
            '"' if attr => out.push_str("&quot;"),
            // Raw newlines and tabs in attributes are normalised to spaces by the receiver.
            '\n' if attr => out.push_str("&#10;"),
            '\t' if attr => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// How [`to_document`] names namespaces: which one is the default namespace, and the usual
/// prefixes of the others, so written documents look like the ones their readers' own tools
/// write.
#[derive(Debug, Clone, Copy)]
pub struct NamespaceStyle<'a> {
    /// Becomes the default namespace (`xmlns="…"`) when the tree uses it.
    pub default: &'a str,
    /// `(namespace URI, prefix)` pairs; namespaces not listed get `ns1`, `ns2`, ….
    pub prefixes: &'a [(&'a str, &'a str)],
}

/// Writes `root` as a complete document (with the XML declaration). The style's default
/// namespace is the default namespace when the tree uses it; every other namespace (and the
/// default one too, when an attribute needs it, since unprefixed attributes have no
/// namespace) is declared once on the root with its usual prefix. Elements without a
/// namespace undeclare the default. So an edited tree goes back with every unknown element,
/// attribute and namespace it came with, in the order it came.
pub fn to_document(root: &Element, style: NamespaceStyle<'_>) -> String {
    let mut used: Vec<String> = Vec::new();
    let mut attr_ns: Vec<String> = Vec::new();
    collect_ns(root, &mut used, &mut attr_ns);
    let default = used
        .iter()
        .any(|n| n == style.default)
        .then_some(style.default);
    let mut prefixes: BTreeMap<String, String> = BTreeMap::new();
    let mut decls = String::new();
    if let Some(d) = default {
        let _ = write!(decls, " xmlns=\"{}\"", escape_attr(d));
    }
    let mut n = 0;
    for ns in &used {
        let needs_prefix = Some(ns.as_str()) != default || attr_ns.contains(ns);
        if !needs_prefix || ns == XML_NS || prefixes.contains_key(ns) {
            continue;
        }
        let prefix = match style.prefixes.iter().find(|(u, _)| u == ns) {
            Some((_, p)) => (*p).to_owned(),
            None => loop {
                n += 1;
                let p = format!("ns{n}");
                if !style.prefixes.iter().any(|(_, k)| *k == p) {
                    break p;
                }
            },
        };
        let _ = write!(decls, " xmlns:{prefix}=\"{}\"", escape_attr(ns));
        prefixes.insert(ns.clone(), prefix);
    }
    prefixes.insert(XML_NS.to_owned(), "xml".to_owned());
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    write_el(&mut out, root, default, &prefixes, Some(&decls));
    out
}

fn collect_ns(e: &Element, used: &mut Vec<String>, attr_ns: &mut Vec<String>) {
    let add = |v: &mut Vec<String>, ns: &str| {
        if !v.iter().any(|n| n == ns) {
            v.push(ns.to_owned());
        }
    };
    if let Some(ns) = &e.ns {
        add(used, ns);
    }
    for a in &e.attrs {
        if let Some(ns) = &a.ns {
            add(used, ns);
            add(attr_ns, ns);
        }
    }
    if let Some(QualName { ns: Some(ns), .. }) = &e.xsi_type {
        add(used, ns);
        add(attr_ns, ns);
    }
    for c in &e.children {
        collect_ns(c, used, attr_ns);
    }
}

fn qname(
    ns: Option<&str>,
    local: &str,
    default: Option<&str>,
    p: &BTreeMap<String, String>,
) -> String {
    match ns {
        Some(n) if Some(n) == default => local.to_owned(),
        Some(n) => match p.get(n) {
            Some(pre) => format!("{pre}:{local}"),
            None => local.to_owned(),
        },
        None => local.to_owned(),
    }
}

fn write_el(
    out: &mut String,
    e: &Element,
    default: Option<&str>,
    p: &BTreeMap<String, String>,
    root_decls: Option<&str>,
) {
    let name = qname(e.ns.as_deref(), &e.name, default, p);
    let _ = write!(out, "<{name}");
    if let Some(d) = root_decls {
        out.push_str(d);
    }
    let mut inner_default = default;
    if e.ns.is_none() && default.is_some() {
        out.push_str(" xmlns=\"\"");
        inner_default = None;
    }
    if let Some(t) = &e.xsi_type {
        let v = match t.ns.as_deref() {
            Some(n) => match p.get(n) {
                Some(pre) => format!("{pre}:{}", t.name),
                None => t.name.clone(),
            },
            None => t.name.clone(),
        };
        let _ = write!(
            out,
            " {}=\"{}\"",
            qname(Some(XSI_NS), "type", None, p),
            escape_attr(&v)
        );
    }
    for a in &e.attrs {
        if a.ns.as_deref() == Some(XSI_NS) && a.name == "type" && e.xsi_type.is_some() {
            continue;
        }
        let an = match a.ns.as_deref() {
            None => a.name.clone(),
            Some(n) => qname(Some(n), &a.name, None, p),
        };
        let _ = write!(out, " {an}=\"{}\"", escape_attr(&a.value));
    }
    if e.children.is_empty() && e.text.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    out.push_str(&escape_text(&e.text));
    for c in &e.children {
        write_el(out, c, inner_default, p, None);
    }
    let _ = write!(out, "</{name}>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(escape_text("a<b>&c"), "a&lt;b&gt;&amp;c");
        assert_eq!(escape_text("a\rb\"\n"), "a&#13;b\"\n");
        assert_eq!(escape_attr("\"x\"\n\t"), "&quot;x&quot;&#10;&#9;");
        assert!(matches!(escape_text("plain"), Cow::Borrowed(_)));
        assert!(matches!(escape_attr("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn document_declares_each_namespace_once() {
        let style = NamespaceStyle {
            default: "urn:d",
            prefixes: &[("urn:known", "k")],
        };
        let src = r#"<r xmlns="urn:d" xmlns:a="urn:known" xmlns:b="urn:other" a:x="1"><a:c/><b:e/><f xmlns=""/></r>"#;
        let e = Element::parse(src.as_bytes()).unwrap();
        let out = to_document(&e, style);
        assert_eq!(
            out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<r xmlns=\"urn:d\" \
             xmlns:k=\"urn:known\" xmlns:ns1=\"urn:other\" k:x=\"1\"><k:c/><ns1:e/>\
             <f xmlns=\"\"/></r>"
        );
        assert_eq!(Element::parse(out.as_bytes()).unwrap(), e);
    }
}
