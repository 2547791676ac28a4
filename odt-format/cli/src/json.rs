//! One versioned JSON document per command (docs/JSON.md): an object with `schema`
//! (`odt.<program>.<command>/<version>`) and `ok`, printed on stdout as one line, on failure
//! too, so a script never reads an empty stdout. Keys are printed in one fixed (sorted)
//! order.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{Map, Value};

/// The schema id of `program`'s `command` (`odt.export.run/2`). Bump its version in
/// [`version`] (and docs/JSON.md) when a field changes meaning, shape or goes away; adding a
/// field keeps it.
pub fn schema(program: &str, command: &str) -> String {
    let program = program.strip_prefix("odt-").unwrap_or(program);
    format!("odt.{program}.{command}/{}", version(program, command))
}

/// The current version of each document.
fn version(program: &str, command: &str) -> u32 {
    match (program, command) {
        // 2: `vms[].files` entries are objects `{name, size}` (they were `[name, size]`).
        ("export", "run") => 2,
        _ => 1,
    }
}

static CURRENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Records which command this process runs (`main` does, once, from the parsed arguments):
/// every document it prints then carries that command's schema id.
pub fn set_command(program: &str, command: &str) {
    let _ = CURRENT.set(schema(program, command));
}

/// The schema id [`set_command`] recorded (`odt.unknown/1` before it).
pub fn current() -> &'static str {
    CURRENT.get().map(String::as_str).unwrap_or("odt.unknown/1")
}

/// Prints the document of the command being run: `body` with [`current`]'s schema and `ok`.
pub fn emit(ok: bool, body: impl Serialize) {
    print(current(), ok, body);
}

/// `body` (an object, or a struct that serialises to one) with `schema` and `ok` set.
pub fn document(schema: &str, ok: bool, body: impl Serialize) -> Value {
    let mut map = match serde_json::to_value(body) {
        Ok(Value::Object(m)) => m,
        Ok(other) => Map::from_iter([("result".to_owned(), other)]),
        Err(e) => Map::from_iter([("error".to_owned(), Value::from(e.to_string()))]),
    };
    map.insert("schema".into(), schema.into());
    map.insert("ok".into(), ok.into());
    Value::Object(map)
}

/// Whether this process printed its document: it prints one, never two.
static PRINTED: AtomicBool = AtomicBool::new(false);

/// What a command that stopped part way did, for its failure document (see
/// [`keep_for_failure`]).
static KEPT: Mutex<Option<Value>> = Mutex::new(None);

/// Prints [`document`] on stdout, unless this process already printed its document.
pub fn print(schema: &str, ok: bool, body: impl Serialize) {
    let doc = document(schema, ok, body);
    print_once(&doc);
}

/// Prints `doc` as the one document of this process: built before the flag is taken (a
/// panic while building it still leaves the panic's document to be printed), and a closed
/// stdout ignored (this also runs in the panic hook, where a panic would abort).
fn print_once(doc: &Value) {
    if PRINTED.swap(true, Ordering::SeqCst) {
        return;
    }
    let _ = writeln!(std::io::stdout().lock(), "{doc}");
}

/// Keeps `body` (an object) as the report of a command that stopped part way with an error
/// (`run` at a VM: what landed, what failed): instead of a second document, the one failure
/// document [`print_failure`] prints then carries it, with `error` and `error_kind` added.
pub fn keep_for_failure(body: impl Serialize) {
    let body = serde_json::to_value(body).unwrap_or(Value::Null);
    *KEPT.lock().unwrap_or_else(|p| p.into_inner()) = Some(body);
}

/// Prints the failure document of the command being run (with what [`keep_for_failure`]
/// kept), unless this process already printed its document: one document per process.
pub fn print_failure(error: &str, kind: Kind) {
    if PRINTED.load(Ordering::SeqCst) {
        return;
    }
    let kept = KEPT.lock().unwrap_or_else(|p| p.into_inner()).take();
    print_once(&failure_with(current(), kept, error, kind));
}

/// Why a command failed, as its failure document's `error_kind` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `usage`: the command line, a missing secret or flag (exit 2).
    Usage,
    /// `failed`: the work failed (exit 1).
    Failed,
    /// `interrupted`: Ctrl-C or SIGTERM stopped it; the same command resumes (exit 130).
    Interrupted,
    /// `internal`: a bug in odt stopped it (a panic, exit 101).
    Internal,
}

impl Kind {
    /// The `error_kind` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Usage => "usage",
            Kind::Failed => "failed",
            Kind::Interrupted => "interrupted",
            Kind::Internal => "internal",
        }
    }
}

/// The document a failed command prints: the error (its whole chain, as stderr shows it)
/// and its [`Kind`].
pub fn failure(schema: &str, error: &str, kind: Kind) -> Value {
    failure_with(schema, None, error, kind)
}

/// [`failure`], with the keys of `report` (what the command did before it stopped) too.
fn failure_with(schema: &str, report: Option<Value>, error: &str, kind: Kind) -> Value {
    let mut body = match report {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    body.insert("error".into(), error.into());
    body.insert("error_kind".into(), kind.as_str().into());
    document(schema, false, body)
}

/// For a command line clap refused (exit 2) that asked for `--json`: prints the failure
/// document, with the schema of the subcommand of `cli` it names when that subcommand takes
/// `--json` (`odt.export.run/2`), and `odt.<program>.unknown/1` otherwise (no subcommand, a
/// misspelt one, or one without `--json`). Help and version output are not failures and
/// print nothing here.
pub fn clap_failure(program: &str, cli: &clap::Command, e: &clap::Error) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !e.use_stderr() || !args.iter().any(|a| a == "--json") {
        return;
    }
    let command = json_subcommand(cli, &args).unwrap_or("unknown");
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    let msg = first.strip_prefix("error: ").unwrap_or(first);
    let msg = odt_format::text::printable(msg);
    print(
        &schema(program, command),
        false,
        serde_json::json!({ "error": msg, "error_kind": Kind::Usage.as_str() }),
    );
}

/// The subcommand of `cli` that `args` name, when it takes `--json`: the first argument
/// that is neither an option nor the value of one of `cli`'s options (`--config FILE`,
/// `--log-file=FILE`, `-c FILE`).
fn json_subcommand<'c>(cli: &'c clap::Command, args: &[String]) -> Option<&'c str> {
    let takes_value = |a: &str| {
        cli.get_arguments().any(|arg| {
            let named = match a.strip_prefix("--") {
                Some(long) => arg.get_long() == Some(long),
                None => a.len() == 2 && arg.get_short() == a.chars().nth(1),
            };
            named && arg.get_action().takes_values()
        })
    };
    let mut rest = args.iter();
    let word = loop {
        let a = rest.next()?;
        if !a.starts_with('-') {
            break a;
        }
        if !a.contains('=') && takes_value(a) {
            rest.next();
        }
    };
    let named = cli.find_subcommand(word.as_str())?;
    named
        .get_arguments()
        .any(|a| a.get_long() == Some("json"))
        .then(|| named.get_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_has_its_schema_and_ok_whatever_the_body() {
        let d = document(
            &schema("odt-export", "run"),
            true,
            serde_json::json!({"a": 1}),
        );
        assert_eq!(d["schema"], "odt.export.run/2");
        assert_eq!(schema("odt-import", "run"), "odt.import.run/1");
        assert_eq!(d["ok"], true);
        assert_eq!(d["a"], 1);
        let f = failure("odt.import.plan/1", "no", Kind::Usage);
        assert_eq!(f["ok"], false);
        assert_eq!(f["error_kind"], "usage");
        assert_eq!(document("x/1", true, 5)["result"], 5);
    }

    #[test]
    fn a_failure_document_carries_the_report_of_what_was_done_before() {
        let report = serde_json::json!({"vms": [1, 2], "failed": "vm-002", "ok": true});
        let f = failure_with("odt.import.run/1", Some(report), "boom", Kind::Failed);
        assert_eq!(f["ok"], false, "the report's own ok does not win");
        assert_eq!(f["error"], "boom");
        assert_eq!(f["error_kind"], "failed");
        assert_eq!(f["vms"], serde_json::json!([1, 2]));
        assert_eq!(f["schema"], "odt.import.run/1");
    }

    #[test]
    fn a_clap_failure_names_only_a_subcommand_that_takes_json() {
        let cli = clap::Command::new("odt-x")
            .arg(clap::Arg::new("config").long("config").global(true))
            .subcommand(
                clap::Command::new("run").arg(
                    clap::Arg::new("json")
                        .long("json")
                        .action(clap::ArgAction::SetTrue),
                ),
            )
            .subcommand(clap::Command::new("man"));
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let run = args(&["--config", "/etc/x.toml", "run", "--json", "--bogus"]);
        assert_eq!(json_subcommand(&cli, &run), Some("run"));
        // An option's value that happens to be a command's name is still the value.
        let man = args(&["--config", "run", "man", "--json"]);
        assert_eq!(json_subcommand(&cli, &man), None);
        let eq = args(&["--config=x", "run", "--json"]);
        assert_eq!(json_subcommand(&cli, &eq), Some("run"));
        assert_eq!(json_subcommand(&cli, &args(&["rnu", "--json"])), None);
        assert_eq!(json_subcommand(&cli, &args(&["man", "--json"])), None);
        assert_eq!(json_subcommand(&cli, &args(&["--json"])), None);
    }
}
