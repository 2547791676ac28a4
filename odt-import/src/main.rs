//! `odt-import`: see `odt-import --help`.

use std::process::ExitCode;

use clap::Parser;
use odt_cli::{is_usage, EXIT_FAILURE, EXIT_USAGE};

fn main() -> ExitCode {
    let cli = odt_import::cli::Cli::parse();
    match odt_import::commands::dispatch(cli.command) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(EXIT_FAILURE),
        Err(e) => {
            // Errors quote names and paths from the other side: never print them raw.
            let msg = odt_format::text::printable_lines(&format!("{e:#}")).into_owned();
            eprintln!("odt-import: error: {msg}");
            let usage = e.chain().any(is_usage);
            ExitCode::from(if usage { EXIT_USAGE } else { EXIT_FAILURE })
        }
    }
}
