//! Deploying the job's VMs into vCenter: for each VM, CreateImportSpec with every OVF network
//! mapped to "VM Network", ImportVApp, then each file streamed NAS → decrypt → `.mf` check →
//! NFC upload, with the lease kept alive on a timer. Any failure after ImportVApp aborts the
//! lease and removes the half-made VM, so a rerun starts clean.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use odt_format::crypto::keys::DataKey;
use odt_format::job::layout::Layout;
use odt_format::job::manifest::{JobManifest, VmEntry};
use odt_format::job::mounted::Mounted;
use odt_format::job::reader::{decrypt_small, CheckedReader, DecryptReader};
use odt_format::ovf::{parse_descriptor, Mf};
use odt_format::progress::Progress;
use odt_vmware::vsphere::client::{Client, MoRef};
use odt_vmware::vsphere::deploy::{create_import_spec, import_vapp, ImportSpec};
use odt_vmware::vsphere::inventory::Placement;
use odt_vmware::vsphere::nfc::{set_lease_percent, Direction, LeaseGuard};
use odt_vmware::vsphere::task::{destroy_vm, reconfigure_extra_config};
use odt_vmware::vsphere::FileItem;
use serde::Serialize;

use crate::journal::{SharedJournal, VmState};
use crate::plan::{OtherManifest, TargetFacts, VM_NETWORK};

/// extraConfig key holding the job id on every VM the importer finished.
pub const MARK_JOB: &str = "odt.job";
/// extraConfig key holding the VM's bundle dir.
pub const MARK_VM: &str = "odt.vm";
/// extraConfig key holding the SHA-256 of the signed manifest bytes the VM was deployed
/// from: a manifest re-signed under the same job id is not the job that deployed it.
pub const MARK_MANIFEST: &str = "odt.manifest";
/// How long to wait for a lease to become ready.
const LEASE_READY_TIMEOUT: Duration = Duration::from_secs(600);
/// How often the lease is renewed, independent of transfer progress (a real lease times out
/// after about 5 minutes without it).
const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// Largest descriptor / `.mf` decrypted into memory.
const MAX_SMALL: u64 = 16 << 20;

/// What one deployed VM looks like, for the report.
#[derive(Clone, Debug, Serialize)]
pub struct DeployedVm {
    /// VM (or vApp) name.
    pub name: String,
    /// Bundle dir.
    pub dir: String,
    /// `VirtualMachine:vm-42` (or `VirtualApp:…`).
    pub entity: String,
    /// `deployed` or `skipped (already deployed)`.
    pub outcome: String,
    /// Bytes uploaded by this run.
    pub bytes: u64,
    /// Seconds this VM took.
    pub seconds: f64,
    /// File name → `ALG:hex` of the `.mf` digest its bytes were checked against as they went
    /// into vCenter (in this run, or in the run that deployed it). Files vCenter did not ask
    /// for were not checked and are absent.
    pub verified: BTreeMap<String, String>,
}

/// Reads the facts the plan needs: hosts and their port groups, the datastore, and which of
/// this job's VMs are already there (by marker) or whose names are taken by others.
pub fn gather_facts(
    client: &Client,
    placement: &Placement,
    m: &JobManifest,
    manifest_sha256: &str,
) -> Result<TargetFacts> {
    let (marked, other_manifest): (Vec<Marked>, Vec<Marked>) =
        marked_vms(client, placement, &m.job_id)?
            .into_iter()
            .partition(|v| v.same_manifest(manifest_sha256));
    let mut names = named_entities(client, placement)?;
    names.retain(|n| m.vms.iter().any(|v| &v.name == n));
    let deployed: Vec<String> = marked.iter().map(|v| v.dir.clone()).collect();
    let taken_names = names
        .into_iter()
        .filter(|n| {
            !m.vms
                .iter()
                .any(|v| &v.name == n && deployed.contains(&v.dir))
        })
        .collect();
    Ok(TargetFacts {
        vcenter: client.url().to_owned(),
        datacenter: placement.datacenter.name.clone(),
        compute: placement.compute.name.clone(),
        hosts: placement.hosts.iter().map(|h| h.name.clone()).collect(),
        hosts_lacking_vm_network: placement.hosts_lacking(VM_NETWORK),
        datastore: placement.datastore.name.clone(),
        datastore_free: placement.datastore.free_space,
        datastore_accessible: placement.datastore.accessible,
        deployed,
        taken_names,
        other_manifest: other_manifest
            .into_iter()
            .map(|v| OtherManifest {
                dir: v.dir,
                name: v.name,
                manifest_sha256: v.manifest_sha256.unwrap_or_default(),
            })
            .collect(),
        vcd: None,
    })
}

/// A VM in the datacenter carrying a job's marker.
pub struct Marked {
    /// Its bundle dir (`vm-000`).
    pub dir: String,
    /// Its name in vCenter.
    pub name: String,
    /// It.
    pub moref: MoRef,
    /// The manifest it was deployed from; absent on VMs marked before the marker held it.
    pub manifest_sha256: Option<String>,
}

impl Marked {
    /// Deployed from the manifest of digest `sha`, or from one odt did not record.
    pub fn same_manifest(&self, sha: &str) -> bool {
        self.manifest_sha256.as_deref().is_none_or(|m| m == sha)
    }
}

/// VMs in the datacenter carrying this job's marker, from whichever manifest.
pub fn marked_vms(client: &Client, placement: &Placement, job_id: &str) -> Result<Vec<Marked>> {
    let vms = client
        .retrieve_in(
            &placement.datacenter.moref,
            "VirtualMachine",
            &["name", "config.extraConfig"],
        )
        .context("list the VMs of the datacenter")?;
    let mut out = vec![];
    for o in vms {
        let (mut job, mut dir, mut manifest) = (None, None, None);
        if let Some(ec) = o.get("config.extraConfig") {
            for ov in ec.children("OptionValue") {
                let value = ov.text_of("value").map(str::to_owned);
                match ov.text_of("key") {
                    Some(MARK_JOB) => job = value,
                    Some(MARK_VM) => dir = value,
                    Some(MARK_MANIFEST) => manifest = value,
                    _ => {}
                }
            }
        }
        if let (Some(j), Some(d)) = (job, dir) {
            if j == job_id {
                out.push(Marked {
                    dir: d,
                    name: o.text("name").unwrap_or_default().to_owned(),
                    moref: o.obj.clone(),
                    manifest_sha256: manifest,
                });
            }
        }
    }
    Ok(out)
}

fn named_entities(client: &Client, placement: &Placement) -> Result<Vec<String>> {
    let mut names = vec![];
    for kind in ["VirtualMachine", "VirtualApp"] {
        for o in client.retrieve_in(&placement.datacenter.moref, kind, &["name"])? {
            names.extend(o.text("name").map(str::to_owned));
        }
    }
    Ok(names)
}

/// Everything a deploy needs.
pub struct DeployContext<'a> {
    /// vCenter session.
    pub client: &'a Client,
    /// Where VMs go.
    pub placement: &'a Placement,
    /// The job's units at hand: each file is read from the unit that holds it.
    pub units: &'a Mounted,
    /// Its signed manifest.
    pub manifest: &'a JobManifest,
    /// SHA-256 of the signed manifest bytes, for the marker.
    pub manifest_sha256: &'a str,
    /// Its data key.
    pub key: &'a DataKey,
    /// Progress.
    pub progress: &'a dyn Progress,
}

impl DeployContext<'_> {
    /// The unit directory that holds `vm`'s file `name`. The run deploys only VMs whose
    /// files are all at hand, so a miss means a VM deployed before whose marker is gone.
    fn layout_of(&self, vm: &VmEntry, name: &str) -> Result<&Layout> {
        let u = self.units.unit_of(&vm.dir, name).with_context(|| {
            format!(
                "VM {}: {name} is on {}, which is not mounted: rerun with it",
                vm.name,
                self.units.waiting_text(&self.units.missing_units())
            )
        })?;
        Ok(&u.layout)
    }
}

/// Deploys one VM, or recognises it as done. On failure the lease is aborted and the VM the
/// import created is destroyed before the error is returned.
pub fn deploy_vm(
    cx: &DeployContext<'_>,
    vm: &VmEntry,
    journal: &SharedJournal<'_>,
) -> Result<DeployedVm> {
    let started = Instant::now();
    if let Some(done) = already_deployed(cx, vm, journal)? {
        return Ok(done);
    }
    remove_half_made(cx, vm, journal)?;
    let package = Package::read(cx, vm)?;
    let spec = import_spec(cx, vm, &package)?;
    journal.set(&vm.dir, &vm.name, VmState::Importing, None)?;
    let lease = import_vapp(cx.client, cx.placement, &spec)
        .with_context(|| format!("VM {}: ImportVApp", vm.name))?;
    let nfc = LeaseGuard::ready(lease, Direction::Import, LEASE_READY_TIMEOUT, KEEP_ALIVE)
        .map_err(|e| {
            anyhow!(e).context(format!(
                "VM {}: the import lease did not become ready",
                vm.name
            ))
        })?;
    let entity = nfc.info().entity.clone();
    journal.set(
        &vm.dir,
        &vm.name,
        VmState::Importing,
        Some(moref_text(&entity)),
    )?;
    let total: u64 = spec
        .file_items
        .iter()
        .filter_map(|f| vm.file(&f.path))
        .map(|f| f.size)
        .sum();
    match upload_all(cx, vm, &package.mf, &spec.file_items, &nfc, total) {
        Ok((bytes, uploaded)) => {
            let mut verified = package.verified;
            verified.extend(uploaded);
            nfc.complete()
                .with_context(|| format!("VM {}: HttpNfcLeaseComplete", vm.name))?;
            mark(cx, &entity, &vm.dir)?;
            journal.set_deployed(&vm.dir, &vm.name, moref_text(&entity), verified.clone())?;
            Ok(DeployedVm {
                name: vm.name.clone(),
                dir: vm.dir.clone(),
                entity: moref_text(&entity),
                outcome: "deployed".into(),
                bytes,
                seconds: started.elapsed().as_secs_f64(),
                verified,
            })
        }
        Err(e) => {
            // The VM is removed: what its file under way counted is taken back.
            cx.progress.discard();
            Err(abandon(nfc, e, vm, &entity, journal))
        }
    }
}

/// A VM this job's marker is on is deployed: reported from the journal, nothing is sent.
fn already_deployed(
    cx: &DeployContext<'_>,
    vm: &VmEntry,
    journal: &SharedJournal<'_>,
) -> Result<Option<DeployedVm>> {
    let Some(marked) = marked_vms(cx.client, cx.placement, &cx.manifest.job_id)?
        .into_iter()
        .find(|m| m.dir == vm.dir)
    else {
        return Ok(None);
    };
    // The plan refuses this before any deploy; checked again for a VM marked since.
    if !marked.same_manifest(cx.manifest_sha256) {
        bail!(
            "VM {}: {} in vCenter carries this job's marker but was deployed from another \
             manifest (SHA-256 {}): the NAS does not hold the job that deployed it",
            vm.name,
            marked.name,
            marked.manifest_sha256.unwrap_or_default()
        );
    }
    let moref = marked.moref;
    // For a vApp the marker is on its VMs: report the entity the journal recorded, also
    // when the run that made it stopped between the upload and the journal's last word.
    let rec = journal.vm(&vm.dir);
    let entity = rec
        .as_ref()
        .and_then(|r| r.entity.clone())
        .unwrap_or_else(|| moref_text(&moref));
    let verified = rec.map(|r| r.verified).unwrap_or_default();
    journal.set(&vm.dir, &vm.name, VmState::Deployed, Some(entity.clone()))?;
    Ok(Some(DeployedVm {
        name: vm.name.clone(),
        dir: vm.dir.clone(),
        entity,
        outcome: "skipped (already deployed)".into(),
        bytes: 0,
        seconds: 0.0,
        verified,
    }))
}

/// A previous run died mid-import: its VM has no marker; it is removed before starting again.
fn remove_half_made(
    cx: &DeployContext<'_>,
    vm: &VmEntry,
    journal: &SharedJournal<'_>,
) -> Result<()> {
    let Some(rec) = journal
        .vm(&vm.dir)
        .filter(|r| r.state == VmState::Importing)
    else {
        return Ok(());
    };
    if let Some(entity) = rec.entity.as_deref().and_then(parse_moref) {
        cx.progress.note(&format!(
            "{}: removing the half-made VM {} left by an interrupted run",
            vm.name, entity.value
        ));
        match destroy_vm(cx.client, &entity) {
            Ok(()) => {}
            Err(e) if e.fault_type() == Some("ManagedObjectNotFound") => {}
            Err(e) => {
                return Err(anyhow!(e)).context(format!("remove the half-made VM {}", entity.value))
            }
        }
    }
    journal.clear(&vm.dir)?;
    Ok(())
}

/// The VM's `.mf` and descriptor, decrypted, the descriptor checked against the `.mf`.
struct Package {
    mf: Mf,
    descriptor: Vec<u8>,
    /// The descriptor's `.mf` digest (`ALG:hex`), the first file attested.
    verified: BTreeMap<String, String>,
}

impl Package {
    fn read(cx: &DeployContext<'_>, vm: &VmEntry) -> Result<Package> {
        let small = |name: &str| -> Result<Vec<u8>> {
            let layout = cx.layout_of(vm, name)?;
            Ok(decrypt_small(
                layout,
                cx.manifest,
                cx.key,
                vm,
                name,
                MAX_SMALL,
            )?)
        };
        let mf = Mf::parse(&small(&vm.mf)?).with_context(|| format!("VM {}: its .mf", vm.name))?;
        let descriptor = small(&vm.descriptor)?;
        let entry = mf.get(&vm.descriptor).with_context(|| {
            format!("VM {}: {} has no digest for the descriptor", vm.name, vm.mf)
        })?;
        if entry.alg.digest(&descriptor) != entry.digest {
            bail!(
                "VM {}: the descriptor does not match its .mf digest",
                vm.name
            );
        }
        let verified = BTreeMap::from([(
            vm.descriptor.clone(),
            format!("{}:{}", entry.alg.name(), hex::encode(&entry.digest)),
        )]);
        Ok(Package {
            mf,
            descriptor,
            verified,
        })
    }
}

/// CreateImportSpec with every OVF network mapped to the placeholder port group; vCenter's
/// warnings are shown, its errors refuse the VM.
fn import_spec(cx: &DeployContext<'_>, vm: &VmEntry, package: &Package) -> Result<ImportSpec> {
    let env = parse_descriptor(&package.descriptor)
        .with_context(|| format!("VM {}: OVF descriptor", vm.name))?;
    let vm_network = cx.placement.vm_network_moref(VM_NETWORK).with_context(|| {
        format!(
            "no standard port group \"{VM_NETWORK}\" on the target hosts: run `odt-import plan`"
        )
    })?;
    let network_map: Vec<(String, MoRef)> = env
        .networks
        .iter()
        .map(|n| (n.name.clone(), vm_network.clone()))
        .collect();
    let text =
        std::str::from_utf8(&package.descriptor).context("the OVF descriptor is not UTF-8")?;
    let spec = create_import_spec(cx.client, cx.placement, text, &vm.name, &network_map)
        .with_context(|| format!("VM {}: CreateImportSpec", vm.name))?;
    for w in &spec.warnings {
        cx.progress
            .note(&format!("{}: vCenter warning: {w}", vm.name));
    }
    if let Some(e) = spec.errors.first() {
        bail!("VM {}: vCenter rejected the OVF: {e}", vm.name);
    }
    Ok(spec)
}

/// After a failed upload: the lease is aborted and the half-made VM destroyed (the guard
/// does both); the journal forgets the VM once that worked.
fn abandon(
    nfc: LeaseGuard,
    e: anyhow::Error,
    vm: &VmEntry,
    entity: &MoRef,
    journal: &SharedJournal<'_>,
) -> anyhow::Error {
    let cleanup = nfc.abort(&format!("{e:#}"));
    if cleanup.is_ok() {
        if let Err(j) = journal.clear(&vm.dir) {
            return j;
        }
    }
    match cleanup {
        Ok(()) => e.context(format!(
            "VM {}: upload failed; the lease was aborted and the half-made VM removed",
            vm.name
        )),
        Err(c) => e.context(format!(
            "VM {}: upload failed; the lease was aborted, but removing the half-made VM {} \
             failed too ({c}); a rerun removes it",
            vm.name, entity.value
        )),
    }
}

/// Runs `upload` while this piece's progress is polled from the shared counter `done` (reqwest
/// reads the body on this thread), then reports the last bytes, which a short upload sends
/// before any poll.
fn polled<T>(progress: &dyn Progress, done: &AtomicU64, upload: impl FnOnce() -> T) -> T {
    let start = done.load(Ordering::Relaxed);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let r = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                progress.set(done.load(Ordering::Relaxed) - start);
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let r = upload();
        stop.store(true, Ordering::Relaxed);
        r
    });
    progress.set(done.load(Ordering::Relaxed) - start);
    r
}

fn upload_all(
    cx: &DeployContext<'_>,
    vm: &VmEntry,
    mf: &Mf,
    items: &[FileItem],
    nfc: &LeaseGuard,
    total: u64,
) -> Result<(u64, BTreeMap<String, String>)> {
    let done = Arc::new(AtomicU64::new(0));
    let mut verified = BTreeMap::new();
    for item in items {
        let file = vm.file(&item.path).with_context(|| {
            format!("vCenter wants {:?}, which is not in the bundle", item.path)
        })?;
        let target = nfc
            .info()
            .device_url_for(item)
            .with_context(|| format!("the lease has no upload URL for {:?}", item.path))?;
        let expected = mf
            .get(&file.name)
            .with_context(|| format!("{} has no digest for {}", vm.mf, file.name))?;
        let mut reader = CheckedReader::new(
            DecryptReader::open(cx.layout_of(vm, &file.name)?, cx.manifest, cx.key, vm, file)?,
            expected,
        );
        let proof = reader.verified();
        if file.size == 0 {
            // A sized body of 0 bytes is never read: run the check here.
            reader
                .read(&mut [0u8; 1])
                .map_err(odt_format::job::reader::unwrap_io)?;
        }
        let what = format!("{}: {}", vm.name, file.name);
        cx.progress.start(&what, file.size);
        // Ctrl-C stops the upload at its next read; the caller aborts the lease.
        let counting = odt_cli::interrupt::Stoppable(Counting::new(
            reader,
            done.clone(),
            total,
            nfc.percent(),
            what,
        ));
        let r = polled(cx.progress, &done, || {
            nfc.upload(target, counting, file.size, item.create)
        });
        cx.progress.finish();
        if let Some(e) = nfc.keep_alive_error() {
            return Err(anyhow!(e)).context("keeping the lease alive failed");
        }
        r.map_err(|e| match e {
            odt_vmware::vsphere::error::VimError::Body { cause, .. } => {
                anyhow!(odt_format::job::reader::unwrap_io(cause))
                    .context(format!("reading {} from the NAS", file.name))
            }
            other => anyhow!(other).context(format!("uploading {}", file.name)),
        })?;
        // The server took the whole body; attest it only if the check ran on those bytes.
        let digest = proof.digest().with_context(|| {
            format!(
                "{}: the upload ended before its .mf check ran; it is not trusted",
                file.name
            )
        })?;
        verified.insert(file.name.clone(), digest.to_owned());
    }
    Ok((done.load(Ordering::Relaxed), verified))
}

/// Counts bytes as they are read and keeps the lease percentage current.
struct Counting<R> {
    inner: R,
    done: Arc<AtomicU64>,
    total: u64,
    percent: Arc<AtomicU8>,
    /// The VM and file, for the log's progress events.
    what: String,
}

impl<R> Counting<R> {
    fn new(
        inner: R,
        done: Arc<AtomicU64>,
        total: u64,
        percent: Arc<AtomicU8>,
        what: String,
    ) -> Self {
        Counting {
            inner,
            done,
            total: total.max(1),
            percent,
            what,
        }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let d = self.done.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        set_lease_percent(&self.percent, (d * 100) / self.total, &self.what);
        Ok(n)
    }
}

fn mark(cx: &DeployContext<'_>, entity: &MoRef, dir: &str) -> Result<()> {
    let client = cx.client;
    let entries = vec![
        (MARK_JOB.to_owned(), cx.manifest.job_id.clone()),
        (MARK_VM.to_owned(), dir.to_owned()),
        (MARK_MANIFEST.to_owned(), cx.manifest_sha256.to_owned()),
    ];
    let vms: Vec<MoRef> = if entity.kind == "VirtualApp" {
        client
            .retrieve(std::slice::from_ref(entity), "VirtualApp", &["vm"])?
            .first()
            .map(|o| o.morefs("vm"))
            .unwrap_or_default()
    } else {
        vec![entity.clone()]
    };
    for v in vms {
        reconfigure_extra_config(client, &v, &entries)
            .with_context(|| format!("mark {} as deployed by odt", v.value))?;
    }
    Ok(())
}

fn moref_text(m: &MoRef) -> String {
    format!("{}:{}", m.kind, m.value)
}

fn parse_moref(s: &str) -> Option<MoRef> {
    s.split_once(':').map(|(k, v)| MoRef::new(k, v))
}
