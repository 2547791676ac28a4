//! Connecting to a vCenter from command-line options, shared by the exporter (source vCenter)
//! and the importer (target vCenter): URL, user, password (never on the command line), TLS.

use std::path::PathBuf;

use clap::Args;

use super::secret::{read_secret, SecretSource};
use super::CliError;
use odt_vmware::vsphere::client::Client;
use odt_vmware::vsphere::error::VimError;
use odt_vmware::wire::TlsMode;

/// How to reach and log in to a vCenter.
#[derive(Debug, Args, Clone)]
pub struct VcenterConn {
    /// vCenter (or ESXi) URL, e.g. https://vc.example.com (the /sdk path is added).
    #[arg(long, value_name = "URL", help_heading = "vCenter")]
    pub vcenter: Option<String>,
    /// vCenter user name.
    #[arg(
        long,
        env = "ODT_VCENTER_USER",
        value_name = "USER",
        help_heading = "vCenter"
    )]
    pub vcenter_user: Option<String>,
    /// Read the vCenter password from FILE (else ODT_VCENTER_PASSWORD, else a prompt).
    #[arg(long, value_name = "FILE", help_heading = "vCenter")]
    pub vcenter_password_file: Option<PathBuf>,
    /// Trust the vCenter certificate with this SHA-1 or SHA-256 thumbprint (hex, colons
    /// optional), even if it does not verify against the system's roots.
    #[arg(long, value_name = "HEX", help_heading = "vCenter")]
    pub vcenter_thumbprint: Option<String>,
    /// Do not verify the vCenter certificate at all (labs only: the password is exposed to
    /// anyone on the path).
    #[arg(long, conflicts_with = "vcenter_thumbprint", help_heading = "vCenter")]
    pub insecure: bool,
}

/// Why a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Options or secret missing.
    #[error(transparent)]
    Cli(#[from] CliError),
    /// Login failed.
    #[error("cannot log in to vCenter {url} as {user}: {cause}")]
    Login {
        /// The URL.
        url: String,
        /// The user.
        user: String,
        /// Why, shown in the message (so not also a `source()`).
        cause: Box<VimError>,
    },
    /// The vCenter's certificate was refused: what it presented and which flag gets past it.
    #[error("{0}")]
    Tls(String),
}

/// The TLS refusal of `url` in the operator's terms: what the server presented and the flags
/// that get past it (`thumb_flag VALUE` pins, `insecure_flag` skips verification). Shared
/// by the vCenter and vCD connections, whose clients know no flags.
pub fn tls_refusal(
    url: &str,
    detail: &str,
    thumbprints: Option<(&str, &str)>,
    pinnable: bool,
    thumb_flag: &str,
    insecure_flag: &str,
) -> String {
    let head = format!("{url}: TLS certificate not accepted: {detail}");
    match thumbprints {
        Some((sha1, sha256)) if pinnable => format!(
            "{head}. The server presented a certificate with SHA-256 thumbprint {sha256} (SHA-1 \
             {sha1}); if that is the expected certificate (check it on the server), rerun with \
             {thumb_flag} {sha256}, or with {insecure_flag} to skip verification (labs only)"
        ),
        Some((sha1, sha256)) => format!(
            "{head}. The server presented a certificate with SHA-256 thumbprint {sha256} (SHA-1 \
             {sha1}) but could not prove it holds its key, so {thumb_flag} VALUE does not help; \
             only {insecure_flag} (labs only) gets past this"
        ),
        None => format!(
            "{head}. Rerun with {thumb_flag} VALUE (the server certificate's SHA-256 \
             thumbprint), or with {insecure_flag} to skip verification (labs only)"
        ),
    }
}

impl VcenterConn {
    /// The TLS policy the flags ask for.
    pub fn tls(&self) -> TlsMode {
        match (&self.vcenter_thumbprint, self.insecure) {
            (Some(t), _) => TlsMode::Thumbprint(t.clone()),
            (None, true) => TlsMode::Insecure,
            (None, false) => TlsMode::Verify,
        }
    }

    /// Logs in (the password from `ODT_VCENTER_PASSWORD`, `--vcenter-password-file` or a
    /// prompt).
    pub fn connect(&self) -> Result<Client, ConnectError> {
        let usage = |m: &str| ConnectError::Cli(CliError::Usage(super::UsageError(m.into())));
        let url = self
            .vcenter
            .as_deref()
            .ok_or_else(|| usage("--vcenter URL is required"))?;
        let user = self.vcenter_user.as_deref().ok_or_else(|| {
            usage("the vCenter user is required: --vcenter-user or ODT_VCENTER_USER")
        })?;
        let password = read_secret(&SecretSource {
            env: "ODT_VCENTER_PASSWORD",
            file: self.vcenter_password_file.as_deref(),
            file_flag: "--vcenter-password-file",
            prompt: &format!("Password for {user} at {url}"),
            confirm: false,
        })
        .map_err(|e| ConnectError::Cli(e.into()))?;
        Client::connect(url, user, &password, self.tls()).map_err(|e| match e {
            VimError::Tls {
                url,
                detail,
                sha1,
                sha256,
                pinnable,
            } => ConnectError::Tls(tls_refusal(
                &url,
                &detail,
                sha1.as_deref().zip(sha256.as_deref()),
                pinnable,
                "--vcenter-thumbprint",
                "--insecure",
            )),
            e => ConnectError::Login {
                url: url.into(),
                user: user.into(),
                cause: Box::new(e),
            },
        })
    }
}
