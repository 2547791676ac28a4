//! A small vCloud API client for tests of the simulator (and of anything else that speaks
//! the API): raw requests with the usual headers, replies with their XML parsed, task
//! polling, and the import request bodies in XSD order.

use std::time::{Duration, Instant};

use odt_vmware::vsphere::xml::Element;

/// `Accept` for the XML API.
pub fn accept(version: &str) -> String {
    format!("application/*+xml;version={version}")
}

/// One reply.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// A header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Content-Type`.
    pub fn content_type(&self) -> &str {
        self.header("Content-Type").unwrap_or("")
    }

    /// The parsed body (panics when it is not XML).
    pub fn xml(&self) -> Element {
        Element::parse(self.body.as_bytes())
            .unwrap_or_else(|e| panic!("reply is not XML ({e}): {}", self.body))
    }

    /// Every element named `local` anywhere in the body, in document order.
    pub fn all(&self, local: &str) -> Vec<Element> {
        let mut out = vec![];
        find_all(&self.xml(), local, &mut out);
        out
    }

    /// The first element named `local` anywhere in the body.
    pub fn first(&self, local: &str) -> Option<Element> {
        self.all(local).into_iter().next()
    }

    /// Attribute `attr` of the root element.
    pub fn root_attr(&self, attr: &str) -> Option<String> {
        self.xml().attr(attr).map(str::to_owned)
    }

    /// The `href` of the first `Link` with this rel (and type, if given).
    pub fn link(&self, rel: &str, ty: Option<&str>) -> Option<String> {
        self.xml()
            .children
            .iter()
            .filter(|c| c.name == "Link" && c.attr("rel") == Some(rel))
            .find(|c| ty.is_none_or(|t| c.attr("type") == Some(t)))
            .and_then(|c| c.attr("href"))
            .map(str::to_owned)
    }

    /// Asserts the status and returns self.
    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(
            self.status, status,
            "unexpected status; body:\n{}",
            self.body
        );
        self
    }

    /// Asserts a vcloud `Error` with this status and minor code, whose message contains
    /// `needle`; returns the message.
    #[track_caller]
    pub fn expect_error(&self, status: u16, minor: &str, needle: &str) -> String {
        assert_eq!(
            self.status, status,
            "unexpected status; body:\n{}",
            self.body
        );
        assert!(
            self.content_type()
                .starts_with("application/vnd.vmware.vcloud.error+xml;version="),
            "error content type {:?}",
            self.content_type()
        );
        let e = self.xml();
        assert_eq!(e.name, "Error", "{}", self.body);
        assert_eq!(e.ns.as_deref(), Some(super::xml::VCLOUD), "{}", self.body);
        assert_eq!(
            e.attr("majorErrorCode"),
            Some(status.to_string().as_str()),
            "{}",
            self.body
        );
        assert_eq!(e.attr("minorErrorCode"), Some(minor), "{}", self.body);
        let m = e.attr("message").unwrap_or("").to_owned();
        assert!(
            m.contains(needle),
            "message {m:?} does not contain {needle:?}"
        );
        m
    }
}

fn find_all(el: &Element, local: &str, out: &mut Vec<Element>) {
    if el.name == local {
        out.push(el.clone());
    }
    for c in &el.children {
        find_all(c, local, out);
    }
}

/// A client session.
pub struct Api {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// API version sent in `Accept`.
    pub version: String,
    /// `x-vcloud-authorization` token after login.
    pub token: Option<String>,
    http: reqwest::blocking::Client,
}

impl Api {
    /// A client for `base`, API version 36.0, not logged in.
    pub fn new(base: &str) -> Api {
        Api {
            base: base.trim_end_matches('/').to_owned(),
            version: "36.0".into(),
            token: None,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("HTTP client"),
        }
    }

    /// An absolute URL from a path or an href.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// A request with exactly these headers.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rq = self.http.request(m, self.url(path));
        for (k, v) in headers {
            rq = rq.header(*k, *v);
        }
        if let Some(b) = body {
            rq = rq.body(b.to_owned());
        }
        let resp = rq.send().unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let body = resp.text().unwrap_or_default();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A request with `Accept` and the session token (and `Content-Type` when given).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&str>,
    ) -> Reply {
        let acc = accept(&self.version);
        let mut h: Vec<(&str, &str)> = vec![("Accept", &acc)];
        if let Some(t) = &self.token {
            h.push(("x-vcloud-authorization", t));
        }
        if let Some(c) = content_type {
            h.push(("Content-Type", c));
        }
        self.raw(method, path, &h, body)
    }

    /// GET.
    pub fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None, None)
    }

    /// POST with a typed body.
    pub fn post(&self, path: &str, content_type: &str, body: &str) -> Reply {
        self.send("POST", path, Some(content_type), Some(body))
    }

    /// PUT with a typed body.
    pub fn put(&self, path: &str, content_type: &str, body: &str) -> Reply {
        self.send("PUT", path, Some(content_type), Some(body))
    }

    /// `POST /api/sessions` as `user@org`; keeps the token on success.
    pub fn login(&mut self, user_at_org: &str, password: &str) -> Reply {
        let acc = accept(&self.version);
        let r = self.raw_basic("POST", "/api/sessions", &acc, user_at_org, password);
        if r.status == 200 {
            self.token = r.header("x-vcloud-authorization").map(str::to_owned);
        }
        r
    }

    /// A request with HTTP Basic credentials.
    pub fn raw_basic(
        &self,
        method: &str,
        path: &str,
        accept: &str,
        user: &str,
        password: &str,
    ) -> Reply {
        use base64::Engine;
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let auth = format!("Basic {b}");
        self.raw(
            method,
            path,
            &[("Accept", accept), ("Authorization", &auth)],
            None,
        )
    }

    /// Polls a task until it ends (at most `max_polls` GETs, 20 ms apart); returns the last
    /// reply and every status seen.
    pub fn wait_task(&self, href: &str, max_polls: usize) -> (Reply, Vec<String>) {
        let mut seen = vec![];
        let deadline = Instant::now() + Duration::from_secs(60);
        for _ in 0..max_polls {
            let r = self.get(href).expect(200);
            let s = r.root_attr("status").unwrap_or_default();
            seen.push(s.clone());
            if super::task_done(&s) || Instant::now() > deadline {
                return (r, seen);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("task {href} did not end within {max_polls} polls: {seen:?}");
    }
}

/// `vmext` namespace URI.
pub const VMEXT: &str = super::xml::VMEXT;

/// An `ImportVmAsVAppParams` body (children in XSD order).
pub fn import_vapp_body(
    name: &str,
    moref: &str,
    vdc_href: &str,
    source_move: bool,
    profile: Option<&str>,
) -> String {
    let profile = profile
        .map(|p| format!("<vmext:VdcStorageProfile href=\"{p}\"/>"))
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<vmext:ImportVmAsVAppParams \
         xmlns:vmext=\"{VMEXT}\" xmlns=\"http://www.vmware.com/vcloud/v1.5\" name=\"{name}\" \
         sourceMove=\"{source_move}\"><Description>imported by a test</Description>\
         <vmext:VmMoRef>{moref}</vmext:VmMoRef>{profile}<vmext:Vdc href=\"{vdc_href}\"/>\
         </vmext:ImportVmAsVAppParams>"
    )
}

/// An `ImportVmAsVAppTemplateParams` body.
pub fn import_template_body(
    name: &str,
    moref: &str,
    vdc_href: &str,
    catalog_href: Option<&str>,
) -> String {
    let cat = catalog_href
        .map(|c| format!("<vmext:Catalog href=\"{c}\"/>"))
        .unwrap_or_default();
    format!(
        "<vmext:ImportVmAsVAppTemplateParams xmlns:vmext=\"{VMEXT}\" name=\"{name}\" \
         sourceMove=\"true\"><vmext:VmMoRef>{moref}</vmext:VmMoRef>\
         <vmext:Vdc href=\"{vdc_href}\"/>{cat}</vmext:ImportVmAsVAppTemplateParams>"
    )
}

/// An `ImportVmIntoExistingVAppParams` body.
pub fn import_into_body(vm_name: &str, moref: &str, vapp_href: &str) -> String {
    format!(
        "<vmext:ImportVmIntoExistingVAppParams xmlns:vmext=\"{VMEXT}\" sourceMove=\"true\">\
         <vmext:VmName>{vm_name}</vmext:VmName><vmext:VmMoRef>{moref}</vmext:VmMoRef>\
         <vmext:VApp href=\"{vapp_href}\"/></vmext:ImportVmIntoExistingVAppParams>"
    )
}
