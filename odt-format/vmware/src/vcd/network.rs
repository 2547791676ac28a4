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
        if existing.children.iter().all(|c| c.name != "Configuration") {
            insert_ordered(
                existing,
                el(VCLOUD_NS, "Configuration"),
                NETWORK_CONFIG_ORDER,
            );
        }
        let conf = existing
            .children
            .iter_mut()
            .find(|c| c.name == "Configuration")
            .expect("inserted above");
        remove_children(conf, "ParentNetwork");
        insert_ordered(conf, parent(network_name, parent_href), CONFIGURATION_ORDER);
        set_child_text(conf, VCLOUD_NS, "FenceMode", "bridged", CONFIGURATION_ORDER);
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

/// Re-points every `NetworkConnection` of a `NetworkConnectionSection` to `network_name`,
/// connected, with `allocation` (`IpAddress` only for `MANUAL`), keeping `MACAddress`,
/// `NetworkConnectionIndex` and anything else; keeps a valid
/// `PrimaryNetworkConnectionIndex` (else sets the lowest index); puts `Link`s last. Returns
/// whether anything changed; `MANUAL` on a VM with several NICs is refused.
pub fn rewire_connections(
    section: &mut Element,
    network_name: &str,
    allocation: &IpAllocation,
) -> Result<bool> {
    let before = section.clone();
    let nics = section
        .children
        .iter()
        .filter(|c| c.name == "NetworkConnection")
        .count();
    if nics == 0 {
        return Ok(false);
    }
    if matches!(allocation, IpAllocation::Manual(_)) && nics > 1 {
        return Err(VcdError::invalid(
            "NIC wiring",
            format!("one MANUAL address cannot be given to {nics} NICs: use POOL or DHCP, or wire the NICs one by one"),
        ));
    }
    let mut indexes = Vec::new();
    for nc in section
        .children
        .iter_mut()
        .filter(|c| c.name == "NetworkConnection")
    {
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

impl VcdClient {
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
    /// (connected, `allocation`), and waits for the task. `false` when they were already so.
    pub fn connect_vm_nics(
        &self,
        vm_href: &str,
        network_name: &str,
        allocation: &IpAllocation,
    ) -> Result<bool> {
        let (mut sec, edit) = section(
            self,
            vm_href,
            "NetworkConnectionSection",
            "networkConnectionSection",
        )?;
        if !rewire_connections(&mut sec, network_name, allocation)? {
            return Ok(false);
        }
        self.put_section(&edit, media::NETWORK_CONNECTION_SECTION, &sec)?;
        Ok(true)
    }

    /// Both steps for a whole vApp: the bridged vApp network, then every NIC of every VM
    /// on it. Returns the names of the VMs whose NICs changed.
    pub fn wire_vapp_to_org_network(
        &self,
        vapp_href: &str,
        org_net: &EntityRef,
        allocation: &IpAllocation,
    ) -> Result<Vec<String>> {
        self.connect_vapp_to_org_network(vapp_href, org_net)?;
        let vapp = self.get_vapp(vapp_href)?;
        let mut changed = Vec::new();
        for vm in &vapp.vms {
            if self.connect_vm_nics(&vm.href, &org_net.name, allocation)? {
                changed.push(vm.name.clone());
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
        let conf = sec.children[2].child("Configuration").unwrap();
        assert_eq!(
            names(conf),
            [
                "IpScopes",
                "ParentNetwork",
                "FenceMode",
                "RetainNetInfoAcrossDeployments",
                "Future"
            ]
        );
        assert_eq!(conf.text_of("FenceMode"), Some("bridged"));
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
        assert!(rewire_connections(&mut sec, "corp", &IpAllocation::Pool).unwrap());
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
        assert!(!rewire_connections(&mut sec, "corp", &IpAllocation::Pool).unwrap());
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
        assert!(!rewire_connections(&mut sec, "corp", &IpAllocation::Pool).unwrap());
        // A different mode drops it.
        assert!(rewire_connections(&mut sec, "corp", &IpAllocation::Dhcp).unwrap());
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
            rewire_connections(&mut sec, "corp", &IpAllocation::Manual("10.1.1.9".into())).unwrap()
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
        let e = rewire_connections(&mut two, "corp", &IpAllocation::Manual("10.1.1.9".into()))
            .unwrap_err();
        assert!(e.to_string().contains("2 NICs"), "{e}");
    }

    #[test]
    fn no_nics_nothing_to_do() {
        let mut sec = Element::parse(
            br#"<NetworkConnectionSection xmlns="http://www.vmware.com/vcloud/v1.5" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><ovf:Info>x</ovf:Info></NetworkConnectionSection>"#,
        )
        .unwrap();
        assert!(!rewire_connections(&mut sec, "corp", &IpAllocation::Dhcp).unwrap());
    }
}
