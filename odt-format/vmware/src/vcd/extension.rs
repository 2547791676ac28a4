//! The vimServer extension: which vCenters vCD knows, and the import actions that adopt a
//! vCenter VM as a vApp, a vApp template, or a VM of an existing vApp.
//!
//! Import bodies are built in the exact child order of their XSD types (vCD validates with
//! JAXB and answers `cvc-complex-type.2.4.a` to any other order): the root and the
//! import-specific children (`VmName`, `VmMoRef`, `Vdc`, `VdcStorageProfile`, `Catalog`,
//! `VApp`) in the `vmext` namespace, the inherited `Description` in `vcloud`, as the official
//! example and the SDKs write them.

use crate::vsphere::xml::Element;
use crate::wire::redact_url_keep_query;
use reqwest::Method;

use super::client::VcdClient;
use super::error::{Result, VcdError};
use super::query::EntityRef;
use super::xml::{self, el, find_link, leaf, links, media, Build, Link, VCLOUD_NS, VMEXT_NS};

/// A vCenter registered in vCD (`vmext:VimServer`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VimServer {
    /// Its name in vCD.
    pub name: String,
    /// `/api/admin/extension/vimServer/{id}`.
    pub href: String,
    /// `Url`: the vCenter's address as registered (`https://vc.example.com:443`).
    pub url: String,
    /// `Uuid`: the vCenter's instance UUID.
    pub uuid: String,
    /// `IsEnabled`.
    pub is_enabled: bool,
    /// `IsConnected`.
    pub is_connected: bool,
    /// `VcVersion`, when given.
    pub vc_version: String,
    /// Its links (the `rel="add"` import actions among them).
    #[serde(skip)]
    pub links: Vec<Link>,
}

impl VimServer {
    /// Reads a `VimServer` element.
    pub fn from_element(e: &Element, href: &str) -> VimServer {
        let text = |n: &str| e.text_of(n).unwrap_or_default().to_owned();
        VimServer {
            name: e.attr("name").unwrap_or_default().to_owned(),
            href: e
                .attr("href")
                .filter(|h| !h.is_empty())
                .unwrap_or(href)
                .to_owned(),
            url: text("Url"),
            uuid: text("Uuid"),
            is_enabled: e.bool_of("IsEnabled").unwrap_or(false),
            is_connected: e.bool_of("IsConnected").unwrap_or(false),
            vc_version: text("VcVersion"),
            links: links(e),
        }
    }

    /// The URL of the import action `action` (`importVmAsVApp`, …): the `rel="add"` link
    /// typed `media_type` when vCD gives one, else `{href}/{action}`.
    pub fn action_url(&self, action: &str, media_type: &str) -> String {
        self.links
            .iter()
            .find(|l| {
                l.rel == "add"
                    && xml::same_media_type(&l.media_type, media_type)
                    && !l.href.is_empty()
            })
            .map(|l| l.href.clone())
            .unwrap_or_else(|| format!("{}/{action}", self.href.trim_end_matches('/')))
    }
}

/// Host (lowercase, no trailing dot) and port (the scheme's default when absent) of a URL;
/// a bare host means https.
fn host_port(u: &str) -> Option<(String, u16)> {
    let u = u.trim();
    let s = if u.contains("://") {
        u.to_owned()
    } else {
        format!("https://{u}")
    };
    let p = reqwest::Url::parse(&s).ok()?;
    let host = p.host_str()?.trim_end_matches('.').to_ascii_lowercase();
    Some((host, p.port_or_known_default().unwrap_or(443)))
}

fn is_ip(host: &str) -> bool {
    host.trim_matches(['[', ']'])
        .parse::<std::net::IpAddr>()
        .is_ok()
}

/// Picks the vimServer that is the vCenter at `vcenter_url`. The rule, first that gives
/// exactly one wins:
///
/// 1. same host (case-insensitive, trailing dot ignored) and same port (443 when absent,
///    for `https`), preferring enabled servers when several match;
/// 2. same host, any port;
/// 3. same short host name (first DNS label; never for IP addresses), e.g. `vc01` for
///    `vc01.corp.example`.
///
/// Nothing else is guessed: a vCenter reached through a different name or address than vCD
/// registered is "not found", and the error lists what vCD has.
pub fn match_vim_server(servers: &[VimServer], vcenter_url: &str) -> Result<VimServer> {
    let want = host_port(vcenter_url)
        .ok_or_else(|| VcdError::invalid("vCenter URL", format!("{vcenter_url:?} is not a URL")))?;
    let parsed: Vec<(Option<(String, u16)>, &VimServer)> =
        servers.iter().map(|s| (host_port(&s.url), s)).collect();
    let pick = |m: Vec<&VimServer>| -> Option<Result<VimServer>> {
        match m.len() {
            0 => None,
            1 => Some(Ok(m[0].clone())),
            _ => {
                let enabled: Vec<&&VimServer> = m.iter().filter(|s| s.is_enabled).collect();
                if enabled.len() == 1 {
                    return Some(Ok((*enabled[0]).clone()));
                }
                Some(Err(VcdError::Ambiguous {
                    what: format!("vCenter registered in vCD for {vcenter_url}"),
                    choices: m
                        .iter()
                        .map(|s| format!("{} ({})", s.name, s.url))
                        .collect(),
                }))
            }
        }
    };
    let exact = parsed
        .iter()
        .filter(|(hp, _)| hp.as_ref() == Some(&want))
        .map(|(_, s)| *s)
        .collect();
    if let Some(r) = pick(exact) {
        return r;
    }
    let host: Vec<&VimServer> = parsed
        .iter()
        .filter(|(hp, _)| hp.as_ref().is_some_and(|(h, _)| *h == want.0))
        .map(|(_, s)| *s)
        .collect();
    if host.len() == 1 {
        return Ok(host[0].clone());
    }
    if !is_ip(&want.0) {
        let short = |h: &str| h.split('.').next().unwrap_or("").to_owned();
        let by_short: Vec<&VimServer> = parsed
            .iter()
            .filter(|(hp, _)| {
                hp.as_ref()
                    .is_some_and(|(h, _)| !is_ip(h) && short(h) == short(&want.0))
            })
            .map(|(_, s)| *s)
            .collect();
        if by_short.len() == 1 {
            return Ok(by_short[0].clone());
        }
    }
    Err(VcdError::not_found(
        format!(
            "vCenter {} registered in vCD (attach it to vCD, or give --vcenter the address vCD knows it by)",
            redact_url_keep_query(vcenter_url)
        ),
        servers.iter().map(|s| format!("{} ({})", s.name, s.url)).collect(),
    ))
}

/// `ImportedDisk` (ImportedDiskType, API 5.6+): where one disk of the imported VM goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportedDisk {
    /// `@instanceId`: the disk's device key in the VM's vCenter configuration (`2000`).
    pub instance_id: i32,
    /// Its `VdcStorageProfile` href (a profile of the target VDC).
    pub storage_profile_href: String,
}

impl ImportedDisk {
    fn to_element(&self) -> Element {
        el(VMEXT_NS, "ImportedDisk")
            .with_attr("instanceId", &self.instance_id.to_string())
            .with_child(reference("VdcStorageProfile", &self.storage_profile_href))
    }
}

/// `ImportVmAsVAppParams`: adopt a vCenter VM as a new vApp.
#[derive(Debug, Clone, Default)]
pub struct ImportVmAsVApp {
    /// The vApp's name (`@name`).
    pub name: String,
    /// The VM's managed object id (`vm-42`).
    pub vm_moref: String,
    /// The target VDC href (admin or plain).
    pub vdc_href: String,
    /// `@sourceMove`: true moves the VM (fast, the vCenter VM becomes vCD's), false copies it.
    pub source_move: bool,
    /// `Description`.
    pub description: Option<String>,
    /// `VmName`: the VM's name in vCD (vCD keeps the vCenter name when absent).
    pub vm_name: Option<String>,
    /// `VdcStorageProfile` href.
    pub storage_profile_href: Option<String>,
    /// `ImportedDisk`: per-disk storage profiles, after `Vdc`.
    pub disks: Vec<ImportedDisk>,
}

impl ImportVmAsVApp {
    /// The body. `deploy` and `powerOn` are sent as `false`: NICs are wired after the import,
    /// then the vApp is powered on ([`VcdClient::power_on`]), so no VM boots on the
    /// placeholder network.
    pub fn to_element(&self) -> Element {
        el(VMEXT_NS, "ImportVmAsVAppParams")
            .with_attr("name", &self.name)
            .with_attr("deploy", "false")
            .with_attr("powerOn", "false")
            .with_attr("sourceMove", bool_text(self.source_move))
            .with_opt(
                self.description
                    .as_deref()
                    .map(|d| leaf(VCLOUD_NS, "Description", d)),
            )
            .with_opt(self.vm_name.as_deref().map(|n| leaf(VMEXT_NS, "VmName", n)))
            .with_child(leaf(VMEXT_NS, "VmMoRef", &self.vm_moref))
            .with_opt(
                self.storage_profile_href
                    .as_deref()
                    .map(|h| reference("VdcStorageProfile", h)),
            )
            .with_child(reference("Vdc", &self.vdc_href))
            .with_children(self.disks.iter().map(ImportedDisk::to_element))
    }
}

/// `ImportVmAsVAppTemplateParams`: adopt a vCenter VM as a vApp template (in a catalog).
#[derive(Debug, Clone, Default)]
pub struct ImportVmAsVAppTemplate {
    /// The template's name (`@name`).
    pub name: String,
    /// The VM's managed object id.
    pub vm_moref: String,
    /// The VDC whose storage holds the template.
    pub vdc_href: String,
    /// The catalog to add it to (without one it lands in the VDC only).
    pub catalog_href: Option<String>,
    /// `@sourceMove`.
    pub source_move: bool,
    /// `Description`.
    pub description: Option<String>,
    /// `VmName`.
    pub vm_name: Option<String>,
    /// `VdcStorageProfile` href.
    pub storage_profile_href: Option<String>,
}

impl ImportVmAsVAppTemplate {
    /// The body (`Vdc` before `VdcStorageProfile`, the reverse of the vApp params).
    pub fn to_element(&self) -> Element {
        el(VMEXT_NS, "ImportVmAsVAppTemplateParams")
            .with_attr("name", &self.name)
            .with_attr("sourceMove", bool_text(self.source_move))
            .with_opt(
                self.description
                    .as_deref()
                    .map(|d| leaf(VCLOUD_NS, "Description", d)),
            )
            .with_opt(self.vm_name.as_deref().map(|n| leaf(VMEXT_NS, "VmName", n)))
            .with_child(leaf(VMEXT_NS, "VmMoRef", &self.vm_moref))
            .with_child(reference("Vdc", &self.vdc_href))
            .with_opt(
                self.storage_profile_href
                    .as_deref()
                    .map(|h| reference("VdcStorageProfile", h)),
            )
            .with_opt(
                self.catalog_href
                    .as_deref()
                    .map(|h| reference("Catalog", h)),
            )
    }
}

/// `ImportVmIntoExistingVAppParams`: adopt a vCenter VM into an existing vApp.
#[derive(Debug, Clone, Default)]
pub struct ImportVmIntoExistingVApp {
    /// The target vApp href.
    pub vapp_href: String,
    /// The VM's managed object id.
    pub vm_moref: String,
    /// `VmName`.
    pub vm_name: Option<String>,
    /// `VmDescription`.
    pub vm_description: Option<String>,
    /// `@sourceMove`.
    pub source_move: bool,
    /// `VdcStorageProfile` href.
    pub storage_profile_href: Option<String>,
    /// `ImportedDisk`: per-disk storage profiles, after `VApp`.
    pub disks: Vec<ImportedDisk>,
}

impl ImportVmIntoExistingVApp {
    /// The body (no `name`: the type does not extend `ParamsType`).
    pub fn to_element(&self) -> Element {
        el(VMEXT_NS, "ImportVmIntoExistingVAppParams")
            .with_attr("sourceMove", bool_text(self.source_move))
            .with_opt(self.vm_name.as_deref().map(|n| leaf(VMEXT_NS, "VmName", n)))
            .with_opt(
                self.vm_description
                    .as_deref()
                    .map(|d| leaf(VMEXT_NS, "VmDescription", d)),
            )
            .with_child(leaf(VMEXT_NS, "VmMoRef", &self.vm_moref))
            .with_opt(
                self.storage_profile_href
                    .as_deref()
                    .map(|h| reference("VdcStorageProfile", h)),
            )
            .with_child(reference("VApp", &self.vapp_href))
            .with_children(self.disks.iter().map(ImportedDisk::to_element))
    }
}

fn bool_text(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

/// A `vmext` ReferenceType element (`href` only: `id`, `name`, `type` are optional).
fn reference(name: &str, href: &str) -> Element {
    el(VMEXT_NS, name).with_attr("href", href)
}

/// A vApp (or vApp template) the import created.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Imported {
    /// Its name.
    pub name: String,
    /// Its href (`/api/vApp/vapp-{id}`, `/api/vAppTemplate/vappTemplate-{id}`).
    pub href: String,
    /// Its id (`urn:vcloud:vapp:{id}`).
    pub id: String,
}

impl VcdClient {
    /// Every vCenter registered in vCD: `/api/admin/extension` →
    /// `vimServerReferences` → each `vimServer/{id}`.
    pub fn vim_servers(&self) -> Result<Vec<VimServer>> {
        let ext_href = self.extension_href();
        let ext = self.get("VMWExtension", &ext_href)?;
        let refs_href = find_link(&ext, "down", Some(media::VIM_SERVER_REFERENCES))
            .map(|l| l.href)
            .unwrap_or_else(|| format!("{}/vimServerReferences", ext_href.trim_end_matches('/')));
        let refs = self.get("VMWVimServerReferences", &refs_href)?;
        let mut out = Vec::new();
        for r in refs.children("VimServerReference") {
            let Some(href) = r.attr("href").filter(|h| !h.is_empty()) else {
                continue;
            };
            let e = self.get("VimServer", href)?;
            let mut v = VimServer::from_element(&e, href);
            if v.name.is_empty() {
                v.name = r.attr("name").unwrap_or_default().to_owned();
            }
            out.push(v);
        }
        Ok(out)
    }

    /// The vimServer that is the vCenter at `vcenter_url` (see [`match_vim_server`] for the
    /// rule). It may be disabled or disconnected: check [`VimServer::is_enabled`] and
    /// [`VimServer::is_connected`] before importing.
    pub fn find_vim_server_for(&self, vcenter_url: &str) -> Result<VimServer> {
        match_vim_server(&self.vim_servers()?, vcenter_url)
    }

    /// Imports the vCenter VM `vm_moref` as a new vApp `name` in `vdc` and waits for the
    /// import task. `source_move` moves the VM instead of copying it.
    pub fn import_vm_as_vapp(
        &self,
        vim: &VimServer,
        vm_moref: &str,
        vdc: &EntityRef,
        name: &str,
        source_move: bool,
    ) -> Result<Imported> {
        self.import_vm_as_vapp_with(
            vim,
            &ImportVmAsVApp {
                name: name.to_owned(),
                vm_moref: vm_moref.to_owned(),
                vdc_href: vdc.href.clone(),
                source_move,
                ..ImportVmAsVApp::default()
            },
        )
    }

    /// [`VcdClient::import_vm_as_vapp`] with every parameter.
    pub fn import_vm_as_vapp_with(&self, vim: &VimServer, p: &ImportVmAsVApp) -> Result<Imported> {
        let url = vim.action_url("importVmAsVApp", media::IMPORT_VM_AS_VAPP);
        self.import_entity(&url, media::IMPORT_VM_AS_VAPP, &p.to_element(), "VApp")
    }

    /// Imports the vCenter VM `vm_moref` as a vApp template `name` stored in `vdc` and added
    /// to `catalog` (when given), and waits for the task.
    pub fn import_vm_as_vapp_template(
        &self,
        vim: &VimServer,
        vm_moref: &str,
        vdc: &EntityRef,
        catalog: Option<&EntityRef>,
        name: &str,
        source_move: bool,
    ) -> Result<Imported> {
        self.import_vm_as_vapp_template_with(
            vim,
            &ImportVmAsVAppTemplate {
                name: name.to_owned(),
                vm_moref: vm_moref.to_owned(),
                vdc_href: vdc.href.clone(),
                catalog_href: catalog.map(|c| c.href.clone()),
                source_move,
                ..ImportVmAsVAppTemplate::default()
            },
        )
    }

    /// [`VcdClient::import_vm_as_vapp_template`] with every parameter.
    pub fn import_vm_as_vapp_template_with(
        &self,
        vim: &VimServer,
        p: &ImportVmAsVAppTemplate,
    ) -> Result<Imported> {
        let url = vim.action_url("importVmAsVAppTemplate", media::IMPORT_VM_AS_VAPP_TEMPLATE);
        self.import_entity(
            &url,
            media::IMPORT_VM_AS_VAPP_TEMPLATE,
            &p.to_element(),
            "VAppTemplate",
        )
    }

    /// Imports the vCenter VM `vm_moref` into the existing vApp at `vapp_href` as
    /// `vm_name`, waits for the task (202 `Task`), and returns the new VM.
    pub fn import_vm_into_existing_vapp(
        &self,
        vim: &VimServer,
        vm_moref: &str,
        vapp_href: &str,
        vm_name: &str,
        source_move: bool,
    ) -> Result<EntityRef> {
        self.import_vm_into_existing_vapp_with(
            vim,
            &ImportVmIntoExistingVApp {
                vapp_href: vapp_href.to_owned(),
                vm_moref: vm_moref.to_owned(),
                vm_name: Some(vm_name.to_owned()),
                source_move,
                ..ImportVmIntoExistingVApp::default()
            },
        )
    }

    /// [`VcdClient::import_vm_into_existing_vapp`] with every parameter (`vm_name` is
    /// required here: the new VM is found by it).
    pub fn import_vm_into_existing_vapp_with(
        &self,
        vim: &VimServer,
        p: &ImportVmIntoExistingVApp,
    ) -> Result<EntityRef> {
        let vm_name = p.vm_name.as_deref().unwrap_or_default();
        let url = vim.action_url(
            "importVmIntoExistingVApp",
            media::IMPORT_VM_INTO_EXISTING_VAPP,
        );
        let reply = self.request(
            Method::POST,
            &url,
            Some((
                media::IMPORT_VM_INTO_EXISTING_VAPP,
                xml::to_xml(&p.to_element()),
            )),
        )?;
        if !reply.body.is_empty() {
            let e = reply.element("Task")?;
            self.finish_tasks_in(&e)?;
        }
        let vapp = self.get_vapp(&p.vapp_href)?;
        let names: Vec<String> = vapp.vms.iter().map(|v| v.name.clone()).collect();
        vapp.vms
            .into_iter()
            .find(|v| v.name == vm_name)
            .map(|v| EntityRef::new(v.name, v.href))
            .ok_or_else(|| {
                VcdError::not_found(
                    format!("VM {vm_name:?} in vApp {:?} after the import", vapp.name),
                    names,
                )
            })
    }

    /// POSTs an import whose reply is the new entity (`VApp`/`VAppTemplate` with
    /// `Tasks/Task`), waits for its tasks, and returns it.
    fn import_entity(
        &self,
        url: &str,
        content_type: &str,
        body: &Element,
        root: &str,
    ) -> Result<Imported> {
        let reply = self.request(Method::POST, url, Some((content_type, xml::to_xml(body))))?;
        let entity = if reply.body.iter().all(u8::is_ascii_whitespace) {
            let loc = reply.location.clone().ok_or_else(|| {
                VcdError::malformed(
                    root,
                    &reply.url,
                    format!("HTTP {} with neither a body nor a Location", reply.status),
                )
            })?;
            self.get(root, &loc)?
        } else {
            reply.element(root)?
        };
        if entity.name == "Task" {
            // Some servers answer with the task alone: its Owner is the new entity.
            let task = self.finish_task(&super::task::Task::from_element(&entity))?;
            let href = task.owner_href.or(reply.location).ok_or_else(|| {
                VcdError::malformed(root, &reply.url, "the import task names no owner")
            })?;
            let e = self.get(root, &href)?;
            return Ok(imported(&e, &href));
        }
        if entity.name != root {
            return Err(VcdError::malformed(
                root,
                &reply.url,
                format!("expected <{root}>, got <{}>", entity.name),
            ));
        }
        let href = entity
            .attr("href")
            .map(str::to_owned)
            .or(reply.location)
            .ok_or_else(|| VcdError::malformed(root, &reply.url, "the new entity has no href"))?;
        self.finish_tasks_in(&entity)?;
        Ok(imported(&entity, &href))
    }
}

fn imported(e: &Element, href: &str) -> Imported {
    Imported {
        name: e.attr("name").unwrap_or_default().to_owned(),
        href: e
            .attr("href")
            .filter(|h| !h.is_empty())
            .unwrap_or(href)
            .to_owned(),
        id: e.attr("id").unwrap_or_default().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(e: &Element) -> Vec<String> {
        e.children.iter().map(|c| c.name.clone()).collect()
    }

    fn parse(xml_text: &str) -> Element {
        Element::parse(xml_text.as_bytes()).unwrap()
    }

    #[test]
    fn vapp_params_in_xsd_order_and_namespace() {
        let p = ImportVmAsVApp {
            name: "web & co".into(),
            vm_moref: "vm-111".into(),
            vdc_href: "https://vcd/api/vdc/u".into(),
            source_move: true,
            description: Some("d".into()),
            vm_name: Some("web".into()),
            storage_profile_href: Some("https://vcd/api/vdcStorageProfile/s".into()),
            disks: vec![
                ImportedDisk {
                    instance_id: 2000,
                    storage_profile_href: "https://vcd/api/vdcStorageProfile/s".into(),
                },
                ImportedDisk {
                    instance_id: 2001,
                    storage_profile_href: "https://vcd/api/vdcStorageProfile/t".into(),
                },
            ],
        };
        let text = xml::to_xml(&p.to_element());
        assert!(text.contains("<vmext:ImportVmAsVAppParams xmlns=\"http://www.vmware.com/vcloud/v1.5\" xmlns:vmext=\"http://www.vmware.com/vcloud/extension/v1.5\""), "{text}");
        assert!(text.contains("name=\"web &amp; co\""), "{text}");
        let e = parse(&text);
        assert!(e.is(VMEXT_NS, "ImportVmAsVAppParams"));
        assert_eq!(e.attr("sourceMove"), Some("true"));
        assert_eq!(e.attr("powerOn"), Some("false"));
        assert_eq!(
            names(&e),
            [
                "Description",
                "VmName",
                "VmMoRef",
                "VdcStorageProfile",
                "Vdc",
                "ImportedDisk",
                "ImportedDisk"
            ]
        );
        let d = &e.children[6];
        assert!(d.is(VMEXT_NS, "ImportedDisk"));
        assert_eq!(d.attr("instanceId"), Some("2001"));
        assert_eq!(
            d.child("VdcStorageProfile").unwrap().attr("href"),
            Some("https://vcd/api/vdcStorageProfile/t")
        );
        assert!(e.children[0].is(VCLOUD_NS, "Description"));
        for c in &e.children[1..5] {
            assert_eq!(c.ns.as_deref(), Some(VMEXT_NS), "{}", c.name);
        }
        assert_eq!(e.text_of("VmMoRef"), Some("vm-111"));
        assert_eq!(
            e.child("Vdc").unwrap().attr("href"),
            Some("https://vcd/api/vdc/u")
        );
        // The minimal body: no vcloud namespace at all.
        let min = xml::to_xml(
            &ImportVmAsVApp {
                name: "a".into(),
                vm_moref: "vm-1".into(),
                vdc_href: "h".into(),
                ..Default::default()
            }
            .to_element(),
        );
        assert!(!min.contains("xmlns=\""), "{min}");
        assert_eq!(names(&parse(&min)), ["VmMoRef", "Vdc"]);
    }

    #[test]
    fn template_params_put_vdc_before_storage_profile() {
        let p = ImportVmAsVAppTemplate {
            name: "t".into(),
            vm_moref: "vm-2".into(),
            vdc_href: "https://vcd/api/vdc/u".into(),
            catalog_href: Some("https://vcd/api/catalog/c".into()),
            source_move: false,
            description: None,
            vm_name: Some("t".into()),
            storage_profile_href: Some("sp".into()),
        };
        let e = parse(&xml::to_xml(&p.to_element()));
        assert!(e.is(VMEXT_NS, "ImportVmAsVAppTemplateParams"));
        assert_eq!(
            names(&e),
            ["VmName", "VmMoRef", "Vdc", "VdcStorageProfile", "Catalog"]
        );
        assert_eq!(e.attr("sourceMove"), Some("false"));
        assert!(e.attr("powerOn").is_none());
        assert!(e.child("Catalog").unwrap().is(VMEXT_NS, "Catalog"));
    }

    #[test]
    fn existing_vapp_params() {
        let p = ImportVmIntoExistingVApp {
            vapp_href: "https://vcd/api/vApp/vapp-1".into(),
            vm_moref: "vm-3".into(),
            vm_name: Some("db".into()),
            vm_description: Some("x".into()),
            source_move: true,
            storage_profile_href: Some("sp".into()),
            disks: vec![ImportedDisk {
                instance_id: 2000,
                storage_profile_href: "sp".into(),
            }],
        };
        let e = parse(&xml::to_xml(&p.to_element()));
        assert!(e.is(VMEXT_NS, "ImportVmIntoExistingVAppParams"));
        assert!(e.attr("name").is_none());
        assert_eq!(
            names(&e),
            [
                "VmName",
                "VmDescription",
                "VmMoRef",
                "VdcStorageProfile",
                "VApp",
                "ImportedDisk"
            ]
        );
    }

    fn vim(name: &str, url: &str, enabled: bool) -> VimServer {
        VimServer {
            name: name.into(),
            href: format!("https://vcd/api/admin/extension/vimServer/{name}"),
            url: url.into(),
            uuid: String::new(),
            is_enabled: enabled,
            is_connected: true,
            vc_version: String::new(),
            links: vec![],
        }
    }

    #[test]
    fn vim_server_matching_rule() {
        let all = vec![
            vim("vc1", "https://vc01.corp.example:443", true),
            vim("lab", "https://127.0.0.1:8989", true),
            vim("old", "https://vc02.corp.example", false),
            vim("new", "https://VC02.corp.example.", true),
        ];
        let m = |u: &str| match_vim_server(&all, u).map(|v| v.name);
        assert_eq!(m("https://vc01.corp.example/sdk").unwrap(), "vc1");
        assert_eq!(m("vc01.corp.example").unwrap(), "vc1");
        assert_eq!(
            m("http://127.0.0.1:8989/sdk").unwrap(),
            "lab",
            "host match, any port"
        );
        assert_eq!(m("https://127.0.0.1:8989/sdk").unwrap(), "lab");
        assert_eq!(
            m("https://vc02.corp.example").unwrap(),
            "new",
            "the enabled one of two"
        );
        assert_eq!(m("https://vc01").unwrap(), "vc1", "short name");
        let e = m("https://127.0.0.2/sdk").unwrap_err();
        assert!(e.is_not_found());
        let s = e.to_string();
        assert!(s.contains("vc1 (https://vc01.corp.example:443)"), "{s}");
        let two = vec![
            vim("a", "https://vc", true),
            vim("b", "https://vc:443", true),
        ];
        assert!(matches!(
            match_vim_server(&two, "vc"),
            Err(VcdError::Ambiguous { .. })
        ));
    }

    #[test]
    fn vim_server_element_and_import_links() {
        let e = parse(
            r#"<vmext:VimServer xmlns="http://www.vmware.com/vcloud/v1.5" xmlns:vmext="http://www.vmware.com/vcloud/extension/v1.5" name="vc1" href="https://vcd/api/admin/extension/vimServer/9">
  <Link rel="add" type="application/vnd.vmware.admin.importVmAsVAppParams+xml" href="https://vcd/api/admin/extension/vimServer/9/importVmAsVApp"/>
  <Link rel="down" type="application/vnd.vmware.admin.vmsObjectRefsList+xml" href="https://vcd/api/admin/extension/vimServer/9/vmsList"/>
  <vmext:Username>administrator@vsphere.local</vmext:Username>
  <vmext:Url>https://vc01:443</vmext:Url>
  <vmext:IsEnabled>true</vmext:IsEnabled>
  <vmext:IsConnected>false</vmext:IsConnected>
  <vmext:Uuid>4f7e</vmext:Uuid>
</vmext:VimServer>"#,
        );
        let v = VimServer::from_element(&e, "fallback");
        assert_eq!(v.url, "https://vc01:443");
        assert!(v.is_enabled && !v.is_connected);
        assert_eq!(v.uuid, "4f7e");
        assert_eq!(
            v.action_url("importVmAsVApp", media::IMPORT_VM_AS_VAPP),
            "https://vcd/api/admin/extension/vimServer/9/importVmAsVApp"
        );
        assert_eq!(
            v.action_url("importVmAsVAppTemplate", media::IMPORT_VM_AS_VAPP_TEMPLATE),
            "https://vcd/api/admin/extension/vimServer/9/importVmAsVAppTemplate"
        );
    }
}
