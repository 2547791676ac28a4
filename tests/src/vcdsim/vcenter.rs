//! The vCenter behind the registered vimServer: the vcsim the simulator is linked to (read
//! with odt-format's vSphere client), or, without one, the VMs listed in the seed.

use std::sync::Mutex;

use odt_vmware::vsphere::{inventory, Client, MoRef, TlsMode};

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
                }))
            }
        }
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
