//! Registering deployed VMs in vCloud Director: the vimServer import actions (a VM as a vApp,
//! or as a vApp template in a catalog; the VMs of an OVF vApp into one vApp), then the NICs
//! re-pointed from the placeholder "VM Network" to the org VDC network, then power-on when the
//! manifest asks. Each step is journalled, so a rerun after a vCD failure repeats only what is
//! left, adopting a vApp an interrupted import created instead of making a duplicate.

use anyhow::{bail, Context, Result};
use odt_format::job::manifest::VmEntry;
use odt_vmware::vsphere::client::{Client, MoRef};

use crate::journal::{Journal, Member, SharedJournal, VcdRecord};
use odt_format::job::receipt::StepRequest;
use odt_vmware::vcd::{
    EntityRef, ImportVmAsVApp, ImportVmAsVAppTemplate, ImportVmIntoExistingVApp, ImportedDisk,
    IpRequest, StorageProfile, VcdClient, VimServer, FAILED_CREATION, MAX_CLIENT_REQUEST_ID,
};

/// Where a VM landed in vCD, for the report and the receipt.
pub use odt_format::job::receipt::Registered;

/// The resolved vCD objects a VM's target names.
pub struct TargetRefs {
    /// Org.
    pub org: EntityRef,
    /// VDC.
    pub vdc: EntityRef,
    /// Org VDC network, when the target names one.
    pub network: Option<EntityRef>,
    /// Catalog, for templates.
    pub catalog: Option<EntityRef>,
    /// The storage profile the VM lands on: the one the target names, else the VDC's
    /// default (`None` when the VDC reports none).
    pub storage: Option<Storage>,
}

/// Where a VM's disks go in the VDC.
#[derive(Clone, Debug)]
pub struct Storage {
    /// The profile, with its limit and use.
    pub profile: StorageProfile,
    /// The target named it (sent on import); otherwise it is the VDC's default, which vCD
    /// uses when the import names none.
    pub named: bool,
}

/// The storage profile of `vdc` a VM lands on, or what is wrong with the one it names.
fn resolve_storage(
    vcd: &VcdClient,
    vm: &VmEntry,
    vdc: &EntityRef,
) -> Result<Option<Storage>, Vec<String>> {
    let all = vcd
        .vdc_storage_profiles(vdc)
        .map_err(|e| vec![format!("vCD lookup of the storage profiles failed: {e}")])?;
    let Some(want) = &vm.target.storage_profile else {
        return Ok(all.into_iter().find(|p| p.default).map(|profile| Storage {
            profile,
            named: false,
        }));
    };
    let names: Vec<&str> = all.iter().map(|p| p.entity.name.as_str()).collect();
    match all.iter().find(|p| &p.entity.name == want) {
        None => Err(vec![format!(
            "storage profile {want:?} does not exist in VDC {:?} (it has: {})",
            vdc.name,
            names.join(", ")
        )]),
        Some(p) if !p.enabled => Err(vec![format!(
            "storage profile {want:?} of VDC {:?} is disabled",
            vdc.name
        )]),
        Some(p) => Ok(Some(Storage {
            profile: p.clone(),
            named: true,
        })),
    }
}

/// The `X-VMWARE-VCLOUD-CLIENT-REQUEST-ID` of a step: `odt-<job id>[-<vm dir>]-<step>`, at
/// most [`MAX_CLIENT_REQUEST_ID`] characters. Made of the job id (public: it is in the
/// manifest), the VM's folder and the step's name, so it never holds a secret; a VM folder
/// too long to fit (a hostile manifest) is cut from the front, keeping its last digits.
pub fn client_request_id(job_id: &str, vm_dir: Option<&str>, step: &str) -> String {
    let head = format!("odt-{job_id}-");
    let Some(dir) = vm_dir else {
        return format!("{head}{step}");
    };
    let room = MAX_CLIENT_REQUEST_ID.saturating_sub(head.len() + step.len() + 1);
    let dir = &dir[dir.len().saturating_sub(room)..];
    format!("{head}{dir}-{step}")
}

/// Resolves a VM's target; `Err` lists everything missing.
pub fn resolve_target(vcd: &VcdClient, vm: &VmEntry) -> Result<TargetRefs, Vec<String>> {
    let t = &vm.target;
    let mut missing = vec![];
    let (Some(org_name), Some(vdc_name)) = (&t.org, &t.vdc) else {
        return Err(vec![
            "the manifest names no org and VDC for it (export it with --org and --vdc)".into(),
        ]);
    };
    let err = |e: odt_vmware::vcd::VcdError| vec![format!("vCD lookup failed: {e}")];
    let Some(org) = vcd.find_org(org_name).map_err(err)? else {
        return Err(vec![format!("org {org_name:?} does not exist")]);
    };
    let Some(vdc) = vcd.find_vdc(&org, vdc_name).map_err(err)? else {
        return Err(vec![format!(
            "VDC {vdc_name:?} does not exist in org {org_name:?}"
        )]);
    };
    let network = match &t.network {
        Some(n) => {
            let found = vcd.find_org_vdc_network(&vdc, n).map_err(err)?;
            if found.is_none() {
                missing.push(format!(
                    "org VDC network {n:?} does not exist in VDC {vdc_name:?}"
                ));
            }
            found
        }
        None => None,
    };
    let catalog = match (&t.catalog, t.as_template) {
        (Some(c), true) => {
            let found = vcd.find_catalog(&org, c).map_err(err)?;
            if found.is_none() {
                missing.push(format!("catalog {c:?} does not exist in org {org_name:?}"));
            }
            found
        }
        _ => None,
    };
    if t.as_template && vm.summary.is_vapp {
        missing.push(
            "a multi-VM vApp cannot be imported as one vApp template; export its VMs separately"
                .into(),
        );
    }
    let storage = resolve_storage(vcd, vm, &vdc).unwrap_or_else(|p| {
        missing.extend(p);
        None
    });
    if missing.is_empty() {
        Ok(TargetRefs {
            org,
            vdc,
            network,
            catalog,
            storage,
        })
    } else {
        Err(missing)
    }
}

/// Whether the vApp / catalog item name the VM would take is already used (by something this
/// run did not start).
pub fn name_taken(vcd: &VcdClient, vm: &VmEntry, refs: &TargetRefs) -> Result<bool> {
    Ok(match (&refs.catalog, vm.target.as_template) {
        (Some(c), true) => vcd.catalog_item_exists(c, &vm.name)?,
        _ => vcd.vapp_exists(&refs.vdc, &vm.name)?,
    })
}

/// Registers one deployed VM (or OVF vApp) in vCD, resuming from the journal: import, the
/// other VMs of an OVF vApp, NICs, power-on; each step is journalled once done.
pub fn register_vm(
    vcd: &VcdClient,
    vc: &Client,
    vim: &VimServer,
    vm: &VmEntry,
    entity: &MoRef,
    journal: &SharedJournal<'_>,
) -> Result<Registered> {
    let step = Step {
        vcd,
        vc,
        vm,
        job_id: journal.job_id(),
    };
    step.begin("resolve")?;
    let refs =
        resolve_target(vcd, vm).map_err(|m| anyhow::anyhow!("VM {}: {}", vm.name, m.join("; ")))?;
    let template = vm.target.as_template;
    let mut rec = journal.vm(&vm.dir).and_then(|r| r.vcd).unwrap_or_default();
    rec.kind = if template {
        "template".into()
    } else {
        "vapp".into()
    };
    if rec.href.is_none() {
        if rec.members.is_empty() {
            rec.members = members(vc, entity)?;
            journal.set_vcd(&vm.dir, rec.clone())?;
        }
        step.import(vim, &refs, &mut rec, journal)?;
    }
    let href = rec.href.clone().expect("set above");
    // The other VMs of an OVF vApp join the vApp the first one created (a journal written
    // before members were recorded has none: its vApp was joined then).
    if !template && !rec.members.is_empty() {
        step.join_vapp(vim, &refs, &href, &mut rec, journal)?;
    }
    if let (Some(net), false, false) = (&refs.network, template, rec.wired) {
        step.begin("wire")?;
        let order: Vec<String> = rec.members.iter().map(|m| m.name.clone()).collect();
        vcd.wire_vapp_to_org_network(&href, net, &ip_request(&vm.target), &order)
            .with_context(|| step.what(&format!("connect NICs to {}", net.name)))?;
        rec.wired = true;
        step.record("wire", &mut rec);
        journal.set_vcd(&vm.dir, rec.clone())?;
    }
    if vm.target.power_on && !template && !rec.powered_on {
        step.begin("power-on")?;
        vcd.power_on(&href).with_context(|| step.what("power on"))?;
        rec.powered_on = true;
        step.record("power-on", &mut rec);
        journal.set_vcd(&vm.dir, rec.clone())?;
    }
    rec.done = true;
    journal.set_vcd(&vm.dir, rec.clone())?;
    Ok(Registered {
        kind: rec.kind,
        org: refs.org.name,
        vdc: refs.vdc.name,
        catalog: refs.catalog.map(|c| c.name),
        network: if template {
            None
        } else {
            refs.network.map(|n| n.name)
        },
        href,
        id: rec.id,
        powered_on: rec.powered_on,
        storage_profile: refs
            .storage
            .filter(|s| s.named)
            .map(|s| s.profile.entity.name),
        requests: rec.requests,
    })
}

/// What the target asks of the NICs (no `ip_mode`: POOL, as before the field existed).
pub fn ip_request(t: &odt_format::job::manifest::Target) -> IpRequest {
    use odt_format::job::manifest::IpMode;
    match t.ip_mode {
        None | Some(IpMode::Pool) => IpRequest::Pool,
        Some(IpMode::Dhcp) => IpRequest::Dhcp,
        Some(IpMode::Manual) => IpRequest::Manual(t.ip_addresses.clone()),
    }
}

/// The registration steps of one VM.
struct Step<'a> {
    vcd: &'a VcdClient,
    vc: &'a Client,
    vm: &'a VmEntry,
    job_id: String,
}

impl Step<'_> {
    /// An error's context: which VM, which step.
    fn what(&self, s: &str) -> String {
        format!("VM {}: {s}", self.vm.name)
    }

    /// Every vCD request from here on carries this step's correlation id.
    fn begin(&self, step: &str) -> Result<()> {
        let id = client_request_id(&self.job_id, Some(&self.vm.dir), step);
        Ok(self.vcd.set_client_request_id(Some(&id))?)
    }

    /// Records the request id vCD answered the step's change with (a rerun's replaces an
    /// earlier run's).
    fn record(&self, step: &str, rec: &mut VcdRecord) {
        if let Some(id) = self.vcd.change_request_id() {
            rec.requests.retain(|r| r.step != step);
            rec.requests.push(StepRequest {
                step: step.to_owned(),
                request_id: id,
            });
        }
    }

    /// With a named storage profile, each disk of the vCenter VM `moref` placed on it by
    /// its device key (`ImportedDisk@instanceId`); none otherwise.
    fn disks(&self, refs: &TargetRefs, moref: &str) -> Result<Vec<ImportedDisk>> {
        let Some(s) = refs.storage.as_ref().filter(|s| s.named) else {
            return Ok(vec![]);
        };
        let info =
            odt_vmware::vsphere::inventory::vm_info(self.vc, &MoRef::new("VirtualMachine", moref))
                .with_context(|| self.what(&format!("read the disks of {moref}")))?;
        Ok(info
            .disks
            .iter()
            .map(|d| ImportedDisk {
                instance_id: d.key,
                storage_profile_href: s.profile.entity.href.clone(),
            })
            .collect())
    }

    /// The href of the named storage profile, sent as `VdcStorageProfile`.
    fn profile_href(refs: &TargetRefs) -> Option<String> {
        refs.storage
            .as_ref()
            .filter(|s| s.named)
            .map(|s| s.profile.entity.href.clone())
    }

    /// The import of the first VM: as a vApp template, or as a vApp with its disks placed.
    fn send_import(
        &self,
        vim: &VimServer,
        refs: &TargetRefs,
        first: &str,
    ) -> Result<(String, String)> {
        let (vcd, vm) = (self.vcd, self.vm);
        let imported = if vm.target.as_template {
            let p = ImportVmAsVAppTemplate {
                name: vm.name.clone(),
                vm_moref: first.to_owned(),
                vdc_href: refs.vdc.href.clone(),
                catalog_href: refs.catalog.as_ref().map(|c| c.href.clone()),
                source_move: true,
                storage_profile_href: Self::profile_href(refs),
                ..ImportVmAsVAppTemplate::default()
            };
            vcd.import_vm_as_vapp_template_with(vim, &p)
                .with_context(|| self.what("importVmAsVAppTemplate"))?
        } else {
            let p = ImportVmAsVApp {
                name: vm.name.clone(),
                vm_moref: first.to_owned(),
                vdc_href: refs.vdc.href.clone(),
                source_move: true,
                storage_profile_href: Self::profile_href(refs),
                disks: self.disks(refs, first)?,
                ..ImportVmAsVApp::default()
            };
            vcd.import_vm_as_vapp_with(vim, &p)
                .with_context(|| self.what("importVmAsVApp"))?
        };
        Ok((imported.href, imported.id))
    }

    /// Imports the first VM as a vApp or a template and journals the href. An earlier run
    /// that sent the import and died left a vApp: it is adopted rather than imported twice.
    fn import(
        &self,
        vim: &VimServer,
        refs: &TargetRefs,
        rec: &mut VcdRecord,
        journal: &SharedJournal<'_>,
    ) -> Result<()> {
        let vm = self.vm;
        let template = vm.target.as_template;
        self.begin("import")?;
        let adopted = if rec.importing && !template {
            self.adoptable_vapp(&refs.vdc)?
        } else {
            None
        };
        let (href, id) = match adopted {
            Some(e) => (e.href, None),
            None => {
                rec.importing = true;
                journal.set_vcd(&vm.dir, rec.clone())?;
                let first = rec.members[0].moref.clone();
                let (href, id) = self.send_import(vim, refs, &first)?;
                self.record("import", rec);
                (href, Some(id))
            }
        };
        rec.href = Some(href);
        rec.id = id;
        rec.members[0].imported = true;
        journal.set_vcd(&vm.dir, rec.clone())?;
        Ok(())
    }

    /// The vApp an interrupted import of this VM made, once its tasks ended, if it may be
    /// adopted. One that a failed import left in FAILED_CREATION is deleted instead, so the
    /// import runs again (vcd-api.md §11).
    fn adoptable_vapp(&self, vdc: &EntityRef) -> Result<Option<EntityRef>> {
        let Some(found) = self.vcd.find_vapp(vdc, &self.vm.name)? else {
            return Ok(None);
        };
        let info = self.vcd.settle_vapp(&found.href)?;
        if info.status != FAILED_CREATION {
            return Ok(Some(found));
        }
        self.vcd
            .delete_vapp(&found.href)
            .with_context(|| self.what("delete the vApp a failed import left (FAILED_CREATION)"))?;
        Ok(None)
    }

    /// The other VMs of an OVF vApp join the vCD vApp the first one created, each once:
    /// from the members recorded before the first import, never from what the vSphere vApp
    /// lists now (vCD moved the imported ones out of it). A member vCD already holds (an
    /// earlier run died after its import) is only marked.
    fn join_vapp(
        &self,
        vim: &VimServer,
        refs: &TargetRefs,
        href: &str,
        rec: &mut VcdRecord,
        journal: &SharedJournal<'_>,
    ) -> Result<()> {
        if rec.members.iter().skip(1).all(|m| m.imported) {
            return Ok(());
        }
        let present: Vec<String> = self
            .vcd
            .get_vapp(href)?
            .vms
            .into_iter()
            .map(|v| v.name)
            .collect();
        for i in 1..rec.members.len() {
            let m = rec.members[i].clone();
            if m.imported {
                continue;
            }
            if !present.contains(&m.name) {
                let step = format!("join-{i}");
                self.begin(&step)?;
                let p = ImportVmIntoExistingVApp {
                    vapp_href: href.to_owned(),
                    vm_moref: m.moref.clone(),
                    vm_name: Some(m.name.clone()),
                    source_move: true,
                    storage_profile_href: Self::profile_href(refs),
                    disks: self.disks(refs, &m.moref)?,
                    ..ImportVmIntoExistingVApp::default()
                };
                self.vcd
                    .import_vm_into_existing_vapp_with(vim, &p)
                    .with_context(|| self.what(&format!("importVmIntoExistingVApp {}", m.name)))?;
                self.record(&step, rec);
            }
            rec.members[i].imported = true;
            journal.set_vcd(&self.vm.dir, rec.clone())?;
        }
        Ok(())
    }
}

/// The VMs of an entity, in order: itself, or a vApp's children (the first becomes the vCD
/// vApp, the others join it). Read once, before the first import (see [`Member`]).
fn members(vc: &Client, entity: &MoRef) -> Result<Vec<Member>> {
    if entity.kind != "VirtualApp" {
        return Ok(vec![Member {
            name: String::new(),
            moref: entity.value.clone(),
            imported: false,
        }]);
    }
    let vms = vc
        .retrieve(std::slice::from_ref(entity), "VirtualApp", &["vm"])?
        .first()
        .map(|o| o.morefs("vm"))
        .unwrap_or_default();
    let named = vc.retrieve(&vms, "VirtualMachine", &["name"])?;
    let mut out: Vec<(String, MoRef)> = named
        .into_iter()
        .map(|o| (o.text("name").unwrap_or_default().to_owned(), o.obj))
        .collect();
    out.sort_by_key(|(_, m)| vms.iter().position(|v| v == m));
    if out.is_empty() {
        bail!("vApp {} has no VMs in vCenter", entity.value);
    }
    Ok(out
        .into_iter()
        .map(|(name, m)| Member {
            name,
            moref: m.value,
            imported: false,
        })
        .collect())
}

/// What `plan` needs of the storage profile a VM lands on.
fn storage_facts(refs: &TargetRefs) -> Option<crate::plan::StorageFacts> {
    refs.storage.as_ref().map(|s| crate::plan::StorageFacts {
        profile: s.profile.entity.name.clone(),
        href: s.profile.entity.href.clone(),
        vdc: refs.vdc.name.clone(),
        named: s.named,
        limit_mb: s.profile.limit_mb,
        used_mb: s.profile.used_mb,
    })
}

/// Reads what `plan` checks in vCD: the vCenter's registration, and each VM's target.
pub fn gather_vcd_facts(
    vcd: &VcdClient,
    vcenter_url: &str,
    m: &odt_format::job::manifest::JobManifest,
    journal: Option<&Journal>,
) -> Result<crate::plan::VcdFacts> {
    let (vim_server, vim_server_problem) = vim_server_facts(vcd, vcenter_url)?;
    let mut vms = vec![];
    let mut wiring: Vec<(&VmEntry, EntityRef)> = vec![];
    for vm in &m.vms {
        let record = journal
            .and_then(|j| j.vms.get(&vm.dir))
            .and_then(|r| r.vcd.as_ref());
        let wired = record.is_some_and(|v| v.wired || v.done);
        let registered = record.is_some_and(|v| v.done);
        let (problems, name_taken, storage) = if registered {
            (vec![], false, None)
        } else {
            match resolve_target(vcd, vm) {
                Ok(refs) => {
                    // A vApp an interrupted import of this job created is ours, not a clash.
                    let ours = record.is_some_and(|v| v.importing || v.href.is_some());
                    if let (Some(net), false, false) = (&refs.network, vm.target.as_template, wired)
                    {
                        wiring.push((vm, net.clone()));
                    }
                    let taken = !ours && name_taken(vcd, vm, &refs)?;
                    (vec![], taken, storage_facts(&refs))
                }
                Err(p) => (p, false, None),
            }
        };
        vms.push(crate::plan::VcdVmFacts {
            dir: vm.dir.clone(),
            registered,
            problems,
            name_taken,
            destination: destination(&vm.target),
            storage,
        });
    }
    Ok(crate::plan::VcdFacts {
        url: vcd.url().to_owned(),
        vim_server,
        vim_server_problem,
        vms,
        networks: network_rooms(vcd, &wiring),
    })
}

/// The name vCD knows the target vCenter by, or why the import cannot use it (not
/// registered, disabled, not connected).
fn vim_server_facts(
    vcd: &VcdClient,
    vcenter_url: &str,
) -> Result<(Option<String>, Option<String>)> {
    Ok(match vcd.find_vim_server_for(vcenter_url) {
        Ok(v) if !v.is_enabled => (
            None,
            Some(format!(
                "vCenter {:?} is registered but disabled in vCD",
                v.name
            )),
        ),
        Ok(v) if !v.is_connected => (
            None,
            Some(format!(
                "vCenter {:?} is registered but not connected in vCD",
                v.name
            )),
        ),
        Ok(v) => (Some(v.name), None),
        Err(e) if e.is_not_found() => (
            None,
            Some(format!(
                "vCenter {vcenter_url} is not registered in vCD ({e}): register it (Attach \
                 vCenter) first"
            )),
        ),
        Err(e) => return Err(e).context("list the vCenters registered in vCD"),
    })
}

/// Where a VM lands, in the plan's words.
fn destination(t: &odt_format::job::manifest::Target) -> String {
    if t.as_template {
        return format!(
            "template in catalog {}",
            t.catalog.as_deref().unwrap_or("?")
        );
    }
    format!(
        "vApp in {}/{}{}",
        t.org.as_deref().unwrap_or("?"),
        t.vdc.as_deref().unwrap_or("?"),
        t.network
            .as_deref()
            .map(|n| format!(" on {n}"))
            .unwrap_or_default()
    )
}

/// The POOL NICs of a VM: from the manifest's NIC counts, else at least one per OVF network
/// (and one for a VM without any); `true` when exact.
fn pool_nics(vm: &VmEntry) -> (u64, bool) {
    let s = &vm.summary;
    if s.nics.is_empty() {
        (s.networks.len().max(1) as u64, false)
    } else {
        (s.nics.iter().map(|&n| n as u64).sum(), true)
    }
}

/// For each org VDC network the VMs still to wire go to: its free static pool addresses
/// (pool ranges minus allocated minus the MANUAL addresses of this job inside the pool), the
/// POOL NICs each VM needs, and each MANUAL address checked against the network's subnets and
/// allocated addresses.
fn network_rooms(
    vcd: &VcdClient,
    wiring: &[(&VmEntry, EntityRef)],
) -> Vec<crate::plan::NetworkRoom> {
    use odt_format::job::manifest::IpMode;
    let mut rooms: Vec<(EntityRef, crate::plan::NetworkRoom)> = vec![];
    for (vm, net) in wiring {
        let i = match rooms.iter().position(|(n, _)| n.href == net.href) {
            Some(i) => i,
            None => {
                let room = crate::plan::NetworkRoom {
                    network: net.name.clone(),
                    ..Default::default()
                };
                rooms.push((net.clone(), room));
                rooms.len() - 1
            }
        };
        let room = &mut rooms[i].1;
        match vm.target.ip_mode {
            None | Some(IpMode::Pool) => {
                let (nics, exact) = pool_nics(vm);
                room.pool.push(crate::plan::PoolNeed {
                    vm: vm.name.clone(),
                    nics,
                    exact,
                });
            }
            Some(IpMode::Dhcp) => {}
            Some(IpMode::Manual) => room.manual.extend(vm.target.ip_addresses.iter().map(|a| {
                crate::plan::ManualAddress {
                    vm: vm.name.clone(),
                    address: a.clone(),
                    problem: None,
                }
            })),
        }
    }
    rooms
        .into_iter()
        .filter(|(_, r)| !r.pool.is_empty() || !r.manual.is_empty())
        .map(|(net, mut room)| {
            match vcd.network_ips(&net) {
                Ok(ips) => room.judge(&ips),
                Err(e) => room.problem = Some(format!("cannot read its IP pool: {e}")),
            }
            room
        })
        .collect()
}
