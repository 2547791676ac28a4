//! Subcommand bodies, one file each: build the options from the arguments, call the library,
//! render the result as text or `--json`.

mod inspect;
mod keygen;
mod report;
mod run;
mod verify;
mod verify_receipt;

use anyhow::Result;

use crate::cli::Command;

/// Runs a parsed command. `Ok(false)` means the work was done and found a failure (exit 1).
pub fn dispatch(cmd: Command) -> Result<bool> {
    match cmd {
        Command::Keygen(a) => keygen::keygen(a),
        Command::Run(a) => run::run(*a),
        Command::Verify(a) => verify::verify(a),
        Command::VerifyReceipt(a) => verify_receipt::verify_receipt(a),
        Command::Inspect(a) => inspect::inspect(a),
        Command::Report(a) => report::report(a),
    }
}
