//! What the vCenter's and the vCD's connection options have in common: a URL, a user, a
//! password (never on the command line), and a TLS policy. The two servers' flags differ only
//! in their names, so each option struct describes itself as an [`Endpoint`] and the reading
//! of the password, the TLS policy and the TLS refusal's advice are written once, here.

use std::path::Path;

use zeroize::Zeroizing;

use super::secret::{read_secret, SecretSource};
use super::UsageError;
use odt_vmware::wire::TlsMode;

/// The names one server's options go by, for the messages that tell the operator what to add.
pub(crate) struct Names {
    /// The server as the operator calls it, e.g. `vCenter`.
    pub server: &'static str,
    /// The URL flag, e.g. `--vcenter`.
    pub url_flag: &'static str,
    /// Where the user comes from, e.g. `--vcenter-user or ODT_VCENTER_USER`.
    pub user_hint: &'static str,
    /// The password's environment variable.
    pub password_env: &'static str,
    /// The flag that names a password file.
    pub password_file_flag: &'static str,
    /// The flag that pins a certificate thumbprint.
    pub thumbprint_flag: &'static str,
    /// The flag that skips certificate verification.
    pub insecure_flag: &'static str,
}

/// One server's connection options, whichever server.
pub(crate) struct Endpoint<'a> {
    /// The server's URL, when given.
    pub url: Option<&'a str>,
    /// The user, when given.
    pub user: Option<&'a str>,
    /// The password file, when given.
    pub password_file: Option<&'a Path>,
    /// The pinned certificate thumbprint, when given.
    pub thumbprint: Option<&'a str>,
    /// Skip certificate verification.
    pub insecure: bool,
    /// The options' names.
    pub names: &'static Names,
}

/// The URL, user and password to log in with.
pub(crate) struct Credentials<'a> {
    /// The server's URL.
    pub url: &'a str,
    /// The user.
    pub user: &'a str,
    /// The password, wiped when dropped.
    pub password: Zeroizing<String>,
}

impl<'a> Endpoint<'a> {
    /// The TLS policy the flags ask for: a pinned thumbprint wins over `insecure` (clap
    /// refuses both at once anyway).
    pub fn tls(&self) -> TlsMode {
        match (self.thumbprint, self.insecure) {
            (Some(t), _) => TlsMode::Thumbprint(t.to_owned()),
            (None, true) => TlsMode::Insecure,
            (None, false) => TlsMode::Verify,
        }
    }

    /// The URL and user from the options, and the password from the file, the environment
    /// or a prompt, in that order. A missing URL or user is a usage error naming the flag.
    pub fn credentials(&self) -> Result<Credentials<'a>, UsageError> {
        let n = self.names;
        let url = self
            .url
            .ok_or_else(|| UsageError(format!("{} URL is required", n.url_flag)))?;
        let user = self.user.ok_or_else(|| {
            UsageError(format!(
                "the {} user is required: {}",
                n.server, n.user_hint
            ))
        })?;
        let password = read_secret(&SecretSource {
            env: n.password_env,
            file: self.password_file,
            file_flag: n.password_file_flag,
            prompt: &format!("Password for {user} at {url}"),
            confirm: false,
        })?;
        Ok(Credentials {
            url,
            user,
            password,
        })
    }

    /// The TLS refusal of `url` in the operator's terms: what the server presented and this
    /// server's flags that get past it (its thumbprint flag pins, its insecure flag skips
    /// verification).
    pub fn tls_refusal(
        &self,
        url: &str,
        detail: &str,
        thumbprints: Option<(&str, &str)>,
        pinnable: bool,
    ) -> String {
        let (thumb_flag, insecure_flag) = (self.names.thumbprint_flag, self.names.insecure_flag);
        let head = format!("{url}: TLS certificate not accepted: {detail}");
        match thumbprints {
            Some((sha1, sha256)) if pinnable => format!(
                "{head}. The server presented a certificate with SHA-256 thumbprint {sha256} \
                 (SHA-1 {sha1}); if that is the expected certificate (check it on the server), \
                 rerun with {thumb_flag} {sha256}, or with {insecure_flag} to skip verification \
                 (labs only)"
            ),
            Some((sha1, sha256)) => format!(
                "{head}. The server presented a certificate with SHA-256 thumbprint {sha256} \
                 (SHA-1 {sha1}) but could not prove it holds its key, so {thumb_flag} VALUE does \
                 not help; only {insecure_flag} (labs only) gets past this"
            ),
            None => format!(
                "{head}. Rerun with {thumb_flag} VALUE (the server certificate's SHA-256 \
                 thumbprint), or with {insecure_flag} to skip verification (labs only)"
            ),
        }
    }
}
