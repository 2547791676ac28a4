//! The query service: `GET /api/query` (the query list) and typed queries
//! `GET /api/query?type=T&format=records|idrecords|references&page=&pageSize=&filter=&sortAsc=&fields=`.
//!
//! Filters follow vCD's FIQL dialect: `attr==value` (`*` wildcards), `!=`, `=lt=`, `=le=`,
//! `=gt=`, `=ge=`; `;` is AND and binds tighter than `,` (OR); parentheses group; `\` escapes
//! a special character in a value. The query string is URL-decoded once; with
//! `filterEncoded=true` (pyvcloud below API 35.0) each value is decoded once more. Values
//! that hold a UUID (hrefs, URNs) match any href or URN with the same UUID, since clients
//! send admin or plain hrefs. String comparisons ignore case.

use super::model::State;
use super::render::{self as r, Ctx};
use super::server::{decode, Req};
use super::xml::Out;
use super::ApiError;

/// (type, record element, reference element, entity media type, admin only).
const TYPES: &[(&str, &str, &str, &str, bool)] = &[
    (
        "organization",
        "OrgRecord",
        "OrganizationReference",
        r::T_ORG,
        false,
    ),
    ("orgVdc", "OrgVdcRecord", "OrgVdcReference", r::T_VDC, false),
    (
        "adminOrgVdc",
        "AdminVdcRecord",
        "AdminVdcReference",
        r::T_ADMIN_VDC,
        true,
    ),
    ("vApp", "VAppRecord", "VAppReference", r::T_VAPP, false),
    (
        "adminVApp",
        "AdminVAppRecord",
        "AdminVAppReference",
        r::T_VAPP,
        true,
    ),
    ("vm", "VMRecord", "VMReference", r::T_VM, false),
    (
        "adminVM",
        "AdminVMRecord",
        "AdminVMReference",
        r::T_VM,
        true,
    ),
    (
        "catalog",
        "CatalogRecord",
        "CatalogReference",
        r::T_CATALOG,
        false,
    ),
    (
        "adminCatalog",
        "AdminCatalogRecord",
        "AdminCatalogReference",
        r::T_ADMIN_CATALOG,
        true,
    ),
    (
        "catalogItem",
        "CatalogItemRecord",
        "CatalogItemReference",
        r::T_CATALOG_ITEM,
        false,
    ),
    (
        "adminCatalogItem",
        "AdminCatalogItemRecord",
        "AdminCatalogItemReference",
        r::T_CATALOG_ITEM,
        true,
    ),
    (
        "vAppTemplate",
        "VAppTemplateRecord",
        "VAppTemplateReference",
        r::T_TEMPLATE,
        false,
    ),
    (
        "adminVAppTemplate",
        "AdminVAppTemplateRecord",
        "AdminVAppTemplateReference",
        r::T_TEMPLATE,
        true,
    ),
    (
        "orgVdcNetwork",
        "OrgVdcNetworkRecord",
        "OrgVdcNetworkReference",
        r::T_ORG_VDC_NET,
        false,
    ),
    (
        "orgVdcStorageProfile",
        "OrgVdcStorageProfileRecord",
        "OrgVdcStorageProfileReference",
        r::T_PROFILE,
        false,
    ),
    (
        "adminOrgVdcStorageProfile",
        "AdminOrgVdcStorageProfileRecord",
        "AdminOrgVdcStorageProfileReference",
        r::T_PROFILE,
        true,
    ),
    (
        "virtualCenter",
        "VirtualCenterRecord",
        "VirtualCenterReference",
        r::T_VIM,
        true,
    ),
];

/// (format, media type).
const FORMATS: &[(&str, &str)] = &[
    ("records", r::T_RECORDS),
    ("idrecords", r::T_IDRECORDS),
    ("references", r::T_REFERENCES),
];

/// `GET /api/query`: the query list.
pub fn query_list(st: &State, ctx: &Ctx) -> String {
    let mut o = Out::new();
    let href = r::href(st, "/api/query");
    o.open("QueryList", &[("href", &href), ("type", r::T_QUERY_LIST)]);
    for (t, _, _, _, admin) in TYPES {
        if *admin && !ctx.sysadmin {
            continue;
        }
        for (f, mt) in FORMATS {
            let h = r::href(st, &format!("/api/query?type={t}&format={f}"));
            o.link("down", Some(mt), &h, Some(t));
        }
    }
    o.close("QueryList");
    o.finish()
}

/// One result row.
pub struct Rec {
    /// URN for idrecords.
    pub id: String,
    pub attrs: Vec<(&'static str, String)>,
}

impl Rec {
    fn get(&self, k: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(a, _)| a.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    }
}

fn b(v: bool) -> String {
    v.to_string()
}

/// Status names of vApps and VMs.
pub fn status_name(s: i32) -> &'static str {
    match s {
        -1 => "FAILED_CREATION",
        0 => "UNRESOLVED",
        1 => "RESOLVED",
        4 => "POWERED_ON",
        8 => "POWERED_OFF",
        _ => "UNKNOWN",
    }
}

/// The rows of a query type the caller may see.
fn rows(st: &State, ctx: &Ctx, ty: &str) -> Vec<Rec> {
    match ty {
        "organization" => org_rows(st, ctx),
        "orgVdc" | "adminOrgVdc" => vdc_rows(st, ctx, ty),
        "vApp" | "adminVApp" => vapp_rows(st, ctx),
        "vm" | "adminVM" => vm_rows(st, ctx, ty),
        "catalog" | "adminCatalog" => catalog_rows(st, ctx, ty),
        "catalogItem" | "adminCatalogItem" => item_rows(st, ctx),
        "vAppTemplate" | "adminVAppTemplate" => template_rows(st, ctx),
        "orgVdcNetwork" => network_rows(st, ctx),
        "virtualCenter" => vcenter_rows(st),
        "orgVdcStorageProfile" | "adminOrgVdcStorageProfile" => profile_rows(st, ctx),
        _ => vec![],
    }
}

/// `"organization"`: the organizations.
fn org_rows(st: &State, ctx: &Ctx) -> Vec<Rec> {
    let h = |p: String| r::href(st, &p);
    let mut out = vec![];
    for o in st.orgs.iter().filter(|o| ctx.sees(&o.id)) {
        let vdcs = st.vdcs.iter().filter(|v| v.org == o.id).count();
        let cats = st.catalogs.iter().filter(|c| c.org == o.id).count();
        let vapps = st
            .vapps
            .iter()
            .filter(|a| st.vdc_org(&a.vdc).is_some_and(|x| x.id == o.id))
            .count();
        out.push(Rec {
            id: format!("urn:vcloud:org:{}", o.id),
            attrs: vec![
                ("name", o.name.clone()),
                ("displayName", o.full_name.clone()),
                ("href", h(format!("/api/org/{}", o.id))),
                ("isEnabled", b(o.enabled)),
                ("isReadOnly", "false".into()),
                ("canPublishCatalogs", "false".into()),
                ("numberOfCatalogs", cats.to_string()),
                ("numberOfVdcs", vdcs.to_string()),
                ("numberOfVApps", vapps.to_string()),
                ("deployedVMQuota", "0".into()),
                ("storedVMQuota", "0".into()),
            ],
        });
    }
    out
}

/// `"orgVdc" | "adminOrgVdc"`: the VDCs, with admin or tenant hrefs.
fn vdc_rows(st: &State, ctx: &Ctx, ty: &str) -> Vec<Rec> {
    let h = |p: String| r::href(st, &p);
    let mut out = vec![];
    let admin = ty == "adminOrgVdc";
    for v in st.vdcs.iter().filter(|v| ctx.sees(&v.org)) {
        let org = st.org(&v.org).map(|o| o.name.clone()).unwrap_or_default();
        let vapps = st.vapps.iter().filter(|a| a.vdc == v.id).count();
        let tpls = st.templates.iter().filter(|t| t.vdc == v.id).count();
        let profiles = st.profiles.iter().filter(|p| p.vdc == v.id).count();
        let href = if admin {
            h(format!("/api/admin/vdc/{}", v.id))
        } else {
            h(format!("/api/vdc/{}", v.id))
        };
        out.push(Rec {
            id: format!("urn:vcloud:vdc:{}", v.id),
            attrs: vec![
                ("name", v.name.clone()),
                ("href", href),
                ("org", h(format!("/api/org/{}", v.org))),
                ("orgName", org),
                ("isEnabled", b(v.enabled)),
                ("isBusy", "false".into()),
                ("isSystemVdc", "false".into()),
                ("status", "1".into()),
                ("allocationModel", v.allocation_model.clone()),
                ("numberOfVApps", vapps.to_string()),
                ("numberOfVAppTemplates", tpls.to_string()),
                ("numberOfStorageProfiles", profiles.to_string()),
                ("numberOfMedia", "0".into()),
                (
                    "vcName",
                    st.vcenter
                        .as_ref()
                        .map(|c| c.name.clone())
                        .unwrap_or_default(),
                ),
            ],
        });
    }
    out
}

/// `"vApp" | "adminVApp"`: the vApps.
fn vapp_rows(st: &State, ctx: &Ctx) -> Vec<Rec> {
    let h = |p: String| r::href(st, &p);
    let mut out = vec![];
    for a in &st.vapps {
        let Some(vdc) = st.vdc(&a.vdc) else { continue };
        if !ctx.sees(&vdc.org) {
            continue;
        }
        let org = st.org(&vdc.org);
        let vms = st.vapp_vms(&a.id).len();
        out.push(Rec {
            id: format!("urn:vcloud:vapp:{}", a.id),
            attrs: vec![
                ("name", a.name.clone()),
                ("href", h(format!("/api/vApp/vapp-{}", a.id))),
                ("vdc", h(format!("/api/vdc/{}", vdc.id))),
                ("vdcName", vdc.name.clone()),
                ("org", h(format!("/api/org/{}", vdc.org))),
                ("orgName", org.map(|o| o.name.clone()).unwrap_or_default()),
                ("status", status_name(a.status).into()),
                ("isBusy", b(st.busy(&a.id).is_some())),
                ("isDeployed", b(a.deployed)),
                ("isEnabled", "true".into()),
                ("isExpired", "false".into()),
                ("isInMaintenanceMode", "false".into()),
                ("autoNature", "false".into()),
                ("numberOfVMs", vms.to_string()),
                ("numberOfCpus", vms.to_string()),
                ("memoryAllocationMB", (vms * 1024).to_string()),
                ("storageKB", "0".into()),
                ("ownerName", r::user_name(st, &a.owner)),
                ("creationDate", a.created.clone()),
            ],
        });
    }
    out
}

/// `"vm" | "adminVM"`: the VMs of vApps and templates; the admin query adds the vCenter side.
fn vm_rows(st: &State, ctx: &Ctx, ty: &str) -> Vec<Rec> {
    let h = |p: String| r::href(st, &p);
    let mut out = vec![];
    for v in &st.vms {
        let Some(vdc) = st.vm_vdc(v) else { continue };
        if !ctx.sees(&vdc.org) {
            continue;
        }
        let (container, cname, template) = match &v.parent {
            super::model::Parent::VApp(a) => (
                h(format!("/api/vApp/vapp-{a}")),
                st.vapp(a).map(|x| x.name.clone()).unwrap_or_default(),
                false,
            ),
            super::model::Parent::Template(t) => (
                h(format!("/api/vAppTemplate/vappTemplate-{t}")),
                st.template(t).map(|x| x.name.clone()).unwrap_or_default(),
                true,
            ),
        };
        let mut attrs = vec![
            ("name", v.name.clone()),
            ("href", r::vm_href(st, v)),
            ("container", container),
            ("containerName", cname),
            ("vdc", h(format!("/api/vdc/{}", vdc.id))),
            ("org", h(format!("/api/org/{}", vdc.org))),
            ("status", status_name(v.status).into()),
            ("isVAppTemplate", b(template)),
            ("isDeployed", b(v.deployed)),
            ("isBusy", b(st.busy(&v.id).is_some())),
            ("guestOs", "Other (64-bit)".into()),
            ("numberOfCpus", "1".into()),
            ("memoryMB", "1024".into()),
            (
                "storageProfileName",
                st.profile(&v.profile)
                    .map(|p| p.name.clone())
                    .unwrap_or_default(),
            ),
            (
                "networkName",
                v.nics
                    .first()
                    .map(|n| n.network.clone())
                    .unwrap_or_default(),
            ),
        ];
        if ty == "adminVM" {
            attrs.push(("moref", v.moref.clone()));
            if let Some(vc) = &st.vcenter {
                attrs.push(("vc", h(format!("/api/admin/extension/vimServer/{}", vc.id))));
                attrs.push(("vcName", vc.name.clone()));
            }
        }
        out.push(Rec {
            id: format!("urn:vcloud:vm:{}", v.id),
            attrs,
        });
    }
    out
}

/// `"catalog" | "adminCatalog"`: the catalogs, with admin or tenant hrefs.
fn catalog_rows(st: &State, ctx: &Ctx, ty: &str) -> Vec<Rec> {
    let h = |p: String| r::href(st, &p);
    let mut out = vec![];
    for c in st.catalogs.iter().filter(|c| ctx.sees(&c.org)) {
        let items = st.items.iter().filter(|i| i.catalog == c.id).count();
        let href = if ty == "adminCatalog" {
            h(format!("/api/admin/catalog/{}", c.id))
        } else {
            h(format!("/api/catalog/{}", c.id))
        };
        out.push(Rec {
            id: format!("urn:vcloud:catalog:{}", c.id),
            attrs: vec![
                ("name", c.name.clone()),
                ("href", href),
                ("org", h(format!("/api/org/{}", c.org))),
                (
                    "orgName",
                    st.org(&c.org).map(|o| o.name.clone()).unwrap_or_default(),
                ),
                ("description", c.description.clone()),
                ("ownerName", "system".into()),
                ("isPublished", "false".into()),
                ("isShared", "false".into()),
                ("isLocal", "true".into()),
                ("numberOfVAppTemplates", items.to_string()),
                ("numberOfMedia", "0".into()),
                ("creationDate", c.created.clone()),
                ("status", "RESOLVED".into()),
            ],
        });
    }
    out
}

/// `"catalogItem" | "adminCatalogItem"`: the catalog items.
fn item_rows(st: &State, ctx: &Ctx) -> Vec<Rec> {
    let h = |p: String| r::href(st, &p);
    let mut out = vec![];
    for i in &st.items {
        let Some(c) = st.catalog(&i.catalog) else {
            continue;
        };
        if !ctx.sees(&c.org) {
            continue;
        }
        let t = st.template(&i.template);
        let vdc = t.and_then(|t| st.vdc(&t.vdc));
        out.push(Rec {
            id: format!("urn:vcloud:catalogitem:{}", i.id),
            attrs: vec![
                ("name", i.name.clone()),
                ("href", h(format!("/api/catalogItem/{}", i.id))),
                (
                    "entity",
                    h(format!("/api/vAppTemplate/vappTemplate-{}", i.template)),
                ),
                ("entityName", t.map(|t| t.name.clone()).unwrap_or_default()),
                ("entityType", "vapptemplate".into()),
                ("catalog", h(format!("/api/catalog/{}", c.id))),
                ("catalogName", c.name.clone()),
                (
                    "vdc",
                    vdc.map(|v| h(format!("/api/vdc/{}", v.id)))
                        .unwrap_or_default(),
                ),
                ("vdcName", vdc.map(|v| v.name.clone()).unwrap_or_default()),
                ("org", h(format!("/api/org/{}", c.org))),
                (
                    "ownerName",
                    t.map(|t| r::user_name(st, &t.owner)).unwrap_or_default(),
                ),
                (
                    "status",
                    if t.is_some_and(|t| t.status == 8) {
                        "RESOLVED"
                    } else {
                        "UNRESOLVED"
                    }
                    .into(),
                ),
                ("isPublished", "false".into()),
                ("isVdcEnabled", "true".into()),
                ("storageKB", "0".into()),
                ("creationDate", i.created.clone()),
            ],
        });
    }
    out
}

/// `"vAppTemplate" | "adminVAppTemplate"`: the vApp templates.
fn template_rows(st: &State, ctx: &Ctx) -> Vec<Rec> {
    let h = |p: String| r::href(st, &p);
    let mut out = vec![];
    for t in &st.templates {
        let Some(vdc) = st.vdc(&t.vdc) else { continue };
        if !ctx.sees(&vdc.org) {
            continue;
        }
        let cat = t.catalog.as_deref().and_then(|c| st.catalog(c));
        out.push(Rec {
            id: format!("urn:vcloud:vapptemplate:{}", t.id),
            attrs: vec![
                ("name", t.name.clone()),
                (
                    "href",
                    h(format!("/api/vAppTemplate/vappTemplate-{}", t.id)),
                ),
                ("vdc", h(format!("/api/vdc/{}", vdc.id))),
                ("vdcName", vdc.name.clone()),
                ("org", h(format!("/api/org/{}", vdc.org))),
                (
                    "catalog",
                    cat.map(|c| h(format!("/api/catalog/{}", c.id)))
                        .unwrap_or_default(),
                ),
                (
                    "catalogName",
                    cat.map(|c| c.name.clone()).unwrap_or_default(),
                ),
                (
                    "status",
                    match t.status {
                        8 => "RESOLVED",
                        s => status_name(s),
                    }
                    .into(),
                ),
                ("isBusy", b(st.busy(&t.id).is_some())),
                ("isGoldMaster", b(t.gold_master)),
                ("isDeployed", "false".into()),
                ("isEnabled", "true".into()),
                ("isExpired", "false".into()),
                ("numberOfVMs", st.template_vms(&t.id).len().to_string()),
                ("ownerName", r::user_name(st, &t.owner)),
                ("creationDate", t.created.clone()),
            ],
        });
    }
    out
}

/// `"orgVdcNetwork"`: the org VDC networks.
fn network_rows(st: &State, ctx: &Ctx) -> Vec<Rec> {
    let h = |p: String| r::href(st, &p);
    let mut out = vec![];
    for n in &st.networks {
        let Some(vdc) = st.vdc(&n.vdc) else { continue };
        if !ctx.sees(&vdc.org) {
            continue;
        }
        out.push(Rec {
            id: format!("urn:vcloud:network:{}", n.id),
            attrs: vec![
                ("name", n.name.clone()),
                ("href", h(format!("/api/admin/network/{}", n.id))),
                ("vdc", h(format!("/api/vdc/{}", vdc.id))),
                ("vdcName", vdc.name.clone()),
                ("org", h(format!("/api/org/{}", vdc.org))),
                ("linkType", n.link_type().to_string()),
                (
                    "connectedTo",
                    if n.fence_mode == "natRouted" {
                        format!("{}-edge", vdc.name)
                    } else {
                        String::new()
                    },
                ),
                ("defaultGateway", n.gateway.clone()),
                ("netmask", n.netmask.clone()),
                (
                    "subnetPrefixLength",
                    super::model::prefix_len(&n.netmask).to_string(),
                ),
                ("isBusy", "false".into()),
                ("isShared", b(n.shared)),
                ("isIpScopeInherited", "false".into()),
            ],
        });
    }
    out
}

/// `"virtualCenter"`: the registered vCenter, if any.
fn vcenter_rows(st: &State) -> Vec<Rec> {
    let h = |p: String| r::href(st, &p);
    let mut out = vec![];
    if let Some(vc) = &st.vcenter {
        out.push(Rec {
            id: format!("urn:vcloud:vimserver:{}", vc.id),
            attrs: vec![
                ("name", vc.name.clone()),
                (
                    "href",
                    h(format!("/api/admin/extension/vimServer/{}", vc.id)),
                ),
                ("isBusy", "false".into()),
                ("isEnabled", b(vc.enabled)),
                ("isSupported", "true".into()),
                (
                    "listenerState",
                    if vc.connected {
                        "CONNECTED"
                    } else {
                        "DISCONNECTED"
                    }
                    .into(),
                ),
                (
                    "status",
                    if vc.connected {
                        "READY"
                    } else {
                        "DISCONNECTED"
                    }
                    .into(),
                ),
                ("url", vc.url.clone()),
                ("userName", vc.username.clone()),
                ("vcVersion", vc.version.clone()),
                ("uuid", vc.id.clone()),
            ],
        });
    }
    out
}

/// The storage profiles of the VDCs the caller sees, with the attributes of
/// go-vcloud-director's `QueryResultAdminOrgVdcStorageProfileRecordType`.
fn profile_rows(st: &State, ctx: &Ctx) -> Vec<Rec> {
    let h = |p: String| r::href(st, &p);
    let mut out = vec![];
    for p in &st.profiles {
        let Some(vdc) = st.vdc(&p.vdc) else { continue };
        if !ctx.sees(&vdc.org) {
            continue;
        }
        out.push(Rec {
            id: format!("urn:vcloud:vdcstorageProfile:{}", p.id),
            attrs: vec![
                ("name", p.name.clone()),
                ("href", h(format!("/api/vdcStorageProfile/{}", p.id))),
                ("vdc", h(format!("/api/vdc/{}", vdc.id))),
                ("vdcName", vdc.name.clone()),
                ("isDefaultStorageProfile", b(p.default)),
                ("isEnabled", b(p.enabled)),
                ("isVdcBusy", "false".into()),
                ("numberOfConditions", "0".into()),
                ("storageUsedMB", p.used_mb.to_string()),
                ("storageLimitMB", p.limit_mb.to_string()),
            ],
        });
    }
    out
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Cond(String, String, String),
}

/// Parses a filter expression.
pub fn parse_filter(s: &str, encoded: bool) -> Result<Filter, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut p = Parser {
        c: chars,
        i: 0,
        encoded,
    };
    let f = p.or()?;
    if p.i < p.c.len() {
        return Err(format!(
            "unexpected '{}' at position {} of the filter",
            p.c[p.i], p.i
        ));
    }
    Ok(f)
}

struct Parser {
    c: Vec<char>,
    i: usize,
    encoded: bool,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.c.get(self.i).copied()
    }
    fn or(&mut self) -> Result<Filter, String> {
        let mut v = vec![self.and()?];
        while self.peek() == Some(',') {
            self.i += 1;
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Filter::Or(v)
        })
    }
    fn and(&mut self) -> Result<Filter, String> {
        let mut v = vec![self.term()?];
        while self.peek() == Some(';') {
            self.i += 1;
            v.push(self.term()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Filter::And(v)
        })
    }
    fn term(&mut self) -> Result<Filter, String> {
        if self.peek() == Some('(') {
            self.i += 1;
            let f = self.or()?;
            if self.peek() != Some(')') {
                return Err("missing ')' in the filter".into());
            }
            self.i += 1;
            return Ok(f);
        }
        let start = self.i;
        while let Some(c) = self.peek() {
            if c == '=' || c == '!' {
                break;
            }
            if matches!(c, ';' | ',' | '(' | ')') {
                return Err(format!(
                    "no operator after '{}'",
                    self.c[start..self.i].iter().collect::<String>()
                ));
            }
            self.i += 1;
        }
        let attr: String = self.c[start..self.i].iter().collect();
        if attr.is_empty() {
            return Err("empty property name in the filter".into());
        }
        let rest: String = self.c[self.i..].iter().collect();
        let op = ["==", "!=", "=lt=", "=le=", "=gt=", "=ge="]
            .into_iter()
            .find(|o| rest.starts_with(o))
            .ok_or_else(|| format!("bad operator after '{attr}'"))?;
        self.i += op.chars().count();
        let mut val = String::new();
        while let Some(c) = self.peek() {
            match c {
                '\\' => {
                    self.i += 1;
                    if let Some(n) = self.peek() {
                        val.push(n);
                        self.i += 1;
                    }
                }
                ';' | ',' | ')' => break,
                _ => {
                    val.push(c);
                    self.i += 1;
                }
            }
        }
        if self.encoded {
            val = decode(&val, false);
        }
        Ok(Filter::Cond(attr, op.to_owned(), val))
    }
}

fn wildcard(pat: &str, s: &str) -> bool {
    let parts: Vec<&str> = pat.split('*').collect();
    if parts.len() == 1 {
        return pat == s;
    }
    let mut rest = s;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(p) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            match rest.find(p) {
                Some(k) => rest = &rest[k + p.len()..],
                None => return false,
            }
        }
    }
    true
}

fn cmp_values(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.to_lowercase().cmp(&b.to_lowercase()),
    }
}

fn eq_values(actual: &str, want: &str) -> bool {
    if let (Some(a), Some(w)) = (super::model::uuid_in(actual), super::model::uuid_in(want)) {
        return a == w;
    }
    wildcard(&want.to_lowercase(), &actual.to_lowercase())
}

fn matches(rec: &Rec, f: &Filter) -> Result<bool, String> {
    Ok(match f {
        Filter::And(v) => {
            for x in v {
                if !matches(rec, x)? {
                    return Ok(false);
                }
            }
            true
        }
        Filter::Or(v) => {
            for x in v {
                if matches(rec, x)? {
                    return Ok(true);
                }
            }
            false
        }
        Filter::Cond(attr, op, val) => {
            let Some(actual) = rec.get(attr) else {
                return Err(attr.clone());
            };
            match op.as_str() {
                "==" => eq_values(actual, val),
                "!=" => !eq_values(actual, val),
                "=lt=" => cmp_values(actual, val).is_lt(),
                "=le=" => cmp_values(actual, val).is_le(),
                "=gt=" => cmp_values(actual, val).is_gt(),
                _ => cmp_values(actual, val).is_ge(),
            }
        }
    })
}

/// A typed query.
pub fn typed(st: &State, ctx: &Ctx, req: &Req) -> Result<(String, &'static str), ApiError> {
    let ty = req
        .param("type")
        .ok_or_else(|| ApiError::bad_request("Query type is missing: give ?type=..."))?;
    let Some(qt) = TYPES.iter().find(|t| t.0 == ty) else {
        return Err(ApiError::bad_request(format!("Invalid query type: {ty}")));
    };
    let (ty, admin) = (qt.0, qt.4);
    if admin && !ctx.sysadmin {
        return Err(ApiError::forbidden_msg(format!(
            "Access is forbidden: query type {ty} needs a system administrator"
        )));
    }
    let format = req.param("format").unwrap_or("records");
    let Some(&(format, media)) = FORMATS.iter().find(|f| f.0 == format) else {
        return Err(ApiError::bad_request(format!(
            "Invalid query format: {format}"
        )));
    };
    let page: u64 = req
        .number_param("page", 1, 1..=u64::MAX)
        .ok_or_else(|| ApiError::bad_request("page must be a number of at least 1"))?;
    let page_size: u64 = req
        .number_param("pageSize", 25, 1..=128)
        .ok_or_else(|| ApiError::bad_request("pageSize must be a number from 1 to 128"))?;
    let all = filtered_sorted(st, ctx, req, ty)?;
    let fields: Option<Vec<&str>> = req
        .param("fields")
        .map(|f| f.split(',').map(str::trim).collect());
    let total = all.len() as u64;
    let pg = Page {
        st,
        req,
        page,
        last: total.div_ceil(page_size).max(1),
        format,
        media,
    };
    let container = if format == "references" {
        "QueryResultReferences"
    } else {
        "QueryResultRecords"
    };
    let mut o = Out::new();
    let self_href = pg.href(page, format);
    let (ps, pgs, tt) = (page_size.to_string(), page.to_string(), total.to_string());
    o.open(
        container,
        &[
            ("name", ty),
            ("page", &pgs),
            ("pageSize", &ps),
            ("total", &tt),
            ("href", &self_href),
            ("type", media),
        ],
    );
    pg.links(&mut o);
    let skip = ((page - 1) * page_size) as usize;
    for rec in all.iter().skip(skip).take(page_size as usize) {
        write_row(&mut o, rec, format, fields.as_deref(), qt);
    }
    o.close(container);
    Ok((o.finish(), media))
}

/// The rows of query type `ty` that pass the request's `filter`, in its `sortAsc` or
/// `sortDesc` order. A filter on an attribute the type does not have is refused, as vCD does.
fn filtered_sorted(st: &State, ctx: &Ctx, req: &Req, ty: &str) -> Result<Vec<Rec>, ApiError> {
    let encoded = req.param("filterEncoded") == Some("true");
    let filter = match req.param("filter").filter(|f| !f.is_empty()) {
        Some(f) => Some(
            parse_filter(f, encoded)
                .map_err(|e| ApiError::bad_request(format!("Invalid query filter: {e}")))?,
        ),
        None => None,
    };
    let mut all = rows(st, ctx, ty);
    if let Some(f) = &filter {
        let mut kept = vec![];
        for rec in all {
            match matches(&rec, f) {
                Ok(true) => kept.push(rec),
                Ok(false) => {}
                Err(attr) => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid query filter: \"{attr}\" is not a property of query type \"{ty}\""
                    )))
                }
            }
        }
        all = kept;
    }
    if let Some(k) = req.param("sortAsc") {
        all.sort_by(|a, b| cmp_values(a.get(k).unwrap_or(""), b.get(k).unwrap_or("")));
    } else if let Some(k) = req.param("sortDesc") {
        all.sort_by(|a, b| cmp_values(b.get(k).unwrap_or(""), a.get(k).unwrap_or("")));
    }
    Ok(all)
}

/// One page of a typed query's result, and how to reach the others.
struct Page<'a> {
    st: &'a State,
    req: &'a Req,
    page: u64,
    last: u64,
    format: &'static str,
    media: &'static str,
}

impl Page<'_> {
    /// The href of page `p` in format `fmt`: the request's own query with page and format
    /// replaced.
    fn href(&self, p: u64, fmt: &str) -> String {
        let mut q: Vec<String> = self
            .req
            .raw_query
            .split('&')
            .filter(|kv| {
                let k = kv.split('=').next().unwrap_or("");
                k != "page" && k != "format" && !kv.is_empty()
            })
            .map(str::to_owned)
            .collect();
        q.push(format!("page={p}"));
        q.push(format!("format={fmt}"));
        r::href(self.st, &format!("/api/query?{}", q.join("&")))
    }

    /// The links to this page in the other formats, then to the next, previous, first and
    /// last pages.
    fn links(&self, o: &mut Out) {
        let (page, last, format, media) = (self.page, self.last, self.format, self.media);
        for (f, mt) in FORMATS {
            if *f != format {
                o.link("alternate", Some(mt), &self.href(page, f), None);
            }
        }
        if page < last {
            o.link("nextPage", Some(media), &self.href(page + 1, format), None);
        }
        if page > 1 {
            o.link(
                "previousPage",
                Some(media),
                &self.href(page - 1, format),
                None,
            );
        }
        if last > 1 {
            o.link("firstPage", Some(media), &self.href(1, format), None);
            o.link("lastPage", Some(media), &self.href(last, format), None);
        }
    }
}

/// One result row: a reference, or a record (with its id for `idrecords`) holding the
/// requested `fields` (and always its href).
fn write_row(
    o: &mut Out,
    rec: &Rec,
    format: &str,
    fields: Option<&[&str]>,
    qt: &(&str, &str, &str, &str, bool),
) {
    let &(_, rec_el, ref_el, ref_type, _) = qt;
    if format == "references" {
        o.empty(
            ref_el,
            &[
                ("type", ref_type),
                ("name", rec.get("name").unwrap_or("")),
                ("href", rec.get("href").unwrap_or("")),
                ("id", &rec.id),
            ],
        );
        return;
    }
    let mut attrs: Vec<(&str, &str)> = rec
        .attrs
        .iter()
        .filter(|(k, _)| {
            *k == "href" || fields.is_none_or(|f| f.iter().any(|x| x.eq_ignore_ascii_case(k)))
        })
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    if format == "idrecords" {
        attrs.insert(0, ("id", &rec.id));
    }
    o.empty(rec_el, &attrs);
}

/// Org VDC networks of a VDC (`GET /api/admin/vdc/{id}/networks`), as records.
pub fn vdc_networks(
    st: &State,
    ctx: &Ctx,
    vdc: &str,
    req: &Req,
) -> Result<(String, &'static str), ApiError> {
    let mut q = req.clone();
    let mut filter = format!("vdc=={vdc}");
    if let Some(f) = req.param("filter") {
        filter = format!("({f});{filter}");
    }
    q.query
        .retain(|(k, _)| k != "type" && k != "filter" && k != "format");
    q.query.push(("type".into(), "orgVdcNetwork".into()));
    q.query.push(("format".into(), "records".into()));
    q.query.push(("filter".into(), filter));
    typed(st, ctx, &q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        let f = parse_filter("name==a\\,b;vdc==x,(isBusy==false)", false).unwrap();
        assert_eq!(
            f,
            Filter::Or(vec![
                Filter::And(vec![
                    Filter::Cond("name".into(), "==".into(), "a,b".into()),
                    Filter::Cond("vdc".into(), "==".into(), "x".into())
                ]),
                Filter::Cond("isBusy".into(), "==".into(), "false".into())
            ])
        );
        assert!(wildcard("ab*", "abc"));
        assert!(wildcard("*c", "abc"));
        assert!(wildcard("a*c", "abc"));
        assert!(!wildcard("a*d", "abc"));
        assert!(eq_values(
            "https://h/api/vdc/0b8f4b62-1d4c-4b3e-9a57-5c2f8f2f0c11",
            "https://x/api/admin/vdc/0B8F4B62-1D4C-4B3E-9A57-5C2F8F2F0C11"
        ));
        let enc = parse_filter("name==a%20b", true).unwrap();
        assert_eq!(enc, Filter::Cond("name".into(), "==".into(), "a b".into()));
    }
}
