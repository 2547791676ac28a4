//! `odt-import`: see `odt-import --help`.

use std::process::ExitCode;

use odt_cli::program::Invocation;
use odt_import::cli::Cli;

fn main() -> ExitCode {
    odt_cli::program::main(
        "odt-import",
        |cli: &Cli| Invocation {
            command: cli.command.name(),
            json: cli.command.json(),
            log: &cli.log,
        },
        odt_import::commands::main,
    )
}
