//! The simulator's seed: its inventory (orgs, VDCs, storage profiles, networks, catalogs),
//! its users, and the vCenter registered in it. The schema is documented in
//! `tests/vcd-seed.toml`, which is also the default seed ([`Seed::default_seed`]).

use serde::Deserialize;

/// The whole seed file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Behaviour knobs.
    #[serde(default)]
    pub sim: SimSeed,
    /// Users who may log in.
    #[serde(default)]
    pub users: Vec<UserSeed>,
    /// The registered vCenter.
    #[serde(default)]
    pub vcenter: VcenterSeed,
    /// Tenant organizations.
    #[serde(default)]
    pub orgs: Vec<OrgSeed>,
}

/// `[sim]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSeed {
    /// GETs of a task it stays `running` before it ends.
    #[serde(default = "one")]
    pub task_running_polls: u32,
    /// Age (ms) after which a task ends by itself at the next request; 0 = never.
    #[serde(default = "two_seconds")]
    pub task_auto_finish_ms: u64,
}

impl Default for SimSeed {
    fn default() -> Self {
        SimSeed {
            task_running_polls: 1,
            task_auto_finish_ms: 2000,
        }
    }
}

/// `[[users]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSeed {
    /// User name (without `@org`).
    pub name: String,
    /// Org name; `System` makes a system administrator.
    #[serde(default = "system")]
    pub org: String,
    /// Password.
    pub password: String,
}

/// `[vcenter]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VcenterSeed {
    /// False: no vCenter is registered.
    #[serde(default = "yes")]
    pub registered: bool,
    /// Name in vCD.
    #[serde(default = "vc1")]
    pub name: String,
    /// The vimServer id (a UUID); derived from the name when absent.
    pub id: Option<String>,
    /// URL shown in `VimServer/Url`.
    #[serde(default = "vc_url")]
    pub url: String,
    /// `VimServer/Username`.
    #[serde(default = "vc_user")]
    pub username: String,
    /// `VcVersion`.
    #[serde(default = "vc_version")]
    pub version: String,
    /// `IsEnabled`.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `IsConnected`.
    #[serde(default = "yes")]
    pub connected: bool,
    /// VMs offered when no vcsim backs the simulator.
    #[serde(default)]
    pub vms: Vec<VmSeed>,
}

impl Default for VcenterSeed {
    fn default() -> Self {
        VcenterSeed {
            registered: true,
            name: vc1(),
            id: None,
            url: vc_url(),
            username: vc_user(),
            version: vc_version(),
            enabled: true,
            connected: true,
            vms: Vec::new(),
        }
    }
}

/// `[[vcenter.vms]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmSeed {
    /// Managed object id, e.g. `vm-1001`.
    pub moref: String,
    /// VM name.
    pub name: String,
    /// `poweredOn`, `poweredOff` or `suspended`.
    #[serde(default = "powered_off")]
    pub power_state: String,
    /// Network adapters.
    #[serde(default)]
    pub nics: Vec<NicSeed>,
}

/// `[[vcenter.vms.nics]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NicSeed {
    /// Port group name; empty when not attached.
    #[serde(default = "vm_network")]
    pub network: String,
    /// MAC address.
    pub mac: Option<String>,
    /// vCD `NetworkAdapterType`.
    #[serde(default = "vmxnet3")]
    pub adapter: String,
    /// Connected.
    #[serde(default = "yes")]
    pub connected: bool,
}

/// `[[orgs]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgSeed {
    /// Short name.
    pub name: String,
    /// Full name.
    pub full_name: Option<String>,
    /// UUID; derived from the name when absent.
    pub id: Option<String>,
    /// Enabled.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Org VDCs.
    #[serde(default)]
    pub vdcs: Vec<VdcSeed>,
    /// Catalogs.
    #[serde(default)]
    pub catalogs: Vec<CatalogSeed>,
}

/// `[[orgs.vdcs]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VdcSeed {
    /// Name.
    pub name: String,
    /// UUID.
    pub id: Option<String>,
    /// Enabled.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Allocation model.
    #[serde(default = "allocation_vapp")]
    pub allocation_model: String,
    /// Storage profiles (a name, or `{ name, limit_mb, used_mb, enabled }`); the first is
    /// the default.
    #[serde(default = "star")]
    pub storage_profiles: Vec<ProfileSeed>,
    /// Org VDC networks.
    #[serde(default)]
    pub networks: Vec<NetworkSeed>,
}

/// One of `storage_profiles`: a bare name (no limit, nothing used) or a table.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ProfileSeed {
    /// Just the name.
    Name(String),
    /// With its limit and use.
    Full {
        /// Name.
        name: String,
        /// `Limit` in MB; 0 is no limit (as in vCD).
        #[serde(default)]
        limit_mb: u64,
        /// MB already used.
        #[serde(default)]
        used_mb: u64,
        /// Enabled.
        #[serde(default = "yes")]
        enabled: bool,
    },
}

impl ProfileSeed {
    /// (name, limit MB, used MB, enabled).
    pub fn parts(&self) -> (&str, u64, u64, bool) {
        match self {
            ProfileSeed::Name(n) => (n, 0, 0, true),
            ProfileSeed::Full {
                name,
                limit_mb,
                used_mb,
                enabled,
            } => (name, *limit_mb, *used_mb, *enabled),
        }
    }
}

/// `[[orgs.vdcs.networks]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSeed {
    /// Name.
    pub name: String,
    /// UUID.
    pub id: Option<String>,
    /// `bridged`, `natRouted` or `isolated`.
    #[serde(default = "bridged")]
    pub fence_mode: String,
    /// Gateway address.
    #[serde(default = "gateway")]
    pub gateway: String,
    /// Netmask.
    #[serde(default = "netmask")]
    pub netmask: String,
    /// Static pool `first-last`.
    pub pool: Option<String>,
    /// Addresses already allocated by something outside the simulator's VMs (an edge
    /// gateway, VMs of other tenants): listed by `allocatedAddresses`, never handed out.
    #[serde(default)]
    pub allocated: Vec<String>,
    /// Shared with the org's other VDCs.
    #[serde(default)]
    pub shared: bool,
}

/// `[[orgs.catalogs]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSeed {
    /// Name.
    pub name: String,
    /// UUID.
    pub id: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: String,
}

fn one() -> u32 {
    1
}
fn two_seconds() -> u64 {
    2000
}
fn yes() -> bool {
    true
}
fn system() -> String {
    "System".into()
}
fn vc1() -> String {
    "vc1".into()
}
fn vc_url() -> String {
    "https://vcenter.example.test:443".into()
}
fn vc_user() -> String {
    "administrator@vsphere.local".into()
}
fn vc_version() -> String {
    "7.0.3".into()
}
fn powered_off() -> String {
    "poweredOff".into()
}
fn vm_network() -> String {
    "VM Network".into()
}
fn vmxnet3() -> String {
    "VMXNET3".into()
}
fn allocation_vapp() -> String {
    "AllocationVApp".into()
}
fn star() -> Vec<ProfileSeed> {
    vec![ProfileSeed::Name("*".into())]
}
fn bridged() -> String {
    "bridged".into()
}
fn gateway() -> String {
    "192.168.100.1".into()
}
fn netmask() -> String {
    "255.255.255.0".into()
}

/// The default seed, `tests/vcd-seed.toml`, compiled in.
pub const DEFAULT_SEED: &str = include_str!("../../vcd-seed.toml");

impl Seed {
    /// Parses a seed from TOML text.
    pub fn parse(text: &str) -> Result<Seed, String> {
        let seed: Seed = toml::from_str(text).map_err(|e| format!("seed: {e}"))?;
        seed.check()?;
        Ok(seed)
    }

    /// Reads and parses a seed file.
    pub fn load(path: &std::path::Path) -> Result<Seed, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading seed {}: {e}", path.display()))?;
        Seed::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The default seed (`tests/vcd-seed.toml`).
    pub fn default_seed() -> Seed {
        Seed::parse(DEFAULT_SEED).expect("the default seed parses")
    }

    fn check(&self) -> Result<(), String> {
        let mut names = std::collections::HashSet::new();
        for o in &self.orgs {
            if o.name.eq_ignore_ascii_case("System") {
                return Err("org \"System\" is built in; do not seed it".into());
            }
            if !names.insert(o.name.to_lowercase()) {
                return Err(format!("org {:?} appears twice", o.name));
            }
            let mut vdcs = std::collections::HashSet::new();
            for v in &o.vdcs {
                if !vdcs.insert(v.name.to_lowercase()) {
                    return Err(format!(
                        "VDC {:?} appears twice in org {:?}",
                        v.name, o.name
                    ));
                }
                if v.storage_profiles.is_empty() {
                    return Err(format!("VDC {:?} has no storage profile", v.name));
                }
                for n in &v.networks {
                    if !matches!(n.fence_mode.as_str(), "bridged" | "natRouted" | "isolated") {
                        return Err(format!(
                            "network {:?}: fence_mode must be bridged, natRouted or isolated",
                            n.name
                        ));
                    }
                    if let Some(p) = &n.pool {
                        super::model::parse_pool(p)
                            .ok_or_else(|| format!("network {:?}: bad pool {p:?}", n.name))?;
                    }
                    if let Some(a) = n.allocated.iter().find(|a| super::model::ipv4(a).is_none()) {
                        return Err(format!("network {:?}: bad allocated address {a:?}", n.name));
                    }
                }
            }
        }
        for u in &self.users {
            let system = u.org.eq_ignore_ascii_case("System");
            if !system
                && !self
                    .orgs
                    .iter()
                    .any(|o| o.name.eq_ignore_ascii_case(&u.org))
            {
                return Err(format!("user {:?}: no org {:?}", u.name, u.org));
            }
        }
        Ok(())
    }
}
