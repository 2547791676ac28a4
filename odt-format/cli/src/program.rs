//! `main` of both binaries, written once: parse, set up the log, run the command, and turn the
//! outcome into the exit status, the one error line and (with `--json`) the failure document.

use std::process::ExitCode;
use std::sync::OnceLock;

use crate::interrupt::{EXIT_INTERRUPTED, MESSAGE};
use crate::json::Kind;
use crate::log::LogArgs;
use crate::{is_usage, EXIT_FAILURE, EXIT_USAGE};

/// What [`main`] needs to know of a parsed command line before it runs it.
pub struct Invocation<'a> {
    /// The subcommand's name (`run`, `verify`, …), for the JSON document and the log.
    pub command: &'static str,
    /// Whether it prints a `--json` document, so a failure prints one too.
    pub json: bool,
    /// The logging options.
    pub log: &'a LogArgs,
}

/// Runs `program` (`odt-export`, `odt-import`): parses its command line as `C`, reads what
/// [`main`] needs with `describe`, sets up logging before any work (so a log file that cannot
/// be made changes nothing), then `dispatch`es. `Ok(false)` is work that failed and said so.
pub fn main<C: clap::Parser + clap::CommandFactory>(
    program: &'static str,
    describe: impl Fn(&C) -> Invocation<'_>,
    dispatch: impl FnOnce(C) -> anyhow::Result<bool>,
) -> ExitCode {
    let cli = match C::try_parse() {
        Ok(c) => c,
        Err(e) => {
            crate::json::clap_failure(program, &C::command(), &e);
            e.exit()
        }
    };
    let Invocation { command, json, log } = describe(&cli);
    crate::json::set_command(program, command);
    if json {
        report_panics_in_json();
    }
    let _ = PROGRAM.set(program);
    let outcome = crate::log::init(program, command, log)
        .map_err(anyhow::Error::from)
        .and_then(|_| Ok(crate::progress::interval()?))
        .and_then(|_| dispatch(cli));
    match outcome {
        Ok(true) => {
            tracing::info!("finished");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            tracing::warn!("finished: the work failed");
            ExitCode::from(EXIT_FAILURE)
        }
        Err(e) => fail(program, json, &e),
    }
}

/// A panic (a bug) still ends a `--json` command with its one document (`error_kind`
/// `internal`), after the usual panic message on stderr.
fn report_panics_in_json() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        // Only the main thread's panic ends the command: a panic another thread's runtime
        // catches (tokio's, under reqwest) comes back as an error, and a scoped worker's
        // panic is raised again on the main thread.
        if std::thread::current().name() != Some("main") {
            return;
        }
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let msg = format!("internal error (a bug in odt, please report it): {what}");
        crate::json::print_failure(&odt_format::text::printable_lines(&msg), Kind::Internal);
    }));
}

static PROGRAM: OnceLock<&'static str> = OnceLock::new();

/// The program [`main`] runs (`odt-export`, `odt-import`), for lines that name it, as the
/// plain progress lines do; `odt` before.
pub fn name() -> &'static str {
    PROGRAM.get().copied().unwrap_or("odt")
}

/// Prints the error once (its chain on one line, made printable: errors quote names and paths
/// from the other side) and, for `--json`, the failure document, so scripts never read an
/// empty stdout; returns the exit status its kind calls for.
fn fail(program: &str, json: bool, e: &anyhow::Error) -> ExitCode {
    let msg = odt_format::text::printable_lines(&format!("{e:#}")).into_owned();
    tracing::error!(error = %msg, "failed");
    // Whatever the loops stopped with after a signal is the interruption, not a fault.
    if crate::interrupt::requested() {
        if json {
            crate::json::print_failure(MESSAGE, Kind::Interrupted);
        }
        eprintln!("{program}: {MESSAGE}");
        return ExitCode::from(EXIT_INTERRUPTED);
    }
    let usage = e.chain().any(is_usage);
    if json {
        let kind = if usage { Kind::Usage } else { Kind::Failed };
        crate::json::print_failure(&msg, kind);
    }
    eprintln!("{program}: error: {msg}");
    ExitCode::from(if usage { EXIT_USAGE } else { EXIT_FAILURE })
}
