//! Routing and handlers: versions, logins, sessions, orgs, VDCs, networks, catalogs, the
//! query service, the vimServer extension and its import actions, vApps, VMs, their network
//! sections, power actions, tasks; and the `/odt-sim/` control endpoints.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use odt_vmware::vsphere::xml::Element;

use super::model::{
    self, new_uuid, now_iso, Effect, IpScope, NewTask, Nic, Owner, Parent, Session, State,
    Template, VApp, VAppNet, Vm,
};
use super::query;
use super::render::{self as r, href, Ctx};
use super::server::{Req, Resp};
use super::xml::{self as x, many, opt, req, Out, Slot, C, O, VC};
use super::{ApiError, Inner};

/// API versions served; the deprecated ones are still accepted.
const VERSIONS: &[(&str, bool)] = &[
    ("31.0", true),
    ("32.0", true),
    ("33.0", false),
    ("34.0", false),
    ("35.0", false),
    ("36.0", false),
    ("37.0", false),
];

type Res = Result<Resp, ApiError>;

/// Serves one request.
pub(crate) fn handle(inner: &Arc<Inner>, req: Req) -> Resp {
    let request_id = new_uuid();
    let mut path = req.path.clone();
    while path.len() > 1 && path.ends_with('/') {
        path.pop();
    }
    let request_id = match req.header("X-VMWARE-VCLOUD-CLIENT-REQUEST-ID") {
        Some(c) if !c.is_empty() => format!("{}-{request_id}", &c[..c.len().min(128)]),
        _ => request_id,
    };
    if let Some(rest) = path.strip_prefix("/odt-sim/") {
        let resp = control(inner, &req, rest);
        take_over_moved_vms(inner);
        return resp.with("X-VMWARE-VCLOUD-REQUEST-ID", request_id);
    }
    let version = accept_version(&req);
    let cloudapi = path.starts_with("/cloudapi/");
    let resp = match dispatch(inner, &req, &path) {
        Ok(r) => r,
        Err(e) => error_resp(&e, cloudapi, version.as_deref()),
    };
    take_over_moved_vms(inner);
    let resp = resp.with("X-VMWARE-VCLOUD-REQUEST-ID", request_id.clone());
    let mut st = inner.lock();
    if st.log.len() >= 100_000 {
        st.log.drain(..50_000);
    }
    st.log.push(model::Logged {
        client_request_id: req
            .header("X-VMWARE-VCLOUD-CLIENT-REQUEST-ID")
            .map(str::to_owned),
        request_id,
        method: req.method.clone(),
        path: match req.raw_query.is_empty() {
            true => req.path.clone(),
            false => format!("{}?{}", req.path, req.raw_query),
        },
        status: resp.status,
    });
    resp
}

/// Does in vCenter what the move-imports this request saw succeed require (the VM moves into
/// the VDC's pool and is renamed), before the reply that says so is sent: a client that reads
/// vCenter after seeing the task succeed sees what it would see with real vCD.
pub(crate) fn take_over_moved_vms(inner: &Arc<Inner>) {
    let due = std::mem::take(&mut inner.lock().take_overs);
    for t in due {
        if let Err(e) = inner.backend.take_over(&t.moref, &t.name, &t.pool) {
            eprintln!(
                "vcd-sim: could not move {} into pool {:?} as {:?} in vCenter: {e}",
                t.moref, t.pool, t.name
            );
        }
    }
}

fn error_resp(e: &ApiError, cloudapi: bool, version: Option<&str>) -> Resp {
    let v = version.unwrap_or("36.0");
    if cloudapi {
        let body = serde_json::json!({
            "minorErrorCode": e.minor,
            "message": e.message,
            "stackTrace": serde_json::Value::Null,
        });
        return Resp::new(
            e.status,
            &format!("application/json;version={v}"),
            body.to_string(),
        );
    }
    let mut o = Out::new();
    let major = e.status.to_string();
    o.empty(
        "Error",
        &[
            ("minorErrorCode", &e.minor),
            ("message", &e.message),
            ("majorErrorCode", &major),
        ],
    );
    Resp::new(e.status, &format!("{};version={v}", r::T_ERROR), o.finish())
}

/// The `version=` parameter of the Accept header.
fn accept_version(req: &Req) -> Option<String> {
    let accept = req.header("Accept")?;
    accept.split(',').find_map(|part| {
        part.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k.trim().eq_ignore_ascii_case("version"))
                .then(|| v.trim().trim_matches('"').to_owned())
        })
    })
}

fn xml(ctx: &Ctx, media: &str, body: String) -> Resp {
    Resp::new(200, &format!("{media};version={}", ctx.version), body)
}

fn versions(st: &State) -> Resp {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SupportedVersions \
         xmlns=\"http://www.vmware.com/vcloud/versions\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">",
    );
    for (v, deprecated) in VERSIONS {
        let major: f32 = v.parse().unwrap_or(0.0);
        s.push_str(&format!(
            "<VersionInfo deprecated=\"{deprecated}\"><Version>{v}</Version>"
        ));
        if major >= 33.0 {
            s.push_str(&format!(
                "<LoginUrl>{}</LoginUrl>",
                href(st, "/cloudapi/1.0.0/sessions")
            ));
        } else {
            s.push_str(&format!(
                "<LoginUrl>{}</LoginUrl>",
                href(st, "/api/sessions")
            ));
        }
        if major >= 36.0 {
            s.push_str(&format!(
                "<ProviderLoginUrl>{}</ProviderLoginUrl>",
                href(st, "/cloudapi/1.0.0/sessions/provider")
            ));
        }
        s.push_str("</VersionInfo>");
    }
    s.push_str("</SupportedVersions>");
    Resp::new(200, "application/*+xml;version=37.0", s)
}

fn dispatch(inner: &Arc<Inner>, req: &Req, path: &str) -> Res {
    {
        let mut st = inner.lock();
        let f = &mut st.faults;
        if f.respond_503 > 0
            && f.respond_503_prefix
                .as_deref()
                .is_none_or(|p| path.starts_with(p))
        {
            f.respond_503 -= 1;
            return Err(ApiError {
                status: 503,
                minor: "SERVICE_UNAVAILABLE".into(),
                message: "The service is temporarily unavailable (injected by vcd-sim).".into(),
            });
        }
        st.auto_finish();
    }
    let m = req.method.as_str();
    if path == "/api/versions" {
        if m != "GET" {
            return Err(ApiError::method(m));
        }
        return Ok(versions(&inner.lock()));
    }
    if !(path == "/api" || path.starts_with("/api/") || path.starts_with("/cloudapi/")) {
        return Err(ApiError::not_found(format!("No resource at {path}.")));
    }
    let version = accept_version(req).ok_or_else(|| {
        ApiError::not_acceptable(
            "The request has no API version: send an Accept header with a version, e.g. \
             'Accept: application/*+xml;version=36.0'.",
        )
    })?;
    if !VERSIONS.iter().any(|(v, _)| *v == version) {
        return Err(ApiError::not_acceptable(format!(
            "Invalid API version requested: {version}. Supported versions: {}.",
            VERSIONS.iter().map(|v| v.0).collect::<Vec<_>>().join(", ")
        )));
    }
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        ["api", "sessions"] => {
            if m != "POST" {
                return Err(ApiError::method(m));
            }
            return login(inner, req, &version, Login::Legacy);
        }
        ["cloudapi", "1.0.0", "sessions"] if m == "POST" => {
            return login(inner, req, &version, Login::Tenant)
        }
        ["cloudapi", "1.0.0", "sessions", "provider"] => {
            if m != "POST" {
                return Err(ApiError::method(m));
            }
            return login(inner, req, &version, Login::Provider);
        }
        _ => {}
    }
    let ctx = authenticate(inner, req, &version)?;
    route(inner, req, &ctx, &segs)
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Login {
    Legacy,
    Tenant,
    Provider,
}

fn login(inner: &Arc<Inner>, req: &Req, version: &str, kind: Login) -> Res {
    let (name, org, password) = basic_credentials(req)?;
    let mut st = inner.lock();
    let user = st
        .users
        .iter()
        .find(|u| u.name == name && u.org.eq_ignore_ascii_case(&org) && u.password == password)
        .cloned()
        .ok_or_else(bad_credentials)?;
    match kind {
        Login::Provider if !user.sysadmin => {
            return Err(ApiError::unauthorized(
                "Invalid credentials: the provider endpoint is for the System organization.",
            ))
        }
        Login::Tenant if user.sysadmin => {
            return Err(ApiError::unauthorized(
                "Invalid credentials: System users log in at /cloudapi/1.0.0/sessions/provider.",
            ))
        }
        _ => {}
    }
    let token = hex::encode(rand::random::<[u8; 16]>());
    let sid = new_uuid();
    let jwt = session_jwt(&st, &user.name, &sid);
    st.sessions.push(Session {
        id: sid.clone(),
        token: token.clone(),
        jwt: jwt.clone(),
        user: user.id.clone(),
        expired: false,
        closed: false,
    });
    let ctx = ctx_for(&st, &st.sessions.last().expect("pushed").clone(), version);
    let resp = match kind {
        Login::Legacy => xml(&ctx, r::T_SESSION, r::session(&st, &ctx)),
        _ => Resp::new(
            200,
            &format!("application/json;version={version}"),
            session_json(&st, &ctx).to_string(),
        ),
    };
    Ok(resp
        .with("x-vcloud-authorization", token.clone())
        .with("X-VMWARE-VCLOUD-ACCESS-TOKEN", jwt)
        .with("X-VMWARE-VCLOUD-TOKEN-TYPE", "Bearer")
        .with(
            "Set-Cookie",
            format!("vcloud-token={token}; Secure; HttpOnly; Path=/"),
        ))
}

/// One text for every credential that does not match, as vCD does not say which part failed.
fn bad_credentials() -> ApiError {
    ApiError::unauthorized("Invalid credentials: user name, organization or password do not match.")
}

/// The HTTP Basic `user@org:password` of a login, as (user, org, password).
fn basic_credentials(req: &Req) -> Result<(String, String, String), ApiError> {
    let auth = req.header("Authorization").ok_or_else(|| {
        ApiError::unauthorized(
            "Authentication required: send HTTP Basic credentials user@org:password.",
        )
    })?;
    let b64 = auth
        .strip_prefix("Basic ")
        .or_else(|| auth.strip_prefix("basic "))
        .ok_or_else(bad_credentials)?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| bad_credentials())?;
    let raw = String::from_utf8(raw).map_err(|_| bad_credentials())?;
    let (who, password) = raw.split_once(':').ok_or_else(bad_credentials)?;
    let (name, org) = who.rsplit_once('@').ok_or_else(bad_credentials)?;
    Ok((name.to_owned(), org.to_owned(), password.to_owned()))
}

/// A JWT shaped like vCD's access token (header, claims, a random signature): clients pass
/// it back as a Bearer token and do not check its signature.
fn session_jwt(st: &State, user: &str, sid: &str) -> String {
    let b64u = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    format!(
        "{}.{}.{}",
        b64u.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
        b64u.encode(
            serde_json::json!({
                "iss": format!("{}@vcd-sim", st.orgs[0].id),
                "sub": user,
                "exp": now + 86_400,
                "version": "1.0",
                "jti": sid,
            })
            .to_string()
        ),
        b64u.encode(rand::random::<[u8; 32]>())
    )
}

fn session_json(st: &State, ctx: &Ctx) -> serde_json::Value {
    let role = if ctx.sysadmin {
        "System Administrator"
    } else {
        "Organization Administrator"
    };
    serde_json::json!({
        "id": format!("urn:vcloud:session:{}", ctx.session_id),
        "site": {"name": "vcd-sim", "id": format!("urn:vcloud:site:{}", st.orgs[0].id)},
        "user": {"name": ctx.user_name, "id": format!("urn:vcloud:user:{}", ctx.user_id)},
        "org": {"name": ctx.org_name, "id": format!("urn:vcloud:org:{}", ctx.org_id)},
        "location": format!("{}@vcd-sim", st.orgs[0].id),
        "roles": [role],
        "roleRefs": [{"name": role, "id": format!("urn:vcloud:role:{}", model::stable_uuid(role))}],
        "sessionIdleTimeoutMinutes": 30,
    })
}

fn ctx_for(st: &State, s: &Session, version: &str) -> Ctx {
    let u = st.user(&s.user).cloned();
    let org = u
        .as_ref()
        .and_then(|u| st.org_named(&u.org))
        .cloned()
        .unwrap_or_else(|| st.orgs[0].clone());
    Ctx {
        version: version.to_owned(),
        user_id: s.user.clone(),
        user_name: u.as_ref().map(|u| u.name.clone()).unwrap_or_default(),
        org_id: org.id,
        org_name: org.name,
        sysadmin: u.is_some_and(|u| u.sysadmin),
        session_id: s.id.clone(),
    }
}

fn authenticate(inner: &Arc<Inner>, req: &Req, version: &str) -> Result<Ctx, ApiError> {
    let st = inner.lock();
    let cookie = req.header("Cookie").and_then(|c| {
        c.split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == "vcloud-token")
            .map(|(_, v)| v.to_owned())
    });
    let found = if let Some(t) = req.header("x-vcloud-authorization") {
        st.sessions.iter().find(|s| s.token == t.trim())
    } else if let Some(b) = req.header("Authorization").and_then(|a| {
        a.strip_prefix("Bearer ")
            .or_else(|| a.strip_prefix("bearer "))
    }) {
        st.sessions
            .iter()
            .find(|s| s.jwt == b.trim() || s.token == b.trim())
    } else if let Some(c) = cookie {
        st.sessions.iter().find(|s| s.token == c)
    } else {
        return Err(ApiError::unauthorized(
            "Authentication required: log in at /api/sessions or /cloudapi/1.0.0/sessions/provider.",
        ));
    };
    let s = found.ok_or_else(|| ApiError::unauthorized("Invalid or unknown session token."))?;
    if s.expired {
        return Err(ApiError::unauthorized(
            "The session has expired: log in again.",
        ));
    }
    if s.closed {
        return Err(ApiError::unauthorized(
            "The session has been logged out: log in again.",
        ));
    }
    Ok(ctx_for(&st, s, version))
}

fn need_admin(ctx: &Ctx) -> Result<(), ApiError> {
    if ctx.sysadmin {
        Ok(())
    } else {
        Err(ApiError::forbidden_msg(
            "Access is forbidden: this operation needs a system administrator.",
        ))
    }
}

fn only(m: &str, allowed: &str) -> Result<(), ApiError> {
    if m == allowed {
        Ok(())
    } else {
        Err(ApiError::method(m))
    }
}

/// `vapp-{uuid}` → uuid.
fn strip<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    s.strip_prefix(prefix).filter(|id| model::is_uuid(id))
}

fn lower(id: &str) -> String {
    id.to_lowercase()
}

/// The authenticated API: one arm per resource, each served by its own function.
fn route(inner: &Arc<Inner>, req: &Req, ctx: &Ctx, segs: &[&str]) -> Res {
    let m = req.method.as_str();
    let admin = segs.get(1) == Some(&"admin");
    match segs {
        ["api", "session"] => legacy_session(inner, ctx, m),
        ["cloudapi", "1.0.0", "sessions", "current"] => current_session(inner, ctx, m),
        ["cloudapi", "1.0.0", "sessions", id] => delete_session(inner, ctx, m, id),
        ["api", "org"] => org_list(inner, ctx, m),
        ["api", "org", id] => org_doc(inner, ctx, m, id),
        ["api", "admin"] => admin_doc(inner, ctx, m),
        ["api", "admin", "org", id] => admin_org(inner, ctx, m, id),
        ["api", "vdc", id] | ["api", "admin", "vdc", id] => vdc_doc(inner, ctx, m, id, admin),
        ["api", "admin", "vdc", id, "networks"] => vdc_networks(inner, req, ctx, id),
        ["api", "vdcStorageProfile", id] | ["api", "admin", "vdcStorageProfile", id] => {
            profile_doc(inner, ctx, m, id)
        }
        ["api", "network", id, "allocatedAddresses"] => allocated(inner, ctx, m, id),
        ["api", "network", id] | ["api", "admin", "network", id] => {
            network_doc(inner, ctx, m, id, admin)
        }
        ["api", "catalog", id] | ["api", "admin", "catalog", id] => {
            catalog_doc(inner, ctx, m, id, admin)
        }
        ["api", "catalogItem", id] => catalog_item(inner, ctx, m, id),
        ["api", "vAppTemplate", t, rest @ ..] => template_routes(inner, req, ctx, t, rest),
        ["api", "vApp", t, rest @ ..] => vapp_routes(inner, req, ctx, t, rest),
        ["api", "task", id] => task_doc(inner, ctx, m, id),
        ["api", "task", id, "action", "cancel"] => cancel_task(inner, ctx, m, id),
        ["api", "query"] => query_doc(inner, req, ctx),
        ["api", "admin", "extension", rest @ ..] => {
            need_admin(ctx)?;
            extension(inner, req, ctx, rest)
        }
        _ => Err(ApiError::not_found(format!("No resource at {}.", req.path))),
    }
}

/// `/api/session`: the session document, or a logout.
fn legacy_session(inner: &Arc<Inner>, ctx: &Ctx, m: &str) -> Res {
    match m {
        "GET" => {
            let st = inner.lock();
            Ok(xml(ctx, r::T_SESSION, r::session(&st, ctx)))
        }
        "DELETE" => {
            close_session(inner, &ctx.session_id);
            Ok(Resp::empty(204))
        }
        _ => Err(ApiError::method(m)),
    }
}

/// `/cloudapi/1.0.0/sessions/current`: the session as JSON, or a logout.
fn current_session(inner: &Arc<Inner>, ctx: &Ctx, m: &str) -> Res {
    match m {
        "GET" => {
            let st = inner.lock();
            Ok(Resp::new(
                200,
                &format!("application/json;version={}", ctx.version),
                session_json(&st, ctx).to_string(),
            ))
        }
        "DELETE" => {
            close_session(inner, &ctx.session_id);
            Ok(Resp::empty(204))
        }
        _ => Err(ApiError::method(m)),
    }
}

/// `DELETE /cloudapi/1.0.0/sessions/{id}`: only one's own session.
fn delete_session(inner: &Arc<Inner>, ctx: &Ctx, m: &str, id: &str) -> Res {
    only(m, "DELETE")?;
    if model::uuid_in(id).as_deref() != Some(ctx.session_id.as_str()) {
        return Err(ApiError::forbidden("session", id));
    }
    close_session(inner, &ctx.session_id);
    Ok(Resp::empty(204))
}

fn org_list(inner: &Arc<Inner>, ctx: &Ctx, m: &str) -> Res {
    only(m, "GET")?;
    let st = inner.lock();
    Ok(xml(ctx, r::T_ORG_LIST, r::org_list(&st, ctx)))
}

fn org_doc(inner: &Arc<Inner>, ctx: &Ctx, m: &str, id: &str) -> Res {
    only(m, "GET")?;
    let st = inner.lock();
    let id = lower(id);
    match st.org(&id) {
        Some(o) if ctx.sees(&o.id) => Ok(xml(ctx, r::T_ORG, r::org(&st, &id, false))),
        _ => Err(ApiError::forbidden("org", &id)),
    }
}

fn admin_doc(inner: &Arc<Inner>, ctx: &Ctx, m: &str) -> Res {
    only(m, "GET")?;
    need_admin(ctx)?;
    Ok(xml(ctx, r::T_ADMIN, admin_root(&inner.lock())))
}

fn admin_org(inner: &Arc<Inner>, ctx: &Ctx, m: &str, id: &str) -> Res {
    only(m, "GET")?;
    need_admin(ctx)?;
    let st = inner.lock();
    let id = lower(id);
    st.org(&id).ok_or_else(|| ApiError::forbidden("org", &id))?;
    Ok(xml(ctx, r::T_ADMIN_ORG, r::org(&st, &id, true)))
}

/// A VDC, as a tenant (`/api/vdc`) or a system administrator (`/api/admin/vdc`) sees it.
fn vdc_doc(inner: &Arc<Inner>, ctx: &Ctx, m: &str, id: &str, admin: bool) -> Res {
    only(m, "GET")?;
    if admin {
        need_admin(ctx)?;
    }
    let st = inner.lock();
    let id = lower(id);
    match st.vdc(&id) {
        Some(v) if ctx.sees(&v.org) => {
            let t = if admin { r::T_ADMIN_VDC } else { r::T_VDC };
            Ok(xml(ctx, t, r::vdc(&st, &id, admin)))
        }
        _ => Err(ApiError::forbidden("vdc", &id)),
    }
}

fn vdc_networks(inner: &Arc<Inner>, req: &Req, ctx: &Ctx, id: &str) -> Res {
    only(req.method.as_str(), "GET")?;
    let st = inner.lock();
    let id = lower(id);
    match st.vdc(&id) {
        Some(v) if ctx.sees(&v.org) => {
            let (body, media) = query::vdc_networks(&st, ctx, &id, req)?;
            Ok(xml(ctx, media, body))
        }
        _ => Err(ApiError::forbidden("vdc", &id)),
    }
}

fn profile_doc(inner: &Arc<Inner>, ctx: &Ctx, m: &str, id: &str) -> Res {
    only(m, "GET")?;
    let st = inner.lock();
    let id = lower(id);
    match st.profile(&id).and_then(|p| st.vdc(&p.vdc)) {
        Some(v) if ctx.sees(&v.org) => Ok(xml(ctx, r::T_PROFILE, r::profile(&st, &id))),
        _ => Err(ApiError::forbidden("vdcstorageProfile", &id)),
    }
}

fn allocated(inner: &Arc<Inner>, ctx: &Ctx, m: &str, id: &str) -> Res {
    only(m, "GET")?;
    let st = inner.lock();
    let id = lower(id);
    match st.net(&id).and_then(|n| st.vdc(&n.vdc)) {
        Some(v) if ctx.sees(&v.org) => {
            Ok(xml(ctx, r::T_ALLOCATED, r::allocated_addresses(&st, &id)))
        }
        _ => Err(ApiError::forbidden("network", &id)),
    }
}

/// `/api/network/{id}` names an org VDC network or a vApp network: vCD serves both there.
fn network_doc(inner: &Arc<Inner>, ctx: &Ctx, m: &str, id: &str, admin: bool) -> Res {
    only(m, "GET")?;
    let st = inner.lock();
    let id = lower(id);
    if let Some(v) = st.net(&id).and_then(|n| st.vdc(&n.vdc)) {
        if ctx.sees(&v.org) {
            return Ok(xml(ctx, r::T_ORG_VDC_NET, r::org_net(&st, &id, admin)));
        }
    }
    for a in &st.vapps {
        if let Some(n) = a.networks.iter().find(|n| n.id == id) {
            if ctx.sysadmin || st.vdc_org(&a.vdc).is_some_and(|o| ctx.sees(&o.id)) {
                return Ok(xml(ctx, r::T_VAPP_NET, r::vapp_network(&st, a, n)));
            }
        }
    }
    Err(ApiError::forbidden("network", &id))
}

fn catalog_doc(inner: &Arc<Inner>, ctx: &Ctx, m: &str, id: &str, admin: bool) -> Res {
    only(m, "GET")?;
    if admin {
        need_admin(ctx)?;
    }
    let st = inner.lock();
    let id = lower(id);
    match st.catalog(&id) {
        Some(c) if ctx.sees(&c.org) => {
            let t = if admin {
                r::T_ADMIN_CATALOG
            } else {
                r::T_CATALOG
            };
            Ok(xml(ctx, t, r::catalog(&st, &id, admin)))
        }
        _ => Err(ApiError::forbidden("catalog", &id)),
    }
}

fn catalog_item(inner: &Arc<Inner>, ctx: &Ctx, m: &str, id: &str) -> Res {
    only(m, "GET")?;
    let st = inner.lock();
    let id = lower(id);
    match st.item(&id).and_then(|i| st.catalog(&i.catalog)) {
        Some(c) if ctx.sees(&c.org) => Ok(xml(ctx, r::T_CATALOG_ITEM, r::catalog_item(&st, &id))),
        _ => Err(ApiError::forbidden("catalogItem", &id)),
    }
}

/// A task, polled: each GET may move it on, as a client's polling sees vCD's tasks progress.
fn task_doc(inner: &Arc<Inner>, ctx: &Ctx, m: &str, id: &str) -> Res {
    only(m, "GET")?;
    let mut st = inner.lock();
    let id = lower(id);
    let t = st
        .task(&id)
        .ok_or_else(|| ApiError::forbidden("task", &id))?;
    if !ctx.sees(&t.org) {
        return Err(ApiError::forbidden("task", &id));
    }
    st.poll_task(&id);
    let t = st.task(&id).expect("exists");
    Ok(xml(ctx, r::T_TASK, r::task_doc(&st, t)))
}

fn cancel_task(inner: &Arc<Inner>, ctx: &Ctx, m: &str, id: &str) -> Res {
    only(m, "POST")?;
    let mut st = inner.lock();
    let id = lower(id);
    let t = st
        .task(&id)
        .ok_or_else(|| ApiError::forbidden("task", &id))?;
    if !ctx.sees(&t.org) {
        return Err(ApiError::forbidden("task", &id));
    }
    st.cancel_task(&id);
    Ok(Resp::empty(204))
}

/// `/api/query`: the list of query types, or one typed query.
fn query_doc(inner: &Arc<Inner>, req: &Req, ctx: &Ctx) -> Res {
    only(req.method.as_str(), "GET")?;
    let st = inner.lock();
    if req.param("type").is_none() {
        return Ok(xml(ctx, r::T_QUERY_LIST, query::query_list(&st, ctx)));
    }
    let (body, media) = query::typed(&st, ctx, req)?;
    Ok(xml(ctx, media, body))
}

fn close_session(inner: &Arc<Inner>, id: &str) {
    let mut st = inner.lock();
    if let Some(s) = st.sessions.iter_mut().find(|s| s.id == id) {
        s.closed = true;
    }
}

fn admin_root(st: &State) -> String {
    let mut o = Out::new();
    o.open(
        "VCloud",
        &[
            ("name", "vCloud"),
            ("href", &href(st, "/api/admin/")),
            ("type", r::T_ADMIN),
        ],
    );
    o.link(
        "down",
        Some(r::T_EXTENSION),
        &href(st, "/api/admin/extension"),
        None,
    );
    o.link("down", Some(r::T_QUERY_LIST), &href(st, "/api/query"), None);
    o.leaf("Description", "vcd-sim");
    o.open("OrganizationReferences", &[]);
    for org in &st.orgs {
        let h = href(st, &format!("/api/admin/org/{}", org.id));
        o.empty(
            "OrganizationReference",
            &[("type", r::T_ADMIN_ORG), ("name", &org.name), ("href", &h)],
        );
    }
    o.close("OrganizationReferences");
    o.empty("ProviderVdcReferences", &[]);
    o.empty("RightReferences", &[]);
    o.empty("RoleReferences", &[]);
    o.empty("Networks", &[]);
    o.close("VCloud");
    o.finish()
}

fn visible_vdc(st: &State, ctx: &Ctx, vdc: &str) -> bool {
    ctx.sysadmin || st.vdc(vdc).is_some_and(|v| ctx.sees(&v.org))
}

fn template_routes(inner: &Arc<Inner>, req: &Req, ctx: &Ctx, t: &str, rest: &[&str]) -> Res {
    let m = req.method.as_str();
    let st = inner.lock();
    if let Some(id) = strip(t, "vappTemplate-") {
        let id = lower(id);
        let tpl = st.template(&id).filter(|x| visible_vdc(&st, ctx, &x.vdc));
        let tpl = tpl.ok_or_else(|| ApiError::forbidden("vAppTemplate", &id))?;
        return match rest {
            [] => {
                only(m, "GET")?;
                Ok(xml(ctx, r::T_TEMPLATE, r::template(&st, tpl, ctx)))
            }
            ["networkConfigSection"] => {
                only(m, "GET")?;
                let mut o = Out::new();
                let h = href(&st, &format!("/api/vAppTemplate/vappTemplate-{id}"));
                r::net_config_section(&mut o, &st, &h, &tpl.networks, false);
                Ok(xml(ctx, r::T_NET_CONFIG, o.finish()))
            }
            _ => Err(ApiError::not_found(format!("No resource at {}.", req.path))),
        };
    }
    if let Some(id) = strip(t, "vm-") {
        let id = lower(id);
        let vm = st
            .vm(&id)
            .filter(|v| matches!(v.parent, Parent::Template(_)))
            .filter(|v| st.vm_vdc(v).is_some_and(|d| visible_vdc(&st, ctx, &d.id)))
            .ok_or_else(|| ApiError::forbidden("vm", &id))?;
        return match rest {
            [] => {
                only(m, "GET")?;
                Ok(xml(ctx, r::T_VM, r::vm_doc(&st, vm, ctx)))
            }
            ["networkConnectionSection"] => {
                only(m, "GET")?;
                let mut o = Out::new();
                r::net_conn_section(&mut o, &st, vm, false);
                Ok(xml(ctx, r::T_NET_CONN, o.finish()))
            }
            _ => Err(ApiError::not_found(format!("No resource at {}.", req.path))),
        };
    }
    Err(ApiError::not_found(format!("No resource at {}.", req.path)))
}

fn content_type_is(req: &Req, want: &str) -> Result<(), ApiError> {
    let got = req.header("Content-Type").unwrap_or("");
    let base = got.split(';').next().unwrap_or("").trim();
    if base.eq_ignore_ascii_case(want) {
        Ok(())
    } else {
        Err(ApiError::media_type(got, want))
    }
}

fn parse_body(req: &Req) -> Result<Element, ApiError> {
    if req.body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::bad_request("The request has no body."));
    }
    Element::parse(&req.body)
        .map_err(|e| ApiError::jaxb(format!("The request body is not well-formed XML: {e}")))
}

/// camelCase → CAMEL_CASE (vCD's BUSY_ENTITY message names the operation so).
fn op_upper(op: &str) -> String {
    let mut s = String::new();
    for c in op.chars() {
        if c.is_ascii_uppercase() && !s.is_empty() {
            s.push('_');
        }
        s.push(c.to_ascii_uppercase());
    }
    s
}

fn check_busy(st: &State, entity: &str, name: &str, urn: &str) -> Result<(), ApiError> {
    match st.busy(entity) {
        Some(t) => Err(ApiError::busy(name, urn, &op_upper(&t.op_name))),
        None => Ok(()),
    }
}

fn vapp_routes(inner: &Arc<Inner>, req: &Req, ctx: &Ctx, t: &str, rest: &[&str]) -> Res {
    let m = req.method.as_str();
    if let Some(id) = strip(t, "vapp-") {
        let id = lower(id);
        {
            let st = inner.lock();
            let a = st.vapp(&id).filter(|a| visible_vdc(&st, ctx, &a.vdc));
            let a = a.ok_or_else(|| ApiError::forbidden("vApp", &format!("vapp-{id}")))?;
            match (m, rest) {
                ("GET", []) => return Ok(xml(ctx, r::T_VAPP, r::vapp(&st, a, ctx))),
                ("GET", ["networkConfigSection"]) => {
                    let mut o = Out::new();
                    let h = href(&st, &format!("/api/vApp/vapp-{id}"));
                    r::net_config_section(&mut o, &st, &h, &a.networks, true);
                    return Ok(xml(ctx, r::T_NET_CONFIG, o.finish()));
                }
                _ => {}
            }
        }
        return match (m, rest) {
            ("DELETE", []) => delete_vapp(inner, ctx, &id),
            ("PUT", ["networkConfigSection"]) => put_net_config(inner, req, ctx, &id),
            ("POST", ["power", "action", action]) => power(inner, ctx, &id, action),
            (_, []) | (_, ["networkConfigSection"]) => Err(ApiError::method(m)),
            _ => Err(ApiError::not_found(format!("No resource at {}.", req.path))),
        };
    }
    if let Some(id) = strip(t, "vm-") {
        let id = lower(id);
        {
            let st = inner.lock();
            let vm = st
                .vm(&id)
                .filter(|v| matches!(v.parent, Parent::VApp(_)))
                .filter(|v| st.vm_vdc(v).is_some_and(|d| visible_vdc(&st, ctx, &d.id)))
                .ok_or_else(|| ApiError::forbidden("vm", &format!("vm-{id}")))?;
            match (m, rest) {
                ("GET", []) => return Ok(xml(ctx, r::T_VM, r::vm_doc(&st, vm, ctx))),
                ("GET", ["networkConnectionSection"]) => {
                    let mut o = Out::new();
                    r::net_conn_section(&mut o, &st, vm, true);
                    return Ok(xml(ctx, r::T_NET_CONN, o.finish()));
                }
                _ => {}
            }
        }
        return match (m, rest) {
            ("PUT", ["networkConnectionSection"]) => put_net_conn(inner, req, ctx, &id),
            (_, []) | (_, ["networkConnectionSection"]) => Err(ApiError::method(m)),
            _ => Err(ApiError::not_found(format!("No resource at {}.", req.path))),
        };
    }
    Err(ApiError::not_found(format!("No resource at {}.", req.path)))
}

fn accepted_task(st: &State, ctx: &Ctx, task: &str) -> Resp {
    let t = st.task(task).expect("just created");
    Resp::new(
        202,
        &format!("{};version={}", r::T_TASK, ctx.version),
        r::task_doc(st, t),
    )
}

fn vapp_locks(st: &State, vapp: &str) -> Vec<String> {
    let mut l = vec![vapp.to_owned()];
    l.extend(st.vapp_vms(vapp).iter().map(|v| v.id.clone()));
    l
}

fn power(inner: &Arc<Inner>, ctx: &Ctx, id: &str, action: &str) -> Res {
    let mut st = inner.lock();
    let a = st.vapp(id).cloned().expect("checked");
    let urn = format!("urn:vcloud:vapp:{id}");
    let (op, verb, effect, want) = match action {
        "powerOn" => (
            "vappPowerOn",
            "Starting",
            Effect::PowerOn {
                vapp: id.to_owned(),
            },
            8,
        ),
        "powerOff" => (
            "vappPowerOff",
            "Stopping",
            Effect::PowerOff {
                vapp: id.to_owned(),
            },
            4,
        ),
        _ => return Err(ApiError::not_found(format!("No power action {action}."))),
    };
    check_busy(&st, id, &a.name, &urn)?;
    if a.status != want {
        return Err(ApiError::bad_request(format!(
            "The requested operation could not be executed since vApp \"{}\" is {}.",
            a.name,
            query::status_name(a.status)
        )));
    }
    if action == "powerOn" && st.vapp_vms(id).is_empty() {
        return Err(ApiError::bad_request(format!(
            "vApp \"{}\" has no VMs to power on.",
            a.name
        )));
    }
    let org = st.vdc(&a.vdc).map(|v| v.org.clone()).unwrap_or_default();
    let locks = vapp_locks(&st, id);
    let task = st.new_task(NewTask {
        op_name: op,
        operation: format!("{verb} Virtual Application {}({id})", a.name),
        owner: Owner::VApp(id.to_owned()),
        owner_name: &a.name,
        org: &org,
        user: &ctx.user_id,
        effect,
        locks,
        fail: None,
    });
    Ok(accepted_task(&st, ctx, &task))
}

fn delete_vapp(inner: &Arc<Inner>, ctx: &Ctx, id: &str) -> Res {
    let mut st = inner.lock();
    let a = st.vapp(id).cloned().expect("checked");
    check_busy(&st, id, &a.name, &format!("urn:vcloud:vapp:{id}"))?;
    if a.deployed {
        return Err(ApiError::bad_request(format!(
            "The requested operation could not be executed since vApp \"{}\" is running: power it off first.",
            a.name
        )));
    }
    let org = st.vdc(&a.vdc).map(|v| v.org.clone()).unwrap_or_default();
    let locks = vapp_locks(&st, id);
    let task = st.new_task(NewTask {
        op_name: "vdcDeleteVapp",
        operation: format!("Deleting Virtual Application {}({id})", a.name),
        owner: Owner::VApp(id.to_owned()),
        owner_name: &a.name,
        org: &org,
        user: &ctx.user_id,
        effect: Effect::DeleteVApp {
            vapp: id.to_owned(),
        },
        locks,
        fail: None,
    });
    Ok(accepted_task(&st, ctx, &task))
}

const NET_CONFIG_SECTION: &[Slot] = &[req("Info", O), many("Link", C), many("NetworkConfig", C)];
const NET_CONFIG: &[Slot] = &[
    many("Link", C),
    opt("Description", C),
    req("Configuration", C),
    opt("IsDeployed", C),
];
const CONFIGURATION: &[Slot] = &[
    opt("BackwardCompatibilityMode", C),
    opt("IpScope", C),
    opt("IpScopes", C),
    opt("ParentNetwork", C),
    req("FenceMode", C),
    opt("RetainNetInfoAcrossDeployments", C),
    opt("Features", C),
    opt("SyslogServerSettings", C),
    opt("RouterInfo", C),
    opt("SubInterface", C),
    opt("DistributedInterface", C),
    opt("ServiceInterface", C),
    opt("GuestVlanAllowed", C),
    opt("Connected", C),
    opt("DualStackNetwork", C),
];
const NET_CONN_SECTION: &[Slot] = &[
    req("Info", O),
    opt("PrimaryNetworkConnectionIndex", C),
    many("NetworkConnection", C),
    many("Link", C),
];
const NET_CONN: &[Slot] = &[
    req("NetworkConnectionIndex", C),
    opt("IpAddress", C),
    opt("IpType", C),
    opt("SecondaryIpAddress", C),
    opt("SecondaryIpType", C),
    opt("ExternalIpAddress", C),
    req("IsConnected", C),
    opt("MACAddress", C),
    req("IpAddressAllocationMode", C),
    opt("SecondaryIpAddressAllocationMode", C),
    opt("NetworkAdapterType", C),
];

fn attr_required(el: &Element, attr: &str) -> Result<String, ApiError> {
    el.attr(attr).map(str::to_owned).ok_or_else(|| {
        ApiError::jaxb(format!(
            "cvc-complex-type.4: Attribute '{attr}' must appear on element '{}'.",
            el.name
        ))
    })
}

fn enumeration(v: &str, allowed: &[&str]) -> Result<String, ApiError> {
    if allowed.contains(&v) {
        Ok(v.to_owned())
    } else {
        Err(ApiError::jaxb(format!(
            "cvc-enumeration-valid: Value '{v}' is not facet-valid with respect to enumeration '[{}]'. It must be a value from the enumeration.",
            allowed.join(", ")
        )))
    }
}

fn bool_of(el: &Element, local: &str, default: bool) -> Result<bool, ApiError> {
    match x::text(el, local, C) {
        Some(v) => x::boolean(v, local).map_err(ApiError::jaxb),
        None => Ok(default),
    }
}

/// Resolves an org VDC network href for a vApp in `vdc`.
fn resolve_parent(st: &State, href_: &str, vdc: &str) -> Result<String, ApiError> {
    let id = model::uuid_in(href_)
        .filter(|_| href_.contains("/network/"))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "ParentNetwork href {href_:?} is not an org VDC network reference."
            ))
        })?;
    let net = st
        .net(&id)
        .ok_or_else(|| ApiError::forbidden("network", &id))?;
    let same_vdc = net.vdc == vdc;
    let shared_in_org =
        net.shared && st.vdc(&net.vdc).map(|v| &v.org) == st.vdc(vdc).map(|v| &v.org);
    if !same_vdc && !shared_in_org {
        return Err(ApiError::bad_request(format!(
            "The org VDC network \"{}\" does not belong to VDC \"{}\" of this vApp.",
            net.name,
            st.vdc(vdc).map(|v| v.name.as_str()).unwrap_or("?")
        )));
    }
    Ok(id)
}

/// A bridged vApp network takes its addressing from the org VDC network: vCD refuses one
/// that carries its own IP scope, network services or router (what an isolated or routed
/// network had). An inherited scope, as vCD itself shows a bridged network, is fine. The
/// text is ours; the rule follows pyvcloud's `connect_org_vdc_network`, which sends only
/// ParentNetwork, FenceMode and RetainNetInfoAcrossDeployments.
fn bridged_is_clean(cfg: &Element, name: &str) -> Result<(), ApiError> {
    let own_scope = x::child(cfg, "IpScopes", C)
        .into_iter()
        .flat_map(|s| x::children(s, "IpScope", C))
        .any(|s| x::text(s, "IsInherited", C) != Some("true"));
    let leftovers: Vec<&str> = [
        ("IpScopes", own_scope),
        ("IpScope", x::child(cfg, "IpScope", C).is_some()),
        ("Features", x::child(cfg, "Features", C).is_some()),
        ("RouterInfo", x::child(cfg, "RouterInfo", C).is_some()),
    ]
    .into_iter()
    .filter_map(|(n, bad)| bad.then_some(n))
    .collect();
    if leftovers.is_empty() {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "vApp network \"{name}\" is bridged: it inherits its IP settings from its parent network and cannot have {}.",
        leftovers.join(", ")
    )))
}

fn put_net_config(inner: &Arc<Inner>, req: &Req, ctx: &Ctx, id: &str) -> Res {
    content_type_is(req, r::T_NET_CONFIG)?;
    let el = parse_body(req)?;
    x::check_root(&el, x::VCLOUD, "NetworkConfigSection").map_err(ApiError::jaxb)?;
    x::check_sequence(&el, NET_CONFIG_SECTION).map_err(ApiError::jaxb)?;
    let mut st = inner.lock();
    let a = st
        .vapp(id)
        .cloned()
        .ok_or_else(|| ApiError::forbidden("vApp", id))?;
    let mut nets: Vec<VAppNet> = vec![];
    for nc in x::children(&el, "NetworkConfig", C) {
        let net = vapp_net_of(&st, &a, nc, &nets)?;
        nets.push(net);
    }
    nics_keep_networks(&st, id, &nets)?;
    check_busy(&st, id, &a.name, &format!("urn:vcloud:vapp:{id}"))?;
    let org = st.vdc(&a.vdc).map(|v| v.org.clone()).unwrap_or_default();
    let locks = vapp_locks(&st, id);
    let task = st.new_task(NewTask {
        op_name: "vappUpdateNetworkConfigSection",
        operation: format!("Updating Virtual Application {}({id})", a.name),
        owner: Owner::VApp(id.to_owned()),
        owner_name: &a.name,
        org: &org,
        user: &ctx.user_id,
        effect: Effect::NetConfig {
            vapp: id.to_owned(),
            nets,
        },
        locks,
        fail: None,
    });
    Ok(accepted_task(&st, ctx, &task))
}

/// One `NetworkConfig` of vApp `a` as the network it becomes; `nets` are those before it
/// in the section. A network that keeps its name keeps its id (and its scope if none is sent).
fn vapp_net_of(st: &State, a: &VApp, nc: &Element, nets: &[VAppNet]) -> Result<VAppNet, ApiError> {
    let name = attr_required(nc, "networkName")?;
    x::check_sequence(nc, NET_CONFIG).map_err(ApiError::jaxb)?;
    let cfg = x::child(nc, "Configuration", C).expect("checked");
    x::check_sequence(cfg, CONFIGURATION).map_err(ApiError::jaxb)?;
    let fence = enumeration(
        x::text(cfg, "FenceMode", C).unwrap_or(""),
        &["isolated", "bridged", "natRouted"],
    )?;
    let parent = match x::child(cfg, "ParentNetwork", C) {
        Some(p) => {
            let h = attr_required(p, "href")?;
            Some(resolve_parent(st, &h, &a.vdc)?)
        }
        None => None,
    };
    if fence == "bridged" {
        bridged_is_clean(cfg, &name)?;
    }
    if fence != "isolated" && parent.is_none() {
        return Err(ApiError::bad_request(format!(
            "vApp network \"{name}\" with fence mode {fence} needs a ParentNetwork (an org VDC network)."
        )));
    }
    if nets.iter().any(|n| n.name.eq_ignore_ascii_case(&name)) {
        return Err(ApiError::duplicate(&format!("network {name}")));
    }
    let scope = x::child(cfg, "IpScopes", C)
        .and_then(|s| x::child(s, "IpScope", C))
        .map(|s| IpScope {
            inherited: x::text(s, "IsInherited", C) == Some("true"),
            gateway: x::text(s, "Gateway", C).unwrap_or("").to_owned(),
            netmask: x::text(s, "Netmask", C)
                .unwrap_or("255.255.255.0")
                .to_owned(),
            enabled: x::text(s, "IsEnabled", C) != Some("false"),
        });
    let existing = a.networks.iter().find(|n| n.name == name);
    Ok(VAppNet {
        id: existing.map(|n| n.id.clone()).unwrap_or_else(new_uuid),
        name: name.clone(),
        description: x::text(nc, "Description", C).map(str::to_owned),
        scope: if parent.is_some() {
            None
        } else {
            scope.or_else(|| existing.and_then(|n| n.scope.clone()))
        },
        parent: if fence == "isolated" { None } else { parent },
        fence_mode: fence,
        retain: bool_of(cfg, "RetainNetInfoAcrossDeployments", false)?,
        deployed: bool_of(nc, "IsDeployed", false)?,
    })
}

/// vCD refuses to remove a vApp network a VM's NIC is still connected to.
fn nics_keep_networks(st: &State, vapp: &str, nets: &[VAppNet]) -> Result<(), ApiError> {
    for v in st.vapp_vms(vapp) {
        for n in &v.nics {
            if n.network != "none" && !nets.iter().any(|x| x.name == n.network) {
                return Err(ApiError::bad_request(format!(
                    "The vApp network \"{}\" cannot be removed: NIC {} of VM \"{}\" is connected to it.",
                    n.network, n.index, v.name
                )));
            }
        }
    }
    Ok(())
}

fn new_mac() -> String {
    let b: [u8; 3] = rand::random();
    format!("00:50:56:{:02x}:{:02x}:{:02x}", b[0] & 0x3f, b[1], b[2])
}

fn put_net_conn(inner: &Arc<Inner>, req: &Req, ctx: &Ctx, id: &str) -> Res {
    content_type_is(req, r::T_NET_CONN)?;
    let el = parse_body(req)?;
    x::check_root(&el, x::VCLOUD, "NetworkConnectionSection").map_err(ApiError::jaxb)?;
    x::check_sequence(&el, NET_CONN_SECTION).map_err(ApiError::jaxb)?;
    let mut st = inner.lock();
    let vm = st
        .vm(id)
        .cloned()
        .ok_or_else(|| ApiError::forbidden("vm", id))?;
    let Parent::VApp(vapp_id) = vm.parent.clone() else {
        return Err(ApiError::method("PUT"));
    };
    let a = st.vapp(&vapp_id).cloned().expect("VM's vApp");
    let mut nics: Vec<Nic> = vec![];
    for nc in x::children(&el, "NetworkConnection", C) {
        let nic = nic_of(&a, &vm, nc, &nics)?;
        nics.push(nic);
    }
    let primary = primary_nic(&el, &nics)?;
    check_busy(&st, id, &vm.name, &format!("urn:vcloud:vm:{id}"))?;
    let org = st.vdc(&a.vdc).map(|v| v.org.clone()).unwrap_or_default();
    let task = st.new_task(NewTask {
        op_name: "vappUpdateVm",
        operation: format!("Updating Virtual Machine {}({id})", vm.name),
        owner: Owner::Vm(id.to_owned()),
        owner_name: &vm.name,
        org: &org,
        user: &ctx.user_id,
        effect: Effect::NetConnection {
            vm: id.to_owned(),
            primary,
            nics,
        },
        locks: vec![id.to_owned(), vapp_id.clone()],
        fail: None,
    });
    Ok(accepted_task(&st, ctx, &task))
}

/// One `NetworkConnection` of `vm` (in vApp `a`) as the NIC it becomes; `nics` are those
/// before it. What is not sent (MAC, adapter, a POOL address) stays as the NIC had it.
fn nic_of(a: &VApp, vm: &Vm, nc: &Element, nics: &[Nic]) -> Result<Nic, ApiError> {
    let network = attr_required(nc, "network")?;
    x::check_sequence(nc, NET_CONN).map_err(ApiError::jaxb)?;
    let idx_text = x::text(nc, "NetworkConnectionIndex", C).unwrap_or("");
    let index: u32 = idx_text.parse().map_err(|_| {
        ApiError::jaxb(format!(
            "cvc-datatype-valid.1.2.1: '{idx_text}' is not a valid value for 'int'."
        ))
    })?;
    if nics.iter().any(|n| n.index == index) {
        return Err(ApiError::bad_request(format!(
            "NetworkConnectionIndex {index} appears twice."
        )));
    }
    let connected = bool_of(nc, "IsConnected", false)?;
    let mode = enumeration(
        x::text(nc, "IpAddressAllocationMode", C).unwrap_or(""),
        &["POOL", "DHCP", "MANUAL", "NONE"],
    )?;
    let ip = x::text(nc, "IpAddress", C)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    if mode == "MANUAL" {
        manual_ip(ip.as_deref(), index)?;
    }
    let known = a.networks.iter().any(|n| n.name == network);
    if !known && (network != "none" || connected) {
        return Err(ApiError::bad_request(format!(
            "The VCD entity network \"{network}\" does not exist."
        )));
    }
    let old = vm.nics.iter().find(|n| n.index == index);
    // A POOL address stays with the NIC while it stays on the same network.
    let ip = match old {
        Some(o) if mode == "POOL" && o.network != network => None,
        Some(o) if mode == "POOL" && ip.is_none() && o.mode == "POOL" => o.ip.clone(),
        _ => ip,
    };
    Ok(Nic {
        index,
        network,
        connected,
        mode,
        ip,
        mac: x::text(nc, "MACAddress", C)
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .or_else(|| old.map(|o| o.mac.clone()))
            .unwrap_or_else(new_mac),
        adapter: x::text(nc, "NetworkAdapterType", C)
            .map(str::to_owned)
            .or_else(|| old.map(|o| o.adapter.clone()))
            .unwrap_or_else(|| "VMXNET3".into()),
    })
}

/// A MANUAL NIC needs an IPv4 address.
fn manual_ip(ip: Option<&str>, index: u32) -> Result<(), ApiError> {
    match ip {
        Some(i) if model::ipv4(i).is_some() => Ok(()),
        Some(i) => Err(ApiError::bad_request(format!(
            "IpAddress {i:?} is not an IPv4 address."
        ))),
        None => Err(ApiError::bad_request(format!(
            "NIC {index}: IpAddressAllocationMode MANUAL needs an IpAddress."
        ))),
    }
}

/// `PrimaryNetworkConnectionIndex`, which must name one of `nics`; without it, the first.
fn primary_nic(el: &Element, nics: &[Nic]) -> Result<Option<u32>, ApiError> {
    let Some(p) = x::text(el, "PrimaryNetworkConnectionIndex", C) else {
        return Ok(nics.first().map(|n| n.index));
    };
    let p: u32 = p.parse().map_err(|_| {
        ApiError::jaxb(format!(
            "cvc-datatype-valid.1.2.1: '{p}' is not a valid value for 'int'."
        ))
    })?;
    if !nics.iter().any(|n| n.index == p) {
        return Err(ApiError::bad_request(format!(
            "PrimaryNetworkConnectionIndex {p} names no NetworkConnection."
        )));
    }
    Ok(Some(p))
}

// ---- the extension: vimServer, vmsList, imports ----

fn extension(inner: &Arc<Inner>, req: &Req, ctx: &Ctx, rest: &[&str]) -> Res {
    let m = req.method.as_str();
    match rest {
        [] => {
            only(m, "GET")?;
            Ok(xml(ctx, r::T_EXTENSION, extension_doc(&inner.lock())))
        }
        ["vimServerReferences"] => {
            only(m, "GET")?;
            Ok(xml(ctx, r::T_VIM_REFS, vim_server_refs(&inner.lock())))
        }
        ["vimServer", id, more @ ..] => vim_server(inner, req, ctx, id, more),
        _ => Err(ApiError::not_found(format!("No resource at {}.", req.path))),
    }
}

fn extension_doc(st: &State) -> String {
    let mut o = Out::new();
    o.open(
        "vmext:VMWExtension",
        &[
            ("href", &href(st, "/api/admin/extension")),
            ("type", r::T_EXTENSION),
        ],
    );
    o.link(
        "down",
        Some(r::T_VIM_REFS),
        &href(st, "/api/admin/extension/vimServerReferences"),
        None,
    );
    o.close("vmext:VMWExtension");
    o.finish()
}

fn vim_server_refs(st: &State) -> String {
    let mut o = Out::new();
    o.open(
        "vmext:VMWVimServerReferences",
        &[
            (
                "href",
                &href(st, "/api/admin/extension/vimServerReferences"),
            ),
            ("type", r::T_VIM_REFS),
        ],
    );
    if let Some(vc) = &st.vcenter {
        let h = href(st, &format!("/api/admin/extension/vimServer/{}", vc.id));
        o.empty(
            "vmext:VimServerReference",
            &[("type", r::T_VIM), ("name", &vc.name), ("href", &h)],
        );
    }
    o.close("vmext:VMWVimServerReferences");
    o.finish()
}

/// `/api/admin/extension/vimServer/{id}/…`: the registered vCenter, its VMs and the imports.
fn vim_server(inner: &Arc<Inner>, req: &Req, ctx: &Ctx, id: &str, more: &[&str]) -> Res {
    let m = req.method.as_str();
    let id = lower(id);
    let vc = inner
        .lock()
        .vcenter
        .clone()
        .filter(|v| v.id == id)
        .ok_or_else(|| ApiError::forbidden("vimserver", &id))?;
    match more {
        [] => {
            only(m, "GET")?;
            Ok(xml(ctx, r::T_VIM, vim_server_doc(&inner.lock(), &vc)))
        }
        ["vmsList"] => {
            only(m, "GET")?;
            vms_list(inner, req, ctx, &vc)
        }
        [op @ ("importVmAsVApp" | "importVmAsVAppTemplate" | "importVmIntoExistingVApp")] => {
            only(m, "POST")?;
            import(inner, req, ctx, &vc, op)
        }
        _ => Err(ApiError::not_found(format!("No resource at {}.", req.path))),
    }
}

fn vim_server_doc(st: &State, vc: &model::Vcenter) -> String {
    let base = href(st, &format!("/api/admin/extension/vimServer/{}", vc.id));
    let mut o = Out::new();
    let urn = format!("urn:vcloud:vimserver:{}", vc.id);
    o.open(
        "vmext:VimServer",
        &[
            ("name", &vc.name),
            ("id", &urn),
            ("href", &base),
            ("type", r::T_VIM),
        ],
    );
    o.link(
        "down",
        Some(r::T_VMS_LIST),
        &format!("{base}/vmsList"),
        None,
    );
    for (media, action) in [
        (r::T_IMPORT_VAPP, "importVmAsVApp"),
        (r::T_IMPORT_TEMPLATE, "importVmAsVAppTemplate"),
        (r::T_IMPORT_INTO, "importVmIntoExistingVApp"),
    ] {
        o.link("add", Some(media), &format!("{base}/{action}"), None);
    }
    o.leaf("Description", "");
    o.leaf("vmext:Username", &vc.username);
    o.leaf("vmext:Url", &vc.url);
    o.leaf("vmext:IsEnabled", &vc.enabled.to_string());
    o.leaf("vmext:IsConnected", &vc.connected.to_string());
    o.leaf("vmext:Uuid", &vc.id);
    o.leaf("vmext:VcVersion", &vc.version);
    o.close("vmext:VimServer");
    o.finish()
}

fn vms_list(inner: &Arc<Inner>, req: &Req, ctx: &Ctx, vc: &model::Vcenter) -> Res {
    let number = |name, default, why| {
        req.number_param(name, default, 1..=u64::MAX)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| ApiError::bad_request(why))
    };
    let page = number("page", 1, "page must be a number of at least 1")?;
    let size = number("pageSize", 100, "pageSize must be a positive number")?;
    let all = inner.backend.list().map_err(|e| {
        ApiError::internal(format!(
            "Unable to perform this action. Contact your cloud administrator. (vCenter {}: {e})",
            vc.name
        ))
    })?;
    let st = inner.lock();
    // VMs moved into vCD are vCD's now; copies leave the source behind.
    let listed: Vec<&(String, String)> = all
        .iter()
        .filter(|(m, _)| !st.vms.iter().any(|v| &v.moref == m && v.source_move))
        .collect();
    let pages = listed.len().div_ceil(size).max(1);
    let base = href(&st, &format!("/api/admin/extension/vimServer/{}", vc.id));
    let mut o = Out::new();
    let (pg, np) = (page.to_string(), pages.to_string());
    o.open(
        "vmext:VmObjectRefsList",
        &[
            ("page", &pg),
            ("numberOfPages", &np),
            ("href", &format!("{base}/vmsList")),
            ("type", r::T_VMS_LIST),
        ],
    );
    for (moref, name) in listed.iter().skip((page - 1) * size).take(size) {
        o.open("vmext:VmObjectRef", &[("name", name)]);
        o.empty(
            "vmext:VimServerRef",
            &[("type", r::T_VIM), ("name", &vc.name), ("href", &base)],
        );
        o.leaf("vmext:MoRef", moref);
        o.leaf("vmext:VimObjectType", "VIRTUAL_MACHINE");
        o.close("vmext:VmObjectRef");
    }
    o.close("vmext:VmObjectRefsList");
    Ok(xml(ctx, r::T_VMS_LIST, o.finish()))
}

const IMPORT_VAPP: &[Slot] = &[
    many("VCloudExtension", C),
    opt("Description", C),
    opt("VAppParent", C),
    opt("InstantiationParams", C),
    opt("VmName", VC),
    opt("VAppScopedLocalId", VC),
    opt("ComputerName", VC),
    req("VmMoRef", VC),
    opt("VdcStorageProfile", VC),
    req("Vdc", VC),
    many("ImportedDisk", VC),
];
const IMPORT_TEMPLATE: &[Slot] = &[
    many("VCloudExtension", C),
    opt("Description", C),
    opt("VmName", VC),
    opt("VAppScopedLocalId", VC),
    opt("ComputerName", VC),
    req("VmMoRef", VC),
    req("Vdc", VC),
    opt("VdcStorageProfile", VC),
    opt("Catalog", VC),
];
const IMPORT_INTO: &[Slot] = &[
    many("VCloudExtension", C),
    opt("VmName", VC),
    opt("VmDescription", VC),
    opt("VAppScopedLocalId", VC),
    opt("ComputerName", VC),
    req("VmMoRef", VC),
    opt("VdcStorageProfile", VC),
    req("VApp", VC),
    many("ImportedDisk", VC),
];
const IMPORTED_DISK: &[Slot] = &[many("VCloudExtension", C), req("VdcStorageProfile", VC)];

/// An href of `kind` (`/api/vdc/{id}`, `/api/admin/vdc/{id}`, …) → id.
fn ref_id(el: &Element, segment: &str, prefix: &str) -> Result<String, ApiError> {
    let h = attr_required(el, "href")?;
    let ok = h.contains(&format!("/{segment}/{prefix}"));
    match model::uuid_in(&h) {
        Some(id) if ok => Ok(id),
        _ => Err(ApiError::bad_request(format!(
            "{} href {h:?} is not a reference to a {segment}.",
            el.name
        ))),
    }
}

fn resolve_profile(st: &State, el: &Element, vdc: &str) -> Result<String, ApiError> {
    let id = ref_id(el, "vdcStorageProfile", "")?;
    let p = st
        .profile(&id)
        .ok_or_else(|| ApiError::forbidden("vdcstorageProfile", &id))?;
    if p.vdc != vdc {
        return Err(ApiError::bad_request(format!(
            "Storage profile \"{}\" is not a storage profile of VDC \"{}\".",
            p.name,
            st.vdc(vdc).map(|v| v.name.as_str()).unwrap_or("?")
        )));
    }
    Ok(id)
}

/// Each `ImportedDisk` as (instance id, profile id): the instance must be a disk of the VM
/// (its device key in vCenter) and appear once, the profile one of the VDC's.
fn disk_placements(
    st: &State,
    el: &Element,
    vcvm: &super::vcenter::VcVm,
    vdc: &str,
) -> Result<Vec<(i32, String)>, ApiError> {
    let mut out: Vec<(i32, String)> = vec![];
    for d in x::children(el, "ImportedDisk", VC) {
        let raw = attr_required(d, "instanceId")?;
        let key = raw
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|k| vcvm.disks.iter().any(|(dk, _)| dk == k))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "ImportedDisk instanceId \"{raw}\" is not a disk of virtual machine {}.",
                    vcvm.moref
                ))
            })?;
        if out.iter().any(|(k, _)| *k == key) {
            return Err(ApiError::bad_request(format!(
                "ImportedDisk instanceId \"{raw}\" is given twice."
            )));
        }
        let profile = x::child(d, "VdcStorageProfile", VC).expect("checked");
        out.push((key, resolve_profile(st, profile, vdc)?));
    }
    Ok(out)
}

/// vCD counts an imported VM's disks against the storage profile each lands on.
fn charge_storage(
    st: &mut State,
    vcvm: &super::vcenter::VcVm,
    vm_profile: &str,
    disks: &[(i32, String)],
) {
    for (key, kb) in &vcvm.disks {
        let on = disks
            .iter()
            .find(|(k, _)| k == key)
            .map_or(vm_profile, |(_, p)| p.as_str());
        if let Some(p) = st.profiles.iter_mut().find(|p| p.id == on) {
            p.used_mb = p.used_mb.saturating_add(kb.div_ceil(1024));
        }
    }
}

fn nics_from(vcvm: &super::vcenter::VcVm) -> (Vec<Nic>, Vec<String>) {
    let mut nets: Vec<String> = vec![];
    let nics = vcvm
        .nics
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if let Some(net) = &n.network {
                if !nets.contains(net) {
                    nets.push(net.clone());
                }
            }
            Nic {
                index: i as u32,
                network: n.network.clone().unwrap_or_else(|| "none".into()),
                connected: n.connected && n.network.is_some(),
                mode: if n.network.is_some() { "DHCP" } else { "NONE" }.into(),
                ip: None,
                mac: n.mac.clone().unwrap_or_else(new_mac),
                adapter: n.adapter.clone(),
            }
        })
        .collect();
    (nics, nets)
}

/// The vApp network vCD makes for a vCenter port group the imported VM was on.
fn portgroup_net(name: &str) -> VAppNet {
    VAppNet {
        id: new_uuid(),
        name: name.to_owned(),
        description: None,
        parent: None,
        fence_mode: "isolated".into(),
        retain: false,
        deployed: false,
        scope: Some(IpScope {
            inherited: false,
            gateway: "192.168.254.1".into(),
            netmask: "255.255.255.0".into(),
            enabled: true,
        }),
    }
}

/// What an import request's body says, read and checked before anything is looked up.
struct ImportParams {
    el: Element,
    source_move: bool,
    gold_master: bool,
    moref: String,
    vm_name: Option<String>,
    computer: Option<String>,
    local_id: Option<String>,
    description: String,
    name_attr: Option<String>,
}

/// Where an import lands: (vdc, vApp target, storage profile, catalog).
struct ImportRefs {
    vdc: String,
    vapp: Option<String>,
    profile: String,
    catalog: Option<String>,
}

/// An import with everything resolved: what each of the three operations builds from.
struct Import {
    params: ImportParams,
    refs: ImportRefs,
    vdc_org: String,
    vm_name: String,
    nics: Vec<Nic>,
    portgroups: Vec<String>,
    disks: Vec<(i32, String)>,
    copy_on: Option<String>,
    now: String,
}

impl Import {
    /// The imported VM, held by `parent`.
    fn vm(&self, parent: Parent, id: String) -> Vm {
        let p = &self.params;
        Vm {
            id,
            name: self.vm_name.clone(),
            description: p.description.clone(),
            parent,
            status: 0,
            deployed: false,
            moref: p.moref.clone(),
            source_move: p.source_move,
            primary: self.nics.first().map(|n| n.index),
            nics: self.nics.clone(),
            local_id: p.local_id.clone().unwrap_or_else(new_uuid),
            computer_name: p.computer.clone().unwrap_or_else(|| {
                self.vm_name
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .take(15)
                    .collect()
            }),
            profile: self.refs.profile.clone(),
            disks: self.disks.clone(),
            created: self.now.clone(),
        }
    }

    /// The name of the new vApp or template: the `name` attribute, else the VM's.
    fn entity_name(&self) -> String {
        self.params
            .name_attr
            .clone()
            .unwrap_or_else(|| self.vm_name.clone())
    }

    /// One vApp network per port group the VM was on in vCenter.
    fn networks(&self) -> Vec<VAppNet> {
        self.portgroups.iter().map(|p| portgroup_net(p)).collect()
    }
}

fn import(inner: &Arc<Inner>, req: &Req, ctx: &Ctx, vc: &model::Vcenter, op: &str) -> Res {
    let params = import_params(req, op)?;
    // Before asking vCenter: the vCenter's state and the references.
    import_refs(&inner.lock(), vc, &params, op)?;
    let vcvm = source_vm(inner, vc, &params.moref)?;
    let mut st = inner.lock();
    let refs = import_refs(&st, vc, &params, op)?;
    let disks = disk_placements(&st, &params.el, &vcvm, &refs.vdc)?;
    charge_storage(&mut st, &vcvm, &refs.profile, &disks);
    let vdc_org = st.vdc(&refs.vdc).map(|v| v.org.clone()).unwrap_or_default();
    let copy_on = (!params.source_move && vcvm.power_state != "poweredOff").then(|| {
        format!(
            "Cannot copy virtual machine \"{}\" ({}): it is {}. Power it off, or import it with sourceMove=\"true\".",
            vcvm.name, params.moref, vcvm.power_state
        )
    });
    let (nics, portgroups) = nics_from(&vcvm);
    let vm_name = params.vm_name.clone().unwrap_or_else(|| vcvm.name.clone());
    let imp = Import {
        params,
        refs,
        vdc_org,
        vm_name,
        nics,
        portgroups,
        disks,
        copy_on,
        now: now_iso(),
    };
    match op {
        "importVmAsVApp" => import_as_vapp(&mut st, ctx, imp),
        "importVmAsVAppTemplate" => import_as_template(&mut st, ctx, imp),
        _ => import_into_vapp(&mut st, ctx, imp),
    }
}

/// Checks the body of an import (media type, root, element order, the attributes' booleans)
/// and reads what it asks for.
fn import_params(req: &Req, op: &str) -> Result<ImportParams, ApiError> {
    let (want, root, slots) = match op {
        "importVmAsVApp" => (r::T_IMPORT_VAPP, "ImportVmAsVAppParams", IMPORT_VAPP),
        "importVmAsVAppTemplate" => (
            r::T_IMPORT_TEMPLATE,
            "ImportVmAsVAppTemplateParams",
            IMPORT_TEMPLATE,
        ),
        _ => (
            r::T_IMPORT_INTO,
            "ImportVmIntoExistingVAppParams",
            IMPORT_INTO,
        ),
    };
    content_type_is(req, want)?;
    let el = parse_body(req)?;
    x::check_root(&el, x::VMEXT, root).map_err(ApiError::jaxb)?;
    x::check_sequence(&el, slots).map_err(ApiError::jaxb)?;
    for d in x::children(&el, "ImportedDisk", VC) {
        attr_required(d, "instanceId")?;
        x::check_sequence(d, IMPORTED_DISK).map_err(ApiError::jaxb)?;
    }
    let attr_bool = |a: &str| -> Result<bool, ApiError> {
        match el.attr(a) {
            Some(v) => x::boolean(v, a).map_err(ApiError::jaxb),
            None => Ok(false),
        }
    };
    let source_move = attr_bool("sourceMove")?;
    let gold_master = attr_bool("goldMaster")?;
    attr_bool("deploy")?;
    attr_bool("powerOn")?;
    let moref = x::text(&el, "VmMoRef", VC).unwrap_or("").to_owned();
    if moref.is_empty() {
        return Err(ApiError::bad_request("VmMoRef is empty."));
    }
    let text = |name: &str, ns: &[&str]| {
        x::text(&el, name, ns)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let (vm_name, computer) = (text("VmName", VC), text("ComputerName", VC));
    let local_id = text("VAppScopedLocalId", VC);
    let description = x::text(&el, "Description", C)
        .or_else(|| x::text(&el, "VmDescription", VC))
        .unwrap_or("")
        .to_owned();
    let name_attr = el
        .attr("name")
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned);
    Ok(ImportParams {
        el,
        source_move,
        gold_master,
        moref,
        vm_name,
        computer,
        local_id,
        description,
        name_attr,
    })
}

/// The vCenter's state and the import's references, checked twice: before vCenter is asked
/// for the VM (a bad reference costs no vCenter call) and after, under the lock that creates
/// the entities (the state may have changed meanwhile).
fn import_refs(
    st: &State,
    vc: &model::Vcenter,
    p: &ImportParams,
    op: &str,
) -> Result<ImportRefs, ApiError> {
    vcenter_usable(vc)?;
    let el = &p.el;
    let (vdc, vapp) = import_target(st, el, op)?;
    let profile = match x::child(el, "VdcStorageProfile", VC) {
        Some(prof) => resolve_profile(st, prof, &vdc)?,
        None => st
            .profiles
            .iter()
            .find(|prof| prof.vdc == vdc && prof.default)
            .map(|prof| prof.id.clone())
            .unwrap_or_default(),
    };
    for d in x::children(el, "ImportedDisk", VC) {
        resolve_profile(
            st,
            x::child(d, "VdcStorageProfile", VC).expect("checked"),
            &vdc,
        )?;
    }
    let catalog = import_catalog(st, el, &vdc)?;
    if let Some(a) = &vapp {
        let name = st.vapp(a).map(|x| x.name.clone()).unwrap_or_default();
        check_busy(st, a, &name, &format!("urn:vcloud:vapp:{a}"))?;
    }
    if let Some(v) = st.imported(&p.moref) {
        return Err(ApiError::bad_request(format!(
            "The virtual machine {} of vCenter server \"{}\" is already managed by VMware Cloud Director (imported as VM \"{}\").",
            p.moref, vc.name, v.name
        )));
    }
    Ok(ImportRefs {
        vdc,
        vapp,
        profile,
        catalog,
    })
}

/// vCD imports only from a vCenter that is enabled and connected.
fn vcenter_usable(vc: &model::Vcenter) -> Result<(), ApiError> {
    if !vc.enabled {
        return Err(ApiError::bad_request(format!(
            "vCenter server \"{}\" is disabled: enable it before importing VMs from it.",
            vc.name
        )));
    }
    if !vc.connected {
        return Err(ApiError::bad_request(format!(
            "vCenter server \"{}\" is not connected: reconnect it before importing VMs from it.",
            vc.name
        )));
    }
    Ok(())
}

/// The import's VDC, and the vApp it goes into for `importVmIntoExistingVApp`.
fn import_target(st: &State, el: &Element, op: &str) -> Result<(String, Option<String>), ApiError> {
    if op == "importVmIntoExistingVApp" {
        let v = x::child(el, "VApp", VC).expect("checked");
        let id = ref_id(v, "vApp", "vapp-")?;
        let a = st
            .vapp(&id)
            .ok_or_else(|| ApiError::forbidden("vApp", &format!("vapp-{id}")))?;
        Ok((a.vdc.clone(), Some(id)))
    } else {
        let v = x::child(el, "Vdc", VC).expect("checked");
        let id = ref_id(v, "vdc", "")?;
        st.vdc(&id).ok_or_else(|| ApiError::forbidden("vdc", &id))?;
        Ok((id, None))
    }
}

/// The template's catalog, if one is named: it must belong to the VDC's organization.
fn import_catalog(st: &State, el: &Element, vdc: &str) -> Result<Option<String>, ApiError> {
    let Some(c) = x::child(el, "Catalog", VC) else {
        return Ok(None);
    };
    let id = ref_id(c, "catalog", "")?;
    let cat = st
        .catalog(&id)
        .ok_or_else(|| ApiError::forbidden("catalog", &id))?;
    if st.vdc(vdc).map(|v| &v.org) != Some(&cat.org) {
        return Err(ApiError::bad_request(format!(
            "Catalog \"{}\" belongs to another organization than VDC \"{}\".",
            cat.name,
            st.vdc(vdc).map(|v| v.name.as_str()).unwrap_or("?")
        )));
    }
    Ok(Some(id))
}

/// The VM to import, as vCenter sees it now.
fn source_vm(
    inner: &Arc<Inner>,
    vc: &model::Vcenter,
    moref: &str,
) -> Result<super::vcenter::VcVm, ApiError> {
    inner
        .backend
        .vm(moref)
        .map_err(|e| {
            ApiError::internal(format!(
                "Unable to perform this action. Contact your cloud administrator. (vCenter {}: {e})",
                vc.name
            ))
        })?
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "The virtual machine with MoRef \"{moref}\" does not exist in vCenter server \"{}\".",
                vc.name
            ))
        })
}

/// `importVmAsVApp`: a new vApp holding the VM; the reply is the vApp (201), its task inside.
fn import_as_vapp(st: &mut State, ctx: &Ctx, imp: Import) -> Res {
    let name = imp.entity_name();
    let vdc = &imp.refs.vdc;
    if st
        .vapps
        .iter()
        .any(|a| &a.vdc == vdc && a.name.eq_ignore_ascii_case(&name))
    {
        return Err(ApiError::duplicate(&name));
    }
    let id = new_uuid();
    st.vapps.push(VApp {
        id: id.clone(),
        name: name.clone(),
        description: imp.params.description.clone(),
        vdc: vdc.clone(),
        status: 0,
        deployed: false,
        networks: imp.networks(),
        created: imp.now.clone(),
        owner: ctx.user_id.clone(),
    });
    let vm_id = new_uuid();
    st.vms.push(imp.vm(Parent::VApp(id.clone()), vm_id.clone()));
    st.next();
    st.new_task(NewTask {
        op_name: "importSingletonVapp",
        operation: format!("Importing Virtual Application {name}({id})"),
        owner: Owner::VApp(id.clone()),
        owner_name: &name,
        org: &imp.vdc_org,
        user: &ctx.user_id,
        effect: Effect::ImportVApp { vapp: id.clone() },
        locks: vec![id.clone(), vm_id],
        fail: imp.copy_on,
    });
    let a = st.vapp(&id).expect("pushed");
    let body = r::vapp(st, a, ctx);
    let h = href(st, &format!("/api/vApp/vapp-{id}"));
    Ok(Resp::new(201, &format!("{};version={}", r::T_VAPP, ctx.version), body).with("Location", h))
}

/// `importVmAsVAppTemplate`: a new template (and its catalog item if a catalog is named);
/// the reply is the template (201), its task inside.
fn import_as_template(st: &mut State, ctx: &Ctx, imp: Import) -> Res {
    let name = imp.entity_name();
    let (vdc, catalog) = (&imp.refs.vdc, &imp.refs.catalog);
    let dup = match catalog {
        Some(c) => st
            .items
            .iter()
            .any(|i| &i.catalog == c && i.name.eq_ignore_ascii_case(&name)),
        None => st
            .templates
            .iter()
            .any(|t| &t.vdc == vdc && t.catalog.is_none() && t.name.eq_ignore_ascii_case(&name)),
    };
    if dup {
        return Err(ApiError::duplicate(&name));
    }
    let id = new_uuid();
    st.templates.push(Template {
        id: id.clone(),
        name: name.clone(),
        description: imp.params.description.clone(),
        vdc: vdc.clone(),
        catalog: catalog.clone(),
        status: 0,
        gold_master: imp.params.gold_master,
        networks: imp.networks(),
        created: imp.now.clone(),
        owner: ctx.user_id.clone(),
    });
    let vm_id = new_uuid();
    st.vms
        .push(imp.vm(Parent::Template(id.clone()), vm_id.clone()));
    let item = catalog
        .as_ref()
        .map(|c| add_catalog_item(st, c, &name, &id, &imp.now));
    st.new_task(NewTask {
        op_name: "importSingletonTemplate",
        operation: format!("Importing Virtual Application Template {name}({id})"),
        owner: Owner::Template(id.clone()),
        owner_name: &name,
        org: &imp.vdc_org,
        user: &ctx.user_id,
        effect: Effect::ImportTemplate {
            template: id.clone(),
            item,
        },
        locks: vec![id.clone(), vm_id],
        fail: imp.copy_on,
    });
    let t = st.template(&id).expect("pushed");
    let body = r::template(st, t, ctx);
    let h = href(st, &format!("/api/vAppTemplate/vappTemplate-{id}"));
    Ok(Resp::new(
        201,
        &format!("{};version={}", r::T_TEMPLATE, ctx.version),
        body,
    )
    .with("Location", h))
}

/// A catalog item for a new template; the catalog's version goes up. Returns the item's id.
fn add_catalog_item(
    st: &mut State,
    catalog: &str,
    name: &str,
    template: &str,
    now: &str,
) -> String {
    let item_id = new_uuid();
    st.items.push(model::CatalogItem {
        id: item_id.clone(),
        catalog: catalog.to_owned(),
        name: name.to_owned(),
        template: template.to_owned(),
        created: now.to_owned(),
    });
    if let Some(cat) = st.catalogs.iter_mut().find(|x| x.id == catalog) {
        cat.version += 1;
    }
    item_id
}

/// `importVmIntoExistingVApp`: the VM joins the vApp, which gains a network per new port
/// group; the reply is the task (202).
fn import_into_vapp(st: &mut State, ctx: &Ctx, imp: Import) -> Res {
    let vapp_id = imp.refs.vapp.clone().expect("checked");
    let a = st.vapp(&vapp_id).cloned().expect("checked");
    let vm_name = &imp.vm_name;
    if st
        .vapp_vms(&vapp_id)
        .iter()
        .any(|v| v.name.eq_ignore_ascii_case(vm_name))
    {
        return Err(ApiError::duplicate(vm_name));
    }
    let vm_id = new_uuid();
    st.vms
        .push(imp.vm(Parent::VApp(vapp_id.clone()), vm_id.clone()));
    if let Some(app) = st.vapp_mut(&vapp_id) {
        for p in &imp.portgroups {
            if !app.networks.iter().any(|n| &n.name == p) {
                app.networks.push(portgroup_net(p));
            }
        }
    }
    let task = st.new_task(NewTask {
        op_name: "importIntoExistingVapp",
        operation: format!(
            "Importing Virtual Machine {vm_name} into Virtual Application {}({vapp_id})",
            a.name
        ),
        owner: Owner::VApp(vapp_id.clone()),
        owner_name: &a.name,
        org: &imp.vdc_org,
        user: &ctx.user_id,
        effect: Effect::ImportIntoVApp {
            vapp: vapp_id.clone(),
            vm: vm_id.clone(),
        },
        locks: vec![vapp_id.clone(), vm_id],
        fail: imp.copy_on,
    });
    Ok(accepted_task(st, ctx, &task))
}

// ---- /odt-sim/ ----

pub(crate) fn set_vcenter(
    inner: &Arc<Inner>,
    registered: Option<bool>,
    enabled: Option<bool>,
    connected: Option<bool>,
) {
    let mut st = inner.lock();
    match registered {
        Some(false) => {
            if let Some(v) = st.vcenter.take() {
                st.vcenter_stash = Some(v);
            }
        }
        Some(true) if st.vcenter.is_none() => {
            let v = st.vcenter_stash.take().unwrap_or_else(|| model::Vcenter {
                id: model::stable_uuid("vimserver:vc1"),
                name: "vc1".into(),
                url: "https://vcenter.example.test:443".into(),
                username: "administrator@vsphere.local".into(),
                version: "7.0.3".into(),
                enabled: true,
                connected: true,
            });
            st.vcenter = Some(v);
        }
        Some(true) => {}
        None => {}
    }
    if let Some(v) = st.vcenter.as_mut() {
        if let Some(e) = enabled {
            v.enabled = e;
        }
        if let Some(c) = connected {
            v.connected = c;
        }
    }
}

pub(crate) fn state_json(inner: &Arc<Inner>) -> serde_json::Value {
    use serde_json::json;
    let st = inner.lock();
    let vm_json = |v: &Vm| {
        json!({
            "id": v.id, "name": v.name, "href": r::vm_href(&st, v), "moref": v.moref,
            "source_move": v.source_move, "status": v.status, "primary": v.primary,
            "nics": v.nics.iter().map(|n| json!({
                "index": n.index, "network": n.network, "connected": n.connected,
                "mode": n.mode, "ip": n.ip, "mac": n.mac, "adapter": n.adapter,
            })).collect::<Vec<_>>(),
        })
    };
    let nets_json =
        |nets: &[VAppNet]| {
            nets.iter()
            .map(|n| json!({
                "name": n.name, "fence_mode": n.fence_mode,
                "parent": n.parent.as_deref().and_then(|p| st.net(p)).map(|p| p.name.clone()),
            }))
            .collect::<Vec<_>>()
        };
    json!({
        "url": st.base,
        "vcenter": st.vcenter.as_ref().map(|v| json!({
            "name": v.name, "id": v.id, "enabled": v.enabled, "connected": v.connected,
        })),
        "vapps": st.vapps.iter().map(|a| json!({
            "id": a.id, "name": a.name, "href": href(&st, &format!("/api/vApp/vapp-{}", a.id)),
            "vdc": st.vdc(&a.vdc).map(|v| v.name.clone()),
            "org": st.vdc_org(&a.vdc).map(|o| o.name.clone()),
            "status": a.status, "deployed": a.deployed, "busy": st.busy(&a.id).is_some(),
            "networks": nets_json(&a.networks),
            "vms": st.vapp_vms(&a.id).into_iter().map(&vm_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "templates": st.templates.iter().map(|t| json!({
            "id": t.id, "name": t.name,
            "href": href(&st, &format!("/api/vAppTemplate/vappTemplate-{}", t.id)),
            "vdc": st.vdc(&t.vdc).map(|v| v.name.clone()),
            "catalog": t.catalog.as_deref().and_then(|c| st.catalog(c)).map(|c| c.name.clone()),
            "status": t.status,
            "vms": st.template_vms(&t.id).into_iter().map(&vm_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "catalog_items": st.items.iter().map(|i| json!({
            "id": i.id, "name": i.name,
            "catalog": st.catalog(&i.catalog).map(|c| c.name.clone()),
        })).collect::<Vec<_>>(),
        "imported_morefs": st.vms.iter().map(|v| v.moref.clone()).collect::<Vec<_>>(),
        "tasks": st.tasks.iter().map(|t| json!({
            "id": t.id, "operationName": t.op_name, "operation": t.operation,
            "status": t.status.as_str(), "owner": t.owner_name, "error": t.error,
            "history": t.history.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "requests": st.log.iter().map(|l| json!({
            "method": l.method, "path": l.path, "status": l.status,
            "client_request_id": l.client_request_id, "request_id": l.request_id,
        })).collect::<Vec<_>>(),
    })
}

fn control(inner: &Arc<Inner>, req: &Req, what: &str) -> Resp {
    let ok = || Resp::new(200, "application/json", "{\"ok\":true}");
    let bad = |m: &str| {
        Resp::new(
            400,
            "application/json",
            serde_json::json!({"ok": false, "error": m}).to_string(),
        )
    };
    let flag = |k: &str| req.param(k).map(|v| v == "true" || v == "1");
    let num = |k: &str| req.param(k).and_then(|v| v.parse::<u64>().ok());
    match (req.method.as_str(), what) {
        ("GET", "state") => Resp::new(200, "application/json", state_json(inner).to_string()),
        ("POST", "fail-next-task") => {
            let op = req.param("op").unwrap_or("any");
            let msg = req
                .param("message")
                .unwrap_or("Injected task failure (vcd-sim).");
            let n = num("count").unwrap_or(1);
            let mut st = inner.lock();
            for _ in 0..n {
                let op = (!matches!(op, "any" | "*" | "")).then(|| op.to_owned());
                st.faults.fail_tasks.push((op, msg.to_owned()));
            }
            ok()
        }
        ("POST", "respond-503") => {
            let Some(n) = num("count") else {
                return bad("count=N is required");
            };
            let mut st = inner.lock();
            st.faults.respond_503 = n as u32;
            st.faults.respond_503_prefix = req.param("prefix").map(str::to_owned);
            ok()
        }
        ("POST", "slow-tasks") => {
            let Some(n) = num("polls") else {
                return bad("polls=N is required");
            };
            inner.lock().faults.slow_polls = (n > 0).then_some(n as u32);
            ok()
        }
        ("POST", "task-auto-finish") => {
            let Some(ms) = num("ms") else {
                return bad("ms=N is required");
            };
            inner.lock().auto_finish = (ms > 0).then(|| Duration::from_millis(ms));
            ok()
        }
        ("POST", "expire-tokens") => {
            for s in inner.lock().sessions.iter_mut() {
                s.expired = true;
            }
            ok()
        }
        ("POST", "finish-tasks") => {
            inner.lock().finish_all();
            ok()
        }
        ("POST", "reset-faults") => {
            inner.lock().faults = Default::default();
            ok()
        }
        ("POST", "vcenter") => {
            set_vcenter(
                inner,
                flag("registered"),
                flag("enabled"),
                flag("connected"),
            );
            ok()
        }
        _ => Resp::new(
            404,
            "application/json",
            "{\"ok\":false,\"error\":\"unknown control endpoint\"}",
        ),
    }
}
