//! Exporting straight from the customer's vCenter, with no staging copy: each disk is
//! downloaded from an ExportVm lease and streamed into the encryption pipeline; the OVF
//! descriptor comes from CreateDescriptor with the sizes actually downloaded, and a `.mf` is
//! written for it.
//!
//! Why the shape: NFC downloads cannot restart in the middle, so the unit of resume is the
//! disk: finished disks are recorded in the journal (their digests sealed there for the
//! `.mf`), and a rerun exports the VM again from the first unfinished disk.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use odt_format::io::nasfile::{encrypt_file, encrypt_unsized, Plaintext};
use odt_format::job::journal::Journal;
use odt_format::job::layout::{stream_name, Layout};
use odt_format::job::manifest::{FileEntry, Target, VmEntry};
use odt_format::job::writer::ActiveJob;
use odt_format::ovf::{parse_descriptor, validate_file_name, DigestAlg, Mf, MfEntry};
use odt_format::progress::VmWork;
use odt_vmware::vsphere::client::{Client, MoRef};
use odt_vmware::vsphere::export::{
    create_descriptor, export_vm, lease_manifest, request_sha256_manifest, OvfFile,
};
use odt_vmware::vsphere::nfc::{set_lease_percent, DeviceUrl, Direction, Lease, LeaseGuard};
use rand::rngs::OsRng;
use sha1::Digest as _;

use crate::input::{summary, Ctx, Input};

/// How long to wait for an export lease.
const LEASE_READY_TIMEOUT: Duration = Duration::from_secs(600);
/// Lease renewal period, independent of download progress.
const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// A VM to export from vCenter.
#[derive(Clone, Debug)]
pub struct VcVm {
    /// The vCenter URL (no credentials).
    pub vcenter: String,
    /// VM name.
    pub name: String,
    /// Its moref.
    pub moref: MoRef,
    /// `config.changeVersion`: a rerun against a changed VM is another job.
    pub change_version: String,
    /// `summary.storage.committed`: bounds the download sizes, for the space check.
    pub committed_bytes: u64,
}

/// A logged-in source vCenter.
pub struct VcenterSource {
    /// The session.
    pub client: Client,
    /// Limit the search to this datacenter.
    pub datacenter: Option<String>,
}

impl VcenterSource {
    /// Resolves SOURCE arguments (VM names, globs with `*` and `?`, or inventory paths such as
    /// `DC0/vm/web-01`) to powered-off VMs. Every VM that is powered on is named in one
    /// refusal.
    pub fn resolve(&self, sources: &[(PathBuf, Target)]) -> Result<Vec<(VcVm, Target)>> {
        let root = match &self.datacenter {
            Some(dc) => self.client.find_by_inventory_path(dc)?.with_context(|| {
                format!("no datacenter {dc:?} in vCenter {}", self.client.url())
            })?,
            None => self.client.service_content().root_folder.clone(),
        };
        let all = self
            .client
            .retrieve_in(
                &root,
                "VirtualMachine",
                &[
                    "name",
                    "runtime.powerState",
                    "config.changeVersion",
                    "summary.storage.committed",
                ],
            )
            .context("list the VMs of the source vCenter")?;
        let mut out: Vec<(VcVm, Target)> = vec![];
        let mut powered_on = vec![];
        for (pattern, target) in sources {
            let pat = pattern.to_string_lossy();
            let matches: Vec<_> = if pat.contains('/') {
                let m = self.client.find_by_inventory_path(&pat)?;
                all.iter().filter(|o| m.as_ref() == Some(&o.obj)).collect()
            } else {
                all.iter()
                    .filter(|o| glob(&pat, o.text("name").unwrap_or_default()))
                    .collect()
            };
            if matches.is_empty() {
                let mut names: Vec<&str> = all.iter().filter_map(|o| o.text("name")).collect();
                names.sort();
                let hint = odt_cli::suggest::did_you_mean(&pat, names.iter().copied());
                names.truncate(12);
                bail!(
                    "no VM in vCenter {} matches {pat:?}{hint} (VMs there include: {})",
                    self.client.url(),
                    names.join(", ")
                );
            }
            for o in matches {
                let name = o.text("name").unwrap_or_default().to_owned();
                if o.text("runtime.powerState") != Some("poweredOff") {
                    powered_on.push(format!(
                        "{name} ({})",
                        o.text("runtime.powerState").unwrap_or("unknown")
                    ));
                    continue;
                }
                if out.iter().any(|(v, _)| v.moref == o.obj) {
                    continue;
                }
                out.push((
                    VcVm {
                        vcenter: self.client.url().to_owned(),
                        name,
                        moref: o.obj.clone(),
                        change_version: o
                            .text("config.changeVersion")
                            .unwrap_or_default()
                            .to_owned(),
                        committed_bytes: o.number("summary.storage.committed").unwrap_or(0),
                    },
                    target.clone(),
                ));
            }
        }
        if !powered_on.is_empty() {
            bail!(
                "refusing to export VMs that are not powered off (their disks are changing): {}. \
                 Shut them down, then rerun.",
                powered_on.join(", ")
            );
        }
        Ok(out)
    }

    /// Exports one VM into `dir`; returns its manifest entry and the bytes downloaded.
    fn export(
        &self,
        cx: &mut Ctx<'_>,
        vm: &VcVm,
        target: &Target,
        dir: String,
    ) -> Result<(VmEntry, u64)> {
        let client = &self.client;
        let lease =
            export_vm(client, &vm.moref).with_context(|| format!("ExportVm {}", vm.name))?;
        let nfc = LeaseGuard::ready(lease, Direction::Export, LEASE_READY_TIMEOUT, KEEP_ALIVE)
            .map_err(|e| {
                anyhow!(e).context(format!(
                    "the export lease of {} did not become ready",
                    vm.name
                ))
            })?;
        let disks: Vec<DeviceUrl> = nfc
            .info()
            .device_urls
            .iter()
            .filter(|d| d.disk && d.target_id.is_some())
            .cloned()
            .collect();
        // With SHA-256 in the server's manifest, the digest computed for the .mf is enough to
        // check the download; otherwise SHA-1 is computed too.
        let keys: Vec<String> = disks.iter().map(|d| d.key.clone()).collect();
        let server_sha256 = request_sha256_manifest(client, nfc.lease(), &keys).unwrap_or(false);
        let got = match download_disks(cx, &nfc, vm, &disks, &dir, !server_sha256) {
            Ok(got) => got,
            Err(e) => {
                let _ = nfc.abort(&format!("{e:#}"));
                return Err(e);
            }
        };
        if let Some(e) = nfc.keep_alive_error() {
            let _ = nfc.abort(&e.to_string());
            return Err(anyhow!(e)).context("keeping the export lease alive failed");
        }
        if let Some(mismatch) = check_server_manifest(client, nfc.lease(), &got.reported, &vm.name)?
        {
            let _ = nfc.abort("digest mismatch");
            bail!(mismatch);
        }
        nfc.complete()
            .with_context(|| format!("HttpNfcLeaseComplete for {}", vm.name))?;
        self.finish_vm(cx, vm, target, dir, got)
    }

    /// After the disks: the descriptor vCenter writes for the sizes downloaded, and the `.mf`
    /// of it all, sealed into `dir`; then the VM's manifest entry.
    fn finish_vm(
        &self,
        cx: &mut Ctx<'_>,
        vm: &VcVm,
        target: &Target,
        dir: String,
        mut got: Downloads,
    ) -> Result<(VmEntry, u64)> {
        let descriptor = create_descriptor(&self.client, &vm.moref, &vm.name, &got.ovf_files)
            .with_context(|| format!("CreateDescriptor for {}", vm.name))?;
        let env =
            parse_descriptor(descriptor.as_bytes()).context("the descriptor vCenter wrote")?;
        let base = safe_name(&vm.name, "vm");
        let (desc_name, mf_name) = (format!("{base}.ovf"), format!("{base}.mf"));
        got.mf.entries.insert(
            0,
            MfEntry {
                alg: DigestAlg::Sha256,
                file: desc_name.clone(),
                digest: DigestAlg::Sha256.digest(descriptor.as_bytes()),
            },
        );
        let mut small = vec![];
        for (name, content) in [
            (desc_name.clone(), descriptor.into_bytes()),
            (mf_name.clone(), got.mf.to_bytes()),
        ] {
            let spec = cx.spec(&dir, &name, content.len() as u64);
            cx.progress
                .start(&format!("{}: {name}", vm.name), content.len() as u64);
            let entry = encrypt_file(
                &spec,
                cx.job.key(),
                None,
                Plaintext {
                    reader: &mut &content[..],
                    path: Path::new(&name),
                    hash: &mut |_| {},
                },
                &|d| cx.progress.set(d),
                cx.write,
                &mut OsRng,
            )?;
            cx.progress.finish();
            cx.done(stream_name(&dir, &name), &entry)?;
            small.push(entry);
        }
        small.extend(got.files);
        // The descriptor vCenter wrote is the first time its NICs are known.
        crate::jobfile::check_ip(target, Some(crate::input::nic_count(&env)), &vm.name)?;
        let entry = VmEntry {
            name: vm.name.clone(),
            dir,
            source_kind: VCENTER_KIND.into(),
            source_name: vm.name.clone(),
            descriptor: desc_name,
            mf: mf_name,
            target: target.clone(),
            summary: summary(&env, target),
            files: small,
        };
        Ok((entry, got.bytes))
    }
}

/// Downloads the disks of `vm` from its ready export lease into `dir`, up to `cx.streams` at
/// once (each on its own thread and bar; they share the lease and its keep-alive). A disk that
/// fails leaves none of its own bytes behind (an NFC download cannot resume mid-disk), and the
/// caller aborts the lease; disks finished meanwhile stay recorded, so the rerun downloads only
/// the others. The result lists the disks in the lease's order.
fn download_disks(
    cx: &mut Ctx<'_>,
    nfc: &LeaseGuard,
    vm: &VcVm,
    disks: &[DeviceUrl],
    dir: &str,
    sha1: bool,
) -> Result<Downloads> {
    let names: Vec<String> = disks
        .iter()
        .enumerate()
        .map(|(i, d)| disk_file_name(&vm.name, d.target_id.as_deref().unwrap_or_default(), i))
        .collect();
    let downloaded = AtomicU64::new(0);
    let one = |cx: &mut Ctx<'_>, i: usize| -> Result<DiskDone> {
        let disk = Disk {
            nfc,
            vm,
            device: &disks[i],
            name: &names[i],
            dir,
            sha1,
            downloaded: &downloaded,
            percent: nfc.percent(),
        };
        disk.export(cx).inspect_err(|_| {
            // An NFC download cannot resume mid-disk: its bytes count for nothing.
            cx.progress.discard();
            let spec = cx.spec(dir, &names[i], 0);
            let _ = std::fs::remove_file(spec.layout.encrypted(dir, &names[i]));
            let _ = std::fs::remove_file(spec.layout.sums(dir, &names[i]));
        })
    };
    let streams = cx.streams.clamp(1, disks.len().max(1));
    let results = crate::input::each_at_once(cx, disks.len(), streams, &one);
    let mut got = Downloads::default();
    for (i, r) in results.into_iter().enumerate() {
        let done = r.with_context(|| {
            format!(
                "the export lease of {} was aborted; rerun the same command to resume at this disk",
                vm.name
            )
        })?;
        got.add(&disks[i], names[i].clone(), done);
    }
    Ok(got)
}

/// The `source_kind` of a VM exported from vCenter.
const VCENTER_KIND: &str = "vcenter";

/// A VM of a source vCenter, as the run exports it.
pub struct VcInput<'a> {
    /// The vCenter it is in.
    pub source: &'a VcenterSource,
    /// The VM.
    pub vm: VcVm,
}

impl Input for VcInput<'_> {
    fn identity(&self) -> serde_json::Value {
        let v = &self.vm;
        serde_json::json!(["vcenter", v.vcenter, v.moref.value, v.change_version])
    }

    fn source_name(&self) -> String {
        self.vm.name.clone()
    }

    fn same_as(&self, vm: &VmEntry) -> bool {
        vm.source_kind == VCENTER_KIND
    }

    fn space_needed(&self, _: &Layout, dir: &str, resume: Option<&Journal>) -> u64 {
        // The download's size is known only at its end: the VM's committed storage bounds it
        // (streamOptimized VMDKs are compressed).
        let done: u64 = resume
            .map(|j| {
                j.done
                    .iter()
                    .filter(|(k, _)| k.starts_with(&format!("{dir}/")))
                    .map(|(_, e)| e.size)
                    .sum()
            })
            .unwrap_or(0);
        self.vm.committed_bytes.saturating_sub(done)
    }

    fn work(&self, _: &ActiveJob, dir: &str, journal: &Journal) -> VmWork {
        let base = safe_name(&self.vm.name, "vm");
        let done: u64 = journal
            .done
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{dir}/")))
            .map(|(_, e)| e.size)
            .sum();
        // The `.mf` is sealed last: with it the VM is finished. Until then its size is the
        // committed storage (a bound: streamOptimized disks are compressed), corrected when
        // it is done.
        let finished = journal
            .done
            .contains_key(&stream_name(dir, &format!("{base}.mf")));
        VmWork {
            bytes: if finished {
                done
            } else {
                self.vm.committed_bytes.max(done)
            },
            done,
            finished,
        }
    }

    fn export(&self, cx: &mut Ctx<'_>, target: &Target, dir: String) -> Result<(VmEntry, u64)> {
        self.source.export(cx, &self.vm, target, dir)
    }
}

/// What the disks of one VM gave.
#[derive(Default)]
struct Downloads {
    files: Vec<FileEntry>,
    ovf_files: Vec<OvfFile>,
    mf: Mf,
    /// (deviceUrl key, algorithm, digest) of this run's downloads, for the server manifest.
    reported: Vec<(String, &'static str, String)>,
    bytes: u64,
}

impl Downloads {
    fn add(&mut self, d: &DeviceUrl, name: String, done: DiskDone) {
        self.ovf_files.push(OvfFile {
            device_id: d.key.clone(),
            path: name.clone(),
            size: done.entry.size,
        });
        self.mf.entries.push(MfEntry {
            alg: DigestAlg::Sha256,
            file: name,
            digest: done.digest,
        });
        self.files.push(done.entry);
        if let Some(r) = done.reported {
            self.bytes += done.downloaded;
            self.reported.push(r);
        }
    }
}

/// One disk of a VM under export.
struct Disk<'a> {
    /// The export lease, ready.
    nfc: &'a LeaseGuard,
    vm: &'a VcVm,
    device: &'a DeviceUrl,
    name: &'a str,
    dir: &'a str,
    /// Also compute SHA-1, to check against a server manifest without SHA-256.
    sha1: bool,
    /// Bytes downloaded from this lease so far, by every disk.
    downloaded: &'a AtomicU64,
    /// The lease's progress, which the keep-alive reports.
    percent: Arc<AtomicU8>,
}

/// A disk exported: its entry, its plaintext SHA-256, and for one this run downloaded, what
/// to check against the server's manifest and the bytes.
struct DiskDone {
    entry: FileEntry,
    digest: Vec<u8>,
    reported: Option<(String, &'static str, String)>,
    downloaded: u64,
}

impl Disk<'_> {
    /// Downloads the disk into the bundle, or takes it from the journal if an earlier run
    /// finished it.
    fn export(&self, cx: &mut Ctx<'_>) -> Result<DiskDone> {
        let (vm, d, name) = (self.vm, self.device, self.name);
        let stream = stream_name(self.dir, name);
        if let Some(done) = cx.job.finished(&stream) {
            let entry = done.clone();
            let digest = cx.job.open_digest(&stream)?;
            return Ok(DiskDone {
                entry,
                digest,
                reported: None,
                downloaded: 0,
            });
        }
        let spec = cx.spec(self.dir, name, 0);
        // Ctrl-C stops the download at its next read; the caller aborts the lease.
        let mut body = odt_cli::interrupt::Stoppable(
            self.nfc
                .download(d)
                .with_context(|| format!("download {name}"))?,
        );
        let mut sha256 = sha2::Sha256::new();
        let mut sha1 = self.sha1.then(sha1::Sha1::new);
        let progress = cx.progress;
        progress.start(
            &format!("{}: {name}", vm.name),
            d.file_size.unwrap_or(vm.committed_bytes),
        );
        let expected = vm.committed_bytes.max(1);
        let last = std::sync::atomic::AtomicU64::new(0);
        let entry = encrypt_unsized(
            &spec,
            cx.job.key(),
            Plaintext {
                reader: &mut body,
                path: Path::new(&d.url),
                hash: &mut |b| {
                    sha256.update(b);
                    if let Some(h) = sha1.as_mut() {
                        h.update(b);
                    }
                },
            },
            &|n| {
                progress.set(n);
                let delta = n.saturating_sub(last.swap(n, Ordering::Relaxed));
                let all = self.downloaded.fetch_add(delta, Ordering::Relaxed) + delta;
                set_lease_percent(&self.percent, (all * 100) / expected, name);
            },
            cx.write,
            &mut OsRng,
        )
        .with_context(|| format!("download {name} of {} into the bundle", vm.name))?;
        progress.finish();
        let digest = sha256.finalize().to_vec();
        let reported = match sha1 {
            Some(h) => (d.key.clone(), "sha1", hex::encode(h.finalize())),
            None => (d.key.clone(), "sha256", hex::encode(&digest)),
        };
        cx.job.seal_digest(&stream, &digest)?;
        cx.done(stream, &entry)?;
        Ok(DiskDone {
            downloaded: entry.size,
            entry,
            digest,
            reported: Some(reported),
        })
    }
}

/// Compares the SHA-1s computed while downloading with HttpNfcLeaseGetManifest, where the
/// server has it: the mismatch, if any, for the caller to abort the lease with.
fn check_server_manifest(
    client: &Client,
    lease: &Lease,
    ours: &[(String, &str, String)],
    vm: &str,
) -> Result<Option<String>> {
    if ours.is_empty() {
        return Ok(None);
    }
    let Some(theirs) = lease_manifest(client, lease).context("HttpNfcLeaseGetManifest")? else {
        return Ok(None);
    };
    for (key, alg, ours) in ours {
        let Some(t) = theirs.iter().find(|t| &t.key == key) else {
            continue;
        };
        let theirs = match (*alg, &t.checksum) {
            ("sha256", Some((ty, c))) if ty == "sha256" => c,
            ("sha1", _) if !t.sha1.is_empty() => &t.sha1,
            _ => continue,
        };
        if theirs != ours {
            return Ok(Some(format!(
                "{vm}: disk {key} downloaded with {alg} {ours} but vCenter's manifest says {theirs}: \
                 the download was corrupted; rerun to export it again"
            )));
        }
    }
    Ok(None)
}

/// The package name of a downloaded disk: `<vm>-<targetId>` as govc writes it.
fn disk_file_name(vm: &str, target_id: &str, index: usize) -> String {
    let base = safe_name(vm, "vm");
    let candidate = if target_id.starts_with(&base) {
        target_id.to_owned()
    } else {
        format!("{base}-{target_id}")
    };
    if validate_file_name(&candidate).is_ok() {
        candidate
    } else {
        format!("{base}-disk{index}.vmdk")
    }
}

/// `name` if it is a safe package file name stem, else `fallback`.
fn safe_name(name: &str, fallback: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() || validate_file_name(&cleaned).is_err() || cleaned.starts_with('.') {
        fallback.to_owned()
    } else {
        cleaned
    }
}

/// Shell-style matching with `*` and `?`.
pub fn glob(pattern: &str, name: &str) -> bool {
    fn m(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => m(&p[1..], n) || (!n.is_empty() && m(p, &n[1..])),
            (Some('?'), Some(_)) => m(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    m(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_names() {
        assert!(glob("web-*", "web-01"));
        assert!(glob("db?", "db1"));
        assert!(!glob("db?", "db12"));
        assert!(glob("exact", "exact"));
        assert_eq!(disk_file_name("web", "disk-0.vmdk", 0), "web-disk-0.vmdk");
        assert_eq!(
            disk_file_name("web", "web-disk-0.vmdk", 0),
            "web-disk-0.vmdk"
        );
        assert_eq!(safe_name("my vm/../x", "vm"), "my_vm_.._x");
        assert_eq!(safe_name("..", "vm"), "vm");
    }
}
