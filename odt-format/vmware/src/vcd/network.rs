//! Wiring an imported vApp to an org VDC network (reference §6).
//!
//! An imported VM's NICs sit on a vApp network named after the vCenter port group ("VM
//! Network"). Step 1 adds a vApp network *bridged* to the org VDC network
//! ([`VcdClient::connect_vapp_to_org_network`]); step 2 re-points every NIC of a VM to it
//! ([`VcdClient::connect_vm_nics`]). Both are GET → edit → PUT of a whole section: the
//! section goes back with every element and attribute it came with (known or not) in its
//! order, plus our change at its schema position, and each PUT's task is waited for. Both
//! are idempotent: when the section already says what we want, nothing is sent.

use crate::vsphere::xml::Element;
use crate::wire::redact_url_keep_query;
use reqwest::Method;
use std::net::Ipv4Addr;

use super::client::VcdClient;
use super::error::{Result, VcdError};
use super::query::EntityRef;
use super::xml::{
    self, el, find_link, insert_ordered, leaf, media, remove_children, set_attr, set_child_text,
    Build, VCLOUD_NS,
};

/// Children of `NetworkConfigSection`, in schema order.
pub const NETWORK_CONFIG_SECTION_ORDER: &[&str] = &["Info", "Link", "NetworkConfig"];
/// Children of `NetworkConfig`, in schema order.
pub const NETWORK_CONFIG_ORDER: &[&str] = &["Link", "Description", "Configuration", "IsDeployed"];
/// Children of `NetworkConfiguration`, in schema order.
pub const CONFIGURATION_ORDER: &[&str] = &[
    "BackwardCompatibilityMode",
    "IpScopes",
    "IpScope",
    "ParentNetwork",
    "FenceMode",
    "RetainNetInfoAcrossDeployments",
    "Features",
    "SyslogServerSettings",
    "RouterInfo",
];
/// Children of `NetworkConnectionSection`, in schema order (`Link` last).
pub const NETWORK_CONNECTION_SECTION_ORDER: &[&str] = &[
    "Info",
    "PrimaryNetworkConnectionIndex",
    "NetworkConnection",
    "Link",
];
/// Children of `NetworkConnection`, in schema order.
pub const NETWORK_CONNECTION_ORDER: &[&str] = &[
    "NetworkConnectionIndex",
    "IpAddress",
    "IpType",
    "SecondaryIpAddress",
    "SecondaryIpType",
    "ExternalIpAddress",
    "IsConnected",
    "MACAddress",
    "IpAddressAllocationMode",
    "SecondaryIpAddressAllocationMode",
    "NetworkAdapterType",
];

/// How a NIC gets its IP address (`IpAddressAllocationMode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpAllocation {
    /// `POOL`: from the org VDC network's static pool.
    Pool,
    /// `DHCP`.
    Dhcp,
    /// `MANUAL` with this address (only for a VM with one NIC).
    Manual(String),
    /// `NONE`: no address.
    None,
}

impl IpAllocation {
    /// The `IpAddressAllocationMode` text.
    pub fn mode(&self) -> &'static str {
        match self {
            IpAllocation::Pool => "POOL",
            IpAllocation::Dhcp => "DHCP",
            IpAllocation::Manual(_) => "MANUAL",
            IpAllocation::None => "NONE",
        }
    }
}

/// Adds to a `NetworkConfigSection` a `NetworkConfig` named `network_name`, bridged to the
/// org VDC network `parent_href`, after the existing ones. When a vApp network of that name
/// exists already: bridged to the same org network → nothing changes (`false`); otherwise
/// its `Configuration` is pointed at the org network (`ParentNetwork`, `FenceMode`
/// `bridged`), its other settings kept.
pub fn add_bridged_network(
    section: &mut Element,
    network_name: &str,
    parent_href: &str,
) -> Result<bool> {
    if let Some(existing) = section
        .children
        .iter_mut()
        .find(|c| c.name == "NetworkConfig" && c.attr("networkName") == Some(network_name))
    {
        let conf = existing.children.iter().find(|c| c.name == "Configuration");
        let bridged_to_it = conf.is_some_and(|c| {
            c.text_of("FenceMode") == Some("bridged")
                && c.child("ParentNetwork")
                    .and_then(|p| p.attr("href"))
                    .is_some_and(|h| xml::same_entity(h, parent_href))
        });
        if bridged_to_it {
            return Ok(false);
        }
        // A clean bridged configuration, as pyvcloud's `VApp.connect_org_vdc_network`
        // (pyvcloud/vcd/vapp.py) sends it: ParentNetwork and FenceMode, and
        // RetainNetInfoAcrossDeployments when there was one. The old mode's IpScopes,
        // Features and RouterInfo are not kept: a bridged network inherits its scope from
        // the org network, and vCD refuses them (vcdsim models the refusal).
        let retain = existing
            .child("Configuration")
            .and_then(|c| c.child("RetainNetInfoAcrossDeployments"))
            .cloned();
        let mut conf = el(VCLOUD_NS, "Configuration")
            .with_child(parent(network_name, parent_href))
            .with_child(leaf(VCLOUD_NS, "FenceMode", "bridged"));
        if let Some(r) = retain {
            conf = conf.with_child(r);
        }
        remove_children(existing, "Configuration");
        insert_ordered(existing, conf, NETWORK_CONFIG_ORDER);
        return Ok(true);
    }
    let config = el(VCLOUD_NS, "NetworkConfig")
        .with_attr("networkName", network_name)
        .with_child(
            el(VCLOUD_NS, "Configuration")
                .with_child(parent(network_name, parent_href))
                .with_child(leaf(VCLOUD_NS, "FenceMode", "bridged")),
        )
        .with_child(leaf(VCLOUD_NS, "IsDeployed", "false"));
    insert_ordered(section, config, NETWORK_CONFIG_SECTION_ORDER);
    Ok(true)
}

fn parent(name: &str, href: &str) -> Element {
    el(VCLOUD_NS, "ParentNetwork")
        .with_attr("href", href)
        .with_attr("name", name)
}

/// What a whole vApp's NICs are to get: every NIC the same mode, or one MANUAL address per
/// NIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpRequest {
    /// Every NIC `POOL`.
    Pool,
    /// Every NIC `DHCP`.
    Dhcp,
    /// `MANUAL`, one address per NIC: the VMs in the order the caller gives, each VM's NICs
    /// by `NetworkConnectionIndex`.
    Manual(Vec<String>),
}

/// How many `NetworkConnection`s a section has.
pub fn nic_count(section: &Element) -> usize {
    section.children("NetworkConnection").count()
}

/// Which allocation each NIC (by `NetworkConnectionIndex`) gets: one entry for all, or the
/// k-th for the NIC with the k-th lowest index.
fn allocation_per_nic<'a>(
    section: &Element,
    allocations: &'a [IpAllocation],
) -> Result<Vec<(Option<u32>, &'a IpAllocation)>> {
    let nics = nic_count(section);
    let manual_shared =
        allocations.len() == 1 && matches!(allocations[0], IpAllocation::Manual(_)) && nics > 1;
    if manual_shared || (allocations.len() != 1 && allocations.len() != nics) {
        return Err(VcdError::invalid(
            "NIC wiring",
            format!(
                "{} IP allocation(s) cannot be given to {nics} NICs: give one per NIC",
                allocations.len()
            ),
        ));
    }
    let mut order: Vec<Option<u32>> = section
        .children("NetworkConnection")
        .map(|c| c.parse_of::<u32>("NetworkConnectionIndex"))
        .collect();
    order.sort_unstable();
    Ok(order
        .into_iter()
        .enumerate()
        .map(|(k, i)| (i, &allocations[if allocations.len() == 1 { 0 } else { k }]))
        .collect())
}

/// Re-points every `NetworkConnection` of a `NetworkConnectionSection` to `network_name`,
/// connected, the NIC with the k-th lowest `NetworkConnectionIndex` with `allocations[k]`
/// (one entry: every NIC; `IpAddress` only for `MANUAL`), keeping `MACAddress`,
/// `NetworkConnectionIndex` and anything else; keeps a valid
/// `PrimaryNetworkConnectionIndex` (else sets the lowest index); puts `Link`s last. Returns
/// whether anything changed; a list that is neither one entry nor one per NIC, or one
/// `MANUAL` address for several NICs, is refused.
pub fn rewire_connections(
    section: &mut Element,
    network_name: &str,
    allocations: &[IpAllocation],
) -> Result<bool> {
    let before = section.clone();
    let nics = nic_count(section);
    if nics == 0 {
        return Ok(false);
    }
    let per_nic = allocation_per_nic(section, allocations)?;
    let mut indexes = Vec::new();
    for nc in section
        .children
        .iter_mut()
        .filter(|c| c.name == "NetworkConnection")
    {
        let index = nc.parse_of::<u32>("NetworkConnectionIndex");
        let allocation = per_nic
            .iter()
            .find(|(i, _)| *i == index)
            .map_or(&allocations[0], |p| p.1);
        // An address vCD gave for this very network and mode (POOL, DHCP) stays; one from
        // another network or mode would be a wrong request, so it goes.
        let same = nc.attr("network") == Some(network_name)
            && nc.text_of("IpAddressAllocationMode") == Some(allocation.mode());
        set_attr(nc, "network", network_name);
        match allocation {
            IpAllocation::Manual(ip) => {
                set_child_text(nc, VCLOUD_NS, "IpAddress", ip, NETWORK_CONNECTION_ORDER)
            }
            _ if same => {}
            _ => remove_children(nc, "IpAddress"),
        }
        set_child_text(
            nc,
            VCLOUD_NS,
            "IsConnected",
            "true",
            NETWORK_CONNECTION_ORDER,
        );
        set_child_text(
            nc,
            VCLOUD_NS,
            "IpAddressAllocationMode",
            allocation.mode(),
            NETWORK_CONNECTION_ORDER,
        );
        indexes.extend(nc.parse_of::<u32>("NetworkConnectionIndex"));
    }
    let primary = section
        .parse_of::<u32>("PrimaryNetworkConnectionIndex")
        .filter(|p| indexes.contains(p))
        .or_else(|| indexes.iter().min().copied());
    if let Some(p) = primary {
        // Taken out and put back at its schema position (after `ovf:Info`).
        remove_children(section, "PrimaryNetworkConnectionIndex");
        insert_ordered(
            section,
            leaf(VCLOUD_NS, "PrimaryNetworkConnectionIndex", &p.to_string()),
            NETWORK_CONNECTION_SECTION_ORDER,
        );
    }
    // `Link` last (NetworkConnectionSection differs from NetworkConfigSection here).
    let (links, mut rest): (Vec<Element>, Vec<Element>) = std::mem::take(&mut section.children)
        .into_iter()
        .partition(|c| c.name == "Link");
    rest.extend(links);
    section.children = rest;
    Ok(*section != before)
}

/// Splits `ip` into one allocation list per VM (`nics[i]` NICs each): POOL and DHCP for
/// every NIC, MANUAL addresses dealt out in order. A MANUAL list whose length is not the
/// number of NICs is refused (the sentence says both counts).
pub fn deal_addresses(
    ip: &IpRequest,
    nics: &[usize],
) -> std::result::Result<Vec<Vec<IpAllocation>>, String> {
    let same = |a: IpAllocation| -> std::result::Result<Vec<Vec<IpAllocation>>, String> {
        Ok(nics.iter().map(|_| vec![a.clone()]).collect())
    };
    match ip {
        IpRequest::Pool => same(IpAllocation::Pool),
        IpRequest::Dhcp => same(IpAllocation::Dhcp),
        IpRequest::Manual(addrs) => {
            let total: usize = nics.iter().sum();
            if total != addrs.len() {
                return Err(format!(
                    "the manifest gives {} MANUAL address(es) but its VMs have {total} NIC(s) in vCD",
                    addrs.len()
                ));
            }
            let mut it = addrs.iter();
            Ok(nics
                .iter()
                .map(|&n| {
                    it.by_ref()
                        .take(n)
                        .map(|a| IpAllocation::Manual(a.clone()))
                        .collect()
                })
                .collect())
        }
    }
}

/// The section `name` embedded in `entity`, or fetched from `{href}/{path}/`; and the URL
/// to PUT it back to: its `rel="edit"` link, else its `href`, else that path.
fn section(
    client: &VcdClient,
    entity_href: &str,
    name: &str,
    path: &str,
) -> Result<(Element, String)> {
    let entity = client.get(name, entity_href)?;
    let fallback = format!("{}/{path}/", entity_href.trim_end_matches('/'));
    let sec = match entity.children.iter().find(|c| c.name == name) {
        Some(s) => s.clone(),
        None => {
            let s = client.get(name, &fallback)?;
            if s.name != name {
                return Err(VcdError::not_found(
                    format!("{name} of {}", redact_url_keep_query(entity_href)),
                    vec![],
                ));
            }
            s
        }
    };
    let edit = find_link(&sec, "edit", None)
        .map(|l| l.href)
        .or_else(|| {
            sec.attr("href")
                .filter(|h| !h.is_empty())
                .map(str::to_owned)
        })
        .unwrap_or(fallback);
    Ok((sec, edit))
}

/// What `plan` needs to know of an org VDC network's addresses: its subnets (`IpScope`s),
/// their static pools (`IpRanges`) and the addresses vCD has handed out
/// (`allocatedAddresses`), read as pyvcloud's `VdcNetwork.list_allocated_ip_address` reads
/// them (pyvcloud/vcd/vdc_network.py).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkIps {
    /// (gateway, netmask) of each IP scope.
    pub subnets: Vec<(Ipv4Addr, Ipv4Addr)>,
    /// Inclusive static pool ranges.
    pub ranges: Vec<(Ipv4Addr, Ipv4Addr)>,
    /// Allocated addresses (of any allocation type).
    pub allocated: Vec<Ipv4Addr>,
}

impl NetworkIps {
    /// Parses an `OrgVdcNetwork` body's IP scopes and pools (unparsable entries are skipped).
    pub fn from_network(net: &Element) -> NetworkIps {
        let mut out = NetworkIps::default();
        let scopes = net
            .path(&["Configuration", "IpScopes"])
            .into_iter()
            .flat_map(|s| s.children("IpScope"));
        let ip =
            |e: &Element, n: &str| e.text_of(n).and_then(|t| t.trim().parse::<Ipv4Addr>().ok());
        for sc in scopes {
            if let (Some(g), Some(m)) = (ip(sc, "Gateway"), ip(sc, "Netmask")) {
                out.subnets.push((g, m));
            }
            for r in sc.children("IpRanges").flat_map(|r| r.children("IpRange")) {
                if let (Some(a), Some(b)) = (ip(r, "StartAddress"), ip(r, "EndAddress")) {
                    if a <= b {
                        out.ranges.push((a, b));
                    }
                }
            }
        }
        out
    }

    /// Whether `a` lies in one of the network's subnets.
    pub fn in_subnet(&self, a: Ipv4Addr) -> bool {
        self.subnets.iter().any(|&(g, m)| {
            let m = u32::from(m);
            u32::from(g) & m == u32::from(a) & m
        })
    }

    /// Whether `a` lies in the static pool.
    pub fn in_pool(&self, a: Ipv4Addr) -> bool {
        self.ranges.iter().any(|&(s, e)| s <= a && a <= e)
    }

    /// Pool addresses not allocated (overlapping ranges counted once).
    pub fn free_in_pool(&self) -> u64 {
        let mut r: Vec<(u32, u32)> = self
            .ranges
            .iter()
            .map(|&(a, b)| (a.into(), b.into()))
            .collect();
        r.sort_unstable();
        let mut total = 0u64;
        let mut next = 0u64;
        for (a, b) in r {
            let a = (a as u64).max(next);
            if a <= b as u64 {
                total += b as u64 - a + 1;
                next = b as u64 + 1;
            }
        }
        let mut used: Vec<Ipv4Addr> = self
            .allocated
            .iter()
            .copied()
            .filter(|&a| self.in_pool(a))
            .collect();
        used.sort_unstable();
        used.dedup();
        total.saturating_sub(used.len() as u64)
    }
}

impl VcdClient {
    /// The IP scopes, static pools and allocated addresses of the org VDC network `net`:
    /// its `Configuration/IpScopes`, then the `rel="down"` `allocatedAddresses` link.
    pub fn network_ips(&self, net: &EntityRef) -> Result<NetworkIps> {
        let body = self.get("OrgVdcNetwork", &net.href)?;
        let mut ips = NetworkIps::from_network(&body);
        let link =
            find_link(&body, "down", Some(media::ALLOCATED_NETWORK_ADDRESS)).ok_or_else(|| {
                VcdError::not_found(
                    format!("allocatedAddresses link of network {:?}", net.name),
                    vec![],
                )
            })?;
        let list = self.get("AllocatedIpAddresses", &link.href)?;
        ips.allocated = list
            .children("IpAddress")
            .filter_map(|a| a.text_of("IpAddress"))
            .filter_map(|t| t.trim().parse().ok())
            .collect();
        Ok(ips)
    }

    /// Adds to the vApp at `vapp_href` a vApp network bridged to `org_net` (named like it),
    /// keeping the existing vApp networks, and waits for the task. `false` when it was
    /// there already.
    pub fn connect_vapp_to_org_network(
        &self,
        vapp_href: &str,
        org_net: &EntityRef,
    ) -> Result<bool> {
        let (mut sec, edit) = section(
            self,
            vapp_href,
            "NetworkConfigSection",
            "networkConfigSection",
        )?;
        if !add_bridged_network(&mut sec, &org_net.name, &org_net.href)? {
            return Ok(false);
        }
        self.put_section(&edit, media::NETWORK_CONFIG_SECTION, &sec)?;
        Ok(true)
    }

    /// Re-points every NIC of the VM at `vm_href` to the vApp network `network_name`
    /// (connected, `allocations` as [`rewire_connections`] takes them), and waits for the
    /// task. `false` when they were already so.
    pub fn connect_vm_nics(
        &self,
        vm_href: &str,
        network_name: &str,
        allocations: &[IpAllocation],
    ) -> Result<bool> {
        let (mut sec, edit) = section(
            self,
            vm_href,
            "NetworkConnectionSection",
            "networkConnectionSection",
        )?;
        if !rewire_connections(&mut sec, network_name, allocations)? {
            return Ok(false);
        }
        self.put_section(&edit, media::NETWORK_CONNECTION_SECTION, &sec)?;
        Ok(true)
    }

    /// Both steps for a whole vApp: the bridged vApp network, then every NIC of every VM
    /// on it as `ip` asks. `order` names the VMs in the order MANUAL addresses are dealt
    /// out (VMs it does not name come after, as vCD lists them). Every VM's NICs are read
    /// and counted before the first NIC is changed, so a MANUAL list of the wrong length
    /// changes nothing. Returns the names of the VMs whose NICs changed.
    pub fn wire_vapp_to_org_network(
        &self,
        vapp_href: &str,
        org_net: &EntityRef,
        ip: &IpRequest,
        order: &[String],
    ) -> Result<Vec<String>> {
        self.connect_vapp_to_org_network(vapp_href, org_net)?;
        let mut vms = self.get_vapp(vapp_href)?.vms;
        vms.sort_by_key(|v| {
            order
                .iter()
                .position(|n| *n == v.name)
                .unwrap_or(usize::MAX)
        });
        let mut sections = Vec::new();
        for vm in &vms {
            let (sec, edit) = section(
                self,
                &vm.href,
                "NetworkConnectionSection",
                "networkConnectionSection",
            )?;
            sections.push((vm.name.clone(), sec, edit));
        }
        let plans = deal_addresses(
            ip,
            &sections.iter().map(|s| nic_count(&s.1)).collect::<Vec<_>>(),
        )
        .map_err(|why| {
            VcdError::invalid(format!("vApp {}", redact_url_keep_query(vapp_href)), why)
        })?;
        let mut changed = Vec::new();
        for ((name, mut sec, edit), allocations) in sections.into_iter().zip(plans) {
            if rewire_connections(&mut sec, &org_net.name, &allocations)? {
                self.put_section(&edit, media::NETWORK_CONNECTION_SECTION, &sec)?;
                changed.push(name);
            }
        }
        Ok(changed)
    }

    fn put_section(&self, url: &str, content_type: &str, sec: &Element) -> Result<()> {
        let reply = self.request(Method::PUT, url, Some((content_type, xml::to_xml(sec))))?;
        if !reply.body.iter().all(u8::is_ascii_whitespace) {
            let e = reply.element("Task")?;
            self.finish_tasks_in(&e)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG_SECTION: &str = r#"<NetworkConfigSection xmlns="http://www.vmware.com/vcloud/v1.5" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:vmw="http://www.vmware.com/schema/ovf" href="https://vcd/api/vApp/vapp-1/networkConfigSection/" type="application/vnd.vmware.vcloud.networkConfigSection+xml" ovf:required="false">
  <ovf:Info>The configuration parameters for logical networks</ovf:Info>
  <Link rel="edit" type="application/vnd.vmware.vcloud.networkConfigSection+xml" href="https://vcd/api/vApp/vapp-1/networkConfigSection/"/>
  <NetworkConfig networkName="VM Network">
    <Link rel="repair" href="https://vcd/api/admin/network/n1/action/reset"/>
    <Description>imported</Description>
    <Configuration>
      <IpScopes><IpScope><IsInherited>false</IsInherited><Gateway>192.168.0.1</Gateway><Netmask>255.255.255.0</Netmask></IpScope></IpScopes>
      <FenceMode>isolated</FenceMode>
      <RetainNetInfoAcrossDeployments>false</RetainNetInfoAcrossDeployments>
      <vmw:Future a="1">kept</vmw:Future>
    </Configuration>
    <IsDeployed>false</IsDeployed>
  </NetworkConfig>
  <vmw:Trailer>unknown element after the configs</vmw:Trailer>
</NetworkConfigSection>"#;

    const ORG_NET: &str = "https://vcd/api/admin/network/aaaaaaaa-0000-0000-0000-000000000001";

    fn names(e: &Element) -> Vec<&str> {
        e.children.iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn bridged_network_is_appended_and_the_rest_kept() {
        let orig = Element::parse(CONFIG_SECTION.as_bytes()).unwrap();
        let mut sec = orig.clone();
        assert!(add_bridged_network(&mut sec, "corp", ORG_NET).unwrap());
        assert_eq!(
            names(&sec),
            ["Info", "Link", "NetworkConfig", "NetworkConfig", "Trailer"]
        );
        assert_eq!(
            sec.children[2], orig.children[2],
            "the existing vApp network is untouched"
        );
        let added = &sec.children[3];
        assert_eq!(added.attr("networkName"), Some("corp"));
        assert_eq!(names(added), ["Configuration", "IsDeployed"]);
        let conf = added.child("Configuration").unwrap();
        assert_eq!(names(conf), ["ParentNetwork", "FenceMode"]);
        assert_eq!(
            conf.child("ParentNetwork").unwrap().attr("href"),
            Some(ORG_NET)
        );
        assert_eq!(conf.text_of("FenceMode"), Some("bridged"));
        assert_eq!(added.text_of("IsDeployed"), Some("false"));
        // Written and read back: the same tree, unknown elements, attributes and namespaces
        // included.
        let text = xml::to_xml(&sec);
        assert!(text.contains("ovf:required=\"false\""), "{text}");
        assert!(
            text.contains("<vmw:Future a=\"1\">kept</vmw:Future>"),
            "{text}"
        );
        assert_eq!(Element::parse(text.as_bytes()).unwrap(), sec);
        // Idempotent.
        let mut again = sec.clone();
        assert!(!add_bridged_network(&mut again, "corp", &ORG_NET.replace("/admin", "")).unwrap());
        assert_eq!(again, sec);
    }

    #[test]
    fn a_same_named_vapp_network_is_bridged_in_place() {
        let mut sec = Element::parse(CONFIG_SECTION.as_bytes()).unwrap();
        assert!(add_bridged_network(&mut sec, "VM Network", ORG_NET).unwrap());
        assert_eq!(names(&sec), ["Info", "Link", "NetworkConfig", "Trailer"]);
        // The isolated network's IpScopes, and anything else its mode had, are gone: a clean
        // bridged configuration as pyvcloud sends it, the retain flag kept.
        let net = &sec.children[2];
        assert_eq!(
            names(net),
            ["Link", "Description", "Configuration", "IsDeployed"]
        );
        let conf = net.child("Configuration").unwrap();
        assert_eq!(
            names(conf),
            [
                "ParentNetwork",
                "FenceMode",
                "RetainNetInfoAcrossDeployments"
            ]
        );
        assert_eq!(conf.text_of("FenceMode"), Some("bridged"));
        assert_eq!(
            conf.text_of("RetainNetInfoAcrossDeployments"),
            Some("false")
        );
        // Features and RouterInfo of a routed network go as well.
        let routed = CONFIG_SECTION.replace(
            "<vmw:Future a=\"1\">kept</vmw:Future>",
            "<Features><FirewallService><IsEnabled>true</IsEnabled></FirewallService></Features><RouterInfo><ExternalIp>10.0.0.1</ExternalIp></RouterInfo>",
        );
        let mut sec = Element::parse(routed.as_bytes()).unwrap();
        assert!(add_bridged_network(&mut sec, "VM Network", ORG_NET).unwrap());
        let conf = sec.children[2].child("Configuration").unwrap();
        assert_eq!(
            names(conf),
            [
                "ParentNetwork",
                "FenceMode",
                "RetainNetInfoAcrossDeployments"
            ]
        );
    }

    const CONNECTION_SECTION: &str = r#"<NetworkConnectionSection xmlns="http://www.vmware.com/vcloud/v1.5" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" href="https://vcd/api/vApp/vm-1/networkConnectionSection/" type="application/vnd.vmware.vcloud.networkConnectionSection+xml" ovf:required="false">
  <ovf:Info>Specifies the available VM network connections</ovf:Info>
  <Link rel="edit" type="application/vnd.vmware.vcloud.networkConnectionSection+xml" href="https://vcd/api/vApp/vm-1/networkConnectionSection/"/>
  <NetworkConnection needsCustomization="false" network="VM Network">
    <NetworkConnectionIndex>0</NetworkConnectionIndex>
    <IpAddress>10.0.0.5</IpAddress>
    <IsConnected>false</IsConnected>
    <MACAddress>00:50:56:01:02:03</MACAddress>
    <IpAddressAllocationMode>DHCP</IpAddressAllocationMode>
    <NetworkAdapterType>VMXNET3</NetworkAdapterType>
  </NetworkConnection>
  <NetworkConnection network="VM Network">
    <NetworkConnectionIndex>1</NetworkConnectionIndex>
    <MACAddress>00:50:56:01:02:04</MACAddress>
    <IpAddressAllocationMode>NONE</IpAddressAllocationMode>
    <NetworkAdapterType>E1000</NetworkAdapterType>
  </NetworkConnection>
</NetworkConnectionSection>"#;

    #[test]
    fn nics_are_repointed_in_schema_order() {
        let mut sec = Element::parse(CONNECTION_SECTION.as_bytes()).unwrap();
        assert!(rewire_connections(&mut sec, "corp", &[IpAllocation::Pool]).unwrap());
        assert_eq!(
            names(&sec),
            [
                "Info",
                "PrimaryNetworkConnectionIndex",
                "NetworkConnection",
                "NetworkConnection",
                "Link"
            ]
        );
        assert_eq!(sec.text_of("PrimaryNetworkConnectionIndex"), Some("0"));
        for (i, nc) in sec.children("NetworkConnection").enumerate() {
            assert_eq!(nc.attr("network"), Some("corp"));
            assert_eq!(nc.text_of("IsConnected"), Some("true"));
            assert_eq!(nc.text_of("IpAddressAllocationMode"), Some("POOL"));
            assert!(nc.child("IpAddress").is_none());
            assert_eq!(nc.parse_of::<u32>("NetworkConnectionIndex"), Some(i as u32));
        }
        let first = sec.children("NetworkConnection").next().unwrap();
        assert_eq!(first.attr("needsCustomization"), Some("false"));
        assert_eq!(first.text_of("MACAddress"), Some("00:50:56:01:02:03"));
        assert_eq!(
            names(first),
            [
                "NetworkConnectionIndex",
                "IsConnected",
                "MACAddress",
                "IpAddressAllocationMode",
                "NetworkAdapterType"
            ]
        );
        let second = sec.children("NetworkConnection").nth(1).unwrap();
        assert_eq!(
            names(second),
            [
                "NetworkConnectionIndex",
                "IsConnected",
                "MACAddress",
                "IpAddressAllocationMode",
                "NetworkAdapterType"
            ]
        );
        let text = xml::to_xml(&sec);
        assert_eq!(Element::parse(text.as_bytes()).unwrap(), sec);
        // Idempotent, also once vCD has filled in the pool address.
        assert!(!rewire_connections(&mut sec, "corp", &[IpAllocation::Pool]).unwrap());
        let nc = sec
            .children
            .iter_mut()
            .find(|c| c.name == "NetworkConnection")
            .unwrap();
        set_child_text(
            nc,
            VCLOUD_NS,
            "IpAddress",
            "10.9.9.9",
            NETWORK_CONNECTION_ORDER,
        );
        assert!(!rewire_connections(&mut sec, "corp", &[IpAllocation::Pool]).unwrap());
        // A different mode drops it.
        assert!(rewire_connections(&mut sec, "corp", &[IpAllocation::Dhcp]).unwrap());
        assert!(sec
            .child("NetworkConnection")
            .unwrap()
            .child("IpAddress")
            .is_none());
    }

    #[test]
    fn manual_address_goes_before_is_connected() {
        let one = CONNECTION_SECTION.replace(
            r#"<NetworkConnection network="VM Network">
    <NetworkConnectionIndex>1</NetworkConnectionIndex>
    <MACAddress>00:50:56:01:02:04</MACAddress>
    <IpAddressAllocationMode>NONE</IpAddressAllocationMode>
    <NetworkAdapterType>E1000</NetworkAdapterType>
  </NetworkConnection>"#,
            "<PrimaryNetworkConnectionIndex>7</PrimaryNetworkConnectionIndex>",
        );
        let mut sec = Element::parse(one.as_bytes()).unwrap();
        // A primary index out of place and naming no NIC (7) is corrected and moved.
        assert!(
            rewire_connections(&mut sec, "corp", &[IpAllocation::Manual("10.1.1.9".into())])
                .unwrap()
        );
        let nc = sec.child("NetworkConnection").unwrap();
        assert_eq!(nc.text_of("IpAddress"), Some("10.1.1.9"));
        assert_eq!(nc.text_of("IpAddressAllocationMode"), Some("MANUAL"));
        assert_eq!(
            names(nc)[..3],
            ["NetworkConnectionIndex", "IpAddress", "IsConnected"]
        );
        assert_eq!(sec.text_of("PrimaryNetworkConnectionIndex"), Some("0"));
        assert_eq!(
            names(&sec),
            [
                "Info",
                "PrimaryNetworkConnectionIndex",
                "NetworkConnection",
                "Link"
            ]
        );
        // MANUAL with two NICs is refused.
        let mut two = Element::parse(CONNECTION_SECTION.as_bytes()).unwrap();
        let e = rewire_connections(&mut two, "corp", &[IpAllocation::Manual("10.1.1.9".into())])
            .unwrap_err();
        assert!(e.to_string().contains("2 NICs"), "{e}");
        // One address per NIC: each NIC gets its own, by NetworkConnectionIndex.
        let addrs = [
            IpAllocation::Manual("10.1.1.9".into()),
            IpAllocation::Manual("10.1.1.10".into()),
        ];
        assert!(rewire_connections(&mut two, "corp", &addrs).unwrap());
        let got: Vec<_> = two
            .children("NetworkConnection")
            .map(|n| n.text_of("IpAddress").unwrap().to_owned())
            .collect();
        assert_eq!(got, ["10.1.1.9", "10.1.1.10"]);
        // Mixed modes per NIC.
        let mixed = [IpAllocation::Dhcp, IpAllocation::Pool];
        assert!(rewire_connections(&mut two, "corp", &mixed).unwrap());
        let modes: Vec<_> = two
            .children("NetworkConnection")
            .map(|n| n.text_of("IpAddressAllocationMode").unwrap().to_owned())
            .collect();
        assert_eq!(modes, ["DHCP", "POOL"]);
        // Three allocations for two NICs: refused.
        let three = [IpAllocation::Dhcp, IpAllocation::Dhcp, IpAllocation::Dhcp];
        assert!(rewire_connections(&mut two, "corp", &three).is_err());
    }

    #[test]
    fn manual_addresses_are_dealt_out_in_vm_then_nic_order() {
        let m = |a: &str| IpAllocation::Manual(a.into());
        let ip = IpRequest::Manual(vec![
            "10.0.0.1".into(),
            "10.0.0.2".into(),
            "10.0.0.3".into(),
        ]);
        assert_eq!(
            deal_addresses(&ip, &[2, 1]).unwrap(),
            vec![vec![m("10.0.0.1"), m("10.0.0.2")], vec![m("10.0.0.3")]]
        );
        let e = deal_addresses(&ip, &[2, 2]).unwrap_err();
        assert!(e.contains("3 MANUAL") && e.contains("4 NIC"), "{e}");
        assert!(deal_addresses(&ip, &[1]).is_err());
        assert_eq!(
            deal_addresses(&IpRequest::Dhcp, &[2, 0]).unwrap(),
            vec![vec![IpAllocation::Dhcp], vec![IpAllocation::Dhcp]]
        );
    }

    #[test]
    fn network_ips_count_the_free_pool() {
        let net = Element::parse(br#"<OrgVdcNetwork xmlns="http://www.vmware.com/vcloud/v1.5"><Configuration><IpScopes><IpScope><IsInherited>false</IsInherited><Gateway>10.1.0.1</Gateway><Netmask>255.255.255.0</Netmask><IpRanges><IpRange><StartAddress>10.1.0.10</StartAddress><EndAddress>10.1.0.12</EndAddress></IpRange><IpRange><StartAddress>10.1.0.11</StartAddress><EndAddress>10.1.0.13</EndAddress></IpRange></IpRanges></IpScope></IpScopes><FenceMode>bridged</FenceMode></Configuration></OrgVdcNetwork>"#).unwrap();
        let mut ips = NetworkIps::from_network(&net);
        assert_eq!(ips.free_in_pool(), 4, "overlapping ranges count once");
        ips.allocated = vec!["10.1.0.10".parse().unwrap(), "10.1.0.1".parse().unwrap()];
        assert_eq!(ips.free_in_pool(), 3, "the gateway is not in the pool");
        assert!(ips.in_subnet("10.1.0.200".parse().unwrap()));
        assert!(!ips.in_subnet("10.2.0.5".parse().unwrap()));
        assert!(ips.in_pool("10.1.0.13".parse().unwrap()));
    }

    #[test]
    fn no_nics_nothing_to_do() {
        let mut sec = Element::parse(
            br#"<NetworkConnectionSection xmlns="http://www.vmware.com/vcloud/v1.5" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><ovf:Info>x</ovf:Info></NetworkConnectionSection>"#,
        )
        .unwrap();
        assert!(!rewire_connections(&mut sec, "corp", &[IpAllocation::Dhcp]).unwrap());
    }
}
