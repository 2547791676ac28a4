//! One versioned JSON document per command (docs/JSON.md): an object with `schema`
//! (`odt.<program>.<command>/<version>`) and `ok`, printed on stdout as one line, on failure
//! too, so a script never reads an empty stdout. Keys are printed in one fixed (sorted)
//! order.

use serde::Serialize;
use serde_json::{Map, Value};

/// The schema id of `program`'s `command` (`odt.export.run/1`). Bump the version when a
/// field changes meaning or goes away; adding a field keeps it.
pub fn schema(program: &str, command: &str) -> String {
    let program = program.strip_prefix("odt-").unwrap_or(program);
    format!("odt.{program}.{command}/1")
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

/// Prints [`document`] on stdout.
pub fn print(schema: &str, ok: bool, body: impl Serialize) {
    println!("{}", document(schema, ok, body));
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
}

impl Kind {
    /// The `error_kind` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Usage => "usage",
            Kind::Failed => "failed",
            Kind::Interrupted => "interrupted",
        }
    }
}

/// The document a failed command prints: the error (its whole chain, as stderr shows it)
/// and its [`Kind`].
pub fn failure(schema: &str, error: &str, kind: Kind) -> Value {
    document(
        schema,
        false,
        serde_json::json!({ "error": error, "error_kind": kind.as_str() }),
    )
}

/// For a command line clap refused (exit 2) that asked for `--json`: prints the failure
/// document, with the schema of the subcommand named (`odt.export.run/1`) when there is one.
/// Help and version output are not failures and print nothing here.
pub fn clap_failure(program: &str, e: &clap::Error) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !e.use_stderr() || !args.iter().any(|a| a == "--json") {
        return;
    }
    let command = args
        .iter()
        .find(|a| !a.starts_with('-'))
        .map_or("unknown", String::as_str);
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    let msg = first.strip_prefix("error: ").unwrap_or(first);
    let msg = odt_format::text::printable(msg);
    println!("{}", failure(&schema(program, command), &msg, Kind::Usage));
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
        assert_eq!(d["schema"], "odt.export.run/1");
        assert_eq!(d["ok"], true);
        assert_eq!(d["a"], 1);
        let f = failure("odt.import.plan/1", "no", Kind::Usage);
        assert_eq!(f["ok"], false);
        assert_eq!(f["error_kind"], "usage");
        assert_eq!(document("x/1", true, 5)["result"], 5);
    }
}
