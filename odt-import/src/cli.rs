//! Command-line interface of `odt-import`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// odt-import: the provider side of odt (offline VM migration by shipped NAS).
///
/// On the ODT node, with the customer's NAS mounted:
///   odt-import keygen --out /etc/odt/provider.key     # once; send provider.key.pub to customers
///   odt-import verify --nas /mnt/nas --trusted-key customer.key.pub
///   odt-import verify --nas /mnt/nas --trusted-key customer.key.pub --deep --identity /etc/odt/provider.key
///
/// `verify` checks the customer's signature before anything else, then every encrypted byte,
/// naming any damaged file and chunk. Without --deep it needs no secret.
///
/// Exit status: 0 success, 1 the work failed (verification failed, bad passphrase), 2 usage error.
#[derive(Debug, Parser)]
#[command(name = "odt-import", version, verbatim_doc_comment)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the provider's X25519 recipient key: KEY (secret, mode 0600) and KEY.pub.
    ///
    /// Customers pass KEY.pub to `odt-export run --recipient`; then no passphrase needs to
    /// travel with the NAS, and `--identity KEY` opens the job here.
    Keygen(KeygenArgs),
    /// Verify the NAS at the dock: the signature against the customer's key, then every byte.
    Verify(VerifyArgs),
}

/// `keygen` arguments.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the secret key; the public key goes to KEY.pub. Never overwrites.
    #[arg(long, value_name = "KEY")]
    pub out: PathBuf,
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
    /// The customer's public key (KEY.pub from `odt-export keygen`).
    #[arg(long, value_name = "KEY.pub")]
    pub trusted_key: PathBuf,
    /// Also decrypt every file and check it against the OVF's .mf.
    #[arg(long)]
    pub deep: bool,
    /// With --deep: the provider's X25519 secret key (else the passphrase is used).
    #[arg(long, value_name = "KEY")]
    pub identity: Option<PathBuf>,
    /// With --deep: read the passphrase from FILE (else ODT_PASSPHRASE, else a prompt).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}
