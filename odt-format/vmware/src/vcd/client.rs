//! The vCD session: version negotiation, login (cloudapi or legacy), the request pipeline
//! (headers, retries, re-login, error bodies) and logout.
//!
//! One [`VcdClient`] is one sysadmin session. It is `Send + Sync`; the token lives behind a
//! mutex so a re-login after an expired token is seen by every caller.
//!
//! **Hosts.** Hrefs in replies carry vCD's *public* address, which may not be the address
//! the ODT node reaches vCD by (NAT, a load balancer, a public URL left unset). Every href is
//! therefore followed on the scheme, host and port the operator gave, keeping its path and
//! query: the token never goes to any other host.
//!
//! **Retries.** `GET`s that meet HTTP 503 (or a connect/timeout error) are retried a few
//! times with a doubling backoff, as the [`wire`](crate::wire::retry) retry table says;
//! nothing that changes state is resent, except after a 401:
//! a 401 on any call but the login means the token expired, so the client logs in once
//! more with the same method and resends the request (vCD did not act on a request it
//! refused as unauthenticated).
//!
//! **Correlation.** Every request, the login included, carries the caller's opaque
//! `X-VMWARE-VCLOUD-CLIENT-REQUEST-ID` when one is set ([`VcdClient::set_client_request_id`]);
//! vCD puts it at the head of the `X-VMWARE-VCLOUD-REQUEST-ID` it answers with and logs it in
//! its own, vCenter's and ESXi's logs (go-vcloud-director `api_vcd.go`; vcd-api.md §11), so an
//! operator can find a step there. The client keeps the request id vCD answered the last
//! change (any method but `GET`) with ([`VcdClient::change_request_id`]). Both are kept per
//! calling thread, so workers that register VMs at once on one client each send and record
//! their own step's id; a thread that set none sends the one given at connect.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use crate::vsphere::xml::Element;
use crate::wire::{
    excerpt, explain, http_client, read_capped, redact_url_keep_query, Backoff, Call, HttpOptions,
    Retries, SendFailure, TlsMode, Verifier,
};
use base64::Engine as _;
use reqwest::Method;
use zeroize::Zeroizing;

use super::error::{ApiError, ApiErrorBody, Result, VcdError};
use super::task::TaskProgress;
use super::xml::{self, links, media, Link};

/// The header that carries the caller's correlation id to vCD.
const CLIENT_REQUEST_ID: &str = "X-VMWARE-VCLOUD-CLIENT-REQUEST-ID";

/// Largest reply read, in bytes: what the tree parser accepts
/// ([`odt_format::xml::Limits::API_REPLY`]), so a body is refused before it is buffered whole.
pub const MAX_REPLY_BYTES: u64 = odt_format::xml::Limits::API_REPLY.max_bytes as u64;
/// The lowest API version chosen automatically: 33.0 (vCD 10.0).
pub const MIN_AUTO_VERSION: ApiVersion = ApiVersion {
    major: 33,
    minor: 0,
};
/// The highest API version odt was written against: 37.x (vCD 10.4). Newer versions (38.0
/// = 10.5 and up) are used only when the server offers nothing in 33.0–37.x; the XML API
/// odt uses is unchanged in them, and they log in through cloudapi only.
pub const MAX_KNOWN_MAJOR: u32 = 37;
/// From this version on, `POST /cloudapi/1.0.0/sessions/provider` is the login (and from
/// 38.0 the only one).
pub const CLOUDAPI_LOGIN_SINCE: ApiVersion = ApiVersion {
    major: 33,
    minor: 0,
};

/// From this version on, `DELETE /cloudapi/1.0.0/sessions/current` ends the session.
pub const SESSIONS_CURRENT_SINCE: ApiVersion = ApiVersion {
    major: 36,
    minor: 0,
};

/// An API version, `major.minor` ("37.0").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    /// 37 in "37.0".
    pub major: u32,
    /// 0 in "37.0".
    pub minor: u32,
}

impl ApiVersion {
    /// Parses `"37.0"`, `"39.1"`, `"5.5"` (a bare `"37"` means 37.0).
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let s = s.trim();
        let (a, b) = s.split_once('.').unwrap_or((s, "0"));
        let b = b.split(|c: char| !c.is_ascii_digit()).next().unwrap_or("0");
        Some(ApiVersion {
            major: a.parse().ok()?,
            minor: if b.is_empty() { 0 } else { b.parse().ok()? },
        })
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// One `VersionInfo` of `GET /api/versions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// The version.
    pub version: ApiVersion,
    /// `deprecated="true"`.
    pub deprecated: bool,
    /// `LoginUrl`.
    pub login_url: Option<String>,
    /// `ProviderLoginUrl` (36.0+).
    pub provider_login_url: Option<String>,
}

/// Parses a `SupportedVersions` body.
pub fn parse_versions(url: &str, body: &[u8]) -> Result<Vec<VersionInfo>> {
    let root = xml::parse_root("SupportedVersions", url, body, "SupportedVersions")?;
    Ok(root
        .children("VersionInfo")
        .filter_map(|v| {
            Some(VersionInfo {
                version: ApiVersion::parse(v.text_of("Version")?)?,
                deprecated: v
                    .attr("deprecated")
                    .and_then(crate::vsphere::xml::parse_bool)
                    == Some(true),
                login_url: v.text_of("LoginUrl").map(str::to_owned),
                provider_login_url: v.text_of("ProviderLoginUrl").map(str::to_owned),
            })
        })
        .collect())
}

/// Chooses the version to speak. A forced version must be offered. Otherwise: the highest
/// non-deprecated version in 33.0–37.x; else the lowest non-deprecated 38.0+; else the
/// highest offered version from 33.0 on even if deprecated (it still works, deprecation
/// only announces removal).
pub fn choose_version(
    offered: &[VersionInfo],
    forced: Option<ApiVersion>,
) -> Result<ApiVersion, String> {
    let list = || {
        let mut v: Vec<String> = offered
            .iter()
            .map(|i| {
                format!(
                    "{}{}",
                    i.version,
                    if i.deprecated { " (deprecated)" } else { "" }
                )
            })
            .collect();
        v.dedup();
        v.join(", ")
    };
    if let Some(f) = forced {
        return if offered.iter().any(|i| i.version == f) {
            Ok(f)
        } else {
            Err(format!(
                "vCD does not offer API version {f} (it offers {})",
                list()
            ))
        };
    }
    let known =
        |i: &&VersionInfo| i.version >= MIN_AUTO_VERSION && i.version.major <= MAX_KNOWN_MAJOR;
    if let Some(v) = offered
        .iter()
        .filter(known)
        .filter(|i| !i.deprecated)
        .map(|i| i.version)
        .max()
    {
        return Ok(v);
    }
    if let Some(v) = offered
        .iter()
        .filter(|i| i.version.major > MAX_KNOWN_MAJOR && !i.deprecated)
        .map(|i| i.version)
        .min()
    {
        return Ok(v);
    }
    if let Some(v) = offered
        .iter()
        .filter(|i| i.version >= MIN_AUTO_VERSION)
        .map(|i| i.version)
        .max()
    {
        return Ok(v);
    }
    Err(format!(
        "odt needs vCD API {MIN_AUTO_VERSION} (vCD 10.0) or newer, and this vCD offers {}",
        if offered.is_empty() {
            "none".to_owned()
        } else {
            list()
        }
    ))
}

/// How to log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoginMethod {
    /// `POST /cloudapi/1.0.0/sessions/provider` from API 33.0, `POST /api/sessions` below.
    #[default]
    Auto,
    /// `POST /api/sessions` (`x-vcloud-authorization`); refused with API 38.0+, which has
    /// no such login.
    Legacy,
    /// `POST /cloudapi/1.0.0/sessions/provider` (Bearer token); needs API 33.0+.
    CloudApi,
}

/// Knobs of [`VcdClient::connect_with`]. `Default` is what the importer uses.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Speak exactly this API version (it must be offered) instead of choosing.
    pub api_version: Option<ApiVersion>,
    /// How to log in.
    pub login: LoginMethod,
    /// How long [`VcdClient`] operations wait for their vCD task (an import that copies
    /// disks can take long). [`VcdClient::wait_task`] takes its own timeout.
    pub task_timeout: Duration,
    /// First wait between task polls; it grows by half each poll up to `max_poll_interval`.
    pub poll_interval: Duration,
    /// Longest wait between task polls.
    pub max_poll_interval: Duration,
    /// How many times a `GET` that met 503 (or could not connect) is retried.
    pub retries: u32,
    /// First wait before such a retry; it doubles each time.
    pub retry_backoff: Duration,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// The `X-VMWARE-VCLOUD-CLIENT-REQUEST-ID` sent from the first request (the login) on;
    /// see [`VcdClient::set_client_request_id`] for the rule it must follow.
    pub client_request_id: Option<String>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            api_version: None,
            login: LoginMethod::Auto,
            task_timeout: Duration::from_secs(4 * 3600),
            poll_interval: Duration::from_millis(250),
            max_poll_interval: Duration::from_secs(5),
            retries: 4,
            retry_backoff: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(300),
            client_request_id: None,
        }
    }
}

/// The login actually used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// `POST /api/sessions`, token in `x-vcloud-authorization`.
    Legacy,
    /// `POST /cloudapi/1.0.0/sessions/provider`, `Authorization: Bearer`.
    CloudApi,
}

/// What `GET /api/session` (or the login) said about the session.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionInfo {
    /// `Session@user`.
    pub user: String,
    /// `Session@org` (`System` for a sysadmin).
    pub org: String,
    /// `Session@userId`.
    pub user_id: String,
    /// The session's links (orgList, admin, query list, extension, …).
    pub links: Vec<Link>,
}

impl SessionInfo {
    fn link(&self, media_type: &str) -> Option<&str> {
        self.links
            .iter()
            .find(|l| l.rel == "down" && xml::same_media_type(&l.media_type, media_type))
            .map(|l| l.href.as_str())
    }
}

#[derive(Default)]
struct Auth {
    /// Header name and value (`x-vcloud-authorization: T` or `Authorization: Bearer T`).
    header: Option<(&'static str, Zeroizing<String>)>,
    /// The cloudapi session id (for `DELETE /cloudapi/1.0.0/sessions/{id}` below 36.0).
    cloudapi_id: Option<String>,
}

/// A reply that was a success.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) body: Vec<u8>,
    /// The URL, without credentials.
    pub(crate) url: String,
}

impl Reply {
    pub(crate) fn element(&self, what: &str) -> Result<Element> {
        xml::parse(what, &self.url, &self.body)
    }
}

/// A logged-in vCD system-administrator session.
pub struct VcdClient {
    http: reqwest::blocking::Client,
    verifier: Arc<Verifier>,
    base: reqwest::Url,
    version: ApiVersion,
    login: Login,
    user: String,
    password: Zeroizing<String>,
    auth: Mutex<Auth>,
    relogin_lock: Mutex<()>,
    relogins: AtomicU32,
    logged_out: AtomicBool,
    session: SessionInfo,
    pub(crate) opts: ConnectOptions,
    progress: RwLock<Option<TaskProgress>>,
    correlation: Mutex<HashMap<ThreadId, Correlation>>,
}

/// A thread's client request id and what vCD answered its last change with.
#[derive(Default)]
struct Correlation {
    client_id: Option<String>,
    change_id: Option<String>,
}

/// The longest `X-VMWARE-VCLOUD-CLIENT-REQUEST-ID` vCD takes (it cuts longer ones).
pub const MAX_CLIENT_REQUEST_ID: usize = 128;

/// Checks a client request id: 1 to [`MAX_CLIENT_REQUEST_ID`] visible ASCII characters
/// (`!` to `~`), so that it is a valid header value and shows the same in every log.
pub fn check_client_request_id(id: &str) -> Result<()> {
    if id.is_empty()
        || id.len() > MAX_CLIENT_REQUEST_ID
        || !id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(VcdError::invalid(
            "X-VMWARE-VCLOUD-CLIENT-REQUEST-ID",
            format!(
                "{id:?} must be 1 to {MAX_CLIENT_REQUEST_ID} visible ASCII characters (no spaces)"
            ),
        ));
    }
    Ok(())
}

impl std::fmt::Debug for VcdClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VcdClient")
            .field("url", &self.base.as_str())
            .field("version", &self.version)
            .field("login", &self.login)
            .field("user", &self.user)
            .finish()
    }
}

/// `https://vcd.example[:port]` from what an operator types (`vcd.example`,
/// `https://vcd.example/api`, `https://vcd.example/cloud`): vCD serves its API at the root.
pub fn base_url(input: &str) -> Result<reqwest::Url> {
    let input = input.trim();
    let with_scheme = if input.contains("://") {
        input.to_owned()
    } else {
        format!("https://{input}")
    };
    let bad = |d: String| {
        VcdError::invalid(
            format!("vCD URL {}", redact_url_keep_query(&with_scheme)),
            d,
        )
    };
    let mut u = reqwest::Url::parse(&with_scheme)
        .map_err(|e| bad(format!("{e}; give https://HOST[:PORT]")))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(bad("must be https://HOST[:PORT]".into()));
    }
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.set_path("/");
    Ok(u)
}

impl VcdClient {
    /// Connects with the default [`ConnectOptions`]: negotiates the version, logs in as
    /// `user` (`name@System`; a bare `name` means `name@System`), and checks the session is
    /// a system administrator's.
    pub fn connect(url: &str, user: &str, password: &str, tls: TlsMode) -> Result<VcdClient> {
        VcdClient::connect_with(url, user, password, tls, ConnectOptions::default())
    }

    /// [`VcdClient::connect`] with options (a forced version or login method, timeouts).
    pub fn connect_with(
        url: &str,
        user: &str,
        password: &str,
        tls: TlsMode,
        opts: ConnectOptions,
    ) -> Result<VcdClient> {
        let base = base_url(url)?;
        let verifier = Verifier::new(&tls)
            .map_err(|e| VcdError::invalid("vCD certificate thumbprint", e.to_string()))?;
        let http_opts = HttpOptions {
            connect_timeout: opts.connect_timeout,
            timeout: Some(opts.request_timeout),
            user_agent: concat!("odt/", env!("CARGO_PKG_VERSION"), " (vcd)"),
        };
        let http = http_client(&verifier, &http_opts)?;
        if let Some(id) = &opts.client_request_id {
            check_client_request_id(id)?;
        }
        let correlation = Mutex::new(HashMap::new());
        let mut c = VcdClient {
            http,
            verifier,
            base,
            version: MIN_AUTO_VERSION,
            login: Login::CloudApi,
            user: if user.contains('@') {
                user.to_owned()
            } else {
                format!("{user}@System")
            },
            password: Zeroizing::new(password.to_owned()),
            auth: Mutex::new(Auth::default()),
            relogin_lock: Mutex::new(()),
            relogins: AtomicU32::new(0),
            logged_out: AtomicBool::new(false),
            session: SessionInfo::default(),
            opts,
            progress: RwLock::new(None),
            correlation,
        };
        c.negotiate()?;
        let from_login = c.log_in()?;
        c.session = match c.login {
            Login::Legacy => from_login.expect("the legacy login returns the Session"),
            Login::CloudApi => c.read_session(from_login)?,
        };
        if !c.session.org.eq_ignore_ascii_case("system") {
            let e = VcdError::NotSysadmin {
                user: c.user.clone(),
                org: c.session.org.clone(),
            };
            let _ = c.logout();
            return Err(e);
        }
        Ok(c)
    }

    /// Reads `GET /api/versions` and chooses the version to speak and the login to use
    /// (see [`choose_version`] and [`LoginMethod`]).
    fn negotiate(&mut self) -> Result<()> {
        let versions_url = self.absolute("/api/versions")?;
        let reply = self.request_raw(
            &Method::GET,
            &versions_url,
            None,
            "application/*+xml",
            false,
        )?;
        let offered = parse_versions(&reply.url, &reply.body)?;
        self.version = choose_version(&offered, self.opts.api_version).map_err(|detail| {
            VcdError::Version {
                url: reply.url.clone(),
                detail,
            }
        })?;
        let refused = |detail: String| VcdError::Version {
            url: reply.url.clone(),
            detail,
        };
        self.login = match (self.opts.login, self.version >= CLOUDAPI_LOGIN_SINCE) {
            (LoginMethod::Auto, true) | (LoginMethod::CloudApi, true) => Login::CloudApi,
            (LoginMethod::Auto, false) | (LoginMethod::Legacy, false) => Login::Legacy,
            (LoginMethod::Legacy, true) if self.version.major <= MAX_KNOWN_MAJOR => Login::Legacy,
            (LoginMethod::Legacy, true) => {
                return Err(refused(format!(
                    "API {} has no /api/sessions login; use the cloudapi login",
                    self.version
                )))
            }
            (LoginMethod::CloudApi, false) => {
                return Err(refused(format!(
                    "API {} has no cloudapi login (it needs 33.0+)",
                    self.version
                )))
            }
        };
        Ok(())
    }

    /// The API version spoken.
    pub fn api_version(&self) -> ApiVersion {
        self.version
    }

    /// The login method used.
    pub fn login_method(&self) -> Login {
        self.login
    }

    /// The session (user, org, links).
    pub fn session(&self) -> &SessionInfo {
        &self.session
    }

    /// The vCD base URL (`https://host[:port]/`).
    pub fn url(&self) -> &str {
        self.base.as_str()
    }

    /// How many times the client logged in again after a 401.
    pub fn relogin_count(&self) -> u32 {
        self.relogins.load(Ordering::Relaxed)
    }

    /// Sets the callback that sees every polled task state of the operations (imports,
    /// network edits, power-on).
    pub fn set_task_progress(&self, f: Option<TaskProgress>) {
        if let Ok(mut p) = self.progress.write() {
            *p = f;
        }
    }

    pub(crate) fn task_progress(&self) -> Option<TaskProgress> {
        self.progress.read().ok().and_then(|p| p.clone())
    }

    /// Sets how long operations wait for their task.
    pub fn set_task_timeout(&mut self, d: Duration) {
        self.opts.task_timeout = d;
    }

    /// Sets the `X-VMWARE-VCLOUD-CLIENT-REQUEST-ID` every later request carries (`None`:
    /// none), and forgets the request id of the last change. The id is opaque to the client;
    /// it must be 1 to [`MAX_CLIENT_REQUEST_ID`] visible ASCII characters
    /// ([`check_client_request_id`]) and, as vCD logs it, hold no secret.
    pub fn set_client_request_id(&self, id: Option<&str>) -> Result<()> {
        if let Some(id) = id {
            check_client_request_id(id)?;
        }
        let mut all = self.correlation.lock().unwrap_or_else(|p| p.into_inner());
        all.insert(
            std::thread::current().id(),
            Correlation {
                client_id: id.map(str::to_owned),
                change_id: None,
            },
        );
        Ok(())
    }

    /// The `X-VMWARE-VCLOUD-REQUEST-ID` vCD answered this thread's last successful change
    /// (any method but `GET`) with since its [`VcdClient::set_client_request_id`]: the
    /// request an operator looks up in vCD's logs for that step.
    pub fn change_request_id(&self) -> Option<String> {
        let all = self.correlation.lock().unwrap_or_else(|p| p.into_inner());
        all.get(&std::thread::current().id())
            .and_then(|c| c.change_id.clone())
    }

    /// This thread's id, else the one given at connect.
    fn client_request_id(&self) -> Option<String> {
        let all = self.correlation.lock().unwrap_or_else(|p| p.into_inner());
        match all.get(&std::thread::current().id()) {
            Some(c) => c.client_id.clone(),
            None => self.opts.client_request_id.clone(),
        }
    }

    /// Keeps the request id of a change vCD accepted.
    fn note_change(&self, method: &Method, request_id: Option<&str>) {
        if *method == Method::GET {
            return;
        }
        if let Some(id) = request_id {
            let mut all = self.correlation.lock().unwrap_or_else(|p| p.into_inner());
            let c = all
                .entry(std::thread::current().id())
                .or_insert_with(|| Correlation {
                    client_id: self.opts.client_request_id.clone(),
                    change_id: None,
                });
            c.change_id = Some(id.to_owned());
        }
    }

    /// Ends the session: `DELETE /cloudapi/1.0.0/sessions/current` (36.0+) or
    /// `…/sessions/{id}` (33.0–35.x) after a cloudapi login, `DELETE /api/session` after a
    /// legacy one. An already expired session counts as ended. Later calls fail with 401
    /// (no automatic re-login after a logout).
    pub fn logout(&self) -> Result<()> {
        let (path, accept) = match self.login {
            Login::Legacy => (
                find_link_in(&self.session.links, "remove")
                    .unwrap_or_else(|| "/api/session".into()),
                self.accept_xml(),
            ),
            Login::CloudApi => {
                let id = self.auth.lock().ok().and_then(|a| a.cloudapi_id.clone());
                let p = match (self.version >= SESSIONS_CURRENT_SINCE, id) {
                    (true, _) | (false, None) => "/cloudapi/1.0.0/sessions/current".to_owned(),
                    (false, Some(id)) => {
                        format!("/cloudapi/1.0.0/sessions/{}", encode_component(&id))
                    }
                };
                (p, self.accept_any())
            }
        };
        let url = self.absolute(&path)?;
        // Set first: an expired token's 401 must not log in again just to log out.
        self.logged_out.store(true, Ordering::Relaxed);
        let r = self.request_raw(&Method::DELETE, &url, None, &accept, true);
        if let Ok(mut a) = self.auth.lock() {
            *a = Auth::default();
        }
        match r {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(401) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn accept_xml(&self) -> String {
        format!("application/*+xml;version={}", self.version)
    }

    fn accept_any(&self) -> String {
        format!("application/*;version={}", self.version)
    }

    /// Logs in with the chosen method. Returns the Session of a legacy login.
    fn log_in(&self) -> Result<Option<SessionInfo>> {
        let (path, accept) = match self.login {
            Login::Legacy => ("/api/sessions", self.accept_xml()),
            Login::CloudApi => ("/cloudapi/1.0.0/sessions/provider", self.accept_any()),
        };
        let url = self.absolute(path)?;
        let shown = redact_url_keep_query(&url);
        let reply = self.post_credentials(&url, &accept, &shown)?;
        if reply.status == 401 {
            return Err(VcdError::Login {
                url: shown,
                user: self.user.clone(),
                message: ApiErrorBody::parse(&reply.body)
                    .map(|e| e.message)
                    .unwrap_or_default(),
            });
        }
        if !(200..300).contains(&reply.status) {
            let LoginReply {
                status,
                body,
                request_id,
                ..
            } = reply;
            return Err(error_from("POST", &shown, status, &body, request_id));
        }
        let LoginReply {
            legacy_token,
            jwt,
            body,
            ..
        } = reply;
        let auth = auth_from(self.login, legacy_token, jwt, &body);
        if auth.header.is_none() {
            return Err(VcdError::malformed(
                "login reply",
                &shown,
                "no X-VMWARE-VCLOUD-ACCESS-TOKEN or x-vcloud-authorization header: there is no token to use",
            ));
        }
        if let Ok(mut a) = self.auth.lock() {
            *a = auth;
        }
        login_session(self.login, &shown, &body).map(Some)
    }

    /// `POST`s the user's Basic credentials to the login URL (once: a login is not a read)
    /// and keeps the tokens vCD set.
    fn post_credentials(&self, url: &str, accept: &str, shown: &str) -> Result<LoginReply> {
        let basic = Zeroizing::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                self.user,
                self.password.as_str()
            ))
        ));
        let mut req = self
            .http
            .post(url)
            .header(reqwest::header::ACCEPT, accept)
            .header(reqwest::header::AUTHORIZATION, basic.as_str());
        if let Some(id) = self.client_request_id() {
            req = req.header(CLIENT_REQUEST_ID, id);
        }
        let started = Instant::now();
        let resp = req.send().map_err(|e| {
            self.log_exchange("POST", shown, started, None, None);
            self.transport_error("POST", url, e)
        })?;
        let status = resp.status().as_u16();
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(|v| Zeroizing::new(v.trim().to_owned()))
                .filter(|v| !v.is_empty())
        };
        let legacy_token = header("x-vcloud-authorization");
        let jwt = header("x-vmware-vcloud-access-token");
        let request_id = header("x-vmware-vcloud-request-id").map(|v| v.to_string());
        let body = read_body(resp, "POST", shown)?;
        self.log_exchange("POST", shown, started, Some(status), request_id.as_deref());
        Ok(LoginReply {
            status,
            legacy_token,
            jwt,
            request_id,
            body,
        })
    }

    /// `GET /api/session` after a cloudapi login: the XML Session with the well-known links.
    /// Where it is gone (404/405, as it may be after API 37), the cloudapi JSON's org and the
    /// documented paths stand in.
    fn read_session(&self, from_login: Option<SessionInfo>) -> Result<SessionInfo> {
        match self.get("Session", "/api/session") {
            Ok(root) => Ok(session_from(&root)),
            Err(e)
                if matches!(e.status(), Some(404 | 405))
                    && self.version.major > MAX_KNOWN_MAJOR =>
            {
                let mut s = from_login.unwrap_or_default();
                let base = self.base.as_str().trim_end_matches('/');
                for (t, p) in [
                    (media::ORG_LIST, "/api/org/"),
                    (media::ADMIN_VCLOUD, "/api/admin/"),
                    (media::QUERY_LIST, "/api/query"),
                    (media::VMW_EXTENSION, "/api/admin/extension"),
                ] {
                    s.links.push(Link {
                        rel: "down".into(),
                        media_type: t.into(),
                        href: format!("{base}{p}"),
                        name: String::new(),
                    });
                }
                Ok(s)
            }
            Err(e) => Err(e),
        }
    }

    /// The query service's base href.
    pub(crate) fn query_href(&self) -> String {
        self.session
            .link(media::QUERY_LIST)
            .map(str::to_owned)
            .unwrap_or_else(|| "/api/query".into())
    }

    /// The vmwExtension href.
    pub(crate) fn extension_href(&self) -> String {
        self.session
            .link(media::VMW_EXTENSION)
            .map(str::to_owned)
            .unwrap_or_else(|| "/api/admin/extension".into())
    }

    /// Makes `href` absolute on the operator's host (see the module doc): a path is joined
    /// to the base; an absolute URL keeps its path and query but takes the base's scheme,
    /// host and port.
    pub(crate) fn absolute(&self, href: &str) -> Result<String> {
        rebase(&self.base, href)
    }

    /// `GET href` with the XML Accept header; the reply parsed.
    pub(crate) fn get(&self, what: &str, href: &str) -> Result<Element> {
        let r = self.request(Method::GET, href, None)?;
        r.element(what)
    }

    /// A request with the XML Accept header, retries and re-login.
    pub(crate) fn request(
        &self,
        method: Method,
        href: &str,
        body: Option<(&str, String)>,
    ) -> Result<Reply> {
        let url = self.absolute(href)?;
        let accept = self.accept_xml();
        self.request_raw(
            &method,
            &url,
            body.as_ref().map(|(t, b)| (*t, b.as_str())),
            &accept,
            true,
        )
    }

    fn transport_error(&self, method: &str, url: &str, e: reqwest::Error) -> VcdError {
        let url = redact_url_keep_query(url);
        match explain(&self.verifier, e) {
            SendFailure::Refused(r) => VcdError::Tls {
                url,
                detail: r.detail,
                sha1: r.sha1,
                sha256: r.sha256,
                pinnable: r.pinnable,
            },
            SendFailure::Transport(e) => VcdError::Transport {
                method: method.to_owned(),
                url,
                cause: Box::new(e),
            },
        }
    }

    /// One request: auth header, Accept, body; retried as the retry table says for its
    /// method ([`Call::VcdRead`]: connect errors, timeouts and 503); one re-login on 401 when
    /// `authenticated`.
    fn request_raw(
        &self,
        method: &Method,
        url: &str,
        body: Option<(&str, &str)>,
        accept: &str,
        authenticated: bool,
    ) -> Result<Reply> {
        let shown = redact_url_keep_query(url);
        let backoff = Backoff {
            retries: self.opts.retries,
            first: self.opts.retry_backoff,
        };
        let mut retries = Retries::new(Call::vcd(method), backoff);
        let mut relogged = false;
        loop {
            let generation = self.relogins.load(Ordering::Acquire);
            let started = Instant::now();
            let resp = match self.build(method, url, body, accept, authenticated).send() {
                Ok(r) => r,
                Err(e) => {
                    self.log_exchange(method.as_str(), &shown, started, None, None);
                    if retries.after_send_error(&e) {
                        continue;
                    }
                    return Err(self.transport_error(method.as_str(), url, e));
                }
            };
            let got = Received::read(resp, method.as_str(), &shown)?;
            let (status, id) = (Some(got.reply.status), got.request_id.as_deref());
            self.log_exchange(method.as_str(), &shown, started, status, id);
            match got.reply.status {
                200..=299 => {
                    self.note_change(method, got.request_id.as_deref());
                    return Ok(got.reply);
                }
                401 if authenticated && !relogged && !self.logged_out.load(Ordering::Relaxed) => {
                    relogged = true;
                    self.relogin(generation)?;
                }
                status if retries.after_status(status, got.retry_after) => {}
                status => {
                    return Err(error_from(
                        method.as_str(),
                        &shown,
                        status,
                        &got.reply.body,
                        got.request_id,
                    ))
                }
            }
        }
    }

    /// One `info` event per request sent, for `--log-file`: the method, the URL without user
    /// info (the query kept: it says what was looked up), the status (none when nothing came
    /// back), the duration, the correlation id we sent and the request id vCD answered with.
    /// Never a header of ours (`Authorization`, `x-vcloud-authorization`) nor a body.
    fn log_exchange(
        &self,
        method: &str,
        shown: &str,
        started: Instant,
        status: Option<u16>,
        request_id: Option<&str>,
    ) {
        let ms = started.elapsed().as_millis() as u64;
        let client_id = self.client_request_id();
        tracing::info!(
            method = %method,
            url = %shown,
            status = status.unwrap_or(0),
            ms,
            client_request_id = %client_id.as_deref().unwrap_or("-"),
            request_id = %request_id.unwrap_or("-"),
            "vcd"
        );
    }

    /// The request itself: Accept, the session's token when `authenticated`, the body.
    fn build(
        &self,
        method: &Method,
        url: &str,
        body: Option<(&str, &str)>,
        accept: &str,
        authenticated: bool,
    ) -> reqwest::blocking::RequestBuilder {
        let mut req = self
            .http
            .request(method.clone(), url)
            .header(reqwest::header::ACCEPT, accept);
        if let Some(id) = self.client_request_id() {
            req = req.header(CLIENT_REQUEST_ID, id);
        }
        if authenticated {
            if let Some((name, value)) = self.auth.lock().ok().and_then(|a| a.header.clone()) {
                req = req.header(name, value.as_str());
            }
        }
        if let Some((ct, b)) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, ct)
                .body(b.to_owned());
        }
        req
    }

    /// Logs in again (the token expired), unless another thread already did since the
    /// request that met the 401 was sent (`generation` is the re-login count then).
    fn relogin(&self, generation: u32) -> Result<()> {
        let _g = self.relogin_lock.lock();
        if self.relogins.load(Ordering::Acquire) != generation {
            return Ok(());
        }
        tracing::info!("vCD refused the token (401): logging in again");
        self.log_in()?;
        self.relogins.fetch_add(1, Ordering::Release);
        Ok(())
    }
}

/// `href` on `base`'s scheme, host and port (a path is joined to `base`), without user
/// info: what [`VcdClient`] sends requests to.
pub fn rebase(base: &reqwest::Url, href: &str) -> Result<String> {
    let bad = |d: String| VcdError::invalid(format!("href {}", redact_url_keep_query(href)), d);
    let mut u = if href.contains("://") {
        reqwest::Url::parse(href).map_err(|e| bad(e.to_string()))?
    } else {
        base.join(href).map_err(|e| bad(e.to_string()))?
    };
    if u.origin() != base.origin() {
        u.set_scheme(base.scheme())
            .map_err(|_| bad("cannot change its scheme".into()))?;
        u.set_host(base.host_str())
            .map_err(|e| bad(e.to_string()))?;
        u.set_port(base.port())
            .map_err(|_| bad("cannot change its port".into()))?;
    }
    let _ = u.set_username("");
    let _ = u.set_password(None);
    Ok(u.to_string())
}

/// What the login request got back.
struct LoginReply {
    status: u16,
    /// `x-vcloud-authorization`.
    legacy_token: Option<Zeroizing<String>>,
    /// `X-VMWARE-VCLOUD-ACCESS-TOKEN`.
    jwt: Option<Zeroizing<String>>,
    request_id: Option<String>,
    body: Vec<u8>,
}

/// The token to send from now on: the one `login` documents, else the other one vCD set
/// (some versions set both, some only one); and the cloudapi session id, for the logout.
fn auth_from(
    login: Login,
    legacy_token: Option<Zeroizing<String>>,
    jwt: Option<Zeroizing<String>>,
    body: &[u8],
) -> Auth {
    let legacy = |t: Zeroizing<String>| ("x-vcloud-authorization", t);
    let bearer = |j: Zeroizing<String>| {
        (
            "authorization",
            Zeroizing::new(format!("Bearer {}", j.as_str())),
        )
    };
    match login {
        Login::Legacy => Auth {
            header: legacy_token.map(legacy).or_else(|| jwt.map(bearer)),
            cloudapi_id: None,
        },
        Login::CloudApi => Auth {
            header: jwt.map(bearer).or_else(|| legacy_token.map(legacy)),
            cloudapi_id: serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("id")?.as_str().map(str::to_owned)),
        },
    }
}

/// The session a login reply describes: the XML `Session` of a legacy login; the user and
/// org of the cloudapi JSON (its links come from `GET /api/session` afterwards).
fn login_session(login: Login, shown: &str, body: &[u8]) -> Result<SessionInfo> {
    match login {
        Login::Legacy => {
            let root = xml::parse_root("Session", shown, body, "Session")?;
            Ok(session_from(&root))
        }
        Login::CloudApi => {
            let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            let name_of = |k: &str| {
                v.get(k)
                    .and_then(|u| u.get("name"))
                    .and_then(|n| n.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            Ok(SessionInfo {
                user: name_of("user"),
                org: name_of("org"),
                ..SessionInfo::default()
            })
        }
    }
}

fn find_link_in(links: &[Link], rel: &str) -> Option<String> {
    links
        .iter()
        .find(|l| l.rel == rel && !l.href.is_empty())
        .map(|l| l.href.clone())
}

fn session_from(root: &Element) -> SessionInfo {
    SessionInfo {
        user: root.attr("user").unwrap_or_default().to_owned(),
        org: root.attr("org").unwrap_or_default().to_owned(),
        user_id: root.attr("userId").unwrap_or_default().to_owned(),
        links: links(root),
    }
}

/// A reply as read off the wire, before it is judged.
struct Received {
    reply: Reply,
    /// `Retry-After` in seconds, for a 503.
    retry_after: Option<Duration>,
    /// `X-VMWARE-VCLOUD-REQUEST-ID`, for error messages.
    request_id: Option<String>,
}

impl Received {
    fn read(resp: reqwest::blocking::Response, method: &str, shown: &str) -> Result<Received> {
        let header = |n: reqwest::header::HeaderName| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let status = resp.status().as_u16();
        let location = header(reqwest::header::LOCATION);
        let retry_after = header(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let request_id = header(reqwest::header::HeaderName::from_static(
            "x-vmware-vcloud-request-id",
        ));
        let body = read_body(resp, method, shown)?;
        Ok(Received {
            reply: Reply {
                status,
                location,
                body,
                url: shown.to_owned(),
            },
            retry_after,
            request_id,
        })
    }
}

/// Reads a reply body, refusing one over [`MAX_REPLY_BYTES`].
fn read_body(resp: reqwest::blocking::Response, method: &str, shown: &str) -> Result<Vec<u8>> {
    let buf = read_capped(resp, MAX_REPLY_BYTES).map_err(|e| VcdError::Transport {
        method: method.to_owned(),
        url: shown.to_owned(),
        cause: Box::new(e),
    })?;
    if buf.len() as u64 > MAX_REPLY_BYTES {
        return Err(VcdError::malformed(
            "reply",
            shown,
            format!("more than the {MAX_REPLY_BYTES} bytes accepted"),
        ));
    }
    Ok(buf)
}

/// The error for a non-success reply: vCD's `Error` when the body is one, else the status
/// and an excerpt.
pub(crate) fn error_from(
    method: &str,
    shown: &str,
    status: u16,
    body: &[u8],
    request_id: Option<String>,
) -> VcdError {
    match ApiErrorBody::parse(body) {
        Some(e) => VcdError::Api(Box::new(ApiError {
            method: method.to_owned(),
            url: shown.to_owned(),
            status,
            major_error_code: e.major_error_code,
            minor_error_code: e.minor_error_code,
            message: e.message,
            request_id,
        })),
        None => VcdError::Http {
            method: method.to_owned(),
            url: shown.to_owned(),
            status,
            body: excerpt(body),
        },
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERSIONS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<SupportedVersions xmlns="http://www.vmware.com/vcloud/versions" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <VersionInfo deprecated="true"><Version>26.0</Version><LoginUrl>https://vcd/api/sessions</LoginUrl></VersionInfo>
  <VersionInfo deprecated="false"><Version>32.0</Version><LoginUrl>https://vcd/api/sessions</LoginUrl></VersionInfo>
  <VersionInfo deprecated="false"><Version>35.0</Version><LoginUrl>https://vcd/api/sessions</LoginUrl></VersionInfo>
  <VersionInfo deprecated="false"><Version>36.0</Version><LoginUrl>https://vcd/cloudapi/1.0.0/sessions</LoginUrl><ProviderLoginUrl>https://vcd/cloudapi/1.0.0/sessions/provider</ProviderLoginUrl></VersionInfo>
  <VersionInfo deprecated="false"><Version>37.0</Version><LoginUrl>https://vcd/cloudapi/1.0.0/sessions</LoginUrl><ProviderLoginUrl>https://vcd/cloudapi/1.0.0/sessions/provider</ProviderLoginUrl></VersionInfo>
  <VersionInfo deprecated="false"><Version>38.0</Version></VersionInfo>
  <SchemaRoot>https://vcd/api/v1.5/schema/</SchemaRoot>
</SupportedVersions>"#;

    fn v(s: &str) -> ApiVersion {
        ApiVersion::parse(s).unwrap()
    }

    #[test]
    fn version_choice() {
        let offered = parse_versions("u", VERSIONS.as_bytes()).unwrap();
        assert_eq!(offered.len(), 6);
        assert!(offered[0].deprecated);
        assert_eq!(
            offered[3].provider_login_url.as_deref(),
            Some("https://vcd/cloudapi/1.0.0/sessions/provider")
        );
        assert_eq!(choose_version(&offered, None).unwrap(), v("37.0"));
        assert_eq!(
            choose_version(&offered, Some(v("32.0"))).unwrap(),
            v("32.0")
        );
        let e = choose_version(&offered, Some(v("31.0"))).unwrap_err();
        assert!(e.contains("does not offer API version 31.0"), "{e}");
        // Only newer than we know: the lowest of them.
        let newer: Vec<_> = ["38.0", "39.0", "40.0"]
            .iter()
            .map(|s| VersionInfo {
                version: v(s),
                deprecated: false,
                login_url: None,
                provider_login_url: None,
            })
            .collect();
        assert_eq!(choose_version(&newer, None).unwrap(), v("38.0"));
        // Only old ones: refused, naming what is offered.
        let old: Vec<_> = offered
            .iter()
            .filter(|i| i.version < v("33.0"))
            .cloned()
            .collect();
        let e = choose_version(&old, None).unwrap_err();
        assert!(e.contains("26.0 (deprecated), 32.0"), "{e}");
        // Deprecated in range beats nothing.
        let dep = vec![VersionInfo {
            version: v("34.0"),
            deprecated: true,
            login_url: None,
            provider_login_url: None,
        }];
        assert_eq!(choose_version(&dep, None).unwrap(), v("34.0"));
    }

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(
            v("37.0"),
            ApiVersion {
                major: 37,
                minor: 0
            }
        );
        assert_eq!(v("39.1").to_string(), "39.1");
        assert_eq!(v("37"), v("37.0"));
        assert!(v("5.5") < v("33.0"));
        assert!(v("37.2") > v("37.0"));
        assert!(ApiVersion::parse("x.1").is_none());
    }

    #[test]
    fn base_urls() {
        assert_eq!(
            base_url("vcd.example").unwrap().as_str(),
            "https://vcd.example/"
        );
        assert_eq!(
            base_url("https://admin:pw@vcd.example:8443/api/")
                .unwrap()
                .as_str(),
            "https://vcd.example:8443/"
        );
        assert_eq!(
            base_url("http://127.0.0.1:9/cloud").unwrap().as_str(),
            "http://127.0.0.1:9/"
        );
        assert!(base_url("ftp://x").is_err());
    }

    #[test]
    fn hrefs_stay_on_the_operators_host() {
        let base = base_url("https://10.0.0.5:8443").unwrap();
        assert_eq!(
            rebase(&base, "https://vcd.public.example/api/vApp/vapp-1?x=1").unwrap(),
            "https://10.0.0.5:8443/api/vApp/vapp-1?x=1"
        );
        assert_eq!(
            rebase(&base, "http://evil:80/api/task/1").unwrap(),
            "https://10.0.0.5:8443/api/task/1"
        );
        assert_eq!(
            rebase(&base, "https://u:p@10.0.0.5:8443/api/org/").unwrap(),
            "https://10.0.0.5:8443/api/org/"
        );
        assert_eq!(
            rebase(&base, "/api/query?type=organization").unwrap(),
            "https://10.0.0.5:8443/api/query?type=organization"
        );
        let plain = base_url("vcd.example").unwrap();
        assert_eq!(
            rebase(&plain, "https://vcd.example:443/api/session").unwrap(),
            "https://vcd.example/api/session"
        );
    }

    #[test]
    fn component_encoding() {
        assert_eq!(encode_component("a b;c(d),e"), "a%20b%3Bc%28d%29%2Ce");
        assert_eq!(
            encode_component("https://h/api/vdc/1"),
            "https%3A%2F%2Fh%2Fapi%2Fvdc%2F1"
        );
        assert_eq!(encode_component("é"), "%C3%A9");
    }
}
