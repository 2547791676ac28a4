//! Exporting a VM through vCenter (reference §4): ExportVm gives a lease whose deviceUrls
//! are the VM's disks as streamOptimized VMDKs; each is downloaded as a stream (length known
//! only at its end) through [`nfc`](super::nfc)'s guard; HttpNfcLeaseGetManifest, where
//! the server has it, gives SHA-1s to check against; CreateDescriptor then writes the OVF
//! with the sizes actually downloaded.

use super::client::Client;
use super::error::{Result, VimError};
use super::nfc::Lease;
use super::soap::LocalizedFault;
use super::types::MoRef;
use super::xml::XmlWriter;

/// ExportVm: returns the lease (hand it to
/// [`LeaseGuard::ready`](super::nfc::LeaseGuard::ready)).
pub fn export_vm(client: &Client, vm: &MoRef) -> Result<Lease> {
    let resp = client.call("ExportVm", vm, "")?;
    let lease = resp
        .child("returnval")
        .ok_or_else(|| VimError::xml("ExportVm reply", "no returnval"))
        .and_then(MoRef::from_element)?;
    Ok(Lease::from_moref(client, lease))
}

/// One entry of HttpNfcLeaseGetManifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// The deviceUrl key it describes.
    pub key: String,
    /// SHA-1 of the file, lowercase hex.
    pub sha1: String,
    /// `checksum` (API 6.7+), lowercase hex, with its `checksumType` (`sha1` or `sha256`).
    pub checksum: Option<(String, String)>,
    /// Size in bytes.
    pub size: u64,
}

/// Asks the server for SHA-256 checksums of `keys` in the lease manifest
/// (HttpNfcLeaseSetManifestChecksumType, API 6.7+), so the client can compare with the SHA-256
/// it computes anyway and skip SHA-1. `Ok(false)` when the server does not offer it.
pub fn request_sha256_manifest(client: &Client, lease: &Lease, keys: &[String]) -> Result<bool> {
    let mut w = XmlWriter::new();
    for k in keys {
        w.open("deviceUrlsToChecksumTypes")
            .leaf("key", k)
            .leaf("value", "sha256")
            .close("deviceUrlsToChecksumTypes");
    }
    match client.call(
        "HttpNfcLeaseSetManifestChecksumType",
        lease.moref(),
        w.as_str(),
    ) {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.fault_type(),
                Some("MethodNotFound" | "NotSupported" | "InvalidArgument")
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// HttpNfcLeaseGetManifest; `Ok(None)` when the server does not implement it.
pub fn lease_manifest(client: &Client, lease: &Lease) -> Result<Option<Vec<ManifestEntry>>> {
    match client.call("HttpNfcLeaseGetManifest", lease.moref(), "") {
        Ok(resp) => Ok(Some(
            resp.children("returnval")
                .map(|e| ManifestEntry {
                    key: e.text_of("key").unwrap_or_default().to_owned(),
                    sha1: e.text_of("sha1").unwrap_or_default().to_ascii_lowercase(),
                    checksum: match (e.text_of("checksum"), e.text_of("checksumType")) {
                        (Some(c), Some(t)) if !c.is_empty() => {
                            Some((t.to_ascii_lowercase(), c.to_ascii_lowercase()))
                        }
                        _ => None,
                    },
                    size: e.parse_of("size").unwrap_or(0),
                })
                .collect(),
        )),
        Err(e) if e.fault_type() == Some("MethodNotFound") => Ok(None),
        Err(e) => Err(e),
    }
}

/// A file of the package for CreateDescriptor (`OvfFile`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvfFile {
    /// The deviceUrl key.
    pub device_id: String,
    /// Its name in the package.
    pub path: String,
    /// Bytes actually downloaded (never the capacity: see govmomi#2967).
    pub size: u64,
}

/// CreateDescriptor for `vm` with the downloaded files; returns the OVF text.
pub fn create_descriptor(
    client: &Client,
    vm: &MoRef,
    name: &str,
    files: &[OvfFile],
) -> Result<String> {
    let om = client.service_content().ovf_manager()?;
    let mut w = XmlWriter::new();
    w.moref("obj", vm).open("cdp");
    for f in files {
        w.open("ovfFiles")
            .leaf("deviceId", &f.device_id)
            .leaf("path", &f.path)
            .leaf("size", &f.size.to_string())
            .close("ovfFiles");
    }
    w.leaf("name", name).close("cdp");
    let resp = client.call("CreateDescriptor", &om, w.as_str())?;
    let rv = resp
        .child("returnval")
        .ok_or_else(|| VimError::xml("CreateDescriptor reply", "no returnval"))?;
    if let Some(e) = rv.children("error").next() {
        let f = LocalizedFault::from_element(e);
        return Err(VimError::invalid("CreateDescriptor", f.to_string()));
    }
    rv.text_of("ovfDescriptor")
        .map(str::to_owned)
        .ok_or_else(|| VimError::xml("CreateDescriptor reply", "no ovfDescriptor"))
}
