//! Secrets come from an environment variable, a file, or an interactive prompt; never from the
//! command line (where `ps` and shell history would show them). They are held in zeroizing
//! buffers and never logged.

use std::io::IsTerminal;
use std::path::Path;

use zeroize::Zeroizing;

use super::UsageError;

/// Where a secret was looked for, for error messages.
pub struct SecretSource<'a> {
    /// Environment variable, e.g. `ODT_PASSPHRASE`.
    pub env: &'a str,
    /// `--passphrase-file` (or similar) when given.
    pub file: Option<&'a Path>,
    /// The flag that names a file, for messages.
    pub file_flag: &'a str,
    /// Prompt text.
    pub prompt: &'a str,
    /// Ask twice on a terminal (when creating a secret).
    pub confirm: bool,
}

/// Reads a secret. Order: the file, then the environment, then a terminal prompt.
pub fn read_secret(src: &SecretSource<'_>) -> Result<Zeroizing<String>, UsageError> {
    if let Some(p) = src.file {
        let mut s = Zeroizing::new(std::fs::read_to_string(p).map_err(|e| {
            UsageError(format!(
                "cannot read {} {}: {e}",
                src.file_flag,
                p.display()
            ))
        })?);
        // A trailing newline from `echo` or an editor is not part of the secret.
        while s.ends_with('\n') || s.ends_with('\r') {
            s.pop();
        }
        return non_empty(s, src);
    }
    if let Ok(v) = std::env::var(src.env) {
        return non_empty(Zeroizing::new(v), src);
    }
    if !std::io::stdin().is_terminal() {
        return Err(UsageError(format!(
            "no secret given: set {}, pass {} FILE, or run in a terminal to be asked",
            src.env, src.file_flag
        )));
    }
    let first = Zeroizing::new(
        rpassword::prompt_password(format!("{}: ", src.prompt))
            .map_err(|e| UsageError(format!("prompt: {e}")))?,
    );
    if src.confirm {
        let again = Zeroizing::new(
            rpassword::prompt_password(format!("{} (again): ", src.prompt))
                .map_err(|e| UsageError(format!("prompt: {e}")))?,
        );
        if *again != *first {
            return Err(UsageError(
                "the two entries differ; nothing was done".into(),
            ));
        }
    }
    non_empty(first, src)
}

fn non_empty(
    s: Zeroizing<String>,
    src: &SecretSource<'_>,
) -> Result<Zeroizing<String>, UsageError> {
    if s.is_empty() {
        Err(UsageError(format!(
            "the secret from {} / {} is empty",
            src.env, src.file_flag
        )))
    } else {
        Ok(s)
    }
}
