//! Bytes on the terminal: what `odt-export` and `odt-import` share, written once. Secrets
//! from the environment, a file or a prompt ([`secret`], never argv); progress bars on a
//! terminal and plain lines elsewhere ([`progress`]); Ctrl-C as a flag the loops check
//! ([`interrupt`]); the vCenter and vCD connection options
//! ([`vcenter`], [`vcd`], one [`endpoint`] logic under two sets of names); logs for support
//! ([`log`]); the `keygen`, `verify`, `inspect` and `report` commands both programs offer
//! (the receipt checked once, [`receipt`]; the custody page a pure function, [`custody`]);
//! the warning for a `--nas` that is not a mount ([`nas`]); the generated manual ([`manual`]:
//! completions, man pages, the ENVIRONMENT list); config files ([`config`]); usage errors and
//! exit codes. The only library crate that prints or reads the terminal.

#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::too_many_lines))]

pub mod config;
pub mod custody;
mod endpoint;
pub mod inspect;
pub mod interrupt;
pub mod json;
pub mod keygen;
pub mod log;
pub mod manual;
pub mod nas;
pub mod program;
pub mod progress;
pub mod receipt;
pub mod report;
pub mod secret;
pub mod suggest;
pub mod vcd;
pub mod vcenter;
pub mod verify;

/// A usage error: the program exits with status 2 (clap's own usage errors do the same).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// What the shared commands fail with: a usage error (exit 2) or a failure of the work.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Wrong use of the command line.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The work failed.
    #[error(transparent)]
    Format(#[from] odt_format::error::FormatError),
}

/// True when `e` (anywhere in an error chain) is a usage error: the caller exits with 2.
pub fn is_usage(e: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(vcenter::ConnectError::Cli(CliError::Usage(_))) = e.downcast_ref() {
        return true;
    }
    e.is::<UsageError>() || matches!(e.downcast_ref::<CliError>(), Some(CliError::Usage(_)))
}

/// Exit status when the work failed.
pub const EXIT_FAILURE: u8 = 1;
/// Exit status for a usage error.
pub const EXIT_USAGE: u8 = 2;
