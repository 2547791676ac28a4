//! Response bodies: every resource as vCD writes it (vcloud default namespace, `ovf` and
//! `vmext` prefixes, children in XSD order).

use super::model::{Nic, Owner, Parent, State, Task, TaskStatus, Template, VApp, VAppNet, Vdc, Vm};
use super::xml::Out;

pub const T_SESSION: &str = "application/vnd.vmware.vcloud.session+xml";
pub const T_ORG_LIST: &str = "application/vnd.vmware.vcloud.orgList+xml";
pub const T_ORG: &str = "application/vnd.vmware.vcloud.org+xml";
pub const T_ADMIN_ORG: &str = "application/vnd.vmware.admin.organization+xml";
pub const T_VDC: &str = "application/vnd.vmware.vcloud.vdc+xml";
pub const T_ADMIN_VDC: &str = "application/vnd.vmware.admin.vdc+xml";
pub const T_VAPP: &str = "application/vnd.vmware.vcloud.vApp+xml";
pub const T_VM: &str = "application/vnd.vmware.vcloud.vm+xml";
pub const T_TEMPLATE: &str = "application/vnd.vmware.vcloud.vAppTemplate+xml";
pub const T_CATALOG: &str = "application/vnd.vmware.vcloud.catalog+xml";
pub const T_ADMIN_CATALOG: &str = "application/vnd.vmware.admin.catalog+xml";
pub const T_CATALOG_ITEM: &str = "application/vnd.vmware.vcloud.catalogItem+xml";
pub const T_TASK: &str = "application/vnd.vmware.vcloud.task+xml";
pub const T_NET_CONFIG: &str = "application/vnd.vmware.vcloud.networkConfigSection+xml";
pub const T_NET_CONN: &str = "application/vnd.vmware.vcloud.networkConnectionSection+xml";
/// pyvcloud's `EntityType.ALLOCATED_NETWORK_ADDRESS`.
pub const T_ALLOCATED: &str = "application/vnd.vmware.vcloud.allocatedNetworkAddress+xml";
pub const T_ORG_VDC_NET: &str = "application/vnd.vmware.vcloud.orgVdcNetwork+xml";
pub const T_VAPP_NET: &str = "application/vnd.vmware.vcloud.vAppNetwork+xml";
pub const T_QUERY_LIST: &str = "application/vnd.vmware.vcloud.query.queryList+xml";
pub const T_RECORDS: &str = "application/vnd.vmware.vcloud.query.records+xml";
pub const T_IDRECORDS: &str = "application/vnd.vmware.vcloud.query.idrecords+xml";
pub const T_REFERENCES: &str = "application/vnd.vmware.vcloud.query.references+xml";
pub const T_ERROR: &str = "application/vnd.vmware.vcloud.error+xml";
pub const T_ADMIN: &str = "application/vnd.vmware.admin.vcloud+xml";
pub const T_EXTENSION: &str = "application/vnd.vmware.admin.vmwExtension+xml";
pub const T_VIM_REFS: &str = "application/vnd.vmware.admin.vmwVimServerReferences+xml";
pub const T_VIM: &str = "application/vnd.vmware.admin.vmwvirtualcenter+xml";
pub const T_VMS_LIST: &str = "application/vnd.vmware.admin.vmsObjectRefsList+xml";
pub const T_IMPORT_VAPP: &str = "application/vnd.vmware.admin.importVmAsVAppParams+xml";
pub const T_IMPORT_TEMPLATE: &str = "application/vnd.vmware.admin.importVmAsVAppTemplateParams+xml";
pub const T_IMPORT_INTO: &str = "application/vnd.vmware.admin.importVmIntoExistingVAppParams+xml";
pub const T_PROFILE: &str = "application/vnd.vmware.vcloud.vdcStorageProfile+xml";
pub const T_USER: &str = "application/vnd.vmware.admin.user+xml";
pub const T_OWNER: &str = "application/vnd.vmware.vcloud.owner+xml";

/// Who is asking, and in which API version.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    pub version: String,
    pub user_id: String,
    pub user_name: String,
    pub org_id: String,
    pub org_name: String,
    pub sysadmin: bool,
    pub session_id: String,
}

impl Ctx {
    /// The simulator's one access rule: a system administrator sees every org's objects,
    /// anyone else only those of their own org.
    pub fn sees(&self, org_id: &str) -> bool {
        self.sysadmin || org_id == self.org_id
    }
}

/// `base + path`.
pub fn href(st: &State, path: &str) -> String {
    format!("{}{path}", st.base)
}

/// A user's name by id.
pub fn user_name(st: &State, id: &str) -> String {
    st.user(id)
        .map(|u| u.name.clone())
        .unwrap_or_else(|| "system".into())
}

/// A VM's href (vApp or template VM).
pub fn vm_href(st: &State, v: &Vm) -> String {
    match v.parent {
        Parent::VApp(_) => href(st, &format!("/api/vApp/vm-{}", v.id)),
        Parent::Template(_) => href(st, &format!("/api/vAppTemplate/vm-{}", v.id)),
    }
}

fn user_ref(o: &mut Out, st: &State, el: &str, user: &str) {
    let h = href(st, &format!("/api/admin/user/{user}"));
    let n = user_name(st, user);
    o.empty(el, &[("type", T_USER), ("name", &n), ("href", &h)]);
}

/// The `Session` document.
pub fn session(st: &State, ctx: &Ctx) -> String {
    let mut o = Out::new();
    let user = st.user(&ctx.user_id);
    let roles = if ctx.sysadmin {
        "System Administrator"
    } else {
        "Organization Administrator"
    };
    let uid = format!("urn:vcloud:user:{}", ctx.user_id);
    let loc = format!("{}@vcd-sim", st.orgs[0].id);
    let h = href(st, "/api/session/");
    o.open(
        "Session",
        &[
            ("locationId", &loc),
            ("org", &ctx.org_name),
            ("roles", roles),
            ("user", user.map(|u| u.name.as_str()).unwrap_or("")),
            ("userId", &uid),
            ("href", &h),
            ("type", T_SESSION),
        ],
    );
    o.link("down", Some(T_ORG_LIST), &href(st, "/api/org/"), None);
    o.link("remove", None, &href(st, "/api/session/"), None);
    if ctx.sysadmin {
        o.link("down", Some(T_ADMIN), &href(st, "/api/admin/"), None);
    }
    o.link(
        "down",
        Some(T_ORG),
        &href(st, &format!("/api/org/{}", ctx.org_id)),
        Some(&ctx.org_name),
    );
    o.link("down", Some(T_QUERY_LIST), &href(st, "/api/query"), None);
    if ctx.sysadmin {
        o.link(
            "down",
            Some(T_EXTENSION),
            &href(st, "/api/admin/extension"),
            None,
        );
    }
    o.close("Session");
    o.finish()
}

/// `OrgList`.
pub fn org_list(st: &State, ctx: &Ctx) -> String {
    let mut o = Out::new();
    o.open(
        "OrgList",
        &[("href", &href(st, "/api/org/")), ("type", T_ORG_LIST)],
    );
    for org in st.orgs.iter().filter(|x| ctx.sees(&x.id)) {
        let h = href(st, &format!("/api/org/{}", org.id));
        o.empty("Org", &[("type", T_ORG), ("name", &org.name), ("href", &h)]);
    }
    o.close("OrgList");
    o.finish()
}

/// `Org` (tenant view) or `AdminOrg`.
pub fn org(st: &State, id: &str, admin: bool) -> String {
    let org = st.org(id).expect("checked");
    let mut o = Out::new();
    let (el, ty, path) = if admin {
        ("AdminOrg", T_ADMIN_ORG, format!("/api/admin/org/{id}"))
    } else {
        ("Org", T_ORG, format!("/api/org/{id}"))
    };
    let urn = format!("urn:vcloud:org:{id}");
    o.open(
        el,
        &[
            ("name", &org.name),
            ("id", &urn),
            ("href", &href(st, &path)),
            ("type", ty),
        ],
    );
    if admin {
        o.link(
            "alternate",
            Some(T_ORG),
            &href(st, &format!("/api/org/{id}")),
            None,
        );
    } else {
        tenant_org_links(&mut o, st, id);
    }
    o.leaf("Description", "");
    o.leaf("FullName", &org.full_name);
    o.leaf("IsEnabled", &org.enabled.to_string());
    if admin {
        admin_org_refs(&mut o, st, id);
    }
    o.close(el);
    o.finish()
}

/// API 33+: no direct VDC/catalog links; query links instead. The VDC one comes first and is
/// the only records link whose href contains "vdc" (pyvcloud takes the first match).
fn tenant_org_links(o: &mut Out, st: &State, id: &str) {
    o.link(
        "down",
        Some(T_RECORDS),
        &href(
            st,
            &format!("/api/query?type=orgVdc&format=records&filter=org=={id}"),
        ),
        None,
    );
    o.link(
        "down",
        Some(T_RECORDS),
        &href(
            st,
            &format!("/api/query?type=catalog&format=records&filter=org=={id}"),
        ),
        None,
    );
    o.link(
        "alternate",
        Some(T_ADMIN_ORG),
        &href(st, &format!("/api/admin/org/{id}")),
        None,
    );
}

/// `AdminOrg`'s references to the organization's catalogs, VDCs and networks.
fn admin_org_refs(o: &mut Out, st: &State, id: &str) {
    o.open("Catalogs", &[]);
    for c in st.catalogs.iter().filter(|c| c.org == id) {
        let h = href(st, &format!("/api/admin/catalog/{}", c.id));
        o.empty(
            "CatalogReference",
            &[("type", T_ADMIN_CATALOG), ("name", &c.name), ("href", &h)],
        );
    }
    o.close("Catalogs");
    o.open("Vdcs", &[]);
    for v in st.vdcs.iter().filter(|v| v.org == id) {
        let h = href(st, &format!("/api/admin/vdc/{}", v.id));
        o.empty(
            "Vdc",
            &[("type", T_ADMIN_VDC), ("name", &v.name), ("href", &h)],
        );
    }
    o.close("Vdcs");
    o.open("Networks", &[]);
    for n in &st.networks {
        if st.vdc(&n.vdc).is_some_and(|v| v.org == id) {
            let h = href(st, &format!("/api/admin/network/{}", n.id));
            o.empty(
                "Network",
                &[("type", T_ORG_VDC_NET), ("name", &n.name), ("href", &h)],
            );
        }
    }
    o.close("Networks");
}

/// `Vdc` or `AdminVdc`.
pub fn vdc(st: &State, id: &str, admin: bool) -> String {
    let v = st.vdc(id).expect("checked");
    let mut o = Out::new();
    let (el, ty, path) = if admin {
        ("AdminVdc", T_ADMIN_VDC, format!("/api/admin/vdc/{id}"))
    } else {
        ("Vdc", T_VDC, format!("/api/vdc/{id}"))
    };
    let urn = format!("urn:vcloud:vdc:{id}");
    o.open(
        el,
        &[
            ("status", "1"),
            ("name", &v.name),
            ("id", &urn),
            ("href", &href(st, &path)),
            ("type", ty),
        ],
    );
    vdc_links(&mut o, st, v, admin);
    o.leaf("Description", "");
    o.leaf("AllocationModel", &v.allocation_model);
    o.open("ComputeCapacity", &[]);
    for (el, unit) in [("Cpu", "MHz"), ("Memory", "MB")] {
        o.open(el, &[]);
        o.leaf("Units", unit)
            .leaf("Allocated", "0")
            .leaf("Limit", "0");
        o.leaf("Reserved", "0").leaf("Used", "0");
        o.close(el);
    }
    o.close("ComputeCapacity");
    resource_entities(&mut o, st, id);
    o.open("AvailableNetworks", &[]);
    let nets: Vec<_> = st.networks.iter().filter(|n| n.vdc == id).collect();
    for n in &nets {
        let h = href(st, &format!("/api/network/{}", n.id));
        o.empty(
            "Network",
            &[
                ("type", "application/vnd.vmware.vcloud.network+xml"),
                ("name", &n.name),
                ("href", &h),
            ],
        );
    }
    o.close("AvailableNetworks");
    o.open("Capabilities", &[])
        .open("SupportedHardwareVersions", &[]);
    o.leaf("SupportedHardwareVersion", "vmx-14");
    o.close("SupportedHardwareVersions").close("Capabilities");
    o.leaf("NicQuota", "0").leaf("NetworkQuota", "1000");
    o.leaf("UsedNetworkCount", &nets.len().to_string());
    o.leaf("VmQuota", "0")
        .leaf("IsEnabled", &v.enabled.to_string());
    o.open("VdcStorageProfiles", &[]);
    for p in st.profiles.iter().filter(|p| p.vdc == id) {
        let h = href(st, &format!("/api/vdcStorageProfile/{}", p.id));
        o.empty(
            "VdcStorageProfile",
            &[("type", T_PROFILE), ("name", &p.name), ("href", &h)],
        );
    }
    o.close("VdcStorageProfiles");
    if admin {
        o.leaf("IsThinProvision", "true")
            .leaf("UsesFastProvisioning", "false");
    }
    o.close(el);
    o.finish()
}

/// A VDC's links: up to its organization and across to the other view (admin or tenant),
/// then its networks query.
fn vdc_links(o: &mut Out, st: &State, v: &Vdc, admin: bool) {
    let id = &v.id;
    if admin {
        o.link(
            "up",
            Some(T_ADMIN_ORG),
            &href(st, &format!("/api/admin/org/{}", v.org)),
            None,
        );
        o.link(
            "alternate",
            Some(T_VDC),
            &href(st, &format!("/api/vdc/{id}")),
            None,
        );
    } else {
        o.link(
            "up",
            Some(T_ORG),
            &href(st, &format!("/api/org/{}", v.org)),
            None,
        );
        o.link(
            "alternate",
            Some(T_ADMIN_VDC),
            &href(st, &format!("/api/admin/vdc/{id}")),
            None,
        );
    }
    o.link(
        "orgVdcNetworks",
        Some(T_RECORDS),
        &href(st, &format!("/api/admin/vdc/{id}/networks")),
        None,
    );
}

/// The VDC's vApps, then its templates.
fn resource_entities(o: &mut Out, st: &State, id: &str) {
    o.open("ResourceEntities", &[]);
    for a in st.vapps.iter().filter(|a| a.vdc == id) {
        let h = href(st, &format!("/api/vApp/vapp-{}", a.id));
        o.empty(
            "ResourceEntity",
            &[("type", T_VAPP), ("name", &a.name), ("href", &h)],
        );
    }
    for t in st.templates.iter().filter(|t| t.vdc == id) {
        let h = href(st, &format!("/api/vAppTemplate/vappTemplate-{}", t.id));
        o.empty(
            "ResourceEntity",
            &[("type", T_TEMPLATE), ("name", &t.name), ("href", &h)],
        );
    }
    o.close("ResourceEntities");
}

/// `VdcStorageProfile`.
pub fn profile(st: &State, id: &str) -> String {
    let p = st.profile(id).expect("checked");
    let mut o = Out::new();
    let urn = format!("urn:vcloud:vdcstorageProfile:{id}");
    let h = href(st, &format!("/api/vdcStorageProfile/{id}"));
    o.open(
        "VdcStorageProfile",
        &[
            ("name", &p.name),
            ("id", &urn),
            ("href", &h),
            ("type", T_PROFILE),
        ],
    );
    o.link(
        "up",
        Some(T_VDC),
        &href(st, &format!("/api/vdc/{}", p.vdc)),
        None,
    );
    o.leaf("Enabled", &p.enabled.to_string())
        .leaf("Units", "MB")
        .leaf("Limit", &p.limit_mb.to_string());
    o.leaf("Default", &p.default.to_string());
    o.close("VdcStorageProfile");
    o.finish()
}

fn ip_scope(o: &mut Out, inherited: bool, gateway: &str, netmask: &str, pool: Option<(u32, u32)>) {
    o.open("IpScopes", &[]).open("IpScope", &[]);
    o.leaf("IsInherited", &inherited.to_string());
    o.leaf("Gateway", gateway).leaf("Netmask", netmask);
    o.leaf(
        "SubnetPrefixLength",
        &super::model::prefix_len(netmask).to_string(),
    );
    o.leaf("IsEnabled", "true");
    if let Some((a, b)) = pool {
        o.open("IpRanges", &[]).open("IpRange", &[]);
        o.leaf("StartAddress", &super::model::ipv4_str(a));
        o.leaf("EndAddress", &super::model::ipv4_str(b));
        o.close("IpRange").close("IpRanges");
    }
    o.close("IpScope").close("IpScopes");
}

/// `OrgVdcNetwork`.
pub fn org_net(st: &State, id: &str, admin: bool) -> String {
    let n = st.net(id).expect("checked");
    let mut o = Out::new();
    let urn = format!("urn:vcloud:network:{id}");
    let path = if admin {
        format!("/api/admin/network/{id}")
    } else {
        format!("/api/network/{id}")
    };
    o.open(
        "OrgVdcNetwork",
        &[
            ("status", "1"),
            ("name", &n.name),
            ("id", &urn),
            ("href", &href(st, &path)),
            ("type", T_ORG_VDC_NET),
        ],
    );
    let up = if admin {
        (T_ADMIN_VDC, format!("/api/admin/vdc/{}", n.vdc))
    } else {
        (T_VDC, format!("/api/vdc/{}", n.vdc))
    };
    o.link("up", Some(up.0), &href(st, &up.1), None);
    // As pyvcloud's `VdcNetwork.list_allocated_ip_address` follows it.
    o.link(
        "down",
        Some(T_ALLOCATED),
        &href(st, &format!("/api/network/{id}/allocatedAddresses/")),
        None,
    );
    o.leaf("Description", "");
    o.open("Configuration", &[]);
    ip_scope(&mut o, false, &n.gateway, &n.netmask, n.pool);
    o.leaf("FenceMode", &n.fence_mode);
    o.leaf("RetainNetInfoAcrossDeployments", "false");
    o.close("Configuration");
    o.leaf("IsShared", &n.shared.to_string());
    o.close("OrgVdcNetwork");
    o.finish()
}

/// `AllocatedIpAddresses` of an org VDC network: each `IpAddress` with its
/// `allocationType` (`vsmAllocated` for what the seed lists, `vmAllocated` for a VM's NIC)
/// and `isDeployed`, as pyvcloud's `list_allocated_ip_address` reads them.
pub fn allocated_addresses(st: &State, id: &str) -> String {
    let mut o = Out::new();
    let h = href(st, &format!("/api/network/{id}/allocatedAddresses/"));
    o.open(
        "AllocatedIpAddresses",
        &[("href", &h), ("type", T_ALLOCATED)],
    );
    o.link(
        "up",
        Some(T_ORG_VDC_NET),
        &href(st, &format!("/api/network/{id}")),
        None,
    );
    for (ip, vm) in st.allocated(id, None) {
        let (kind, deployed) = match vm.as_deref().and_then(|v| st.vm(v)) {
            Some(v) => ("vmAllocated", v.deployed),
            None => ("vsmAllocated", true),
        };
        o.open(
            "IpAddress",
            &[
                ("allocationType", kind),
                ("isDeployed", &deployed.to_string()),
            ],
        );
        o.leaf("IpAddress", &super::model::ipv4_str(ip));
        o.close("IpAddress");
    }
    o.close("AllocatedIpAddresses");
    o.finish()
}

fn vapp_net_config(o: &mut Out, st: &State, n: &VAppNet) {
    o.open("NetworkConfig", &[("networkName", &n.name)]);
    if let Some(d) = &n.description {
        o.leaf("Description", d);
    }
    o.open("Configuration", &[]);
    match (&n.parent, &n.scope) {
        (Some(p), _) if st.net(p).is_some() => {
            let on = st.net(p).expect("checked");
            ip_scope(o, true, &on.gateway, &on.netmask, None);
        }
        (_, Some(s)) => ip_scope(o, s.inherited, &s.gateway, &s.netmask, None),
        _ => {}
    }
    if let Some(p) = n.parent.as_deref().and_then(|p| st.net(p)) {
        let h = href(st, &format!("/api/admin/network/{}", p.id));
        o.empty(
            "ParentNetwork",
            &[("type", T_ORG_VDC_NET), ("name", &p.name), ("href", &h)],
        );
    }
    o.leaf("FenceMode", &n.fence_mode);
    o.leaf("RetainNetInfoAcrossDeployments", &n.retain.to_string());
    o.close("Configuration");
    o.leaf("IsDeployed", &n.deployed.to_string());
    o.close("NetworkConfig");
}

/// `NetworkConfigSection` of a vApp or template (`base` is its href).
pub fn net_config_section(o: &mut Out, st: &State, base: &str, nets: &[VAppNet], editable: bool) {
    let h = format!("{base}/networkConfigSection/");
    o.open(
        "NetworkConfigSection",
        &[
            ("href", &h),
            ("type", T_NET_CONFIG),
            ("ovf:required", "false"),
        ],
    );
    o.leaf(
        "ovf:Info",
        "The configuration parameters for logical networks",
    );
    if editable {
        o.link("edit", Some(T_NET_CONFIG), &h, None);
    }
    for n in nets {
        vapp_net_config(o, st, n);
    }
    o.close("NetworkConfigSection");
}

fn nic(o: &mut Out, n: &Nic) {
    o.open(
        "NetworkConnection",
        &[("needsCustomization", "false"), ("network", &n.network)],
    );
    o.leaf("NetworkConnectionIndex", &n.index.to_string());
    if let Some(ip) = &n.ip {
        o.leaf("IpAddress", ip);
    }
    o.leaf("IsConnected", &n.connected.to_string());
    o.leaf("MACAddress", &n.mac);
    o.leaf("IpAddressAllocationMode", &n.mode);
    o.leaf("NetworkAdapterType", &n.adapter);
    o.close("NetworkConnection");
}

/// `NetworkConnectionSection` of a VM.
pub fn net_conn_section(o: &mut Out, st: &State, v: &Vm, editable: bool) {
    let h = format!("{}/networkConnectionSection/", vm_href(st, v));
    o.open(
        "NetworkConnectionSection",
        &[
            ("href", &h),
            ("type", T_NET_CONN),
            ("ovf:required", "false"),
        ],
    );
    o.leaf("ovf:Info", "Specifies the available VM network connections");
    if let Some(p) = v.primary {
        o.leaf("PrimaryNetworkConnectionIndex", &p.to_string());
    }
    for n in &v.nics {
        nic(o, n);
    }
    if editable {
        o.link("edit", Some(T_NET_CONN), &h, None);
    }
    o.close("NetworkConnectionSection");
}

/// A `Task` element.
pub fn task(o: &mut Out, st: &State, t: &Task) {
    let h = href(st, &format!("/api/task/{}", t.id));
    let urn = format!("urn:vcloud:task:{}", t.id);
    let mut attrs: Vec<(&str, &str)> = vec![("cancelRequested", "false")];
    if let Some(e) = &t.end {
        attrs.push(("endTime", e));
    }
    attrs.extend([
        ("expiryTime", t.expiry.as_str()),
        ("operation", t.operation.as_str()),
        ("operationName", t.op_name.as_str()),
        ("serviceNamespace", "com.vmware.cloud"),
        ("startTime", t.start.as_str()),
        ("status", t.status.as_str()),
        ("name", "task"),
        ("id", urn.as_str()),
        ("href", h.as_str()),
        ("type", T_TASK),
    ]);
    o.open("Task", &attrs);
    if t.status.open() {
        o.link("task:cancel", None, &format!("{h}/action/cancel"), None);
    }
    let (oty, ohref) = match &t.owner {
        Owner::VApp(id) => (T_VAPP, href(st, &format!("/api/vApp/vapp-{id}"))),
        Owner::Vm(id) => (T_VM, href(st, &format!("/api/vApp/vm-{id}"))),
        Owner::Template(id) => (
            T_TEMPLATE,
            href(st, &format!("/api/vAppTemplate/vappTemplate-{id}")),
        ),
    };
    o.empty(
        "Owner",
        &[("type", oty), ("name", &t.owner_name), ("href", &ohref)],
    );
    if let Some(e) = &t.error {
        o.empty(
            "Error",
            &[
                ("majorErrorCode", "500"),
                ("message", e),
                ("minorErrorCode", "INTERNAL_SERVER_ERROR"),
            ],
        );
    }
    user_ref(o, st, "User", &t.user);
    let org = st.org(&t.org);
    let oh = href(st, &format!("/api/org/{}", t.org));
    o.empty(
        "Organization",
        &[
            ("type", T_ORG),
            ("name", org.map(|x| x.name.as_str()).unwrap_or("")),
            ("href", &oh),
        ],
    );
    let progress = match t.status {
        TaskStatus::Queued => 0,
        TaskStatus::Running => (100 * (t.running_polls + 1) / (t.needed + 1)).min(99),
        _ => 100,
    };
    o.leaf("Progress", &progress.to_string());
    if let Some(e) = &t.error {
        o.leaf("Details", e);
    }
    o.close("Task");
}

/// A standalone `Task` document.
pub fn task_doc(st: &State, t: &Task) -> String {
    let mut o = Out::new();
    task(&mut o, st, t);
    o.finish()
}

fn tasks(o: &mut Out, st: &State, owner: &Owner) {
    let open = st.open_tasks(owner);
    if !open.is_empty() {
        o.open("Tasks", &[]);
        for t in open {
            task(o, st, t);
        }
        o.close("Tasks");
    }
}

/// A `Vm` element (vApp VM or template VM).
pub fn vm(o: &mut Out, st: &State, v: &Vm, ctx: &Ctx) {
    let h = vm_href(st, v);
    let urn = format!("urn:vcloud:vm:{}", v.id);
    let status = v.status.to_string();
    o.open(
        "Vm",
        &[
            ("needsCustomization", "false"),
            ("nestedHypervisorEnabled", "false"),
            ("deployed", if v.deployed { "true" } else { "false" }),
            ("status", &status),
            ("name", &v.name),
            ("id", &urn),
            ("href", &h),
            ("type", T_VM),
        ],
    );
    if ctx.sysadmin {
        if let Some(vc) = &st.vcenter {
            o.open("VCloudExtension", &[("required", "false")]);
            o.open("vmext:VmVimInfo", &[])
                .open("vmext:VmVimObjectRef", &[]);
            let vh = href(st, &format!("/api/admin/extension/vimServer/{}", vc.id));
            o.empty(
                "vmext:VimServerRef",
                &[("type", T_VIM), ("name", &vc.name), ("href", &vh)],
            );
            o.leaf("vmext:MoRef", &v.moref);
            o.leaf("vmext:VimObjectType", "VIRTUAL_MACHINE");
            o.close("vmext:VmVimObjectRef").close("vmext:VmVimInfo");
            o.close("VCloudExtension");
        }
    }
    let template = matches!(v.parent, Parent::Template(_));
    match &v.parent {
        Parent::VApp(a) => {
            o.link(
                "up",
                Some(T_VAPP),
                &href(st, &format!("/api/vApp/vapp-{a}")),
                None,
            );
        }
        Parent::Template(t) => {
            o.link(
                "up",
                Some(T_TEMPLATE),
                &href(st, &format!("/api/vAppTemplate/vappTemplate-{t}")),
                None,
            );
        }
    }
    o.link(
        "down",
        Some(T_NET_CONN),
        &format!("{h}/networkConnectionSection/"),
        None,
    );
    o.leaf("Description", &v.description);
    tasks(o, st, &Owner::Vm(v.id.clone()));
    net_conn_section(o, st, v, !template);
    o.leaf("DateCreated", &v.created);
    o.leaf("VAppScopedLocalId", &v.local_id);
    if let Some(p) = st.profile(&v.profile) {
        let ph = href(st, &format!("/api/vdcStorageProfile/{}", p.id));
        o.empty(
            "StorageProfile",
            &[("type", T_PROFILE), ("name", &p.name), ("href", &ph)],
        );
    }
    o.close("Vm");
}

/// A standalone `Vm` document.
pub fn vm_doc(st: &State, v: &Vm, ctx: &Ctx) -> String {
    let mut o = Out::new();
    vm(&mut o, st, v, ctx);
    o.finish()
}

/// A `VApp` document.
pub fn vapp(st: &State, a: &VApp, ctx: &Ctx) -> String {
    let mut o = Out::new();
    let h = href(st, &format!("/api/vApp/vapp-{}", a.id));
    let urn = format!("urn:vcloud:vapp:{}", a.id);
    let status = a.status.to_string();
    o.open(
        "VApp",
        &[
            ("ovfDescriptorUploaded", "true"),
            ("deployed", if a.deployed { "true" } else { "false" }),
            ("status", &status),
            ("name", &a.name),
            ("id", &urn),
            ("href", &h),
            ("type", T_VAPP),
        ],
    );
    vapp_links(&mut o, st, a, &h);
    o.leaf("Description", &a.description);
    tasks(&mut o, st, &Owner::VApp(a.id.clone()));
    if a.status != 0 {
        o.open(
            "ovf:NetworkSection",
            &[
                ("href", &format!("{h}/networkSection/")),
                ("type", "application/vnd.vmware.vcloud.networkSection+xml"),
                ("ovf:required", "false"),
            ],
        );
        o.leaf("ovf:Info", "The list of logical networks");
        for n in &a.networks {
            o.open("ovf:Network", &[("ovf:name", &n.name)]);
            o.leaf("ovf:Description", n.description.as_deref().unwrap_or(""));
            o.close("ovf:Network");
        }
        o.close("ovf:NetworkSection");
    }
    net_config_section(&mut o, st, &h, &a.networks, true);
    o.leaf("DateCreated", &a.created);
    o.open("Owner", &[("type", T_OWNER)]);
    user_ref(&mut o, st, "User", &a.owner);
    o.close("Owner");
    o.leaf("InMaintenanceMode", "false");
    let vms = st.vapp_vms(&a.id);
    if !vms.is_empty() {
        o.open("Children", &[]);
        for v in vms {
            vm(&mut o, st, v, ctx);
        }
        o.close("Children");
    }
    o.close("VApp");
    o.finish()
}

/// A vApp's links (`h` is its href): the power actions and remove only when vCD offers them
/// (not while a task holds the vApp; power on when off, off when on; remove when undeployed).
fn vapp_links(o: &mut Out, st: &State, a: &VApp, h: &str) {
    let busy = st.busy(&a.id).is_some();
    if !busy && a.status == 8 {
        o.link(
            "power:powerOn",
            None,
            &format!("{h}/power/action/powerOn"),
            None,
        );
    }
    if !busy && a.status == 4 {
        o.link(
            "power:powerOff",
            None,
            &format!("{h}/power/action/powerOff"),
            None,
        );
    }
    for n in &a.networks {
        o.link(
            "down",
            Some(T_VAPP_NET),
            &href(st, &format!("/api/network/{}", n.id)),
            Some(&n.name),
        );
    }
    if !a.deployed && !busy {
        o.link("remove", None, h, None);
    }
    o.link(
        "up",
        Some(T_VDC),
        &href(st, &format!("/api/vdc/{}", a.vdc)),
        None,
    );
    o.link(
        "down",
        Some(T_NET_CONFIG),
        &format!("{h}/networkConfigSection/"),
        None,
    );
}

/// A `VAppTemplate` document.
pub fn template(st: &State, t: &Template, ctx: &Ctx) -> String {
    let mut o = Out::new();
    let h = href(st, &format!("/api/vAppTemplate/vappTemplate-{}", t.id));
    let urn = format!("urn:vcloud:vapptemplate:{}", t.id);
    let status = t.status.to_string();
    o.open(
        "VAppTemplate",
        &[
            ("goldMaster", if t.gold_master { "true" } else { "false" }),
            ("ovfDescriptorUploaded", "true"),
            ("status", &status),
            ("name", &t.name),
            ("id", &urn),
            ("href", &h),
            ("type", T_TEMPLATE),
        ],
    );
    o.link(
        "up",
        Some(T_VDC),
        &href(st, &format!("/api/vdc/{}", t.vdc)),
        None,
    );
    if let Some(item) = st.items.iter().find(|i| i.template == t.id) {
        o.link(
            "catalogItem",
            Some(T_CATALOG_ITEM),
            &href(st, &format!("/api/catalogItem/{}", item.id)),
            None,
        );
    }
    o.leaf("Description", &t.description);
    tasks(&mut o, st, &Owner::Template(t.id.clone()));
    o.open("Owner", &[("type", T_OWNER)]);
    user_ref(&mut o, st, "User", &t.owner);
    o.close("Owner");
    let vms = st.template_vms(&t.id);
    if !vms.is_empty() {
        o.open("Children", &[]);
        for v in vms {
            vm(&mut o, st, v, ctx);
        }
        o.close("Children");
    }
    net_config_section(&mut o, st, &h, &t.networks, false);
    o.leaf("DateCreated", &t.created);
    o.close("VAppTemplate");
    o.finish()
}

/// A vApp network (`VAppNetwork`, `GET /api/network/{id}` for a vApp network id).
pub fn vapp_network(st: &State, a: &VApp, n: &VAppNet) -> String {
    let mut o = Out::new();
    let h = href(st, &format!("/api/network/{}", n.id));
    let urn = format!("urn:vcloud:network:{}", n.id);
    o.open(
        "VAppNetwork",
        &[
            ("name", &n.name),
            ("id", &urn),
            ("href", &h),
            ("type", T_VAPP_NET),
        ],
    );
    o.link(
        "up",
        Some(T_VAPP),
        &href(st, &format!("/api/vApp/vapp-{}", a.id)),
        None,
    );
    o.leaf("Description", n.description.as_deref().unwrap_or(""));
    o.open("Configuration", &[]);
    if let Some(s) = &n.scope {
        ip_scope(&mut o, s.inherited, &s.gateway, &s.netmask, None);
    }
    if let Some(p) = n.parent.as_deref().and_then(|p| st.net(p)) {
        let ph = href(st, &format!("/api/admin/network/{}", p.id));
        o.empty(
            "ParentNetwork",
            &[("type", T_ORG_VDC_NET), ("name", &p.name), ("href", &ph)],
        );
    }
    o.leaf("FenceMode", &n.fence_mode);
    o.leaf("RetainNetInfoAcrossDeployments", &n.retain.to_string());
    o.close("Configuration");
    o.leaf("IsDeployed", &n.deployed.to_string());
    o.close("VAppNetwork");
    o.finish()
}

/// `Catalog` or `AdminCatalog`.
pub fn catalog(st: &State, id: &str, admin: bool) -> String {
    let c = st.catalog(id).expect("checked");
    let mut o = Out::new();
    let (el, ty, path) = if admin {
        (
            "AdminCatalog",
            T_ADMIN_CATALOG,
            format!("/api/admin/catalog/{id}"),
        )
    } else {
        ("Catalog", T_CATALOG, format!("/api/catalog/{id}"))
    };
    let urn = format!("urn:vcloud:catalog:{id}");
    o.open(
        el,
        &[
            ("name", &c.name),
            ("id", &urn),
            ("href", &href(st, &path)),
            ("type", ty),
        ],
    );
    o.link(
        "up",
        Some(T_ORG),
        &href(st, &format!("/api/org/{}", c.org)),
        None,
    );
    o.leaf("Description", &c.description);
    o.open("CatalogItems", &[]);
    for i in st.items.iter().filter(|i| i.catalog == id) {
        let ih = href(st, &format!("/api/catalogItem/{}", i.id));
        let iu = format!("urn:vcloud:catalogitem:{}", i.id);
        o.empty(
            "CatalogItem",
            &[
                ("type", T_CATALOG_ITEM),
                ("name", &i.name),
                ("id", &iu),
                ("href", &ih),
            ],
        );
    }
    o.close("CatalogItems");
    o.leaf("IsPublished", "false");
    o.leaf("DateCreated", &c.created);
    o.leaf("VersionNumber", &c.version.to_string());
    o.close(el);
    o.finish()
}

/// `CatalogItem`.
pub fn catalog_item(st: &State, id: &str) -> String {
    let i = st.item(id).expect("checked");
    let mut o = Out::new();
    let urn = format!("urn:vcloud:catalogitem:{id}");
    let h = href(st, &format!("/api/catalogItem/{id}"));
    o.open(
        "CatalogItem",
        &[
            ("size", "0"),
            ("name", &i.name),
            ("id", &urn),
            ("href", &h),
            ("type", T_CATALOG_ITEM),
        ],
    );
    o.link(
        "up",
        Some(T_CATALOG),
        &href(st, &format!("/api/catalog/{}", i.catalog)),
        None,
    );
    o.leaf("Description", "");
    let th = href(
        st,
        &format!("/api/vAppTemplate/vappTemplate-{}", i.template),
    );
    let tn = st
        .template(&i.template)
        .map(|t| t.name.clone())
        .unwrap_or_default();
    o.empty(
        "Entity",
        &[("type", T_TEMPLATE), ("name", &tn), ("href", &th)],
    );
    o.leaf("DateCreated", &i.created);
    o.leaf("VersionNumber", "1");
    o.close("CatalogItem");
    o.finish()
}
