//! The one place where untrusted XML is read: [`Reader`] wraps quick-xml's [`NsReader`] and
//! applies a [`Limits`] value to every event, so the OVF descriptor parser and the element tree
//! share a single set of hardening rules instead of two copies that drift apart.
//!
//! Rules, checked before the caller sees an event:
//!
//! - the input is at most [`Limits::max_bytes`] (checked once, up front);
//! - `<!DOCTYPE>` is an error, so internal or external entities are never declared and entity
//!   expansion ("billion laughs", XXE) cannot start; undeclared entity references are errors in
//!   quick-xml itself;
//! - one root element: an element after the root has closed is an error;
//! - element nesting, elements in total, attributes per element and namespace declarations in
//!   scope are capped. The attribute cap is applied with quick-xml's duplicate check turned off,
//!   so that check (quadratic in the attribute count) only ever runs on a bounded list.
//!
//! Comments, processing instructions and the XML declaration are skipped: they carry nothing
//! any caller reads.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{QName, ResolveResult};
use quick_xml::NsReader;

/// The hardening limits applied by [`Reader`]. Callers pick one of the named values; they differ
/// because the documents differ (see each constant), and each value is what its caller enforced
/// before the readers were merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest input accepted, in bytes.
    pub max_bytes: usize,
    /// Most elements open at once (an element nested one deeper is refused).
    pub max_depth: usize,
    /// Most elements in one document.
    pub max_elements: usize,
    /// Most attributes (namespace declarations included) on one element.
    pub max_attributes: usize,
    /// Most namespace declarations in scope at once (on an element and its open ancestors).
    /// Every prefix lookup scans the bindings in scope, so this bounds the cost per element;
    /// declarations on siblings do not add up.
    pub max_namespace_declarations: usize,
}

impl Limits {
    /// OVF descriptors. Real ones are a few KiB to a few hundred KiB and nest about 6 deep (a
    /// few more with nested collections), so the caps are tight. The element count is only
    /// what the size implies (the shortest element, `<a/>`, is 4 bytes): the descriptor parser
    /// caps the entries it keeps (files, disks, systems, items) itself.
    pub const OVF_DESCRIPTOR: Limits = Limits {
        max_bytes: 16 << 20,
        max_depth: 64,
        max_elements: (16 << 20) / 4,
        max_attributes: 64,
        max_namespace_declarations: 128,
    };

    /// Replies of the vSphere and vCloud APIs (and the request bodies the test simulators
    /// read), parsed whole into an element tree. A RetrievePropertiesEx over a large inventory
    /// is a few MiB and nests about 20 deep (a device backing inside a config spec inside an
    /// import spec inside a property value), hence the larger size and depth. Namespace
    /// declarations are not capped beyond what depth × attributes already allows: vim and vCD
    /// replies re-declare prefixes on many elements.
    pub const API_REPLY: Limits = Limits {
        max_bytes: 64 << 20,
        max_depth: 128,
        max_elements: 2_000_000,
        max_attributes: 64,
        max_namespace_declarations: 128 * 64,
    };

    /// Refuses an input longer than [`Limits::max_bytes`].
    ///
    /// # Errors
    ///
    /// [`XmlErrorKind::TooLarge`].
    pub fn check_size(&self, len: usize) -> Result<(), XmlError> {
        if len > self.max_bytes {
            return Err(XmlError::new(
                None,
                XmlErrorKind::TooLarge {
                    size: len,
                    limit: self.max_bytes,
                },
            ));
        }
        Ok(())
    }
}

/// Why a document was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}{}", match .pos { Some(p) => format!(" (at byte {p})"), None => String::new() })]
pub struct XmlError {
    /// Byte offset in the input: the start of the event for a limit, where quick-xml stopped
    /// for a syntax error; `None` for errors about the whole document.
    pub pos: Option<u64>,
    /// What is wrong.
    pub kind: XmlErrorKind,
}

impl XmlError {
    /// An error of `kind` at `pos`.
    pub fn new(pos: Option<u64>, kind: XmlErrorKind) -> Self {
        XmlError { pos, kind }
    }

    /// A syntax (or shape) error described by `detail`, at `pos`.
    pub fn syntax(pos: u64, detail: impl std::fmt::Display) -> Self {
        XmlError::new(Some(pos), XmlErrorKind::Syntax(detail.to_string()))
    }
}

/// The kinds of [`XmlError`]. The limit kinds carry the limit so callers can report it in
/// their own words (the OVF parser maps them onto `OvfError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlErrorKind {
    /// The input is longer than [`Limits::max_bytes`].
    #[error("{size} bytes is more than the {limit} accepted")]
    TooLarge {
        /// Input length.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A `<!DOCTYPE>`: DTDs are how entity bombs and external entities get in.
    #[error("DOCTYPE is not allowed")]
    Doctype,
    /// An element after the root element closed.
    #[error("content after the root element")]
    AfterRoot {
        /// Local name of the element found.
        element: String,
    },
    /// More than [`Limits::max_elements`] elements.
    #[error("more than {limit} elements")]
    TooManyElements {
        /// The limit.
        limit: usize,
    },
    /// Nested deeper than [`Limits::max_depth`].
    #[error("nested deeper than {limit}")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// More than [`Limits::max_attributes`] attributes on one element.
    #[error("more than {limit} attributes on <{element}>")]
    TooManyAttributes {
        /// Local name of the element.
        element: String,
        /// The limit.
        limit: usize,
    },
    /// More than [`Limits::max_namespace_declarations`] declarations in scope.
    #[error("more than {limit} namespace declarations in scope")]
    TooManyNamespaces {
        /// The limit.
        limit: usize,
    },
    /// The input ended with elements still open.
    #[error("ended inside an element (truncated?)")]
    Truncated,
    /// The input holds no element at all.
    #[error("no root element (empty document)")]
    NoRoot,
    /// Not well-formed, or not the shape expected (quick-xml's message, or the caller's).
    #[error("{0}")]
    Syntax(String),
}

/// A hardened, namespace-aware pull reader over a complete document in memory.
///
/// [`Reader::read_event`] returns only `Start`, `Empty`, `End`, `Text`, `CData` and `Eof` events,
/// each already checked against the [`Limits`]; the namespace resolution methods are
/// quick-xml's, for the element or attribute just returned.
pub struct Reader<'a> {
    inner: NsReader<&'a [u8]>,
    limits: Limits,
    /// Namespace declarations of each open element, popped as it closes.
    open: Vec<usize>,
    ns_in_scope: usize,
    elements: usize,
    root_closed: bool,
    /// Start of the event last returned.
    event_pos: u64,
}

impl<'a> Reader<'a> {
    /// A reader over `data`, refusing it at once when it is larger than `limits` allow.
    ///
    /// # Errors
    ///
    /// [`XmlErrorKind::TooLarge`].
    pub fn new(data: &'a [u8], limits: Limits) -> Result<Self, XmlError> {
        limits.check_size(data.len())?;
        let mut inner = NsReader::from_reader(data);
        let cfg = inner.config_mut();
        cfg.check_end_names = true;
        cfg.expand_empty_elements = false;
        cfg.trim_text(false);
        Ok(Reader {
            inner,
            limits,
            open: Vec::new(),
            ns_in_scope: 0,
            elements: 0,
            root_closed: false,
            event_pos: 0,
        })
    }

    /// Byte offset where the event last returned by [`Reader::read_event`] starts.
    pub fn event_position(&self) -> u64 {
        self.event_pos
    }

    /// The next event that matters, checked against the limits.
    ///
    /// # Errors
    ///
    /// Any [`XmlErrorKind`] but `TooLarge`, `Truncated` and `NoRoot` (which are the
    /// caller's to decide at `Eof`).
    pub fn read_event(&mut self) -> Result<Event<'a>, XmlError> {
        // An empty element's declarations are never added to the count: they leave scope with
        // it, before the next event.
        loop {
            self.event_pos = self.inner.buffer_position();
            let ev = match self.inner.read_event() {
                Ok(ev) => ev,
                Err(e) => return Err(XmlError::syntax(self.inner.error_position(), e)),
            };
            match ev {
                Event::Start(ref e) => {
                    let declared = self.check_start(e)?;
                    self.elements += 1;
                    self.open.push(declared);
                    self.ns_in_scope += declared;
                }
                Event::Empty(ref e) => {
                    self.check_start(e)?;
                    self.elements += 1;
                    if self.open.is_empty() {
                        self.root_closed = true;
                    }
                }
                Event::End(_) => {
                    let Some(declared) = self.open.pop() else {
                        return Err(XmlError::syntax(self.event_pos, "unbalanced end tag"));
                    };
                    self.ns_in_scope -= declared;
                    if self.open.is_empty() {
                        self.root_closed = true;
                    }
                }
                Event::DocType(_) => {
                    return Err(XmlError::new(Some(self.event_pos), XmlErrorKind::Doctype))
                }
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => continue,
                Event::Text(_) | Event::CData(_) | Event::Eof => {}
            }
            return Ok(ev);
        }
    }

    /// Applies the per-element limits to a start tag; returns how many namespaces it declares.
    fn check_start(&self, e: &BytesStart<'_>) -> Result<usize, XmlError> {
        let at = |kind| XmlError::new(Some(self.event_pos), kind);
        let local = || String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        if self.root_closed {
            return Err(at(XmlErrorKind::AfterRoot { element: local() }));
        }
        if self.elements >= self.limits.max_elements {
            return Err(at(XmlErrorKind::TooManyElements {
                limit: self.limits.max_elements,
            }));
        }
        if self.open.len() >= self.limits.max_depth {
            return Err(at(XmlErrorKind::TooDeep {
                limit: self.limits.max_depth,
            }));
        }
        let mut attrs = e.attributes();
        attrs.with_checks(false);
        let mut declared = 0;
        for (n, attr) in attrs.enumerate() {
            let attr = attr.map_err(|err| XmlError::syntax(self.event_pos, err))?;
            if n >= self.limits.max_attributes {
                return Err(at(XmlErrorKind::TooManyAttributes {
                    element: local(),
                    limit: self.limits.max_attributes,
                }));
            }
            if attr.key.as_namespace_binding().is_some() {
                declared += 1;
                if self.ns_in_scope + declared > self.limits.max_namespace_declarations {
                    return Err(at(XmlErrorKind::TooManyNamespaces {
                        limit: self.limits.max_namespace_declarations,
                    }));
                }
            }
        }
        Ok(declared)
    }

    /// Resolves an element name against the declarations in scope (quick-xml's
    /// [`NsReader::resolve_element`]).
    pub fn resolve_element<'n>(
        &self,
        name: QName<'n>,
    ) -> (ResolveResult<'_>, quick_xml::name::LocalName<'n>) {
        self.inner.resolve_element(name)
    }

    /// Resolves an attribute name against the declarations in scope (quick-xml's
    /// [`NsReader::resolve_attribute`]): unprefixed attributes have no namespace.
    pub fn resolve_attribute<'n>(
        &self,
        name: QName<'n>,
    ) -> (ResolveResult<'_>, quick_xml::name::LocalName<'n>) {
        self.inner.resolve_attribute(name)
    }
}
