//! `odt-import add-port-group`: the placeholder port group every imported VM lands on, added
//! to the hosts of the target that lack it.

use anyhow::{Context, Result};
use odt_vmware::vsphere::xml::XmlWriter;

use crate::cli::AddPortGroupOptions;
use crate::plan::VM_NETWORK;

pub(super) fn add_port_group(o: AddPortGroupOptions) -> Result<bool> {
    let client = o.vcenter.connect()?;
    let placement = o.vcenter.placement(&client)?;
    let lacking = placement.hosts_lacking(VM_NETWORK);
    let mut added = vec![];
    for host in placement.hosts.iter().filter(|h| lacking.contains(&h.name)) {
        let ns = client
            .retrieve(
                std::slice::from_ref(&host.moref),
                "HostSystem",
                &["configManager.networkSystem"],
            )?
            .first()
            .and_then(|o| o.moref("configManager.networkSystem"))
            .with_context(|| format!("host {} has no network system", host.name))?;
        let mut w = XmlWriter::new();
        w.open("portgrp")
            .leaf("name", VM_NETWORK)
            .leaf("vlanId", &o.vlan.to_string())
            .leaf("vswitchName", &o.vswitch)
            .open("policy")
            .close("policy")
            .close("portgrp");
        client
            .call("AddPortGroup", &ns, w.as_str())
            .with_context(|| {
                format!(
                    "add port group \"{VM_NETWORK}\" to {} on {}",
                    o.vswitch, host.name
                )
            })?;
        added.push(host.name.clone());
    }
    let _ = client.logout();
    if o.json {
        odt_cli::json::emit(
            true,
            serde_json::json!({"added_to": added, "already_present": placement.hosts.len() - added.len()}),
        );
    } else if added.is_empty() {
        println!(
            "every host of {} already has \"{VM_NETWORK}\"",
            placement.compute.name
        );
    } else {
        println!(
            "added \"{VM_NETWORK}\" to {} on {}",
            o.vswitch,
            added.join(", ")
        );
    }
    Ok(true)
}
