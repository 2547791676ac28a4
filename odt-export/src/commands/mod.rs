//! Subcommand bodies, one file each: build the options from the arguments, call the library,
//! render the result as text or `--json`.

mod inspect;
mod keygen;
mod report;
mod run;
mod verify;
mod verify_receipt;

use anyhow::Result;
use clap::CommandFactory as _;

use crate::cli::{Cli, Command};

/// Runs a parsed command. `Ok(false)` means the work was done and found a failure (exit 1).
pub fn dispatch(cmd: Command) -> Result<bool> {
    match cmd {
        Command::Keygen(a) => keygen::keygen(a),
        Command::Run(a) => run::run(*a),
        Command::Verify(a) => verify::verify(a),
        Command::VerifyReceipt(a) => verify_receipt::verify_receipt(a),
        Command::Inspect(a) => inspect::inspect(a),
        Command::Report(a) => report::report(a),
        Command::Completions(a) => {
            odt_cli::manual::completions(Cli::command(), &a)?;
            Ok(true)
        }
        Command::Man(a) => {
            odt_cli::manual::man(Cli::command(), crate::cli::ENVIRONMENT, &a)?;
            Ok(true)
        }
    }
}
