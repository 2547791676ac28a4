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
//! - [`soap`]: envelopes, replies and faults — pure, tested on recorded XML;
//! - [`client`]: the session ([`Client`]), calls, the PropertyCollector, [`MoRef`];
//! - [`inventory`]: choosing where a VM lands ([`Placement`]) and reading VMs ([`vm_info`]);
//! - [`deploy`]: CreateImportSpec, ImportVApp, the lease and its keep-alive, NFC upload,
//!   tasks.
//!
//! Errors are [`VimError`]: they name the method, object or URL (never with credentials) and
//! keep vim fault types (`InvalidLogin`, `DuplicateName`, …) for callers to branch on.

pub mod client;
pub mod deploy;
pub mod error;
pub mod export;
pub mod inventory;
pub mod soap;
pub mod xml;

pub use crate::wire::{thumbprints, TlsMode};
pub use client::{inventory_path_escape, About, Client, MoRef, ObjectContent, ServiceContent};
pub use deploy::{
    create_import_spec, create_import_spec_with, destroy_vm, import_vapp, reconfigure_extra_config,
    upload, wait_task, DeviceUrl, FileItem, ImportSpec, ImportSpecParams, KeepAlive, Lease,
    LeaseInfo,
};
pub use error::{Result, VimError};
pub use inventory::{
    find_vm, vm_info, DatastoreInfo, HostNetworks, Named, NetworkRef, NicBacking, Placement,
    VmDisk, VmInfo, VmNic,
};
pub use soap::LocalizedFault;
pub use xml::{Element, XmlWriter};
