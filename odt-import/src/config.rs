//! The provider's config file: what the operator at the dock would otherwise retype on every
//! command (the vCenter and vCD they always import into, the placement, their keys, the trust
//! file, the state folder). `--config FILE` or `ODT_CONFIG` names it (and then it must exist);
//! else [`DEFAULT_PATH`] is read when it exists. Keys are named as the flags they stand in for:
//!
//! ```toml
//! # /etc/odt/import.toml
//! vcenter = "https://vc.example.com"
//! vcenter-user = "administrator@vsphere.local"
//! vcenter-thumbprint = "AB:CD:…"           # SHA-1 or SHA-256
//! vcenter-password-file = "vc.pass"        # a path (mode 0600), never the password itself
//! datacenter = "DC0"
//! cluster = "C1"
//! datastore = "ds1"
//! vcd = "https://vcd.example.com"
//! vcd-user = "admin@System"
//! vcd-thumbprint = "…"
//! vcd-password-file = "vcd.pass"
//! identity = "provider.key"                 # paths: relative to this file's folder
//! receipt-key = "provider-receipt.key"
//! trust = "trust.toml"
//! state = "/var/lib/odt"
//! ```
//!
//! Precedence: a flag, then its environment variable, then this file. A flag that excludes
//! a key also drops it: `--insecure` the thumbprint, `--host` the cluster, `--trusted-key` or
//! `--allow-org` the trust file, `--passphrase-file` or `ODT_PASSPHRASE` the identity, and
//! `ODT_VCENTER_PASSWORD` / `ODT_VCD_PASSWORD` the password files. A password in the file is
//! refused (docs/SECURITY.md §S7).

use std::path::{Path, PathBuf};

use odt_cli::vcd::VcdConn;
use odt_cli::UsageError;
use serde::Deserialize;

use crate::cli::{Command, JobArgs};
use crate::vcenter::VcenterArgs;

/// The config file read when neither `--config` nor `ODT_CONFIG` names one, if it exists.
pub const DEFAULT_PATH: &str = "/etc/odt/import.toml";

/// What the config file may say (each key named as its flag).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ImportConfig {
    /// `--vcenter`.
    pub vcenter: Option<String>,
    /// `--vcenter-user`.
    pub vcenter_user: Option<String>,
    /// `--vcenter-thumbprint`.
    pub vcenter_thumbprint: Option<String>,
    /// `--vcenter-password-file`.
    pub vcenter_password_file: Option<PathBuf>,
    /// `--datacenter`.
    pub datacenter: Option<String>,
    /// `--cluster`.
    pub cluster: Option<String>,
    /// `--datastore`.
    pub datastore: Option<String>,
    /// `--vcd`.
    pub vcd: Option<String>,
    /// `--vcd-user`.
    pub vcd_user: Option<String>,
    /// `--vcd-thumbprint`.
    pub vcd_thumbprint: Option<String>,
    /// `--vcd-password-file`.
    pub vcd_password_file: Option<PathBuf>,
    /// `--identity`.
    pub identity: Option<PathBuf>,
    /// `--receipt-key`.
    pub receipt_key: Option<PathBuf>,
    /// `--trust`.
    pub trust: Option<PathBuf>,
    /// `--state`.
    pub state: Option<PathBuf>,
}

/// A config file read, and where from.
#[derive(Debug)]
pub struct Loaded {
    /// The file.
    pub path: PathBuf,
    /// What it says, its paths resolved against its folder.
    pub config: ImportConfig,
}

/// Whether `cmd` takes anything from a config file (`keygen`, `completions` and `man` do not,
/// and do not read one).
pub fn used_by(cmd: &Command) -> bool {
    !matches!(
        cmd,
        Command::Keygen(_) | Command::Completions(_) | Command::Man(_)
    )
}

/// Reads the config file `explicit` names (it must exist), else [`DEFAULT_PATH`] when it
/// exists; `None` when there is none.
pub fn load(explicit: Option<&Path>) -> Result<Option<Loaded>, UsageError> {
    load_from(explicit, Path::new(DEFAULT_PATH))
}

/// [`load`] with another default, for tests.
pub fn load_from(explicit: Option<&Path>, default: &Path) -> Result<Option<Loaded>, UsageError> {
    let Some(path) = odt_cli::config::locate(explicit, default, "--config (or ODT_CONFIG)")? else {
        return Ok(None);
    };
    let mut config: ImportConfig = odt_cli::config::load(&path, &secret_hint)?;
    config.resolve_paths(&path);
    Ok(Some(Loaded { path, config }))
}

/// Where the secret a refused key would hold goes instead.
fn secret_hint(key: &str) -> String {
    let k = key.to_ascii_lowercase();
    let (env, file) = if k.contains("vcd") {
        ("ODT_VCD_PASSWORD", "vcd-password-file")
    } else if k.contains("pass") && !k.contains("password") {
        return "the bundle passphrase comes from ODT_PASSPHRASE, --passphrase-file or a \
                prompt, or use identity = \"KEY\" (the provider's X25519 key)"
            .into();
    } else {
        ("ODT_VCENTER_PASSWORD", "vcenter-password-file")
    };
    format!(
        "remove it; set {env} in the environment, or put the password in a file readable only \
         by you (mode 0600) and name it with {file} = \"FILE\""
    )
}

/// `slot` from the file when the command line left it empty.
fn fill<T: Clone>(slot: &mut Option<T>, from: &Option<T>) {
    if slot.is_none() {
        slot.clone_from(from);
    }
}

/// True when the environment variable `name` is set (it outranks the file).
fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some()
}

impl ImportConfig {
    /// Paths in the file are relative to its folder.
    fn resolve_paths(&mut self, file: &Path) {
        for p in [
            &mut self.vcenter_password_file,
            &mut self.vcd_password_file,
            &mut self.identity,
            &mut self.receipt_key,
            &mut self.trust,
            &mut self.state,
        ]
        .into_iter()
        .flatten()
        {
            *p = odt_cli::config::resolve(file, p);
        }
    }

    /// Fills what `cmd`'s command line left out with what the file says.
    pub fn apply(&self, cmd: &mut Command) {
        match cmd {
            Command::Verify(o) => {
                self.signer(&mut o.signer, &[]);
                self.identity(&mut o.identity, o.passphrase_file.is_some());
                self.state(&mut o.state);
            }
            Command::Plan(o) => {
                self.job(&mut o.job);
                self.vcenter(&mut o.vcenter);
                self.vcd(&mut o.vcd);
                self.state(&mut o.state);
            }
            Command::Run(o) => {
                self.job(&mut o.job);
                self.vcenter(&mut o.vcenter);
                self.vcd(&mut o.vcd);
                self.state(&mut o.state);
                self.identity(&mut o.identity, o.passphrase_file.is_some());
                fill(&mut o.receipt_key, &self.receipt_key);
            }
            Command::AddPortGroup(o) => self.vcenter(&mut o.vcenter),
            Command::Inspect(o) => self.state(&mut o.state),
            Command::Keygen(_) | Command::Report(_) | Command::Completions(_) | Command::Man(_) => {
            }
        }
    }

    fn job(&self, j: &mut JobArgs) {
        self.signer(&mut j.signer, &j.allow_org);
    }

    /// The trust file, unless the command line names the signer's key (or its orgs) itself.
    fn signer(&self, s: &mut crate::cli::SignerArgs, allow_org: &[String]) {
        if s.trusted_key.is_none() && allow_org.is_empty() {
            fill(&mut s.trust, &self.trust);
        }
    }

    fn vcenter(&self, v: &mut VcenterArgs) {
        let c = &mut v.conn;
        fill(&mut c.vcenter, &self.vcenter);
        fill(&mut c.vcenter_user, &self.vcenter_user);
        if !c.insecure {
            fill(&mut c.vcenter_thumbprint, &self.vcenter_thumbprint);
        }
        if !env_set("ODT_VCENTER_PASSWORD") {
            fill(&mut c.vcenter_password_file, &self.vcenter_password_file);
        }
        fill(&mut v.datacenter, &self.datacenter);
        if v.host.is_none() {
            fill(&mut v.cluster, &self.cluster);
        }
        fill(&mut v.datastore, &self.datastore);
    }

    fn vcd(&self, v: &mut VcdConn) {
        fill(&mut v.vcd, &self.vcd);
        fill(&mut v.vcd_user, &self.vcd_user);
        if !v.vcd_insecure {
            fill(&mut v.vcd_thumbprint, &self.vcd_thumbprint);
        }
        if !env_set("ODT_VCD_PASSWORD") {
            fill(&mut v.vcd_password_file, &self.vcd_password_file);
        }
    }

    /// The identity, unless the passphrase was asked for (`--passphrase-file`, `ODT_PASSPHRASE`).
    fn identity(&self, id: &mut Option<PathBuf>, passphrase_file: bool) {
        if !passphrase_file && !env_set("ODT_PASSPHRASE") {
            fill(id, &self.identity);
        }
    }

    /// The state folder, unless `ODT_STATE_DIR` names one.
    fn state(&self, s: &mut Option<PathBuf>) {
        if !env_set("ODT_STATE_DIR") {
            fill(s, &self.state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("import.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn plan(args: &[&str], cfg: &ImportConfig) -> Box<crate::cli::PlanOptions> {
        let mut argv = vec!["odt-import", "plan", "--nas", "/n"];
        argv.extend_from_slice(args);
        let mut cmd = crate::cli::Cli::try_parse_from(argv).unwrap().command;
        cfg.apply(&mut cmd);
        match cmd {
            Command::Plan(p) => p,
            _ => unreachable!(),
        }
    }

    #[test]
    fn every_key_is_read_and_paths_are_relative_to_the_file() {
        let d = tempfile::tempdir().unwrap();
        let text = "vcenter = \"https://vc\"\nvcenter-user = \"u\"\nvcenter-thumbprint = \"AA\"\n\
                    vcenter-password-file = \"vc.pass\"\ndatacenter = \"DC\"\ncluster = \"C\"\n\
                    datastore = \"D\"\nvcd = \"https://vcd\"\nvcd-user = \"a@System\"\n\
                    vcd-thumbprint = \"BB\"\nvcd-password-file = \"/abs/vcd.pass\"\n\
                    identity = \"p.key\"\nreceipt-key = \"r.key\"\ntrust = \"trust.toml\"\n\
                    state = \"st\"\n";
        let p = write(d.path(), text);
        let c = load_from(Some(&p), Path::new("/nonexistent"))
            .unwrap()
            .unwrap();
        assert_eq!(c.path, p);
        let c = c.config;
        assert_eq!(c.vcenter_password_file, Some(d.path().join("vc.pass")));
        assert_eq!(c.vcd_password_file, Some(PathBuf::from("/abs/vcd.pass")));
        assert_eq!(c.identity, Some(d.path().join("p.key")));
        assert_eq!(c.receipt_key, Some(d.path().join("r.key")));
        assert_eq!(c.trust, Some(d.path().join("trust.toml")));
        assert_eq!(c.state, Some(d.path().join("st")));
        assert_eq!(c.vcd_thumbprint.as_deref(), Some("BB"));
    }

    #[test]
    fn flags_override_the_file_and_exclusive_flags_drop_its_keys() {
        let cfg = ImportConfig {
            vcenter: Some("https://vc".into()),
            vcenter_thumbprint: Some("AA".into()),
            cluster: Some("C".into()),
            datastore: Some("D".into()),
            trust: Some("/etc/odt/trust.toml".into()),
            vcd: Some("https://vcd".into()),
            vcd_thumbprint: Some("BB".into()),
            ..Default::default()
        };
        let p = plan(&[], &cfg);
        assert_eq!(p.vcenter.conn.vcenter.as_deref(), Some("https://vc"));
        assert_eq!(p.vcenter.cluster.as_deref(), Some("C"));
        assert_eq!(p.job.signer.trust, cfg.trust);
        assert_eq!(p.vcd.vcd_thumbprint.as_deref(), Some("BB"));
        let p = plan(
            &[
                "--vcenter",
                "https://other",
                "--datastore",
                "E",
                "-k",
                "--host",
                "h",
            ],
            &cfg,
        );
        assert_eq!(p.vcenter.conn.vcenter.as_deref(), Some("https://other"));
        assert_eq!(p.vcenter.datastore.as_deref(), Some("E"));
        assert_eq!(
            p.vcenter.conn.vcenter_thumbprint, None,
            "--insecure drops it"
        );
        assert_eq!(p.vcenter.cluster, None, "--host drops the file's cluster");
        let p = plan(&["--trusted-key", "k.pub", "--vcd-insecure"], &cfg);
        assert_eq!(p.job.signer.trust, None);
        assert_eq!(p.vcd.vcd_thumbprint, None);
        let p = plan(&["--allow-org", "acme"], &cfg);
        assert_eq!(
            p.job.signer.trust, None,
            "--allow-org goes with --trusted-key"
        );
    }

    #[test]
    fn a_missing_default_is_no_config_and_a_missing_explicit_file_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let none = d.path().join("import.toml");
        assert!(load_from(None, &none).unwrap().is_none());
        let e = load_from(Some(&none), &none).unwrap_err().0;
        assert!(
            e.contains("does not exist") && e.contains("--config"),
            "{e}"
        );
    }

    #[test]
    fn passwords_are_refused_with_where_they_go() {
        let d = tempfile::tempdir().unwrap();
        for (key, env) in [
            ("password", "ODT_VCENTER_PASSWORD"),
            ("vcenter-password", "ODT_VCENTER_PASSWORD"),
            ("vcd-password", "ODT_VCD_PASSWORD"),
            ("passphrase", "ODT_PASSPHRASE"),
        ] {
            let p = write(d.path(), &format!("cluster = \"C\"\n{key} = \"s3cret\"\n"));
            let e = load_from(Some(&p), &p).unwrap_err().0;
            assert!(e.contains("line 2") && e.contains(env), "{e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn an_unknown_key_lists_the_valid_ones() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "cluster = \"C\"\ndatastor = \"D\"\n");
        let e = load_from(Some(&p), &p).unwrap_err().0;
        assert!(e.contains("line 2: unknown key `datastor`"), "{e}");
        for k in ["`vcenter`", "`datastore`", "`receipt-key`", "`state`"] {
            assert!(e.contains(k), "{k}: {e}");
        }
    }
}
