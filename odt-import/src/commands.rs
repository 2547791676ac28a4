//! Subcommand bodies: build the request, call the library, render the result.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use odt_cli::progress::Bars;
use odt_cli::secret::{read_secret, SecretSource};
use odt_cli::verify as verify_cmd;
use odt_format::crypto::keys::{Identity, SigningKey};
use odt_format::crypto::stanza::Unlock;
use odt_format::job::layout::Layout;
use odt_format::job::manifest::JobManifest;
use odt_format::job::reader::{data_key, open_manifest_bytes, TrustAnchor};
use odt_format::progress::{human_bytes, Progress};
use odt_format::text::printable;
use odt_vmware::vsphere::xml::XmlWriter;
use serde::Serialize;

use crate::cli::{
    AddPortGroupArgs, Command, JobArgs, KeygenArgs, PlanArgs, RunArgs, VcdArgs, VerifyArgs,
};
use crate::deploy::{deploy_vm, gather_facts, DeployContext, DeployedVm};
use crate::dock::DockStatus;
use crate::journal::{default_state_dir, Journal};
use crate::plan::{plan as make_plan, Plan, VM_NETWORK};
use crate::receipt::{Receipt, ReceiptFile, ReceiptVm, RECEIPT_FORMAT};
use crate::register::{gather_vcd_facts, register_vm, Registered};
use crate::tenancy::{self, Policy};
use odt_cli::UsageError;
use odt_vmware::vcd::VcdClient;
use odt_vmware::wire::TlsMode;

/// Runs a parsed command. `Ok(false)` means the work was done and found a failure (exit 1).
pub fn dispatch(cmd: Command) -> Result<bool> {
    match cmd {
        Command::Keygen(a) => keygen(a),
        Command::Verify(a) => verify(a),
        Command::Plan(a) => plan(*a),
        Command::Run(a) => run(*a),
        Command::AddPortGroup(a) => add_port_group(a),
    }
}

fn keygen(a: KeygenArgs) -> Result<bool> {
    use odt_cli::keygen::KeyKind;
    let kind = if a.receipt {
        KeyKind::Signing
    } else {
        KeyKind::Recipient
    };
    odt_cli::keygen::keygen(kind, &a.out, a.json)?;
    Ok(true)
}

/// Verifies, and when it passes leaves the dock record `run` requires. The job directory is
/// fingerprinted before and after: a record only vouches for a NAS that held still.
fn verify(a: VerifyArgs) -> Result<bool> {
    let req = verify_cmd::VerifyRequest {
        trusted_key: Some(match (a.signer.trusted_key, &a.signer.trust) {
            (Some(k), _) => k,
            (None, Some(t)) => tenancy::verify_key_file(t, &a.nas, a.json)?,
            (None, None) => unreachable!("clap requires --trusted-key or --trust"),
        }),
        nas: a.nas,
        deep: a.deep,
        passphrase_file: a.passphrase_file,
        identity: a.identity,
        json: a.json,
    };
    let layout = Layout::new(&req.nas);
    // Taken first, used only once the verification ran (its errors name the key or the
    // manifest better than a fingerprint's would).
    let before = crate::dock::stamp_job(&layout);
    let report = verify_cmd::check(&req).context("verification failed")?;
    let mut extra = serde_json::Map::new();
    let mut notes = vec![];
    let state = a.state.unwrap_or_else(default_state_dir);
    if !report.ok() {
        // What was verified before is not what is there now.
        crate::dock::forget(&state, &report.job_id)?;
    } else {
        let path = crate::dock::record(&state, &layout, before?, &report)?;
        extra.insert("dock_record".into(), path.display().to_string().into());
        notes.push(format!(
            "dock record: {} (`odt-import run` relies on it while the NAS stays as it is now)",
            path.display()
        ));
    }
    verify_cmd::print(&req, &report, extra, &notes);
    Ok(report.ok())
}

/// What the dock record of this job says about the NAS as it is now.
fn dock_status(
    state: &std::path::Path,
    layout: &Layout,
    m: &JobManifest,
    manifest_bytes: &[u8],
) -> Result<DockStatus> {
    crate::dock::status(state, layout, &manifest_sha(manifest_bytes), &m.job_id)
}

/// The dock status as the operator reads it, with what to do when `run` would refuse.
fn dock_line(status: &DockStatus, layout: &Layout, state: &std::path::Path) -> String {
    match status {
        DockStatus::Verified(r) => format!(
            "verified at the dock on {} ({}); the {} entries of the job directory are unchanged since",
            r.verified_at,
            if r.deep { "deep" } else { "keyless" },
            r.entries.len()
        ),
        DockStatus::Missing => format!(
            "the NAS has not been verified at the dock on this node: run `odt-import verify --nas {} \
             --trusted-key KEY.pub --state {}` first, or add --verify-now",
            layout.root().display(),
            state.display()
        ),
        DockStatus::Changed(d) => format!(
            "the NAS changed since it was verified at the dock:\n  {}\nverify it again \
             (`odt-import verify`); if the change was not yours, treat the NAS as tampered with",
            d.join("\n  ")
        ),
    }
}

/// The bytes of the manifest whose signature was checked, hashed as the dock record binds them.
fn manifest_sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// True when `e` says the bytes on the NAS are not what the customer signed (so a rerun
/// cannot help), as opposed to a fault of the target or the connection.
fn nas_damaged(e: &anyhow::Error) -> bool {
    use odt_format::FormatError;
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<FormatError>(),
            Some(
                FormatError::Tampered { .. }
                    | FormatError::ChunkAuth { .. }
                    | FormatError::Truncated { .. }
            )
        )
    })
}

/// The signature is checked before anything else touches the job. Also returns the exact
/// manifest bytes that were checked (the receipt binds to their SHA-256), and what the signer
/// may target (`registering`: `--vcd`, which requires it to be stated).
type OpenJob = (Layout, JobManifest, Vec<u8>, Option<Policy>);
fn open_job(j: &JobArgs, registering: bool) -> Result<OpenJob> {
    let layout = Layout::new(&j.nas);
    let signer = tenancy::signer(j, &layout, registering)?;
    let (m, bytes) = open_manifest_bytes(&layout, &TrustAnchor::Trusted(&signer.key))
        .context("the job's signed manifest does not check out; nothing was done")?;
    Ok((layout, m, bytes, signer.policy))
}

/// Prints the plan. Names come from the customer's manifest and from vCenter and vCD: all of
/// it goes through `printable` (docs/SECURITY.md §S4).
fn print_plan(p: &Plan) {
    let t = &p.target;
    println!(
        "{}",
        printable(&format!(
            "job {} -> {} / {} / {} / datastore {}",
            p.job_id, t.vcenter, t.datacenter, t.compute, t.datastore
        ))
    );
    for c in &p.checks {
        println!(
            "  [{}] {}: {}",
            if c.ok { " ok " } else { "FAIL" },
            printable(&c.name),
            printable(&c.detail)
        );
    }
    for v in &p.vms {
        println!(
            "  {:<24} {:<26} disks {:>10}, networks {} -> \"{VM_NETWORK}\"",
            printable(&v.name),
            v.action,
            if v.disk_bytes == u64::MAX {
                "overflow".into()
            } else {
                human_bytes(v.disk_bytes)
            },
            if v.networks.is_empty() {
                "(none)".into()
            } else {
                printable(&v.networks.join(", ")).into_owned()
            }
        );
    }
}

/// Logs in to vCD when `--vcd` is given.
fn connect_vcd(a: &VcdArgs) -> Result<Option<VcdClient>> {
    let Some(url) = &a.vcd else { return Ok(None) };
    let user = a.vcd_user.as_deref().ok_or_else(|| {
        UsageError("the vCD user is required: --vcd-user or ODT_VCD_USER (name@System)".into())
    })?;
    let password = read_secret(&SecretSource {
        env: "ODT_VCD_PASSWORD",
        file: a.vcd_password_file.as_deref(),
        file_flag: "--vcd-password-file",
        prompt: &format!("Password for {user} at {url}"),
        confirm: false,
    })?;
    let tls = match (&a.vcd_thumbprint, a.vcd_insecure) {
        (Some(t), _) => TlsMode::Thumbprint(t.clone()),
        (None, true) => TlsMode::Insecure,
        (None, false) => TlsMode::Verify,
    };
    let c = VcdClient::connect(url, user, &password, tls)
        .with_context(|| format!("cannot log in to vCloud Director {url} as {user}"))?;
    Ok(Some(c))
}

fn plan(a: PlanArgs) -> Result<bool> {
    let (layout, m, manifest_bytes, policy) = open_job(&a.job, a.vcd.vcd.is_some())?;
    let client = a.vcenter.connect()?;
    let vcd = connect_vcd(&a.vcd)?;
    let placement = a.vcenter.placement(&client)?;
    let mut facts = gather_facts(&client, &placement, &m)?;
    if let Some(v) = &vcd {
        let state = a.state.clone().unwrap_or_else(default_state_dir);
        let journal = Journal::peek(&state, &m.job_id)?;
        facts.vcd = Some(gather_vcd_facts(v, client.url(), &m, journal.as_ref())?);
        let _ = v.logout();
    }
    let mut p = make_plan(&m, &facts);
    p.checks
        .splice(0..0, tenancy::plan_checks(policy.as_ref(), &m));
    let _ = client.logout();
    // Run refuses a NAS that changed since it was verified; one not yet verified is only a
    // note here (`run --verify-now` can still do it).
    let state = a.state.clone().unwrap_or_else(default_state_dir);
    let dock = dock_status(&state, &layout, &m, &manifest_bytes)?;
    let line = dock_line(&dock, &layout, &state);
    let dock_verified = matches!(dock, DockStatus::Verified(_));
    let dock_note = match dock {
        DockStatus::Missing => Some(line),
        DockStatus::Verified(_) | DockStatus::Changed(_) => {
            p.checks.push(crate::plan::Check {
                name: "the NAS was verified at the dock".into(),
                ok: dock_verified,
                detail: line,
            });
            None
        }
    };
    if a.json {
        let mut v = serde_json::to_value(&p)?;
        v["ok"] = p.ok().into();
        v["dock_verified"] = dock_verified.into();
        println!("{v}");
    } else {
        print_plan(&p);
        if let Some(n) = &dock_note {
            println!("  note: {n}");
        }
        if p.ok() {
            println!(
                "plan OK: `odt-import run` with the same options will deploy {} VM(s)",
                p.vms.iter().filter(|v| v.action == "deploy").count()
            );
        } else {
            eprintln!("plan FAILED: fix the checks marked FAIL; nothing was deployed");
        }
    }
    Ok(p.ok())
}

#[derive(Serialize)]
struct RunReport {
    job_id: String,
    ok: bool,
    vms: Vec<RunVm>,
    failed: Option<String>,
    bytes: u64,
    seconds: f64,
    journal: String,
    receipt: Option<String>,
    receipt_signed: bool,
}

fn run(a: RunArgs) -> Result<bool> {
    let started = Instant::now();
    let (layout, m, manifest_bytes, policy) = open_job(&a.job, a.vcd.vcd.is_some())?;
    tenancy::enforce(policy.as_ref(), &m)?;
    let state = a.state.clone().unwrap_or_else(default_state_dir);
    let sha = manifest_sha(&manifest_bytes);
    if a.verify_now {
        let bars = Bars::new(a.json);
        let path = crate::dock::verify_now(&state, &layout, &m, &sha, &bars)?;
        bars.note(&format!(
            "verified every byte; dock record {}",
            path.display()
        ));
    } else {
        let dock = dock_status(&state, &layout, &m, &manifest_bytes)?;
        if !matches!(dock, DockStatus::Verified(_)) {
            bail!(
                "{}\nnothing was deployed",
                dock_line(&dock, &layout, &state)
            );
        }
    }
    let identity = a.identity.as_deref().map(Identity::read).transpose()?;
    let passphrase = match identity {
        Some(_) => None,
        None => Some(read_secret(&SecretSource {
            env: "ODT_PASSPHRASE",
            file: a.passphrase_file.as_deref(),
            file_flag: "--passphrase-file",
            prompt: "Bundle passphrase",
            confirm: false,
        })?),
    };
    let unlock = match (&identity, &passphrase) {
        (Some(id), _) => Unlock::Identity(id),
        (None, Some(p)) => Unlock::Passphrase(p.as_bytes()),
        (None, None) => unreachable!("one of them is set"),
    };
    let key = data_key(&m, &unlock).context("cannot open the job's key")?;
    let receipt_key = a.receipt_key.as_deref().map(SigningKey::read).transpose()?;
    let client = a.vcenter.connect()?;
    let vcd = connect_vcd(&a.vcd)?;
    let placement = a.vcenter.placement(&client)?;
    let mut journal = Journal::open(&state, &m.job_id, client.url())?;
    let mut facts = gather_facts(&client, &placement, &m)?;
    if let Some(v) = &vcd {
        facts.vcd = Some(gather_vcd_facts(v, client.url(), &m, Some(&journal))?);
    }
    let p = make_plan(&m, &facts);
    let bars = Bars::new(a.json);
    if !p.ok() {
        if !a.json {
            print_plan(&p);
        }
        let why: Vec<String> = p
            .failures()
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        bail!(
            "the target is not ready, nothing was deployed:\n  {}",
            why.join("\n  ")
        );
    }
    let vim = match &vcd {
        Some(v) => Some(
            v.find_vim_server_for(client.url())
                .context("find the target vCenter in vCD")?,
        ),
        None => None,
    };
    let cx = DeployContext {
        client: &client,
        placement: &placement,
        layout: &layout,
        manifest: &m,
        key: &key,
        progress: &bars,
    };
    let mut vms: Vec<RunVm> = vec![];
    let mut failed = None;
    let mut damaged = false;
    for vm in &m.vms {
        let deployed = match deploy_vm(&cx, vm, &mut journal) {
            Ok(d) => d,
            Err(e) => {
                damaged = nas_damaged(&e);
                failed = Some(format!("{e:#}"));
                break;
            }
        };
        if !a.json {
            println!(
                "{:<24} {} as {}",
                printable(&deployed.name),
                deployed.outcome,
                printable(&deployed.entity)
            );
        }
        let registered = match (&vcd, &vim, parse_entity(&deployed.entity)) {
            (Some(v), Some(vim), Some(entity)) => {
                match register_vm(v, &client, vim, vm, &entity, &mut journal) {
                    Ok(r) => {
                        if !a.json {
                            let line = format!(
                                "{:<24} registered in vCD as {} {} in {}/{}{}{}",
                                "",
                                r.kind,
                                r.href,
                                r.org,
                                r.vdc,
                                r.network
                                    .as_deref()
                                    .map(|n| format!(", NICs on {n}"))
                                    .unwrap_or_default(),
                                r.catalog
                                    .as_deref()
                                    .map(|c| format!(", catalog {c}"))
                                    .unwrap_or_default()
                            );
                            println!("{}", printable(&line));
                        }
                        Some(r)
                    }
                    Err(e) => {
                        vms.push(RunVm {
                            deployed,
                            vcd: None,
                        });
                        failed = Some(format!("{e:#}"));
                        break;
                    }
                }
            }
            _ => None,
        };
        vms.push(RunVm {
            deployed,
            vcd: registered,
        });
    }
    let _ = client.logout();
    if let Some(v) = &vcd {
        let _ = v.logout();
    }
    let receipt = if failed.is_none() {
        let r = build_receipt(
            &m,
            &manifest_bytes,
            &vms,
            &client,
            vcd.as_ref(),
            receipt_key.as_ref(),
        );
        let path = crate::receipt::write(&r, &state, receipt_key.as_ref())?;
        Some((r, path))
    } else {
        None
    };
    let bytes = vms.iter().map(|v| v.deployed.bytes).sum();
    let report = RunReport {
        job_id: m.job_id.clone(),
        ok: failed.is_none(),
        vms,
        failed: failed.clone(),
        bytes,
        seconds: started.elapsed().as_secs_f64(),
        journal: journal.path().display().to_string(),
        receipt: receipt.as_ref().map(|(_, p)| p.display().to_string()),
        receipt_signed: receipt_key.is_some() && receipt.is_some(),
    };
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        if let Some((r, _)) = &receipt {
            v["receipt_content"] = serde_json::to_value(r)?;
        }
        println!("{v}");
    } else if failed.is_none() {
        bars.note("");
        println!(
            "job {}: {} VM(s) deployed{}; {} uploaded in {:.1} s",
            m.job_id,
            report.vms.len(),
            if vcd.is_some() {
                " and registered in vCD"
            } else {
                " in vCenter on \"VM Network\" (no --vcd: not registered)"
            },
            human_bytes(bytes),
            report.seconds
        );
        if let Some(p) = &report.receipt {
            println!(
                "receipt: {p}{}",
                if report.receipt_signed {
                    " (signed)"
                } else {
                    " (unsigned: pass --receipt-key to sign it)"
                }
            );
        }
    }
    if let Some(f) = failed {
        if damaged {
            bail!(
                "{f}\nthe job on the NAS is damaged (or was exported inconsistent). Rerunning \
                 will not help: have the customer export the job again (or ship the NAS again); \
                 VMs deployed before this one are in place"
            );
        }
        bail!("{f}\n(rerun the same command: finished steps are skipped, nothing is uploaded or imported twice)");
    }
    Ok(true)
}

/// One VM's outcome.
#[derive(Serialize)]
struct RunVm {
    #[serde(flatten)]
    deployed: DeployedVm,
    vcd: Option<Registered>,
}

fn parse_entity(s: &str) -> Option<odt_vmware::vsphere::client::MoRef> {
    s.split_once(':')
        .map(|(k, v)| odt_vmware::vsphere::client::MoRef::new(k, v))
}

/// The receipt states, per file, only the digest its bytes were checked against on the way
/// into vCenter (recorded when the VM was deployed); a file that was not checked has none.
fn build_receipt(
    m: &JobManifest,
    manifest_bytes: &[u8],
    vms: &[RunVm],
    client: &odt_vmware::vsphere::client::Client,
    vcd: Option<&VcdClient>,
    receipt_key: Option<&SigningKey>,
) -> Receipt {
    use sha2::Digest;
    let out = m
        .vms
        .iter()
        .zip(vms)
        .map(|(vm, r)| ReceiptVm {
            name: vm.name.clone(),
            dir: vm.dir.clone(),
            vcenter_entity: r.deployed.entity.clone(),
            vcd: r.vcd.clone(),
            files: vm
                .files
                .iter()
                .map(|f| ReceiptFile {
                    name: f.name.clone(),
                    size: f.size,
                    digest: r.deployed.verified.get(&f.name).cloned(),
                })
                .collect(),
        })
        .collect();
    Receipt {
        format: RECEIPT_FORMAT.into(),
        job_id: m.job_id.clone(),
        manifest_sha256: hex::encode(sha2::Sha256::digest(manifest_bytes)),
        customer_key_id: m.signer_key_id.clone(),
        provider_key_id: receipt_key.map(|k| k.verifying_key().key_id()),
        vcenter: client.url().to_owned(),
        vcd: vcd.map(|v| v.url().to_owned()),
        created: crate::now_rfc3339(),
        vms: out,
    }
}

fn add_port_group(a: AddPortGroupArgs) -> Result<bool> {
    let client = a.vcenter.connect()?;
    let placement = a.vcenter.placement(&client)?;
    let lacking = placement.hosts_lacking(VM_NETWORK);
    let mut added = vec![];
    for host in placement.hosts.iter().filter(|h| lacking.contains(&h.name)) {
        let ns = client
            .retrieve(
                std::slice::from_ref(&host.moref),
                "HostSystem",
                &["configManager.networkSystem"],
            )?
            .first()
            .and_then(|o| o.moref("configManager.networkSystem"))
            .with_context(|| format!("host {} has no network system", host.name))?;
        let mut w = XmlWriter::new();
        w.open("portgrp")
            .leaf("name", VM_NETWORK)
            .leaf("vlanId", &a.vlan.to_string())
            .leaf("vswitchName", &a.vswitch)
            .open("policy")
            .close("policy")
            .close("portgrp");
        client
            .call("AddPortGroup", &ns, w.as_str())
            .with_context(|| {
                format!(
                    "add port group \"{VM_NETWORK}\" to {} on {}",
                    a.vswitch, host.name
                )
            })?;
        added.push(host.name.clone());
    }
    let _ = client.logout();
    if a.json {
        println!(
            "{}",
            serde_json::json!({"added_to": added, "already_present": placement.hosts.len() - added.len()})
        );
    } else if added.is_empty() {
        println!(
            "every host of {} already has \"{VM_NETWORK}\"",
            placement.compute.name
        );
    } else {
        println!(
            "added \"{VM_NETWORK}\" to {} on {}",
            a.vswitch,
            added.join(", ")
        );
    }
    Ok(true)
}
