//! The `--job FILE` TOML schema: per-VM targets.
//!
//! ```toml
//! # Defaults for every VM in this file (each may be overridden per VM).
//! org = "acme"
//! vdc = "acme-vdc"
//! network = "acme-net"
//! catalog = "acme-templates"
//! as_template = false
//! power_on = false
//! ip_mode = "pool"            # pool | dhcp | manual: how the NICs get their addresses
//! storage_profile = "gold"    # a VDC storage profile (default: the VDC's default profile)
//!
//! [[vm]]
//! source = "web.ova"          # relative to this file's folder
//! power_on = true
//! ip_mode = "manual"
//! ip_addresses = ["10.0.0.5"] # one per NIC, in NIC order (a vApp: its VMs in OVF order)
//!
//! [[vm]]
//! source = "db"               # an OVF folder
//! catalog = "golden"
//! as_template = true
//! ```
//!
//! Precedence for each field: the `[[vm]]` entry, then the file's top level, then the
//! command-line target flags.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use odt_cli::UsageError;
use odt_format::job::manifest::{IpMode, Target};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    org: Option<String>,
    vdc: Option<String>,
    network: Option<String>,
    catalog: Option<String>,
    as_template: Option<bool>,
    power_on: Option<bool>,
    ip_mode: Option<IpMode>,
    ip_addresses: Option<Vec<String>>,
    storage_profile: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VmSpec {
    source: PathBuf,
    #[serde(flatten)]
    fields: Fields,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobFile {
    #[serde(flatten)]
    defaults: Fields,
    #[serde(default)]
    vm: Vec<VmSpec>,
}

impl Fields {
    fn over(&self, base: &Target) -> Target {
        Target {
            org: self.org.clone().or_else(|| base.org.clone()),
            vdc: self.vdc.clone().or_else(|| base.vdc.clone()),
            network: self.network.clone().or_else(|| base.network.clone()),
            catalog: self.catalog.clone().or_else(|| base.catalog.clone()),
            as_template: self.as_template.unwrap_or(base.as_template),
            power_on: self.power_on.unwrap_or(base.power_on),
            ip_mode: self.ip_mode.or(base.ip_mode),
            ip_addresses: self
                .ip_addresses
                .clone()
                .unwrap_or_else(|| base.ip_addresses.clone()),
            storage_profile: self
                .storage_profile
                .clone()
                .or_else(|| base.storage_profile.clone()),
        }
    }
}

/// Largest job file read.
pub const MAX_JOB_FILE_BYTES: u64 = 1 << 20;

/// Reads a job file into (source path, target) pairs; `flags` are the command-line defaults.
pub fn load(path: &Path, flags: &Target) -> Result<Vec<(PathBuf, Target)>> {
    // A regular file of at most 1 MiB (docs/SECURITY.md §S5): thousands of VMs.
    let bytes = odt_format::job::reader::read_bounded(path, MAX_JOB_FILE_BYTES)
        .with_context(|| format!("read job file {}", path.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("job file {}: not UTF-8 text", path.display()))?;
    let job: JobFile = match toml::from_str(&text) {
        Ok(j) => j,
        Err(e) => match unknown_key(path, &text, &e) {
            Some(usage) => return Err(usage.into()),
            None => return Err(e).with_context(|| format!("job file {}", path.display())),
        },
    };
    if job.vm.is_empty() {
        bail!("job file {}: no [[vm]] entries", path.display());
    }
    let base = job.defaults.over(flags);
    let dir = path.parent().unwrap_or(Path::new("."));
    Ok(job
        .vm
        .iter()
        .map(|v| (dir.join(&v.source), v.fields.over(&base)))
        .collect())
}

/// Checks a target's IP settings against the NICs the OVF has (`nics`, when known): a usage
/// error (exit 2) naming the VM.
pub fn check_ip(t: &Target, nics: Option<usize>, what: &str) -> Result<()> {
    odt_format::job::manifest::check_ip_target(t, nics).map_err(|e| {
        UsageError(format!(
            "{what}: {e} (--ip-mode, --ip-address or the job file)"
        ))
        .into()
    })
}

/// No MANUAL address is given to two NICs of the job: vCD would refuse the second.
pub fn check_ips_unique<'a>(targets: impl Iterator<Item = (String, &'a Target)>) -> Result<()> {
    let mut seen: std::collections::HashMap<&str, String> = Default::default();
    for (what, t) in targets {
        for a in &t.ip_addresses {
            if let Some(first) = seen.insert(a.as_str(), what.clone()) {
                return Err(UsageError(format!(
                    "{what}: IP address {a} is also given to {first}; each NIC needs its own"
                ))
                .into());
            }
        }
    }
    Ok(())
}

/// A key the schema does not know, as a usage error naming its line, the closest valid keys
/// and all of them (serde's own message lists none through `flatten`).
fn unknown_key(path: &Path, text: &str, e: &toml::de::Error) -> Option<odt_cli::UsageError> {
    let msg = e.message();
    let key = msg.strip_prefix("unknown field `")?.split('`').next()?;
    let mut keys = keys_of::<Fields>();
    keys.push("vm".into());
    let all = keys.iter().map(String::as_str).chain(["source"]);
    let hint = odt_cli::suggest::did_you_mean(key, all);
    let line = e
        .span()
        .and_then(|s| text.get(..s.start))
        .map(|before| {
            format!(
                ", in the table at line {}",
                before.matches('\n').count() + 1
            )
        })
        .unwrap_or_default();
    Some(odt_cli::UsageError(format!(
        "job file {}{line}: unknown key `{key}`{hint} (the keys are {}, and in each [[vm]] \
         `source` and the same target keys; see README, \"Job files\")",
        path.display(),
        keys.join(", ")
    )))
}

/// The keys `T` accepts, from serde's own "expected one of" for a key no schema has, so a
/// field added to `Fields` is listed without editing this.
fn keys_of<T: serde::de::DeserializeOwned>() -> Vec<String> {
    let Err(e) = toml::from_str::<T>("\"odt probe\" = 0") else {
        return vec![];
    };
    let msg = e.message().to_owned();
    let Some((_, list)) = msg.split_once("expected") else {
        return vec![];
    };
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Checks a target is coherent, and that its names may be shown (docs/FORMAT.md §2.1).
pub fn check_target(t: &Target, what: &str) -> Result<()> {
    for (field, v) in [
        ("--org", &t.org),
        ("--vdc", &t.vdc),
        ("--network", &t.network),
        ("--catalog", &t.catalog),
        ("--storage-profile", &t.storage_profile),
    ] {
        if let Some(v) = v {
            if let Err(e) =
                odt_format::job::manifest::validate_display(&format!("the target {field}"), v)
            {
                bail!("{what}: {e}");
            }
        }
    }
    if let Some(p) = &t.storage_profile {
        let max = odt_format::job::manifest::MAX_TARGET_NAME_BYTES;
        if p.trim().is_empty() || p.len() > max {
            return Err(odt_cli::UsageError(format!(
                "{what}: the target --storage-profile {p:?} must be a name of 1 to {max} bytes \
                 (leave it out for the VDC's default profile)"
            ))
            .into());
        }
    }
    // Found at the dock, a VM with nowhere to land means shipping the NAS again: refused
    // here, as a usage error, before anything is written.
    let missing: Vec<&str> = [("--org", &t.org), ("--vdc", &t.vdc)]
        .into_iter()
        .filter(|(_, v)| v.is_none())
        .map(|(f, _)| f)
        .collect();
    if !missing.is_empty() {
        return Err(odt_cli::UsageError(format!(
            "{what}: no target {}: the provider could not place this VM at the dock; give {} \
             (or `org` and `vdc` in the job file); nothing was written",
            missing.join(" or "),
            missing.join(" and ")
        ))
        .into());
    }
    if t.as_template && t.catalog.is_none() {
        return Err(odt_cli::UsageError(format!(
            "{what}: --as-template needs a --catalog (or `catalog` in the job file); nothing \
             was written"
        ))
        .into());
    }
    if t.as_template && t.power_on {
        bail!("{what}: a vApp template cannot be powered on; drop --power-on or --as-template");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_vm_then_file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("job.toml");
        std::fs::write(&p, "org = \"o1\"\nvdc = \"v1\"\n[[vm]]\nsource = \"a.ova\"\nvdc = \"v2\"\npower_on = true\n[[vm]]\nsource = \"b\"\n").unwrap();
        let flags = Target {
            network: Some("n0".into()),
            org: Some("o0".into()),
            ..Default::default()
        };
        let v = load(&p, &flags).unwrap();
        assert_eq!(v[0].0, dir.path().join("a.ova"));
        assert_eq!(v[0].1.org.as_deref(), Some("o1"));
        assert_eq!(v[0].1.vdc.as_deref(), Some("v2"));
        assert_eq!(v[0].1.network.as_deref(), Some("n0"));
        assert!(v[0].1.power_on);
        assert_eq!(v[1].1.vdc.as_deref(), Some("v1"));
        assert!(!v[1].1.power_on);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("job.toml");
        std::fs::write(&p, "orgg = \"x\"\n[[vm]]\nsource = \"a\"\n").unwrap();
        assert!(load(&p, &Target::default()).is_err());
    }
}
