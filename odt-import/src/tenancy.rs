//! Tenancy: which vCloud Director orgs the key that signed a job may target.
//!
//! The provider says so in one of two ways (docs/SECURITY.md §S9):
//!
//! - `--trusted-key KEY.pub --allow-org ORG…`: one customer's key and the orgs it may target
//!   (any VDC and catalog of them);
//! - `--trust FILE`: the provider's trust file (`odt_format::trust`), listing every customer's
//!   key and its orgs, optionally narrowed to VDCs and catalogs. The job's signer is looked up
//!   by the key id in its signature file, and the signature is then checked against that
//!   customer's key (so the id only chooses; it proves nothing by itself).
//!
//! With `--vcd` one of the two is required (a usage error otherwise). Without `--vcd` nothing
//! lands in an org, but orgs given are still checked: a job that names another customer's org
//! is refused either way.
//!
//! [`check`] is pure: `plan` shows its refusals as FAIL checks, and `run` stops on them before
//! it reads a secret or connects to anything.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use odt_cli::UsageError;
use odt_format::crypto::keys::VerifyingKey;
use odt_format::job::layout::Layout;
use odt_format::job::manifest::{JobManifest, SignatureFile};
use odt_format::job::reader::{open_manifest_bytes, read_bounded, TrustAnchor};
use odt_format::trust::{Grants, TrustPolicy};
use serde::Serialize;

use crate::cli::JobArgs;
use crate::plan::Check;

/// What the key that signed a job may target.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The signer's key id.
    pub key_id: String,
    /// Where the grants come from, for messages: `--allow-org` or the trust file's customer.
    pub source: String,
    /// The orgs (VDCs, catalogs) it may target.
    pub grants: Grants,
}

/// The key a job's signature is checked against, and what that key may target (`None`:
/// `--trusted-key` without `--allow-org` and without `--vcd`; orgs are not checked).
pub struct Signer {
    /// The key.
    pub key: VerifyingKey,
    /// Its policy.
    pub policy: Option<Policy>,
}

/// A VM the policy does not allow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The VM's name.
    pub vm: String,
    /// Its `vm-NNN`.
    pub dir: String,
    /// The org it targets.
    pub org: String,
    /// The key id of the job's signer.
    pub key_id: String,
    /// What is not allowed, and what is.
    pub reason: String,
    /// Where the grants come from.
    pub source: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "VM {:?} ({}) targets org {:?}, refused for key {} ({}): {}",
            self.vm, self.dir, self.org, self.key_id, self.source, self.reason
        )
    }
}

/// Every VM of `m` that `policy` does not allow, in manifest order.
pub fn check(policy: &Policy, m: &JobManifest) -> Vec<Refusal> {
    m.vms
        .iter()
        .filter_map(|vm| {
            policy.grants.refusal(&vm.target).map(|d| Refusal {
                vm: vm.name.clone(),
                dir: vm.dir.clone(),
                org: d.org,
                key_id: policy.key_id.clone(),
                reason: d.reason,
                source: policy.source.clone(),
            })
        })
        .collect()
}

/// `plan`'s checks: one FAIL per refused VM, or one passing check saying what was allowed.
/// Nothing when no policy applies.
pub fn plan_checks(policy: Option<&Policy>, m: &JobManifest) -> Vec<Check> {
    let Some(p) = policy else { return vec![] };
    let refused = check(p, m);
    if refused.is_empty() {
        return vec![Check {
            name: format!("every VM's org is allowed for key {}", p.key_id),
            ok: true,
            detail: format!("{} may target {}", p.source, p.grants.describe()),
        }];
    }
    refused
        .into_iter()
        .map(|r| Check {
            name: format!("org {:?} of VM {:?} ({})", r.org, r.vm, r.dir),
            ok: false,
            detail: format!("refused for key {} ({}): {}", r.key_id, r.source, r.reason),
        })
        .collect()
}

/// `run`'s gate: an error (exit 1) listing every refused VM, before anything is done.
pub fn enforce(policy: Option<&Policy>, m: &JobManifest) -> Result<()> {
    let Some(p) = policy else { return Ok(()) };
    let refused = check(p, m);
    if refused.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = refused.iter().map(ToString::to_string).collect();
    bail!(
        "the job targets orgs its signer may not target; nothing was deployed:\n  {}",
        lines.join("\n  ")
    )
}

/// Neither `--trusted-key` nor `--trust` (nor the config file's `trust`): who signed cannot
/// be checked.
pub fn no_signer() -> UsageError {
    UsageError(
        "give --trusted-key KEY.pub or --trust FILE (or trust = \"FILE\" in the config file)"
            .into(),
    )
}

/// Chooses the key that must have signed the job at `layout`, and its policy, from
/// `--trusted-key`/`--allow-org` or `--trust`. `registering` is `--vcd`: then the orgs must be
/// stated (a usage error otherwise).
pub fn signer(j: &JobArgs, layout: &Layout, registering: bool) -> Result<Signer> {
    match (&j.signer.trusted_key, &j.signer.trust) {
        (Some(path), _) => {
            if j.allow_org.is_empty() && registering {
                return Err(UsageError(
                    "--vcd lands VMs in tenant orgs: state which orgs this customer's key may \
                     target with --allow-org ORG (repeatable), or give --trust FILE instead of \
                     --trusted-key (see the README, \"Provider: which orgs a key may target\")"
                        .into(),
                )
                .into());
            }
            let grants = Grants::any_vdc_of(&j.allow_org)
                .map_err(|e| UsageError(format!("--allow-org: {e}")))?;
            let key = VerifyingKey::read(path)?;
            let policy = (!j.allow_org.is_empty()).then(|| Policy {
                key_id: key.key_id(),
                source: format!("--allow-org with --trusted-key {}", path.display()),
                grants,
            });
            Ok(Signer { key, policy })
        }
        (None, Some(trust)) => {
            let (policy, c) = customer(trust, layout)?;
            Ok(Signer {
                key: c.key.clone(),
                policy: Some(Policy {
                    key_id: c.key.key_id(),
                    source: format!(
                        "customer {:?} in trust file {}",
                        c.name,
                        policy.source().display()
                    ),
                    grants: c.grants.clone(),
                }),
            })
        }
        (None, None) => Err(no_signer().into()),
    }
}

/// The customer of the trust file at `trust` whose key signed the job at `layout`.
fn customer(
    trust: &Path,
    layout: &Layout,
) -> Result<(TrustPolicy, odt_format::trust::TrustedCustomer)> {
    let policy = TrustPolicy::load(trust)?;
    let id = signature_key_id(layout)?;
    let c = policy.by_key_id(&id).cloned().ok_or_else(|| {
        anyhow!(
            "the job is signed by key {id}, which is not the key of any of the {} customer(s) in \
             trust file {}: add the customer's public key there, or this job is not from a \
             customer you know; nothing was done",
            policy.customers().len(),
            trust.display()
        )
    })?;
    Ok((policy, c))
}

/// `verify --trust`: the key file of the customer who signed the job at `nas` (the shared
/// verify command reads it and checks the signature against it).
pub fn verify_key_file(trust: &Path, nas: &Path, json: bool) -> Result<PathBuf> {
    let (policy, c) = customer(trust, &Layout::new(nas))?;
    if !json {
        println!(
            "signer: key {} is customer {:?} (trust file {}, line {})",
            c.key.key_id(),
            c.name,
            policy.source().display(),
            c.line
        );
    }
    Ok(c.key_file)
}

/// The key id the job's signature file names (not yet verified: it only picks the customer
/// whose key the signature is then checked against). When it cannot be read, the reader's
/// own checks say why (no job, an interrupted export, a missing or broken signature file).
fn signature_key_id(layout: &Layout) -> Result<String> {
    let sig = read_bounded(&layout.signature(), 4096)
        .ok()
        .and_then(|b| serde_json::from_slice::<SignatureFile>(&b).ok());
    match sig {
        Some(s) => Ok(s.key_id),
        None => {
            open_manifest_bytes(layout, &TrustAnchor::Embedded)
                .context("the job's signature does not check out; nothing was done")?;
            bail!(
                "{}: cannot read the signer's key id; nothing was done",
                layout.signature().display()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::SignerArgs;
    use crate::fixtures::{self, vm_in};

    fn manifest(targets: &[(&str, Option<&str>, Option<&str>)]) -> JobManifest {
        let vms = targets.iter().enumerate();
        fixtures::manifest(vms.map(|(i, (n, o, v))| vm_in(i, n, *o, *v)).collect())
    }

    fn policy(orgs: &[&str]) -> Policy {
        Policy {
            key_id: "1a2b3c4d5e6f7a8b".into(),
            source: "--allow-org with --trusted-key k.pub".into(),
            grants: Grants::any_vdc_of(&orgs.iter().map(|o| o.to_string()).collect::<Vec<_>>())
                .unwrap(),
        }
    }

    /// docs/SECURITY.md §S9: a VM in an org its key may not target is refused, naming the
    /// VM, the org and the key id; the others are not.
    #[test]
    fn a_vm_in_another_customers_org_is_refused_by_name_org_and_key() {
        let m = manifest(&[
            ("web", Some("acme"), Some("acme-vdc")),
            ("db", Some("globex"), Some("globex-vdc")),
            ("cache", Some("ACME"), None),
        ]);
        let r = check(&policy(&["acme"]), &m);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!((r[0].vm.as_str(), r[0].dir.as_str()), ("db", "vm-001"));
        assert_eq!(r[0].org, "globex");
        let text = r[0].to_string();
        for needle in [
            "VM \"db\"",
            "org \"globex\"",
            "key 1a2b3c4d5e6f7a8b",
            "only \"acme\"",
        ] {
            assert!(text.contains(needle), "{text}");
        }
        let e = enforce(Some(&policy(&["acme"])), &m)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("nothing was deployed") && e.contains("VM \"db\""),
            "{e}"
        );
        let checks = plan_checks(Some(&policy(&["acme"])), &m);
        assert_eq!(checks.len(), 1);
        assert!(!checks[0].ok && checks[0].detail.contains("org \"globex\""));
    }

    #[test]
    fn an_allowed_job_passes_and_no_policy_checks_nothing() {
        let m = manifest(&[("web", Some("acme"), None), ("plain", None, None)]);
        assert!(check(&policy(&["acme"]), &m).is_empty());
        enforce(Some(&policy(&["acme"])), &m).unwrap();
        let c = plan_checks(Some(&policy(&["acme"])), &m);
        assert!(
            c.len() == 1 && c[0].ok && c[0].detail.contains("\"acme\""),
            "{c:?}"
        );
        assert!(plan_checks(None, &m).is_empty());
        enforce(None, &manifest(&[("x", Some("globex"), None)])).unwrap();
    }

    fn job(trusted_key: Option<&str>, trust: Option<&str>, orgs: &[&str]) -> JobArgs {
        JobArgs {
            nas: vec!["/nonexistent".into()],
            signer: SignerArgs {
                trusted_key: trusted_key.map(Into::into),
                trust: trust.map(Into::into),
            },
            allow_org: orgs.iter().map(|o| o.to_string()).collect(),
        }
    }

    #[test]
    fn vcd_without_orgs_is_a_usage_error_saying_what_to_add() {
        let layout = Layout::new("/nonexistent");
        let e = signer(&job(Some("/nonexistent.pub"), None, &[]), &layout, true)
            .err()
            .unwrap();
        assert!(e.chain().any(odt_cli::is_usage));
        assert!(e.to_string().contains("--allow-org ORG"), "{e}");
        assert!(e.to_string().contains("--trust FILE"), "{e}");
        // An empty org name is a usage error too; without --vcd the key is simply read.
        let e = signer(&job(Some("/nonexistent.pub"), None, &[""]), &layout, true)
            .err()
            .unwrap();
        assert!(e.chain().any(odt_cli::is_usage), "{e}");
        let e = signer(&job(Some("/nonexistent.pub"), None, &[]), &layout, false)
            .err()
            .unwrap();
        assert!(!e.chain().any(odt_cli::is_usage), "{e}");
    }

    #[test]
    fn with_a_trust_file_the_signer_is_found_by_key_id_or_refused_by_it() {
        use odt_format::crypto::keys::SigningKey;
        let dir = tempfile::tempdir().unwrap();
        let write_pub = |name: &str, seed: u8| {
            let k = SigningKey::from_seed(&[seed; 32]).verifying_key();
            let line = odt_format::crypto::keys::key_line(
                odt_format::crypto::keys::SIGN_PUBLIC_PREFIX,
                &k.to_bytes(),
            );
            std::fs::write(dir.path().join(name), line.as_bytes()).unwrap();
            k
        };
        let acme = write_pub("acme.key.pub", 1);
        write_pub("globex.key.pub", 2);
        let stranger = SigningKey::from_seed(&[3; 32]).verifying_key();
        let trust = dir.path().join("trust.toml");
        std::fs::write(
            &trust,
            "[[customer]]\nname = \"Acme Corp\"\nkey = \"acme.key.pub\"\n[[customer.org]]\nname = \"acme\"\n\
             [[customer]]\nname = \"Globex\"\nkey = \"globex.key.pub\"\n[[customer.org]]\nname = \"globex\"\n",
        )
        .unwrap();
        let nas = dir.path().join("nas");
        std::fs::create_dir(&nas).unwrap();
        let layout = Layout::new(&nas);
        let sign_as = |k: &VerifyingKey| {
            let sig = format!(
                "{{\"algorithm\": \"ed25519\", \"key_id\": \"{}\", \"public_key\": \"{}\", \"signature\": \"{}\"}}",
                k.key_id(),
                hex::encode(k.to_bytes()),
                "00".repeat(64)
            );
            std::fs::write(layout.signature(), sig).unwrap();
        };
        let t = trust.to_str().unwrap();
        sign_as(&acme);
        let s = signer(&job(None, Some(t), &[]), &layout, true).unwrap();
        assert_eq!(s.key, acme);
        let p = s.policy.unwrap();
        assert_eq!(p.key_id, acme.key_id());
        assert!(p.source.contains("customer \"Acme Corp\""), "{}", p.source);
        assert_eq!(p.grants.describe(), "\"acme\"");
        sign_as(&stranger);
        let e = signer(&job(None, Some(t), &[]), &layout, true)
            .err()
            .unwrap();
        let e = format!("{e:#}");
        assert!(
            e.contains(&format!("signed by key {}", stranger.key_id())),
            "{e}"
        );
        assert!(e.contains("2 customer(s) in trust file"), "{e}");
        // No signature file: the reader's own message.
        std::fs::remove_file(layout.signature()).unwrap();
        let e = format!(
            "{:#}",
            signer(&job(None, Some(t), &[]), &layout, true)
                .err()
                .unwrap()
        );
        assert!(e.contains("no odt job here"), "{e}");
    }
}
