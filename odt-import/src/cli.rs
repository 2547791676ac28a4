//! Command-line interface of `odt-import`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use odt_cli::manual::EnvVar;

use crate::vcenter::VcenterArgs;

/// The environment variables `odt-import` reads, for `--help` and the man page (a test checks
/// that every `ODT_*` name in the source is listed).
pub const ENVIRONMENT: &[EnvVar] = &[
    EnvVar {
        name: "ODT_CONFIG",
        help: "the provider config file, as --config FILE (default: /etc/odt/import.toml when it \
               exists)",
    },
    EnvVar {
        name: "ODT_PASSPHRASE",
        help: "the bundle passphrase (else --passphrase-file, else a prompt)",
    },
    EnvVar {
        name: "ODT_VCENTER_USER",
        help: "the vCenter user (or --vcenter-user)",
    },
    EnvVar {
        name: "ODT_VCENTER_PASSWORD",
        help: "its password (else --vcenter-password-file, else a prompt)",
    },
    EnvVar {
        name: "ODT_VCD_USER",
        help: "the vCD system administrator, name@System (or --vcd-user)",
    },
    EnvVar {
        name: "ODT_VCD_PASSWORD",
        help: "its password (else --vcd-password-file, else a prompt)",
    },
    EnvVar {
        name: "ODT_STATE_DIR",
        help: "the state folder (dock records, journals, receipts) when --state is not given \
               (else $XDG_STATE_HOME/odt, else ~/.local/state/odt)",
    },
    odt_cli::log::ENV_VAR,
    odt_cli::progress::INTERVAL_ENV_VAR,
];

/// odt-import: the provider side of odt (offline VM migration by shipped NAS).
///
/// On the ODT node, with the customer's NAS mounted:
///   odt-import keygen --out /etc/odt/provider.key     # once; send provider.key.pub to customers
///   odt-import verify --nas /mnt/nas --trust /etc/odt/trust.toml
///   export ODT_VCENTER_USER=administrator@vsphere.local ODT_VCENTER_PASSWORD=...
///   odt-import plan --nas /mnt/nas --trust /etc/odt/trust.toml --vcenter https://vc --cluster C1 \
///       --vcd https://vcd
///   odt-import run  --nas /mnt/nas --trust /etc/odt/trust.toml --vcenter https://vc --cluster C1 \
///       --vcd https://vcd --identity /etc/odt/provider.key
///
/// The trust file lists each customer's public key and the vCD orgs it may target; a
/// single customer's key can be given instead: --trusted-key KEY.pub --allow-org ORG.
///
/// Every command checks the customer's signature before anything else. `plan` and `run`
/// refuse a VM whose org its signer may not target, before anything is uploaded. `run`
/// streams each disk off the NAS, decrypts and checks it on the fly (no plaintext touches
/// local disk), and deploys it into vCenter with every NIC on the "VM Network" port group.
/// Rerunning `run` skips VMs already deployed and retries the rest.
///
/// Exit status: 0 success, 1 the work failed (verification, remote error, bad passphrase),
/// 2 usage error.
/// 130 interrupted (Ctrl-C or SIGTERM during run): rerun the same command to resume.
///
/// --json documents: docs/JSON.md.
#[derive(Debug, Parser)]
#[command(
    name = "odt-import",
    version,
    verbatim_doc_comment,
    after_help = odt_cli::manual::environment_help(ENVIRONMENT)
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub log: odt_cli::log::LogArgs,
    /// The provider config file (TOML; default /etc/odt/import.toml when it exists): the
    /// vCenter, vCD, placement, keys, trust file and state folder otherwise retyped on every
    /// command, keys named as the flags (README, "Provider config file"). Flags and their
    /// environment variables override it; it never holds a password.
    #[arg(long, value_name = "FILE", env = "ODT_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the provider's X25519 recipient key: KEY (secret, mode 0600) and KEY.pub.
    ///
    /// Customers pass KEY.pub to `odt-export run --recipient`; then no passphrase needs to
    /// travel with the NAS, and `--identity KEY` opens the job here.
    Keygen(KeygenOptions),
    /// Verify the NAS at the dock: the signature against the customer's key (--trusted-key, or
    /// the signer's entry in --trust FILE), then every byte.
    ///
    /// When it passes, it leaves a dock record in --state (bound to the manifest's SHA-256 and
    /// a fingerprint of every file on the NAS) that `run` requires: a NAS that changes after
    /// this check is refused by `run` before anything is deployed.
    Verify(VerifyOptions),
    /// Check the target vCenter and print what `run` would do; deploys nothing.
    ///
    /// Checks: the signature; that every VM's org (VDC, catalog) is one its signer may
    /// target (--allow-org or --trust); a standard port group named exactly "VM Network" on
    /// every host of the target (hosts lacking it are named); room on the datastore for every
    /// disk's capacity plus a margin; the VM names are free.
    Plan(Box<PlanOptions>),
    /// Deploy the job's VMs into vCenter, then (with --vcd) register them in vCloud Director:
    /// as vApps with their NICs on the org VDC network, or as vApp templates in a catalog.
    /// Writes a receipt of what landed where. A VM whose org its signer may not target
    /// (--allow-org or --trust) stops the run before anything is uploaded.
    Run(Box<RunOptions>),
    /// Create the standard port group "VM Network" on hosts that lack it.
    ///
    /// The placeholder network every imported VM lands on first must exist on each host the
    /// VM may run on. This adds it to a standard vSwitch of each target host lacking it.
    AddPortGroup(AddPortGroupOptions),
    /// Show what is on the NAS and how far it got on this node (no secret needed).
    ///
    /// The job id, the signing key's id, who can open it, every VM with its target and files;
    /// then whether it was verified at the dock (and the NAS is unchanged since) and, per VM,
    /// how far `run` got (deployed into vCenter; imported into vCD, wired, powered on). The
    /// signature is checked against its embedded key only: `verify` proves who signed.
    Inspect(InspectOptions),
    /// Render a signed import receipt as a self-contained HTML custody report.
    ///
    /// One page to hand to the customer with the receipt.
    ///
    /// The receipt's signature is checked with the receipt public key first; a receipt that
    /// does not verify writes no page (exit 1). The page shows what arrived (job, manifest
    /// SHA-256, VMs, files), what was checked (the dock record with --verify-record; the .mf
    /// digest each file was compared with on upload), where each VM landed, the overrides made
    /// at the dock, the key ids and the times. It has no script and loads nothing.
    ///
    ///   odt-import report --receipt STATE/receipt-JOB.json \
    ///       --provider-key /etc/odt/receipt.key.pub --verify-record STATE/dock-JOB.json \
    ///       --manifest /mnt/nas/odt-job.json -o custody-JOB.html
    #[command(verbatim_doc_comment)]
    Report(odt_cli::report::ReportOptions),
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell) on
    /// stdout, e.g. `odt-import completions bash > /usr/share/bash-completion/completions/odt-import`.
    Completions(odt_cli::manual::CompletionsOptions),
    /// Write the man pages into DIR: odt-import.1 and one odt-import-COMMAND.1 per command (then
    /// `man -l DIR/odt-import.1`, or install them under share/man/man1).
    Man(odt_cli::manual::ManOptions),
}

/// `inspect` options.
#[derive(Debug, Args)]
pub struct InspectOptions {
    /// The job directory on the NAS. Repeat it for several NAS units of one job: each shows
    /// what it holds, and which units and VMs are still to come.
    #[arg(long, value_name = "DIR", required = true)]
    pub nas: Vec<PathBuf>,
    /// The state folder of `verify` and `run` (default: $ODT_STATE_DIR, $XDG_STATE_HOME/odt or
    /// ~/.local/state/odt).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `keygen` options.
#[derive(Debug, Args)]
pub struct KeygenOptions {
    /// Where to write the secret key; the public key goes to KEY.pub. Never overwrites.
    #[arg(short = 'o', long, value_name = "KEY")]
    pub out: PathBuf,
    /// Make the Ed25519 key that signs import receipts (`run --receipt-key`) instead of the
    /// X25519 recipient key.
    #[arg(long)]
    pub receipt: bool,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `verify` options.
#[derive(Debug, Args)]
pub struct VerifyOptions {
    /// The job directory on the NAS. Repeat it for several NAS units of one job: each unit is
    /// verified on its own and gets its own dock record.
    #[arg(long, value_name = "DIR", required = true)]
    pub nas: Vec<PathBuf>,
    #[command(flatten)]
    pub signer: SignerArgs,
    /// Also decrypt every file and check it against the OVF's .mf.
    #[arg(long)]
    pub deep: bool,
    /// With --deep: the provider's X25519 secret key (else the passphrase is used).
    #[arg(short = 'i', long, value_name = "KEY")]
    pub identity: Option<PathBuf>,
    /// With --deep: read the passphrase from FILE (else ODT_PASSPHRASE, else a prompt).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Folder for the dock record that `run` requires (as for `run`; default:
    /// $ODT_STATE_DIR, $XDG_STATE_HOME/odt or ~/.local/state/odt).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Who may have signed the job: one customer's key, or the provider's trust file.
#[derive(Debug, Args, Clone)]
// Not `required`: the config file's `trust` may stand in (checked once it is applied).
#[group(id = "signer", multiple = false)]
pub struct SignerArgs {
    /// The customer's public key (KEY.pub from `odt-export keygen`).
    #[arg(long, value_name = "KEY.pub", help_heading = "Trust")]
    pub trusted_key: Option<PathBuf>,
    /// The provider's trust file (TOML): each customer's key and the vCD orgs (optionally
    /// VDCs and catalogs) it may target. The job's signer is looked up in it by key id.
    /// Instead of --trusted-key.
    #[arg(long, value_name = "FILE", help_heading = "Trust")]
    pub trust: Option<PathBuf>,
}

/// The job on the NAS and the key that vouches for it.
#[derive(Debug, Args, Clone)]
pub struct JobArgs {
    /// The job directory on the NAS. Repeat it for several NAS units of one job: the VMs on
    /// the units given are imported, the others wait for a later run with their unit.
    #[arg(long, value_name = "DIR", required = true)]
    pub nas: Vec<PathBuf>,
    #[command(flatten)]
    pub signer: SignerArgs,
    /// With --trusted-key: an org that key may target (repeatable; any VDC and catalog of
    /// it). A VM targeting any other org is refused before anything is uploaded. Required
    /// with --vcd (or use --trust); without --vcd, checked when given.
    #[arg(
        long = "allow-org",
        value_name = "ORG",
        conflicts_with = "trust",
        help_heading = "Trust"
    )]
    pub allow_org: Vec<String>,
}

/// Changes the provider makes at the dock to the manifest's names and targets, within what
/// the signer's key may target; recorded in the journal and the receipt.
#[derive(Debug, Args, Clone, Default)]
pub struct OverrideArgs {
    /// Import the VM named OLD in the manifest as NEW (repeatable).
    #[arg(long, value_name = "OLD=NEW", help_heading = "Overrides")]
    pub rename: Vec<String>,
    /// Change one VM's target (repeatable): VM is its name in the manifest, or * for every
    /// VM; FIELD is org, vdc, network, catalog, storage-profile or power-on (true/false).
    /// An override that takes a VM where its signer may not target is refused. A rerun must
    /// give the same overrides as the run that started the import.
    #[arg(long, value_name = "VM.FIELD=VALUE", help_heading = "Overrides")]
    pub set: Vec<String>,
}

/// `plan` options.
#[derive(Debug, Args)]
pub struct PlanOptions {
    #[command(flatten)]
    pub job: JobArgs,
    #[command(flatten)]
    pub vcenter: VcenterArgs,
    #[command(flatten)]
    pub vcd: odt_cli::vcd::VcdConn,
    #[command(flatten)]
    pub overrides: OverrideArgs,
    /// The import journal's folder (as for `run`), so VMs already registered are not
    /// reported as name clashes.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `run` options: what the operator asked for, before anything is read or connected.
#[derive(Debug, Args)]
pub struct RunOptions {
    #[command(flatten)]
    pub job: JobArgs,
    #[command(flatten)]
    pub vcenter: VcenterArgs,
    #[command(flatten)]
    pub vcd: odt_cli::vcd::VcdConn,
    #[command(flatten)]
    pub overrides: OverrideArgs,
    /// The provider's Ed25519 key that signs the receipt (from `odt-import keygen --receipt`);
    /// without it the receipt is written unsigned.
    #[arg(long, value_name = "KEY")]
    pub receipt_key: Option<PathBuf>,
    /// The provider's X25519 secret key, to open the job (else the passphrase is used).
    #[arg(short = 'i', long, value_name = "KEY")]
    pub identity: Option<PathBuf>,
    /// Read the bundle passphrase from FILE (else ODT_PASSPHRASE, else a prompt).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Folder for the import journal and the dock record (default: $ODT_STATE_DIR,
    /// $XDG_STATE_HOME/odt or ~/.local/state/odt).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Do the keyless verification of every byte now, before deploying anything, instead of
    /// requiring the dock record that `odt-import verify` leaves (reads the whole NAS once
    /// more).
    #[arg(long)]
    pub verify_now: bool,
    /// Deploy up to N VMs at once, each over its own NFC lease, spread over the target's
    /// hosts (default: the number of hosts, at most 4). A real host bounds each NFC stream far
    /// below the NAS, so several streams finish sooner. A VM that fails does not stop the
    /// others; the rerun does what is left.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: Option<u16>,
    /// Print a JSON report on stdout (and no progress bars).
    #[arg(long)]
    pub json: bool,
}

/// `add-port-group` options.
#[derive(Debug, Args)]
pub struct AddPortGroupOptions {
    #[command(flatten)]
    pub vcenter: VcenterArgs,
    /// The standard vSwitch to add the port group to.
    #[arg(long, default_value = "vSwitch0", value_name = "NAME")]
    pub vswitch: String,
    /// VLAN id of the port group (0 = none).
    #[arg(long, default_value_t = 0, value_name = "ID")]
    pub vlan: u16,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

impl Command {
    /// The subcommand's name, as typed (its JSON documents' schema is `odt.import.NAME/1`).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Keygen(_) => "keygen",
            Command::Verify(_) => "verify",
            Command::Plan(_) => "plan",
            Command::Run(_) => "run",
            Command::AddPortGroup(_) => "add-port-group",
            Command::Inspect(_) => "inspect",
            Command::Report(_) => "report",
            Command::Completions(_) => "completions",
            Command::Man(_) => "man",
        }
    }

    /// Whether `--json` was given: then a failure prints its document too.
    pub fn json(&self) -> bool {
        match self {
            Command::Keygen(o) => o.json,
            Command::Verify(o) => o.json,
            Command::Plan(o) => o.json,
            Command::Run(o) => o.json,
            Command::AddPortGroup(o) => o.json,
            Command::Inspect(o) => o.json,
            Command::Report(o) => o.json,
            Command::Completions(_) | Command::Man(_) => false,
        }
    }
}
