//! The SOAP 1.1 layer of vim25: building request envelopes and reading replies and faults.
//!
//! Pure functions over strings and bytes, so they are tested on recorded replies with no
//! sockets. The wire rules they follow (reference §1):
//!
//! - the method element is in `urn:vim25` and its first child is `_this`, the managed object
//!   the method is called on;
//! - the reply's body holds `<MethodResponse>` (with an optional `returnval`), or a
//!   `soapenv:Fault` whose `detail` child is `<TypeFault xsi:type="Type">`;
//! - the `xsi` prefix of a fault's type may be spelt anything (vcsim:
//!   `XMLSchema-instance:type`), so the type is read through [`Element::xsi_type`].

use super::error::{Result, VimError};
use super::types::MoRef;
use super::xml::{escape_text, Element, XmlWriter, VIM25_NS, XSD_NS, XSI_NS};

/// The SOAP 1.1 envelope namespace.
pub const SOAPENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// Builds a complete request: prolog, envelope, body and `<method xmlns="urn:vim25">` whose
/// first child is `<_this type="…">…</_this>`, followed by `body` (already-escaped XML built
/// with [`XmlWriter`]). Parameters must come in the WSDL's order; vCenter is strict.
pub fn envelope(method: &str, this: &MoRef, body: &str) -> String {
    let mut w = XmlWriter::new();
    w.moref("_this", this);
    let mut s = String::with_capacity(body.len() + 512);
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    s.push_str("<soapenv:Envelope xmlns:soapenv=\"");
    s.push_str(SOAPENV_NS);
    s.push_str("\" xmlns:xsi=\"");
    s.push_str(XSI_NS);
    s.push_str("\" xmlns:xsd=\"");
    s.push_str(XSD_NS);
    s.push_str("\"><soapenv:Body><");
    s.push_str(method);
    s.push_str(" xmlns=\"");
    s.push_str(VIM25_NS);
    s.push_str("\">");
    s.push_str(w.as_str());
    s.push_str(body);
    s.push_str("</");
    s.push_str(method);
    s.push_str("></soapenv:Body></soapenv:Envelope>");
    s
}

/// Reads a reply to `method`: returns the `<methodResponse>` element, or the fault as
/// [`VimError::Fault`]. Works on both HTTP 200 and 500 bodies (the caller decides which
/// statuses to hand over).
pub fn parse_response(method: &str, xml: &[u8]) -> Result<Element> {
    let what = || format!("{method} reply");
    let root = Element::parse(xml).map_err(|e| VimError::xml(what(), e.to_string()))?;
    if !root.is(SOAPENV_NS, "Envelope") {
        return Err(VimError::xml(
            what(),
            format!("root element is <{}>, not a SOAP Envelope", root.name),
        ));
    }
    let body = root
        .children
        .into_iter()
        .find(|c| c.is(SOAPENV_NS, "Body"))
        .ok_or_else(|| VimError::xml(what(), "no soapenv:Body"))?;
    let first = body
        .children
        .into_iter()
        .next()
        .ok_or_else(|| VimError::xml(what(), "empty soapenv:Body"))?;
    if first.is(SOAPENV_NS, "Fault") {
        return Err(fault_error(method, first));
    }
    let want = format!("{method}Response");
    if first.name != want {
        return Err(VimError::xml(
            what(),
            format!("expected <{want}>, got <{}>", first.name),
        ));
    }
    Ok(first)
}

/// Turns a `soapenv:Fault` element into [`VimError::Fault`].
pub fn fault_error(method: &str, fault: Element) -> VimError {
    let faultcode = fault.text_of("faultcode").unwrap_or("").to_string();
    let faultstring = fault.text_of("faultstring").unwrap_or("").to_string();
    let detail = fault
        .children
        .into_iter()
        .find(|c| c.name == "detail")
        .and_then(|d| d.children.into_iter().next());
    let fault_type = detail
        .as_ref()
        .map(detail_type)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| {
            // Untyped fault: keep the local part of the SOAP faultcode.
            faultcode.rsplit(':').next().unwrap_or("").to_string()
        });
    let message = if !faultstring.is_empty() {
        faultstring
    } else {
        detail
            .as_ref()
            .and_then(fault_messages)
            .unwrap_or_else(|| fault_type.clone())
    };
    VimError::Fault {
        method: method.to_string(),
        fault_type: if fault_type.is_empty() {
            "UnknownFault".to_string()
        } else {
            fault_type
        },
        message,
        detail: detail.map(Box::new),
    }
}

/// The vim type of a fault detail element: its `xsi:type`, else its name without the `Fault`
/// suffix (`InvalidLoginFault` → `InvalidLogin`).
fn detail_type(d: &Element) -> String {
    match d.xsi_type() {
        Some(t) => t.to_string(),
        None => d.name.strip_suffix("Fault").unwrap_or(&d.name).to_string(),
    }
}

/// `faultMessage[].message` of a MethodFault, joined, when there is any.
fn fault_messages(fault: &Element) -> Option<String> {
    let msgs: Vec<&str> = fault
        .children("faultMessage")
        .filter_map(|m| m.text_of("message"))
        .filter(|m| !m.is_empty())
        .collect();
    (!msgs.is_empty()).then(|| msgs.join("; "))
}

/// A `LocalizedMethodFault` (the `error` of a task or lease, the `warning`s and `error`s of
/// an import spec): the fault's type and the server's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalizedFault {
    /// The vim type of the inner `fault` (`OvfUnsupportedType`, `FileFault`, …).
    pub fault_type: String,
    /// `localizedMessage`, or the inner fault's messages, or the type.
    pub message: String,
    /// The inner `fault` element, for details such as `FileFault.file`.
    pub fault: Option<Element>,
}

impl LocalizedFault {
    /// Reads a LocalizedMethodFault element (`<error>`, `<warning>`, `<val>`).
    pub fn from_element(el: &Element) -> LocalizedFault {
        let fault = el.child("fault");
        let fault_type = fault
            .map(detail_type)
            .filter(|t| !t.is_empty())
            .or_else(|| el.xsi_type().map(str::to_string))
            .unwrap_or_else(|| "MethodFault".to_string());
        let message = el
            .text_of("localizedMessage")
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .or_else(|| fault.and_then(fault_messages))
            .unwrap_or_else(|| fault_type.clone());
        LocalizedFault {
            fault_type,
            message,
            fault: fault.cloned(),
        }
    }
}

impl std::fmt::Display for LocalizedFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.message == self.fault_type {
            f.write_str(&self.fault_type)
        } else {
            write!(f, "{}: {}", self.fault_type, self.message)
        }
    }
}

/// Writes a LocalizedMethodFault carrying a `SystemError` with `message`, as HttpNfcLeaseAbort
/// takes it.
pub(crate) fn system_error_fault(name: &str, message: &str) -> String {
    format!(
        "<{name}><fault xsi:type=\"SystemError\"><reason>{m}</reason></fault>\
         <localizedMessage>{m}</localizedMessage></{name}>",
        m = escape_text(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(body: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soapenv:Envelope \
             xmlns:soapenc=\"http://schemas.xmlsoap.org/soap/encoding/\" \
             xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>{body}\
             </soapenv:Body></soapenv:Envelope>"
        )
    }

    #[test]
    fn envelope_shape() {
        let e = envelope(
            "Login",
            &MoRef::new("SessionManager", "SessionManager"),
            "<userName>a&amp;b</userName>",
        );
        assert!(e.starts_with("<?xml version=\"1.0\""));
        assert!(e.contains(
            "<soapenv:Body><Login xmlns=\"urn:vim25\"><_this type=\"SessionManager\">\
             SessionManager</_this><userName>a&amp;b</userName></Login></soapenv:Body>"
        ));
        // It is well-formed and the method resolves into urn:vim25.
        let root = Element::parse(e.as_bytes()).unwrap();
        let login = &root.children[0].children[0];
        assert!(login.is(VIM25_NS, "Login"));
        assert_eq!(login.children[0].attr("type"), Some("SessionManager"));
    }

    #[test]
    fn response_with_and_without_returnval() {
        let r = parse_response(
            "FindByInventoryPath",
            env("<FindByInventoryPathResponse xmlns=\"urn:vim25\"><returnval type=\"Folder\">group-v3</returnval></FindByInventoryPathResponse>").as_bytes(),
        )
        .unwrap();
        assert_eq!(r.text_of("returnval"), Some("group-v3"));
        let r = parse_response(
            "FindByInventoryPath",
            env("<FindByInventoryPathResponse xmlns=\"urn:vim25\"></FindByInventoryPathResponse>")
                .as_bytes(),
        )
        .unwrap();
        assert!(r.child("returnval").is_none());
        let err = parse_response(
            "Logout",
            env("<LoginResponse xmlns=\"urn:vim25\"/>").as_bytes(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("expected <LogoutResponse>"),
            "{err}"
        );
    }

    /// vcsim's InvalidLogin, byte for byte (recorded from vcsim 0.24.2).
    #[test]
    fn invalid_login_fault() {
        let body = env("<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Login failure</faultstring><detail><InvalidLoginFault xmlns=\"urn:vim25\" xsi:type=\"InvalidLogin\"></InvalidLoginFault></detail></soapenv:Fault>");
        let err = parse_response("Login", body.as_bytes()).unwrap_err();
        assert!(err.is_auth());
        assert_eq!(err.fault_type(), Some("InvalidLogin"));
        match &err {
            VimError::Fault {
                method, message, ..
            } => {
                assert_eq!(method, "Login");
                assert_eq!(message, "Login failure");
            }
            other => panic!("{other:?}"),
        }
    }

    /// A fault whose type attribute uses vcsim's `XMLSchema-instance` prefix, an empty
    /// faultstring, and detail fields.
    #[test]
    fn fault_with_odd_prefix_and_empty_string() {
        let body = env("<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring></faultstring><detail><InvalidPowerStateFault xmlns=\"urn:vim25\" xmlns:XMLSchema-instance=\"http://www.w3.org/2001/XMLSchema-instance\" XMLSchema-instance:type=\"InvalidPowerState\"><requestedState>poweredOff</requestedState><existingState>poweredOn</existingState></InvalidPowerStateFault></detail></soapenv:Fault>");
        let err = parse_response("Destroy_Task", body.as_bytes()).unwrap_err();
        assert_eq!(err.fault_type(), Some("InvalidPowerState"));
        let VimError::Fault {
            message, detail, ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(message, "InvalidPowerState");
        assert_eq!(
            detail.as_ref().unwrap().text_of("existingState"),
            Some("poweredOn")
        );
        assert_eq!(err.to_string(), "Destroy_Task: InvalidPowerState");
    }

    #[test]
    fn untyped_fault_keeps_faultcode() {
        let body = env("<soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>bad request</faultstring></soapenv:Fault>");
        let err = parse_response("X", body.as_bytes()).unwrap_err();
        assert_eq!(err.fault_type(), Some("Client"));
        // Type from the element name when there is no xsi:type.
        let body = env("<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>x</faultstring><detail><NotAuthenticatedFault xmlns=\"urn:vim25\"><object type=\"Folder\">group-d1</object><privilegeId>System.View</privilegeId></NotAuthenticatedFault></detail></soapenv:Fault>");
        let err = parse_response("RetrievePropertiesEx", body.as_bytes()).unwrap_err();
        assert_eq!(err.fault_type(), Some("NotAuthenticated"));
        assert!(err.is_auth());
    }

    #[test]
    fn not_soap() {
        let err = parse_response("Login", b"<html><body>proxy error</body></html>").unwrap_err();
        assert!(err.to_string().contains("not a SOAP Envelope"), "{err}");
        let err = parse_response("Login", b"").unwrap_err();
        assert!(err.to_string().starts_with("Login reply:"), "{err}");
    }

    #[test]
    fn localized_fault() {
        let xml = "<error xmlns=\"urn:vim25\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><fault xsi:type=\"OvfUnsupportedType\"><lineNumber>42</lineNumber><name>Item</name></fault><localizedMessage>Unsupported hardware family 'foo'.</localizedMessage></error>";
        let el = Element::parse(xml.as_bytes()).unwrap();
        let f = LocalizedFault::from_element(&el);
        assert_eq!(f.fault_type, "OvfUnsupportedType");
        assert_eq!(f.message, "Unsupported hardware family 'foo'.");
        assert_eq!(
            f.to_string(),
            "OvfUnsupportedType: Unsupported hardware family 'foo'."
        );
        let el = Element::parse(b"<error><fault/></error>").unwrap();
        assert_eq!(LocalizedFault::from_element(&el).to_string(), "fault");
    }

    #[test]
    fn abort_fault_is_well_formed() {
        let s = system_error_fault("fault", "upload <failed> & gone");
        let el = Element::parse(format!("<w xmlns:xsi=\"{XSI_NS}\">{s}</w>").as_bytes()).unwrap();
        let f = LocalizedFault::from_element(el.child("fault").unwrap());
        assert_eq!(f.fault_type, "SystemError");
        assert_eq!(f.message, "upload <failed> & gone");
    }
}
