//! Reading vApps and vApp templates, and powering a vApp on.

use crate::vsphere::xml::Element;
use crate::wire::redact_url_keep_query;
use reqwest::Method;

use super::client::VcdClient;
use super::error::{Result, VcdError};
use super::task::{embedded_tasks, Task};
use super::xml::find_link;

/// One NIC of a VM (`NetworkConnection`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NicInfo {
    /// `NetworkConnectionIndex`.
    pub index: u32,
    /// `@network`: the vApp network it is on.
    pub network: String,
    /// `IsConnected`.
    pub connected: bool,
    /// `IpAddressAllocationMode` (`POOL`, `DHCP`, `MANUAL`, `NONE`).
    pub mode: String,
    /// `MACAddress` (empty when not given).
    pub mac: String,
    /// `IpAddress`, when given.
    pub ip: Option<String>,
    /// `NetworkAdapterType`, when given.
    pub adapter: Option<String>,
}

/// A VM of a vApp or template.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VmInfo {
    /// Name.
    pub name: String,
    /// `/api/vApp/vm-{id}`.
    pub href: String,
    /// `status` (see [`status_name`]).
    pub status: i32,
    /// `PrimaryNetworkConnectionIndex`, when given.
    pub primary_nic: Option<u32>,
    /// Its NICs, in order.
    pub nics: Vec<NicInfo>,
}

/// A vApp or vApp template.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VAppInfo {
    /// Name.
    pub name: String,
    /// Href.
    pub href: String,
    /// `id` (`urn:vcloud:vapp:…`).
    pub id: String,
    /// `status` (see [`status_name`]).
    pub status: i32,
    /// `deployed`.
    pub deployed: bool,
    /// Its vApp networks (`NetworkConfig@networkName`), in order.
    pub networks: Vec<String>,
    /// Its VMs (`Children/Vm`), in order.
    pub vms: Vec<VmInfo>,
    /// Tasks still running on it.
    #[serde(skip)]
    pub tasks: Vec<Task>,
}

impl VAppInfo {
    /// Reads a `VApp` or `VAppTemplate` element.
    pub fn from_element(e: &Element, href: &str) -> VAppInfo {
        VAppInfo {
            name: e.attr("name").unwrap_or_default().to_owned(),
            href: e
                .attr("href")
                .filter(|h| !h.is_empty())
                .unwrap_or(href)
                .to_owned(),
            id: e.attr("id").unwrap_or_default().to_owned(),
            status: status_of(e),
            deployed: e.attr("deployed") == Some("true"),
            networks: e
                .child("NetworkConfigSection")
                .map(|s| {
                    s.children("NetworkConfig")
                        .filter_map(|c| c.attr("networkName"))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            vms: e
                .child("Children")
                .map(|c| c.children("Vm").map(VmInfo::from_element).collect())
                .unwrap_or_default(),
            tasks: embedded_tasks(e)
                .into_iter()
                .filter(Task::is_running)
                .collect(),
        }
    }

    /// The name of [`VAppInfo::status`].
    pub fn status_name(&self) -> &'static str {
        status_name(self.status)
    }
}

impl VmInfo {
    /// Reads a `Vm` element.
    pub fn from_element(e: &Element) -> VmInfo {
        let sec = e.child("NetworkConnectionSection");
        VmInfo {
            name: e.attr("name").unwrap_or_default().to_owned(),
            href: e.attr("href").unwrap_or_default().to_owned(),
            status: status_of(e),
            primary_nic: sec.and_then(|s| s.parse_of("PrimaryNetworkConnectionIndex")),
            nics: sec
                .map(|s| s.children("NetworkConnection").map(nic).collect())
                .unwrap_or_default(),
        }
    }
}

fn nic(nc: &Element) -> NicInfo {
    NicInfo {
        index: nc.parse_of("NetworkConnectionIndex").unwrap_or(0),
        network: nc.attr("network").unwrap_or_default().to_owned(),
        connected: nc.bool_of("IsConnected").unwrap_or(false),
        mode: nc
            .text_of("IpAddressAllocationMode")
            .unwrap_or_default()
            .to_owned(),
        mac: nc.text_of("MACAddress").unwrap_or_default().to_owned(),
        ip: nc
            .text_of("IpAddress")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        adapter: nc.text_of("NetworkAdapterType").map(str::to_owned),
    }
}

fn status_of(e: &Element) -> i32 {
    e.attr("status")
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// vCD's entity status codes.
pub fn status_name(status: i32) -> &'static str {
    match status {
        -1 => "FAILED_CREATION",
        0 => "UNRESOLVED",
        1 => "RESOLVED",
        2 => "DEPLOYED",
        3 => "SUSPENDED",
        4 => "POWERED_ON",
        5 => "WAITING_FOR_INPUT",
        6 => "UNKNOWN",
        7 => "UNRECOGNIZED",
        8 => "POWERED_OFF",
        9 => "INCONSISTENT_STATE",
        10 => "MIXED",
        _ => "OTHER",
    }
}

/// `status` of a powered-on vApp.
pub const POWERED_ON: i32 = 4;
/// `status` of a vApp whose creation failed (a failed import leaves one behind): it must be
/// deleted, never adopted (vcd-api.md §11).
pub const FAILED_CREATION: i32 = -1;

impl VcdClient {
    /// Reads the vApp at `href`: status, vApp networks, VMs and their NICs.
    pub fn get_vapp(&self, href: &str) -> Result<VAppInfo> {
        let e = self.get("VApp", href)?;
        expect_root(&e, "VApp", href)?;
        Ok(VAppInfo::from_element(&e, href))
    }

    /// Reads the vApp template at `href`.
    pub fn get_vapp_template(&self, href: &str) -> Result<VAppInfo> {
        let e = self.get("VAppTemplate", href)?;
        expect_root(&e, "VAppTemplate", href)?;
        Ok(VAppInfo::from_element(&e, href))
    }

    /// Powers the vApp at `href` on (its `rel="power:powerOn"` link, else
    /// `{href}/power/action/powerOn`) and waits for the task. `false` when it was on
    /// already.
    pub fn power_on(&self, href: &str) -> Result<bool> {
        let e = self.get("VApp", href)?;
        expect_root(&e, "VApp", href)?;
        if VAppInfo::from_element(&e, href).status == POWERED_ON {
            return Ok(false);
        }
        let url = find_link(&e, "power:powerOn", None)
            .map(|l| l.href)
            .unwrap_or_else(|| format!("{}/power/action/powerOn", href.trim_end_matches('/')));
        let reply = self.request(Method::POST, &url, None)?;
        if !reply.body.iter().all(u8::is_ascii_whitespace) {
            let t = reply.element("Task")?;
            self.finish_tasks_in(&t)?;
        }
        Ok(true)
    }

    /// Deletes the vApp at `href` (`DELETE`, a task) and waits for it to go. For a vApp a
    /// failed import left in [`FAILED_CREATION`], before the import is tried again.
    pub fn delete_vapp(&self, href: &str) -> Result<()> {
        let reply = self.request(Method::DELETE, href, None)?;
        if !reply.body.iter().all(u8::is_ascii_whitespace) {
            let t = reply.element("Task")?;
            self.finish_tasks_in(&t)?;
        }
        Ok(())
    }

    /// Waits for the tasks still running on the vApp at `href` (an import a previous run sent
    /// may still be going), then reads it again. A task that ends in error is no error here:
    /// what it left (a vApp in [`FAILED_CREATION`]) is in the status read afterwards.
    pub fn settle_vapp(&self, href: &str) -> Result<VAppInfo> {
        let e = self.get("VApp", href)?;
        expect_root(&e, "VApp", href)?;
        match self.finish_tasks_in(&e) {
            Ok(()) | Err(VcdError::Task(_)) => {}
            Err(e) => return Err(e),
        }
        self.get_vapp(href)
    }
}

fn expect_root(e: &Element, root: &str, href: &str) -> Result<()> {
    if e.name == root {
        Ok(())
    } else {
        Err(VcdError::malformed(
            root,
            redact_url_keep_query(href),
            format!("expected <{root}>, got <{}>", e.name),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_vapp() {
        let x = r#"<VApp xmlns="http://www.vmware.com/vcloud/v1.5" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" status="8" name="web" id="urn:vcloud:vapp:5f2c" href="https://vcd/api/vApp/vapp-5f2c" deployed="false">
  <Link rel="power:powerOn" href="https://vcd/api/vApp/vapp-5f2c/power/action/powerOn"/>
  <Tasks><Task status="success" href="https://vcd/api/task/1"/><Task status="running" href="https://vcd/api/task/2"/></Tasks>
  <NetworkConfigSection><ovf:Info>x</ovf:Info><NetworkConfig networkName="VM Network"/><NetworkConfig networkName="corp"/></NetworkConfigSection>
  <Children>
    <Vm status="8" name="web" href="https://vcd/api/vApp/vm-1">
      <NetworkConnectionSection><ovf:Info>x</ovf:Info><PrimaryNetworkConnectionIndex>0</PrimaryNetworkConnectionIndex>
        <NetworkConnection network="corp"><NetworkConnectionIndex>0</NetworkConnectionIndex><IpAddress>10.0.0.7</IpAddress><IsConnected>true</IsConnected><MACAddress>00:50:56:00:00:01</MACAddress><IpAddressAllocationMode>POOL</IpAddressAllocationMode><NetworkAdapterType>VMXNET3</NetworkAdapterType></NetworkConnection>
      </NetworkConnectionSection>
    </Vm>
  </Children>
</VApp>"#;
        let v = VAppInfo::from_element(&Element::parse(x.as_bytes()).unwrap(), "h");
        assert_eq!(v.name, "web");
        assert_eq!(v.status_name(), "POWERED_OFF");
        assert_eq!(v.networks, ["VM Network", "corp"]);
        assert_eq!(v.tasks.len(), 1);
        assert_eq!(v.vms.len(), 1);
        let vm = &v.vms[0];
        assert_eq!(vm.primary_nic, Some(0));
        assert_eq!(
            vm.nics,
            [NicInfo {
                index: 0,
                network: "corp".into(),
                connected: true,
                mode: "POOL".into(),
                mac: "00:50:56:00:00:01".into(),
                ip: Some("10.0.0.7".into()),
                adapter: Some("VMXNET3".into()),
            }]
        );
    }
}
