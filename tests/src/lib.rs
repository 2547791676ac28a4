//! Test support for odt's end-to-end tests: finding the built binaries, building sample VMs
//! with `scripts/make-sample-vm.sh`, running commands with secrets in the environment, and
//! damaging bundles in controlled ways.
//!
//! The binaries are the real `odt-export` and `odt-import` built by the same `cargo test`
//! run (their own packages' CLI tests make cargo build them).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Test passphrase.
pub const PASSPHRASE: &str = "correct horse battery staple";

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// Path of a built binary (`odt-export`, `odt-import`) next to this test's target directory.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/..");
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (scripts/test.sh does), which builds it",
        p.display()
    );
    p
}

/// Sample VMs, built once per test process into a temporary folder that lives as long as it.
pub fn samples() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().expect("tempdir");
        let out = Command::new("bash")
            .arg(workspace().join("scripts/make-sample-vm.sh"))
            .arg(d.path())
            .output()
            .expect("run make-sample-vm.sh");
        assert!(
            out.status.success(),
            "make-sample-vm.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        d
    })
    .path()
}

/// A scratch area with keys: `k`/`k.pub` (customer), `p`/`p.pub` (provider), and a `nas/`.
pub struct Scratch {
    /// The temporary directory.
    pub dir: tempfile::TempDir,
}

impl Scratch {
    /// Makes keys and an empty NAS folder.
    pub fn new() -> Scratch {
        let s = Scratch {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        std::fs::create_dir(s.nas()).unwrap();
        s.ok(&s.export(&["keygen", "--out", s.path("k").to_str().unwrap()]));
        s.ok(&s.import(&["keygen", "--out", s.path("p").to_str().unwrap()]));
        s
    }
    /// A path in the scratch area.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    /// The NAS job directory.
    pub fn nas(&self) -> PathBuf {
        self.path("nas")
    }
    /// `odt-export ARGS` with `ODT_PASSPHRASE` set.
    pub fn export(&self, args: &[&str]) -> Output {
        self.cmd("odt-export", args, Some(PASSPHRASE))
    }
    /// `odt-import ARGS` with `ODT_PASSPHRASE` set.
    pub fn import(&self, args: &[&str]) -> Output {
        self.cmd("odt-import", args, Some(PASSPHRASE))
    }
    /// Runs a binary with an optional passphrase in the environment.
    pub fn cmd(&self, name: &str, args: &[&str], passphrase: Option<&str>) -> Output {
        self.command(name, args, passphrase)
            .output()
            .expect("spawn")
    }
    /// Like [`Scratch::cmd`], but the command must finish within [`HANG_TIMEOUT`]: it is killed
    /// and the test fails if it does not (a command that blocks, e.g. on a FIFO, is a bug).
    pub fn cmd_within(&self, name: &str, args: &[&str], passphrase: Option<&str>) -> Output {
        output_within(&mut self.command(name, args, passphrase), HANG_TIMEOUT)
    }
    /// The command [`Scratch::cmd`] runs.
    pub fn command(&self, name: &str, args: &[&str], passphrase: Option<&str>) -> Command {
        let mut c = Command::new(bin(name));
        // The importer's state (journal, dock record) stays in the scratch area.
        c.args(args)
            .env_remove("ODT_PASSPHRASE")
            .env("ODT_STATE_DIR", self.path("state"))
            .current_dir(self.dir.path());
        if let Some(p) = passphrase {
            c.env("ODT_PASSPHRASE", p);
        }
        c
    }
    /// `odt-export run` of `sources` into the NAS with the fast test KDF and a recipient, and
    /// the target `acme`/`acme-vdc` unless `extra` names one (or a `--job` file).
    pub fn export_run(&self, sources: &[&Path], extra: &[&str]) -> Output {
        let args = self.export_run_args(sources, extra);
        self.export(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }
    /// The arguments of `odt-import run` of this job into cluster `DC0_C0` (vcsim's) of the
    /// vCenter at `vcenter_url`: the customer's key `k.pub`, the identity `p`, the state
    /// folder `state/`.
    pub fn import_run_args(&self, vcenter_url: &str) -> Vec<String> {
        let path = |name: &str| self.path(name).display().to_string();
        [
            "run".to_owned(),
            "--nas".to_owned(),
            self.nas().display().to_string(),
            "--trusted-key".to_owned(),
            path("k.pub"),
            "--vcenter".to_owned(),
            vcenter_url.to_owned(),
            "--cluster".to_owned(),
            "DC0_C0".to_owned(),
            "--identity".to_owned(),
            path("p"),
            "--state".to_owned(),
            path("state"),
        ]
        .into()
    }
    /// The arguments [`Scratch::export_run`] passes to `odt-export`.
    pub fn export_run_args(&self, sources: &[&Path], extra: &[&str]) -> Vec<String> {
        let (nas, k, p) = (self.nas(), self.path("k"), self.path("p.pub"));
        let mut args: Vec<String> = [
            "run",
            "--nas",
            nas.to_str().unwrap(),
            "--signing-key",
            k.to_str().unwrap(),
            "--recipient",
            p.to_str().unwrap(),
            "--kdf-memory-mib",
            "19",
            "--kdf-iterations",
            "1",
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
        let given = |flag: &str| extra.iter().any(|a| *a == flag || *a == "--job");
        for (flag, value) in [("--org", "acme"), ("--vdc", "acme-vdc")] {
            if !given(flag) {
                args.extend([flag.to_owned(), value.to_owned()]);
            }
        }
        args.extend(sources.iter().map(|s| s.to_str().unwrap().to_owned()));
        args
    }
    /// `odt-export verify --nas NAS --trusted-key k.pub EXTRA`.
    pub fn verify_export(&self, extra: &[&str]) -> Output {
        let (nas, kp) = (self.nas(), self.path("k.pub"));
        let mut a = vec![
            "verify",
            "--nas",
            nas.to_str().unwrap(),
            "--trusted-key",
            kp.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        self.export(&a)
    }
    /// `odt-import verify --nas NAS --trusted-key k.pub EXTRA`.
    pub fn verify_import(&self, extra: &[&str]) -> Output {
        let (nas, kp) = (self.nas(), self.path("k.pub"));
        let mut a = vec![
            "verify",
            "--nas",
            nas.to_str().unwrap(),
            "--trusted-key",
            kp.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        self.import(&a)
    }
    /// What the provider does at the dock before `odt-import run`: keyless verification,
    /// which leaves the dock record `run` requires in `state/`. Its outcome is returned for
    /// the tests that expect it to fail.
    pub fn verify_at_dock(&self) -> Output {
        self.verify_import(&[])
    }
    /// Rewrites the NAS's manifest through `edit` and signs it again with the customer's key,
    /// as a modified exporter would: the signature checks out, the content is hostile.
    pub fn resign_manifest(&self, edit: impl FnOnce(&mut serde_json::Value)) {
        let mpath = self.nas().join("odt-job.json");
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
        edit(&mut v);
        let mut bytes = serde_json::to_vec_pretty(&v).unwrap();
        bytes.push(b'\n');
        let key = odt_format::crypto::keys::SigningKey::read(&self.path("k")).unwrap();
        std::fs::write(&mpath, &bytes).unwrap();
        std::fs::write(
            self.nas().join("odt-job.json.sig"),
            odt_format::job::manifest::sign(&key, &bytes),
        )
        .unwrap();
    }
    /// Asserts success and returns stdout.
    pub fn ok(&self, o: &Output) -> String {
        assert!(
            o.status.success(),
            "command failed ({:?})\nstdout:\n{}\nstderr:\n{}",
            o.status,
            text(&o.stdout),
            text(&o.stderr)
        );
        text(&o.stdout)
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

/// How long a command given to [`output_within`] by [`Scratch::cmd_within`] may run.
pub const HANG_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Runs `c` with its output captured, like `Command::output`, but kills it and fails the test
/// when it runs longer than `limit`: a test of "this must not hang" then fails instead of
/// stalling the whole suite.
pub fn output_within(c: &mut Command, limit: std::time::Duration) -> Output {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Drain both pipes while waiting, so that a chatty child never blocks on a full pipe.
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = vec![];
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut v);
            }
            v
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let (o, e) = (out.join().unwrap(), err.join().unwrap());
            panic!(
                "{c:?} still ran after {limit:?} (it hangs) and was killed\nstdout:\n{}\nstderr:\n{}",
                text(&o),
                text(&e)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Lossy UTF-8.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts the command exited with `code` and its stdout+stderr mention every needle.
pub fn assert_fails(o: &Output, code: i32, needles: &[&str]) {
    let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert_eq!(
        o.status.code(),
        Some(code),
        "expected exit {code}, got {:?}\n{all}",
        o.status
    );
    for n in needles {
        assert!(all.contains(n), "output does not mention {n:?}:\n{all}");
    }
}

/// Copies a directory tree (plain files only).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

/// SHA-256 of a file, hex.
pub fn sha256_file(p: &Path) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut f = std::fs::File::open(p).unwrap();
    std::io::copy(&mut f, &mut h).unwrap();
    hex::encode(h.finalize())
}

/// Writes a minimal OVF package (descriptor, one "disk" of `size` pseudo-random bytes, and a
/// SHA256 `.mf`) into `dir`. The disk is not a real VMDK: the exporter moves bytes, and this
/// makes large sources quickly.
pub fn make_big_ovf(dir: &Path, name: &str, size: u64) -> PathBuf {
    make_big_ovf_with(dir, name, &[size], true)
}

/// [`make_big_ovf`] with one disk `NAME-diskN.vmdk` (from 1) of each size, and with or without
/// the `.mf` (without one, the exporter generates it).
pub fn make_big_ovf_with(dir: &Path, name: &str, sizes: &[u64], with_mf: bool) -> PathBuf {
    use sha2::Digest;
    use std::io::Write;
    std::fs::create_dir_all(dir).unwrap();
    let mut files = String::new();
    let mut disks = String::new();
    let mut items = String::new();
    let mut mf_lines = vec![];
    for (i, &size) in sizes.iter().enumerate() {
        let n = i + 1;
        let disk = format!("{name}-disk{n}.vmdk");
        let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join(&disk)).unwrap());
        let mut h = sha2::Sha256::new();
        // One pseudo-random MiB (a counter-mode SHA-256 stream), re-stamped per MiB so no two
        // chunks are equal: incompressible, deterministic, and quick to make.
        let mut base = Vec::with_capacity(1 << 20);
        let mut block = [0u8; 32];
        for counter in 0u64..(1 << 15) {
            block = sha2::Sha256::digest([&block[..], &counter.to_le_bytes()].concat()).into();
            base.extend_from_slice(&block);
        }
        let mut written = 0u64;
        let mut mib = 0u64;
        while written < size {
            base[..8].copy_from_slice(&mib.to_le_bytes());
            mib += 1;
            let n = (size - written).min(base.len() as u64) as usize;
            f.write_all(&base[..n]).unwrap();
            h.update(&base[..n]);
            written += n as u64;
        }
        f.flush().unwrap();
        mf_lines.push(format!("SHA256({disk})= {}\n", hex::encode(h.finalize())));
        files.push_str(&format!(
            r#"<File ovf:id="file{n}" ovf:href="{disk}" ovf:size="{size}"/>"#
        ));
        disks.push_str(&format!(
            r#"<Disk ovf:diskId="vmdisk{n}" ovf:fileRef="file{n}" ovf:capacity="{size}"/>"#
        ));
        items.push_str(&format!(
            r#"
      <Item><rasd:ElementName>disk</rasd:ElementName><rasd:HostResource>ovf:/disk/vmdisk{n}</rasd:HostResource><rasd:InstanceID>{}</rasd:InstanceID><rasd:ResourceType>17</rasd:ResourceType></Item>"#,
            n + 1
        ));
    }
    let nic_id = sizes.len() + 2;
    let ovf = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References>{files}</References>
  <DiskSection><Info>disks</Info>{disks}</DiskSection>
  <NetworkSection><Info>nets</Info><Network ovf:name="corp-lan"><Description>lan</Description></Network></NetworkSection>
  <VirtualSystem ovf:id="{name}">
    <Info>vm</Info><Name>{name}</Name>
    <VirtualHardwareSection><Info>hw</Info>{items}
      <Item><rasd:Connection>corp-lan</rasd:Connection><rasd:ElementName>nic</rasd:ElementName><rasd:InstanceID>{nic_id}</rasd:InstanceID><rasd:ResourceType>10</rasd:ResourceType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"#
    );
    std::fs::write(dir.join(format!("{name}.ovf")), &ovf).unwrap();
    if with_mf {
        let od = hex::encode(sha2::Sha256::digest(ovf.as_bytes()));
        std::fs::write(
            dir.join(format!("{name}.mf")),
            format!("SHA256({name}.ovf)= {od}\n{}", mf_lines.concat()),
        )
        .unwrap();
    }
    dir.to_owned()
}

/// True when tests that need root (tmpfs mounts) must run rather than skip (CI sets it).
pub fn require_all() -> bool {
    std::env::var_os("ODT_REQUIRE_ALL_TESTS").is_some_and(|v| v == "1")
}

/// Skips (returns true) with a loud message, or panics under [`require_all`].
pub fn skip(why: &str) -> bool {
    if require_all() {
        panic!("required test cannot run: {why}");
    }
    eprintln!(
        "\n!!!!!!!! SKIPPED: {why} (set ODT_REQUIRE_ALL_TESTS=1 to make this a failure) !!!!!!!!\n"
    );
    true
}

/// Decrypts every file of the job at `nas` with `identity` and returns (VM dir, file name,
/// SHA-256 of the plaintext).
pub fn decrypt_digests(
    nas: &Path,
    trusted: &Path,
    identity: &Path,
) -> Vec<(String, String, String)> {
    use odt_format::crypto::keys::{Identity, VerifyingKey};
    use odt_format::crypto::stanza::Unlock;
    use odt_format::job::layout::Layout;
    use odt_format::job::reader::{data_key, open_manifest, DecryptReader};
    use sha2::Digest;
    let layout = Layout::new(nas);
    let m = open_manifest(&layout, &VerifyingKey::read(trusted).unwrap()).unwrap();
    let id = Identity::read(identity).unwrap();
    let key = data_key(&m, &Unlock::Identity(&id)).unwrap();
    let mut out = vec![];
    for vm in &m.vms {
        for f in &vm.files {
            let mut r = DecryptReader::open(&layout, &m, &key, vm, f).unwrap();
            let mut h = sha2::Sha256::new();
            std::io::copy(&mut r, &mut h).unwrap();
            out.push((vm.dir.clone(), f.name.clone(), hex::encode(h.finalize())));
        }
    }
    out
}

/// Plays a hostile (or buggy) customer: re-seals `file` of the VM in `vm_dir` with `plaintext`
/// under the job's own data key, with a fresh header, updates its manifest entry and signs the
/// manifest again with the customer's `signing_key`. The result is a job that keyless
/// `verify` accepts (every chunk matches its signed digest) but whose plaintext no longer
/// matches the package's own `.mf`: only a check on the decrypted bytes can catch it.
pub fn reseal_as_customer(
    nas: &Path,
    signing_key: &Path,
    identity: &Path,
    vm_dir: &str,
    file: &str,
    plaintext: &[u8],
) {
    use odt_format::crypto::keys::{Identity, SigningKey};
    use odt_format::crypto::stanza::Unlock;
    use odt_format::io::nasfile::{encrypt_file, Plaintext, StreamSpec, WriteOptions};
    use odt_format::job::layout::Layout;
    use odt_format::job::reader::{data_key, open_manifest_with, TrustAnchor};
    let layout = Layout::new(nas);
    let mut m = open_manifest_with(&layout, &TrustAnchor::Embedded).unwrap();
    let key = data_key(&m, &Unlock::Identity(&Identity::read(identity).unwrap())).unwrap();
    let job_id = m.job_id_bytes().unwrap();
    let vm = m.vms.iter_mut().find(|v| v.dir == vm_dir).expect("vm dir");
    let entry = vm.files.iter_mut().find(|f| f.name == file).expect("file");
    let spec = StreamSpec {
        layout: layout.clone(),
        dir: vm_dir.to_owned(),
        name: file.to_owned(),
        job_id,
        plain_size: plaintext.len() as u64,
        chunk_log2: entry.parsed_header(file).unwrap().chunk_log2,
    };
    for p in [layout.encrypted(vm_dir, file), layout.sums(vm_dir, file)] {
        std::fs::remove_file(p).unwrap();
    }
    *entry = encrypt_file(
        &spec,
        &key,
        None,
        Plaintext {
            reader: &mut std::io::Cursor::new(plaintext.to_vec()),
            path: Path::new(file),
            hash: &mut |_| {},
        },
        &|_| {},
        WriteOptions::default(),
        &mut rand::rngs::OsRng,
    )
    .unwrap();
    let bytes = m.to_bytes();
    let sig = odt_format::job::manifest::sign(&SigningKey::read(signing_key).unwrap(), &bytes);
    std::fs::write(layout.manifest(), &bytes).unwrap();
    std::fs::write(layout.signature(), sig).unwrap();
}

/// Whether an `odt-import run` left an import journal in the scratch area's `state/` (the
/// dock record that `verify` leaves there does not count).
pub fn has_import_journal(s: &Scratch) -> bool {
    std::fs::read_dir(s.path("state")).is_ok_and(|d| {
        d.filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().starts_with("import-"))
    })
}

/// A tmpfs of `mib` MiB mounted at `dir`, unmounted on drop. `None` when mounting is not
/// possible here (not root).
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts.
    pub fn mount(dir: &Path, mib: u64) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}
pub mod vcdsim;
pub mod vcsim;

/// Flips one byte in every `every` bytes of the file at `p` (at offsets `every / 2 + k·every`),
/// then puts its modification time back: the same size and mtime, other content. Flipping
/// twice restores the original bytes.
pub fn flip_bytes_keeping_mtime(p: &Path, every: u64) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(p)
        .unwrap();
    let meta = f.metadata().unwrap();
    let mtime = meta.modified().unwrap();
    let mut at = every / 2;
    while at < meta.len() {
        let mut b = [0u8; 1];
        f.seek(SeekFrom::Start(at)).unwrap();
        f.read_exact(&mut b).unwrap();
        b[0] ^= 0xff;
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(&b).unwrap();
        at += every;
    }
    f.set_modified(mtime).unwrap();
    drop(f);
    let after = std::fs::metadata(p).unwrap();
    assert_eq!(
        (after.len(), after.modified().unwrap()),
        (meta.len(), mtime),
        "{}: size and mtime kept",
        p.display()
    );
}

/// Every chunk ciphertext seen so far in a job folder's `data/`, by file and header. The header
/// holds the salt the stream key is derived from, and a chunk's nonce is its index (and the last
/// flag, fixed by the file's size), so one (file, header, chunk index) is one (key, nonce) pair.
/// [`SealedChunks::observe`] checks that no such pair ever holds two different ciphertexts: under
/// one key and nonce, a different ciphertext means a different plaintext (docs/SECURITY.md §S3).
///
/// Take an observation after an interrupted run, *before* the rerun cuts the file back to its
/// last checkpoint: that is when the chunks written after the checkpoint (and a torn last one)
/// are still there to be seen.
#[derive(Default)]
pub struct SealedChunks {
    seen: std::collections::BTreeMap<(String, [u8; 32], u64), Seen>,
}

#[derive(Default)]
struct Seen {
    /// The digest of the whole sealed chunk (ciphertext and tag).
    whole: Option<[u8; 32]>,
    /// Shorter pieces seen at the end of a file: a torn write, or a short final chunk.
    pieces: Vec<Vec<u8>>,
}

impl SealedChunks {
    /// An empty record.
    pub fn new() -> SealedChunks {
        SealedChunks::default()
    }

    /// Reads every `.odt` under `nas/data`, panics if some chunk under a header seen before now
    /// holds other bytes, and records what it saw. Returns how many chunks it compared with an
    /// earlier observation.
    pub fn observe(&mut self, nas: &Path) -> u64 {
        use odt_format::crypto::stream::{chunk_digest, HEADER_LEN, TAG_LEN};
        use std::io::Read;
        let mut compared = 0;
        let Ok(vms) = std::fs::read_dir(nas.join("data")) else {
            return 0;
        };
        let mut files: Vec<PathBuf> = vms
            .flat_map(|vm| std::fs::read_dir(vm.unwrap().path()).unwrap())
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "odt"))
            .collect();
        files.sort();
        for p in files {
            let rel = p.strip_prefix(nas).unwrap().display().to_string();
            let mut f = std::fs::File::open(&p).unwrap();
            let mut header = [0u8; HEADER_LEN];
            if f.read_exact(&mut header).is_err() || !(16..=24).contains(&header[8]) {
                continue;
            }
            let sealed_len = (1usize << header[8]) + TAG_LEN;
            let mut buf = vec![0u8; sealed_len];
            for index in 0u64.. {
                let mut got = 0;
                while got < sealed_len {
                    match f.read(&mut buf[got..]).unwrap() {
                        0 => break,
                        n => got += n,
                    }
                }
                if got == 0 {
                    break;
                }
                let bytes = &buf[..got];
                let seen = self.seen.entry((rel.clone(), header, index)).or_default();
                let twice = || {
                    panic!(
                        "{rel}: chunk {index} was sealed twice under one key and nonce with \
                         different plaintexts (docs/SECURITY.md §S3)"
                    )
                };
                if got == sealed_len {
                    let d = chunk_digest(bytes);
                    if seen.whole.is_some_and(|w| w != d) {
                        twice();
                    }
                    compared += u64::from(seen.whole.is_some());
                    seen.whole = Some(d);
                }
                for piece in &seen.pieces {
                    let n = piece.len().min(got);
                    if piece[..n] != bytes[..n] {
                        twice();
                    }
                    compared += 1;
                }
                if got < sealed_len {
                    if !seen.pieces.iter().any(|p| p[..] == *bytes) {
                        seen.pieces.push(bytes.to_vec());
                    }
                    break;
                }
            }
        }
        compared
    }
}
