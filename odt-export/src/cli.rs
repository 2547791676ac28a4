//! Command-line interface of `odt-export`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use odt_cli::manual::EnvVar;

/// The environment variables `odt-export` reads, for `--help` and the man page (a test checks
/// that every `ODT_*` name in the source is listed).
pub const ENVIRONMENT: &[EnvVar] = &[
    EnvVar {
        name: "ODT_PASSPHRASE",
        help: "the bundle passphrase (else --passphrase-file, else a prompt)",
    },
    EnvVar {
        name: "ODT_VCENTER_USER",
        help: "the source vCenter's user (with --vcenter; or --vcenter-user)",
    },
    EnvVar {
        name: "ODT_VCENTER_PASSWORD",
        help: "its password (else --vcenter-password-file, else a prompt)",
    },
    odt_cli::log::ENV_VAR,
    odt_cli::progress::INTERVAL_ENV_VAR,
];

/// odt-export: the customer side of odt (offline VM migration by shipped NAS).
///
/// Encrypts VMs (OVF folders, .ovf files, .ova files) onto a mounted NAS with a job manifest
/// signed by your key, and verifies the NAS before the courier takes it.
///
/// Typical use:
///   odt-export keygen --out ~/.odt/customer.key
///   export ODT_PASSPHRASE=...            # or --passphrase-file, or be prompted
///   odt-export run --nas /mnt/nas --signing-key ~/.odt/customer.key \
///       --org acme --vdc acme-vdc --network acme-net ./web.ova ./db/
///   odt-export verify --nas /mnt/nas --trusted-key ~/.odt/customer.key.pub
///   cp /mnt/nas/odt-job.json /mnt/nas/odt-job.json.sig ~/odt/job1/   # keep for the receipt
///   odt-export verify-receipt --receipt receipt-JOB.json \
///       --provider-key provider-receipt.key.pub --manifest ~/odt/job1/odt-job.json
///
/// Exit status: 0 success, 1 the work failed, 2 usage error.
/// 130 interrupted (Ctrl-C or SIGTERM during run): rerun the same command to resume.
///
/// --json documents: docs/JSON.md.
#[derive(Debug, Parser)]
#[command(
    name = "odt-export",
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
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an Ed25519 signing key (KEY, mode 0600) and its public key (KEY.pub).
    ///
    /// Give KEY.pub to the provider: it is how they know the NAS came from you unaltered.
    Keygen(KeygenArgs),
    /// Encrypt SOURCEs onto the NAS and sign the job manifest.
    ///
    /// Running the same command again resumes an interrupted run where it stopped.
    Run(Box<RunArgs>),
    /// Check the NAS holds exactly what the signed manifest says (no secret needed).
    ///
    /// --deep also decrypts every file and checks it against the OVF's own .mf digests.
    Verify(VerifyArgs),
    /// Check the provider's signed import receipt: who signed it, that it is about your job,
    /// and where each VM landed.
    ///
    /// The receipt (receipt-JOB.json and its .sig) comes from `odt-import run`. It is checked
    /// against the provider's receipt public key (get it from the provider beforehand, over
    /// another channel than the receipt), then against your job manifest: the same bytes, job,
    /// VMs and files.
    ///
    ///   odt-export verify-receipt --receipt receipt-JOB.json \
    ///       --provider-key provider-receipt.key.pub --manifest ~/odt/job1/odt-job.json
    #[command(verbatim_doc_comment)]
    VerifyReceipt(VerifyReceiptArgs),
    /// Show what is on the NAS and how far it got (no secret needed).
    ///
    /// The job id, the signing key's id, who can open it, every VM with its target and files,
    /// and whether the export finished or how far an interrupted one got; on one unit of a
    /// job over several NAS units, which unit it is and which VMs it holds (run it once per
    /// unit). Checks nothing beyond the signature: `verify` checks every byte.
    Inspect(InspectArgs),
    /// Render the provider's signed import receipt as a self-contained HTML custody report.
    ///
    /// One page to archive.
    ///
    /// The receipt is checked as verify-receipt checks it (its signature with the provider's
    /// receipt public key first; with --manifest, that it is about your job) and no page is
    /// written for one that does not verify (exit 1). The page shows what arrived, what was
    /// checked, where each VM landed, the overrides made at the dock, the key ids and the
    /// times. It has no script and loads nothing.
    ///
    ///   odt-export report --receipt receipt-JOB.json \
    ///       --provider-key provider-receipt.key.pub --manifest ~/odt/job1/odt-job.json \
    ///       -o custody-JOB.html
    #[command(verbatim_doc_comment)]
    Report(odt_cli::report::ReportOptions),
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell) on
    /// stdout, e.g. `odt-export completions bash > /usr/share/bash-completion/completions/odt-export`.
    Completions(odt_cli::manual::CompletionsOptions),
    /// Write the man pages into DIR: odt-export.1 and one odt-export-COMMAND.1 per command (then
    /// `man -l DIR/odt-export.1`, or install them under share/man/man1).
    Man(odt_cli::manual::ManOptions),
}

/// `inspect` arguments.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The job directory on the NAS.
    #[arg(long, value_name = "DIR")]
    pub nas: PathBuf,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `keygen` arguments.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the secret key; the public key goes to KEY.pub. Never overwrites.
    #[arg(short = 'o', long, value_name = "KEY")]
    pub out: PathBuf,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The job directory on the mounted NAS (one job per directory). Repeat it for a job over
    /// several NAS units: whole VMs are placed by free space, before anything is written.
    #[arg(long, value_name = "DIR", required = true)]
    pub nas: Vec<PathBuf>,
    /// Your Ed25519 signing key (from `odt-export keygen`).
    #[arg(long, value_name = "KEY")]
    pub signing_key: PathBuf,
    /// Target vCD organisation for every SOURCE.
    #[arg(long, help_heading = "Targets (defaults for every SOURCE)")]
    pub org: Option<String>,
    /// Target org VDC.
    #[arg(long, help_heading = "Targets (defaults for every SOURCE)")]
    pub vdc: Option<String>,
    /// Org VDC network the VMs' NICs connect to.
    #[arg(long, help_heading = "Targets (defaults for every SOURCE)")]
    pub network: Option<String>,
    /// Catalog for templates.
    #[arg(long, help_heading = "Targets (defaults for every SOURCE)")]
    pub catalog: Option<String>,
    /// Land as vApp templates in --catalog instead of vApps.
    #[arg(long, help_heading = "Targets (defaults for every SOURCE)")]
    pub as_template: bool,
    /// Power the vApps on after import.
    #[arg(long, help_heading = "Targets (defaults for every SOURCE)")]
    pub power_on: bool,
    /// How the NICs get their IP addresses on --network: pool (the network's static pool,
    /// the default), dhcp, or manual (the --ip-address list).
    #[arg(long, value_name = "MODE", value_parser = ["pool", "dhcp", "manual"], help_heading = "Targets (defaults for every SOURCE)")]
    pub ip_mode: Option<String>,
    /// For --ip-mode manual: an IPv4 address per NIC, in NIC order (repeat the flag).
    #[arg(
        long = "ip-address",
        value_name = "ADDR",
        help_heading = "Targets (defaults for every SOURCE)"
    )]
    pub ip_addresses: Vec<String>,
    /// VDC storage profile for the VMs and their disks (default: the VDC's default profile).
    #[arg(
        long,
        value_name = "NAME",
        help_heading = "Targets (defaults for every SOURCE)"
    )]
    pub storage_profile: Option<String>,
    /// A TOML file mapping each VM to its own target (schema: README, "Job files").
    #[arg(long, value_name = "FILE")]
    pub job: Option<PathBuf>,
    /// Also wrap the job key for a provider's X25519 public key (from `odt-import keygen`).
    /// Repeatable.
    #[arg(short = 'r', long, value_name = "KEY.pub", help_heading = "Keys")]
    pub recipient: Vec<PathBuf>,
    /// Use no passphrase: only the --recipient keys can open the job (no secret travels).
    #[arg(long, requires = "recipient", help_heading = "Keys")]
    pub no_passphrase: bool,
    /// Read the passphrase from FILE (else ODT_PASSPHRASE, else a prompt).
    #[arg(long, value_name = "FILE", help_heading = "Keys")]
    pub passphrase_file: Option<PathBuf>,
    /// Argon2id memory for the passphrase, in MiB (19..=4096).
    #[arg(
        long,
        default_value_t = 1024,
        value_name = "MIB",
        help_heading = "Keys"
    )]
    pub kdf_memory_mib: u32,
    /// Argon2id passes (1..=16).
    #[arg(long, default_value_t = 3, value_name = "N", help_heading = "Keys")]
    pub kdf_iterations: u32,
    /// Discard an interrupted job found in --nas and start afresh, instead of resuming it (same
    /// sources) or refusing (other sources).
    #[arg(long)]
    pub restart: bool,
    /// Skip the free-space check (for NAS servers that report free space wrongly). A job
    /// over several --nas units is still placed by each unit's reported free space: that is
    /// the only measure of what goes where.
    #[arg(long)]
    pub no_space_check: bool,
    /// Run up to N transfers at once, each on its own thread: N VMs, or (with fewer VMs than
    /// N, from --vcenter) several disks of a VM. A package's files go one after the other.
    /// Default: from files, the CPU cores (sealing is CPU-bound), at most 4; from --vcenter,
    /// 4 (each host's NFC service bounds one download far below the NAS).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: Option<u16>,
    /// Print a JSON report on stdout (and no progress bars).
    #[arg(long)]
    pub json: bool,
    /// Export straight from this source vCenter: SOURCEs are then VM names, globs (`web-*`)
    /// or inventory paths (`DC0/vm/web-01`) of powered-off VMs; each disk streams from the
    /// export lease into the bundle, with no staging copy.
    #[command(flatten)]
    pub vcenter: odt_cli::vcenter::VcenterConn,
    /// With --vcenter: only look for VMs in this datacenter.
    #[arg(long, value_name = "NAME", help_heading = "vCenter")]
    pub datacenter: Option<String>,
    /// OVF folders, .ovf files or .ova files (or, with --vcenter, VM names, globs or
    /// inventory paths).
    #[arg(value_name = "SOURCE")]
    pub sources: Vec<PathBuf>,
}

/// `verify-receipt` arguments.
#[derive(Debug, Args)]
pub struct VerifyReceiptArgs {
    /// The receipt (receipt-JOB.json); its signature is read from RECEIPT.sig.
    #[arg(long, value_name = "RECEIPT")]
    pub receipt: PathBuf,
    /// The provider's receipt public key (from `odt-import keygen --receipt`).
    #[arg(long, value_name = "KEY.pub")]
    pub provider_key: PathBuf,
    /// The job manifest (odt-job.json) the receipt must be about: the copy you kept before
    /// the NAS shipped, or the one on the returned NAS together with --trusted-key.
    #[arg(long, value_name = "FILE")]
    pub manifest: PathBuf,
    /// Your public key: also check the manifest's signature (FILE.sig beside it). Use it when
    /// the manifest comes from the returned NAS rather than from your own copy.
    #[arg(long, value_name = "KEY.pub")]
    pub trusted_key: Option<PathBuf>,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `verify` arguments.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The job directory on the NAS.
    #[arg(long, value_name = "DIR")]
    pub nas: PathBuf,
    /// Your public key; without it the signature is checked against the key embedded in the
    /// job (proves integrity, not who signed).
    #[arg(long, value_name = "KEY.pub")]
    pub trusted_key: Option<PathBuf>,
    /// Also decrypt every file and check it against the OVF's .mf (needs the passphrase).
    #[arg(long)]
    pub deep: bool,
    /// With --deep: read the passphrase from FILE (else ODT_PASSPHRASE, else a prompt).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// With --deep: open the job with a provider's X25519 secret key instead.
    #[arg(short = 'i', long, value_name = "KEY")]
    pub identity: Option<PathBuf>,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

impl Command {
    /// The subcommand's name, as typed (its JSON documents' schema is `odt.export.NAME/1`).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Keygen(_) => "keygen",
            Command::Run(_) => "run",
            Command::Verify(_) => "verify",
            Command::VerifyReceipt(_) => "verify-receipt",
            Command::Inspect(_) => "inspect",
            Command::Report(_) => "report",
            Command::Completions(_) => "completions",
            Command::Man(_) => "man",
        }
    }

    /// Whether `--json` was given: then a failure prints its document too.
    pub fn json(&self) -> bool {
        match self {
            Command::Keygen(a) => a.json,
            Command::Run(a) => a.json,
            Command::Verify(a) => a.json,
            Command::VerifyReceipt(a) => a.json,
            Command::Inspect(a) => a.json,
            Command::Report(a) => a.json,
            Command::Completions(_) | Command::Man(_) => false,
        }
    }
}
