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
];

type Res<T> = Result<T, Box<dyn std::error::Error>>;

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
    plaintexts: Vec<(String, Vec<u8>)>,
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
    let mut files = vec![];
    let mut plaintexts = vec![];
    for (file, plain) in package(disk) {
        let stream = StreamSpec {
            layout: layout.clone(),
            dir: VM_DIR.into(),
            name: file.into(),
            job_id,
            plain_size: plain.len() as u64,
            chunk_log2: CHUNK_LOG2,
        };
        let entry = encrypt_file(
            &stream,
            &key,
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
            &mut rng,
        )?;
        files.push(entry);
        plaintexts.push((stream.stream_name(), plain));
    }
    let signer = customer_key();
    let manifest = JobManifest {
        format: FORMAT.into(),
        units: None,
        job_id: hex::encode(job_id),
        created: CREATED.into(),
        exporter: EXPORTER.into(),
        signer_key_id: signer.verifying_key().key_id(),
        key_check: key_check(&key, &job_id),
        stanzas,
        vms: vec![VmEntry {
            name: "vector-vm".into(),
            dir: VM_DIR.into(),
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
        }],
    };
    let job = Job {
        layout,
        manifest,
        plaintexts,
    };
    job.write_signed(&job.manifest, &signer)?;
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
report it as an unexpected file). `vector.toml` says:

- `expect`: what a reader must conclude.
  - `ok`: keyless and deep verification find no problem, and every file decrypts to the
    SHA-256 listed under `[plaintext_sha256]` (keys are `vm-000/NAME`).
  - `damaged`: the signature checks out, but verification (keyless and deep) reports a
    problem whose text `FILE: WHAT` contains `error_contains`.
  - `signature failure`: the manifest's signature does not check out against `trusted_key`.
  - `malformed`: the signed manifest is refused as malformed or out of bounds, before any
    key derivation or decryption.
  - `key failure`: keyless verification passes; unlocking the data key with the given secret
    fails.
- `passphrase`, or `identity` (hex of the provider's X25519 secret): the secret for deep
  verification. Passphrase stanzas use Argon2id m=19 MiB, t=1, p=1 (the accepted minimum) so
  tests are quick.
- `trusted_key`: the customer's public key file content (`odt-sign-public-v1:BASE64`).
- `error_contains`: a substring the failure message (or the problem text) must contain.
- `decrypt_file`, `decrypt_error_contains`: decrypting that file (`vm-000/NAME`) must fail with
  a message containing this; it names the file and the chunk.

| vector | expect | what it is |
|---|---|---|
"#;
