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

/// Largest secret file read: a passphrase or a password, never a document.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 << 10;

/// Reads a secret. Order: the file, then the environment, then a terminal prompt.
pub fn read_secret(src: &SecretSource<'_>) -> Result<Zeroizing<String>, UsageError> {
    if let Some(p) = src.file {
        let mut s = read_secret_file(p, src.file_flag)?;
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

/// Reads a secret file: a regular file only (a FIFO would block), private (mode 0600 or
/// stricter), at most [`MAX_SECRET_FILE_BYTES`], UTF-8 (docs/SECURITY.md §S5, §S7).
fn read_secret_file(p: &Path, flag: &str) -> Result<Zeroizing<String>, UsageError> {
    use std::io::Read;
    let cannot = |why: String| UsageError(format!("cannot read {flag} {}: {why}", p.display()));
    let f = odt_format::job::reader::open_regular(p).map_err(|e| match e {
        odt_format::error::FormatError::Io { cause: source, .. } => cannot(source.to_string()),
        odt_format::error::FormatError::Malformed { detail, .. } => cannot(detail),
        other => cannot(other.to_string()),
    })?;
    // Like ssh: a secret others may read is refused (docs/SECURITY.md §S7), checked on the
    // open file.
    let meta = f.metadata().map_err(|e| cannot(e.to_string()))?;
    if let Some(why) = odt_format::crypto::keys::private_file_problem(p, &meta) {
        return Err(UsageError(format!("{flag} {} {why}", p.display())));
    }
    // Room for all of it up front: no reallocation leaves copies of the secret behind.
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_SECRET_FILE_BYTES as usize + 1));
    f.take(MAX_SECRET_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| cannot(e.to_string()))?;
    if bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(cannot(format!(
            "larger than {MAX_SECRET_FILE_BYTES} bytes: not a passphrase or password file"
        )));
    }
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(s) => Ok(Zeroizing::new(s)),
        Err(e) => {
            zeroize::Zeroize::zeroize(&mut e.into_bytes());
            Err(cannot("not UTF-8 text".into()))
        }
    }
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

/// Reads the bundle passphrase for `manifest`'s job (`ODT_PASSPHRASE`, `--passphrase-file` or
/// a prompt). A job wrapped only for X25519 recipients has no passphrase to ask for: that is
/// said before any prompt, with the recipients' key ids and the flag that opens it.
pub fn read_job_passphrase(
    manifest: Option<&odt_format::job::manifest::JobManifest>,
    file: Option<&Path>,
) -> Result<Zeroizing<String>, UsageError> {
    use odt_format::crypto::stanza::Stanza;
    if let Some(m) = manifest {
        let recipients: Vec<&str> = m
            .stanzas
            .iter()
            .filter_map(|s| match s {
                Stanza::X25519 { recipient_id, .. } => Some(recipient_id.as_str()),
                Stanza::Argon2id { .. } => None,
            })
            .collect();
        if recipients.len() == m.stanzas.len() && !recipients.is_empty() {
            return Err(UsageError(format!(
                "job {} has no passphrase: it was encrypted only for recipient key(s) {}; pass \
                 --identity KEY, the provider's X25519 secret key (from `odt-import keygen`)",
                m.job_id,
                recipients.join(", ")
            )));
        }
    }
    read_secret(&SecretSource {
        env: "ODT_PASSPHRASE",
        file,
        file_flag: "--passphrase-file",
        prompt: "Bundle passphrase",
        confirm: false,
    })
}
