//! A vCloud Director client for the importer: log in as a system administrator, find the
//! target org, VDC, network and catalog, adopt the VMs deployed into vCenter through the
//! vimServer import actions, wire their NICs to the org VDC network, and power them on.
//!
//! Written from `reference/vcd-api.md`, without an SDK (neither pyvcloud nor
//! go-vcloud-director has the import actions). Blocking, like the vSphere client.
//!
//! Layers, bottom up:
//!
//! - [`xml`]: namespaces, media types, parsing, and writing element trees back with their
//!   namespaces (bodies are element trees, so sections round-trip intact);
//! - [`error`]: [`VcdError`], which keeps vCD's `majorErrorCode`/`minorErrorCode`;
//! - [`client`]: [`VcdClient`] — versions, login (cloudapi from 33.0, `/api/sessions`
//!   below or on request), the request pipeline (Accept with the version, GETs retried as
//!   the [`wire`](crate::wire) retry table says, one re-login on 401), logout;
//! - [`task`]: [`Task`], its states and outcome;
//! - [`wait`]: [`VcdClient::wait_task`] and the operations' task waits;
//! - [`query`]: the query service and the lookups (`find_org`, `find_vdc`, …);
//! - [`extension`]: vimServers, matching the importer's vCenter, the three imports;
//! - [`network`]: the bridged vApp network and the NIC rewiring;
//! - [`vapp`]: reading vApps/templates, power-on.
//!
//! A typical run, per VM (after the vCenter deploy):
//!
//! ```no_run
//! # fn main() -> Result<(), odt_vmware::vcd::VcdError> {
//! use odt_vmware::wire::TlsMode;
//! use odt_vmware::vcd::{IpRequest, VcdClient};
//! let vcd = VcdClient::connect("https://vcd.example", "admin@System", "pw", TlsMode::Verify)?;
//! let vim = vcd.find_vim_server_for("https://vc.example/sdk")?;
//! let org = vcd.find_org("acme")?.expect("org");
//! let vdc = vcd.find_vdc(&org, "acme-vdc")?.expect("vdc");
//! let net = vcd.find_org_vdc_network(&vdc, "acme-lan")?.expect("network");
//! let vapp = vcd.import_vm_as_vapp(&vim, "vm-42", &vdc, "web", true)?;
//! vcd.wire_vapp_to_org_network(&vapp.href, &net, &IpRequest::Pool, &[])?;
//! vcd.power_on(&vapp.href)?;
//! vcd.logout()?;
//! # Ok(()) }
//! ```

pub mod client;
pub mod error;
pub mod extension;
pub mod network;
pub mod query;
pub mod task;
pub mod vapp;
pub mod wait;
pub mod xml;

pub use client::{
    check_client_request_id, ApiVersion, ConnectOptions, Login, LoginMethod, SessionInfo,
    VcdClient, MAX_CLIENT_REQUEST_ID,
};
pub use error::{ApiError, ApiErrorBody, Result, TaskError, VcdError};
pub use extension::{
    match_vim_server, ImportVmAsVApp, ImportVmAsVAppTemplate, ImportVmIntoExistingVApp, Imported,
    ImportedDisk, VimServer,
};
pub use network::{IpAllocation, IpRequest, NetworkIps};
pub use query::{Clause, EntityRef, Record, StorageProfile};
pub use task::{Task, TaskProgress};
pub use vapp::{NicInfo, VAppInfo, VmInfo, FAILED_CREATION};
