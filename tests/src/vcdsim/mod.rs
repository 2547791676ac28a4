//! A vCloud Director simulator for tests and the demo: the legacy XML API (`/api/...`) and
//! the `/cloudapi` logins, as described in `shared/reference/vcd-api.md` (§10 lists what
//! it implements), strict about media types, namespaces and XSD element order so that a
//! client that passes here has a good chance against a real vCD. The real client library
//! pyvcloud runs against it in `tests/tests/vcdsim_pyvcloud.rs`.
//!
//! - Inventory (orgs, VDCs, storage profiles, org VDC networks, catalogs, users, the
//!   registered vCenter) comes from a [`Seed`] (TOML; schema in `tests/vcd-seed.toml`).
//! - The registered vCenter is backed by a vcsim ([`VcsimLink`]): an imported `VmMoRef`
//!   must exist there, and the imported VM's NICs (port group, MAC, adapter type) are read
//!   from it. Without a link, the seed's `[[vcenter.vms]]` stand in.
//! - Tasks move queued → running (first GET) → success or error (after
//!   `task_running_polls` more GETs, or by themselves after `task_auto_finish_ms`); their
//!   effect (vApp status 8, new NICs, power state, …) lands when they succeed, and what an
//!   import created is removed when it fails, except a vApp import's vApp, which stays in
//!   FAILED_CREATION (status -1) as in vCD. A move-import (`sourceMove="true"`) that succeeds
//!   moves the VM in vcsim into the VDC's resource pool and renames it "NAME (UUID)", as vCD
//!   does (vcd-api.md §11; `RelocateVM_Task` extended in tests/vcsim/relocate.go).
//! - Fault knobs: [`VcdSim::fail_next_task`], [`VcdSim::respond_503_next`],
//!   [`VcdSim::slow_tasks`], [`VcdSim::expire_tokens`], also over HTTP under `/odt-sim/`
//!   (for the `vcd-sim` binary): `POST /odt-sim/fail-next-task?op=NAME|any&message=M`,
//!   `POST /odt-sim/respond-503?count=N[&prefix=/api/...]`, `POST /odt-sim/slow-tasks?polls=N`
//!   (`polls=0` back to normal), `POST /odt-sim/expire-tokens`,
//!   `POST /odt-sim/task-auto-finish?ms=N` (0 = off), `POST /odt-sim/finish-tasks`,
//!   `POST /odt-sim/vcenter?registered=&enabled=&connected=`, `POST /odt-sim/reset-faults`,
//!   `GET /odt-sim/state` (JSON: vApps, VMs with NICs, templates, catalog items, tasks,
//!   imported MoRefs, the request log).
//!
//! ```no_run
//! use odt_tests::vcdsim::{Seed, VcdOptions, VcdSim};
//! let sim = VcdSim::start(VcdOptions::new(Seed::default_seed())).unwrap();
//! // point a client at sim.url as administrator@System / vmware, then:
//! for a in sim.vapps() { println!("{} {:?}", a.name, a.vms[0].nics); }
//! ```

mod api;
mod model;
mod query;
mod render;
pub mod seed;
mod server;
pub mod testing;
mod vcenter;
mod xml;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use seed::Seed;
pub use vcenter::VcsimLink;

use model::State;

/// Options for [`VcdSim::start`].
#[derive(Debug, Clone)]
pub struct VcdOptions {
    /// The inventory.
    pub seed: Seed,
    /// The vcsim behind the registered vCenter (`None`: the seed's `[[vcenter.vms]]`).
    pub vcsim: Option<VcsimLink>,
    /// Extra users, as (`name@org`, password); `name` alone means `name@System`.
    pub users: Vec<(String, String)>,
    /// Listen address (default `127.0.0.1:0`, a free loopback port).
    pub listen: String,
}

impl VcdOptions {
    /// Options with a seed, no vcsim, no extra users, a free loopback port.
    pub fn new(seed: Seed) -> VcdOptions {
        VcdOptions {
            seed,
            vcsim: None,
            users: vec![],
            listen: "127.0.0.1:0".into(),
        }
    }
}

/// An error answered as a vcloud `Error` (or JSON on `/cloudapi`).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub minor: String,
    pub message: String,
}

impl ApiError {
    fn new(status: u16, minor: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            minor: minor.into(),
            message: message.into(),
        }
    }
    pub(crate) fn bad_request(m: impl Into<String>) -> ApiError {
        ApiError::new(400, "BAD_REQUEST", m)
    }
    /// A schema violation, as JAXB reports it.
    pub(crate) fn jaxb(detail: impl std::fmt::Display) -> ApiError {
        ApiError::bad_request(format!(
            "Bad request - Unexpected JAXB Exception - {detail}"
        ))
    }
    /// No such entity (or no access): vCD does not tell the two apart.
    pub(crate) fn forbidden(kind: &str, id: &str) -> ApiError {
        ApiError::new(
            403,
            "ACCESS_TO_RESOURCE_IS_FORBIDDEN",
            format!("No access to entity \"com.vmware.vcloud.entity.{kind}:{id}\"."),
        )
    }
    pub(crate) fn forbidden_msg(m: impl Into<String>) -> ApiError {
        ApiError::new(403, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", m)
    }
    pub(crate) fn duplicate(name: &str) -> ApiError {
        ApiError::new(
            400,
            "DUPLICATE_NAME",
            format!("The VCD entity {name} already exists."),
        )
    }
    pub(crate) fn busy(name: &str, urn: &str, op: &str) -> ApiError {
        ApiError::new(
            400,
            "BUSY_ENTITY",
            format!("The entity {name} ({urn}) is busy completing an operation {op}."),
        )
    }
    pub(crate) fn unauthorized(m: impl Into<String>) -> ApiError {
        ApiError::new(401, "UNAUTHORIZED", m)
    }
    pub(crate) fn not_found(m: impl Into<String>) -> ApiError {
        ApiError::new(404, "RESOURCE_NOT_FOUND", m)
    }
    pub(crate) fn method(m: &str) -> ApiError {
        ApiError::new(
            405,
            "METHOD_NOT_ALLOWED",
            format!("HTTP method {m} is not supported for this resource."),
        )
    }
    pub(crate) fn not_acceptable(m: impl Into<String>) -> ApiError {
        ApiError::new(406, "NOT_ACCEPTABLE", m)
    }
    pub(crate) fn media_type(got: &str, want: &str) -> ApiError {
        ApiError::new(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            format!("Unsupported media type {got:?}; this operation accepts {want}."),
        )
    }
    pub(crate) fn internal(m: impl Into<String>) -> ApiError {
        ApiError::new(500, "INTERNAL_SERVER_ERROR", m)
    }
}

pub(crate) struct Inner {
    pub state: Mutex<State>,
    pub backend: vcenter::Backend,
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running simulator. Dropping it stops it.
pub struct VcdSim {
    /// `http://127.0.0.1:PORT` (no trailing slash; the API is under `/api`).
    pub url: String,
    /// The TCP port.
    pub port: u16,
    inner: Arc<Inner>,
    server: server::Server,
}

/// A NIC as the simulator holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicView {
    pub index: u32,
    /// The vApp network it is on (`NetworkConnection@network`).
    pub network: String,
    pub connected: bool,
    /// `IpAddressAllocationMode`.
    pub mode: String,
    pub ip: Option<String>,
    pub mac: String,
    pub adapter: String,
}

/// A VM of a vApp or template.
#[derive(Debug, Clone)]
pub struct VmView {
    pub id: String,
    pub name: String,
    pub href: String,
    /// The vCenter VM it was imported from.
    pub moref: String,
    pub source_move: bool,
    /// Guest computer name.
    pub computer_name: String,
    /// 0 unresolved (importing), 8 powered off, 4 powered on.
    pub status: i32,
    pub primary: Option<u32>,
    pub nics: Vec<NicView>,
    /// The name of the storage profile the VM is on.
    pub storage_profile: String,
    /// (disk instance id, storage profile name) of each `ImportedDisk` its import named.
    pub disk_profiles: Vec<(i32, String)>,
}

impl VmView {
    /// `POWERED_ON`, `POWERED_OFF`, `UNRESOLVED` (still importing), …
    pub fn power_state(&self) -> &'static str {
        query::status_name(self.status)
    }
}

/// A vApp network.
#[derive(Debug, Clone)]
pub struct NetView {
    pub name: String,
    /// The org VDC network it is connected to (name).
    pub parent: Option<String>,
    pub fence_mode: String,
}

/// A vApp.
#[derive(Debug, Clone)]
pub struct VAppView {
    pub id: String,
    pub name: String,
    pub href: String,
    pub org: String,
    pub vdc: String,
    /// 0 unresolved, 8 powered off, 4 powered on.
    pub status: i32,
    pub deployed: bool,
    pub busy: bool,
    pub networks: Vec<NetView>,
    pub vms: Vec<VmView>,
}

impl VAppView {
    /// `POWERED_ON`, `POWERED_OFF`, `UNRESOLVED` (still importing), …
    pub fn power_state(&self) -> &'static str {
        query::status_name(self.status)
    }
}

/// A vApp template.
#[derive(Debug, Clone)]
pub struct TemplateView {
    pub id: String,
    pub name: String,
    pub href: String,
    pub vdc: String,
    pub catalog: Option<String>,
    pub status: i32,
    pub vms: Vec<VmView>,
}

/// A catalog item.
#[derive(Debug, Clone)]
pub struct CatalogItemView {
    pub id: String,
    pub name: String,
    pub catalog: String,
    pub org: String,
    pub template_href: String,
}

/// A task.
#[derive(Debug, Clone)]
pub struct TaskView {
    pub id: String,
    pub href: String,
    pub operation_name: String,
    pub operation: String,
    /// queued, running, success, error, canceled.
    pub status: String,
    pub owner_name: String,
    pub error: Option<String>,
    /// Every status a GET (or the creation reply) showed, in order.
    pub history: Vec<String>,
}

/// One request the simulator answered.
#[derive(Debug, Clone)]
pub struct RequestView {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// The client's `X-VMWARE-VCLOUD-CLIENT-REQUEST-ID`, as sent.
    pub client_request_id: Option<String>,
    /// The `X-VMWARE-VCLOUD-REQUEST-ID` answered (the client id, `-`, vCD's own).
    pub request_id: String,
}

impl VcdSim {
    /// Starts a simulator on a free loopback port (or `opts.listen`).
    pub fn start(opts: VcdOptions) -> Result<VcdSim, String> {
        // Bind first: hrefs need the port.
        // With a vcsim behind it, the registered vCenter *is* that vcsim: show its URL, as a
        // real vCD shows the address the vCenter was registered with.
        let mut seed = opts.seed.clone();
        if let Some(link) = &opts.vcsim {
            seed.vcenter.url = link.url.trim_end_matches("/sdk").to_owned();
        }
        let inner = Arc::new(Inner {
            state: Mutex::new(State::new(String::new(), &seed, &opts.users)),
            backend: vcenter::Backend::new(opts.vcsim.clone(), &opts.seed.vcenter.vms),
        });
        let h = inner.clone();
        let server =
            server::Server::start(&opts.listen, Arc::new(move |req| api::handle(&h, req)))?;
        let host = match opts.listen.rsplit_once(':') {
            Some((h, _)) if h != "0.0.0.0" && h != "[::]" && !h.is_empty() => h.to_owned(),
            _ => "127.0.0.1".into(),
        };
        let url = format!("http://{host}:{}", server.port);
        inner.lock().base = url.clone();
        Ok(VcdSim {
            url,
            port: server.port,
            inner,
            server,
        })
    }

    /// Stops the server (as dropping does).
    pub fn stop(mut self) {
        self.server.stop();
    }

    fn st(&self) -> MutexGuard<'_, State> {
        self.inner.lock()
    }

    // ---- fault knobs ----

    /// The next task whose operationName is `op` (e.g. `importSingletonVapp`,
    /// `vappUpdateVm`; `"any"` or `"*"` for any task) ends in error with `message`.
    /// Calls queue up.
    pub fn fail_next_task(&self, op: &str, message: &str) {
        let op = (!matches!(op, "any" | "*" | "")).then(|| op.to_owned());
        self.st().faults.fail_tasks.push((op, message.to_owned()));
    }

    /// The next `n` requests (any path but `/odt-sim/`) are answered 503.
    pub fn respond_503_next(&self, n: u32) {
        let mut st = self.st();
        st.faults.respond_503 = n;
        st.faults.respond_503_prefix = None;
    }

    /// The next `n` requests whose path starts with `prefix` are answered 503.
    pub fn respond_503_next_under(&self, prefix: &str, n: u32) {
        let mut st = self.st();
        st.faults.respond_503 = n;
        st.faults.respond_503_prefix = Some(prefix.to_owned());
    }

    /// Tasks created from now stay running for `polls` GETs and never end by themselves
    /// (`0`: back to the seed's behaviour).
    pub fn slow_tasks(&self, polls: u32) {
        self.st().faults.slow_polls = (polls > 0).then_some(polls);
    }

    /// Tasks created from now end by themselves this long after creation (`None`: only
    /// polling ends them).
    pub fn set_task_auto_finish(&self, after: Option<Duration>) {
        self.st().auto_finish = after;
    }

    /// Every session issued so far expires: its token gets 401.
    pub fn expire_tokens(&self) {
        for s in self.st().sessions.iter_mut() {
            s.expired = true;
        }
    }

    /// Ends every open task now (success, or error where a failure was injected).
    pub fn finish_all_tasks(&self) {
        self.st().finish_all();
        api::take_over_moved_vms(&self.inner);
    }

    /// Clears every fault knob.
    pub fn reset_faults(&self) {
        self.st().faults = Default::default();
    }

    /// Changes the registered vCenter's flags; `registered = false` unregisters it.
    pub fn set_vcenter(&self, registered: bool, enabled: bool, connected: bool) {
        api::set_vcenter(
            &self.inner,
            Some(registered),
            Some(enabled),
            Some(connected),
        );
    }

    // ---- inventory hrefs, for building requests ----

    /// `/api/vdc/{id}` of a VDC.
    pub fn vdc_href(&self, org: &str, vdc: &str) -> Option<String> {
        let st = self.st();
        let v = st.vdc_named(org, vdc)?;
        Some(render::href(&st, &format!("/api/vdc/{}", v.id)))
    }

    /// `/api/catalog/{id}` of a catalog.
    pub fn catalog_href(&self, org: &str, catalog: &str) -> Option<String> {
        let st = self.st();
        let o = st.org_named(org)?.id.clone();
        let c = st
            .catalogs
            .iter()
            .find(|c| c.org == o && c.name == catalog)?;
        Some(render::href(&st, &format!("/api/catalog/{}", c.id)))
    }

    /// `/api/admin/network/{id}` of an org VDC network.
    pub fn network_href(&self, org: &str, vdc: &str, network: &str) -> Option<String> {
        let st = self.st();
        let v = st.vdc_named(org, vdc)?.id.clone();
        let n = st
            .networks
            .iter()
            .find(|n| n.vdc == v && n.name == network)?;
        Some(render::href(&st, &format!("/api/admin/network/{}", n.id)))
    }

    /// `/api/vdcStorageProfile/{id}` of a VDC storage profile.
    pub fn storage_profile_href(&self, org: &str, vdc: &str, profile: &str) -> Option<String> {
        let st = self.st();
        let v = st.vdc_named(org, vdc)?.id.clone();
        let p = st
            .profiles
            .iter()
            .find(|p| p.vdc == v && p.name == profile)?;
        Some(render::href(
            &st,
            &format!("/api/vdcStorageProfile/{}", p.id),
        ))
    }

    /// `/api/admin/extension/vimServer/{id}` of the registered vCenter.
    pub fn vimserver_href(&self) -> Option<String> {
        let st = self.st();
        let vc = st.vcenter.as_ref()?;
        Some(render::href(
            &st,
            &format!("/api/admin/extension/vimServer/{}", vc.id),
        ))
    }

    // ---- state ----

    fn profile_name(st: &State, id: &str) -> String {
        st.profile(id).map(|p| p.name.clone()).unwrap_or_default()
    }

    /// (limit MB, used MB) of a VDC's storage profile.
    pub fn storage_profile_usage(&self, org: &str, vdc: &str, profile: &str) -> Option<(u64, u64)> {
        let href = self.storage_profile_href(org, vdc, profile)?;
        let st = self.st();
        let p = st.profiles.iter().find(|p| href.ends_with(&p.id))?;
        Some((p.limit_mb, p.used_mb))
    }

    fn vm_view(st: &State, v: &model::Vm) -> VmView {
        VmView {
            id: v.id.clone(),
            name: v.name.clone(),
            href: render::vm_href(st, v),
            moref: v.moref.clone(),
            source_move: v.source_move,
            computer_name: v.computer_name.clone(),
            status: v.status,
            primary: v.primary,
            storage_profile: Self::profile_name(st, &v.profile),
            disk_profiles: v
                .disks
                .iter()
                .map(|(k, p)| (*k, Self::profile_name(st, p)))
                .collect(),
            nics: v
                .nics
                .iter()
                .map(|n| NicView {
                    index: n.index,
                    network: n.network.clone(),
                    connected: n.connected,
                    mode: n.mode.clone(),
                    ip: n.ip.clone(),
                    mac: n.mac.clone(),
                    adapter: n.adapter.clone(),
                })
                .collect(),
        }
    }

    /// Every vApp.
    pub fn vapps(&self) -> Vec<VAppView> {
        let st = self.st();
        st.vapps
            .iter()
            .map(|a| VAppView {
                id: a.id.clone(),
                name: a.name.clone(),
                href: render::href(&st, &format!("/api/vApp/vapp-{}", a.id)),
                org: st
                    .vdc_org(&a.vdc)
                    .map(|o| o.name.clone())
                    .unwrap_or_default(),
                vdc: st.vdc(&a.vdc).map(|v| v.name.clone()).unwrap_or_default(),
                status: a.status,
                deployed: a.deployed,
                busy: st.busy(&a.id).is_some(),
                networks: a
                    .networks
                    .iter()
                    .map(|n| NetView {
                        name: n.name.clone(),
                        parent: n
                            .parent
                            .as_deref()
                            .and_then(|p| st.net(p))
                            .map(|p| p.name.clone()),
                        fence_mode: n.fence_mode.clone(),
                    })
                    .collect(),
                vms: st
                    .vapp_vms(&a.id)
                    .into_iter()
                    .map(|v| Self::vm_view(&st, v))
                    .collect(),
            })
            .collect()
    }

    /// The vApp named `name` (any VDC).
    pub fn vapp(&self, name: &str) -> Option<VAppView> {
        self.vapps().into_iter().find(|a| a.name == name)
    }

    /// Every vApp template.
    pub fn templates(&self) -> Vec<TemplateView> {
        let st = self.st();
        st.templates
            .iter()
            .map(|t| TemplateView {
                id: t.id.clone(),
                name: t.name.clone(),
                href: render::href(&st, &format!("/api/vAppTemplate/vappTemplate-{}", t.id)),
                vdc: st.vdc(&t.vdc).map(|v| v.name.clone()).unwrap_or_default(),
                catalog: t
                    .catalog
                    .as_deref()
                    .and_then(|c| st.catalog(c))
                    .map(|c| c.name.clone()),
                status: t.status,
                vms: st
                    .template_vms(&t.id)
                    .into_iter()
                    .map(|v| Self::vm_view(&st, v))
                    .collect(),
            })
            .collect()
    }

    /// Every catalog item.
    pub fn catalog_items(&self) -> Vec<CatalogItemView> {
        let st = self.st();
        st.items
            .iter()
            .map(|i| {
                let c = st.catalog(&i.catalog);
                CatalogItemView {
                    id: i.id.clone(),
                    name: i.name.clone(),
                    catalog: c.map(|c| c.name.clone()).unwrap_or_default(),
                    org: c
                        .and_then(|c| st.org(&c.org))
                        .map(|o| o.name.clone())
                        .unwrap_or_default(),
                    template_href: render::href(
                        &st,
                        &format!("/api/vAppTemplate/vappTemplate-{}", i.template),
                    ),
                }
            })
            .collect()
    }

    /// The vCenter MoRefs that vCD VMs were imported from (vApps and templates).
    pub fn imported_morefs(&self) -> Vec<String> {
        // A failed import's VM (FAILED_CREATION) holds nothing.
        self.st()
            .vms
            .iter()
            .filter(|v| v.status != -1)
            .map(|v| v.moref.clone())
            .collect()
    }

    /// Every task, oldest first.
    pub fn tasks(&self) -> Vec<TaskView> {
        let st = self.st();
        st.tasks
            .iter()
            .map(|t| TaskView {
                id: t.id.clone(),
                href: render::href(&st, &format!("/api/task/{}", t.id)),
                operation_name: t.op_name.clone(),
                operation: t.operation.clone(),
                status: t.status.as_str().into(),
                owner_name: t.owner_name.clone(),
                error: t.error.clone(),
                history: t.history.iter().map(|s| s.as_str().to_owned()).collect(),
            })
            .collect()
    }

    /// Every request answered so far (control requests under `/odt-sim/` excluded).
    pub fn requests(&self) -> Vec<RequestView> {
        self.st()
            .log
            .iter()
            .map(|l| RequestView {
                method: l.method.clone(),
                path: l.path.clone(),
                status: l.status,
                client_request_id: l.client_request_id.clone(),
                request_id: l.request_id.clone(),
            })
            .collect()
    }

    /// Every token issued so far (`x-vcloud-authorization` and the JWT of each session): what
    /// a log must never hold.
    pub fn session_tokens(&self) -> Vec<String> {
        self.st()
            .sessions
            .iter()
            .flat_map(|s| [s.token.clone(), s.jwt.clone()])
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// The whole state as JSON (what `GET /odt-sim/state` returns).
    pub fn state_json(&self) -> serde_json::Value {
        api::state_json(&self.inner)
    }
}

/// Whether a task status is final.
pub fn task_done(status: &str) -> bool {
    !matches!(status, "queued" | "running" | "preRunning")
}
