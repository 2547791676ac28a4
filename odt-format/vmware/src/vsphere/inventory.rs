//! Where a VM lands, and what a VM looks like once it is there.
//!
//! [`Placement::resolve`] turns the operator's optional `--datacenter`, `--cluster`/`--host`
//! and `--datastore` into managed objects. A choice left out is taken when the inventory
//! offers exactly one candidate; otherwise the error lists the candidates, so the operator can
//! name one. It also reads which networks every host of the target can reach, because odt
//! lands every VM on the placeholder port group `VM Network` and that must exist on each host
//! the VM could run on (reference §2.6): a *standard* port group (type `Network`) with exactly
//! that name. A distributed port group that happens to carry the same name does not count — it
//! is a different object, and vCD's import expects the standard one.
//!
//! [`vm_info`] reads back a VM's name, power state, `extraConfig`, disks and NICs, which is how
//! an import is checked and how a rerun recognises a VM it created earlier.

use std::collections::BTreeMap;

use super::client::{Client, ObjectContent};
use super::error::{Result, VimError};
use super::types::MoRef;
use super::xml::Element;

/// An inventory object and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The object's name as the vSphere Client shows it.
    pub name: String,
    /// The object.
    pub moref: MoRef,
}

/// A network a host can reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRef {
    /// The network's name (the port group name).
    pub name: String,
    /// `Network` (a standard port group), `DistributedVirtualPortgroup` or `OpaqueNetwork`.
    pub kind: String,
    /// The network object.
    pub moref: MoRef,
}

/// One host of the placement and the networks it reaches (`HostSystem.network`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostNetworks {
    /// The host's name.
    pub name: String,
    /// The HostSystem.
    pub moref: MoRef,
    /// Its networks, in the server's order.
    pub networks: Vec<NetworkRef>,
}

impl HostNetworks {
    /// The standard port group (type `Network`) named exactly `name`, if this host has it.
    pub fn standard_port_group(&self, name: &str) -> Option<&NetworkRef> {
        self.networks
            .iter()
            .find(|n| n.kind == "Network" && n.name == name)
    }
}

/// A datastore and its space (`Datastore.summary`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatastoreInfo {
    /// The datastore's name.
    pub name: String,
    /// The Datastore.
    pub moref: MoRef,
    /// Capacity in bytes.
    pub capacity: u64,
    /// Free space in bytes.
    pub free_space: u64,
    /// Whether the datastore is currently accessible.
    pub accessible: bool,
}

/// Where an import goes: everything CreateImportSpec and ImportVApp need, plus the host
/// networks and datastore space that `plan` checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The datacenter.
    pub datacenter: Named,
    /// The datacenter's VM folder (ImportVApp's `folder`).
    pub vm_folder: MoRef,
    /// The root resource pool of the cluster or standalone host (ImportVApp's `_this`).
    pub resource_pool: MoRef,
    /// The cluster (`ClusterComputeResource`) or standalone host (`ComputeResource`, named
    /// like its host).
    pub compute: Named,
    /// The host the operator named, if any: passed as `hostSystem`/`host` so the VM lands on
    /// it even inside a cluster.
    pub host: Option<Named>,
    /// The hosts the VM may run on (every host of the cluster, or the named host) and their
    /// networks.
    pub hosts: Vec<HostNetworks>,
    /// The datastore the disks go to.
    pub datastore: DatastoreInfo,
}

impl Placement {
    /// Resolves the operator's choices against the inventory. Each `None` means "the only
    /// one there is": with several candidates the error is [`VimError::Ambiguous`] listing
    /// them; a name that does not exist is [`VimError::NotFound`] listing what does.
    ///
    /// `host` alone picks a standalone host, or one host of a cluster (the cluster's pool
    /// is used and the VM is pinned to that host). `cluster` and `host` together require the
    /// host to be in the cluster.
    pub fn resolve(
        client: &Client,
        datacenter: Option<&str>,
        cluster: Option<&str>,
        host: Option<&str>,
        datastore: Option<&str>,
    ) -> Result<Placement> {
        let sc = client.service_content();
        let dcs = client.retrieve_in(
            &sc.root_folder,
            "Datacenter",
            &["name", "vmFolder", "hostFolder"],
        )?;
        let dc = pick(&dcs, datacenter, "datacenter", "")?;
        let dc_name = dc.text("name").unwrap_or_default().to_string();
        let in_dc = format!(" in datacenter \"{dc_name}\"");
        let vm_folder = dc
            .moref("vmFolder")
            .ok_or_else(|| VimError::xml(format!("datacenter {dc_name}"), "no vmFolder"))?;
        let host_folder = dc
            .moref("hostFolder")
            .ok_or_else(|| VimError::xml(format!("datacenter {dc_name}"), "no hostFolder"))?;

        let crs = client.retrieve_in(
            &host_folder,
            "ComputeResource",
            &["name", "resourcePool", "host", "datastore"],
        )?;
        let (compute, chosen_host) = match (cluster, host) {
            (Some(c), h) => in_cluster(client, &crs, c, h, &in_dc)?,
            (None, Some(h)) => host_by_name(client, &crs, &host_folder, h, &in_dc)?,
            (None, None) => (only_compute(&crs, &in_dc)?, None),
        };
        let compute_name = compute.text("name").unwrap_or_default().to_string();
        let resource_pool = compute.moref("resourcePool").ok_or_else(|| {
            VimError::xml(
                format!("compute resource {compute_name}"),
                "no resourcePool",
            )
        })?;

        let host_refs = match &chosen_host {
            Some(h) => vec![h.moref.clone()],
            None => compute.morefs("host"),
        };
        let hosts = host_networks(client, &host_refs)?;
        let datastore = datastore_of(client, compute, &compute_name, datastore)?;

        Ok(Placement {
            datacenter: Named {
                name: dc_name,
                moref: dc.obj.clone(),
            },
            vm_folder,
            resource_pool,
            compute: Named {
                name: compute_name,
                moref: compute.obj.clone(),
            },
            host: chosen_host,
            hosts,
            datastore,
        })
    }

    /// True when the compute resource is a cluster (not a standalone host).
    pub fn is_cluster(&self) -> bool {
        self.compute.moref.kind == "ClusterComputeResource"
    }

    /// The names of the hosts that have no standard port group (type `Network`) named exactly
    /// `port_group`. Empty means every host can attach a NIC to it.
    pub fn hosts_lacking(&self, port_group: &str) -> Vec<String> {
        self.hosts
            .iter()
            .filter(|h| h.standard_port_group(port_group).is_none())
            .map(|h| h.name.clone())
            .collect()
    }

    /// The Network object of the standard port group named `port_group` (e.g. `"VM Network"`)
    /// as the hosts see it, for CreateImportSpec's `networkMapping`. Check
    /// [`Placement::hosts_lacking`] first: this only says that some host has it.
    pub fn vm_network_moref(&self, port_group: &str) -> Option<MoRef> {
        self.hosts
            .iter()
            .find_map(|h| h.standard_port_group(port_group))
            .map(|n| n.moref.clone())
    }
}

/// `--cluster c`, and with `--host h` also that host among the cluster's members.
fn in_cluster<'a>(
    client: &Client,
    crs: &'a [ObjectContent],
    c: &str,
    h: Option<&str>,
    in_dc: &str,
) -> Result<(&'a ObjectContent, Option<Named>)> {
    let clusters: Vec<&ObjectContent> = crs
        .iter()
        .filter(|o| o.obj.kind == "ClusterComputeResource")
        .collect();
    let cr = pick_among(&clusters, Some(c), "cluster", in_dc)?;
    let Some(h) = h else {
        return Ok((cr, None));
    };
    let members = client.retrieve(&cr.morefs("host"), "HostSystem", &["name"])?;
    let m = members
        .iter()
        .find(|m| m.text("name") == Some(h))
        .ok_or_else(|| VimError::NotFound {
            what: format!("host \"{h}\" in cluster \"{c}\""),
            choices: names(&members.iter().collect::<Vec<_>>()),
        })?;
    let chosen = Named {
        name: h.to_string(),
        moref: m.obj.clone(),
    };
    Ok((cr, Some(chosen)))
}

/// `--host h` alone: a standalone host, or a host of a cluster (whose pool is then used).
fn host_by_name<'a>(
    client: &Client,
    crs: &'a [ObjectContent],
    host_folder: &MoRef,
    h: &str,
    in_dc: &str,
) -> Result<(&'a ObjectContent, Option<Named>)> {
    let hosts = client.retrieve_in(host_folder, "HostSystem", &["name", "parent"])?;
    let hs = pick(&hosts, Some(h), "host", in_dc)?;
    let parent = hs.moref("parent");
    let cr = crs
        .iter()
        .find(|o| Some(&o.obj) == parent.as_ref())
        .ok_or_else(|| VimError::NotFound {
            what: format!("the compute resource of host \"{h}\""),
            choices: Vec::new(),
        })?;
    let chosen = Named {
        name: h.to_string(),
        moref: hs.obj.clone(),
    };
    Ok((cr, Some(chosen)))
}

/// Neither `--cluster` nor `--host`: the only compute resource there is.
fn only_compute<'a>(crs: &'a [ObjectContent], in_dc: &str) -> Result<&'a ObjectContent> {
    match crs {
        [one] => Ok(one),
        [] => Err(VimError::NotFound {
            what: format!("a cluster or host{in_dc}"),
            choices: Vec::new(),
        }),
        many => Err(VimError::Ambiguous {
            what: format!("cluster or standalone host{in_dc}"),
            choices: many
                .iter()
                .map(|o| {
                    let kind = if o.obj.kind == "ClusterComputeResource" {
                        "cluster"
                    } else {
                        "host"
                    };
                    format!("{kind} {}", o.text("name").unwrap_or(&o.obj.value))
                })
                .collect(),
        }),
    }
}

/// The datastore `want` (or the only one) among those `compute` reaches, with its space.
fn datastore_of(
    client: &Client,
    compute: &ObjectContent,
    compute_name: &str,
    want: Option<&str>,
) -> Result<DatastoreInfo> {
    let ds = client.retrieve(
        &compute.morefs("datastore"),
        "Datastore",
        &[
            "name",
            "summary.capacity",
            "summary.freeSpace",
            "summary.accessible",
        ],
    )?;
    let ds_obj = pick(
        &ds,
        want,
        "datastore",
        &format!(" reachable from {compute_name}"),
    )?;
    Ok(DatastoreInfo {
        name: ds_obj.text("name").unwrap_or_default().to_string(),
        moref: ds_obj.obj.clone(),
        capacity: ds_obj.number("summary.capacity").unwrap_or(0),
        free_space: ds_obj.number("summary.freeSpace").unwrap_or(0),
        accessible: ds_obj.boolean("summary.accessible").unwrap_or(true),
    })
}

/// Names of objects that have a `name` property.
fn names(objs: &[&ObjectContent]) -> Vec<String> {
    objs.iter()
        .map(|o| o.text("name").unwrap_or(&o.obj.value).to_string())
        .collect()
}

/// Chooses among objects with a `name`: the named one, or the only one.
fn pick<'a>(
    objs: &'a [ObjectContent],
    want: Option<&str>,
    what: &str,
    where_: &str,
) -> Result<&'a ObjectContent> {
    pick_among(&objs.iter().collect::<Vec<_>>(), want, what, where_)
}

/// [`pick`] over a selection of objects.
fn pick_among<'a>(
    all: &[&'a ObjectContent],
    want: Option<&str>,
    what: &str,
    where_: &str,
) -> Result<&'a ObjectContent> {
    match want {
        Some(n) => {
            let found: Vec<&ObjectContent> = all
                .iter()
                .copied()
                .filter(|o| o.text("name") == Some(n))
                .collect();
            match found.as_slice() {
                [one] => Ok(one),
                [] => Err(VimError::NotFound {
                    what: format!("{what} \"{n}\"{where_}"),
                    choices: names(all),
                }),
                _ => Err(VimError::Ambiguous {
                    what: format!("{what} named \"{n}\"{where_}"),
                    choices: found.iter().map(|o| o.obj.value.clone()).collect(),
                }),
            }
        }
        None => match all {
            [one] => Ok(one),
            [] => Err(VimError::NotFound {
                what: format!("a {what}{where_}"),
                choices: Vec::new(),
            }),
            _ => Err(VimError::Ambiguous {
                what: format!("{what}{where_}"),
                choices: names(all),
            }),
        },
    }
}

/// Reads each host's name and networks, and the networks' names.
fn host_networks(client: &Client, hosts: &[MoRef]) -> Result<Vec<HostNetworks>> {
    let hs = client.retrieve(hosts, "HostSystem", &["name", "network"])?;
    let mut all_nets: Vec<MoRef> = hs.iter().flat_map(|h| h.morefs("network")).collect();
    all_nets.sort();
    all_nets.dedup();
    // `Network` also matches DistributedVirtualPortgroup and OpaqueNetwork (subtypes).
    let nets = client.retrieve(&all_nets, "Network", &["name"])?;
    let net_names: BTreeMap<&MoRef, &str> = nets
        .iter()
        .map(|n| (&n.obj, n.text("name").unwrap_or_default()))
        .collect();
    let mut out = Vec::with_capacity(hs.len());
    for h in &hs {
        let networks = h
            .morefs("network")
            .into_iter()
            .map(|m| NetworkRef {
                name: net_names.get(&m).copied().unwrap_or_default().to_string(),
                kind: m.kind.clone(),
                moref: m,
            })
            .collect();
        out.push(HostNetworks {
            name: h.text("name").unwrap_or(&h.obj.value).to_string(),
            moref: h.obj.clone(),
            networks,
        });
    }
    Ok(out)
}

/// Finds the VM named `name` anywhere under `container` (a Datacenter or folder). More than
/// one VM with that name is [`VimError::Ambiguous`].
pub fn find_vm(client: &Client, container: &MoRef, name: &str) -> Result<Option<MoRef>> {
    let vms = client.retrieve_in(container, "VirtualMachine", &["name"])?;
    let found: Vec<&ObjectContent> = vms
        .iter()
        .filter(|o| o.text("name") == Some(name))
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.obj.clone())),
        _ => Err(VimError::Ambiguous {
            what: format!("virtual machine named \"{name}\""),
            choices: found.iter().map(|o| o.obj.value.clone()).collect(),
        }),
    }
}

/// A VM as read back from vCenter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmInfo {
    /// The VM.
    pub moref: MoRef,
    /// Its name.
    pub name: String,
    /// `runtime.powerState`: `poweredOn`, `poweredOff` or `suspended`.
    pub power_state: String,
    /// `config.extraConfig` as (key, value) pairs, in the server's order.
    pub extra_config: Vec<(String, String)>,
    /// Virtual disks, in device order.
    pub disks: Vec<VmDisk>,
    /// Network adapters, in device order.
    pub nics: Vec<VmNic>,
    /// The networks the VM is attached to (`VirtualMachine.network`), with their names.
    pub networks: Vec<NetworkRef>,
}

impl VmInfo {
    /// The value of an `extraConfig` key.
    pub fn extra(&self, key: &str) -> Option<&str> {
        self.extra_config
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The name of the network a NIC is attached to: the port group name for a standard
    /// backing, the distributed port group's name (looked up in [`VmInfo::networks`]) for a
    /// DVPort backing.
    pub fn nic_network_name<'a>(&'a self, nic: &'a VmNic) -> Option<&'a str> {
        match &nic.backing {
            NicBacking::Network { device_name, .. } => Some(device_name),
            NicBacking::DistributedPort { portgroup_key, .. } => self
                .networks
                .iter()
                .find(|n| {
                    n.kind == "DistributedVirtualPortgroup" && &n.moref.value == portgroup_key
                })
                .map(|n| n.name.as_str()),
            _ => None,
        }
    }
}

/// One virtual disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmDisk {
    /// The device key.
    pub key: i32,
    /// `deviceInfo.label` ("Hard disk 1").
    pub label: String,
    /// `capacityInKB`.
    pub capacity_kb: u64,
    /// `backing.fileName` (`[datastore] dir/name.vmdk`), when file-backed.
    pub file_name: Option<String>,
}

/// How a NIC is connected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NicBacking {
    /// A standard port group (`VirtualEthernetCardNetworkBackingInfo`).
    Network {
        /// The port group name.
        device_name: String,
        /// The Network object, when the server says.
        network: Option<MoRef>,
    },
    /// A distributed port group (`VirtualEthernetCardDistributedVirtualPortBackingInfo`).
    DistributedPort {
        /// The distributed switch's UUID.
        switch_uuid: String,
        /// The port group key (the DVPG's moref value).
        portgroup_key: String,
    },
    /// An NSX opaque network (`VirtualEthernetCardOpaqueNetworkBackingInfo`).
    Opaque {
        /// `opaqueNetworkId`.
        network_id: String,
        /// `opaqueNetworkType`.
        network_type: String,
    },
    /// Any other backing, by its xsi:type (empty when there is none).
    Other(String),
}

/// One network adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmNic {
    /// The device key.
    pub key: i32,
    /// `deviceInfo.label` ("Network adapter 1").
    pub label: String,
    /// The device's xsi:type (`VirtualVmxnet3`, `VirtualE1000`, …).
    pub kind: String,
    /// `macAddress`, when assigned.
    pub mac_address: Option<String>,
    /// What it is connected to.
    pub backing: NicBacking,
    /// The device as read, to send back (changed) in a ReconfigVM_Task `edit`: vCenter wants
    /// the whole device, and vcsim crashes on an edit without `deviceInfo`.
    pub device: Element,
}

/// The xsi:types of the virtual Ethernet cards (subtypes of VirtualEthernetCard).
const ETHERNET_TYPES: &[&str] = &[
    "VirtualE1000",
    "VirtualE1000e",
    "VirtualPCNet32",
    "VirtualVmxnet",
    "VirtualVmxnet2",
    "VirtualVmxnet3",
    "VirtualVmxnet3Vrdma",
    "VirtualSriovEthernetCard",
    "VirtualEthernetCard",
];

/// Reads a VM's name, power state, extraConfig, disks, NICs and networks. A VM that no
/// longer exists is [`VimError::NotFound`].
pub fn vm_info(client: &Client, vm: &MoRef) -> Result<VmInfo> {
    let not_found = || VimError::NotFound {
        what: format!("virtual machine {}", vm.value),
        choices: Vec::new(),
    };
    let objs = client
        .retrieve(
            std::slice::from_ref(vm),
            "VirtualMachine",
            &[
                "name",
                "runtime.powerState",
                "config.extraConfig",
                "config.hardware.device",
                "network",
            ],
        )
        .map_err(|e| match e.fault_type() {
            Some("ManagedObjectNotFound") => not_found(),
            _ => e,
        })?;
    let o = objs
        .into_iter()
        .find(|o| &o.obj == vm)
        .ok_or_else(not_found)?;
    let nets = o.morefs("network");
    let net_objs = client.retrieve(&nets, "Network", &["name"])?;
    let networks = nets
        .iter()
        .map(|m| NetworkRef {
            name: net_objs
                .iter()
                .find(|n| &n.obj == m)
                .and_then(|n| n.text("name"))
                .unwrap_or_default()
                .to_string(),
            kind: m.kind.clone(),
            moref: m.clone(),
        })
        .collect();
    let mut info = parse_vm(&o)?;
    info.networks = networks;
    Ok(info)
}

/// Builds a [`VmInfo`] (without `networks`) from a VirtualMachine's properties.
pub fn parse_vm(o: &ObjectContent) -> Result<VmInfo> {
    let extra_config = o
        .get("config.extraConfig")
        .map(|v| {
            v.children
                .iter()
                .filter_map(|ov| {
                    let k = ov.text_of("key")?;
                    Some((
                        k.to_string(),
                        ov.child("value")
                            .map(|v| v.text.clone())
                            .unwrap_or_default(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut disks = Vec::new();
    let mut nics = Vec::new();
    if let Some(devs) = o.get("config.hardware.device") {
        for d in &devs.children {
            let ty = d.xsi_type().unwrap_or("");
            let key = d.parse_of::<i32>("key").unwrap_or(0);
            let label = d
                .path(&["deviceInfo", "label"])
                .map(|l| l.text_trim().to_string())
                .unwrap_or_default();
            if ty == "VirtualDisk" {
                let capacity_kb = d
                    .parse_of::<u64>("capacityInKB")
                    .or_else(|| d.parse_of::<u64>("capacityInBytes").map(|b| b / 1024))
                    .unwrap_or(0);
                disks.push(VmDisk {
                    key,
                    label,
                    capacity_kb,
                    file_name: d
                        .path(&["backing", "fileName"])
                        .map(|f| f.text_trim().to_string()),
                });
            } else if ETHERNET_TYPES.contains(&ty)
                || (d.child("macAddress").is_some() && d.child("backing").is_some())
            {
                nics.push(VmNic {
                    key,
                    label,
                    kind: ty.to_string(),
                    mac_address: d
                        .text_of("macAddress")
                        .filter(|m| !m.is_empty())
                        .map(str::to_string),
                    backing: nic_backing(d.child("backing")),
                    device: d.clone(),
                });
            }
        }
    }
    Ok(VmInfo {
        moref: o.obj.clone(),
        name: o.text("name").unwrap_or_default().to_string(),
        power_state: o.text("runtime.powerState").unwrap_or_default().to_string(),
        extra_config,
        disks,
        nics,
        networks: Vec::new(),
    })
}

fn nic_backing(b: Option<&Element>) -> NicBacking {
    let Some(b) = b else {
        return NicBacking::Other(String::new());
    };
    let s = |n: &str| b.text_of(n).unwrap_or_default().to_string();
    match b.xsi_type().unwrap_or("") {
        "VirtualEthernetCardNetworkBackingInfo" => NicBacking::Network {
            device_name: s("deviceName"),
            network: b.child("network").and_then(|n| MoRef::from_element(n).ok()),
        },
        "VirtualEthernetCardDistributedVirtualPortBackingInfo" => {
            let port = b.child("port");
            let p = |n: &str| {
                port.and_then(|p| p.text_of(n))
                    .unwrap_or_default()
                    .to_string()
            };
            NicBacking::DistributedPort {
                switch_uuid: p("switchUuid"),
                portgroup_key: p("portgroupKey"),
            }
        }
        "VirtualEthernetCardOpaqueNetworkBackingInfo" => NicBacking::Opaque {
            network_id: s("opaqueNetworkId"),
            network_type: s("opaqueNetworkType"),
        },
        other => NicBacking::Other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::client::parse_retrieve_result;
    use crate::vsphere::soap::parse_response;
    use crate::vsphere::xml::VIM25_NS;

    /// A VirtualMachine's properties as vcsim returns them after an OVF import (shortened:
    /// one controller, one disk, two NICs — one on a standard port group, one on a DVPG).
    const VM_REPLY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-64</obj><propSet><name>name</name><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="xsd:string">single</val></propSet><propSet><name>runtime.powerState</name><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="VirtualMachinePowerState">poweredOff</val></propSet><propSet><name>config.extraConfig</name><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="ArrayOfOptionValue"><OptionValue><key>odt.job</key><value XMLSchema-instance:type="xsd:string">j-1 &amp; 2</value></OptionValue></val></propSet><propSet><name>config.hardware.device</name><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="ArrayOfVirtualDevice"><VirtualDevice XMLSchema-instance:type="VirtualLsiLogicController"><key>1000</key><deviceInfo><label>SCSI controller 0</label><summary>LSI Logic</summary></deviceInfo><busNumber>0</busNumber></VirtualDevice><VirtualDevice XMLSchema-instance:type="VirtualDisk"><key>2000</key><deviceInfo><label>Hard disk 1</label><summary>16,384 KB</summary></deviceInfo><backing XMLSchema-instance:type="VirtualDiskFlatVer2BackingInfo"><fileName>[LocalDS_0] single/disk-0.vmdk</fileName><datastore type="Datastore">datastore-52</datastore><diskMode>persistent</diskMode><thinProvisioned>true</thinProvisioned></backing><controllerKey>1000</controllerKey><unitNumber>0</unitNumber><capacityInKB>16384</capacityInKB></VirtualDevice><VirtualDevice XMLSchema-instance:type="VirtualVmxnet3"><key>4000</key><deviceInfo><label>Network adapter 1</label><summary>VM Network</summary></deviceInfo><backing XMLSchema-instance:type="VirtualEthernetCardNetworkBackingInfo"><deviceName>VM Network</deviceName><useAutoDetect>false</useAutoDetect><network type="Network">network-7</network></backing><unitNumber>7</unitNumber><addressType>generated</addressType><macAddress>00:0c:29:36:63:62</macAddress></VirtualDevice><VirtualDevice XMLSchema-instance:type="VirtualE1000"><key>4001</key><deviceInfo><label>Network adapter 2</label><summary>DVSwitch: fea97929-4b2d-5972-b146-930c6d0b4014</summary></deviceInfo><backing XMLSchema-instance:type="VirtualEthernetCardDistributedVirtualPortBackingInfo"><port><switchUuid>fea97929-4b2d-5972-b146-930c6d0b4014</switchUuid><portgroupKey>dvportgroup-13</portgroupKey></port></backing><macAddress>00:0c:29:36:63:63</macAddress></VirtualDevice></val></propSet><propSet><name>network</name><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="ArrayOfManagedObjectReference"><ManagedObjectReference type="Network">network-7</ManagedObjectReference><ManagedObjectReference type="DistributedVirtualPortgroup">dvportgroup-13</ManagedObjectReference></val></propSet></objects></returnval></RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>"#;

    #[test]
    fn parses_vm_devices() {
        let resp = parse_response("RetrievePropertiesEx", VM_REPLY.as_bytes()).unwrap();
        let rv = resp.children.into_iter().find(|c| c.name == "returnval");
        let (_, objs) = parse_retrieve_result(rv).unwrap();
        let mut vm = parse_vm(&objs[0]).unwrap();
        assert_eq!(vm.name, "single");
        assert_eq!(vm.power_state, "poweredOff");
        assert_eq!(vm.extra("odt.job"), Some("j-1 & 2"));
        assert_eq!(
            vm.disks,
            vec![VmDisk {
                key: 2000,
                label: "Hard disk 1".into(),
                capacity_kb: 16384,
                file_name: Some("[LocalDS_0] single/disk-0.vmdk".into()),
            }]
        );
        assert_eq!(vm.nics.len(), 2);
        assert_eq!(vm.nics[0].kind, "VirtualVmxnet3");
        assert_eq!(
            vm.nics[0].backing,
            NicBacking::Network {
                device_name: "VM Network".into(),
                network: Some(MoRef::new("Network", "network-7")),
            }
        );
        assert_eq!(vm.nics[0].mac_address.as_deref(), Some("00:0c:29:36:63:62"));
        assert_eq!(vm.nic_network_name(&vm.nics[0]), Some("VM Network"));
        vm.networks = vec![NetworkRef {
            name: "DC0_DVPG0".into(),
            kind: "DistributedVirtualPortgroup".into(),
            moref: MoRef::new("DistributedVirtualPortgroup", "dvportgroup-13"),
        }];
        assert_eq!(vm.nic_network_name(&vm.nics[1]), Some("DC0_DVPG0"));
        assert_eq!(vm.nics[1].device.child("key").unwrap().text, "4001");
    }

    fn host(name: &str, nets: &[(&str, &str, &str)]) -> HostNetworks {
        HostNetworks {
            name: name.into(),
            moref: MoRef::new("HostSystem", name),
            networks: nets
                .iter()
                .map(|(n, k, v)| NetworkRef {
                    name: (*n).into(),
                    kind: (*k).into(),
                    moref: MoRef::new(*k, *v),
                })
                .collect(),
        }
    }

    #[test]
    fn vm_network_must_be_a_standard_port_group() {
        let p = Placement {
            datacenter: Named {
                name: "DC0".into(),
                moref: MoRef::new("Datacenter", "datacenter-2"),
            },
            vm_folder: MoRef::new("Folder", "group-v3"),
            resource_pool: MoRef::new("ResourcePool", "resgroup-1"),
            compute: Named {
                name: "C".into(),
                moref: MoRef::new("ClusterComputeResource", "domain-c1"),
            },
            host: None,
            hosts: vec![
                host("h1", &[("VM Network", "Network", "network-7")]),
                host(
                    "h2",
                    &[("VM Network", "DistributedVirtualPortgroup", "dvportgroup-9")],
                ),
                host("h3", &[("vm network", "Network", "network-8")]),
            ],
            datastore: DatastoreInfo {
                name: "ds".into(),
                moref: MoRef::new("Datastore", "datastore-1"),
                capacity: 1,
                free_space: 1,
                accessible: true,
            },
        };
        assert_eq!(p.hosts_lacking("VM Network"), vec!["h2", "h3"]);
        assert_eq!(
            p.vm_network_moref("VM Network"),
            Some(MoRef::new("Network", "network-7"))
        );
        assert!(p.is_cluster());
    }

    #[test]
    fn pick_rules() {
        let obj = |v: &str, n: &str| ObjectContent {
            obj: MoRef::new("Datastore", v),
            props: vec![("name".into(), {
                let mut e = Element::new(VIM25_NS, "val");
                e.text = n.into();
                e
            })],
            missing: vec![],
        };
        let one = vec![obj("d1", "A")];
        assert_eq!(pick(&one, None, "datastore", "").unwrap().obj.value, "d1");
        let two = vec![obj("d1", "A"), obj("d2", "B")];
        let e = pick(&two, None, "datastore", "").unwrap_err();
        assert_eq!(
            e.to_string(),
            "more than one datastore: A, B; name the one to use"
        );
        assert_eq!(
            pick(&two, Some("B"), "datastore", "").unwrap().obj.value,
            "d2"
        );
        let e = pick(&two, Some("C"), "datastore", " in X").unwrap_err();
        assert_eq!(
            e.to_string(),
            "datastore \"C\" in X not found (there is: A, B)"
        );
        assert!(pick(&[], None, "datastore", "").is_err());
    }
}
