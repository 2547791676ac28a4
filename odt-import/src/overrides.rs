//! Overrides at the dock: `plan` and `run` take `--rename OLD=NEW` and `--set VM.FIELD=VALUE`
//! so the provider can adjust where a VM lands without shipping the NAS back (issue 13,
//! item 5). They change the manifest's targets in memory only, after its signature checked
//! out; the signed bytes on the NAS are never touched, and the receipt lists every override
//! beside the manifest's own names (docs/FORMAT.md §7.1).
//!
//! An override may never take a VM outside what the signer's key may target
//! (docs/SECURITY.md §S9): a VM the policy allowed before and refuses after is a usage error
//! naming the option, and nothing is done. One the manifest already sent somewhere refused
//! stays the tenancy gate's business (`plan` FAIL, `run` exit 1).
//!
//! VMs are named by their name in the manifest (before any `--rename`), or `*` for every VM.

use anyhow::Result;
use odt_cli::suggest::did_you_mean;
use odt_cli::UsageError;
use odt_format::job::manifest::{JobManifest, Target};
pub use odt_format::job::receipt::Override;
use odt_format::text::display_problem;

use crate::tenancy::Policy;

/// The target fields `--set` may change, as typed and as the receipt names them.
const FIELDS: &[(&str, &str)] = &[
    ("org", "org"),
    ("vdc", "vdc"),
    ("network", "network"),
    ("catalog", "catalog"),
    ("storage-profile", "storage_profile"),
    ("power-on", "power_on"),
];

/// One parsed option.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Spec {
    /// The option as typed, for messages.
    option: String,
    /// The VM's manifest name, or `*`.
    vm: String,
    /// The receipt's field name (`name` for a rename).
    field: &'static str,
    value: String,
}

/// Parses `--rename OLD=NEW` (split at the first `=`, so OLD has none).
fn parse_rename(s: &str) -> Result<Spec, UsageError> {
    let (old, new) = s.split_once('=').ok_or_else(|| {
        UsageError(format!(
            "--rename {s:?}: expected OLD=NEW (the VM's name in the manifest, then its new name)"
        ))
    })?;
    Ok(Spec {
        option: format!("--rename {s}"),
        vm: old.to_owned(),
        field: "name",
        value: new.to_owned(),
    })
}

/// Parses `--set VM.FIELD=VALUE`: the first `.FIELD=` of a known field splits it, so the
/// VM's name may hold dots (`web.example.com.vdc=X`).
fn parse_set(s: &str) -> Result<Spec, UsageError> {
    let found = FIELDS
        .iter()
        .filter_map(|(typed, field)| s.find(&format!(".{typed}=")).map(|at| (at, *typed, *field)))
        .min_by_key(|(at, _, _)| *at);
    let Some((at, typed, field)) = found else {
        let fields: Vec<&str> = FIELDS.iter().map(|(t, _)| *t).collect();
        return Err(UsageError(format!(
            "--set {s:?}: expected VM.FIELD=VALUE with FIELD one of {} (VM is the name in the \
             manifest, or * for every VM)",
            fields.join(", ")
        )));
    };
    let value = &s[at + typed.len() + 2..];
    if field == "power_on" && !matches!(value, "true" | "false") {
        return Err(UsageError(format!(
            "--set {s:?}: power-on is true or false"
        )));
    }
    Ok(Spec {
        option: format!("--set {s}"),
        vm: s[..at].to_owned(),
        field,
        value: value.to_owned(),
    })
}

/// Applies the overrides to `m` (renames first, then the `--set`s in order) and returns what
/// changed, for the plan, the journal and the receipt. Usage errors (exit 2): a malformed
/// option, an unknown VM (with the closest names), a bad or duplicate new name, and a VM the
/// policy allowed that an override would take where its key may not go.
pub fn apply(
    m: &mut JobManifest,
    renames: &[String],
    sets: &[String],
    policy: Option<&Policy>,
) -> Result<Vec<Override>> {
    let mut specs = renames
        .iter()
        .map(|s| parse_rename(s))
        .collect::<Result<Vec<_>, _>>()?;
    for s in sets {
        specs.push(parse_set(s)?);
    }
    let allowed_before: Vec<bool> = m
        .vms
        .iter()
        .map(|vm| policy.is_none_or(|p| p.grants.refusal(&vm.target).is_none()))
        .collect();
    let names: Vec<String> = m.vms.iter().map(|v| v.name.clone()).collect();
    let mut out = vec![];
    for spec in &specs {
        let hits: Vec<usize> = match spec.vm.as_str() {
            "*" => (0..names.len()).collect(),
            n => names.iter().position(|x| x == n).into_iter().collect(),
        };
        if hits.is_empty() {
            return Err(UsageError(format!(
                "{}: the job has no VM {:?}{}",
                spec.option,
                spec.vm,
                did_you_mean(&spec.vm, names.iter().map(String::as_str))
            ))
            .into());
        }
        for i in hits {
            let vm = &mut m.vms[i];
            if let Some(o) = set_field(&mut vm.name, &mut vm.target, spec)? {
                out.push(Override {
                    vm: names[i].clone(),
                    dir: vm.dir.clone(),
                    ..o
                });
            }
        }
    }
    check_names(m)?;
    check_policy(m, &out, &allowed_before, policy)?;
    Ok(out)
}

/// Sets one field; `None` when it already had that value.
fn set_field(name: &mut String, t: &mut Target, spec: &Spec) -> Result<Option<Override>> {
    let v = spec.value.clone();
    let (from, changed) = match spec.field {
        "name" => {
            if let Some(why) = display_problem(&v).or(v.is_empty().then_some("is empty")) {
                return Err(UsageError(format!("{}: the new name {why}", spec.option)).into());
            }
            (Some(std::mem::replace(name, v.clone())), true)
        }
        "power_on" => {
            let on = v == "true";
            let from = t.power_on.to_string();
            t.power_on = on;
            (Some(from), true)
        }
        field => {
            if v.is_empty() {
                return Err(UsageError(format!("{}: the value is empty", spec.option)).into());
            }
            let slot = match field {
                "org" => &mut t.org,
                "vdc" => &mut t.vdc,
                "network" => &mut t.network,
                "catalog" => &mut t.catalog,
                _ => &mut t.storage_profile,
            };
            (slot.replace(v.clone()), true)
        }
    };
    if !changed || from.as_deref() == Some(v.as_str()) {
        return Ok(None);
    }
    Ok(Some(Override {
        vm: String::new(),
        dir: String::new(),
        field: spec.field.to_owned(),
        from,
        to: v,
    }))
}

/// The VM names after the renames are still unique (vCenter and vCD name VMs and vApps by
/// them).
fn check_names(m: &JobManifest) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for vm in &m.vms {
        if !seen.insert(vm.name.as_str()) {
            return Err(UsageError(format!(
                "--rename: two VMs would be named {:?}; each VM needs its own name",
                vm.name
            ))
            .into());
        }
    }
    Ok(())
}

/// A VM its key could target before the overrides and cannot after: a usage error naming
/// the overrides of that VM and why the key may not go there.
fn check_policy(
    m: &JobManifest,
    done: &[Override],
    allowed_before: &[bool],
    policy: Option<&Policy>,
) -> Result<()> {
    let Some(p) = policy else { return Ok(()) };
    let mut lines = vec![];
    for (vm, before) in m.vms.iter().zip(allowed_before) {
        let Some(d) = p.grants.refusal(&vm.target).filter(|_| *before) else {
            continue;
        };
        let mine: Vec<String> = done
            .iter()
            .filter(|o| o.dir == vm.dir)
            .map(ToString::to_string)
            .collect();
        lines.push(format!(
            "VM {:?} ({}) would target org {:?} after the overrides ({}), refused for key {} \
             ({}): {}",
            vm.name,
            vm.dir,
            d.org,
            mine.join("; "),
            p.key_id,
            p.source,
            d.reason
        ));
    }
    if lines.is_empty() {
        return Ok(());
    }
    Err(UsageError(format!(
        "an override may not take a VM where the job's signer may not target; nothing was \
         done:\n  {}",
        lines.join("\n  ")
    ))
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, vm_in};
    use odt_format::trust::Grants;

    fn manifest() -> JobManifest {
        let vm = |i, name| vm_in(i, name, Some("acme"), Some("acme-vdc"));
        fixtures::manifest(vec![vm(0, "web.example.com"), vm(1, "db-01")])
    }

    fn acme() -> Policy {
        Policy {
            key_id: "1a2b3c4d5e6f7a8b".into(),
            source: "--allow-org with --trusted-key k.pub".into(),
            grants: Grants::any_vdc_of(&["acme".to_string()]).unwrap(),
        }
    }

    fn usage(e: &anyhow::Error) -> String {
        assert!(e.chain().any(odt_cli::is_usage), "not a usage error: {e:#}");
        format!("{e:#}")
    }

    #[test]
    fn renames_and_sets_change_the_targets_and_say_what_changed() {
        let mut m = manifest();
        let o = apply(
            &mut m,
            &["db-01=db-prod".into()],
            &[
                "web.example.com.vdc=acme-vdc-2".into(),
                "*.power-on=true".into(),
                "db-01.storage-profile=gold".into(),
                "web.example.com.vdc=acme-vdc-2".into(),
            ],
            Some(&acme()),
        )
        .unwrap();
        assert_eq!(m.vms[1].name, "db-prod");
        assert_eq!(m.vms[0].target.vdc.as_deref(), Some("acme-vdc-2"));
        assert!(m.vms.iter().all(|v| v.target.power_on));
        assert_eq!(m.vms[1].target.storage_profile.as_deref(), Some("gold"));
        let shown: Vec<String> = o.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "VM \"db-01\" (vm-001): name \"db-01\" -> \"db-prod\"",
                "VM \"web.example.com\" (vm-000): vdc \"acme-vdc\" -> \"acme-vdc-2\"",
                "VM \"web.example.com\" (vm-000): power_on \"false\" -> \"true\"",
                "VM \"db-01\" (vm-001): power_on \"false\" -> \"true\"",
                "VM \"db-01\" (vm-001): storage_profile (none) -> \"gold\"",
            ],
            "the repeated --set changed nothing and is not recorded"
        );
    }

    /// docs/SECURITY.md §S9: an override cannot move a VM into an org (or a VDC) its key may
    /// not target: a usage error naming the VM, the org, the key and the override.
    #[test]
    fn an_override_into_an_org_the_key_may_not_target_is_refused() {
        let mut m = manifest();
        let e = apply(&mut m, &[], &["db-01.org=globex".into()], Some(&acme())).unwrap_err();
        let e = usage(&e);
        for needle in [
            "VM \"db-01\" (vm-001) would target org \"globex\"",
            "org \"acme\" -> \"globex\"",
            "refused for key 1a2b3c4d5e6f7a8b",
            "nothing was done",
        ] {
            assert!(e.contains(needle), "{needle}: {e}");
        }
        // A key narrowed to one VDC may not be moved to another VDC of its own org.
        let narrow = Policy {
            grants: Grants {
                orgs: vec![odt_format::trust::OrgGrant {
                    name: "acme".into(),
                    vdcs: Some(vec!["acme-vdc".into()]),
                    catalogs: None,
                }],
            },
            ..acme()
        };
        let e = apply(
            &mut manifest(),
            &[],
            &["*.vdc=acme-vdc-2".into()],
            Some(&narrow),
        )
        .unwrap_err();
        assert!(
            usage(&e).contains("VDC \"acme-vdc-2\" of org \"acme\" is not allowed"),
            "{e:#}"
        );
        // Without a policy (no --vcd, no --allow-org) orgs are not checked.
        apply(&mut manifest(), &[], &["db-01.org=globex".into()], None).unwrap();
    }

    #[test]
    fn bad_options_are_usage_errors_that_teach() {
        let cases: &[(&[&str], &[&str], &str)] = &[
            (
                &["db-1=x"],
                &[],
                "the job has no VM \"db-1\"; did you mean db-01?",
            ),
            (&["nothing"], &[], "expected OLD=NEW"),
            (&["db-01=web.example.com"], &[], "two VMs would be named"),
            (&["db-01="], &[], "the new name is empty"),
            (&["db-01=a\u{202e}b"], &[], "the new name"),
            (&[], &["db-01.colour=red"], "FIELD one of org, vdc, network"),
            (&[], &["db-01.power-on=yes"], "power-on is true or false"),
            (&[], &["db-01.vdc="], "the value is empty"),
            (&[], &["web.vdc=x"], "did you mean web.example.com?"),
        ];
        for (renames, sets, needle) in cases {
            let r: Vec<String> = renames.iter().map(|s| s.to_string()).collect();
            let s: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
            let e = apply(&mut manifest(), &r, &s, Some(&acme())).unwrap_err();
            let e = usage(&e);
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }
}
