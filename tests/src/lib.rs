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
        c.args(args)
            .env_remove("ODT_PASSPHRASE")
            .current_dir(self.dir.path());
        if let Some(p) = passphrase {
            c.env("ODT_PASSPHRASE", p);
        }
        c
    }
    /// `odt-export run` of `sources` into the NAS with the fast test KDF and a recipient.
    pub fn export_run(&self, sources: &[&Path], extra: &[&str]) -> Output {
        let args = self.export_run_args(sources, extra);
        self.export(&args.iter().map(String::as_str).collect::<Vec<_>>())
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
    use sha2::Digest;
    use std::io::Write;
    std::fs::create_dir_all(dir).unwrap();
    let disk = format!("{name}-disk1.vmdk");
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
    let disk_digest = hex::encode(h.finalize());
    let ovf = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References><File ovf:id="file1" ovf:href="{disk}" ovf:size="{size}"/></References>
  <DiskSection><Info>disks</Info><Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="{size}"/></DiskSection>
  <NetworkSection><Info>nets</Info><Network ovf:name="corp-lan"><Description>lan</Description></Network></NetworkSection>
  <VirtualSystem ovf:id="{name}">
    <Info>vm</Info><Name>{name}</Name>
    <VirtualHardwareSection><Info>hw</Info>
      <Item><rasd:ElementName>disk</rasd:ElementName><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>17</rasd:ResourceType></Item>
      <Item><rasd:Connection>corp-lan</rasd:Connection><rasd:ElementName>nic</rasd:ElementName><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceType>10</rasd:ResourceType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"#
    );
    std::fs::write(dir.join(format!("{name}.ovf")), &ovf).unwrap();
    let od = hex::encode(sha2::Sha256::digest(ovf.as_bytes()));
    std::fs::write(
        dir.join(format!("{name}.mf")),
        format!("SHA256({name}.ovf)= {od}\nSHA256({disk})= {disk_digest}\n"),
    )
    .unwrap();
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
    use odt_format::keys::{Identity, VerifyingKey};
    use odt_format::layout::Layout;
    use odt_format::reader::{data_key, open_manifest, DecryptReader};
    use odt_format::stanza::Unlock;
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
