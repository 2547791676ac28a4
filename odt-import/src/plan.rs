//! The deploy plan: a pure function from the signed manifest and the facts read from the
//! target vCenter to the checks an operator sees and the actions `run` will take. Keeping it
//! free of I/O makes every refusal testable without a server.

use odt_format::job::manifest::JobManifest;
use odt_format::progress::human_bytes;
use serde::Serialize;

/// The name of the placeholder port group every VM lands on first.
pub const VM_NETWORK: &str = "VM Network";

/// Headroom required on the datastore beyond the sum of disk capacities: 10% plus 1 GiB for
/// VM configuration files, swap and logs. Saturating: `u64::MAX` means "more than can be
/// counted" (a hostile manifest), never a small wrapped number.
pub fn required_space(disk_bytes: u64) -> u64 {
    disk_bytes
        .saturating_add(disk_bytes / 10)
        .saturating_add(1 << 30)
}

/// What was read from vCenter for the plan.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TargetFacts {
    /// vCenter URL (no credentials).
    pub vcenter: String,
    /// Datacenter name.
    pub datacenter: String,
    /// Cluster or host name.
    pub compute: String,
    /// Every host of the compute resource.
    pub hosts: Vec<String>,
    /// Hosts without a standard port group named exactly [`VM_NETWORK`].
    pub hosts_lacking_vm_network: Vec<String>,
    /// Datastore name.
    pub datastore: String,
    /// Free bytes on it.
    pub datastore_free: u64,
    /// Whether it is accessible.
    pub datastore_accessible: bool,
    /// VM dirs of this job already deployed by odt (found by their marker).
    pub deployed: Vec<String>,
    /// Names in the datacenter taken by something odt did not deploy for this job.
    pub taken_names: Vec<String>,
    /// VMs carrying this job's marker but deployed from another manifest (one re-signed
    /// under the same job id): the NAS is not the job that deployed them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_manifest: Vec<OtherManifest>,
    /// What was read from vCloud Director, when `--vcd` is given.
    pub vcd: Option<VcdFacts>,
}

/// A VM of this job id deployed from another manifest.
#[derive(Clone, Debug, Serialize)]
pub struct OtherManifest {
    /// Its bundle dir (`vm-000`).
    pub dir: String,
    /// Its name in vCenter.
    pub name: String,
    /// The SHA-256 of the manifest it was deployed from.
    pub manifest_sha256: String,
}

/// What was read from vCloud Director.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VcdFacts {
    /// vCD URL.
    pub url: String,
    /// The vimServer the target vCenter is registered as, when it is registered and usable.
    pub vim_server: Option<String>,
    /// Why it is not usable (unregistered, disabled, disconnected), when it is not.
    pub vim_server_problem: Option<String>,
    /// Per VM.
    pub vms: Vec<VcdVmFacts>,
    /// The org VDC networks the VMs still to wire go to, and their addresses.
    pub networks: Vec<NetworkRoom>,
}

/// One org VDC network's room for the NICs this job puts on it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NetworkRoom {
    /// Its name.
    pub network: String,
    /// Free static pool addresses (pool minus allocated minus this job's MANUAL addresses in
    /// the pool), once read.
    pub free: Option<u64>,
    /// Why its addresses could not be read.
    pub problem: Option<String>,
    /// The VMs whose NICs take POOL addresses.
    pub pool: Vec<PoolNeed>,
    /// The MANUAL addresses given to it.
    pub manual: Vec<ManualAddress>,
}

/// A VM's POOL NICs on a network.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PoolNeed {
    /// The VM.
    pub vm: String,
    /// How many NICs.
    pub nics: u64,
    /// Whether counted from the manifest's NIC counts (else a lower bound).
    pub exact: bool,
}

/// A MANUAL address and what is wrong with it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ManualAddress {
    /// The VM.
    pub vm: String,
    /// The address.
    pub address: String,
    /// Outside the network's subnets, or allocated already.
    pub problem: Option<String>,
}

impl NetworkRoom {
    /// Fills in `free` and each MANUAL address's problem from what vCD says of the network.
    pub fn judge(&mut self, ips: &odt_vmware::vcd::NetworkIps) {
        let mut in_pool = 0u64;
        for m in &mut self.manual {
            let Ok(a) = m.address.parse::<std::net::Ipv4Addr>() else {
                m.problem = Some("is not an IPv4 address".into());
                continue;
            };
            if !ips.in_subnet(a) {
                m.problem = Some(format!("is outside the subnet(s) of {:?}", self.network));
            } else if ips.allocated.contains(&a) {
                m.problem = Some("is allocated already in vCD".into());
            } else if ips.in_pool(a) {
                in_pool += 1;
            }
        }
        self.free = Some(ips.free_in_pool().saturating_sub(in_pool));
    }
}

/// What vCD says about one VM's target.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VcdVmFacts {
    /// `vm-NNN`.
    pub dir: String,
    /// Already registered by this job (journal).
    pub registered: bool,
    /// Missing org, VDC, network or catalog, and other target problems.
    pub problems: Vec<String>,
    /// The vApp or catalog item name is taken.
    pub name_taken: bool,
    /// Where it goes: `vApp in org/vdc` or `template in catalog`.
    pub destination: String,
    /// The storage profile it lands on, when its target resolved.
    pub storage: Option<StorageFacts>,
}

/// A VDC storage profile a VM lands on, as vCD's `adminOrgVdcStorageProfile` query has it.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct StorageFacts {
    /// Its name.
    pub profile: String,
    /// Its href (one check per profile, whichever VMs land on it).
    pub href: String,
    /// The VDC's name.
    pub vdc: String,
    /// The manifest names it; otherwise it is the VDC's default, which vCD uses when the
    /// import names no profile.
    pub named: bool,
    /// `storageLimitMB`; 0 is no limit.
    pub limit_mb: u64,
    /// `storageUsedMB`.
    pub used_mb: u64,
}

/// One check and its outcome.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// Details, and what to do when it failed.
    pub detail: String,
}

/// What will happen to one VM.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PlannedVm {
    /// Name in vCenter.
    pub name: String,
    /// `vm-NNN` in the bundle.
    pub dir: String,
    /// `deploy` or `skip (already deployed)`.
    pub action: String,
    /// Sum of disk capacities.
    pub disk_bytes: u64,
    /// OVF networks, all mapped to [`VM_NETWORK`].
    pub networks: Vec<String>,
}

/// The plan.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// Job id.
    pub job_id: String,
    /// The target.
    pub target: TargetFacts,
    /// Every check.
    pub checks: Vec<Check>,
    /// The VMs.
    pub vms: Vec<PlannedVm>,
    /// Bytes the datastore needs for the VMs still to deploy.
    pub required_bytes: u64,
}

impl Plan {
    /// True when every check passed.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.ok)
    }
}

/// Builds the plan: the checks in the order the operator reads them (vCenter, then vCD).
pub fn plan(m: &JobManifest, facts: &TargetFacts) -> Plan {
    let vms = planned_vms(m, facts);
    let required: u64 = required_space(
        vms.iter()
            .filter(|v| v.action == "deploy")
            .map(|v| v.disk_bytes)
            .fold(0, u64::saturating_add),
    );
    let mut checks = vec![port_group_check(facts), datastore_check(facts, required)];
    checks.extend(
        facts
            .other_manifest
            .iter()
            .map(|o| other_manifest_check(facts, o)),
    );
    checks.extend(
        vms.iter()
            .filter(|v| v.action == "deploy")
            .map(|v| name_check(facts, v)),
    );
    if let Some(v) = &facts.vcd {
        checks.extend(vcd_checks(m, v));
        checks.extend(storage_checks(m, v));
    }
    Plan {
        job_id: m.job_id.clone(),
        target: facts.clone(),
        checks,
        vms,
        required_bytes: required,
    }
}

/// Each VM of the job: deployed already (by this job's marker) or to deploy, and its size.
fn planned_vms(m: &JobManifest, facts: &TargetFacts) -> Vec<PlannedVm> {
    m.vms
        .iter()
        .map(|vm| PlannedVm {
            name: vm.name.clone(),
            dir: vm.dir.clone(),
            action: if facts.deployed.contains(&vm.dir) {
                "skip (already deployed)".into()
            } else {
                "deploy".into()
            },
            disk_bytes: vm
                .summary
                .disk_capacities
                .iter()
                .fold(0, |a, &b| a.saturating_add(b)),
            networks: vm.summary.networks.clone(),
        })
        .collect()
}

/// Every VM lands on the placeholder port group first: each host it may run on needs it.
fn port_group_check(facts: &TargetFacts) -> Check {
    let lacking = &facts.hosts_lacking_vm_network;
    Check {
        name: format!(
            "port group \"{VM_NETWORK}\" on every host of {}",
            facts.compute
        ),
        ok: lacking.is_empty() && !facts.hosts.is_empty(),
        detail: if facts.hosts.is_empty() {
            format!("{} has no hosts", facts.compute)
        } else if lacking.is_empty() {
            format!("present on {}", facts.hosts.join(", "))
        } else {
            format!(
                "missing on {}: create it with `odt-import add-port-group --vcenter … --host NAME` \
                 (a standard port group named exactly \"{VM_NETWORK}\")",
                lacking.join(", ")
            )
        },
    }
}

/// Room for every disk's capacity still to deploy, plus the margin of [`required_space`].
fn datastore_check(facts: &TargetFacts, required: u64) -> Check {
    let overflow = required == u64::MAX;
    Check {
        name: format!("room on datastore {}", facts.datastore),
        ok: facts.datastore_accessible && !overflow && facts.datastore_free >= required,
        detail: if !facts.datastore_accessible {
            "the datastore is not accessible".into()
        } else if overflow {
            "the disk capacities in the manifest overflow 2^64 bytes: it cannot be deployed".into()
        } else {
            format!(
                "{} free, {} needed (disk capacities + 10% + 1 GiB){}",
                human_bytes(facts.datastore_free),
                human_bytes(required),
                if facts.datastore_free >= required {
                    ""
                } else {
                    ": choose another --datastore or free space"
                }
            )
        },
    }
}

/// A VM of this job id deployed from another manifest: this NAS is not the job that made it.
fn other_manifest_check(facts: &TargetFacts, o: &OtherManifest) -> Check {
    Check {
        name: format!(
            "VM \"{}\" in {} ({} of this job id) is from this manifest",
            o.name, facts.datacenter, o.dir
        ),
        ok: false,
        detail: format!(
            "it was deployed from another manifest under the same job id (SHA-256 {}): \
             the NAS does not hold the job that deployed it; a changed job needs a new \
             job id (the customer exports it again)",
            o.manifest_sha256
        ),
    }
}

/// A VM to deploy needs a name no VM or vApp of the datacenter has (unless this job made it).
fn name_check(facts: &TargetFacts, v: &PlannedVm) -> Check {
    let taken = facts.taken_names.contains(&v.name);
    Check {
        name: format!("name \"{}\" is free in {}", v.name, facts.datacenter),
        ok: !taken,
        detail: if taken {
            "a VM or vApp of that name exists and was not deployed by this job: rename or remove it"
                .into()
        } else {
            "free".into()
        },
    }
}

/// With `--vcd`: the vCenter is registered in vCD, and each VM not yet registered has its
/// target (org, VDC, network or catalog) and a free name there.
fn vcd_checks(m: &JobManifest, v: &VcdFacts) -> Vec<Check> {
    let mut checks = vec![Check {
        name: format!("target vCenter registered and connected in vCD {}", v.url),
        ok: v.vim_server.is_some(),
        detail: match (&v.vim_server, &v.vim_server_problem) {
            (Some(n), _) => format!("registered as {n:?}"),
            (None, Some(p)) => p.clone(),
            (None, None) => "not registered".into(),
        },
    }];
    for f in v.vms.iter().filter(|f| !f.registered) {
        let name = m
            .vms
            .iter()
            .find(|vm| vm.dir == f.dir)
            .map_or(f.dir.as_str(), |vm| vm.name.as_str());
        checks.push(Check {
            name: format!("vCD target of \"{name}\" ({})", f.destination),
            ok: f.problems.is_empty(),
            detail: if f.problems.is_empty() {
                "exists".into()
            } else {
                f.problems.join("; ")
            },
        });
        if f.problems.is_empty() {
            checks.push(Check {
                name: format!("name \"{name}\" is free in vCD ({})", f.destination),
                ok: !f.name_taken,
                detail: if f.name_taken {
                    "taken: rename or remove the existing one".into()
                } else {
                    "free".into()
                },
            });
        }
    }
    checks.extend(v.networks.iter().flat_map(network_checks));
    checks
}

/// The static pool of one org VDC network has room for the POOL NICs going to it, and each
/// MANUAL address fits it.
fn network_checks(r: &NetworkRoom) -> Vec<Check> {
    let mut checks = vec![];
    if let Some(p) = &r.problem {
        checks.push(Check {
            name: format!("IP addresses of org VDC network \"{}\"", r.network),
            ok: false,
            detail: p.clone(),
        });
        return checks;
    }
    if !r.pool.is_empty() {
        let needed: u64 = r.pool.iter().map(|p| p.nics).fold(0, u64::saturating_add);
        let free = r.free.unwrap_or(0);
        let each: Vec<String> = r
            .pool
            .iter()
            .map(|p| {
                format!(
                    "{} {}{}",
                    p.vm,
                    if p.exact { "" } else { "at least " },
                    p.nics
                )
            })
            .collect();
        let ok = needed <= free;
        checks.push(Check {
            name: format!("static IP pool of org VDC network \"{}\" has room", r.network),
            ok,
            detail: format!(
                "{free} free, {needed} needed for POOL NICs ({}){}",
                each.join(", "),
                if ok { "" } else { ": add addresses to the network's static pool, or export with --ip-mode dhcp or manual" }
            ),
        });
    }
    for m in &r.manual {
        checks.push(Check {
            name: format!(
                "MANUAL address {} of \"{}\" on \"{}\"",
                m.address, m.vm, r.network
            ),
            ok: m.problem.is_none(),
            detail: m
                .problem
                .clone()
                .unwrap_or_else(|| "in the subnet, not allocated".into()),
        });
    }
    checks
}

/// MB a VM's disks take on a storage profile: its disk capacities, rounded up, saturating.
fn disk_mb(vm: &odt_format::job::manifest::VmEntry) -> u64 {
    vm.summary
        .disk_capacities
        .iter()
        .fold(0u64, |a, &b| a.saturating_add(b.div_ceil(1 << 20)))
}

/// With `--vcd`: room on each storage profile the VMs still to register land on (the one
/// the manifest names, or the VDC's default), for all of them together. vCD counts a VM's
/// disks against its profile's `storageLimitMB` (0: no limit).
fn storage_checks(m: &JobManifest, v: &VcdFacts) -> Vec<Check> {
    let mut by_profile: Vec<(&StorageFacts, Vec<&str>, u64)> = vec![];
    for f in v.vms.iter().filter(|f| !f.registered) {
        let (Some(s), Some(vm)) = (&f.storage, m.vms.iter().find(|vm| vm.dir == f.dir)) else {
            continue;
        };
        let need = disk_mb(vm);
        match by_profile.iter_mut().find(|(p, _, _)| p.href == s.href) {
            Some((_, names, mb)) => {
                names.push(&vm.name);
                *mb = mb.saturating_add(need);
            }
            None => by_profile.push((s, vec![&vm.name], need)),
        }
    }
    by_profile
        .into_iter()
        .map(|(s, names, need)| storage_check(s, &names, need))
        .collect()
}

fn storage_check(s: &StorageFacts, names: &[&str], need_mb: u64) -> Check {
    let whose = if s.named {
        "named in the manifest".to_owned()
    } else {
        "the VDC's default: the manifest names none".to_owned()
    };
    let free = (s.limit_mb > 0).then(|| s.limit_mb.saturating_sub(s.used_mb));
    let ok = free.is_none_or(|f| f >= need_mb);
    let room = match free {
        None => "no limit".to_owned(),
        Some(f) => format!("{f} MB free of {} MB", s.limit_mb),
    };
    Check {
        name: format!(
            "room on storage profile \"{}\" of VDC {} ({whose})",
            s.profile, s.vdc
        ),
        ok,
        detail: format!(
            "{room}, {need_mb} MB needed by {}{}",
            names.join(", "),
            if ok {
                ""
            } else {
                ": raise the profile's limit in vCD, free space on it, or export with another \
                 --storage-profile"
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    fn manifest() -> JobManifest {
        let vm = |i, name, cap: u64| {
            let mut v = fixtures::vm(i, name);
            v.summary.disk_capacities = vec![cap];
            v.summary.networks = vec!["lan".into()];
            v
        };
        fixtures::manifest(vec![vm(0, "web", 10 << 30), vm(1, "db", 20 << 30)])
    }

    fn facts() -> TargetFacts {
        TargetFacts {
            compute: "C0".into(),
            hosts: vec!["h1".into(), "h2".into()],
            datastore: "ds".into(),
            datastore_free: 100 << 30,
            datastore_accessible: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_good_target_passes() {
        let p = plan(&manifest(), &facts());
        assert!(p.ok(), "{:?}", p.checks);
        assert_eq!(p.required_bytes, required_space(30 << 30));
    }

    #[test]
    fn a_vm_of_this_job_id_from_another_manifest_fails_the_plan() {
        let mut f = facts();
        f.datacenter = "DC0".into();
        f.other_manifest = vec![OtherManifest {
            dir: "vm-001".into(),
            name: "db".into(),
            manifest_sha256: "ab".repeat(32),
        }];
        let p = plan(&manifest(), &f);
        assert!(!p.ok());
        let c = p.failures().next().unwrap();
        assert!(c.name.contains("\"db\" in DC0 (vm-001"), "{c:?}");
        assert!(c.detail.contains(&"ab".repeat(32)), "{c:?}");
        // Not taken for deployed: the VM of this manifest is still to deploy.
        assert!(p.vms.iter().all(|v| v.action == "deploy"));
    }

    #[test]
    fn each_problem_is_named() {
        let mut f = facts();
        f.hosts_lacking_vm_network = vec!["h2".into()];
        f.datastore_free = 5 << 30;
        f.taken_names = vec!["db".into()];
        let p = plan(&manifest(), &f);
        let failed: Vec<String> = p
            .failures()
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        assert_eq!(failed.len(), 3, "{failed:?}");
        assert!(failed[0].contains("missing on h2"));
        assert!(failed[1].contains("needed"));
        assert!(failed[2].contains("\"db\""));
    }

    /// docs/SECURITY.md §S6: plan arithmetic never wraps. Disk capacities that sum past 2^64
    /// (a hostile manifest) must not wrap to a small number that passes the space check.
    #[test]
    fn capacities_that_overflow_fail_the_space_check() {
        let mut m = manifest();
        m.vms[0].summary.disk_capacities = vec![u64::MAX, 1 << 30, 1];
        m.vms[1].summary.disk_capacities = vec![u64::MAX / 2 + 1];
        let mut f = facts();
        f.datastore_free = u64::MAX - 1;
        let p = plan(&m, &f);
        assert_eq!(p.vms[0].disk_bytes, u64::MAX);
        assert_eq!(p.required_bytes, u64::MAX);
        let failed: Vec<String> = p
            .failures()
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(failed[0].contains("overflow"), "{failed:?}");
        // Two VMs that overflow only together.
        let mut m = manifest();
        m.vms[0].summary.disk_capacities = vec![u64::MAX / 2 + 1];
        m.vms[1].summary.disk_capacities = vec![u64::MAX / 2 + 1];
        let p = plan(&m, &f);
        assert!(!p.ok());
        assert_eq!(p.required_bytes, u64::MAX);
    }

    fn vcd_facts(storage: [Option<StorageFacts>; 2]) -> VcdFacts {
        let [a, b] = storage;
        let vm = |dir: &str, storage| VcdVmFacts {
            dir: dir.into(),
            destination: "vApp in acme/acme-vdc".into(),
            storage,
            ..Default::default()
        };
        VcdFacts {
            url: "https://vcd".into(),
            vim_server: Some("vc1".into()),
            vim_server_problem: None,
            vms: vec![vm("vm-000", a), vm("vm-001", b)],
            networks: vec![],
        }
    }

    fn profile(name: &str, named: bool, limit_mb: u64, used_mb: u64) -> StorageFacts {
        StorageFacts {
            profile: name.into(),
            href: format!("https://vcd/api/vdcStorageProfile/{name}"),
            vdc: "acme-vdc".into(),
            named,
            limit_mb,
            used_mb,
        }
    }

    fn storage_failures(f: &VcdFacts) -> Vec<String> {
        let mut t = facts();
        t.vcd = Some(f.clone());
        plan(&manifest(), &t)
            .failures()
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect()
    }

    /// Room is checked for all the VMs landing on one profile together (web 10 GiB + db 20
    /// GiB = 30720 MB), and the default profile is named as such.
    #[test]
    fn storage_profiles_need_room_for_every_vm_on_them() {
        let gold = profile("gold", true, 40_000, 9_280);
        let f = vcd_facts([Some(gold.clone()), Some(gold.clone())]);
        assert!(storage_failures(&f).is_empty(), "exactly enough");
        let tight = profile("gold", true, 40_000, 9_281);
        let failed = storage_failures(&vcd_facts([Some(tight.clone()), Some(tight)]));
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(failed[0].contains("\"gold\""), "{failed:?}");
        assert!(
            failed[0].contains("30720 MB needed by web, db"),
            "{failed:?}"
        );
        // Apart, each fits.
        let (a, b) = (
            profile("gold", true, 10_240, 0),
            profile("silver", true, 20_480, 0),
        );
        assert!(storage_failures(&vcd_facts([Some(a), Some(b)])).is_empty());
        // No limit; the VDC's default is said to be the default.
        let mut t = facts();
        t.vcd = Some(vcd_facts([Some(profile("any", false, 0, 1 << 40)), None]));
        let p = plan(&manifest(), &t);
        assert!(p.ok(), "{:?}", p.checks);
        let c = p
            .checks
            .iter()
            .find(|c| c.name.contains("\"any\""))
            .unwrap();
        assert!(c.name.contains("the VDC's default"), "{c:?}");
        assert!(c.detail.starts_with("no limit"), "{c:?}");
    }

    #[test]
    fn deployed_vms_are_skipped_and_need_no_space() {
        let mut f = facts();
        f.deployed = vec!["vm-001".into()];
        f.datastore_free = required_space(10 << 30);
        let p = plan(&manifest(), &f);
        assert!(p.ok(), "{:?}", p.checks);
        assert_eq!(p.vms[1].action, "skip (already deployed)");
    }
}
