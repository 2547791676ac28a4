//! Logs for support: `--log-file FILE` and `ODT_LOG`, set up once for both binaries.
//!
//! The libraries emit `tracing` events (each SOAP method and vCD request with its status and
//! duration, lease progress, retries, journal checkpoints, plan decisions); this module decides
//! where they go. The default stays quiet, as before: without `ODT_LOG` and without
//! `--log-file` no subscriber is installed and nothing reaches stderr, where the progress bars
//! and errors are. `--log-file` alone writes `info` to the file: every remote call and decision
//! is at `info`, so the file a user hands to support is complete without them knowing a level.
//! `ODT_LOG` sets the level (`debug`, `trace`, …): to the file when there is one (so stderr
//! stays for the progress bars and errors), else to stderr.
//!
//! A bare level applies to odt's own crates only, because other crates' events (hyper's, say)
//! are not written under odt's rule that no secret, token or cookie is ever logged. A full
//! directive list (`odt_vmware=trace,hyper=debug`, tracing's `Targets` syntax) is taken as
//! given, for whoever needs more.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use clap::Args;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer as _;

use crate::UsageError;

/// The variable that sets the log level or directives.
pub const ENV: &str = "ODT_LOG";

/// `ODT_LOG` in both programs' `--help` and man pages: what it (and `-v`) do.
pub const ENV_VAR: crate::manual::EnvVar = crate::manual::EnvVar {
    name: ENV,
    help: "log level (error, warn, info, debug, trace) or directives: to --log-file if \
           given, else to stderr (default: no log; -v, -vv, -vvv raise it to info, debug, \
           trace)",
};

/// odt's own crates, which a bare `ODT_LOG` level applies to.
const OWN_CRATES: [&str; 5] = [
    "odt_format",
    "odt_vmware",
    "odt_cli",
    "odt_export",
    "odt_import",
];

/// The global `--log-file` flag (flattened into each binary's top-level parser).
#[derive(Debug, Args, Clone, Default)]
pub struct LogArgs {
    /// Append a log for support to FILE (created mode 0600): each SOAP method and vCD request
    /// with status, duration and request id, lease progress, retries, journal checkpoints and
    /// plan decisions. Never a password, token, cookie or passphrase. Level info unless
    /// ODT_LOG says otherwise (debug, trace).
    #[arg(long, value_name = "FILE", global = true)]
    pub log_file: Option<PathBuf>,
    /// Log more (to --log-file if given, else to stderr): -v info, -vv debug, -vvv trace.
    /// Raises an ODT_LOG level, never lowers it; ODT_LOG directives are taken as given.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// Where the events went, for the caller's summary (and for tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSink {
    /// No subscriber: nothing is logged anywhere.
    Quiet,
    /// Events go to stderr (`ODT_LOG` without `--log-file`).
    Stderr,
    /// Events go to this file.
    File(PathBuf),
}

/// Reads `ODT_LOG` and `--log-file` and installs the subscriber. Call it once, right after
/// parsing and before any work: a log file that cannot be created or an `ODT_LOG` that does
/// not parse is a [`UsageError`] (exit 2) and nothing has been done yet.
pub fn init(program: &str, command: &str, args: &LogArgs) -> Result<LogSink, UsageError> {
    let env = std::env::var(ENV).ok().filter(|v| !v.trim().is_empty());
    let env = wanted(env, args.verbose);
    let (sink, filter) = match (&args.log_file, env.as_deref()) {
        (None, None) => return Ok(LogSink::Quiet),
        (Some(f), env) => (LogSink::File(f.clone()), filter(env.unwrap_or("info"))?),
        (None, Some(env)) => (LogSink::Stderr, filter(env)?),
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_target(true);
    let installed = match &sink {
        LogSink::File(path) => {
            let file = open_log(path)?;
            let subscriber = tracing_subscriber::registry()
                .with(layer.with_writer(Mutex::new(file)).with_filter(filter));
            tracing::subscriber::set_global_default(subscriber)
        }
        _ => {
            let subscriber = tracing_subscriber::registry()
                .with(layer.with_writer(std::io::stderr).with_filter(filter));
            tracing::subscriber::set_global_default(subscriber)
        }
    };
    installed.map_err(|e| UsageError(format!("cannot set up logging: {e}")))?;
    tracing::info!(
        program = %program,
        command = %command,
        version = %env!("CARGO_PKG_VERSION"),
        "started"
    );
    Ok(sink)
}

/// The log spec `ODT_LOG` and `-v` ask for together: `-v`, `-vv`, `-vvv` mean info, debug,
/// trace, and raise a bare `ODT_LOG` level (never lower it: `ODT_LOG=trace -v` stays trace);
/// directives in `ODT_LOG` are the operator's exact wish and are kept as given.
fn wanted(env: Option<String>, verbose: u8) -> Option<String> {
    let asked = match verbose {
        0 => return env,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    match env {
        None => Some(asked.to_string().to_lowercase()),
        Some(e) => match e.trim().parse::<LevelFilter>() {
            Ok(level) => Some(level.max(asked).to_string().to_lowercase()),
            Err(_) => Some(e),
        },
    }
}

/// The filter `ODT_LOG` asks for: a bare level for odt's crates, or directives as given.
pub fn filter(spec: &str) -> Result<Targets, UsageError> {
    let spec = spec.trim();
    let bad = |e: &dyn std::fmt::Display| {
        UsageError(format!(
            "{ENV}={spec:?} is not a log level or filter ({e}): use error, warn, info, debug \
             or trace, or directives such as odt_vmware=trace,info"
        ))
    };
    if let Ok(level) = spec.parse::<LevelFilter>() {
        return Ok(Targets::new().with_targets(OWN_CRATES.map(|c| (c, level))));
    }
    spec.parse::<Targets>().map_err(|e| bad(&e))
}

/// Opens (creating with mode 0600, else appending) the log file, with an error that names
/// it and says what to do.
fn open_log(path: &Path) -> Result<File, UsageError> {
    use std::os::unix::fs::OpenOptionsExt;
    let opened = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| {
            // A directory opens read-only on some systems: make sure we can write.
            f.write_all(b"")?;
            if !f.metadata()?.is_file() {
                return Err(std::io::Error::other("not a regular file"));
            }
            Ok(f)
        });
    opened.map_err(|e| {
        UsageError(format!(
            "cannot create the log file {}: {e}; give --log-file a writable file path",
            odt_format::text::printable(&path.display().to_string())
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_levels_cover_only_odt_crates() {
        let f = filter("debug").unwrap();
        assert!(f.would_enable("odt_vmware::vcd::client", &tracing::Level::DEBUG));
        assert!(!f.would_enable("odt_vmware::vcd::client", &tracing::Level::TRACE));
        assert!(!f.would_enable("hyper::proto", &tracing::Level::ERROR));
        let f = filter("odt_vmware=trace,hyper=debug").unwrap();
        assert!(f.would_enable("hyper::proto", &tracing::Level::DEBUG));
        assert!(f.would_enable("odt_vmware::wire", &tracing::Level::TRACE));
    }

    #[test]
    fn verbose_raises_a_level_and_keeps_directives() {
        let w = |e: Option<&str>, v| wanted(e.map(str::to_owned), v);
        assert_eq!(w(None, 0), None);
        assert_eq!(w(Some("warn"), 0).as_deref(), Some("warn"));
        assert_eq!(w(None, 1).as_deref(), Some("info"));
        assert_eq!(w(None, 2).as_deref(), Some("debug"));
        assert_eq!(w(None, 9).as_deref(), Some("trace"));
        assert_eq!(w(Some("warn"), 2).as_deref(), Some("debug"));
        assert_eq!(w(Some("trace"), 1).as_deref(), Some("trace"));
        assert_eq!(
            w(Some("odt_vmware=trace"), 1).as_deref(),
            Some("odt_vmware=trace")
        );
        // What it yields is a spec `filter` takes.
        for v in 1..4 {
            filter(&w(None, v).unwrap()).unwrap();
        }
    }

    #[test]
    fn a_bad_spec_names_the_variable() {
        let e = filter("loud=please=now").unwrap_err().to_string();
        assert!(e.contains("ODT_LOG=\"loud=please=now\""), "{e}");
        assert!(e.contains("debug"), "{e}");
    }

    #[test]
    fn a_log_file_in_a_missing_folder_is_refused_with_its_path() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("no/such/odt.log");
        let e = open_log(&p).unwrap_err().to_string();
        assert!(
            e.contains("no/such/odt.log") && e.contains("--log-file"),
            "{e}"
        );
        let e = open_log(d.path()).unwrap_err().to_string();
        assert!(e.contains("cannot create the log file"), "{e}");
    }

    #[test]
    fn a_new_log_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("odt.log");
        open_log(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
