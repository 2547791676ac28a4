//! A logged-in vim25 session: the HTTP transport, the service content, method calls and the
//! PropertyCollector.
//!
//! One [`Client`] is one vCenter (or ESXi) session. It is cheap to clone (an `Arc`) and safe
//! to share between threads, which the lease keep-alive needs: it calls
//! `HttpNfcLeaseProgress` from its own thread while the upload runs on another.
//!
//! The session is the `vmware_soap_session` cookie from `Login`, sent back byte-exact on every
//! call and never to any other host (NFC uploads need no cookie: the URL path is the ticket).
//! `SOAPAction` is `urn:vim25/<about.apiVersion>`. Calls are not retried automatically: most
//! vim methods change state, and [`VimError::is_retryable`] lets the caller decide.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::error::{Result, VimError};
use super::soap::{envelope, parse_response, LocalizedFault};
use super::types::ServiceContent;
use super::xml::{Element, XmlWriter, MAX_REPLY_BYTES};
use crate::wire::{
    excerpt, explain, http_client, read_capped, redact_url, HttpOptions, Pin, SendFailure, TlsMode,
    Verifier,
};

/// How long to wait for a TCP/TLS connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one SOAP call may take in total (a RetrievePropertiesEx over a big inventory, a
/// CreateImportSpec over a large descriptor).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(300);
/// Most pages of RetrievePropertiesEx results followed before giving up (a server that keeps
/// returning tokens would otherwise loop forever).
pub const MAX_RETRIEVE_PAGES: usize = 100_000;

// The reference type is named here too, where callers (and `xml`'s writer) have always found it.
pub use super::types::MoRef;

/// One object's properties from the PropertyCollector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectContent {
    /// The object.
    pub obj: MoRef,
    /// `(property path, val)` for each property that is set; the `val` element keeps its
    /// resolved `xsi:type` (`xsd:string`, `ArrayOfManagedObjectReference`, …). Unset
    /// properties are absent.
    pub props: Vec<(String, Element)>,
    /// `(property path, fault type)` for each path the server could not read
    /// (`InvalidProperty` for a path the type does not have).
    pub missing: Vec<(String, String)>,
}

impl ObjectContent {
    /// The `val` of property `name`.
    pub fn get(&self, name: &str) -> Option<&Element> {
        self.props.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The text of a scalar property (`xsd:string`, `xsd:long`, an enum), trimmed.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(|v| v.text_trim())
    }

    /// A scalar property parsed as a number.
    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.text(name).and_then(|t| t.parse().ok())
    }

    /// An `xsd:boolean` property.
    pub fn boolean(&self, name: &str) -> Option<bool> {
        self.text(name).and_then(super::xml::parse_bool)
    }

    /// A property whose value is one ManagedObjectReference.
    pub fn moref(&self, name: &str) -> Option<MoRef> {
        self.get(name).and_then(|v| MoRef::from_element(v).ok())
    }

    /// A property whose value is an `ArrayOfManagedObjectReference` (empty when unset).
    pub fn morefs(&self, name: &str) -> Vec<MoRef> {
        self.get(name)
            .map(|v| {
                v.children("ManagedObjectReference")
                    .filter_map(|m| MoRef::from_element(m).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn from_element(el: Element) -> Result<ObjectContent> {
        let what = "RetrievePropertiesEx reply";
        let obj = el
            .child("obj")
            .ok_or_else(|| VimError::xml(what, "an object without obj"))
            .and_then(MoRef::from_element)?;
        let mut props = Vec::new();
        let mut missing = Vec::new();
        for c in el.children {
            match c.name.as_str() {
                "propSet" => {
                    let name = c
                        .text_of("name")
                        .ok_or_else(|| VimError::xml(what, "a propSet without name"))?
                        .to_string();
                    let val = c.children.into_iter().find(|v| v.name == "val");
                    // A propSet without val is an unset property.
                    if let Some(val) = val {
                        props.push((name, val));
                    }
                }
                "missingSet" => {
                    let path = c.text_of("path").unwrap_or("").to_string();
                    let ft = c
                        .child("fault")
                        .map(|f| LocalizedFault::from_element(f).fault_type)
                        .unwrap_or_default();
                    missing.push((path, ft));
                }
                _ => {}
            }
        }
        Ok(ObjectContent {
            obj,
            props,
            missing,
        })
    }
}

/// Splits a `RetrieveResult` (`returnval` of RetrievePropertiesEx or its continuation) into
/// its token and objects. `None` (no `returnval`) means no objects.
pub fn parse_retrieve_result(rv: Option<Element>) -> Result<(Option<String>, Vec<ObjectContent>)> {
    let Some(rv) = rv else {
        return Ok((None, Vec::new()));
    };
    let token = rv
        .text_of("token")
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    let mut objects = Vec::new();
    for c in rv.children {
        if c.name == "objects" {
            objects.push(ObjectContent::from_element(c)?);
        }
    }
    Ok((token, objects))
}

/// The HTTP side: one reqwest client, the SDK URL, the cookie.
struct Transport {
    http: reqwest::blocking::Client,
    verifier: Arc<Verifier>,
    sdk_url: String,
    shown_url: String,
    scheme: String,
    host_port: String,
    tls: TlsMode,
    cookie: Mutex<Option<String>>,
}

struct Inner {
    t: Transport,
    soap_action: String,
    content: ServiceContent,
    /// The client for NFC transfers: no overall timeout, and it also trusts the thumbprints
    /// vCenter hands out in lease URLs.
    transfer: OnceLock<Result<(reqwest::blocking::Client, Arc<Verifier>), String>>,
}

/// A logged-in vim25 session. Clone it freely; clones share the session.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.inner.t.shown_url)
            .field("api", &self.inner.content.about.api_version)
            .finish()
    }
}

/// A managed object's id as logged: a session-scoped id (`session[KEY]ID`, which vCenter and
/// vcsim give views and collectors) names the session key, which vcsim also uses as the
/// session cookie, so the key is left out.
pub fn logged_moref(value: &str) -> std::borrow::Cow<'_, str> {
    match value
        .strip_prefix("session[")
        .and_then(|rest| rest.split_once(']'))
    {
        Some((_, id)) => format!("session[…]{id}").into(),
        None => value.into(),
    }
}

/// Normalises what an operator types (`vc.example`, `https://vc.example`,
/// `https://vc.example/sdk`, `http://127.0.0.1:8989/sdk`) into the SDK URL, without user info.
pub fn sdk_url(input: &str) -> Result<reqwest::Url> {
    let input = input.trim();
    let with_scheme = if input.contains("://") {
        input.to_string()
    } else {
        format!("https://{input}")
    };
    let mut u = reqwest::Url::parse(&with_scheme).map_err(|e| {
        VimError::invalid(
            format!("vCenter URL {}", redact_url(&with_scheme)),
            format!("{e}; give https://HOST[:PORT][/sdk]"),
        )
    })?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(VimError::invalid(
            format!("vCenter URL {}", redact_url(&with_scheme)),
            "must be http(s)://HOST[:PORT][/sdk]",
        ));
    }
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    if u.path().is_empty() || u.path() == "/" {
        u.set_path("/sdk");
    }
    Ok(u)
}

/// The HTTP client of a session (`timeout` bounds each call) or of its NFC transfers
/// (`None`: a disk takes as long as it takes).
fn build_http(
    verifier: &Arc<Verifier>,
    timeout: Option<Duration>,
) -> Result<reqwest::blocking::Client> {
    let opts = HttpOptions {
        connect_timeout: CONNECT_TIMEOUT,
        timeout,
        user_agent: concat!("odt/", env!("CARGO_PKG_VERSION"), " (vim25)"),
    };
    Ok(http_client(verifier, &opts)?)
}

impl Transport {
    fn error(&self, url: &str, e: reqwest::Error) -> VimError {
        self.map_error(&self.verifier, url, e)
    }

    fn map_error(&self, verifier: &Verifier, url: &str, e: reqwest::Error) -> VimError {
        match explain(verifier, e) {
            SendFailure::Refused(r) => VimError::Tls {
                url: redact_url(url),
                detail: r.detail,
                sha1: Some(r.sha1),
                sha256: Some(r.sha256),
                pinnable: r.pinnable,
            },
            SendFailure::Transport(e) => VimError::Transport {
                url: redact_url(url),
                cause: Box::new(e),
            },
        }
    }

    /// One SOAP call, sent once (the retry table never resends a vim method:
    /// [`Call::VimSoap`](crate::wire::Call::VimSoap)). Returns the `<methodResponse>` and any
    /// `Set-Cookie` session value.
    ///
    /// Each call is one `info` event for `--log-file`: the method, the object, the HTTP status
    /// (or the fault's type) and the duration. Never the body (Login's holds the password) nor
    /// the cookie.
    fn call(
        &self,
        action: &str,
        method: &str,
        this: &MoRef,
        body: &str,
    ) -> Result<(Element, Option<String>)> {
        let started = std::time::Instant::now();
        let mut status = 0u16;
        let r = self.exchange(action, method, this, body, &mut status);
        let ms = started.elapsed().as_millis() as u64;
        let this = logged_moref(&this.value);
        match &r {
            Ok(_) => tracing::info!(method = %method, this = %this, status, ms, "soap"),
            Err(VimError::Fault { fault_type, .. }) => {
                tracing::info!(method = %method, this = %this, status, ms, fault = %fault_type, "soap fault")
            }
            Err(e) => {
                tracing::info!(method = %method, this = %this, status, ms, error = %e, "soap failed")
            }
        }
        r
    }

    /// [`Transport::call`] without the log event; `status` gets the HTTP status when there
    /// was a reply.
    fn exchange(
        &self,
        action: &str,
        method: &str,
        this: &MoRef,
        body: &str,
        status_out: &mut u16,
    ) -> Result<(Element, Option<String>)> {
        let xml = envelope(method, this, body);
        let mut req = self
            .http
            .post(&self.sdk_url)
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=\"utf-8\"")
            .header("SOAPAction", action)
            .body(xml);
        if let Ok(c) = self.cookie.lock() {
            if let Some(c) = c.as_deref() {
                req = req.header(reqwest::header::COOKIE, c);
            }
        }
        let resp = req.send().map_err(|e| self.error(&self.sdk_url, e))?;
        let status = resp.status().as_u16();
        *status_out = status;
        let cookie = resp
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .map(str::trim)
            .find(|v| v.starts_with("vmware_soap_session="))
            .map(str::to_string);
        let buf = read_capped(resp, MAX_REPLY_BYTES as u64).map_err(|e| VimError::Transport {
            url: self.shown_url.clone(),
            cause: Box::new(e),
        })?;
        match status {
            200 => Ok((parse_response(method, &buf)?, cookie)),
            500 => match parse_response(method, &buf) {
                Err(e @ VimError::Fault { .. }) => Err(e),
                // A 500 that is not a SOAP fault (a proxy, a crash page).
                _ => Err(VimError::Http {
                    url: self.shown_url.clone(),
                    status,
                    body: excerpt(&buf),
                }),
            },
            _ => Err(VimError::Http {
                url: self.shown_url.clone(),
                status,
                body: excerpt(&buf),
            }),
        }
    }
}

impl Client {
    /// Connects and logs in: `RetrieveServiceContent`, then `SessionManager.Login`.
    ///
    /// `url` is `https://HOST[:PORT][/sdk]` (a bare host means https and `/sdk`); user info
    /// in it is ignored, and never shown in errors. A wrong password is
    /// `VimError::Fault { fault_type: "InvalidLogin", .. }` ([`VimError::is_auth`]); a
    /// certificate that is not trusted is [`VimError::Tls`] carrying the server's
    /// thumbprints.
    pub fn connect(url: &str, user: &str, password: &str, tls: TlsMode) -> Result<Client> {
        let u = sdk_url(url)?;
        let verifier = Verifier::new(&tls)?;
        let http = build_http(&verifier, Some(CALL_TIMEOUT))?;
        let host_port = match (u.host_str(), u.port_or_known_default()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => String::new(),
        };
        let t = Transport {
            http,
            verifier,
            sdk_url: u.to_string(),
            shown_url: redact_url(u.as_str()),
            scheme: u.scheme().to_string(),
            host_port,
            tls,
            cookie: Mutex::new(None),
        };
        let si = MoRef::new("ServiceInstance", "ServiceInstance");
        // Before we know the server's version, speak the oldest one every server accepts.
        let (resp, _) = t.call("urn:vim25/6.5", "RetrieveServiceContent", &si, "")?;
        let content = ServiceContent::from_response(&resp)?;
        let soap_action = format!("urn:vim25/{}", content.about.api_version);
        let mut w = XmlWriter::new();
        w.leaf("userName", user).leaf("password", password);
        let (_, cookie) = t.call(&soap_action, "Login", &content.session_manager, w.as_str())?;
        let cookie = cookie.ok_or_else(|| {
            VimError::xml(
                "Login reply",
                "no vmware_soap_session cookie was set, so there is no session to use",
            )
        })?;
        if let Ok(mut c) = t.cookie.lock() {
            *c = Some(cookie);
        }
        Ok(Client {
            inner: Arc::new(Inner {
                t,
                soap_action,
                content,
                transfer: OnceLock::new(),
            }),
        })
    }

    /// Ends the session (`SessionManager.Logout`). Later calls fail with `NotAuthenticated`.
    /// Sessions that are not logged out expire on the server after its idle timeout; log out
    /// when done so long runs do not pile sessions up.
    pub fn logout(&self) -> Result<()> {
        let sm = self.inner.content.session_manager.clone();
        let r = self.call("Logout", &sm, "");
        if let Ok(mut c) = self.inner.t.cookie.lock() {
            *c = None;
        }
        r.map(|_| ())
    }

    /// The service content read at connect time.
    pub fn service_content(&self) -> &ServiceContent {
        &self.inner.content
    }

    /// The SDK URL, without credentials (for messages).
    pub fn url(&self) -> &str {
        &self.inner.t.shown_url
    }

    /// `host:port` of the server we connected to (what a `*` in an NFC URL stands for).
    pub fn host_port(&self) -> &str {
        &self.inner.t.host_port
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        &self.inner.t.scheme
    }

    /// The TLS mode this session was opened with.
    pub fn tls_mode(&self) -> &TlsMode {
        &self.inner.t.tls
    }

    /// Calls vim method `method` on `this` with `body` (the parameters after `_this`, as XML
    /// built with [`XmlWriter`], in WSDL order). Returns the `<methodResponse>` element, whose
    /// `returnval` child (absent when there is no result) holds the answer.
    pub fn call(&self, method: &str, this: &MoRef, body: &str) -> Result<Element> {
        self.inner
            .t
            .call(&self.inner.soap_action, method, this, body)
            .map(|(e, _)| e)
    }

    /// `SearchIndex.FindByInventoryPath`: `DC0/vm/name`, `DC0/host/C1/Resources`,
    /// `DC0/network/VM Network`. Names with `/` in them must be escaped as `%2f` (see
    /// [`inventory_path_escape`]). `None` when nothing is there.
    pub fn find_by_inventory_path(&self, path: &str) -> Result<Option<MoRef>> {
        let si = self
            .inner
            .content
            .search_index
            .clone()
            .ok_or_else(|| VimError::NotFound {
                what: "the SearchIndex of this server".into(),
                choices: Vec::new(),
            })?;
        let mut w = XmlWriter::new();
        w.leaf("inventoryPath", path);
        let resp = self.call("FindByInventoryPath", &si, w.as_str())?;
        resp.child("returnval").map(MoRef::from_element).transpose()
    }

    /// Reads properties `props` of the objects `objs`, all of type `kind` (or a subtype:
    /// `Network` also matches `DistributedVirtualPortgroup`), with RetrievePropertiesEx,
    /// following continuation tokens. Objects come back in the server's order.
    pub fn retrieve(
        &self,
        objs: &[MoRef],
        kind: &str,
        props: &[&str],
    ) -> Result<Vec<ObjectContent>> {
        if objs.is_empty() {
            return Ok(Vec::new());
        }
        let mut w = XmlWriter::new();
        w.open("propSet").leaf("type", kind);
        for p in props {
            w.leaf("pathSet", p);
        }
        w.close("propSet");
        for o in objs {
            w.open("objectSet").moref("obj", o).close("objectSet");
        }
        self.retrieve_spec(w.as_str())
    }

    /// RetrievePropertiesEx with a caller-built PropertyFilterSpec (`spec_set` is the content
    /// of `<specSet>`: `propSet*` then `objectSet*`), following continuation tokens with
    /// ContinueRetrievePropertiesEx.
    pub fn retrieve_spec(&self, spec_set: &str) -> Result<Vec<ObjectContent>> {
        let pc = self.inner.content.property_collector.clone();
        let body = format!("<specSet>{spec_set}</specSet><options></options>");
        let resp = self.call("RetrievePropertiesEx", &pc, &body)?;
        let rv = resp.children.into_iter().find(|c| c.name == "returnval");
        let (mut token, mut all) = parse_retrieve_result(rv)?;
        let mut pages = 1usize;
        while let Some(t) = token.take() {
            pages += 1;
            if pages > MAX_RETRIEVE_PAGES {
                return Err(VimError::xml(
                    "RetrievePropertiesEx",
                    format!("more than {MAX_RETRIEVE_PAGES} pages of results"),
                ));
            }
            let mut w = XmlWriter::new();
            w.leaf("token", &t);
            let resp = self.call("ContinueRetrievePropertiesEx", &pc, w.as_str())?;
            let rv = resp.children.into_iter().find(|c| c.name == "returnval");
            let (next, objs) = parse_retrieve_result(rv)?;
            all.extend(objs);
            token = next;
        }
        Ok(all)
    }

    /// Reads properties `props` of every object of type `kind` (subtypes included) under
    /// `container` (a Folder, Datacenter, ComputeResource…), recursively, through a
    /// temporary container view.
    pub fn retrieve_in(
        &self,
        container: &MoRef,
        kind: &str,
        props: &[&str],
    ) -> Result<Vec<ObjectContent>> {
        let vm = self
            .inner
            .content
            .view_manager
            .clone()
            .ok_or_else(|| VimError::NotFound {
                what: "the ViewManager of this server".into(),
                choices: Vec::new(),
            })?;
        let mut w = XmlWriter::new();
        w.moref("container", container)
            .leaf("type", kind)
            .leaf("recursive", "true");
        let resp = self.call("CreateContainerView", &vm, w.as_str())?;
        let view = resp
            .child("returnval")
            .ok_or_else(|| VimError::xml("CreateContainerView reply", "no returnval"))
            .and_then(MoRef::from_element)?;
        let mut w = XmlWriter::new();
        w.open("propSet").leaf("type", kind);
        for p in props {
            w.leaf("pathSet", p);
        }
        w.close("propSet");
        w.open("objectSet")
            .moref("obj", &view)
            .leaf("skip", "true")
            .open_typed("selectSet", "TraversalSpec")
            .leaf("name", "viewToObjects")
            .leaf("type", "ContainerView")
            .leaf("path", "view")
            .leaf("skip", "false")
            .close("selectSet")
            .close("objectSet");
        let result = self.retrieve_spec(w.as_str());
        // Views live in the session until destroyed; do not leave them behind.
        let destroyed = self.call("DestroyView", &view, "");
        let objs = result?;
        destroyed?;
        Ok(objs)
    }

    /// Builds the URL to use for an NFC `deviceUrl`: a `*` host means "the host you
    /// connected to", so it is replaced by ours (with our port) and the scheme is set to ours
    /// (vcsim says `https://*/…` even when it serves http). Other URLs are kept as given,
    /// percent-encoding included.
    pub fn nfc_url(&self, url: &str) -> String {
        rewrite_star_host(url, &self.inner.t.scheme, &self.inner.t.host_port)
    }

    /// The HTTP client for NFC transfers (created on first use). It has no overall timeout
    /// (a disk takes as long as it takes) and trusts, besides this session's TLS mode, the
    /// thumbprints registered with [`Client::trust_thumbprint`].
    pub(crate) fn transfer_http(&self) -> Result<(&reqwest::blocking::Client, &Arc<Verifier>)> {
        let r = self.inner.transfer.get_or_init(|| {
            let v = Verifier::new(&self.inner.t.tls).map_err(|e| e.to_string())?;
            let http = build_http(&v, None).map_err(|e| e.to_string())?;
            Ok((http, v))
        });
        match r {
            Ok((h, v)) => Ok((h, v)),
            Err(e) => Err(VimError::invalid("NFC HTTP client", e.clone())),
        }
    }

    /// Trusts the certificate with this thumbprint for NFC transfers (the `sslThumbprint` of a
    /// lease's deviceUrl: vCenter vouches for its ESXi host's certificate).
    pub fn trust_thumbprint(&self, thumbprint: &str) -> Result<()> {
        let pin = Pin::parse(thumbprint)?;
        self.transfer_http()?.1.add_pin(pin);
        Ok(())
    }

    /// Maps a reqwest error on a transfer URL, naming a refused certificate.
    pub(crate) fn transfer_error(&self, url: &str, e: reqwest::Error) -> VimError {
        match self.inner.transfer.get() {
            Some(Ok((_, v))) => self.inner.t.map_error(v, url, e),
            _ => self.inner.t.error(url, e),
        }
    }
}

/// Replaces a `*` host in `url` with `host_port` and its scheme with `scheme`; other URLs are
/// returned unchanged (see [`Client::nfc_url`]).
pub fn rewrite_star_host(url: &str, scheme: &str, host_port: &str) -> String {
    let Some(idx) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[idx + 3..];
    let (host, path) = match rest.find('/') {
        Some(p) => (&rest[..p], &rest[p..]),
        None => (rest, ""),
    };
    if host == "*" || host.starts_with("*:") {
        format!("{scheme}://{host_port}{path}")
    } else {
        url.to_string()
    }
}

/// Escapes one inventory name for use in an inventory path: `%` → `%25`, `/` → `%2f`,
/// `\` → `%5c`, as vCenter does in entity names.
pub fn inventory_path_escape(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '%' => s.push_str("%25"),
            '/' => s.push_str("%2f"),
            '\\' => s.push_str("%5c"),
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_urls() {
        assert_eq!(
            sdk_url("vc.example").unwrap().as_str(),
            "https://vc.example/sdk"
        );
        assert_eq!(
            sdk_url("http://u:p@127.0.0.1:8989/sdk").unwrap().as_str(),
            "http://127.0.0.1:8989/sdk"
        );
        assert_eq!(
            sdk_url("https://vc.example:8443/").unwrap().as_str(),
            "https://vc.example:8443/sdk"
        );
        let e = sdk_url("ftp://vc").unwrap_err().to_string();
        assert!(e.contains("http(s)://"), "{e}");
        let e = sdk_url("https://user:secret@[bad").unwrap_err().to_string();
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn star_host_rewrite() {
        assert_eq!(
            rewrite_star_host(
                "https://*/nfc/session%5Bx%5Dy/disk-0.vmdk",
                "http",
                "127.0.0.1:8989"
            ),
            "http://127.0.0.1:8989/nfc/session%5Bx%5Dy/disk-0.vmdk"
        );
        assert_eq!(
            rewrite_star_host("https://*:443/nfc/t/d.vmdk", "https", "vc:443"),
            "https://vc:443/nfc/t/d.vmdk"
        );
        let esx = "https://esx01.example/nfc/52ab/disk-0.vmdk";
        assert_eq!(rewrite_star_host(esx, "http", "vc:80"), esx);
    }

    #[test]
    fn session_keys_are_not_logged() {
        assert_eq!(logged_moref("vm-42"), "vm-42");
        assert_eq!(
            logged_moref("session[52e8a1b2-0000]52aa-view"),
            "session[…]52aa-view"
        );
        assert_eq!(logged_moref("session[unclosed"), "session[unclosed");
    }

    #[test]
    fn escapes_inventory_names() {
        assert_eq!(inventory_path_escape("a/b%c\\d"), "a%2fb%25c%5cd");
    }

    /// Recorded from vcsim 0.24.2 (RetrieveServiceContent), shortened.
    #[test]
    fn service_content() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><RetrieveServiceContentResponse xmlns="urn:vim25"><returnval><rootFolder type="Folder">group-d1</rootFolder><propertyCollector type="PropertyCollector">propertyCollector</propertyCollector><viewManager type="ViewManager">ViewManager</viewManager><about><name>VMware vCenter Server</name><fullName>VMware vCenter Server 6.5.0 build-5973321</fullName><vendor>VMware, Inc.</vendor><version>6.5.0</version><build>5973321</build><localeVersion>INTL</localeVersion><localeBuild>000</localeBuild><osType>linux-x64</osType><productLineId>vpx</productLineId><apiType>VirtualCenter</apiType><apiVersion>6.5</apiVersion><instanceUuid>dbed6e0c-bd88-4ef6-b594-21283e1c677f</instanceUuid></about><setting type="OptionManager">VpxSettings</setting><sessionManager type="SessionManager">SessionManager</sessionManager><searchIndex type="SearchIndex">SearchIndex</searchIndex><ovfManager type="OvfManager">OvfManager</ovfManager></returnval></RetrieveServiceContentResponse></soapenv:Body></soapenv:Envelope>"#;
        let resp = parse_response("RetrieveServiceContent", xml.as_bytes()).unwrap();
        let sc = ServiceContent::from_response(&resp).unwrap();
        assert_eq!(sc.root_folder, MoRef::new("Folder", "group-d1"));
        assert_eq!(sc.about.api_version, "6.5");
        assert_eq!(sc.about.api_type, "VirtualCenter");
        assert_eq!(sc.ovf_manager, Some(MoRef::new("OvfManager", "OvfManager")));
        assert_eq!(
            sc.search_index,
            Some(MoRef::new("SearchIndex", "SearchIndex"))
        );
    }

    /// Recorded from vcsim 0.24.2: RetrievePropertiesEx on a HostSystem, values typed with
    /// vcsim's `XMLSchema-instance:type`, an ArrayOfManagedObjectReference, a single MoRef
    /// value, an xsd:long and a missingSet for a bad path.
    #[test]
    fn retrieve_result() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="HostSystem">host-21</obj><propSet><name>name</name><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="xsd:string">DC0_H0</val></propSet><propSet><name>network</name><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="ArrayOfManagedObjectReference"><ManagedObjectReference type="Network">network-7</ManagedObjectReference><ManagedObjectReference type="DistributedVirtualPortgroup">dvportgroup-11</ManagedObjectReference><ManagedObjectReference type="DistributedVirtualPortgroup">dvportgroup-13</ManagedObjectReference></val></propSet><propSet><name>parent</name><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="ManagedObjectReference" type="ComputeResource">computeresource-23</val></propSet><propSet><name>summary.hardware.memorySize</name><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="xsd:long">4294430720</val></propSet><missingSet><path>bogus</path><fault><fault xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="InvalidProperty"><name>bogus</name></fault></fault></missingSet></objects></returnval></RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>"#;
        let resp = parse_response("RetrievePropertiesEx", xml.as_bytes()).unwrap();
        let rv = resp.children.into_iter().find(|c| c.name == "returnval");
        let (token, objs) = parse_retrieve_result(rv).unwrap();
        assert_eq!(token, None);
        assert_eq!(objs.len(), 1);
        let o = &objs[0];
        assert_eq!(o.obj, MoRef::new("HostSystem", "host-21"));
        assert_eq!(o.text("name"), Some("DC0_H0"));
        assert_eq!(o.get("name").unwrap().xsi_type(), Some("string"));
        assert_eq!(
            o.morefs("network"),
            vec![
                MoRef::new("Network", "network-7"),
                MoRef::new("DistributedVirtualPortgroup", "dvportgroup-11"),
                MoRef::new("DistributedVirtualPortgroup", "dvportgroup-13"),
            ]
        );
        assert_eq!(
            o.moref("parent"),
            Some(MoRef::new("ComputeResource", "computeresource-23"))
        );
        assert_eq!(
            o.number::<u64>("summary.hardware.memorySize"),
            Some(4294430720)
        );
        assert_eq!(
            o.missing,
            vec![("bogus".to_string(), "InvalidProperty".to_string())]
        );
        assert!(o.get("bogus").is_none());
    }

    /// A paged reply as vCenter sends it (vcsim never pages): a token and two objects.
    #[test]
    fn retrieve_result_with_token() {
        let xml = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><token>1</token><objects><obj type="VirtualMachine">vm-1</obj><propSet><name>name</name><val xsi:type="xsd:string" xmlns:xsd="http://www.w3.org/2001/XMLSchema">a</val></propSet></objects><objects><obj type="VirtualMachine">vm-2</obj></objects></returnval></RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>"#;
        let resp = parse_response("RetrievePropertiesEx", xml.as_bytes()).unwrap();
        let rv = resp.children.into_iter().find(|c| c.name == "returnval");
        let (token, objs) = parse_retrieve_result(rv).unwrap();
        assert_eq!(token.as_deref(), Some("1"));
        assert_eq!(objs.len(), 2);
        assert!(objs[1].props.is_empty());
        // No returnval: no objects.
        assert_eq!(parse_retrieve_result(None).unwrap().1.len(), 0);
    }
}
