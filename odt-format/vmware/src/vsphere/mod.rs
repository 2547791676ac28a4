//! A vSphere Web Services (vim25 SOAP) client, without an SDK: what odt needs to deploy an
//! OVF into vCenter through an HttpNfcLease, and to find and check the target inventory.
//!
//! In odt-vmware, so users of the pure format never pull in HTTP and TLS. Blocking
//! (reqwest's blocking client): each call is one request/response, the lease keep-alive runs
//! on its own thread, and the CPU-heavy decryption feeding an upload runs on threads anyway.
//!
//! Layers, bottom up (as in object_store), over the shared [`wire`](crate::wire) layer (HTTP
//! client, certificate checks with thumbprint pinning, redaction, the retry table):
//!
//! - [`xml`]: a namespace-aware element tree (replies) and a writer (requests);
//! - [`types`]: [`MoRef`], the service content, the files an import wants — plain data;
//! - [`soap`]: envelopes, replies and faults — pure, tested on recorded XML;
//! - [`client`]: the session ([`Client`]), calls, the PropertyCollector;
//! - [`task`]: waiting for vim tasks, marking and destroying VMs;
//! - [`nfc`]: the HttpNfcLease and [`LeaseGuard`], which waits for it, keeps it alive, moves
//!   the bytes and completes it, or aborts it (destroying a half-made import) on drop;
//! - [`inventory`]: choosing where a VM lands ([`Placement`]) and reading VMs ([`vm_info`]);
//! - [`deploy`]: CreateImportSpec and ImportVApp;
//! - [`export`]: ExportVm, the lease manifest, CreateDescriptor.
//!
//! Each file imports only the ones above it in this list.
//!
//! Errors are [`VimError`]: they name the method, object or URL (never with credentials) and
//! keep vim fault types (`InvalidLogin`, `DuplicateName`, …) for callers to branch on.

pub mod client;
pub mod deploy;
pub mod error;
pub mod export;
pub mod inventory;
pub mod nfc;
pub mod soap;
pub mod task;
pub mod types;
pub mod xml;

pub use crate::wire::{thumbprints, TlsMode};
pub use client::{inventory_path_escape, Client, ObjectContent};
pub use deploy::{
    create_import_spec, create_import_spec_with, import_vapp, ImportSpec, ImportSpecParams,
};
pub use error::{Result, VimError};
pub use inventory::{
    find_vm, vm_info, DatastoreInfo, HostNetworks, Named, NetworkRef, NicBacking, Placement,
    VmDisk, VmInfo, VmNic,
};
pub use nfc::{download, upload, DeviceUrl, Direction, KeepAlive, Lease, LeaseGuard, LeaseInfo};
pub use soap::LocalizedFault;
pub use task::{destroy_vm, reconfigure_extra_config, wait_task};
pub use types::{About, FileItem, MoRef, ServiceContent};
pub use xml::{Element, XmlWriter};
