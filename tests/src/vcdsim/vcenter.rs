//! The vCenter behind the registered vimServer: the vcsim the simulator is linked to (read
//! with odt-format's vSphere client), or, without one, the VMs listed in the seed.

use std::sync::Mutex;

use odt_vmware::vsphere::xml::escape_text;
use odt_vmware::vsphere::{inventory, Client, MoRef, TlsMode, VimError};

use super::seed::VmSeed;

/// How to reach the vcsim that backs the simulator.
#[derive(Debug, Clone)]
pub struct VcsimLink {
    /// SDK URL (`http://127.0.0.1:PORT/sdk` or https).
    pub url: String,
    /// vCenter user.
    pub user: String,
    /// vCenter password.
    pub password: String,
}

/// A vCenter VM as vCD sees it when importing.
#[derive(Debug, Clone)]
pub struct VcVm {
    pub moref: String,
    pub name: String,
    /// `poweredOn`, `poweredOff`, `suspended`.
    pub power_state: String,
    pub nics: Vec<VcNic>,
    /// (device key, capacity in KB) of each virtual disk, in device order.
    pub disks: Vec<(i32, u64)>,
}

/// A NIC of a vCenter VM.
#[derive(Debug, Clone)]
pub struct VcNic {
    /// Port group name (standard or distributed), `None` when not attached.
    pub network: Option<String>,
    pub mac: Option<String>,
    /// vCD `NetworkAdapterType` (`VMXNET3`, `E1000`, …).
    pub adapter: String,
    pub connected: bool,
}

/// Where VMs come from.
pub enum Backend {
    /// A linked vcsim (the session is opened lazily and reopened once on failure).
    Vcsim {
        link: VcsimLink,
        client: Mutex<Option<Client>>,
    },
    /// The seed's `[[vcenter.vms]]`.
    Seeded(Vec<VcVm>),
}

/// vim device type → vCD NetworkAdapterType.
pub fn adapter_type(kind: &str) -> &'static str {
    match kind {
        "VirtualE1000" => "E1000",
        "VirtualE1000e" => "E1000E",
        "VirtualPCNet32" => "PCNet32",
        "VirtualVmxnet" => "VMXNET",
        "VirtualVmxnet2" => "VMXNET2",
        "VirtualVmxnet3Vrdma" => "VMXNET3VRDMA",
        "VirtualSriovEthernetCard" => "SRIOVETHERNETCARD",
        _ => "VMXNET3",
    }
}

impl Backend {
    /// From the options.
    pub fn new(link: Option<VcsimLink>, seeded: &[VmSeed]) -> Backend {
        match link {
            Some(link) => Backend::Vcsim {
                link,
                client: Mutex::new(None),
            },
            None => Backend::Seeded(
                seeded
                    .iter()
                    .map(|v| VcVm {
                        moref: v.moref.clone(),
                        name: v.name.clone(),
                        power_state: v.power_state.clone(),
                        nics: v
                            .nics
                            .iter()
                            .map(|n| VcNic {
                                network: (!n.network.is_empty()).then(|| n.network.clone()),
                                mac: n.mac.clone(),
                                adapter: n.adapter.clone(),
                                connected: n.connected,
                            })
                            .collect(),
                        disks: vec![],
                    })
                    .collect(),
            ),
        }
    }

    fn with_client<T>(
        &self,
        f: impl Fn(&Client) -> Result<T, odt_vmware::vsphere::VimError>,
    ) -> Result<T, String> {
        let Backend::Vcsim { link, client } = self else {
            unreachable!("with_client on a seeded backend")
        };
        let mut guard = client.lock().unwrap_or_else(|p| p.into_inner());
        for attempt in 0..2 {
            if guard.is_none() {
                let c = Client::connect(&link.url, &link.user, &link.password, TlsMode::Insecure)
                    .map_err(|e| format!("connecting to vCenter {}: {e}", link.url))?;
                *guard = Some(c);
            }
            let c = guard.as_ref().expect("connected");
            match f(c) {
                Ok(v) => return Ok(v),
                Err(e)
                    if attempt == 0
                        && !matches!(e, odt_vmware::vsphere::VimError::NotFound { .. }) =>
                {
                    // The session may have expired: reconnect once.
                    *guard = None;
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("vCenter session failed twice".into())
    }

    /// The VM `moref`, `Ok(None)` when vCenter has no such VM.
    pub fn vm(&self, moref: &str) -> Result<Option<VcVm>, String> {
        match self {
            Backend::Seeded(vms) => Ok(vms.iter().find(|v| v.moref == moref).cloned()),
            Backend::Vcsim { .. } => {
                if !moref.starts_with("vm-") {
                    return Ok(None);
                }
                let r = self.with_client(|c| {
                    match inventory::vm_info(c, &MoRef::new("VirtualMachine", moref)) {
                        Ok(i) => Ok(Some(i)),
                        Err(odt_vmware::vsphere::VimError::NotFound { .. }) => Ok(None),
                        Err(e) => Err(e),
                    }
                })?;
                Ok(r.map(|info| VcVm {
                    moref: moref.to_owned(),
                    name: info.name.clone(),
                    power_state: info.power_state.clone(),
                    nics: info
                        .nics
                        .iter()
                        .map(|n| VcNic {
                            network: info.nic_network_name(n).map(str::to_owned),
                            mac: n.mac_address.clone(),
                            adapter: adapter_type(&n.kind).to_owned(),
                            connected: n
                                .device
                                .path(&["connectable", "startConnected"])
                                .or_else(|| n.device.path(&["connectable", "connected"]))
                                .map(|e| e.text_trim() == "true")
                                .unwrap_or(true),
                        })
                        .collect(),
                    disks: info.disks.iter().map(|d| (d.key, d.capacity_kb)).collect(),
                }))
            }
        }
    }

    /// What vCloud Director does in vCenter when a move-import (`sourceMove="true"`) of the
    /// VM `moref` succeeds: it migrates the VM into the org VDC's resource pool (`pool`, made
    /// under the root pool of the VM's cluster or host when missing), out of the vSphere vApp it
    /// sat in, and renames it `new_name` ("NAME (UUID)"). Each step is idempotent, so the
    /// session retry of [`Backend::with_client`] cannot do it twice. A seeded backend has no
    /// inventory to change.
    pub fn take_over(&self, moref: &str, new_name: &str, pool: &str) -> Result<(), String> {
        if let Backend::Seeded(_) = self {
            return Ok(());
        }
        self.with_client(|c| {
            let vm = MoRef::new("VirtualMachine", moref);
            let pool = vdc_pool(c, &vm, pool)?;
            let relocate = format!(
                "<spec><pool type=\"ResourcePool\">{}</pool></spec>",
                escape_text(&pool.value)
            );
            run_task(c, "RelocateVM_Task", &vm, &relocate)?;
            let rename = format!("<newName>{}</newName>", escape_text(new_name));
            run_task(c, "Rename_Task", &vm, &rename)
        })
    }

    /// Every VM (moref, name), templates excluded.
    pub fn list(&self) -> Result<Vec<(String, String)>, String> {
        match self {
            Backend::Seeded(vms) => Ok(vms
                .iter()
                .map(|v| (v.moref.clone(), v.name.clone()))
                .collect()),
            Backend::Vcsim { .. } => {
                let objs = self.with_client(|c| {
                    let root = c.service_content().root_folder.clone();
                    c.retrieve_in(&root, "VirtualMachine", &["name", "config.template"])
                })?;
                let mut out: Vec<(String, String)> = objs
                    .iter()
                    .filter(|o| o.boolean("config.template") != Some(true))
                    .map(|o| {
                        (
                            o.obj.value.clone(),
                            o.text("name").unwrap_or_default().to_owned(),
                        )
                    })
                    .collect();
                out.sort_by_key(|(m, _)| {
                    (
                        m.trim_start_matches("vm-")
                            .parse::<u64>()
                            .unwrap_or(u64::MAX),
                        m.clone(),
                    )
                });
                Ok(out)
            }
        }
    }
}

/// The resource pool named `name` under the root pool of `vm`'s cluster (or host), made
/// when missing: vCD keeps one per org VDC.
fn vdc_pool(c: &Client, vm: &MoRef, name: &str) -> Result<MoRef, VimError> {
    let missing = |what: &str| VimError::NotFound {
        what: what.to_owned(),
        choices: vec![],
    };
    let first = |objs: Vec<odt_vmware::vsphere::ObjectContent>, prop: &str| {
        objs.into_iter().next().and_then(|o| o.moref(prop))
    };
    let host = first(
        c.retrieve(
            std::slice::from_ref(vm),
            "VirtualMachine",
            &["runtime.host"],
        )?,
        "runtime.host",
    )
    .ok_or_else(|| missing(&format!("the host of {}", vm.value)))?;
    let compute = first(
        c.retrieve(std::slice::from_ref(&host), "HostSystem", &["parent"])?,
        "parent",
    )
    .ok_or_else(|| missing(&format!("the cluster of host {}", host.value)))?;
    let root = first(
        c.retrieve(
            std::slice::from_ref(&compute),
            &compute.kind,
            &["resourcePool"],
        )?,
        "resourcePool",
    )
    .ok_or_else(|| missing(&format!("the root resource pool of {}", compute.value)))?;
    let children = c
        .retrieve(
            std::slice::from_ref(&root),
            "ResourcePool",
            &["resourcePool"],
        )?
        .first()
        .map(|o| o.morefs("resourcePool"))
        .unwrap_or_default();
    let named = c.retrieve(&children, "ResourcePool", &["name"])?;
    if let Some(p) = named.iter().find(|o| o.text("name") == Some(name)) {
        return Ok(p.obj.clone());
    }
    let alloc = "<expandableReservation>true</expandableReservation><limit>-1</limit>\
                 <reservation>0</reservation><shares><shares>0</shares><level>normal</level></shares>";
    let body = format!(
        "<name>{}</name><spec><cpuAllocation>{alloc}</cpuAllocation>\
         <memoryAllocation>{alloc}</memoryAllocation></spec>",
        escape_text(name)
    );
    let reply = c.call("CreateResourcePool", &root, &body)?;
    reply
        .child("returnval")
        .map(|r| MoRef::new("ResourcePool", r.text_trim()))
        .ok_or_else(|| missing("the pool CreateResourcePool made"))
}

/// Calls a vim method that returns a task and waits for it.
fn run_task(c: &Client, method: &str, this: &MoRef, body: &str) -> Result<(), VimError> {
    let reply = c.call(method, this, body)?;
    let task = reply
        .child("returnval")
        .map(|r| MoRef::new("Task", r.text_trim()))
        .ok_or_else(|| VimError::NotFound {
            what: format!("the task of {method}"),
            choices: vec![],
        })?;
    odt_vmware::vsphere::wait_task(c, &task, std::time::Duration::from_secs(30))?;
    Ok(())
}
