//! Subcommand bodies: build the request, call the library, render the result.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use odt_format::cli::progress::Bars;
use odt_format::cli::secret::{read_secret, SecretSource};
use odt_format::cli::verify as verify_cmd;
use odt_format::keys::{Identity, VerifyingKey};
use odt_format::layout::Layout;
use odt_format::manifest::JobManifest;
use odt_format::progress::{human_bytes, Progress};
use odt_format::reader::{data_key, open_manifest};
use odt_format::stanza::Unlock;
use odt_format::vsphere::xml::XmlWriter;
use serde::Serialize;

use crate::cli::{AddPortGroupArgs, Command, JobArgs, KeygenArgs, PlanArgs, RunArgs, VerifyArgs};
use crate::deploy::{deploy_vm, gather_facts, DeployContext, DeployedVm};
use crate::journal::{default_state_dir, Journal};
use crate::plan::{plan as make_plan, Plan, VM_NETWORK};

/// Runs a parsed command. `Ok(false)` means the work was done and found a failure (exit 1).
pub fn dispatch(cmd: Command) -> Result<bool> {
    match cmd {
        Command::Keygen(a) => keygen(a),
        Command::Verify(a) => verify(a),
        Command::Plan(a) => plan(a),
        Command::Run(a) => run(a),
        Command::AddPortGroup(a) => add_port_group(a),
    }
}

fn keygen(a: KeygenArgs) -> Result<bool> {
    odt_format::cli::keygen::keygen(odt_format::cli::keygen::KeyKind::Recipient, &a.out, a.json)?;
    Ok(true)
}

fn verify(a: VerifyArgs) -> Result<bool> {
    let report = verify_cmd::run(&verify_cmd::VerifyRequest {
        nas: a.nas,
        trusted_key: Some(a.trusted_key),
        deep: a.deep,
        passphrase_file: a.passphrase_file,
        identity: a.identity,
        json: a.json,
    })
    .context("verification failed")?;
    Ok(report.ok())
}

/// The signature is checked before anything else touches the job.
fn open_job(j: &JobArgs) -> Result<(Layout, JobManifest)> {
    let layout = Layout::new(&j.nas);
    let trusted = VerifyingKey::read(&j.trusted_key)?;
    let m = open_manifest(&layout, &trusted)
        .context("the job's signature does not check out; nothing was done")?;
    Ok((layout, m))
}

fn print_plan(p: &Plan) {
    let t = &p.target;
    println!(
        "job {} -> {} / {} / {} / datastore {}",
        p.job_id, t.vcenter, t.datacenter, t.compute, t.datastore
    );
    for c in &p.checks {
        println!(
            "  [{}] {}: {}",
            if c.ok { " ok " } else { "FAIL" },
            c.name,
            c.detail
        );
    }
    for v in &p.vms {
        println!(
            "  {:<24} {:<26} disks {:>10}, networks {} -> \"{VM_NETWORK}\"",
            v.name,
            v.action,
            human_bytes(v.disk_bytes),
            if v.networks.is_empty() {
                "(none)".into()
            } else {
                v.networks.join(", ")
            }
        );
    }
}

fn plan(a: PlanArgs) -> Result<bool> {
    let (_, m) = open_job(&a.job)?;
    let client = a.vcenter.connect()?;
    let placement = a.vcenter.placement(&client)?;
    let facts = gather_facts(&client, &placement, &m)?;
    let p = make_plan(&m, &facts);
    let _ = client.logout();
    if a.json {
        let mut v = serde_json::to_value(&p)?;
        v["ok"] = p.ok().into();
        println!("{v}");
    } else {
        print_plan(&p);
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
    vms: Vec<DeployedVm>,
    failed: Option<String>,
    bytes: u64,
    seconds: f64,
    journal: String,
}

fn run(a: RunArgs) -> Result<bool> {
    let started = Instant::now();
    let (layout, m) = open_job(&a.job)?;
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
    let client = a.vcenter.connect()?;
    let placement = a.vcenter.placement(&client)?;
    let facts = gather_facts(&client, &placement, &m)?;
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
    let state = a.state.clone().unwrap_or_else(default_state_dir);
    let mut journal = Journal::open(&state, &m.job_id, client.url())?;
    let cx = DeployContext {
        client: &client,
        placement: &placement,
        layout: &layout,
        manifest: &m,
        key: &key,
        progress: &bars,
    };
    let mut vms = vec![];
    let mut failed = None;
    for vm in &m.vms {
        match deploy_vm(&cx, vm, &mut journal) {
            Ok(d) => {
                if !a.json {
                    println!("{:<24} {} as {}", d.name, d.outcome, d.entity);
                }
                vms.push(d);
            }
            Err(e) => {
                failed = Some(format!("{e:#}"));
                break;
            }
        }
    }
    let _ = client.logout();
    let bytes = vms.iter().map(|v| v.bytes).sum();
    let report = RunReport {
        job_id: m.job_id.clone(),
        ok: failed.is_none(),
        vms,
        failed: failed.clone(),
        bytes,
        seconds: started.elapsed().as_secs_f64(),
        journal: journal.path().display().to_string(),
    };
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else if failed.is_none() {
        bars.note("");
        println!(
            "job {}: {} VM(s) in vCenter on \"{VM_NETWORK}\"; {} uploaded in {:.1} s",
            m.job_id,
            report.vms.len(),
            human_bytes(bytes),
            report.seconds
        );
    }
    if let Some(f) = failed {
        bail!("{f}\n(rerun the same command: finished VMs are skipped, the rest retried)");
    }
    Ok(true)
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
