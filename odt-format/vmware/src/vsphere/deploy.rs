//! Deploying an OVF through vCenter: CreateImportSpec, ImportVApp, the HttpNfcLease and its
//! keep-alive, the NFC uploads, and the tasks that change or remove a VM afterwards.
//!
//! The sequence (reference §3), and who owns each step:
//!
//! 1. [`create_import_spec`]: vCenter parses the descriptor against the [`Placement`] and
//!    returns the spec to send back, the files it wants, and its warnings and errors.
//! 2. [`import_vapp`] sends the spec back *unchanged* and returns a [`Lease`]; the VM exists
//!    from this moment.
//! 3. [`Lease::wait_ready`] gives the new VM's moref and one upload URL per file.
//! 4. [`Lease::keep_alive`] starts a thread that calls `HttpNfcLeaseProgress` on a timer, so
//!    a slow disk never lets the lease time out (about 5 minutes on a real vCenter) however
//!    long one upload takes; the caller only updates the percentage.
//! 5. [`upload`] streams each file (disks must be streamOptimized VMDKs).
//! 6. [`Lease::complete`], or on any failure [`Lease::abort`], after which vCenter deletes the
//!    half-made VM (vcsim does not: [`destroy_vm`] cleans up there).

use std::io::Read;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::client::{Client, MoRef};
use super::error::{Result, VimError};
use super::inventory::Placement;
use super::soap::{system_error_fault, LocalizedFault};
use super::xml::{Element, XmlWriter};
use crate::wire::{excerpt, redact_url};

/// How long [`wait_task`] waits by default in the helpers of this module.
pub const TASK_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// What to ask CreateImportSpec for, beyond the placement.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportSpecParams {
    /// The name of the new VM (or vApp).
    pub entity_name: String,
    /// `(OVF network name, target network)`: every name must be a `Network` of the
    /// descriptor's NetworkSection (the NICs' `Connection`), not a target port group.
    pub network_map: Vec<(String, MoRef)>,
    /// `diskProvisioning` (`thin`, `thick`, `eagerZeroedThick`, …); `None` lets the server
    /// choose.
    pub disk_provisioning: Option<String>,
    /// `propertyMapping`: values for the descriptor's ProductSection properties.
    pub property_map: Vec<(String, String)>,
    /// The host to validate against and place on; `None` uses the placement's host, if any.
    pub host: Option<MoRef>,
}

impl ImportSpecParams {
    /// Parameters for a VM named `entity_name`, everything else default.
    pub fn new(entity_name: impl Into<String>) -> Self {
        ImportSpecParams {
            entity_name: entity_name.into(),
            ..Default::default()
        }
    }
}

/// One file the import wants uploaded (`OvfFileItem`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileItem {
    /// Matches a lease [`DeviceUrl::import_key`].
    pub device_id: String,
    /// The descriptor's `File ovf:href`.
    pub path: String,
    /// The size the descriptor declares, if any.
    pub size: Option<u64>,
    /// True for files to create (ISO, NVRAM: PUT); false for disks (POST as stream VMDK).
    pub create: bool,
    /// CIM type (17 disk, 15 CD-ROM), when given.
    pub cim_type: Option<u32>,
}

/// The result of CreateImportSpec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSpec {
    /// The `importSpec` to hand to [`import_vapp`] unchanged (its xsi:type is
    /// `VirtualMachineImportSpec` or `VirtualAppImportSpec`).
    pub spec: Element,
    /// The files to upload.
    pub file_items: Vec<FileItem>,
    /// Warnings (an unmapped network, a setting the server ignored): show them.
    pub warnings: Vec<LocalizedFault>,
    /// Errors: when there is any, the spec must not be imported ([`import_vapp`] refuses).
    pub errors: Vec<LocalizedFault>,
}

/// CreateImportSpec for `descriptor` (the `.ovf` text) at `placement`, naming the VM
/// `entity_name` and mapping OVF networks to target networks.
pub fn create_import_spec(
    client: &Client,
    placement: &Placement,
    descriptor: &str,
    entity_name: &str,
    network_map: &[(String, MoRef)],
) -> Result<ImportSpec> {
    let mut p = ImportSpecParams::new(entity_name);
    p.network_map = network_map.to_vec();
    create_import_spec_with(client, placement, descriptor, &p)
}

/// CreateImportSpec with every parameter odt uses.
pub fn create_import_spec_with(
    client: &Client,
    placement: &Placement,
    descriptor: &str,
    params: &ImportSpecParams,
) -> Result<ImportSpec> {
    let om = client.service_content().ovf_manager()?;
    let host = params
        .host
        .clone()
        .or_else(|| placement.host.as_ref().map(|h| h.moref.clone()));
    let mut w = XmlWriter::new();
    w.leaf("ovfDescriptor", descriptor)
        .moref("resourcePool", &placement.resource_pool)
        .moref("datastore", &placement.datastore.moref)
        .open("cisp")
        // Required, may be empty; govc sends "US".
        .leaf("locale", "US")
        .leaf("deploymentOption", "")
        .leaf("entityName", &params.entity_name);
    if let Some(h) = &host {
        w.moref("hostSystem", h);
    }
    for (name, net) in &params.network_map {
        w.open("networkMapping")
            .leaf("name", name)
            .moref("network", net)
            .close("networkMapping");
    }
    for (k, v) in &params.property_map {
        w.open("propertyMapping")
            .leaf("key", k)
            .leaf("value", v)
            .close("propertyMapping");
    }
    if let Some(d) = &params.disk_provisioning {
        w.leaf("diskProvisioning", d);
    }
    w.close("cisp");
    let resp = client.call("CreateImportSpec", &om, w.as_str())?;
    parse_import_spec(resp)
}

/// Reads a `CreateImportSpecResponse`.
pub fn parse_import_spec(resp: Element) -> Result<ImportSpec> {
    let what = "CreateImportSpec reply";
    let rv = resp
        .children
        .into_iter()
        .find(|c| c.name == "returnval")
        .ok_or_else(|| VimError::xml(what, "no returnval"))?;
    let mut spec = None;
    let mut file_items = Vec::new();
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for c in rv.children {
        match c.name.as_str() {
            "importSpec" => spec = Some(c),
            "fileItem" => file_items.push(FileItem {
                device_id: c.text_of("deviceId").unwrap_or_default().to_string(),
                path: c.text_of("path").unwrap_or_default().to_string(),
                size: c.parse_of("size"),
                create: c.bool_of("create").unwrap_or(false),
                cim_type: c.parse_of("cimType"),
            }),
            "warning" => warnings.push(LocalizedFault::from_element(&c)),
            "error" => errors.push(LocalizedFault::from_element(&c)),
            _ => {}
        }
    }
    let spec = match spec {
        Some(s) => s,
        // No spec is only acceptable when the server said why.
        None if !errors.is_empty() => Element::new("importSpec"),
        None => return Err(VimError::xml(what, "no importSpec and no error")),
    };
    if spec.xsi_type().is_none() && errors.is_empty() {
        return Err(VimError::xml(what, "the importSpec has no xsi:type"));
    }
    Ok(ImportSpec {
        spec,
        file_items,
        warnings,
        errors,
    })
}

/// ImportVApp: creates the VM from `spec` in the placement's pool and VM folder, and returns
/// the lease to upload its files through. A spec that carries errors is refused here.
pub fn import_vapp(client: &Client, placement: &Placement, spec: &ImportSpec) -> Result<Lease> {
    if let Some(first) = spec.errors.first() {
        return Err(VimError::invalid(
            "import spec",
            format!(
                "CreateImportSpec reported {} error(s), the first: {first}",
                spec.errors.len()
            ),
        ));
    }
    let mut w = XmlWriter::new();
    w.element("spec", &spec.spec);
    // A VirtualApp pool places the VM itself; naming a folder then is InvalidArgument.
    if placement.resource_pool.kind != "VirtualApp" {
        w.moref("folder", &placement.vm_folder);
    }
    if let Some(h) = &placement.host {
        w.moref("host", &h.moref);
    }
    let resp = client.call("ImportVApp", &placement.resource_pool, w.as_str())?;
    let lease = resp
        .child("returnval")
        .ok_or_else(|| VimError::xml("ImportVApp reply", "no returnval"))
        .and_then(MoRef::from_element)?;
    Ok(Lease {
        client: client.clone(),
        moref: lease,
    })
}

/// One upload (or download) target of a ready lease (`HttpNfcLeaseDeviceUrl`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceUrl {
    /// The device key (`/vm-69/disk:0`).
    pub key: String,
    /// Matches a [`FileItem::device_id`] (`/tiny-01/disk:0`).
    pub import_key: String,
    /// Where to send the bytes: a `*` host already replaced by the host we are connected to
    /// (with our scheme); otherwise the ESXi host vCenter named, which must be reachable.
    pub url: String,
    /// The SHA-1 thumbprint of that host's certificate, when vCenter gives one.
    pub ssl_thumbprint: Option<String>,
    /// True for a disk.
    pub disk: bool,
    /// The file name in an export (`targetId`).
    pub target_id: Option<String>,
    /// The file size, when the server knows it.
    pub file_size: Option<u64>,
}

/// A ready lease's `info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseInfo {
    /// The entity the lease is for: for an import, **the new VM**.
    pub entity: MoRef,
    /// One URL per file.
    pub device_urls: Vec<DeviceUrl>,
    /// `leaseTimeout` in seconds, when given.
    pub lease_timeout: Option<u64>,
    /// `totalDiskCapacityInKB`, when given (0 on vcsim imports).
    pub total_disk_capacity_kb: Option<u64>,
}

impl LeaseInfo {
    /// The URL for a file of the import spec (matched on `importKey == deviceId`).
    pub fn device_url_for(&self, item: &FileItem) -> Option<&DeviceUrl> {
        self.device_urls
            .iter()
            .find(|d| d.import_key == item.device_id)
    }

    /// Reads an `HttpNfcLeaseInfo`, rewriting `*` hosts with `rewrite`.
    pub fn from_element(info: &Element, rewrite: impl Fn(&str) -> String) -> Result<LeaseInfo> {
        let what = "HttpNfcLease info";
        let entity = info
            .child("entity")
            .ok_or_else(|| VimError::xml(what, "no entity"))
            .and_then(MoRef::from_element)?;
        let mut device_urls = Vec::new();
        for d in info.children("deviceUrl") {
            let url = d
                .text_of("url")
                .filter(|u| !u.is_empty())
                .ok_or_else(|| VimError::xml(what, "a deviceUrl without url"))?;
            device_urls.push(DeviceUrl {
                key: d.text_of("key").unwrap_or_default().to_string(),
                import_key: d.text_of("importKey").unwrap_or_default().to_string(),
                url: rewrite(url),
                ssl_thumbprint: d
                    .text_of("sslThumbprint")
                    .filter(|t| !t.is_empty())
                    .map(str::to_string),
                disk: d.bool_of("disk").unwrap_or(false),
                target_id: d
                    .text_of("targetId")
                    .filter(|t| !t.is_empty())
                    .map(str::to_string),
                file_size: d.parse_of("fileSize"),
            });
        }
        Ok(LeaseInfo {
            entity,
            device_urls,
            lease_timeout: info.parse_of("leaseTimeout"),
            total_disk_capacity_kb: info.parse_of("totalDiskCapacityInKB"),
        })
    }
}

/// An HttpNfcLease. Dropping it does nothing on the server: call [`Lease::complete`] or
/// [`Lease::abort`].
#[derive(Debug, Clone)]
pub struct Lease {
    client: Client,
    moref: MoRef,
}

impl Lease {
    /// A handle on an existing lease.
    pub fn from_moref(client: &Client, moref: MoRef) -> Lease {
        Lease {
            client: client.clone(),
            moref,
        }
    }

    /// The lease object.
    pub fn moref(&self) -> &MoRef {
        &self.moref
    }

    fn lease_error(&self, state: &str, message: impl Into<String>) -> VimError {
        VimError::Lease {
            lease: self.moref.value.clone(),
            state: state.to_string(),
            message: message.into(),
        }
    }

    /// The lease's `state`: `initializing`, `ready`, `done` or `error`.
    pub fn state(&self) -> Result<String> {
        let objs = self.read(&["state"])?;
        objs.text("state")
            .map(str::to_string)
            .ok_or_else(|| VimError::xml("HttpNfcLease", "no state"))
    }

    fn read(&self, props: &[&str]) -> Result<super::client::ObjectContent> {
        let objs = self
            .client
            .retrieve(std::slice::from_ref(&self.moref), "HttpNfcLease", props)
            .map_err(|e| match e.fault_type() {
                Some("ManagedObjectNotFound") => {
                    self.lease_error("gone", "the server no longer has this lease")
                }
                _ => e,
            })?;
        objs.into_iter()
            .find(|o| o.obj == self.moref)
            .ok_or_else(|| self.lease_error("gone", "the server no longer has this lease"))
    }

    /// Waits until the lease is `ready` and returns its info (the new VM and the upload
    /// URLs). `error` is [`VimError::Lease`] with the server's message.
    pub fn wait_ready(&self, timeout: Duration) -> Result<LeaseInfo> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            let o = self.read(&["state", "error"])?;
            match o.text("state").unwrap_or("") {
                "ready" => break,
                "error" => {
                    let msg = o
                        .get("error")
                        .map(|e| LocalizedFault::from_element(e).to_string())
                        .unwrap_or_default();
                    return Err(self.lease_error("error", msg));
                }
                "done" => return Err(self.lease_error("done", "already completed")),
                _ => {}
            }
            if start.elapsed() >= timeout {
                return Err(VimError::Timeout {
                    what: format!("HttpNfcLease {} to become ready", self.moref.value),
                    seconds: timeout.as_secs(),
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(2));
        }
        // `info` is only valid in the ready state.
        let o = self.read(&["info"])?;
        let info = o
            .get("info")
            .ok_or_else(|| VimError::xml("HttpNfcLease", "ready but no info"))?;
        let c = self.client.clone();
        LeaseInfo::from_element(info, move |u| c.nfc_url(u))
    }

    /// HttpNfcLeaseProgress: reports `percent` (clamped to 100) and renews the lease.
    pub fn progress(&self, percent: u8) -> Result<()> {
        let mut w = XmlWriter::new();
        w.leaf("percent", &percent.min(100).to_string());
        self.client
            .call("HttpNfcLeaseProgress", &self.moref, w.as_str())
            .map(|_| ())
    }

    /// HttpNfcLeaseComplete: the import succeeded.
    pub fn complete(&self) -> Result<()> {
        self.client
            .call("HttpNfcLeaseComplete", &self.moref, "")
            .map(|_| ())
    }

    /// HttpNfcLeaseAbort with a `SystemError` carrying `message`: the import failed. vCenter
    /// then deletes the half-created VM and its files (vcsim leaves the VM: see
    /// [`destroy_vm`]). Aborting an aborted lease is `InvalidState`.
    pub fn abort(&self, message: &str) -> Result<()> {
        let body = system_error_fault("fault", message);
        self.client
            .call("HttpNfcLeaseAbort", &self.moref, &body)
            .map(|_| ())
    }

    /// Starts a thread that calls HttpNfcLeaseProgress every `interval` (5–10 s is right; a
    /// real lease times out after about 5 minutes without one) with the percentage last set
    /// on the returned [`KeepAlive`]. It runs independently of transfer progress, so a slow
    /// disk cannot starve it, and stops when the KeepAlive is dropped. Fails only when the
    /// thread cannot be started.
    pub fn keep_alive(&self, interval: Duration) -> Result<KeepAlive> {
        let percent = Arc::new(AtomicU8::new(0));
        let last_error = Arc::new(Mutex::new(None));
        let (tx, rx) = mpsc::channel::<()>();
        let lease = self.clone();
        let (p, le) = (percent.clone(), last_error.clone());
        let handle = std::thread::Builder::new()
            .name("nfc-keepalive".into())
            .spawn(move || {
                // Any message or a dropped sender means stop; a timeout means renew.
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(interval) {
                    let r = lease.progress(p.load(Ordering::Relaxed));
                    if let Ok(mut slot) = le.lock() {
                        *slot = r.err();
                    }
                }
            })
            .map_err(|e| {
                VimError::invalid(
                    format!("HttpNfcLease {}", self.moref.value),
                    format!("cannot start the keep-alive thread: {e}"),
                )
            })?;
        Ok(KeepAlive {
            percent,
            stop: Some(tx),
            handle: Some(handle),
            last_error,
        })
    }
}

/// A running lease keep-alive (see [`Lease::keep_alive`]). Stops on drop.
#[derive(Debug)]
pub struct KeepAlive {
    percent: Arc<AtomicU8>,
    stop: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<()>>,
    last_error: Arc<Mutex<Option<VimError>>>,
}

impl KeepAlive {
    /// Sets the percentage the next renewal reports (0–100).
    pub fn set_percent(&self, percent: u8) {
        self.percent.store(percent.min(100), Ordering::Relaxed);
    }

    /// The shared percentage, for a progress reader on another thread.
    pub fn percent(&self) -> Arc<AtomicU8> {
        self.percent.clone()
    }

    /// The error of the latest renewal, if it failed (it is retried on the next tick).
    pub fn take_error(&self) -> Option<VimError> {
        self.last_error.lock().ok().and_then(|mut e| e.take())
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A reader that keeps the first error of the reader it wraps, so an upload that fails
/// because its *body* failed (a damaged chunk, a NAS error) reports that error, not
/// "connection closed".
struct Tap<R> {
    inner: R,
    error: Arc<Mutex<Option<std::io::Error>>>,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let copy = std::io::Error::new(e.kind(), e.to_string());
                if let Ok(mut slot) = self.error.lock() {
                    if slot.is_none() {
                        *slot = Some(e);
                    }
                }
                Err(copy)
            }
        }
    }
}

/// Uploads one file of a ready lease: `len` bytes read from `body`, streamed (never
/// buffered). Disks (`create == false`) are POSTed as `application/x-vnd.vmware-streamVmdk`
/// and must be streamOptimized VMDKs; other files are PUT with `Overwrite: t`. 200 and 201
/// are success. The target's `sslThumbprint`, if any, is trusted for this host.
///
/// A failure of `body` itself comes back as [`VimError::Body`] holding the reader's own
/// error.
pub fn upload<R: Read + Send + 'static>(
    client: &Client,
    target: &DeviceUrl,
    body: R,
    len: u64,
    create: bool,
) -> Result<()> {
    if let Some(tp) = &target.ssl_thumbprint {
        // A thumbprint we cannot parse just is not trusted; normal checks still apply.
        let _ = client.trust_thumbprint(tp);
    }
    let (http, _) = client.transfer_http()?;
    let body_error = Arc::new(Mutex::new(None));
    let reader = Tap {
        inner: body,
        error: body_error.clone(),
    };
    let req = if create {
        http.put(&target.url).header("Overwrite", "t")
    } else {
        http.post(&target.url).header(
            reqwest::header::CONTENT_TYPE,
            "application/x-vnd.vmware-streamVmdk",
        )
    };
    let result = req.body(reqwest::blocking::Body::sized(reader, len)).send();
    let taken = body_error.lock().ok().and_then(|mut e| e.take());
    if let Some(source) = taken {
        return Err(VimError::Body {
            url: redact_url(&target.url),
            source,
        });
    }
    let resp = result.map_err(|e| client.transfer_error(&target.url, e))?;
    let status = resp.status().as_u16();
    if matches!(status, 200 | 201) {
        return Ok(());
    }
    let mut buf = Vec::new();
    let _ = resp.take(4096).read_to_end(&mut buf);
    Err(VimError::Http {
        url: redact_url(&target.url),
        status,
        body: excerpt(&buf),
    })
}

/// Waits for a task to finish: polls `info` until `state` is `success` (returns
/// `info.result`, if any) or `error` ([`VimError::Task`] with the fault's type and message).
pub fn wait_task(client: &Client, task: &MoRef, timeout: Duration) -> Result<Option<Element>> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(100);
    loop {
        let objs = client.retrieve(std::slice::from_ref(task), "Task", &["info"])?;
        let info = objs
            .into_iter()
            .find(|o| &o.obj == task)
            .and_then(|o| {
                o.props
                    .into_iter()
                    .find(|(n, _)| n == "info")
                    .map(|(_, v)| v)
            })
            .ok_or_else(|| VimError::NotFound {
                what: format!("task {}", task.value),
                choices: Vec::new(),
            })?;
        let op = info
            .text_of("descriptionId")
            .or_else(|| info.text_of("name"))
            .unwrap_or("task")
            .to_string();
        match info.text_of("state").unwrap_or("") {
            "success" => {
                return Ok(info.children.into_iter().find(|c| c.name == "result"));
            }
            "error" => {
                let f = info
                    .child("error")
                    .map(LocalizedFault::from_element)
                    .unwrap_or(LocalizedFault {
                        fault_type: "MethodFault".into(),
                        message: String::new(),
                        fault: None,
                    });
                return Err(VimError::Task {
                    task: task.value.clone(),
                    op,
                    fault_type: f.fault_type,
                    message: f.message,
                });
            }
            _ => {}
        }
        if start.elapsed() >= timeout {
            return Err(VimError::Timeout {
                what: format!("task {} ({op})", task.value),
                seconds: timeout.as_secs(),
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

fn run_task(client: &Client, method: &str, this: &MoRef, body: &str) -> Result<Option<Element>> {
    let resp = client.call(method, this, body)?;
    let task = resp
        .child("returnval")
        .ok_or_else(|| VimError::xml(format!("{method} reply"), "no task"))
        .and_then(MoRef::from_element)?;
    wait_task(client, &task, TASK_TIMEOUT)
}

/// Sets `extraConfig` keys on a VM (ReconfigVM_Task), e.g. to mark the VMs odt created so a
/// rerun recognises them. Values are strings.
pub fn reconfigure_extra_config(
    client: &Client,
    vm: &MoRef,
    entries: &[(String, String)],
) -> Result<()> {
    let mut w = XmlWriter::new();
    w.open("spec");
    for (k, v) in entries {
        w.open("extraConfig")
            .leaf("key", k)
            .leaf_typed("value", "xsd:string", v)
            .close("extraConfig");
    }
    w.close("spec");
    run_task(client, "ReconfigVM_Task", vm, w.as_str()).map(|_| ())
}

/// Deletes a VM and its files (Destroy_Task) and waits for it. A VM that is already gone
/// counts as deleted (after an abort vCenter removes the VM itself, possibly while this runs),
/// so this is safe to use for clean-up. A powered-on VM fails with `InvalidPowerState`:
/// imported VMs are off.
pub fn destroy_vm(client: &Client, vm: &MoRef) -> Result<()> {
    match run_task(client, "Destroy_Task", vm, "") {
        Ok(_) => Ok(()),
        Err(e) if e.fault_type() == Some("ManagedObjectNotFound") => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::client::rewrite_star_host;
    use crate::vsphere::soap::parse_response;

    /// CreateImportSpec's reply as vcsim 0.24.2 writes it (shortened device list): the
    /// importSpec typed with vcsim's `XMLSchema-instance` prefix, whose declaration lives on
    /// an ancestor, nested typed devices and backings, a fileItem.
    const CIS_REPLY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><CreateImportSpecResponse xmlns="urn:vim25"><returnval xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance"><importSpec XMLSchema-instance:type="VirtualMachineImportSpec"><configSpec><name>single</name><version>vmx-13</version><guestId>otherGuest64</guestId><files><vmPathName>[LocalDS_0]</vmPathName></files><numCPUs>1</numCPUs><memoryMB>512</memoryMB><deviceChange><operation>add</operation><device XMLSchema-instance:type="VirtualLsiLogicController"><key>1</key><busNumber>0</busNumber><sharedBus>noSharing</sharedBus></device></deviceChange><deviceChange><operation>add</operation><fileOperation>create</fileOperation><device XMLSchema-instance:type="VirtualDisk"><key>2</key><backing XMLSchema-instance:type="VirtualDiskFlatVer2BackingInfo"><fileName></fileName><diskMode>persistent</diskMode><thinProvisioned>true</thinProvisioned></backing><controllerKey>1</controllerKey><unitNumber>0</unitNumber><capacityInKB>16384</capacityInKB></device></deviceChange><deviceChange><operation>add</operation><device XMLSchema-instance:type="VirtualVmxnet3"><key>3</key><backing XMLSchema-instance:type="VirtualEthernetCardNetworkBackingInfo"><deviceName>VM Network</deviceName><network type="Network">network-7</network></backing><addressType>generated</addressType></device></deviceChange><extraConfig><key>k</key><value XMLSchema-instance:type="xsd:string">v</value></extraConfig></configSpec><resPoolEntity type="ResourcePool">resgroup-1</resPoolEntity></importSpec><fileItem><deviceId>/single/disk:0</deviceId><path>single-disk1.vmdk</path><size>123456</size><cimType>17</cimType><create>false</create></fileItem><warning><fault XMLSchema-instance:type="OvfAttribute"><lineNumber>9</lineNumber></fault><localizedMessage>Line 9: Unsupported attribute 'x'.</localizedMessage></warning></returnval></CreateImportSpecResponse></soapenv:Body></soapenv:Envelope>"#;

    #[test]
    fn import_spec_parses_and_round_trips() {
        let resp = parse_response("CreateImportSpec", CIS_REPLY.as_bytes()).unwrap();
        let spec = parse_import_spec(resp).unwrap();
        assert_eq!(spec.spec.xsi_type(), Some("VirtualMachineImportSpec"));
        assert_eq!(
            spec.file_items,
            vec![FileItem {
                device_id: "/single/disk:0".into(),
                path: "single-disk1.vmdk".into(),
                size: Some(123456),
                create: false,
                cim_type: Some(17),
            }]
        );
        assert_eq!(spec.warnings.len(), 1);
        assert_eq!(spec.warnings[0].fault_type, "OvfAttribute");
        assert!(spec.errors.is_empty());

        let mut w = XmlWriter::new();
        w.element("spec", &spec.spec);
        let out = w.finish();
        assert!(
            out.starts_with("<spec xsi:type=\"VirtualMachineImportSpec\"><configSpec>"),
            "{out}"
        );
        assert!(out.contains("<device xsi:type=\"VirtualDisk\"><key>2</key><backing xsi:type=\"VirtualDiskFlatVer2BackingInfo\"><fileName></fileName>"), "{out}");
        assert!(
            out.contains("<unitNumber>0</unitNumber>"),
            "zero values are kept: {out}"
        );
        assert!(
            out.contains("<value xsi:type=\"xsd:string\">v</value>"),
            "{out}"
        );
        assert!(
            out.contains("<resPoolEntity type=\"ResourcePool\">resgroup-1</resPoolEntity></spec>")
        );
        assert!(
            !out.contains("XMLSchema-instance"),
            "no stray prefix: {out}"
        );
        // Inside a real envelope it is well-formed and resolves to the same types.
        let env = crate::vsphere::soap::envelope(
            "ImportVApp",
            &MoRef::new("ResourcePool", "resgroup-1"),
            &out,
        );
        let root = Element::parse(env.as_bytes()).unwrap();
        let sent = root.children[0].children[0].child("spec").unwrap();
        assert_eq!(sent.xsi_type(), Some("VirtualMachineImportSpec"));
        assert_eq!(
            sent.path(&["configSpec", "extraConfig", "value"])
                .unwrap()
                .xsi_type
                .as_ref()
                .unwrap()
                .ns
                .as_deref(),
            Some(crate::vsphere::xml::XSD_NS)
        );
    }

    #[test]
    fn import_spec_errors() {
        let xml = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><CreateImportSpecResponse xmlns="urn:vim25"><returnval><error><fault xsi:type="OvfUnsupportedType"><lineNumber>40</lineNumber><name>Item</name></fault><localizedMessage>unsupported ResourceType 99</localizedMessage></error></returnval></CreateImportSpecResponse></soapenv:Body></soapenv:Envelope>"#;
        let spec =
            parse_import_spec(parse_response("CreateImportSpec", xml.as_bytes()).unwrap()).unwrap();
        assert_eq!(spec.errors.len(), 1);
        assert_eq!(
            spec.errors[0].to_string(),
            "OvfUnsupportedType: unsupported ResourceType 99"
        );
        let xml = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><CreateImportSpecResponse xmlns="urn:vim25"><returnval></returnval></CreateImportSpecResponse></soapenv:Body></soapenv:Envelope>"#;
        assert!(
            parse_import_spec(parse_response("CreateImportSpec", xml.as_bytes()).unwrap()).is_err()
        );
    }

    /// A ready lease's info as vcsim returns it: `*` host, https even over http, empty
    /// thumbprint, percent-encoded ticket.
    #[test]
    fn lease_info() {
        let xml = r#"<val xmlns="urn:vim25" xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="HttpNfcLeaseInfo"><lease type="HttpNfcLease">session[5f2c]lease-1</lease><entity type="VirtualMachine">vm-69</entity><deviceUrl><key>/vm-69/disk:0</key><importKey>/single/disk:0</importKey><url>https://*/nfc/session%5B5f2c%5Dlease-1/disk-0.vmdk</url><sslThumbprint></sslThumbprint><disk>true</disk></deviceUrl><totalDiskCapacityInKB>0</totalDiskCapacityInKB><leaseTimeout>30000</leaseTimeout></val>"#;
        let el = Element::parse(xml.as_bytes()).unwrap();
        let info = LeaseInfo::from_element(&el, |u| rewrite_star_host(u, "http", "127.0.0.1:4444"))
            .unwrap();
        assert_eq!(info.entity, MoRef::new("VirtualMachine", "vm-69"));
        assert_eq!(info.lease_timeout, Some(30000));
        let d = &info.device_urls[0];
        assert_eq!(
            d.url,
            "http://127.0.0.1:4444/nfc/session%5B5f2c%5Dlease-1/disk-0.vmdk"
        );
        assert_eq!(d.ssl_thumbprint, None);
        assert!(d.disk);
        let item = FileItem {
            device_id: "/single/disk:0".into(),
            path: "x".into(),
            size: None,
            create: false,
            cim_type: None,
        };
        assert_eq!(info.device_url_for(&item), Some(d));
    }

    #[test]
    fn tap_keeps_the_body_error() {
        struct Fails;
        impl Read for Fails {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "chunk 3 failed",
                ))
            }
        }
        let slot = Arc::new(Mutex::new(None));
        let mut t = Tap {
            inner: Fails,
            error: slot.clone(),
        };
        let mut b = [0u8; 4];
        let e = t.read(&mut b).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        let kept = slot.lock().unwrap().take().unwrap();
        assert_eq!(kept.to_string(), "chunk 3 failed");
    }
}
