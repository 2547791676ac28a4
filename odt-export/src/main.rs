//! `odt-export`: see `odt-export --help`.

use std::process::ExitCode;

use odt_cli::program::Invocation;
use odt_export::cli::Cli;

fn main() -> ExitCode {
    odt_cli::program::main(
        "odt-export",
        |cli: &Cli| Invocation {
            command: cli.command.name(),
            json: cli.command.json(),
            log: &cli.log,
        },
        |cli: Cli| odt_export::commands::dispatch(cli.command),
    )
}
