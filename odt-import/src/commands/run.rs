//! `odt-import run`: [`RunOptions`] → [`RunPlan`] (the job opened and vouched for, the keys
//! read, the targets logged in to and checked) → [`execute`] (deploy, then register, VM by
//! VM, each step journalled) → [`RunStats`] (what is printed and what the receipt states).

use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use odt_cli::interrupt::{self, Interrupted};
use odt_cli::progress::Bars;
use odt_cli::secret::read_job_passphrase;
use odt_format::crypto::keys::{DataKey, Identity, SigningKey};
use odt_format::crypto::stanza::Unlock;
use odt_format::job::reader::data_key;
use odt_format::progress::{human_bytes, Progress, VmWork};
use odt_format::text::printable;
use odt_vmware::vcd::{VcdClient, VimServer};
use odt_vmware::vsphere::client::{Client, MoRef};
use odt_vmware::vsphere::inventory::Placement;
use serde::Serialize;

use super::{connect_vcd, dock_line, OpenJob};
use crate::cli::RunOptions;
use crate::deploy::{deploy_vm, gather_facts, DeployContext};
use crate::dock::DockStatus;
use crate::journal::{default_state_dir, Journal, SharedJournal, VmState};
use crate::plan::plan as make_plan;
use crate::receipt::{self, VmOutcome};
use crate::register::{gather_vcd_facts, register_vm, Registered};
use crate::tenancy;

pub(super) fn run(o: RunOptions) -> Result<bool> {
    let started = Instant::now();
    // First: an unmounted NAS explains the errors that follow (one line per unit).
    for nas in &o.job.nas {
        odt_cli::nas::warn_if_not_mounted("odt-import", nas, odt_cli::nas::NasUse::Read);
    }
    let job = OpenJob::open(&o.job, &o.overrides, o.vcd.vcd.is_some())?;
    tenancy::enforce(job.policy.as_ref(), &job.manifest)?;
    let state = o.state.clone().unwrap_or_else(default_state_dir);
    // Before any secret or connection: a rerun under other overrides is refused.
    if let Some(j) = Journal::peek(&state, &job.manifest.job_id)? {
        job.check_journal(&j)?;
        j.check_overrides(&job.overrides)?;
    }
    require_dock(&o, &job, &state)?;
    let keys = RunKeys::read(&o, &job)?;
    let mut p = RunPlan::prepare(&o, &job, &state)?;
    let bars = Bars::new(o.json);
    let outcome = execute(&mut p, &job, &keys.data, &bars, o.json)?;
    let _ = p.client.logout();
    if let Some(v) = &p.vcd {
        let _ = v.logout();
    }
    // Stopped by Ctrl-C: the VM under way was cleaned up as on any failure, the journal has
    // the rest; no receipt until every VM is in. A signal after the last VM changes nothing.
    let all_in = outcome.failed.is_none() && outcome.vms.len() == p.todo.len();
    if odt_cli::interrupt::requested() && !all_in {
        return Err(Interrupted.into());
    }
    // The receipt states what landed of the whole job: a run that leaves VMs waiting for
    // their unit writes none (the journal remembers what landed for the later run).
    let receipt = match &outcome.failed {
        None if p.waiting.is_empty() => Some(write_receipt(&job, &p, &outcome.vms, &keys, &state)?),
        _ => None,
    };
    let mut stats = RunStats::new(&job, &p, outcome.vms, outcome.failed.clone(), started);
    stats.receipt = receipt.as_ref().map(|(_, path)| path.display().to_string());
    stats.receipt_signed = keys.receipt.is_some() && receipt.is_some();
    render(
        &o,
        &stats,
        receipt.as_ref().map(|(r, _)| r),
        &bars,
        p.vcd.is_some(),
    )?;
    match outcome.failed {
        Some(f) if outcome.damaged => bail!(
            "{f}\nthe job on the NAS is damaged (or was exported inconsistent). Rerunning \
             will not help: have the customer export the job again (or ship the NAS again); \
             VMs deployed before this one are in place"
        ),
        Some(f) => bail!(
            "{f}\n(rerun the same command: finished steps are skipped, nothing is uploaded or \
             imported twice)"
        ),
        None => Ok(true),
    }
}

/// `run` deploys only from a NAS whose every byte passed the keyless check on this node and
/// that has not changed since (docs/SECURITY.md §S2): the dock record, or `--verify-now`.
fn require_dock(o: &RunOptions, job: &OpenJob, state: &Path) -> Result<()> {
    if o.verify_now {
        let bars = Bars::new(o.json);
        for u in &job.units.units {
            let path = crate::dock::verify_now(state, u, &job.signed, &job.manifest_sha(), &bars)?;
            bars.note(&format!(
                "verified every byte; dock record {}",
                path.display()
            ));
        }
        return Ok(());
    }
    let (dock, layout) = job.dock_status(state)?;
    if !matches!(dock, DockStatus::Verified(_)) {
        bail!("{}\nnothing was deployed", dock_line(&dock, layout, state));
    }
    Ok(())
}

/// The secrets a run needs, read before any connection is made: the job's data key (from
/// `--identity` or the passphrase) and the provider's receipt key.
struct RunKeys {
    data: DataKey,
    receipt: Option<SigningKey>,
}

impl RunKeys {
    fn read(o: &RunOptions, job: &OpenJob) -> Result<RunKeys> {
        let identity = o.identity.as_deref().map(Identity::read).transpose()?;
        let passphrase = match identity {
            Some(_) => None,
            None => Some(read_job_passphrase(
                Some(&job.manifest),
                o.passphrase_file.as_deref(),
            )?),
        };
        let unlock = match (&identity, &passphrase) {
            (Some(id), _) => Unlock::Identity(id),
            (None, Some(p)) => Unlock::Passphrase(p.as_bytes()),
            (None, None) => unreachable!("one of them is set"),
        };
        let data = data_key(&job.manifest, &unlock).context("cannot open the job's key")?;
        let receipt = o.receipt_key.as_deref().map(SigningKey::read).transpose()?;
        Ok(RunKeys { data, receipt })
    }
}

/// The targets logged in to and checked against the job: a run starts only when its plan is
/// clean.
struct RunPlan {
    client: Client,
    vcd: Option<VcdClient>,
    /// The target vCenter as vCD knows it (with `--vcd`).
    vim: Option<VimServer>,
    placement: Placement,
    journal: Mutex<Journal>,
    /// How many VMs are deployed at once.
    parallel: usize,
    /// The VMs (manifest indexes) this run deploys or recognises as done: every VM whose
    /// files are all on the units given, and every VM that landed in an earlier run.
    todo: Vec<usize>,
    /// The others, with the units they wait for (a later run with those units does them).
    waiting: Vec<(usize, Vec<u32>)>,
}

impl RunPlan {
    fn prepare(o: &RunOptions, job: &OpenJob, state: &Path) -> Result<RunPlan> {
        let m = &job.manifest;
        let client = o.vcenter.connect()?;
        let vcd = connect_vcd(
            &o.vcd,
            crate::register::client_request_id(&m.job_id, None, "run"),
        )?;
        let placement = o.vcenter.placement(&client)?;
        let mut journal = Journal::open(state, &m.job_id, client.url())?;
        // Checked again under the journal's lock: another run may have begun since.
        journal.check_overrides(&job.overrides)?;
        job.check_journal(&journal)?;
        journal.overrides.clone_from(&job.overrides);
        journal.manifest_sha256 = Some(job.manifest_sha());
        let waiting = job.waiting(Some(&journal));
        let todo: Vec<usize> = (0..m.vms.len())
            .filter(|i| !waiting.iter().any(|(w, _)| w == i))
            .collect();
        let mut facts = gather_facts(&client, &placement, m, &job.manifest_sha())?;
        if let Some(v) = &vcd {
            facts.vcd = Some(gather_vcd_facts(v, client.url(), m, Some(&journal))?);
        }
        let p = make_plan(m, &facts);
        super::plan::log_plan(&p);
        if !p.ok() {
            if !o.json {
                super::plan::print_plan(&p);
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
        let parallel = match o.parallel {
            Some(n) => usize::from(n),
            None => placement.hosts.len().clamp(1, 4),
        };
        Ok(RunPlan {
            client,
            vcd,
            vim,
            placement,
            journal: Mutex::new(journal),
            parallel: parallel.min(todo.len().max(1)),
            todo,
            waiting,
        })
    }
}

/// What the VM loop did: the VMs done, and the failures.
struct Outcome {
    vms: Vec<VmOutcome>,
    /// The failures, in manifest order; one at most when VMs go one at a time (the loop
    /// stops at the first).
    failed: Option<String>,
    /// A failure says the NAS's bytes are not what the customer signed.
    damaged: bool,
}

/// What happened to one VM.
enum VmResult {
    Done(VmOutcome),
    /// Deployed, but its vCD registration failed.
    Unregistered(VmOutcome, anyhow::Error),
    Failed(anyhow::Error),
}

/// Deploys each VM (or recognises it as deployed), then registers it in vCD. One at a time
/// the loop stops at the first failure; with `--parallel N` the VMs go N at a time and a
/// failed one does not stop the others. Either way the journal lets the rerun go on.
fn execute(
    p: &mut RunPlan,
    job: &OpenJob,
    key: &DataKey,
    bars: &Bars,
    json: bool,
) -> Result<Outcome> {
    bars.plan(&work(p, job));
    // From here (every secret read, every login done) Ctrl-C stops the upload under way at
    // its next read, and no new VM or step begins.
    odt_cli::interrupt::arm().context("install the Ctrl-C handler")?;
    let results: Vec<Option<VmResult>> = if p.parallel <= 1 {
        let mut out = Vec::with_capacity(p.todo.len());
        for &i in &p.todo {
            if interrupt::requested() {
                break;
            }
            let r = one_vm(p, job, key, bars, json, i, &p.placement);
            let stop = !matches!(r, VmResult::Done(_));
            out.push(Some(r));
            if stop {
                break;
            }
        }
        out
    } else {
        in_parallel(p, job, key, bars, json)
    };
    let mut out = Outcome {
        vms: vec![],
        failed: None,
        damaged: false,
    };
    let mut failures = vec![];
    for r in results.into_iter().flatten() {
        match r {
            VmResult::Done(v) => out.vms.push(v),
            VmResult::Unregistered(v, e) => {
                out.vms.push(v);
                failures.push(format!("{e:#}"));
            }
            VmResult::Failed(e) => {
                out.damaged |= nas_damaged(&e);
                failures.push(format!("{e:#}"));
            }
        }
    }
    if !failures.is_empty() {
        out.failed = Some(failures.join("\n"));
    }
    Ok(out)
}

/// The VMs this run takes (those on the units given) for the overall progress: the bytes
/// uploaded for each (every file but the descriptor and the `.mf`, which are read, not sent),
/// what the journal says is deployed, and which VMs are finished (deployed, and registered
/// when `--vcd` is given).
fn work(p: &RunPlan, job: &OpenJob) -> Vec<VmWork> {
    let journal = p.journal.lock().unwrap_or_else(|e| e.into_inner());
    p.todo
        .iter()
        .map(|&i| {
            let vm = &job.manifest.vms[i];
            let bytes = vm
                .files
                .iter()
                .filter(|f| f.name != vm.descriptor && f.name != vm.mf)
                .map(|f| f.size)
                .sum();
            let rec = journal.vms.get(&vm.dir);
            let deployed = rec.is_some_and(|r| r.state == VmState::Deployed);
            let registered = rec.and_then(|r| r.vcd.as_ref()).is_some_and(|v| v.done);
            VmWork {
                bytes,
                done: if deployed { bytes } else { 0 },
                finished: deployed && (p.vcd.is_none() || registered),
            }
        })
        .collect()
}

/// `p.parallel` workers take the VMs to do in manifest order, each deploying over its own lease on
/// the next host of the target (unless the operator named one), with its own progress bar.
fn in_parallel(
    p: &RunPlan,
    job: &OpenJob,
    key: &DataKey,
    bars: &Bars,
    json: bool,
) -> Vec<Option<VmResult>> {
    let n = p.todo.len();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Mutex<Vec<Option<VmResult>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|s| {
        for w in 0..p.parallel {
            let (next, results) = (&next, &results);
            let placement = spread(&p.placement, w);
            let stream = bars.stream();
            s.spawn(move || loop {
                let t = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if t >= n || interrupt::requested() {
                    break;
                }
                let r = one_vm(p, job, key, &stream, json, p.todo[t], &placement);
                results.lock().unwrap_or_else(|e| e.into_inner())[t] = Some(r);
            });
        }
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// The placement for worker `w`: the operator's host if one was named, else the cluster's
/// hosts in turn, so concurrent leases land on different hosts' NFC services.
fn spread(placement: &Placement, w: usize) -> Placement {
    let mut p = placement.clone();
    if p.host.is_none() && p.hosts.len() > 1 {
        let h = &p.hosts[w % p.hosts.len()];
        p.host = Some(odt_vmware::vsphere::inventory::Named {
            name: h.name.clone(),
            moref: h.moref.clone(),
        });
    }
    p
}

/// Deploys VM `i` of the job, then registers it in vCD (with `--vcd`).
fn one_vm(
    p: &RunPlan,
    job: &OpenJob,
    key: &DataKey,
    progress: &Bars,
    json: bool,
    i: usize,
    placement: &Placement,
) -> VmResult {
    let vm = &job.manifest.vms[i];
    let journal = SharedJournal(&p.journal);
    let manifest_sha256 = job.manifest_sha();
    let cx = DeployContext {
        client: &p.client,
        placement,
        units: &job.units,
        manifest: &job.manifest,
        manifest_sha256: &manifest_sha256,
        key,
        progress,
    };
    let deployed = match deploy_vm(&cx, vm, &journal) {
        Ok(d) => d,
        Err(e) => return VmResult::Failed(e),
    };
    // A VM deployed by this run counts what it uploaded; one found deployed, what was planned.
    let uploaded = Some(deployed.bytes).filter(|_| deployed.outcome == "deployed");
    if !json {
        println!(
            "{:<24} {} as {}",
            printable(&deployed.name),
            deployed.outcome,
            printable(&deployed.entity)
        );
    }
    let (Some(v), Some(vim), Some(entity)) = (&p.vcd, &p.vim, parse_entity(&deployed.entity))
    else {
        progress.vm_done(i, uploaded);
        return VmResult::Done(VmOutcome {
            deployed,
            vcd: None,
        });
    };
    if interrupt::requested() {
        // Deployed and journalled: the rerun registers it.
        let outcome = VmOutcome {
            deployed,
            vcd: None,
        };
        return VmResult::Unregistered(outcome, Interrupted.into());
    }
    match register_vm(v, &p.client, vim, vm, &entity, &journal) {
        Ok(r) => {
            progress.vm_done(i, uploaded);
            if !json {
                print_registered(&r);
            }
            VmResult::Done(VmOutcome {
                deployed,
                vcd: Some(r),
            })
        }
        Err(e) => VmResult::Unregistered(
            VmOutcome {
                deployed,
                vcd: None,
            },
            e,
        ),
    }
}

fn print_registered(r: &Registered) {
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

fn parse_entity(s: &str) -> Option<MoRef> {
    s.split_once(':').map(|(k, v)| MoRef::new(k, v))
}

/// Writes the receipt (signed when a receipt key was given) beside the journal.
fn write_receipt(
    job: &OpenJob,
    p: &RunPlan,
    vms: &[VmOutcome],
    keys: &RunKeys,
    state: &Path,
) -> Result<(receipt::Receipt, std::path::PathBuf)> {
    // The receipt names the VMs as the customer signed them; the overrides say what the
    // dock changed.
    let mut r = receipt::build(
        &job.signed,
        &job.manifest_bytes,
        vms,
        p.client.url(),
        p.vcd.as_ref().map(|v| v.url()),
        keys.receipt.as_ref(),
    );
    r.overrides.clone_from(&job.overrides);
    let path = receipt::write(&r, state, keys.receipt.as_ref())?;
    Ok((r, path))
}

/// The VMs still to come, and what brings them.
fn print_waiting(waiting: &[Waiting]) {
    if waiting.is_empty() {
        return;
    }
    println!(
        "still to come: {} VM(s) on NAS units not given to this run:",
        waiting.len()
    );
    for w in waiting {
        println!("  {:<24} ({}) {}", printable(&w.name), w.dir, w.detail);
    }
    println!(
        "rerun the same command with --nas for that unit to import them (what landed is \
         skipped); the receipt is written once the whole job has landed"
    );
}

/// What a run did, as `--json` prints it.
#[derive(Serialize)]
struct RunStats {
    job_id: String,
    ok: bool,
    vms: Vec<VmOutcome>,
    failed: Option<String>,
    bytes: u64,
    seconds: f64,
    journal: String,
    receipt: Option<String>,
    receipt_signed: bool,
    /// VMs on NAS units this run was not given (a job over several units).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    waiting: Vec<Waiting>,
}

/// A VM this run left for a later run with its unit.
#[derive(Serialize)]
struct Waiting {
    dir: String,
    name: String,
    /// The units it may be on (one, when only one unit is missing).
    units: Vec<u32>,
    /// "waiting for unit k of n".
    detail: String,
}

impl RunStats {
    fn new(
        job: &OpenJob,
        p: &RunPlan,
        vms: Vec<VmOutcome>,
        failed: Option<String>,
        started: Instant,
    ) -> RunStats {
        RunStats {
            job_id: job.manifest.job_id.clone(),
            ok: failed.is_none(),
            bytes: vms.iter().map(|v| v.deployed.bytes).sum(),
            vms,
            failed,
            seconds: started.elapsed().as_secs_f64(),
            journal: p
                .journal
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .path()
                .display()
                .to_string(),
            receipt: None,
            receipt_signed: false,
            waiting: p
                .waiting
                .iter()
                .map(|(i, units)| Waiting {
                    dir: job.manifest.vms[*i].dir.clone(),
                    name: job.manifest.vms[*i].name.clone(),
                    units: units.clone(),
                    detail: format!("waiting for {}", job.units.waiting_text(units)),
                })
                .collect(),
        }
    }
}

fn render(
    o: &RunOptions,
    stats: &RunStats,
    receipt: Option<&receipt::Receipt>,
    bars: &Bars,
    registered: bool,
) -> Result<()> {
    if o.json {
        let mut v = serde_json::to_value(stats)?;
        if let Some(r) = receipt {
            v["receipt_content"] = serde_json::to_value(r)?;
        }
        // A run stopped at a VM bails after this: its one document is the failure document,
        // carrying this report with the error.
        match stats.ok {
            true => odt_cli::json::emit(true, v),
            false => odt_cli::json::keep_for_failure(v),
        }
        return Ok(());
    }
    if !stats.ok {
        return Ok(());
    }
    bars.note("");
    println!(
        "job {}: {} VM(s) deployed{}; {} uploaded in {:.1} s",
        stats.job_id,
        stats.vms.len(),
        if registered {
            " and registered in vCD"
        } else {
            " in vCenter on \"VM Network\" (no --vcd: not registered)"
        },
        human_bytes(stats.bytes),
        stats.seconds
    );
    print_waiting(&stats.waiting);
    if let Some(p) = &stats.receipt {
        println!(
            "receipt: {p}{}",
            if stats.receipt_signed {
                " (signed)"
            } else {
                " (unsigned: pass --receipt-key to sign it)"
            }
        );
    }
    Ok(())
}
