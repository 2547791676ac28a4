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
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_owned()
}

/// Path of a built binary (`odt-export`, `odt-import`) next to this test's target directory.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/..");
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
        assert!(out.status.success(), "make-sample-vm.sh failed: {}", String::from_utf8_lossy(&out.stderr));
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
        let s = Scratch { dir: tempfile::tempdir().expect("tempdir") };
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
        let mut c = Command::new(bin(name));
        c.args(args).env_remove("ODT_PASSPHRASE").current_dir(self.dir.path());
        if let Some(p) = passphrase {
            c.env("ODT_PASSPHRASE", p);
        }
        c.output().expect("spawn")
    }
    /// `odt-export run` of `sources` into the NAS with the fast test KDF and a recipient.
    pub fn export_run(&self, sources: &[&Path], extra: &[&str]) -> Output {
        let nas = self.nas();
        let k = self.path("k");
        let p = self.path("p.pub");
        let mut args: Vec<&str> = vec![
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
        ];
        args.extend_from_slice(extra);
        let srcs: Vec<String> = sources.iter().map(|s| s.to_str().unwrap().to_owned()).collect();
        args.extend(srcs.iter().map(String::as_str));
        self.export(&args)
    }
    /// `odt-export verify --nas NAS --trusted-key k.pub EXTRA`.
    pub fn verify_export(&self, extra: &[&str]) -> Output {
        let (nas, kp) = (self.nas(), self.path("k.pub"));
        let mut a = vec!["verify", "--nas", nas.to_str().unwrap(), "--trusted-key", kp.to_str().unwrap()];
        a.extend_from_slice(extra);
        self.export(&a)
    }
    /// `odt-import verify --nas NAS --trusted-key k.pub EXTRA`.
    pub fn verify_import(&self, extra: &[&str]) -> Output {
        let (nas, kp) = (self.nas(), self.path("k.pub"));
        let mut a = vec!["verify", "--nas", nas.to_str().unwrap(), "--trusted-key", kp.to_str().unwrap()];
        a.extend_from_slice(extra);
        self.import(&a)
    }
    /// Asserts success and returns stdout.
    pub fn ok(&self, o: &Output) -> String {
        assert!(o.status.success(), "command failed ({:?})\nstdout:\n{}\nstderr:\n{}", o.status, text(&o.stdout), text(&o.stderr));
        text(&o.stdout)
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

/// Lossy UTF-8.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts the command exited with `code` and its stdout+stderr mention every needle.
pub fn assert_fails(o: &Output, code: i32, needles: &[&str]) {
    let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(code), "expected exit {code}, got {:?}\n{all}", o.status);
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
