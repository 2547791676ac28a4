//! Config files: what an operator would otherwise retype on every command, in TOML. Which file
//! is read ([`locate`]: the one asked for must exist, the default may not), and how it is read
//! ([`load`]): as carefully as the trust file, though it is the operator's own, since a typo
//! there silently changing a command would be worse than an error. At most
//! [`MAX_CONFIG_FILE_BYTES`], UTF-8, unknown keys refused with the valid ones and the line,
//! and never a secret: a key that looks like one (`password`, `vcenter-password`, …) is refused
//! with where the secret goes instead. Paths in it are relative to its folder ([`resolve`]).
//! The schema is the caller's (`deny_unknown_fields`, kebab-case keys named like its flags).

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::Spanned;

use crate::UsageError;

/// Largest config file read (1 MiB, as the trust file).
pub const MAX_CONFIG_FILE_BYTES: u64 = 1 << 20;

/// Words that make a key a secret's, unless the key ends in `-file` (a path to a secret file).
const SECRET_WORDS: [&str; 4] = ["password", "passphrase", "secret", "token"];

/// Which config file to read: `explicit` (from the flag or its variable: it must exist), else
/// `default` when it exists (`None` when it does not: no config at all). `flag` names where an
/// explicit path came from, for the error.
pub fn locate(
    explicit: Option<&Path>,
    default: &Path,
    flag: &str,
) -> Result<Option<PathBuf>, UsageError> {
    if let Some(p) = explicit {
        return match p.try_exists() {
            Ok(true) => Ok(Some(p.to_owned())),
            Ok(false) => Err(UsageError(format!(
                "config file {} (from {flag}) does not exist: give an existing file, or leave \
                 {flag} out to use {} when it exists",
                shown(p),
                shown(default)
            ))),
            Err(e) => Err(UsageError(format!(
                "cannot read config file {}: {e}",
                shown(p)
            ))),
        };
    }
    match default.try_exists() {
        Ok(true) => Ok(Some(default.to_owned())),
        Ok(false) => Ok(None),
        Err(e) => Err(UsageError(format!(
            "cannot read config file {}: {e}; fix its permissions or pass {flag} FILE",
            shown(default)
        ))),
    }
}

/// Reads and parses the config file at `path` as `T`. `secret_hint` says, for a key that
/// would hold a secret, where that secret goes instead.
pub fn load<T: DeserializeOwned>(
    path: &Path,
    secret_hint: &dyn Fn(&str) -> String,
) -> Result<T, UsageError> {
    let bytes = odt_format::job::reader::read_bounded(path, MAX_CONFIG_FILE_BYTES)
        .map_err(|e| UsageError(format!("config file: {e}")))?;
    parse(&bytes, &shown(path), secret_hint)
}

/// Parses the bytes of a config file; `name` is how errors name it.
pub fn parse<T: DeserializeOwned>(
    bytes: &[u8],
    name: &str,
    secret_hint: &dyn Fn(&str) -> String,
) -> Result<T, UsageError> {
    let bad = |line: Option<usize>, d: &str| {
        UsageError(match line {
            Some(l) => format!("config file {name}, line {l}: {d}"),
            None => format!("config file {name}: {d}"),
        })
    };
    if bytes.len() as u64 > MAX_CONFIG_FILE_BYTES {
        return Err(bad(
            None,
            &format!("larger than {MAX_CONFIG_FILE_BYTES} bytes: not a config file"),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = line_of(&String::from_utf8_lossy(bytes), e.valid_up_to());
        bad(Some(line), "not UTF-8 text")
    })?;
    let syntax = |e: toml::de::Error| {
        let line = e.span().map(|s| line_of(text, s.start));
        let msg = e.message().replacen("unknown field", "unknown key", 1);
        bad(line, msg.trim_end())
    };
    // Secrets first: a `password` key is refused as a secret, not as an unknown key.
    let table: toml::Table = toml::from_str(text).map_err(syntax)?;
    if let Some(key) = secret_key(&table) {
        let keys: std::collections::BTreeMap<Spanned<String>, toml::Value> =
            toml::from_str(text).map_err(syntax)?;
        let line = keys
            .keys()
            .find(|k| k.get_ref() == &key)
            .map(|k| line_of(text, k.span().start));
        return Err(bad(
            line,
            &format!(
                "`{key}` would hold a secret, and a config file never does (it is read by \
                 every command and copied around): {}",
                secret_hint(&key)
            ),
        ));
    }
    toml::from_str(text).map_err(syntax)
}

/// The first top-level key that would hold a secret (nested tables are unknown keys anyway).
fn secret_key(table: &toml::Table) -> Option<String> {
    table
        .keys()
        .find(|k| {
            let k = k.to_ascii_lowercase();
            !k.ends_with("-file")
                && !k.ends_with("_file")
                && SECRET_WORDS.iter().any(|w| k.contains(w))
        })
        .cloned()
}

/// `p` relative to the folder of the config file at `config` (as written when absolute).
pub fn resolve(config: &Path, p: &Path) -> PathBuf {
    match config.parent() {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p.to_owned(),
    }
}

/// 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A path as errors show it.
fn shown(p: &Path) -> String {
    odt_format::text::printable(&p.display().to_string()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    struct Cfg {
        vcenter: Option<String>,
        password_file: Option<PathBuf>,
    }

    fn hint(k: &str) -> String {
        format!("set the env var instead of {k}")
    }

    fn p(text: &str) -> Result<Cfg, UsageError> {
        parse(text.as_bytes(), "c.toml", &hint)
    }

    #[test]
    fn a_good_file_parses() {
        let c = p("# comment\nvcenter = \"https://vc\"\npassword-file = \"vc.pass\"\n").unwrap();
        assert_eq!(c.vcenter.as_deref(), Some("https://vc"));
        assert_eq!(p("").unwrap().vcenter, None);
    }

    #[test]
    fn an_unknown_key_names_its_line_and_the_valid_keys() {
        let e = p("vcenter = \"x\"\n\nclustr = \"c\"\n").unwrap_err().0;
        assert!(
            e.starts_with("config file c.toml, line 3: unknown key `clustr`"),
            "{e}"
        );
        assert!(
            e.contains("`vcenter`") && e.contains("`password-file`"),
            "{e}"
        );
        let e = p("[vcenter]\nurl = 1\n").unwrap_err().0;
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn secret_keys_are_refused_with_their_line_and_the_hint() {
        for key in [
            "password",
            "vcenter-password",
            "VCD_Password",
            "passphrase",
            "api-token",
        ] {
            let e = p(&format!("vcenter = \"x\"\n{key} = \"hunter2\"\n"))
                .unwrap_err()
                .0;
            assert!(
                e.contains("line 2") && e.contains(&format!("`{key}`")),
                "{e}"
            );
            assert!(e.contains(&hint(key)), "{e}");
            assert!(!e.contains("hunter2"), "the secret is never repeated: {e}");
        }
        // A password file is a path, not a secret.
        p("password-file = \"x\"\n").unwrap();
    }

    #[test]
    fn syntax_errors_and_bad_bytes_name_the_line() {
        let e = p("vcenter = \"x\"\nvcenter = \"y\"\n").unwrap_err().0;
        assert!(e.contains("line 2"), "{e}");
        let e = p("vcenter = \n").unwrap_err().0;
        assert!(e.contains("line 1"), "{e}");
        let e = parse::<Cfg>(b"vcenter = \"x\"\n\xff", "c.toml", &hint)
            .unwrap_err()
            .0;
        assert!(e.contains("line 2: not UTF-8"), "{e}");
        let big = vec![b'#'; MAX_CONFIG_FILE_BYTES as usize + 1];
        let e = parse::<Cfg>(&big, "c.toml", &hint).unwrap_err().0;
        assert!(e.contains("larger than"), "{e}");
        let e = p("vcenter = 1\n").unwrap_err().0;
        assert!(e.contains("line 1") && e.contains("string"), "{e}");
    }

    #[test]
    fn locate_requires_an_explicit_file_but_not_the_default() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("none.toml");
        assert_eq!(locate(None, &missing, "--config").unwrap(), None);
        let e = locate(Some(&missing), &missing, "--config").unwrap_err().0;
        assert!(
            e.contains("none.toml") && e.contains("does not exist"),
            "{e}"
        );
        let there = d.path().join("c.toml");
        std::fs::write(&there, "").unwrap();
        assert_eq!(
            locate(None, &there, "--config").unwrap(),
            Some(there.clone())
        );
        assert_eq!(
            locate(Some(&there), &missing, "--config").unwrap(),
            Some(there.clone())
        );
        // What the file holds goes through the bounded, regular-file-only reader.
        let e = load::<Cfg>(d.path(), &hint).unwrap_err().0;
        assert!(e.starts_with("config file: "), "{e}");
    }

    #[test]
    fn paths_are_relative_to_the_file() {
        let c = Path::new("/etc/odt/import.toml");
        assert_eq!(resolve(c, Path::new("k.key")), Path::new("/etc/odt/k.key"));
        assert_eq!(resolve(c, Path::new("/x/k.key")), Path::new("/x/k.key"));
        assert_eq!(
            resolve(Path::new("import.toml"), Path::new("k")),
            Path::new("k")
        );
    }
}
