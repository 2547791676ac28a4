//! HttpNfcLease: the lease through which vCenter takes a VM's files in (ImportVApp) or hands
//! them out (ExportVm), and the one guard that owns its lifecycle.
//!
//! A lease must be waited for, renewed while bytes flow (a real lease times out after about
//! 5 minutes without `HttpNfcLeaseProgress`, however long one disk takes), and ended exactly
//! once: completed, or aborted so that vCenter discards what was half made. [`LeaseGuard`]
//! does all of it for both directions: [`LeaseGuard::ready`] waits and starts the keep-alive
//! thread, [`LeaseGuard::upload`] and [`LeaseGuard::download`] move the bytes,
//! [`LeaseGuard::complete`] ends it, and [`LeaseGuard::abort`] (or dropping the guard on any
//! other path: an early `?`, a panic) aborts it and, for an import, destroys the half-made VM,
//! which vcsim keeps after an abort and vCenter may still be removing.
//!
//! [`Lease`], [`KeepAlive`], [`upload`] and [`download`] are the steps the guard is made of,
//! public for tests that drive a lease by hand.

use std::io::Read;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::client::{Client, ObjectContent};
use super::error::{Result, VimError};
use super::soap::{system_error_fault, LocalizedFault};
use super::task::destroy_vm;
use super::types::{FileItem, MoRef};
use super::xml::{Element, XmlWriter};
use crate::wire::{excerpt, read_capped, redact_url};

/// Most bytes of an NFC error reply kept for the message.
const MAX_ERROR_BODY: u64 = 4096;

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

/// An HttpNfcLease handle. Dropping it does nothing on the server: call [`Lease::complete`]
/// or [`Lease::abort`], or let a [`LeaseGuard`] do it.
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

    fn read(&self, props: &[&str]) -> Result<ObjectContent> {
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

/// Stores `percent` (clamped to 99: 100 is for Complete) as a lease's progress, which its
/// keep-alive reports, with an `info` event for `--log-file` each time it reaches another
/// multiple of 5 (`what` says which file). The byte counters of both directions call it.
pub fn set_lease_percent(slot: &AtomicU8, percent: u64, what: &str) {
    let new = percent.min(99) as u8;
    let old = slot.swap(new, Ordering::Relaxed);
    if new / 5 != old / 5 {
        tracing::info!(percent = new, file = %what, "lease progress");
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
    if let Some(cause) = taken {
        return Err(VimError::Body {
            url: redact_url(&target.url),
            cause,
        });
    }
    let resp = result.map_err(|e| client.transfer_error(&target.url, e))?;
    let status = resp.status().as_u16();
    if matches!(status, 200 | 201) {
        return Ok(());
    }
    Err(http_error(&target.url, status, resp))
}

/// Starts downloading one device's file of a ready export lease; the returned reader streams
/// the body. Sent once ([`Call::NfcDownload`](crate::wire::Call::NfcDownload)): the exporter
/// resumes at the disk that failed on a rerun.
pub fn download(client: &Client, target: &DeviceUrl) -> Result<Box<dyn Read + Send>> {
    if let Some(tp) = &target.ssl_thumbprint {
        let _ = client.trust_thumbprint(tp);
    }
    let (http, _) = client.transfer_http()?;
    let resp = http
        .get(&target.url)
        .header(
            reqwest::header::ACCEPT,
            "application/x-vnd.vmware-streamVmdk",
        )
        .send()
        .map_err(|e| client.transfer_error(&target.url, e))?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(http_error(&target.url, status, resp));
    }
    Ok(Box::new(resp))
}

/// The error for an NFC reply that is not a success, with an excerpt of its body.
fn http_error(url: &str, status: u16, resp: reqwest::blocking::Response) -> VimError {
    let body = read_capped(resp, MAX_ERROR_BODY).unwrap_or_default();
    VimError::Http {
        url: redact_url(url),
        status,
        body: excerpt(&body),
    }
}

/// Which way the bytes of a lease flow, which decides what an abort must undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// ImportVApp: the VM exists from the start; an abort also destroys it.
    Import,
    /// ExportVm: nothing on the server to undo besides the lease.
    Export,
}

/// Why the guard aborts a lease nobody completed or aborted.
const DROPPED: &str = "odt stopped before the transfer finished";

/// A ready lease, kept alive until it is completed or aborted. Dropping it without
/// [`LeaseGuard::complete`] aborts the lease (and, for an import, destroys the VM), so no
/// early return leaves a lease running or a half-made VM behind.
#[derive(Debug)]
pub struct LeaseGuard {
    lease: Lease,
    info: LeaseInfo,
    direction: Direction,
    /// The keep-alive's percentage, shared with whatever counts the bytes.
    percent: Arc<AtomicU8>,
    /// `None` once the lease was completed or aborted.
    keep: Option<KeepAlive>,
}

impl LeaseGuard {
    /// Waits until `lease` is ready (at most `timeout`) and starts renewing it every
    /// `keep_alive` (5–10 s is right). A lease that does not become ready, or whose
    /// keep-alive cannot start, is aborted with the reason before the error is returned.
    pub fn ready(
        lease: Lease,
        direction: Direction,
        timeout: Duration,
        keep_alive: Duration,
    ) -> Result<LeaseGuard> {
        let ready = lease.wait_ready(timeout).and_then(|info| {
            let keep = lease.keep_alive(keep_alive)?;
            Ok((info, keep))
        });
        match ready {
            Ok((info, keep)) => Ok(LeaseGuard {
                lease,
                info,
                direction,
                percent: keep.percent(),
                keep: Some(keep),
            }),
            Err(e) => {
                let _ = lease.abort(&e.to_string());
                Err(e)
            }
        }
    }

    /// The lease's info: for an import the new VM and the upload URLs, for an export the
    /// disks to download.
    pub fn info(&self) -> &LeaseInfo {
        &self.info
    }

    /// The lease, for the calls beside the transfer (the export's manifest).
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// The percentage the next renewal reports, shared with whatever counts the bytes.
    pub fn percent(&self) -> Arc<AtomicU8> {
        self.percent.clone()
    }

    /// The error of the latest renewal, if it failed (it is retried on the next tick).
    pub fn keep_alive_error(&self) -> Option<VimError> {
        self.keep.as_ref().and_then(KeepAlive::take_error)
    }

    /// Uploads one file of an import (see [`upload`]).
    pub fn upload<R: Read + Send + 'static>(
        &self,
        target: &DeviceUrl,
        body: R,
        len: u64,
        create: bool,
    ) -> Result<()> {
        upload(&self.lease.client, target, body, len, create)
    }

    /// Starts downloading one disk of an export (see [`download`]).
    pub fn download(&self, target: &DeviceUrl) -> Result<Box<dyn Read + Send>> {
        download(&self.lease.client, target)
    }

    /// HttpNfcLeaseComplete, after the keep-alive stopped: the transfer succeeded. The guard is
    /// spent either way: if completing fails, the lease is left to vCenter (an import's
    /// caller knows the VM and removes it on its rerun).
    pub fn complete(mut self) -> Result<()> {
        self.stop_keep_alive();
        self.lease.complete()
    }

    /// Aborts the lease with `reason` (what the server records), after the keep-alive
    /// stopped; an abort that fails is not an error (the lease may already be gone). For an
    /// import, then destroys the half-made VM: the result is that clean-up's.
    pub fn abort(mut self, reason: &str) -> Result<()> {
        self.end(reason)
    }

    fn end(&mut self, reason: &str) -> Result<()> {
        self.stop_keep_alive();
        let _ = self.lease.abort(reason);
        match self.direction {
            Direction::Import => destroy_vm(&self.lease.client, &self.info.entity),
            Direction::Export => Ok(()),
        }
    }

    fn stop_keep_alive(&mut self) {
        if let Some(k) = self.keep.take() {
            k.stop();
        }
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if self.keep.is_some() {
            let _ = self.end(DROPPED);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::client::rewrite_star_host;

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
