//! The subcommands. Each file is one command: it reads its options, asks the domain modules
//! (`plan`, `deploy`, `register`, `journal`, `dock`, `tenancy`, `receipt`) for the work, and
//! renders the result as text or `--json`. What several commands share (opening the job with
//! its signature checked first, logging in to vCD, the dock status line) is here.

mod add_port_group;
mod inspect;
mod plan;
mod report;
mod run;
mod verify;

use std::path::Path;

use anyhow::{bail, Result};
use clap::CommandFactory as _;
use odt_cli::vcd::VcdConn;
use odt_format::job::layout::Layout;
use odt_format::job::manifest::JobManifest;
use odt_format::job::mounted::{MountError, Mounted};
use odt_format::job::reader::TrustAnchor;
use odt_vmware::vcd::VcdClient;

use crate::cli::{Cli, Command, JobArgs, KeygenOptions, OverrideArgs};
use crate::dock::DockStatus;
use crate::journal::Journal;
use crate::overrides::Override;
use crate::tenancy::{self, Policy};

/// Runs a parsed command line: the config file (when the command reads one) fills what the
/// flags left out, then the command runs.
pub fn main(cli: Cli) -> Result<bool> {
    let mut cmd = cli.command;
    if crate::config::used_by(&cmd) {
        if let Some(c) = crate::config::load(cli.config.as_deref())? {
            let shown = odt_format::text::printable(&c.path.display().to_string()).into_owned();
            tracing::info!(config = %shown, "config file");
            if matches!(cmd, Command::Plan(_) | Command::Run(_)) {
                eprintln!(
                    "odt-import: using config file {shown} (flags override it; --config FILE or \
                     ODT_CONFIG names another)"
                );
            }
            c.config.apply(&mut cmd);
        }
    }
    dispatch(cmd)
}

/// Runs a parsed command. `Ok(false)` means the work was done and found a failure (exit 1).
pub fn dispatch(cmd: Command) -> Result<bool> {
    match cmd {
        Command::Keygen(o) => keygen(o),
        Command::Verify(o) => verify::verify(o),
        Command::Plan(o) => plan::plan(*o),
        Command::Run(o) => run::run(*o),
        Command::AddPortGroup(o) => add_port_group::add_port_group(o),
        Command::Inspect(o) => inspect::inspect(o),
        Command::Report(o) => report::report(o),
        Command::Completions(o) => {
            odt_cli::manual::completions(Cli::command(), &o)?;
            Ok(true)
        }
        Command::Man(o) => {
            odt_cli::manual::man(Cli::command(), crate::cli::ENVIRONMENT, &o)?;
            Ok(true)
        }
    }
}

fn keygen(o: KeygenOptions) -> Result<bool> {
    use odt_cli::keygen::KeyKind;
    let kind = if o.receipt {
        KeyKind::Receipt
    } else {
        KeyKind::Recipient
    };
    odt_cli::keygen::keygen(kind, &o.out, o.json)?;
    Ok(true)
}

/// A job whose signature checked out, with the exact manifest bytes that were checked (the
/// dock record and the receipt bind to their SHA-256), and what its signer may target. For a
/// job over several NAS units: the units given, checked to be distinct units of this job.
struct OpenJob {
    /// The first `--nas` directory (the one the signer's trust entry was looked up by).
    layout: Layout,
    /// Every `--nas` directory, with its unit index.
    units: Mounted,
    /// The manifest with the dock overrides applied: what `plan` checks and `run` does.
    manifest: JobManifest,
    /// The manifest as signed (the receipt names the VMs as the customer did).
    signed: JobManifest,
    manifest_bytes: Vec<u8>,
    policy: Option<Policy>,
    /// The overrides applied to `manifest`.
    overrides: Vec<Override>,
}

impl OpenJob {
    /// The signature is checked before anything else touches the job; then the overrides
    /// are applied within the signer's policy. `registering` is `--vcd`, which requires the
    /// signer's orgs to be stated.
    fn open(j: &JobArgs, o: &OverrideArgs, registering: bool) -> Result<OpenJob> {
        let layout = Layout::new(&j.nas[0]);
        let signer = tenancy::signer(j, &layout, registering)?;
        let units = open_units(&j.nas, &TrustAnchor::Trusted(&signer.key))?;
        let signed = units.manifest.clone();
        let manifest_bytes = units.manifest_bytes.clone();
        let mut manifest = signed.clone();
        let overrides =
            crate::overrides::apply(&mut manifest, &o.rename, &o.set, signer.policy.as_ref())?;
        Ok(OpenJob {
            layout,
            units,
            manifest,
            signed,
            manifest_bytes,
            policy: signer.policy,
            overrides,
        })
    }

    /// The SHA-256 of the checked manifest bytes, as the dock record binds them.
    fn manifest_sha(&self) -> String {
        self.units.manifest_sha256()
    }

    /// What the dock records of the units given say about them as they are now: the first
    /// unit whose record does not vouch for it (with its directory), else the first unit's.
    fn dock_status(&self, state: &Path) -> Result<(DockStatus, &Layout)> {
        let mut first = None;
        for u in &self.units.units {
            let unit = u.index.as_ref().map(|i| i.unit);
            let st = crate::dock::status(
                state,
                &u.layout,
                &self.manifest_sha(),
                &self.manifest.job_id,
                unit,
            )?;
            if !matches!(st, DockStatus::Verified(_)) {
                return Ok((st, &u.layout));
            }
            first.get_or_insert((st, &u.layout));
        }
        Ok(first.expect("at least one unit"))
    }

    /// Refuses a state folder whose import journal of this job id was started from other
    /// manifest bytes: a unit of another export claiming the same job, or a manifest
    /// re-signed under the job id of an import under way (its VMs would be taken for the
    /// ones already landed).
    fn check_journal(&self, journal: &Journal) -> Result<()> {
        let sha = self.manifest_sha();
        match &journal.manifest_sha256 {
            Some(then) if then != &sha => bail!(
                "the import journal {} of job {} was started from a manifest with SHA-256 {then}, \
                 but {} carries {sha}: the same job id under another signed manifest is not \
                 the job this import began; nothing was done (for a NAS unit, give the units \
                 of the job the journal began; a changed job needs a new job id: the \
                 customer exports it again)",
                journal.path().display(),
                self.manifest.job_id,
                self.layout.root().display()
            ),
            _ => Ok(()),
        }
    }

    /// The VMs of the job that no unit given holds and that have not landed already (per
    /// `journal`), with the units they wait for, in manifest order.
    fn waiting(&self, journal: Option<&Journal>) -> Vec<(usize, Vec<u32>)> {
        self.manifest
            .vms
            .iter()
            .enumerate()
            .filter(|(_, vm)| !journal.is_some_and(|j| j.landed(&vm.dir)))
            .map(|(i, vm)| (i, self.units.waiting_for(vm)))
            .filter(|(_, w)| !w.is_empty())
            .collect()
    }
}

/// Opens the `--nas` directories as units of one job. A manifest that does not check out
/// is said as before units existed; two directories that do not belong together are named
/// (the messages say what to do).
fn open_units(roots: &[std::path::PathBuf], anchor: &TrustAnchor<'_>) -> Result<Mounted> {
    match Mounted::open(roots, anchor) {
        Ok(m) => Ok(m),
        Err(MountError::Format(e)) => Err(anyhow::Error::new(e)
            .context("the job's signed manifest does not check out; nothing was done")),
        Err(e) => Err(e.into()),
    }
}

/// The dock status as the operator reads it, with what to do when `run` would refuse.
fn dock_line(status: &DockStatus, layout: &Layout, state: &Path) -> String {
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

/// Logs in to vCD when `--vcd` is given; every request carries `client_request_id` until
/// a step sets its own (see [`crate::register::client_request_id`]).
fn connect_vcd(a: &VcdConn, client_request_id: String) -> Result<Option<VcdClient>> {
    let opts = odt_vmware::vcd::ConnectOptions {
        client_request_id: Some(client_request_id),
        ..Default::default()
    };
    Ok(a.connect(opts)?)
}
