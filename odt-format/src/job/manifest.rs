//! The job manifest (`odt-job.json`) and its Ed25519 signature (`odt-job.json.sig`).
//!
//! The signature covers the manifest file's exact bytes (prefixed by a domain string), never a
//! re-serialisation, so there is no canonicalisation to get wrong: the verifier checks the
//! bytes it read, then parses them. Everything a keyless verifier needs is in the manifest:
//! each file's plaintext size, its encrypted size, its header, and the SHA-256 of its chunk
//! digest list. The manifest is not secret; it holds no plaintext digest (which would let a
//! thief confirm a guess about a disk's content).

use serde::{Deserialize, Serialize};

use crate::crypto::keys::{SigningKey, VerifyingKey};
use crate::crypto::stanza::Stanza;
use crate::crypto::stream::{FileHeader, Geometry};
use crate::error::{FormatError, Result};
use crate::ovf::validate_file_name;

/// The format identifier this crate writes and reads.
pub const FORMAT: &str = "odt-bundle/v1";
/// Domain separation prefix of the signed message.
pub const SIGNATURE_CONTEXT: &[u8] = b"odt-bundle/v1 manifest\0";
/// Largest manifest a reader accepts (64 MiB).
pub const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// Longest package file name a bundle stores, in bytes: the longest name on the NAS is
/// `NAME.odt.sums`, which must fit the 255-byte limit of one path component
/// (docs/FORMAT.md §2).
pub const MAX_STORED_NAME_BYTES: usize = 255 - ".odt.sums".len();

/// Checks that `name` may be stored in a bundle: the package file-name rule
/// ([`validate_file_name`]) and at most [`MAX_STORED_NAME_BYTES`] bytes.
///
/// # Errors
///
/// The file-name rule's error, or [`FormatError::Malformed`] naming the name and the limit.
pub fn validate_stored_name(name: &str) -> Result<()> {
    validate_file_name(name)?;
    if name.len() > MAX_STORED_NAME_BYTES {
        return Err(FormatError::malformed(
            format!("file name {name:?}"),
            format!(
                "is {} bytes; odt stores it as NAME.odt.sums, which must fit in 255 bytes, so \
                 package file names may be at most {MAX_STORED_NAME_BYTES} bytes: rename the \
                 file (and its reference in the descriptor and .mf)",
                name.len()
            ),
        ));
    }
    Ok(())
}

/// Checks a name or other text the tools show (docs/FORMAT.md §2.1): `what` names it in the
/// error, which shows `s` escaped.
pub fn validate_display(what: &str, s: &str) -> std::result::Result<(), String> {
    match crate::text::display_problem(s) {
        None => Ok(()),
        Some(why) => Err(format!(
            "{what} {s:?} {why}; names may not hold control characters (C0, DEL, C1), \
             Unicode bidirectional controls or line separators"
        )),
    }
}

/// The signed description of one job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobManifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// 16 random bytes, hex: binds every stream and stanza to this job.
    pub job_id: String,
    /// RFC 3339 UTC time the job was finished.
    pub created: String,
    /// Program and version that wrote it.
    pub exporter: String,
    /// Key id of the customer's signing key.
    pub signer_key_id: String,
    /// See [`crate::crypto::stanza::key_check`].
    pub key_check: String,
    /// The data key, wrapped for each allowed opener.
    pub stanzas: Vec<Stanza>,
    /// The VMs, in export order.
    pub vms: Vec<VmEntry>,
    /// How many NAS units the job spans, when more than one (docs/FORMAT.md §2.2): each unit
    /// then carries this manifest and its own signed unit index. Absent for a job on one NAS,
    /// so a single-unit manifest has the bytes it had before the field existed, and a reader
    /// older than it refuses a multi-unit job (unknown field) rather than import part of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<u32>,
}

/// Where a VM must land in the cloud.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// vCD organisation.
    pub org: Option<String>,
    /// Org VDC.
    pub vdc: Option<String>,
    /// Org VDC network the NICs connect to.
    pub network: Option<String>,
    /// Catalog (for templates).
    pub catalog: Option<String>,
    /// Land as a vApp template in `catalog` rather than a vApp.
    #[serde(default)]
    pub as_template: bool,
    /// Power the vApp on after import.
    #[serde(default)]
    pub power_on: bool,
    /// How the NICs get their addresses on `network` (absent: [`IpMode::Pool`], what odt
    /// did before the field existed). Skipped when absent, so a manifest that does not use
    /// it has the bytes it had before (docs/FORMAT.md §6, §11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_mode: Option<IpMode>,
    /// For [`IpMode::Manual`]: one IPv4 address per NIC of the entity, in NIC order (the
    /// virtual systems in OVF order, each one's NICs in its hardware section's order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<String>,
    /// The VDC storage profile the VM and its disks are placed on (vCD's `VdcStorageProfile`);
    /// absent: the VDC's default profile. Skipped when absent, so a manifest without it has
    /// the bytes it had before the field existed (docs/FORMAT.md §11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_profile: Option<String>,
}

/// How a VM's NICs get their IP addresses in vCD (`IpAddressAllocationMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpMode {
    /// From the org VDC network's static pool (`POOL`).
    Pool,
    /// From a DHCP server on the network (`DHCP`).
    Dhcp,
    /// The addresses in `ip_addresses` (`MANUAL`).
    Manual,
}

impl IpMode {
    /// Parses `pool`, `dhcp` or `manual` (the job file's and `--ip-mode`'s spelling).
    pub fn parse(s: &str) -> Option<IpMode> {
        match s {
            "pool" => Some(IpMode::Pool),
            "dhcp" => Some(IpMode::Dhcp),
            "manual" => Some(IpMode::Manual),
            _ => None,
        }
    }
}

/// Most addresses one target may list (a VM has at most 10 NICs in vSphere; a vApp a few
/// dozen VMs).
pub const MAX_IP_ADDRESSES: usize = 1024;

/// Checks a target's IP settings on their own (without the OVF): `manual` names at least
/// one address and the other modes none; each address is a dotted IPv4 address written
/// canonically (`10.0.0.5`, not `010.0.0.5`), not unspecified, broadcast, loopback or
/// multicast, and none is listed twice. `nics`, when known, is how many NICs the entity has:
/// `manual` must then list exactly that many. Returns the problem as a sentence.
pub fn check_ip_target(t: &Target, nics: Option<usize>) -> std::result::Result<(), String> {
    let manual = t.ip_mode == Some(IpMode::Manual);
    if !manual {
        return match t.ip_addresses.is_empty() {
            true => Ok(()),
            false => Err("ip_addresses are given but ip_mode is not \"manual\"".into()),
        };
    }
    if t.ip_addresses.is_empty() {
        return Err("ip_mode \"manual\" needs ip_addresses, one per NIC in NIC order".into());
    }
    if t.ip_addresses.len() > MAX_IP_ADDRESSES {
        return Err(format!("more than {MAX_IP_ADDRESSES} ip_addresses"));
    }
    let mut seen = std::collections::HashSet::new();
    for a in &t.ip_addresses {
        let ip = parse_ipv4(a)?;
        if !seen.insert(ip) {
            return Err(format!("IP address {a} is listed twice"));
        }
    }
    match nics {
        Some(n) if n != t.ip_addresses.len() => Err(format!(
            "ip_mode \"manual\" lists {} address(es) but the OVF has {n} NIC(s): give one per NIC, in NIC order",
            t.ip_addresses.len()
        )),
        _ => Ok(()),
    }
}

/// Parses an address of `ip_addresses` (see [`check_ip_target`]).
pub fn parse_ipv4(a: &str) -> std::result::Result<std::net::Ipv4Addr, String> {
    let ip: std::net::Ipv4Addr = a
        .parse()
        .map_err(|_| format!("{a:?} is not an IPv4 address (a.b.c.d)"))?;
    if ip.to_string() != a {
        return Err(format!("{a:?} is not written canonically (write {ip})"));
    }
    if ip.is_unspecified() || ip.is_broadcast() || ip.is_loopback() || ip.is_multicast() {
        return Err(format!("{a} cannot be a NIC's address"));
    }
    Ok(ip)
}

/// A summary of the OVF, readable without any secret so the provider can plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmSummary {
    /// Virtual systems (one for a VM, several for a vApp).
    pub virtual_systems: Vec<String>,
    /// Disk capacities in bytes.
    pub disk_capacities: Vec<u64>,
    /// OVF network names.
    pub networks: Vec<String>,
    /// True for a VirtualSystemCollection.
    pub is_vapp: bool,
    /// NICs per virtual system, in `virtual_systems` order. Written only when the target
    /// sets `ip_mode`, so other manifests keep their bytes; `plan` counts pool addresses
    /// from it (without it, from `networks`, at least one per VM).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nics: Vec<u32>,
}

/// One exported VM (an OVF package).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmEntry {
    /// Display name.
    pub name: String,
    /// Directory under `data/`: `vm-NNN`.
    pub dir: String,
    /// `ovf` (folder) or `ova`.
    pub source_kind: String,
    /// The source's file name (no directories: customer paths stay private).
    pub source_name: String,
    /// File name of the OVF descriptor among `files`.
    pub descriptor: String,
    /// File name of the `.mf` among `files`.
    pub mf: String,
    /// Placement.
    pub target: Target,
    /// What the OVF contains.
    pub summary: VmSummary,
    /// The package's files.
    pub files: Vec<FileEntry>,
}

/// One encrypted file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// The file's name in the OVF package (a validated flat name).
    pub name: String,
    /// Plaintext size.
    pub size: u64,
    /// Size of `data/DIR/NAME.odt`.
    pub encrypted_size: u64,
    /// Number of chunks.
    pub chunks: u64,
    /// The 32-byte header, hex.
    pub header: String,
    /// SHA-256 of `data/DIR/NAME.odt.sums` (the list of per-chunk BLAKE3 digests), hex.
    pub chunk_digests_sha256: String,
}

/// The signature file's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureFile {
    /// Always `ed25519`.
    pub algorithm: String,
    /// Key id of the signer.
    pub key_id: String,
    /// The signer's public key (hex), so a verifier without `--trusted-key` can still check
    /// integrity; only a trusted key proves *who* signed.
    pub public_key: String,
    /// 64-byte signature, hex.
    pub signature: String,
}

impl FileEntry {
    /// The header, parsed.
    pub fn parsed_header(&self, stream: &str) -> Result<FileHeader> {
        let b = hex::decode(&self.header)
            .map_err(|_| FormatError::malformed(stream, "manifest header is not hex"))?;
        FileHeader::parse(&b, stream)
    }
}

impl VmEntry {
    /// Bundle name of a file's stream, `vm-NNN/NAME`: used in keys, AAD and messages.
    pub fn stream_name(&self, file: &FileEntry) -> String {
        format!("{}/{}", self.dir, file.name)
    }
    /// The entry of `name`.
    pub fn file(&self, name: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.name == name)
    }
}

/// The strings of a VM entry besides its name that the tools show, each with its field name.
fn vm_texts(vm: &VmEntry) -> impl Iterator<Item = (&'static str, &str)> {
    let t = &vm.target;
    [
        ("source_name", Some(&vm.source_name)),
        ("target.org", t.org.as_ref()),
        ("target.vdc", t.vdc.as_ref()),
        ("target.network", t.network.as_ref()),
        ("target.catalog", t.catalog.as_ref()),
        ("target.storage_profile", t.storage_profile.as_ref()),
    ]
    .into_iter()
    .filter_map(|(what, s)| s.map(|s| (what, s.as_str())))
    .chain(
        vm.summary
            .virtual_systems
            .iter()
            .map(|s| ("summary.virtual_systems", s.as_str())),
    )
    .chain(
        vm.summary
            .networks
            .iter()
            .map(|s| ("summary.networks", s.as_str())),
    )
}

/// A VM entry's IP target against its own summary (the importer's check of untrusted input).
fn check_vm_ip(vm: &VmEntry) -> std::result::Result<(), String> {
    let s = &vm.summary;
    if !s.nics.is_empty() && s.nics.len() != s.virtual_systems.len() {
        return Err(format!(
            "VM {:?}: summary.nics has {} entries for {} virtual systems",
            vm.name,
            s.nics.len(),
            s.virtual_systems.len()
        ));
    }
    let nics = (!s.nics.is_empty()).then(|| s.nics.iter().map(|&n| n as usize).sum());
    check_ip_target(&vm.target, nics).map_err(|e| format!("VM {:?}: target: {e}", vm.name))
}

/// A named storage profile is a name: not empty, at most [`MAX_TARGET_NAME_BYTES`] bytes.
fn check_storage_profile(vm: &VmEntry) -> std::result::Result<(), String> {
    match &vm.target.storage_profile {
        Some(p) if p.trim().is_empty() || p.len() > MAX_TARGET_NAME_BYTES => Err(format!(
            "VM {:?}: target.storage_profile {p:?} must be a name of 1 to \
             {MAX_TARGET_NAME_BYTES} bytes (leave it out for the VDC's default profile)",
            vm.name
        )),
        _ => Ok(()),
    }
}

/// Longest storage profile name a manifest may name, in bytes (vCD names are at most 256
/// characters; the bound keeps a hostile manifest's names printable in one line).
pub const MAX_TARGET_NAME_BYTES: usize = 1024;

/// `vm-` followed by at least three digits.
pub fn valid_vm_dir(d: &str) -> bool {
    d.strip_prefix("vm-")
        .is_some_and(|n| n.len() >= 3 && n.bytes().all(|b| b.is_ascii_digit()))
}

impl JobManifest {
    /// The job id as bytes.
    pub fn job_id_bytes(&self) -> Result<[u8; 16]> {
        let v = hex::decode(&self.job_id)
            .map_err(|_| FormatError::malformed("manifest", "job_id is not hex"))?;
        v.try_into()
            .map_err(|_| FormatError::malformed("manifest", "job_id must be 16 bytes"))
    }

    /// Serialises (pretty JSON, trailing newline). These bytes are what gets signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("manifest serialises");
        v.push(b'\n');
        v
    }

    /// Parses and checks the structure (names, paths, geometry, stanzas). Signature is separate.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(FormatError::malformed("odt-job.json", "larger than 64 MiB"));
        }
        let m: JobManifest = serde_json::from_slice(bytes).map_err(|e| {
            FormatError::malformed("odt-job.json", format!("not a valid job manifest: {e}"))
        })?;
        m.check()?;
        Ok(m)
    }

    fn check(&self) -> Result<()> {
        let bad = |d: String| Err(FormatError::malformed("odt-job.json", d));
        if self.format != FORMAT {
            return bad(format!(
                "format is {:?}; this odt reads {FORMAT}",
                self.format
            ));
        }
        self.job_id_bytes()?;
        if let Some(n) = self.units {
            let max = crate::job::unit::MAX_UNITS;
            if !(2..=max).contains(&n) {
                return bad(format!(
                    "units is {n}: a job spans 2 to {max} units (left out for one)"
                ));
            }
        }
        if self.key_check.len() != 64 || hex::decode(&self.key_check).is_err() {
            return bad("key_check must be 32 bytes of hex".into());
        }
        if self.stanzas.is_empty() {
            return bad("no key stanzas".into());
        }
        for s in &self.stanzas {
            s.check()?;
        }
        for (what, s) in [("exporter", &self.exporter), ("created", &self.created)] {
            validate_display(what, s).or_else(bad)?;
        }
        let mut dirs = std::collections::HashSet::new();
        for vm in &self.vms {
            validate_display("VM name", &vm.name).or_else(bad)?;
            let shown = vm_texts(vm).try_for_each(|(what, s)| validate_display(what, s));
            shown
                .map_err(|e| format!("VM {:?}: {e}", vm.name))
                .and_then(|()| check_vm_ip(vm))
                .or_else(bad)?;
            check_storage_profile(vm).or_else(bad)?;
            if vm
                .summary
                .disk_capacities
                .iter()
                .try_fold(0u64, |a, &b| a.checked_add(b))
                .is_none()
            {
                return bad(format!(
                    "VM {:?}: its disk capacities add up to more than 2^64 bytes (overflow)",
                    vm.name
                ));
            }
            if !valid_vm_dir(&vm.dir) || !dirs.insert(&vm.dir) {
                return bad(format!(
                    "VM {:?}: bad or duplicate dir {:?}",
                    vm.name, vm.dir
                ));
            }
            check_files(vm)?;
            for (what, n) in [("descriptor", &vm.descriptor), ("mf", &vm.mf)] {
                if vm.file(n).is_none() {
                    return bad(format!(
                        "VM {:?}: its {what} {n:?} is not among its files",
                        vm.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// Total encrypted bytes (data files plus digest lists), saturating: a hostile manifest
    /// cannot make it wrap.
    pub fn encrypted_bytes(&self) -> u64 {
        self.vms
            .iter()
            .flat_map(|v| &v.files)
            .map(|f| f.encrypted_size.saturating_add(f.chunks.saturating_mul(32)))
            .fold(0u64, u64::saturating_add)
    }
}

/// The message a signature covers: the domain string, then the exact bytes.
fn context_message(context: &[u8], bytes: &[u8]) -> Vec<u8> {
    let mut m = context.to_vec();
    m.extend_from_slice(bytes);
    m
}

/// Signs manifest bytes; returns the signature file's bytes.
pub fn sign(key: &SigningKey, manifest_bytes: &[u8]) -> Vec<u8> {
    sign_with_context(key, SIGNATURE_CONTEXT, manifest_bytes)
}

/// Signs `bytes` under a domain-separation `context` (another document type, such as the
/// importer's receipt, so that no signature can be moved between kinds); returns a signature
/// file in the same format as the manifest's.
pub fn sign_with_context(key: &SigningKey, context: &[u8], bytes: &[u8]) -> Vec<u8> {
    let sig = key.sign(&context_message(context, bytes));
    let f = SignatureFile {
        algorithm: "ed25519".into(),
        key_id: key.verifying_key().key_id(),
        public_key: hex::encode(key.verifying_key().to_bytes()),
        signature: hex::encode(sig),
    };
    let mut v = serde_json::to_vec_pretty(&f).expect("serialises");
    v.push(b'\n');
    v
}

/// How a signed document is named in errors, so that each kind reads as itself.
pub struct SignedDoc<'a> {
    /// Its file name (`odt-job.json`).
    pub file: &'a str,
    /// Its signature file's name (`odt-job.json.sig`).
    pub sig_file: &'a str,
    /// What it is, in a sentence ("the manifest").
    pub what: &'a str,
    /// The flag that names the trusted key.
    pub key_flag: &'a str,
    /// The other explanation of a key mismatch.
    pub signer: &'a str,
}

/// Checks a signature file made by [`sign_with_context`] over `bytes` under `context`, with
/// the `trusted` key. Errors name the document as `doc` says.
pub fn verify_with_context(
    bytes: &[u8],
    sig_bytes: &[u8],
    trusted: &VerifyingKey,
    context: &[u8],
    doc: &SignedDoc<'_>,
) -> Result<()> {
    let f: SignatureFile = serde_json::from_slice(sig_bytes).map_err(|e| {
        FormatError::BadSignature(format!(
            "{} is not a valid signature file: {e}",
            doc.sig_file
        ))
    })?;
    if f.algorithm != "ed25519" {
        return Err(FormatError::BadSignature(format!(
            "unsupported algorithm {:?}",
            f.algorithm
        )));
    }
    let sig: [u8; 64] = hex::decode(&f.signature)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| FormatError::BadSignature("signature is not 64 bytes of hex".into()))?;
    if f.key_id != trusted.key_id() {
        return Err(FormatError::BadSignature(format!(
            "{} was signed by key {} but the trusted key is {}: wrong {}, or {}",
            doc.what,
            f.key_id,
            trusted.key_id(),
            doc.key_flag,
            doc.signer
        )));
    }
    if !trusted.verify(&context_message(context, bytes), &sig) {
        return Err(FormatError::BadSignature(format!(
            "{} does not match its signature: {} was altered after signing",
            doc.file, doc.what
        )));
    }
    Ok(())
}

/// The public key embedded in a signature file (integrity only: anyone can embed a key).
pub fn embedded_key(sig_bytes: &[u8]) -> Result<VerifyingKey> {
    let f: SignatureFile = serde_json::from_slice(sig_bytes).map_err(|e| {
        FormatError::BadSignature(format!(
            "odt-job.json.sig is not a valid signature file: {e}"
        ))
    })?;
    let b: [u8; 32] = hex::decode(&f.public_key)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| {
            FormatError::BadSignature("embedded public key is not 32 bytes of hex".into())
        })?;
    VerifyingKey::from_bytes(&b)
}

/// Checks `sig_bytes` over `manifest_bytes` with `trusted`, then parses the manifest.
pub fn verify_signed(
    manifest_bytes: &[u8],
    sig_bytes: &[u8],
    trusted: &VerifyingKey,
) -> Result<JobManifest> {
    verify_with_context(
        manifest_bytes,
        sig_bytes,
        trusted,
        SIGNATURE_CONTEXT,
        &SignedDoc {
            file: "odt-job.json",
            sig_file: "odt-job.json.sig",
            what: "the manifest",
            key_flag: "--trusted-key",
            signer: "the job was not made by the customer you expect",
        },
    )?;
    let m = JobManifest::parse(manifest_bytes)?;
    if m.signer_key_id != trusted.key_id() {
        return Err(FormatError::BadSignature(
            "signer_key_id in the manifest does not match the signer".into(),
        ));
    }
    Ok(m)
}

/// The file entries of one VM: safe, unique names, and sizes, chunk counts and digests that
/// agree with each file's header.
fn check_files(vm: &VmEntry) -> Result<()> {
    let bad = |d: String| Err(FormatError::malformed("odt-job.json", d));
    let mut names = std::collections::HashSet::new();
    for f in &vm.files {
        validate_stored_name(&f.name)
            .map_err(|e| format!("VM {:?}: {e}", vm.name))
            .or_else(bad)?;
        if !names.insert(&f.name) {
            return bad(format!("VM {:?}: file {:?} listed twice", vm.name, f.name));
        }
        let stream = vm.stream_name(f);
        let h = f.parsed_header(&stream)?;
        let g = Geometry {
            plain_size: f.size,
            chunk_size: h.chunk_size() as u64,
        };
        if g.chunks() != f.chunks || g.checked_encrypted_size() != Some(f.encrypted_size) {
            return bad(format!("{stream}: sizes and chunk count disagree"));
        }
        if f.chunk_digests_sha256.len() != 64 || hex::decode(&f.chunk_digests_sha256).is_err() {
            return bad(format!(
                "{stream}: chunk_digests_sha256 must be 32 bytes of hex"
            ));
        }
    }
    Ok(())
}

/// A well-formed manifest for other modules' tests.
#[cfg(test)]
pub(crate) mod tests_support {
    /// One VM of three empty files.
    pub fn small_manifest() -> super::JobManifest {
        super::tests::good()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::{DataKey, Identity};

    /// A well-formed manifest: one VM of three empty files.
    pub(super) fn good() -> JobManifest {
        let key = DataKey::from_bytes([7; 32]);
        let job_id = [1u8; 16];
        let recipient = Identity::from_bytes([3; 32]).recipient();
        let header = hex::encode(FileHeader::new(20, &mut rand::rngs::OsRng).to_bytes());
        let file = |name: &str| FileEntry {
            name: name.into(),
            size: 0,
            encrypted_size: 48,
            chunks: 1,
            header: header.clone(),
            chunk_digests_sha256: "00".repeat(32),
        };
        JobManifest {
            format: FORMAT.into(),
            units: None,
            job_id: hex::encode(job_id),
            created: "2026-01-01T00:00:00Z".into(),
            exporter: "odt-export 0.1.0".into(),
            signer_key_id: "00".repeat(8),
            key_check: crate::crypto::stanza::key_check(&key, &job_id),
            stanzas: vec![Stanza::x25519(
                &key,
                &job_id,
                &recipient,
                &mut rand::rngs::OsRng,
            )],
            vms: vec![VmEntry {
                name: "web".into(),
                dir: "vm-000".into(),
                source_kind: "ovf".into(),
                source_name: "web".into(),
                descriptor: "web.ovf".into(),
                mf: "web.mf".into(),
                target: Target {
                    org: Some("acme".into()),
                    vdc: Some("acme-vdc".into()),
                    network: Some("acme-net".into()),
                    catalog: Some("golden".into()),
                    as_template: false,
                    power_on: false,
                    ..Default::default()
                },
                summary: VmSummary {
                    virtual_systems: vec!["web".into()],
                    disk_capacities: vec![1 << 30],
                    networks: vec!["corp-lan".into()],
                    is_vapp: false,
                    ..Default::default()
                },
                files: vec![file("web.ovf"), file("web.mf"), file("web-disk1.vmdk")],
            }],
        }
    }

    fn refused(m: &JobManifest) -> String {
        match JobManifest::parse(&m.to_bytes()) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_fixture_is_accepted() {
        let m = good();
        assert_eq!(JobManifest::parse(&m.to_bytes()).unwrap(), m);
    }

    /// A manifest without a storage profile has the bytes it had before the field existed (so
    /// old bundles still verify); one with it round-trips; an empty or huge one is refused.
    #[test]
    fn storage_profile_is_optional_and_checked() {
        let m = good();
        let text = String::from_utf8(m.to_bytes()).unwrap();
        assert!(!text.contains("storage_profile"), "{text}");
        let mut with = good();
        with.vms[0].target.storage_profile = Some("gold".into());
        let b = with.to_bytes();
        assert!(String::from_utf8_lossy(&b).contains("\"storage_profile\": \"gold\""));
        assert_eq!(JobManifest::parse(&b).unwrap(), with);
        for bad in [
            String::new(),
            "  ".into(),
            "x".repeat(MAX_TARGET_NAME_BYTES + 1),
        ] {
            let mut m = good();
            m.vms[0].target.storage_profile = Some(bad);
            let e = refused(&m);
            assert!(e.contains("target.storage_profile"), "{e}");
        }
    }

    /// docs/SECURITY.md §S4: names are validated. A control character or a bidi control in
    /// any string the tools show makes the manifest malformed, and the refusal names the field
    /// with the character escaped.
    #[test]
    fn names_with_terminal_controls_are_refused() {
        type Edit = fn(&mut JobManifest, &str);
        let fields: [(&str, Edit); 11] = [
            ("name", |m, s| m.vms[0].name = s.into()),
            ("source_name", |m, s| m.vms[0].source_name = s.into()),
            ("org", |m, s| m.vms[0].target.org = Some(s.into())),
            ("vdc", |m, s| m.vms[0].target.vdc = Some(s.into())),
            ("network", |m, s| m.vms[0].target.network = Some(s.into())),
            ("catalog", |m, s| m.vms[0].target.catalog = Some(s.into())),
            ("storage_profile", |m, s| {
                m.vms[0].target.storage_profile = Some(s.into())
            }),
            ("virtual_systems", |m, s| {
                m.vms[0].summary.virtual_systems[0] = s.into()
            }),
            ("networks", |m, s| m.vms[0].summary.networks.push(s.into())),
            ("exporter", |m, s| m.exporter = s.into()),
            ("created", |m, s| m.created = s.into()),
        ];
        for (field, edit) in fields {
            for bad in [
                "x\x1b]0;t\x07",
                "x\u{9b}2J",
                "x\u{202e}y",
                "x\u{2067}",
                "x\u{200f}",
            ] {
                let mut m = good();
                edit(&mut m, bad);
                let e = refused(&m);
                assert!(e.starts_with("odt-job.json: "), "{field}: {e}");
                assert!(e.contains(field), "{field}: {e}");
                assert!(e.contains("\\u{"), "{field}: {e}");
                assert!(
                    !e.chars().any(crate::text::is_unsafe_char),
                    "{field}: {e:?}"
                );
            }
        }
        let mut m = good();
        m.vms[0].files[2].name = "x\u{202e}kdmv.exe".into();
        let e = refused(&m);
        assert!(e.contains("bidirectional"), "{e}");
        assert!(e.starts_with("odt-job.json: "), "{e}");
    }

    /// docs/SECURITY.md §S6: the exporter never signs a job that verify would reject: names too
    /// long for NAME.odt.sums. Readers refuse them too.
    #[test]
    fn file_names_must_leave_room_for_the_sums_suffix() {
        for n in [1, 100, MAX_STORED_NAME_BYTES] {
            let mut m = good();
            m.vms[0].files[2].name = "d".repeat(n);
            JobManifest::parse(&m.to_bytes()).unwrap_or_else(|e| panic!("{n}: {e}"));
            validate_stored_name(&"d".repeat(n)).unwrap();
        }
        for n in MAX_STORED_NAME_BYTES + 1..=255 {
            let mut m = good();
            m.vms[0].files[2].name = "d".repeat(n);
            let e = refused(&m);
            assert!(e.contains("at most 246 bytes"), "{n}: {e}");
            assert!(validate_stored_name(&"d".repeat(n)).is_err());
        }
        let mut m = good();
        m.vms[0].files[2].name = "d".repeat(256);
        assert!(refused(&m).contains("longer than 255 bytes"));
        assert_eq!(MAX_STORED_NAME_BYTES + ".odt.sums".len(), 255);
    }

    /// docs/SECURITY.md §S6: plan arithmetic never wraps. A VM whose disk capacities sum past
    /// 2^64 bytes is malformed.
    #[test]
    fn capacities_that_overflow_are_refused() {
        let mut m = good();
        m.vms[0].summary.disk_capacities = vec![u64::MAX, 1];
        assert!(refused(&m).contains("overflow"));
        m.vms[0].summary.disk_capacities = vec![u64::MAX];
        JobManifest::parse(&m.to_bytes()).unwrap();
    }

    /// docs/FORMAT.md §6, §11: the IP fields are skipped when absent, so a manifest that does
    /// not use them has the bytes it had before they existed; and one that does round-trips.
    #[test]
    fn ip_fields_are_absent_unless_used() {
        let m = good();
        let text = String::from_utf8(m.to_bytes()).unwrap();
        for key in ["ip_mode", "ip_addresses", "\"nics\""] {
            assert!(!text.contains(key), "{key} written: {text}");
        }
        let mut m = good();
        m.vms[0].target.ip_mode = Some(IpMode::Manual);
        m.vms[0].target.ip_addresses = vec!["10.0.0.5".into()];
        m.vms[0].summary.nics = vec![1];
        let bytes = m.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("\"ip_mode\": \"manual\""), "{text}");
        assert_eq!(JobManifest::parse(&bytes).unwrap(), m);
        m.vms[0].target.ip_mode = Some(IpMode::Dhcp);
        m.vms[0].target.ip_addresses.clear();
        assert!(String::from_utf8(m.to_bytes())
            .unwrap()
            .contains("\"dhcp\""));
        JobManifest::parse(&m.to_bytes()).unwrap();
    }

    /// The importer re-checks the IP target of the untrusted manifest.
    #[test]
    fn bad_ip_targets_are_refused() {
        type Edit = fn(&mut Target, &mut VmSummary);
        let cases: [(Edit, &str); 9] = [
            (
                |t, _| t.ip_mode = Some(IpMode::Manual),
                "needs ip_addresses",
            ),
            (
                |t, _| t.ip_addresses = vec!["10.0.0.5".into()],
                "ip_mode is not",
            ),
            (
                |t, _| {
                    t.ip_mode = Some(IpMode::Manual);
                    t.ip_addresses = vec!["10.0.0.256".into()];
                },
                "not an IPv4 address",
            ),
            (
                |t, _| {
                    t.ip_mode = Some(IpMode::Manual);
                    t.ip_addresses = vec!["10.0.0.05".into()];
                },
                "not an IPv4 address",
            ),
            (
                |t, _| {
                    t.ip_mode = Some(IpMode::Manual);
                    t.ip_addresses = vec!["255.255.255.255".into()];
                },
                "cannot be a NIC's address",
            ),
            (
                |t, _| {
                    t.ip_mode = Some(IpMode::Manual);
                    t.ip_addresses = vec!["10.0.0.5".into(), "10.0.0.5".into()];
                },
                "listed twice",
            ),
            (
                |t, s| {
                    t.ip_mode = Some(IpMode::Manual);
                    t.ip_addresses = vec!["10.0.0.5".into(), "10.0.0.6".into()];
                    s.nics = vec![1];
                },
                "lists 2 address(es) but the OVF has 1 NIC(s)",
            ),
            (
                |t, s| {
                    t.ip_mode = Some(IpMode::Pool);
                    s.nics = vec![1, 1];
                },
                "summary.nics has 2 entries for 1 virtual systems",
            ),
            (
                |t, _| {
                    t.ip_mode = Some(IpMode::Manual);
                    t.ip_addresses = (0..=MAX_IP_ADDRESSES)
                        .map(|i| format!("10.0.{}.{}", i / 250, i % 250 + 1))
                        .collect();
                },
                "more than 1024",
            ),
        ];
        for (edit, why) in cases {
            let mut m = good();
            let vm = &mut m.vms[0];
            edit(&mut vm.target, &mut vm.summary);
            let e = refused(&m);
            assert!(e.contains(why) && e.contains("VM \"web\""), "{why}: {e}");
        }
        // An unknown mode is a parse error.
        let text = String::from_utf8(good().to_bytes()).unwrap().replace(
            "\"power_on\": false",
            "\"power_on\": false, \"ip_mode\": \"static\"",
        );
        assert!(JobManifest::parse(text.as_bytes()).is_err());
    }
}
