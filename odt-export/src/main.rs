//! `odt-export`: see `odt-export --help`.

use std::process::ExitCode;

use clap::Parser;
use odt_cli::{is_usage, EXIT_FAILURE, EXIT_USAGE};

fn main() -> ExitCode {
    let cli = match odt_export::cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            odt_cli::json::clap_failure("odt-export", &e);
            e.exit()
        }
    };
    odt_cli::json::set_command("odt-export", cli.command.name());
    let json = cli.command.json();
    // Logging is set up before any work, so a log file that cannot be made changes nothing.
    let outcome = odt_cli::log::init("odt-export", cli.command.name(), &cli.log)
        .map_err(anyhow::Error::from)
        .and_then(|_| odt_export::commands::dispatch(cli.command));
    match outcome {
        Ok(true) => {
            tracing::info!("finished");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            tracing::warn!("finished: the work failed");
            ExitCode::from(EXIT_FAILURE)
        }
        Err(e) => {
            // Errors quote names and paths from the other side: never print them raw.
            let msg = odt_format::text::printable_lines(&format!("{e:#}")).into_owned();
            tracing::error!(error = %msg, "failed");
            let usage = e.chain().any(is_usage);
            if json {
                // Scripts never read an empty stdout: the failure is a document too.
                let doc = odt_cli::json::failure(odt_cli::json::current(), &msg, usage);
                println!("{doc}");
            }
            eprintln!("odt-export: error: {msg}");
            ExitCode::from(if usage { EXIT_USAGE } else { EXIT_FAILURE })
        }
    }
}
