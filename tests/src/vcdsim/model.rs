//! The simulator's state: inventory, sessions, vApps, VMs, templates, catalog items, tasks
//! and fault knobs, and the task engine (queued → running → success | error, with the
//! effect of the task applied, or rolled back, when it ends).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::Digest;

use super::seed::{OrgSeed, Seed, VdcSeed};

/// A random UUID (version 4).
pub fn new_uuid() -> String {
    let b: [u8; 16] = rand::random();
    format_uuid(b, 4)
}

/// A stable UUID derived from `key` (SHA-256, shaped as version 5).
pub fn stable_uuid(key: &str) -> String {
    let d = sha2::Sha256::digest(key.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    format_uuid(b, 5)
}

fn format_uuid(mut b: [u8; 16], version: u8) -> String {
    b[6] = (b[6] & 0x0f) | (version << 4);
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// True when `s` looks like a UUID.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The last UUID in `s` (an href or a URN), lowercased.
pub fn uuid_in(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 36 {
        return None;
    }
    (0..=b.len() - 36)
        .rev()
        .filter(|&i| s.is_char_boundary(i) && s.is_char_boundary(i + 36))
        .map(|i| &s[i..i + 36])
        .find(|c| is_uuid(c))
        .map(str::to_lowercase)
}

/// Now as `2024-05-01T12:34:56.789Z`.
pub fn now_iso() -> String {
    iso(SystemTime::now())
}

/// A time as `2024-05-01T12:34:56.789Z`.
pub fn iso(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Parses `a.b.c.d-e.f.g.h` into an inclusive IPv4 range.
pub fn parse_pool(p: &str) -> Option<(u32, u32)> {
    let (a, b) = p.split_once('-')?;
    let a = ipv4(a.trim())?;
    let b = ipv4(b.trim())?;
    (a <= b).then_some((a, b))
}

/// Parses a dotted IPv4 address.
pub fn ipv4(s: &str) -> Option<u32> {
    s.parse::<std::net::Ipv4Addr>().ok().map(u32::from)
}

/// Formats an IPv4 address.
pub fn ipv4_str(v: u32) -> String {
    std::net::Ipv4Addr::from(v).to_string()
}

/// Prefix length of a dotted netmask.
pub fn prefix_len(mask: &str) -> u32 {
    ipv4(mask).map(|m| m.count_ones()).unwrap_or(24)
}

/// An organization.
#[derive(Debug, Clone)]
pub struct Org {
    pub id: String,
    pub name: String,
    pub full_name: String,
    pub enabled: bool,
}

/// An org VDC.
#[derive(Debug, Clone)]
pub struct Vdc {
    pub id: String,
    pub org: String,
    pub name: String,
    pub enabled: bool,
    pub allocation_model: String,
}

/// A VDC storage profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub id: String,
    pub vdc: String,
    pub name: String,
    pub default: bool,
    pub enabled: bool,
    /// `Limit` in MB, 0 for none.
    pub limit_mb: u64,
    /// MB the VMs placed on it use.
    pub used_mb: u64,
}

/// An org VDC network.
#[derive(Debug, Clone)]
pub struct OrgNet {
    pub id: String,
    pub vdc: String,
    pub name: String,
    pub fence_mode: String,
    pub gateway: String,
    pub netmask: String,
    pub pool: Option<(u32, u32)>,
    pub shared: bool,
    /// Addresses held by something outside the simulator's VMs (seed `allocated`); the
    /// VMs' own are read off their NICs ([`State::allocated`]).
    pub used: Vec<u32>,
}

impl OrgNet {
    /// vCD's `linkType`: 0 direct (bridged), 1 routed (natRouted), 2 isolated; pyvcloud
    /// needs a value in {0, 1, 2}.
    pub fn link_type(&self) -> u8 {
        match self.fence_mode.as_str() {
            "bridged" => 0,
            "natRouted" => 1,
            _ => 2,
        }
    }
}

/// A catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub id: String,
    pub org: String,
    pub name: String,
    pub description: String,
    pub created: String,
    pub version: u32,
}

/// The registered vCenter.
#[derive(Debug, Clone)]
pub struct Vcenter {
    pub id: String,
    pub name: String,
    pub url: String,
    pub username: String,
    pub version: String,
    pub enabled: bool,
    pub connected: bool,
}

/// A user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub name: String,
    pub org: String,
    pub password: String,
    pub sysadmin: bool,
}

/// A login session.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    /// `x-vcloud-authorization` value.
    pub token: String,
    /// `X-VMWARE-VCLOUD-ACCESS-TOKEN` (JWT) value.
    pub jwt: String,
    pub user: String,
    pub expired: bool,
    pub closed: bool,
}

/// An IP scope of a vApp network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpScope {
    pub inherited: bool,
    pub gateway: String,
    pub netmask: String,
    pub enabled: bool,
}

/// A vApp network (`NetworkConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VAppNet {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// Org VDC network id.
    pub parent: Option<String>,
    pub fence_mode: String,
    pub retain: bool,
    pub deployed: bool,
    pub scope: Option<IpScope>,
}

/// Where a VM lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parent {
    VApp(String),
    Template(String),
}

/// A NIC (`NetworkConnection`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    pub index: u32,
    pub network: String,
    pub connected: bool,
    pub mode: String,
    pub ip: Option<String>,
    pub mac: String,
    pub adapter: String,
}

/// A VM of a vApp or template.
#[derive(Debug, Clone)]
pub struct Vm {
    pub id: String,
    pub name: String,
    pub description: String,
    pub parent: Parent,
    pub status: i32,
    pub deployed: bool,
    pub moref: String,
    pub source_move: bool,
    pub nics: Vec<Nic>,
    pub primary: Option<u32>,
    pub local_id: String,
    pub computer_name: String,
    pub profile: String,
    /// (disk instance id, profile id) for each `ImportedDisk` of its import.
    pub disks: Vec<(i32, String)>,
    pub created: String,
}

/// A vApp.
#[derive(Debug, Clone)]
pub struct VApp {
    pub id: String,
    pub name: String,
    pub description: String,
    pub vdc: String,
    pub status: i32,
    pub deployed: bool,
    pub networks: Vec<VAppNet>,
    pub created: String,
    pub owner: String,
}

/// A vApp template.
#[derive(Debug, Clone)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub description: String,
    pub vdc: String,
    pub catalog: Option<String>,
    pub status: i32,
    pub gold_master: bool,
    pub networks: Vec<VAppNet>,
    pub created: String,
    pub owner: String,
}

/// A catalog item.
#[derive(Debug, Clone)]
pub struct CatalogItem {
    pub id: String,
    pub catalog: String,
    pub name: String,
    pub template: String,
    pub created: String,
}

/// What a task owns, for its `Owner` and for BUSY_ENTITY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    VApp(String),
    Vm(String),
    Template(String),
}

/// What a task does when it ends.
#[derive(Debug, Clone)]
pub enum Effect {
    /// The import of a new vApp: on success it and its VM become resolved (8); on failure
    /// they are removed (the VM in vCenter is released).
    ImportVApp { vapp: String },
    /// The import of a template (and its catalog item).
    ImportTemplate {
        template: String,
        item: Option<String>,
    },
    /// The import of a VM into an existing vApp.
    ImportIntoVApp { vapp: String, vm: String },
    /// A new `NetworkConfigSection`.
    NetConfig { vapp: String, nets: Vec<VAppNet> },
    /// A new `NetworkConnectionSection`.
    NetConnection {
        vm: String,
        primary: Option<u32>,
        nics: Vec<Nic>,
    },
    /// Power on (deploy) a vApp.
    PowerOn { vapp: String },
    /// Power off (and undeploy) a vApp.
    PowerOff { vapp: String },
    /// Delete a vApp.
    DeleteVApp { vapp: String },
}

/// Task states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    Queued,
    Running,
    Success,
    Error,
    Canceled,
}

impl TaskStatus {
    /// The `status` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Success => "success",
            TaskStatus::Error => "error",
            TaskStatus::Canceled => "canceled",
        }
    }
    /// Still open (the entity is busy).
    pub fn open(self) -> bool {
        matches!(self, TaskStatus::Queued | TaskStatus::Running)
    }
}

/// What a new task is: its operation, the entity it runs on, and what it does when it ends.
pub struct NewTask<'a> {
    /// The `operationName` (`vdcDeleteVapp`, `importSingletonVapp`, …).
    pub op_name: &'a str,
    /// The readable `operation` text.
    pub operation: String,
    /// The entity it runs on.
    pub owner: Owner,
    /// That entity's name.
    pub owner_name: &'a str,
    /// The org it runs in.
    pub org: &'a str,
    /// The user who started it.
    pub user: &'a str,
    /// What it does to the model when it ends.
    pub effect: Effect,
    /// The entities it holds busy until then.
    pub locks: Vec<String>,
    /// Fail it with this message (else the fault knobs decide).
    pub fail: Option<String>,
}

/// A task.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: String,
    pub op_name: String,
    pub operation: String,
    pub owner: Owner,
    pub owner_name: String,
    pub org: String,
    pub user: String,
    pub status: TaskStatus,
    pub start: String,
    pub expiry: String,
    pub end: Option<String>,
    pub created: Instant,
    /// GETs seen while running.
    pub running_polls: u32,
    /// GETs needed while running before it ends.
    pub needed: u32,
    /// Ends by itself this long after creation (None: only polls end it).
    pub auto_finish: Option<Duration>,
    /// Set: the task ends in error with this message.
    pub fail: Option<String>,
    /// The error it ended with.
    pub error: Option<String>,
    pub effect: Effect,
    /// Entities it keeps busy (ids of vApps, VMs, templates).
    pub locks: Vec<String>,
    /// Every status it was seen in (GETs, embeds), for tests.
    pub history: Vec<TaskStatus>,
}

/// Fault knobs.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// (operationName or None for any, message): the next matching tasks end in error.
    pub fail_tasks: Vec<(Option<String>, String)>,
    /// Answer the next N requests (under the prefix, if any) with 503.
    pub respond_503: u32,
    pub respond_503_prefix: Option<String>,
    /// Tasks created from now need this many polls while running and never end by time.
    pub slow_polls: Option<u32>,
}

/// One request, for the log.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// The client's `X-VMWARE-VCLOUD-CLIENT-REQUEST-ID`, as sent.
    pub client_request_id: Option<String>,
    /// The `X-VMWARE-VCLOUD-REQUEST-ID` answered.
    pub request_id: String,
}

/// The whole state.
#[derive(Debug)]
pub struct State {
    pub base: String,
    pub orgs: Vec<Org>,
    pub vdcs: Vec<Vdc>,
    pub profiles: Vec<Profile>,
    pub networks: Vec<OrgNet>,
    pub catalogs: Vec<Catalog>,
    pub vcenter: Option<Vcenter>,
    /// The vCenter while it is unregistered at run time (`/odt-sim/vcenter`).
    pub vcenter_stash: Option<Vcenter>,
    pub users: Vec<User>,
    pub sessions: Vec<Session>,
    pub vapps: Vec<VApp>,
    pub vms: Vec<Vm>,
    pub templates: Vec<Template>,
    pub items: Vec<CatalogItem>,
    pub tasks: Vec<Task>,
    pub faults: Faults,
    pub running_polls: u32,
    pub auto_finish: Option<Duration>,
    pub log: Vec<Logged>,
    pub seq: u64,
    /// What vCenter must still do for move-imports that succeeded (see [`TakeOver`]): done by
    /// the request that finished the task, before its reply is sent.
    pub take_overs: Vec<TakeOver>,
}

/// A VM vCD took over from vCenter with a move-import (`sourceMove="true"`): vCD migrates it
/// into the org VDC's resource pool and renames it "NAME (UUID)" (vcd-api.md §11).
#[derive(Debug, Clone, PartialEq)]
pub struct TakeOver {
    pub moref: String,
    /// The vCenter name it gets: the vCD VM's name and id.
    pub name: String,
    /// The VDC's resource pool: "VDC (id)".
    pub pool: String,
}

/// A seeded entity's id: the one the seed gives (lower-cased), else one derived from `key`.
fn seed_id(id: &Option<String>, key: String) -> String {
    id.as_deref()
        .map(str::to_lowercase)
        .unwrap_or_else(|| stable_uuid(&key))
}

impl State {
    /// Builds the state from a seed; `extra_users` are `name@org` + password.
    pub fn new(base: String, seed: &Seed, extra_users: &[(String, String)]) -> State {
        let now = now_iso();
        let mut st = State::empty(base, seed);
        for o in &seed.orgs {
            st.seed_org(o, &now);
        }
        let vc = &seed.vcenter;
        if vc.registered {
            st.vcenter = Some(Vcenter {
                id: seed_id(&vc.id, format!("vimserver:{}", vc.name)),
                name: vc.name.clone(),
                url: vc.url.clone(),
                username: vc.username.clone(),
                version: vc.version.clone(),
                enabled: vc.enabled,
                connected: vc.connected,
            });
        }
        st.seed_users(seed, extra_users);
        st
    }

    /// The state with only the System organization and the seed's task timing.
    fn empty(base: String, seed: &Seed) -> State {
        State {
            base,
            orgs: vec![Org {
                id: stable_uuid("org:System"),
                name: "System".into(),
                full_name: "VMware Cloud Director".into(),
                enabled: true,
            }],
            vdcs: vec![],
            profiles: vec![],
            networks: vec![],
            catalogs: vec![],
            vcenter: None,
            vcenter_stash: None,
            users: vec![],
            sessions: vec![],
            vapps: vec![],
            vms: vec![],
            templates: vec![],
            items: vec![],
            tasks: vec![],
            faults: Faults::default(),
            running_polls: seed.sim.task_running_polls,
            auto_finish: (seed.sim.task_auto_finish_ms > 0)
                .then(|| Duration::from_millis(seed.sim.task_auto_finish_ms)),
            log: vec![],
            seq: 0,
            take_overs: vec![],
        }
    }

    /// A seeded organization with its VDCs and catalogs.
    fn seed_org(&mut self, o: &OrgSeed, now: &str) {
        let oid = seed_id(&o.id, format!("org:{}", o.name));
        self.orgs.push(Org {
            id: oid.clone(),
            name: o.name.clone(),
            full_name: o.full_name.clone().unwrap_or_else(|| o.name.clone()),
            enabled: o.enabled,
        });
        for v in &o.vdcs {
            self.seed_vdc(&o.name, &oid, v);
        }
        for c in &o.catalogs {
            self.catalogs.push(Catalog {
                id: seed_id(&c.id, format!("catalog:{}/{}", o.name, c.name)),
                org: oid.clone(),
                name: c.name.clone(),
                description: c.description.clone(),
                created: now.to_owned(),
                version: 1,
            });
        }
    }

    /// A seeded VDC of organization `org` (named `org_name`), with its storage profiles (the
    /// first is the default) and networks.
    fn seed_vdc(&mut self, org_name: &str, org: &str, v: &VdcSeed) {
        let vid = seed_id(&v.id, format!("vdc:{org_name}/{}", v.name));
        self.vdcs.push(Vdc {
            id: vid.clone(),
            org: org.to_owned(),
            name: v.name.clone(),
            enabled: v.enabled,
            allocation_model: v.allocation_model.clone(),
        });
        for (i, p) in v.storage_profiles.iter().enumerate() {
            let (p, limit_mb, used_mb, enabled) = p.parts();
            self.profiles.push(Profile {
                id: stable_uuid(&format!("profile:{org_name}/{}/{p}", v.name)),
                vdc: vid.clone(),
                name: p.to_owned(),
                default: i == 0,
                enabled,
                limit_mb,
                used_mb,
            });
        }
        for n in &v.networks {
            self.networks.push(OrgNet {
                id: seed_id(&n.id, format!("network:{org_name}/{}/{}", v.name, n.name)),
                vdc: vid.clone(),
                name: n.name.clone(),
                fence_mode: n.fence_mode.clone(),
                gateway: n.gateway.clone(),
                netmask: n.netmask.clone(),
                pool: n.pool.as_deref().and_then(parse_pool),
                shared: n.shared,
                used: n.allocated.iter().filter_map(|a| ipv4(a)).collect(),
            });
        }
    }

    /// The seed's users, where an extra user `name@org` replaces a seeded one of that name;
    /// a user's organization takes the spelling of the organization it names, if one does.
    fn seed_users(&mut self, seed: &Seed, extra_users: &[(String, String)]) {
        let mut users: Vec<(String, String, String)> = seed
            .users
            .iter()
            .map(|u| (u.name.clone(), u.org.clone(), u.password.clone()))
            .collect();
        for (full, pw) in extra_users {
            let (n, o) = full.split_once('@').unwrap_or((full, "System"));
            users.retain(|(un, uo, _)| !(un == n && uo.eq_ignore_ascii_case(o)));
            users.push((n.to_owned(), o.to_owned(), pw.clone()));
        }
        for (name, org, password) in users {
            let org_name = self
                .orgs
                .iter()
                .find(|x| x.name.eq_ignore_ascii_case(&org))
                .map(|x| x.name.clone())
                .unwrap_or(org);
            self.users.push(User {
                id: stable_uuid(&format!("user:{org_name}/{name}")),
                sysadmin: org_name == "System",
                name,
                org: org_name,
                password,
            });
        }
    }

    /// Next sequence number.
    pub fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn org(&self, id: &str) -> Option<&Org> {
        self.orgs.iter().find(|o| o.id == id)
    }
    pub fn org_named(&self, name: &str) -> Option<&Org> {
        self.orgs.iter().find(|o| o.name.eq_ignore_ascii_case(name))
    }
    pub fn vdc(&self, id: &str) -> Option<&Vdc> {
        self.vdcs.iter().find(|o| o.id == id)
    }
    /// The VDC named `vdc` in the org named `org`.
    pub fn vdc_named(&self, org: &str, vdc: &str) -> Option<&Vdc> {
        let o = &self.org_named(org)?.id;
        self.vdcs.iter().find(|v| &v.org == o && v.name == vdc)
    }
    /// The addresses of org VDC network `net` in use: those the seed says others hold, and
    /// the NICs' of every VM (but `except`) on a vApp network bridged to it.
    pub fn allocated(&self, net: &str, except: Option<&str>) -> Vec<(u32, Option<String>)> {
        let mut out: Vec<(u32, Option<String>)> = self
            .net(net)
            .map(|n| n.used.iter().map(|&a| (a, None)).collect())
            .unwrap_or_default();
        for v in self.vms.iter().filter(|v| Some(v.id.as_str()) != except) {
            let Parent::VApp(a) = &v.parent else { continue };
            let Some(app) = self.vapp(a) else { continue };
            for n in &v.nics {
                let bridged = app
                    .networks
                    .iter()
                    .any(|c| c.name == n.network && c.parent.as_deref() == Some(net));
                if let (true, Some(ip)) = (bridged, n.ip.as_deref().and_then(ipv4)) {
                    out.push((ip, Some(v.id.clone())));
                }
            }
        }
        out
    }

    /// Gives the NICs of `vm` their addresses on the org VDC networks (`parents`, per NIC)
    /// their vApp networks are bridged to: POOL takes the lowest free pool address, MANUAL
    /// must lie in the network's subnet and be free. Fails as vCD fails the task: an
    /// exhausted pool with vCD's own words (quoted in vmware/terraform-provider-vcd#49), a
    /// MANUAL address outside the subnet with vCD's "Specified IP address ... is invalid"
    /// (terraform-provider-vcd#807); the in-use text is ours.
    fn allocate(
        &self,
        vm: &str,
        nics: &mut [Nic],
        parents: &[Option<String>],
    ) -> Result<(), String> {
        let mut taken: Vec<(String, u32)> = vec![];
        for (n, parent) in nics.iter_mut().zip(parents) {
            if n.mode == "NONE" || n.mode == "DHCP" {
                n.ip = None;
            }
            let Some(net) = parent.as_deref().and_then(|p| self.net(p)) else {
                continue;
            };
            let mut used: Vec<u32> = self
                .allocated(&net.id, Some(vm))
                .into_iter()
                .map(|a| a.0)
                .collect();
            used.extend(taken.iter().filter(|t| t.0 == net.id).map(|t| t.1));
            let ip = match (n.mode.as_str(), n.ip.as_deref().and_then(ipv4)) {
                ("POOL", Some(ip)) if !used.contains(&ip) => ip,
                ("POOL", _) => {
                    let free = net
                        .pool
                        .and_then(|(a, b)| (a..=b).find(|ip| !used.contains(ip)));
                    free.ok_or_else(|| {
                        "Following errors occurred while updating network connections:\nThere are insufficient IP addresses to complete operation. You need to add IP addresses to the network that is associated with the object being created or deployed.".to_owned()
                    })?
                }
                ("MANUAL", Some(ip)) => {
                    let mask = ipv4(&net.netmask).unwrap_or(0);
                    if ipv4(&net.gateway).unwrap_or(0) & mask != ip & mask {
                        return Err(format!(
                            "Invalid network parameter: Specified IP address \"{}\" is invalid.",
                            ipv4_str(ip)
                        ));
                    }
                    if used.contains(&ip) {
                        return Err(format!(
                            "The IP address {} is already in use on network \"{}\".",
                            ipv4_str(ip),
                            net.name
                        ));
                    }
                    ip
                }
                _ => continue,
            };
            n.ip = Some(ipv4_str(ip));
            taken.push((net.id.clone(), ip));
        }
        Ok(())
    }

    pub fn net(&self, id: &str) -> Option<&OrgNet> {
        self.networks.iter().find(|o| o.id == id)
    }
    pub fn catalog(&self, id: &str) -> Option<&Catalog> {
        self.catalogs.iter().find(|o| o.id == id)
    }
    pub fn profile(&self, id: &str) -> Option<&Profile> {
        self.profiles.iter().find(|o| o.id == id)
    }
    pub fn vapp(&self, id: &str) -> Option<&VApp> {
        self.vapps.iter().find(|o| o.id == id)
    }
    pub fn vapp_mut(&mut self, id: &str) -> Option<&mut VApp> {
        self.vapps.iter_mut().find(|o| o.id == id)
    }
    pub fn vm(&self, id: &str) -> Option<&Vm> {
        self.vms.iter().find(|o| o.id == id)
    }
    pub fn vm_mut(&mut self, id: &str) -> Option<&mut Vm> {
        self.vms.iter_mut().find(|o| o.id == id)
    }
    pub fn template(&self, id: &str) -> Option<&Template> {
        self.templates.iter().find(|o| o.id == id)
    }
    pub fn item(&self, id: &str) -> Option<&CatalogItem> {
        self.items.iter().find(|o| o.id == id)
    }
    pub fn task(&self, id: &str) -> Option<&Task> {
        self.tasks.iter().find(|o| o.id == id)
    }
    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|o| o.id == id)
    }
    /// VMs of a vApp, in order.
    pub fn vapp_vms(&self, vapp: &str) -> Vec<&Vm> {
        self.vms
            .iter()
            .filter(|v| v.parent == Parent::VApp(vapp.to_owned()))
            .collect()
    }
    /// VMs of a template.
    pub fn template_vms(&self, t: &str) -> Vec<&Vm> {
        self.vms
            .iter()
            .filter(|v| v.parent == Parent::Template(t.to_owned()))
            .collect()
    }
    /// The org of a VDC.
    pub fn vdc_org(&self, vdc: &str) -> Option<&Org> {
        self.vdc(vdc).and_then(|v| self.org(&v.org))
    }
    /// The VDC a VM lives in.
    pub fn vm_vdc(&self, vm: &Vm) -> Option<&Vdc> {
        match &vm.parent {
            Parent::VApp(a) => self.vapp(a).and_then(|a| self.vdc(&a.vdc)),
            Parent::Template(t) => self.template(t).and_then(|t| self.vdc(&t.vdc)),
        }
    }
    /// The open task keeping `entity` busy.
    pub fn busy(&self, entity: &str) -> Option<&Task> {
        self.tasks
            .iter()
            .find(|t| t.status.open() && t.locks.iter().any(|l| l == entity))
    }
    /// Open tasks owned by `owner`.
    pub fn open_tasks(&self, owner: &Owner) -> Vec<&Task> {
        self.tasks
            .iter()
            .filter(|t| t.status.open() && &t.owner == owner)
            .collect()
    }
    /// The vCD entity that manages vCenter VM `moref`, if any (name, href-ish description).
    pub fn imported(&self, moref: &str) -> Option<&Vm> {
        // A VM of a failed import (FAILED_CREATION) does not hold its vCenter VM.
        self.vms.iter().find(|v| v.moref == moref && v.status != -1)
    }

    /// Creates a task (status queued), applying the fault knobs.
    pub fn new_task(&mut self, t: NewTask<'_>) -> String {
        let NewTask {
            op_name,
            operation,
            owner,
            owner_name,
            org,
            user,
            effect,
            locks,
            mut fail,
        } = t;
        let id = new_uuid();
        if let Some(pos) = self
            .faults
            .fail_tasks
            .iter()
            .position(|(op, _)| op.as_deref().is_none_or(|o| o == op_name))
        {
            let (_, msg) = self.faults.fail_tasks.remove(pos);
            fail = Some(msg);
        }
        let (needed, auto_finish) = match self.faults.slow_polls {
            Some(n) => (n, None),
            None => (self.running_polls, self.auto_finish),
        };
        self.tasks.push(Task {
            id: id.clone(),
            op_name: op_name.to_owned(),
            operation,
            owner,
            owner_name: owner_name.to_owned(),
            org: org.to_owned(),
            user: user.to_owned(),
            status: TaskStatus::Queued,
            start: now_iso(),
            expiry: iso(SystemTime::now() + Duration::from_secs(30 * 86_400)),
            end: None,
            created: Instant::now(),
            running_polls: 0,
            needed,
            auto_finish,
            fail,
            error: None,
            effect,
            locks,
            history: vec![TaskStatus::Queued],
        });
        id
    }

    /// A GET of the task: queued → running; running → (after `needed` polls) ended.
    pub fn poll_task(&mut self, id: &str) {
        let Some(i) = self.tasks.iter().position(|t| t.id == id) else {
            return;
        };
        match self.tasks[i].status {
            TaskStatus::Queued => self.tasks[i].status = TaskStatus::Running,
            TaskStatus::Running => {
                self.tasks[i].running_polls += 1;
                if self.tasks[i].running_polls >= self.tasks[i].needed {
                    self.finish_task(i);
                }
            }
            _ => {}
        }
        let s = self.tasks[i].status;
        self.tasks[i].history.push(s);
    }

    /// Ends every open task older than its auto-finish age.
    pub fn auto_finish(&mut self) {
        let now = Instant::now();
        let due: Vec<usize> = (0..self.tasks.len())
            .filter(|&i| {
                let t = &self.tasks[i];
                t.status.open() && t.auto_finish.is_some_and(|a| now >= t.created + a)
            })
            .collect();
        for i in due {
            self.finish_task(i);
        }
    }

    /// Ends every open task now (tests: "let everything settle").
    pub fn finish_all(&mut self) {
        let open: Vec<usize> = (0..self.tasks.len())
            .filter(|&i| self.tasks[i].status.open())
            .collect();
        for i in open {
            self.finish_task(i);
        }
    }

    /// Cancels a task.
    pub fn cancel_task(&mut self, id: &str) {
        if let Some(i) = self.tasks.iter().position(|t| t.id == id) {
            if self.tasks[i].status.open() {
                let effect = self.tasks[i].effect.clone();
                self.rollback(&effect);
                let t = &mut self.tasks[i];
                t.status = TaskStatus::Canceled;
                t.end = Some(now_iso());
                t.history.push(TaskStatus::Canceled);
            }
        }
    }

    fn finish_task(&mut self, i: usize) {
        let effect = self.tasks[i].effect.clone();
        let outcome = match self.tasks[i].fail.clone() {
            Some(msg) => Err(msg),
            None => self.apply(&effect),
        };
        let t = &mut self.tasks[i];
        t.end = Some(now_iso());
        match outcome {
            Ok(()) => t.status = TaskStatus::Success,
            Err(msg) => {
                t.status = TaskStatus::Error;
                t.error = Some(msg);
                self.fail(&effect);
            }
        }
        if self.tasks[i].status == TaskStatus::Success {
            self.queue_take_overs(&effect);
        }
    }

    /// A move-import that succeeded: what vCenter must now do to its VMs.
    fn queue_take_overs(&mut self, effect: &Effect) {
        let parent = match effect {
            Effect::ImportVApp { vapp } => Some(Parent::VApp(vapp.clone())),
            Effect::ImportTemplate { template, .. } => Some(Parent::Template(template.clone())),
            _ => None,
        };
        let moved: Vec<&Vm> = match effect {
            Effect::ImportIntoVApp { vm, .. } => self.vms.iter().filter(|v| &v.id == vm).collect(),
            _ => match &parent {
                Some(p) => self.vms.iter().filter(|v| &v.parent == p).collect(),
                None => vec![],
            },
        };
        let mut out = vec![];
        for v in moved.into_iter().filter(|v| v.source_move) {
            let vdc = match &v.parent {
                Parent::VApp(a) => self.vapp(a).map(|a| a.vdc.clone()),
                Parent::Template(t) => self.template(t).map(|t| t.vdc.clone()),
            }
            .and_then(|id| self.vdc(&id).map(|d| format!("{} ({})", d.name, d.id)))
            .unwrap_or_default();
            out.push(TakeOver {
                moref: v.moref.clone(),
                name: format!("{} ({})", v.name, v.id),
                pool: vdc,
            });
        }
        self.take_overs.extend(out);
    }

    /// What a failed task leaves: a vApp import leaves the vApp and its VM in FAILED_CREATION
    /// (status -1), as vCD does (vcd-api.md §11), for the client to delete; other imports
    /// leave nothing.
    fn fail(&mut self, effect: &Effect) {
        match effect {
            Effect::ImportVApp { vapp } => {
                if let Some(a) = self.vapp_mut(vapp) {
                    a.status = -1;
                }
                for v in self.vms.iter_mut() {
                    if v.parent == Parent::VApp(vapp.clone()) {
                        v.status = -1;
                    }
                }
            }
            _ => self.rollback(effect),
        }
    }

    /// Applies a task's effect on success.
    fn apply(&mut self, effect: &Effect) -> Result<(), String> {
        match effect {
            Effect::ImportVApp { vapp } => {
                if let Some(a) = self.vapp_mut(vapp) {
                    a.status = 8;
                }
                for v in self.vms.iter_mut() {
                    if v.parent == Parent::VApp(vapp.clone()) {
                        v.status = 8;
                    }
                }
            }
            Effect::ImportTemplate { template, .. } => {
                if let Some(t) = self.templates.iter_mut().find(|t| &t.id == template) {
                    t.status = 8;
                }
                for v in self.vms.iter_mut() {
                    if v.parent == Parent::Template(template.clone()) {
                        v.status = 8;
                    }
                }
            }
            Effect::ImportIntoVApp { vapp, vm } => {
                let on = self.vapp(vapp).is_some_and(|a| a.status == 4);
                if let Some(v) = self.vm_mut(vm) {
                    v.status = if on { 4 } else { 8 };
                    v.deployed = on;
                }
            }
            Effect::NetConfig { vapp, nets } => {
                let nets = nets.clone();
                if let Some(a) = self.vapp_mut(vapp) {
                    a.networks = nets;
                }
            }
            Effect::NetConnection { vm, primary, nics } => {
                self.apply_net_connection(vm, *primary, nics)?
            }
            Effect::PowerOn { vapp } => self.set_power(vapp, true),
            Effect::PowerOff { vapp } => self.set_power(vapp, false),
            Effect::DeleteVApp { vapp } => self.remove_vapp(vapp),
        }
        Ok(())
    }

    /// The VM's NICs as the task set them, with POOL addresses handed out: the next free pool
    /// address of the org VDC network the NIC's vApp network is bridged to.
    fn apply_net_connection(
        &mut self,
        vm: &str,
        primary: Option<u32>,
        nics: &[Nic],
    ) -> Result<(), String> {
        let mut nics = nics.to_vec();
        let parents: Vec<Option<String>> = {
            let v = self.vm(vm).ok_or("VM is gone")?;
            let nets = match &v.parent {
                Parent::VApp(a) => self.vapp(a).map(|a| a.networks.clone()),
                Parent::Template(t) => self.template(t).map(|t| t.networks.clone()),
            }
            .unwrap_or_default();
            nics.iter()
                .map(|n| {
                    nets.iter()
                        .find(|c| c.name == n.network)
                        .and_then(|c| c.parent.clone())
                })
                .collect()
        };
        self.allocate(vm, &mut nics, &parents)?;
        if let Some(v) = self.vm_mut(vm) {
            v.nics = nics;
            v.primary = primary;
        }
        Ok(())
    }

    /// A vApp and its VMs powered on (status 4, deployed) or off (status 8, undeployed).
    fn set_power(&mut self, vapp: &str, on: bool) {
        let status = if on { 4 } else { 8 };
        if let Some(a) = self.vapp_mut(vapp) {
            a.status = status;
            a.deployed = on;
        }
        for v in self.vms.iter_mut() {
            if v.parent == Parent::VApp(vapp.to_owned()) {
                v.status = status;
                v.deployed = on;
            }
        }
    }

    /// Undoes what a failed or canceled task created.
    fn rollback(&mut self, effect: &Effect) {
        match effect {
            Effect::ImportVApp { vapp } => self.remove_vapp(vapp),
            Effect::ImportTemplate { template, item } => {
                let t = template.clone();
                self.templates.retain(|x| x.id != t);
                self.vms.retain(|v| v.parent != Parent::Template(t.clone()));
                if let Some(item) = item {
                    self.items.retain(|x| &x.id != item);
                }
            }
            Effect::ImportIntoVApp { vm, .. } => {
                let vm = vm.clone();
                self.vms.retain(|v| v.id != vm);
            }
            _ => {}
        }
    }

    fn remove_vapp(&mut self, vapp: &str) {
        self.vapps.retain(|a| a.id != vapp);
        self.vms
            .retain(|v| v.parent != Parent::VApp(vapp.to_owned()));
    }
}
