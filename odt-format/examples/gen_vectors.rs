//! Generates the `odt-bundle/v1` test vectors in `odt-format/tests/vectors/`.
//!
//! Run it through `scripts/gen-vectors.sh` (or
//! `cargo run -p odt-format --example gen_vectors -- odt-format/tests/vectors`).
//!
//! Every vector is a complete job directory as it would sit on a NAS (`odt-job.json`,
//! `odt-job.json.sig`, `data/vm-000/*.odt` and `*.odt.sums`), holding a tiny fake OVF package
//! (descriptor, SHA256 `.mf`, one "disk" of deterministic bytes), plus `vector.toml`: what a
//! reader must conclude about it, and the secrets and trusted key it needs.
//!
//! The output is deterministic: every random value comes from a ChaCha20 RNG seeded from the
//! vector's name, the `created` time is fixed, and Ed25519 signatures are deterministic, so
//! running the generator twice produces byte-identical files (`scripts/gen-vectors.sh --check`
//! proves it against the committed vectors).
//!
//! The bundles are built with the library's own writer (`nasfile::encrypt_file`, `Stanza`,
//! `manifest::sign`); the damaged ones are then altered the way an attacker or a bad disk would.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use odt_format::crypto::keys::{key_line, DataKey, Identity, SigningKey, SIGN_PUBLIC_PREFIX};
use odt_format::crypto::stanza::{key_check, KdfParams, Stanza};
use odt_format::crypto::stream::{Geometry, TAG_LEN};
use odt_format::io::nasfile::{encrypt_file, Plaintext, StreamSpec, WriteOptions};
use odt_format::job::layout::Layout;
use odt_format::job::manifest::{self, FileEntry, JobManifest, Target, VmEntry, VmSummary, FORMAT};
use odt_format::job::unit::{UnitFile, UnitIndex, UNIT_FORMAT};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

/// Fixed manifest time: the vectors must not depend on when they were made.
const CREATED: &str = "2024-01-01T00:00:00Z";
/// The `exporter` field of every vector's manifest.
const EXPORTER: &str = "odt-format gen_vectors (test vector)";
/// The smallest chunk size a reader accepts (64 KiB), so a few hundred KiB make several chunks.
const CHUNK_LOG2: u8 = 16;
const CHUNK: u64 = 1 << CHUNK_LOG2;
/// The bundle passphrase of every passphrase vector.
const PASSPHRASE: &str = "correct horse battery staple";
/// Argon2id at its accepted minimum (19 MiB, one pass, one lane): tests stay fast.
const FAST_KDF: KdfParams = KdfParams {
    memory_kib: KdfParams::MIN_MEMORY_KIB,
    iterations: 1,
    parallelism: 1,
};
/// The VM's directory under `data/`.
const VM_DIR: &str = "vm-000";
/// The package's file names.
const OVF_NAME: &str = "vector-vm.ovf";
const MF_NAME: &str = "vector-vm.mf";
const DISK_NAME: &str = "vector-vm-disk1.vmdk";
/// Disk sizes: four chunks (three full, one short), and a smaller one for vectors whose
/// point is the manifest, not the data (keeps the whole directory small).
const DISK_4_CHUNKS: u64 = 3 * CHUNK + 1000;
const DISK_2_CHUNKS: u64 = CHUNK + 100;
/// The two-unit job: its VMs' folders, `vm-000` on unit 1 and `vm-001` on unit 2, and their
/// disk size (one short chunk: the point of these vectors is the unit index, not the data).
const UNIT_VM_DIRS: [&str; 2] = ["vm-000", "vm-001"];
const UNIT_DISK: u64 = 1000;
/// The seed label of the two-unit job every unit vector is made from (so `ok-unit-1-of-2`
/// and `ok-unit-2-of-2` carry the same manifest bytes), and of another job's.
const UNIT_JOB: &str = "two-unit job";
const OTHER_UNIT_JOB: &str = "another two-unit job";

/// The names of all vectors, in generation order.
const VECTORS: &[&str] = &[
    "ok-passphrase",
    "ok-x25519",
    "ok-empty-file",
    "ok-exact-chunk",
    "flipped-byte",
    "swapped-chunks",
    "truncated-at-chunk-boundary",
    "dropped-final-chunk-and-relabelled",
    "edited-manifest",
    "wrong-signer",
    "sums-altered",
    "wrong-passphrase",
    "hostile-kdf-params",
    "unknown-format-version",
    "ok-unit-1-of-2",
    "ok-unit-2-of-2",
    "unit-index-of-another-job",
    "unit-index-beside-one-nas-job",
    "unit-index-edited",
    "unit-index-wrong-signer",
    "unit-index-signed-as-manifest",
    "unit-index-lists-unknown-file",
    "unit-index-missing",
    "unit-index-of-other-unit",
    "unit-holds-unlisted-vm",
    "unit-lacks-listed-vm",
];

type Res<T> = Result<T, Box<dyn std::error::Error>>;
/// (stream name, plaintext) of each file of a package, in package order.
type Plaintexts = Vec<(String, Vec<u8>)>;

fn main() {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("odt-format/tests/vectors"));
    if let Err(e) = generate(&out) {
        eprintln!("gen_vectors: {e}");
        std::process::exit(1);
    }
}

/// A ChaCha20 RNG seeded from `label`: each vector (and each fixed key) has its own stream, so
/// adding a vector never changes the others.
fn rng_for(label: &str) -> ChaCha20Rng {
    let seed: [u8; 32] = Sha256::digest(format!("odt-bundle/v1 test vector\0{label}")).into();
    ChaCha20Rng::from_seed(seed)
}

/// The customer's signing key, shared by all vectors (so one trusted key verifies them all).
fn customer_key() -> SigningKey {
    SigningKey::generate(&mut rng_for("customer signing key"))
}

/// Writes every vector under `out` (replacing only the vectors' own directories).
pub(crate) fn generate(out: &Path) -> Res<()> {
    std::fs::create_dir_all(out)?;
    let mut table = vec![];
    for name in VECTORS {
        let dir = out.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        let v = build_vector(name, &dir)?;
        std::fs::write(dir.join("vector.toml"), v.to_toml())?;
        println!("{name}: {}", v.expect);
        table.push((*name, v.expect, v.description));
    }
    std::fs::write(out.join("README.md"), readme(&table))?;
    Ok(())
}

/// What `vector.toml` records.
struct Vector {
    description: String,
    expect: &'static str,
    passphrase: Option<String>,
    identity: Option<[u8; 32]>,
    trusted_key: String,
    error_contains: Option<String>,
    decrypt_file: Option<String>,
    decrypt_error_contains: Option<String>,
    plaintext_sha256: Vec<(String, String)>,
    /// For one unit of a job over several: which unit, of how many, the VMs wholly on it,
    /// and the vectors holding the job's other units.
    unit: Option<UnitExpect>,
}

/// What `vector.toml` says of a unit of a job over several NAS units.
struct UnitExpect {
    unit: u32,
    units: u32,
    vms: Vec<String>,
    mount_with: Vec<String>,
}

impl Vector {
    fn new(description: &str, expect: &'static str) -> Self {
        Vector {
            description: description.into(),
            expect,
            passphrase: None,
            identity: None,
            trusted_key: key_line(
                SIGN_PUBLIC_PREFIX,
                &customer_key().verifying_key().to_bytes(),
            )
            .trim_end()
            .to_owned(),
            error_contains: None,
            decrypt_file: None,
            decrypt_error_contains: None,
            plaintext_sha256: vec![],
            unit: None,
        }
    }

    fn to_toml(&self) -> String {
        let mut s = String::from(
            "# odt-bundle/v1 test vector, generated by scripts/gen-vectors.sh: do not edit.\n\
             # See ../README.md for what each key means.\n",
        );
        let mut kv = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                writeln!(s, "{k} = {}", toml_str(v)).expect("string write");
            }
        };
        kv("description", &Some(self.description.clone()));
        kv("expect", &Some(self.expect.to_owned()));
        kv("passphrase", &self.passphrase);
        kv("identity", &self.identity.map(hex::encode));
        kv("trusted_key", &Some(self.trusted_key.clone()));
        kv("error_contains", &self.error_contains);
        kv("decrypt_file", &self.decrypt_file);
        kv("decrypt_error_contains", &self.decrypt_error_contains);
        if let Some(u) = &self.unit {
            let list = |v: &[String]| {
                let items: Vec<String> = v.iter().map(|x| toml_str(x)).collect();
                format!("[{}]", items.join(", "))
            };
            writeln!(s, "unit = {}", u.unit).expect("string write");
            writeln!(s, "units = {}", u.units).expect("string write");
            writeln!(s, "unit_vms = {}", list(&u.vms)).expect("string write");
            writeln!(s, "mount_with = {}", list(&u.mount_with)).expect("string write");
        }
        if !self.plaintext_sha256.is_empty() {
            s.push_str("\n[plaintext_sha256]\n");
            for (k, v) in &self.plaintext_sha256 {
                writeln!(s, "{} = {}", toml_str(k), toml_str(v)).expect("string write");
            }
        }
        s
    }
}

/// A TOML basic string (only `"` and `\` need escaping in what we write).
fn toml_str(v: &str) -> String {
    assert!(
        !v.chars().any(char::is_control),
        "vector strings are single-line"
    );
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

/// How a job is built.
struct JobSpec {
    disk_len: u64,
    passphrase: bool,
    identity: Option<Identity>,
}

/// A freshly built, validly signed job.
struct Job {
    layout: Layout,
    manifest: JobManifest,
    /// (stream name `vm-000/NAME`, plaintext) in manifest order.
    plaintexts: Plaintexts,
}

impl Job {
    fn disk(&self) -> &FileEntry {
        self.manifest.vms[0]
            .file(DISK_NAME)
            .expect("the disk is listed")
    }
    fn disk_path(&self) -> PathBuf {
        self.layout.encrypted(VM_DIR, DISK_NAME)
    }
    fn disk_sums_path(&self) -> PathBuf {
        self.layout.sums(VM_DIR, DISK_NAME)
    }
    fn disk_rel(&self) -> String {
        Layout::rel_encrypted(VM_DIR, DISK_NAME)
    }
    fn disk_geometry(&self) -> Geometry {
        Geometry {
            plain_size: self.disk().size,
            chunk_size: CHUNK,
        }
    }
    /// Writes `m` and a valid signature by `signer`.
    fn write_signed(&self, m: &JobManifest, signer: &SigningKey) -> Res<()> {
        let bytes = m.to_bytes();
        std::fs::write(self.layout.manifest(), &bytes)?;
        std::fs::write(self.layout.signature(), manifest::sign(signer, &bytes))?;
        Ok(())
    }
    /// Writes `m` and leaves the old signature in place (an attacker without the key).
    fn write_unsigned(&self, m: &JobManifest) -> Res<()> {
        std::fs::write(self.layout.manifest(), m.to_bytes())?;
        Ok(())
    }
    fn plaintext_digests(&self) -> Vec<(String, String)> {
        self.plaintexts
            .iter()
            .map(|(n, p)| (n.clone(), hex::encode(Sha256::digest(p))))
            .collect()
    }
}

/// The fake OVF package: descriptor, `.mf`, disk (in that order, as the exporter lists them).
fn package(disk: Vec<u8>) -> Vec<(&'static str, Vec<u8>)> {
    let size = disk.len();
    let ovf = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References><File ovf:id="file1" ovf:href="{DISK_NAME}" ovf:size="{size}"/></References>
  <DiskSection><Info>disks</Info><Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="1073741824"/></DiskSection>
  <NetworkSection><Info>nets</Info><Network ovf:name="corp-lan"><Description>lan</Description></Network></NetworkSection>
  <VirtualSystem ovf:id="vector-vm">
    <Info>vm</Info><Name>vector-vm</Name>
    <VirtualHardwareSection><Info>hw</Info>
      <Item><rasd:ElementName>disk</rasd:ElementName><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>17</rasd:ResourceType></Item>
      <Item><rasd:Connection>corp-lan</rasd:Connection><rasd:ElementName>nic</rasd:ElementName><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceType>10</rasd:ResourceType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"#
    );
    let mf = format!(
        "SHA256({OVF_NAME})= {}\nSHA256({DISK_NAME})= {}\n",
        hex::encode(Sha256::digest(ovf.as_bytes())),
        hex::encode(Sha256::digest(&disk)),
    );
    vec![
        (OVF_NAME, ovf.into_bytes()),
        (MF_NAME, mf.into_bytes()),
        (DISK_NAME, disk),
    ]
}

/// Encrypts the fake package of `disk` as VM folder `dir` of job `job_id` under `layout`
/// with the library's writer; returns the manifest's file entries and (stream name,
/// plaintext) pairs, in package order.
fn encrypt_package(
    layout: &Layout,
    dir: &str,
    job_id: [u8; 16],
    key: &DataKey,
    disk: Vec<u8>,
    rng: &mut ChaCha20Rng,
) -> Res<(Vec<FileEntry>, Plaintexts)> {
    let mut files = vec![];
    let mut plaintexts = vec![];
    for (file, plain) in package(disk) {
        let stream = StreamSpec {
            layout: layout.clone(),
            dir: dir.into(),
            name: file.into(),
            job_id,
            plain_size: plain.len() as u64,
            chunk_log2: CHUNK_LOG2,
        };
        let entry = encrypt_file(
            &stream,
            key,
            None,
            Plaintext {
                reader: &mut &plain[..],
                path: Path::new(file),
                hash: &mut |_| {},
            },
            &|_| {},
            WriteOptions {
                workers: 1,
                checkpoint_bytes: u64::MAX,
            },
            rng,
        )?;
        files.push(entry);
        plaintexts.push((stream.stream_name(), plain));
    }
    Ok((files, plaintexts))
}

/// The manifest entry of VM `name` in folder `dir`, holding `files` of the fake package.
fn vm_entry(name: &str, dir: &str, files: Vec<FileEntry>) -> VmEntry {
    VmEntry {
        name: name.into(),
        dir: dir.into(),
        source_kind: "ovf".into(),
        source_name: OVF_NAME.into(),
        descriptor: OVF_NAME.into(),
        mf: MF_NAME.into(),
        target: Target {
            org: Some("acme".into()),
            vdc: Some("acme-vdc".into()),
            network: Some("acme-net".into()),
            catalog: None,
            as_template: false,
            power_on: false,
            ..Default::default()
        },
        summary: VmSummary {
            virtual_systems: vec!["vector-vm".into()],
            disk_capacities: vec![1 << 30],
            networks: vec!["corp-lan".into()],
            is_vapp: false,
            ..Default::default()
        },
        files,
    }
}

/// The manifest of job `job_id` (data key `key`) signed by the customer's key.
fn job_manifest(
    job_id: [u8; 16],
    key: &DataKey,
    stanzas: Vec<Stanza>,
    vms: Vec<VmEntry>,
    units: Option<u32>,
) -> JobManifest {
    JobManifest {
        format: FORMAT.into(),
        units,
        job_id: hex::encode(job_id),
        created: CREATED.into(),
        exporter: EXPORTER.into(),
        signer_key_id: customer_key().verifying_key().key_id(),
        key_check: key_check(key, &job_id),
        stanzas,
        vms,
    }
}

/// Builds a complete, validly signed job in `root` with the library's writer.
fn build_job(name: &str, root: &Path, spec: JobSpec) -> Res<Job> {
    let mut rng = rng_for(name);
    let mut job_id = [0u8; 16];
    rng.fill_bytes(&mut job_id);
    let key = DataKey::generate(&mut rng);
    let mut stanzas = vec![];
    if spec.passphrase {
        let (s, _took) =
            Stanza::passphrase(&key, &job_id, PASSPHRASE.as_bytes(), FAST_KDF, &mut rng)?;
        stanzas.push(s);
    }
    if let Some(id) = &spec.identity {
        stanzas.push(Stanza::x25519(&key, &job_id, &id.recipient(), &mut rng));
    }
    let mut disk = vec![0u8; spec.disk_len as usize];
    rng.fill_bytes(&mut disk);

    let layout = Layout::new(root);
    let (files, plaintexts) = encrypt_package(&layout, VM_DIR, job_id, &key, disk, &mut rng)?;
    let vms = vec![vm_entry("vector-vm", VM_DIR, files)];
    let job = Job {
        layout,
        manifest: job_manifest(job_id, &key, stanzas, vms, None),
        plaintexts,
    };
    job.write_signed(&job.manifest, &customer_key())?;
    Ok(job)
}

fn passphrase_job(name: &str, root: &Path, disk_len: u64) -> Res<Job> {
    build_job(
        name,
        root,
        JobSpec {
            disk_len,
            passphrase: true,
            identity: None,
        },
    )
}

/// Reads `path`, lets `f` change the bytes, writes them back.
fn edit(path: &Path, f: impl FnOnce(&mut Vec<u8>)) -> Res<()> {
    let mut b = std::fs::read(path)?;
    f(&mut b);
    std::fs::write(path, b)?;
    Ok(())
}

/// The byte range of chunk `i` (ciphertext and tag) in an encrypted file.
fn chunk_range(g: &Geometry, i: u64) -> std::ops::Range<usize> {
    let start = g.chunk_offset(i);
    start as usize..(start + g.plain_len(i) + TAG_LEN as u64) as usize
}

/// Keyless verification's text for damaged chunks of the disk.
fn damaged_chunks_text(job: &Job, chunks: &[u64]) -> String {
    let g = job.disk_geometry();
    let listed: Vec<String> = chunks
        .iter()
        .map(|&i| {
            let r = chunk_range(&g, i);
            format!("{i} (bytes {}..{})", r.start, r.end)
        })
        .collect();
    format!(
        "{}: {} damaged chunk{}: {}",
        job.disk_rel(),
        chunks.len(),
        if chunks.len() == 1 { "" } else { "s" },
        listed.join(", ")
    )
}

fn build_vector(name: &str, dir: &Path) -> Res<Vector> {
    let pass = Some(PASSPHRASE.to_owned());
    let v = match name {
        "ok-passphrase" => {
            let job = passphrase_job(name, dir, DISK_4_CHUNKS)?;
            Vector {
                passphrase: pass,
                plaintext_sha256: job.plaintext_digests(),
                ..Vector::new(
                    "A good job whose key is wrapped for a passphrase (Argon2id m=19 MiB t=1 \
                     p=1); the disk has four 64 KiB chunks, the last one short.",
                    "ok",
                )
            }
        }
        "ok-x25519" => {
            let id = Identity::generate(&mut rng_for("provider identity"));
            let secret = id.secret_bytes();
            let job = build_job(
                name,
                dir,
                JobSpec {
                    disk_len: DISK_4_CHUNKS,
                    passphrase: false,
                    identity: Some(id),
                },
            )?;
            Vector {
                identity: Some(secret),
                plaintext_sha256: job.plaintext_digests(),
                ..Vector::new(
                    "A good job whose key is wrapped only for the provider's X25519 recipient \
                     key (no passphrase stanza): open it with the identity.",
                    "ok",
                )
            }
        }
        "ok-empty-file" => {
            let job = passphrase_job(name, dir, 0)?;
            Vector {
                passphrase: pass,
                plaintext_sha256: job.plaintext_digests(),
                ..Vector::new(
                    "A good job whose disk is a zero-byte file: one empty final chunk (header \
                     and a 16-byte tag).",
                    "ok",
                )
            }
        }
        "ok-exact-chunk" => {
            let job = passphrase_job(name, dir, CHUNK)?;
            Vector {
                passphrase: pass,
                plaintext_sha256: job.plaintext_digests(),
                ..Vector::new(
                    "A good job whose disk is exactly one chunk (65536 bytes): a single full \
                     final chunk, no empty chunk after it.",
                    "ok",
                )
            }
        }
        "flipped-byte" => {
            let job = passphrase_job(name, dir, DISK_4_CHUNKS)?;
            let at = chunk_range(&job.disk_geometry(), 2).start + 1000;
            edit(&job.disk_path(), |b| b[at] ^= 0x01)?;
            Vector {
                passphrase: pass,
                error_contains: Some(damaged_chunks_text(&job, &[2])),
                decrypt_file: Some(format!("{VM_DIR}/{DISK_NAME}")),
                decrypt_error_contains: Some(format!("{}: chunk 2 failed", job.disk_rel())),
                ..Vector::new(
                    &format!("One bit of chunk 2 of the disk is flipped (byte {at} of the file)."),
                    "damaged",
                )
            }
        }
        "swapped-chunks" => {
            let job = passphrase_job(name, dir, DISK_4_CHUNKS)?;
            let g = job.disk_geometry();
            let (r1, r2) = (chunk_range(&g, 1), chunk_range(&g, 2));
            edit(&job.disk_path(), |b| {
                let c1 = b[r1.clone()].to_vec();
                b.copy_within(r2.clone(), r1.start);
                b[r2].copy_from_slice(&c1);
            })?;
            Vector {
                passphrase: pass,
                error_contains: Some(damaged_chunks_text(&job, &[1, 2])),
                decrypt_file: Some(format!("{VM_DIR}/{DISK_NAME}")),
                decrypt_error_contains: Some(format!("{}: chunk 1 failed", job.disk_rel())),
                ..Vector::new(
                    "Chunks 1 and 2 of the disk (both full) are swapped; nothing else changed.",
                    "damaged",
                )
            }
        }
        "truncated-at-chunk-boundary" => {
            let job = passphrase_job(name, dir, DISK_4_CHUNKS)?;
            let g = job.disk_geometry();
            let cut = g.chunk_offset(g.chunks() - 1);
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(job.disk_path())?;
            f.set_len(cut)?;
            Vector {
                passphrase: pass,
                error_contains: Some(format!(
                    "{}: truncated: ended after {cut} of {} bytes",
                    job.disk_rel(),
                    g.encrypted_size()
                )),
                decrypt_file: Some(format!("{VM_DIR}/{DISK_NAME}")),
                decrypt_error_contains: Some(format!(
                    "{}: truncated: ended after {cut} of",
                    job.disk_rel()
                )),
                ..Vector::new(
                    "The disk's final chunk is cut off exactly at a chunk boundary; the .sums \
                     file and the manifest still describe the whole file.",
                    "damaged",
                )
            }
        }
        "dropped-final-chunk-and-relabelled" => {
            let job = passphrase_job(name, dir, DISK_4_CHUNKS)?;
            let g = job.disk_geometry();
            let kept = g.chunks() - 1;
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(job.disk_path())?;
            f.set_len(g.chunk_offset(kept))?;
            let mut sums = std::fs::read(job.disk_sums_path())?;
            sums.truncate(kept as usize * 32);
            std::fs::write(job.disk_sums_path(), &sums)?;
            let mut m = job.manifest.clone();
            let e = m.vms[0]
                .files
                .iter_mut()
                .find(|f| f.name == DISK_NAME)
                .expect("listed");
            let short = Geometry {
                plain_size: kept * CHUNK,
                chunk_size: CHUNK,
            };
            e.size = short.plain_size;
            e.chunks = short.chunks();
            e.encrypted_size = short.encrypted_size();
            e.chunk_digests_sha256 = hex::encode(Sha256::digest(&sums));
            job.write_unsigned(&m)?;
            Vector {
                passphrase: pass,
                error_contains: Some("odt-job.json does not match its signature".into()),
                ..Vector::new(
                    "The disk's final chunk is dropped, and its .sums file and the manifest's \
                     size, chunk count, encrypted size and digest-list hash are recomputed to \
                     match; the attacker cannot re-sign, so the old signature remains.",
                    "signature failure",
                )
            }
        }
        "edited-manifest" => {
            let job = passphrase_job(name, dir, DISK_2_CHUNKS)?;
            let mut m = job.manifest.clone();
            m.vms[0].target.vdc = Some("attacker-vdc".into());
            job.write_unsigned(&m)?;
            Vector {
                passphrase: pass,
                error_contains: Some("odt-job.json does not match its signature".into()),
                ..Vector::new(
                    "The manifest's target VDC is changed after signing; the signature is the \
                     original one.",
                    "signature failure",
                )
            }
        }
        "wrong-signer" => {
            let job = passphrase_job(name, dir, DISK_2_CHUNKS)?;
            let attacker = SigningKey::generate(&mut rng_for("attacker signing key"));
            let mut m = job.manifest.clone();
            m.signer_key_id = attacker.verifying_key().key_id();
            job.write_signed(&m, &attacker)?;
            Vector {
                passphrase: pass,
                error_contains: Some(format!(
                    "signed by key {} but the trusted key is {}",
                    attacker.verifying_key().key_id(),
                    customer_key().verifying_key().key_id()
                )),
                ..Vector::new(
                    "A well-formed job validly signed by a key other than the trusted one.",
                    "signature failure",
                )
            }
        }
        "sums-altered" => {
            let job = passphrase_job(name, dir, DISK_4_CHUNKS)?;
            edit(&job.disk_sums_path(), |b| b[5] ^= 0x80)?;
            Vector {
                passphrase: pass,
                error_contains: Some(format!("{}: its chunk digest list", job.disk_rel())),
                ..Vector::new(
                    "One byte of the disk's .sums file (chunk 0's digest) is altered; the \
                     encrypted data itself is intact.",
                    "damaged",
                )
            }
        }
        "wrong-passphrase" => {
            passphrase_job(name, dir, DISK_2_CHUNKS)?;
            Vector {
                passphrase: Some("Tr0ub4dor&3".into()),
                error_contains: Some("wrong passphrase".into()),
                ..Vector::new(
                    "An intact job, and a passphrase that is not its own: keyless verification \
                     passes, unlocking the key fails.",
                    "key failure",
                )
            }
        }
        "hostile-kdf-params" => {
            let job = passphrase_job(name, dir, DISK_2_CHUNKS)?;
            let mut m = job.manifest.clone();
            let memory = KdfParams::MAX_MEMORY_KIB + 1;
            match &mut m.stanzas[0] {
                Stanza::Argon2id { params, .. } => params.memory_kib = memory,
                Stanza::X25519 { .. } => unreachable!("a passphrase job"),
            }
            job.write_signed(&m, &customer_key())?;
            Vector {
                passphrase: pass,
                error_contains: Some(format!(
                    "argon2id parameters m={memory} KiB t=1 p=1 are outside the accepted bounds"
                )),
                ..Vector::new(
                    "A validly signed manifest whose passphrase stanza asks for 1 KiB more \
                     Argon2id memory than readers accept: refused before any work.",
                    "malformed",
                )
            }
        }
        "unknown-format-version" => {
            let job = passphrase_job(name, dir, DISK_2_CHUNKS)?;
            let mut m = job.manifest.clone();
            m.format = "odt-bundle/v9".into();
            job.write_signed(&m, &customer_key())?;
            Vector {
                passphrase: pass,
                error_contains: Some("format is \"odt-bundle/v9\"".into()),
                ..Vector::new(
                    "A validly signed manifest of a format version this reader does not know.",
                    "malformed",
                )
            }
        }
        other => return build_unit_vector(other, dir),
    };
    Ok(v)
}

/// A two-unit job as the exporter leaves it: the manifest (`units: 2`) and its signature on
/// both units, each unit's signed index, each VM's files on its own unit.
struct UnitJob {
    manifest: JobManifest,
    /// Unit 1's and unit 2's indexes.
    indexes: Vec<UnitIndex>,
    /// Per unit, (stream name, plaintext) of the files it holds.
    plaintexts: Vec<Plaintexts>,
}

impl UnitJob {
    /// Unit `unit`'s VM (all its files are on that unit).
    fn vm(&self, unit: u32) -> &VmEntry {
        &self.manifest.vms[unit as usize - 1]
    }
    fn plaintext_digests(&self, unit: u32) -> Vec<(String, String)> {
        self.plaintexts[unit as usize - 1]
            .iter()
            .map(|(n, p)| (n.clone(), hex::encode(Sha256::digest(p))))
            .collect()
    }
}

/// Builds the two-unit job of seed `label` into `roots` (unit 1, unit 2) as
/// `JobWriter::open_units` and `ActiveJob::finish` would: the same random values in the same
/// roles, drawn from the seeded RNG, the unit ids too (the exporter draws those from the OS
/// RNG; these come from the seed, after everything else).
fn build_unit_job(label: &str, roots: [&Path; 2]) -> Res<UnitJob> {
    let mut rng = rng_for(label);
    let mut job_id = [0u8; 16];
    rng.fill_bytes(&mut job_id);
    let key = DataKey::generate(&mut rng);
    let (stanza, _took) =
        Stanza::passphrase(&key, &job_id, PASSPHRASE.as_bytes(), FAST_KDF, &mut rng)?;
    let mut vms = vec![];
    let mut plaintexts = vec![];
    for (i, root) in roots.iter().enumerate() {
        let mut disk = vec![0u8; UNIT_DISK as usize];
        rng.fill_bytes(&mut disk);
        let dir = UNIT_VM_DIRS[i];
        let layout = Layout::new(root);
        let (files, plain) = encrypt_package(&layout, dir, job_id, &key, disk, &mut rng)?;
        vms.push(vm_entry(&format!("vector-vm-{}", i + 1), dir, files));
        plaintexts.push(plain);
    }
    let manifest = job_manifest(job_id, &key, vec![stanza], vms, Some(2));
    let manifest_bytes = manifest.to_bytes();
    let sig = manifest::sign(&customer_key(), &manifest_bytes);
    let mut indexes = vec![];
    for (i, root) in roots.iter().enumerate() {
        let mut unit_id = [0u8; 16];
        rng.fill_bytes(&mut unit_id);
        let vm = &manifest.vms[i];
        let index = UnitIndex {
            format: UNIT_FORMAT.into(),
            job_id: manifest.job_id.clone(),
            manifest_sha256: hex::encode(Sha256::digest(&manifest_bytes)),
            unit_id: hex::encode(unit_id),
            unit: i as u32 + 1,
            units: 2,
            files: vm
                .files
                .iter()
                .map(|f| UnitFile {
                    dir: vm.dir.clone(),
                    name: f.name.clone(),
                })
                .collect(),
        };
        let layout = Layout::new(root);
        write_index(&layout, &index.to_bytes(), &customer_key())?;
        std::fs::write(layout.signature(), &sig)?;
        std::fs::write(layout.manifest(), &manifest_bytes)?;
        indexes.push(index);
    }
    Ok(UnitJob {
        manifest,
        indexes,
        plaintexts,
    })
}

/// Writes the index `bytes` into `layout` with a valid signature by `signer`.
fn write_index(layout: &Layout, bytes: &[u8], signer: &SigningKey) -> Res<()> {
    std::fs::write(layout.unit_index(), bytes)?;
    std::fs::write(layout.unit_signature(), UnitIndex::sign(bytes, signer))?;
    Ok(())
}

/// Builds the two-unit job of `label` with unit `unit` in `dir` and the other unit in a
/// scratch directory (returned, so the caller may take from it).
fn unit_in(label: &str, dir: &Path, unit: u32) -> Res<(UnitJob, tempfile::TempDir)> {
    std::fs::create_dir_all(dir)?;
    let other = tempfile::tempdir()?;
    let roots = match unit {
        1 => [dir, other.path()],
        _ => [other.path(), dir],
    };
    Ok((build_unit_job(label, roots)?, other))
}

/// Copies directory `from` into `to` (created).
fn copy_dir(from: &Path, to: &Path) -> Res<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()))?;
        } else {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

/// A good unit `unit` of the two-unit job: it verifies alone, and with the other one it is the
/// whole job.
fn ok_unit(name: &str, dir: &Path, unit: u32) -> Res<Vector> {
    let (job, _other) = unit_in(UNIT_JOB, dir, unit)?;
    let other = 3 - unit;
    Ok(Vector {
        passphrase: Some(PASSPHRASE.to_owned()),
        plaintext_sha256: job.plaintext_digests(unit),
        unit: Some(UnitExpect {
            unit,
            units: 2,
            vms: vec![job.vm(unit).dir.clone()],
            mount_with: vec![format!("ok-unit-{other}-of-2")],
        }),
        ..Vector::new(
            &format!(
                "Unit {unit} of a good job over two NAS units ({name} and ok-unit-{other}-of-2 \
                 carry the same manifest bytes, `units: 2`): its signed unit index lists the \
                 files of {}, which are all here; the other VM is on unit {other}.",
                job.vm(unit).dir
            ),
            "ok",
        )
    })
}

/// Unit 2 of the two-unit job in `dir` whose index `edit` changes; the index's signature is
/// the original one (re-sign it to model the customer signing a bad index).
fn unit_2_with_index(dir: &Path, edit: impl FnOnce(&mut UnitIndex)) -> Res<UnitJob> {
    let (job, _other) = unit_in(UNIT_JOB, dir, 2)?;
    let mut index = job.indexes[1].clone();
    edit(&mut index);
    std::fs::write(Layout::new(dir).unit_index(), index.to_bytes())?;
    Ok(job)
}

/// A unit of the two-unit job, altered so that verification reads it as unit `read_as` (its
/// index checks out) and reports a problem containing `error_contains`.
fn damaged_unit(job: &UnitJob, read_as: u32, error_contains: String, what: &str) -> Vector {
    Vector {
        passphrase: Some(PASSPHRASE.to_owned()),
        error_contains: Some(error_contains),
        unit: Some(UnitExpect {
            unit: read_as,
            units: 2,
            vms: vec![job.vm(read_as).dir.clone()],
            mount_with: vec![],
        }),
        ..Vector::new(what, "damaged")
    }
}

/// Copies the unit index and its signature of the unit in `from` into `to`.
fn copy_index(from: &Path, to: &Layout) -> Res<()> {
    let from = Layout::new(from);
    std::fs::copy(from.unit_index(), to.unit_index())?;
    std::fs::copy(from.unit_signature(), to.unit_signature())?;
    Ok(())
}

/// The unit vectors (`build_vector`'s recipes for a job over several NAS units).
fn build_unit_vector(name: &str, dir: &Path) -> Res<Vector> {
    let pass = Some(PASSPHRASE.to_owned());
    let layout = Layout::new(dir);
    let v = match name {
        "ok-unit-1-of-2" => ok_unit(name, dir, 1)?,
        "ok-unit-2-of-2" => ok_unit(name, dir, 2)?,
        "unit-index-of-another-job" => {
            let (job, _other) = unit_in(UNIT_JOB, dir, 2)?;
            let scratch = tempfile::tempdir()?;
            let (theirs, _) = unit_in(OTHER_UNIT_JOB, scratch.path(), 2)?;
            copy_index(scratch.path(), &layout)?;
            Vector {
                passphrase: pass,
                error_contains: Some(format!(
                    "odt-unit.json: belongs to job {} but the manifest beside it is job {}",
                    theirs.manifest.job_id, job.manifest.job_id
                )),
                ..Vector::new(
                    "Unit 2 of the two-unit job with the unit index (and its valid signature, \
                     by the same customer key) of unit 2 of another job of that customer.",
                    "malformed",
                )
            }
        }
        "unit-index-beside-one-nas-job" => {
            passphrase_job(name, dir, UNIT_DISK)?;
            let scratch = tempfile::tempdir()?;
            unit_in(UNIT_JOB, scratch.path(), 1)?;
            copy_index(scratch.path(), &layout)?;
            Vector {
                passphrase: pass,
                error_contains: Some(
                    "odt-unit.json: unexpected file (the manifest is of a job on one NAS)".into(),
                ),
                ..Vector::new(
                    "A good job on one NAS (no `units` in its manifest) with a validly signed \
                     unit index of another job beside it: reported as unexpected files.",
                    "damaged",
                )
            }
        }
        "unit-index-edited" => {
            unit_2_with_index(dir, |i| i.unit = 1)?;
            Vector {
                passphrase: pass,
                error_contains: Some(
                    "odt-unit.json does not match its signature: the unit index was altered \
                     after signing"
                        .into(),
                ),
                ..Vector::new(
                    "Unit 2 of the two-unit job whose index says `\"unit\": 1` instead of 2 \
                     (nothing else changed); the signature is the original one.",
                    "signature failure",
                )
            }
        }
        "unit-index-wrong-signer" => {
            unit_2_with_index(dir, |_| {})?;
            let attacker = SigningKey::generate(&mut rng_for("attacker signing key"));
            let bytes = std::fs::read(layout.unit_index())?;
            write_index(&layout, &bytes, &attacker)?;
            Vector {
                passphrase: pass,
                error_contains: Some(format!(
                    "the unit index was signed by key {} but the trusted key is {}",
                    attacker.verifying_key().key_id(),
                    customer_key().verifying_key().key_id()
                )),
                ..Vector::new(
                    "Unit 2 of the two-unit job whose (unchanged) index is signed by a key \
                     other than the one that signed the manifest: the index must be signed \
                     by the manifest's key.",
                    "signature failure",
                )
            }
        }
        "unit-index-signed-as-manifest" => {
            unit_2_with_index(dir, |_| {})?;
            let bytes = std::fs::read(layout.unit_index())?;
            std::fs::write(
                layout.unit_signature(),
                manifest::sign(&customer_key(), &bytes),
            )?;
            Vector {
                passphrase: pass,
                error_contains: Some("odt-unit.json does not match its signature".into()),
                ..Vector::new(
                    "Unit 2 of the two-unit job whose index is signed by the right key but \
                     under the manifest's domain string (odt-bundle/v1) instead of \
                     odt-unit/v1: the domains are separate.",
                    "signature failure",
                )
            }
        }
        "unit-index-lists-unknown-file" => {
            unit_2_with_index(dir, |i| i.files[2].name = "other-disk.vmdk".into())?;
            let bytes = std::fs::read(layout.unit_index())?;
            write_index(&layout, &bytes, &customer_key())?;
            Vector {
                passphrase: pass,
                error_contains: Some(
                    "odt-unit.json: lists vm-001/other-disk.vmdk, which the manifest does not"
                        .into(),
                ),
                ..Vector::new(
                    "Unit 2 of the two-unit job whose index, validly signed, lists a disk the \
                     manifest does not (in place of the real one).",
                    "malformed",
                )
            }
        }
        "unit-index-missing" => {
            unit_in(UNIT_JOB, dir, 2)?;
            std::fs::remove_file(layout.unit_index())?;
            std::fs::remove_file(layout.unit_signature())?;
            Vector {
                passphrase: pass,
                error_contains: Some(
                    "odt-unit.json: missing: the manifest says this job spans 2 NAS units".into(),
                ),
                ..Vector::new(
                    "Unit 2 of the two-unit job without its unit index and its signature: \
                     not a whole unit.",
                    "malformed",
                )
            }
        }
        "unit-index-of-other-unit" => {
            let (job, other) = unit_in(UNIT_JOB, dir, 1)?;
            copy_index(other.path(), &layout)?;
            damaged_unit(
                &job,
                2,
                format!(
                    "{}: missing",
                    Layout::rel_encrypted(&job.vm(2).dir, OVF_NAME)
                ),
                "Unit 1 of the two-unit job carrying unit 2's index and signature (both \
                 valid, of this job): it is read as unit 2, whose files are missing, and \
                 unit 1's files are unexpected.",
            )
        }
        "unit-holds-unlisted-vm" => {
            let (job, other) = unit_in(UNIT_JOB, dir, 1)?;
            let vm = &job.vm(2).dir;
            copy_dir(
                &Layout::new(other.path()).data().join(vm),
                &layout.data().join(vm),
            )?;
            damaged_unit(
                &job,
                1,
                format!(
                    "{}: unexpected file (not in the manifest)",
                    Layout::rel_encrypted(vm, OVF_NAME)
                ),
                "Unit 1 of the two-unit job whose data/ also holds unit 2's VM folder \
                 (intact), which unit 1's index does not list: reported as unexpected files.",
            )
        }
        "unit-lacks-listed-vm" => {
            let (job, _other) = unit_in(UNIT_JOB, dir, 2)?;
            std::fs::remove_dir_all(layout.data())?;
            damaged_unit(
                &job,
                2,
                format!(
                    "{}: missing",
                    Layout::rel_encrypted(&job.vm(2).dir, OVF_NAME)
                ),
                "Unit 2 of the two-unit job without its data/ folder: its index lists the \
                 files of vm-001, none of which is here.",
            )
        }
        other => return Err(format!("no recipe for vector {other:?}").into()),
    };
    Ok(v)
}

/// The vectors directory's README, with a table of the vectors.
fn readme(table: &[(&str, &str, String)]) -> String {
    let mut s = String::from(README_HEAD);
    for (name, expect, description) in table {
        writeln!(s, "| `{name}` | {expect} | {description} |").expect("string write");
    }
    s
}

const README_HEAD: &str = r#"# odt-bundle/v1 test vectors

Generated by `scripts/gen-vectors.sh` (`odt-format/examples/gen_vectors.rs`): do not edit by
hand. Generation is deterministic (ChaCha20 RNGs seeded from each vector's name, a fixed
`created` time), so `scripts/gen-vectors.sh --check` regenerates them and fails on any
difference. `odt-format/tests/vectors.rs` checks every vector through the public reader and
verifier API.

Each directory is a complete job as it sits on a NAS (`odt-job.json`, `odt-job.json.sig`,
`data/vm-000/NAME.odt` and `NAME.odt.sums`) holding a small fake OVF package (descriptor,
SHA256 `.mf`, one disk of pseudo-random bytes) in 64 KiB chunks, plus `vector.toml`. A job
holds nothing else at its root, so verify a copy of the job without `vector.toml` (verifiers
report it as an unexpected file).

The `*unit*` vectors are each **one unit** of a job over several NAS units (docs/FORMAT.md
§2.2), complete as it sits on its NAS: the job's manifest and signature (`"units": 2`), the
unit's `odt-unit.json` and `odt-unit.json.sig`, and under `data/` only the VMs placed on it.
One directory per unit, not one vector holding both, because that is what a verifier gets: one
unit directory at a time, checked alone (keyless, and deep for the VMs wholly on it) with no
sight of the others. `ok-unit-1-of-2` and `ok-unit-2-of-2` are the two units of one job (the
same manifest bytes; `vm-000` on unit 1, `vm-001` on unit 2), and `mount_with` says so; every
other unit vector is one of those two units (or, for `unit-index-of-another-job`, an index of
another two-unit job) altered as described. `vector.toml` says:

- `expect`: what a reader must conclude.
  - `ok`: keyless and deep verification find no problem, and every file the directory holds
    (for a unit: every file its index lists) decrypts to the SHA-256 listed under
    `[plaintext_sha256]` (keys are `vm-NNN/NAME`).
  - `damaged`: the signatures check out, but verification (keyless and deep) reports a
    problem whose text `FILE: WHAT` contains `error_contains`.
  - `signature failure`: the manifest's signature, or the unit index's, does not check out
    against `trusted_key`. The index must be signed by the key that signed the manifest, over
    `"odt-unit/v1" ‖ 0x00 ‖ BYTES` (a signature under the manifest's domain string fails).
  - `malformed`: the signed manifest, or the signed unit index beside it, is refused as
    malformed, out of bounds or not fitting the manifest (another job's, a file the manifest
    does not list, missing), before any key derivation or decryption.
  - `key failure`: keyless verification passes; unlocking the data key with the given secret
    fails.
- `passphrase`, or `identity` (hex of the provider's X25519 secret): the secret for deep
  verification. Passphrase stanzas use Argon2id m=19 MiB, t=1, p=1 (the accepted minimum) so
  tests are quick.
- `trusted_key`: the customer's public key file content (`odt-sign-public-v1:BASE64`).
- `error_contains`: a substring the failure message (or the problem text) must contain.
- `decrypt_file`, `decrypt_error_contains`: decrypting that file (`vm-000/NAME`) must fail with
  a message containing this; it names the file and the chunk.
- `unit`, `units` (integers), `unit_vms` (array of strings): given for a unit whose index
  checks out; verification must report it as unit `unit` of `units` holding every file of
  exactly the VMs `unit_vms` (their `vm-NNN` folders, in manifest order) and no VM only in
  part. Absent: verification reports no unit (a job on one NAS, or a refused index).
- `mount_with` (array of vector names): the other units of the same job. This directory and
  those, opened together as the importer does, carry the same manifest bytes and distinct
  units (unit numbers and `unit_id`s), leave no unit missing, and hold every VM of the job.

| vector | expect | what it is |
|---|---|---|
"#;
