//! Connecting to a vCenter from command-line options, shared by the exporter (source vCenter)
//! and the importer (target vCenter): URL, user, password (never on the command line), TLS.

use std::path::PathBuf;

use clap::Args;

use super::endpoint::{Endpoint, Names};
use super::CliError;
use odt_vmware::vcd::VcdError;
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
    #[arg(
        short = 'k',
        long,
        conflicts_with = "vcenter_thumbprint",
        help_heading = "vCenter"
    )]
    pub insecure: bool,
}

/// Why a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Options or secret missing.
    #[error(transparent)]
    Cli(#[from] CliError),
    /// The vCenter login failed.
    #[error("cannot log in to vCenter {url} as {user}: {cause}")]
    Login {
        /// The URL.
        url: String,
        /// The user.
        user: String,
        /// Why, shown in the message (so not also a `source()`).
        cause: Box<VimError>,
    },
    /// The vCD login failed.
    #[error("cannot log in to vCloud Director {url} as {user}: {cause}")]
    VcdLogin {
        /// The URL.
        url: String,
        /// The user.
        user: String,
        /// Why, shown in the message (so not also a `source()`).
        cause: Box<VcdError>,
    },
    /// The server's certificate was refused: what it presented and which flag gets past it.
    #[error("{0}")]
    Tls(String),
}

impl From<super::UsageError> for ConnectError {
    fn from(e: super::UsageError) -> Self {
        ConnectError::Cli(CliError::Usage(e))
    }
}

/// The vCenter options' names, for messages.
static VCENTER: Names = Names {
    server: "vCenter",
    url_flag: "--vcenter",
    user_hint: "--vcenter-user or ODT_VCENTER_USER",
    password_env: "ODT_VCENTER_PASSWORD",
    password_file_flag: "--vcenter-password-file",
    thumbprint_flag: "--vcenter-thumbprint",
    insecure_flag: "--insecure",
};

impl VcenterConn {
    fn endpoint(&self) -> Endpoint<'_> {
        Endpoint {
            url: self.vcenter.as_deref(),
            user: self.vcenter_user.as_deref(),
            password_file: self.vcenter_password_file.as_deref(),
            thumbprint: self.vcenter_thumbprint.as_deref(),
            insecure: self.insecure,
            names: &VCENTER,
        }
    }

    /// The TLS policy the flags ask for.
    pub fn tls(&self) -> TlsMode {
        self.endpoint().tls()
    }

    /// Logs in (the password from `--vcenter-password-file`, `ODT_VCENTER_PASSWORD` or a
    /// prompt).
    pub fn connect(&self) -> Result<Client, ConnectError> {
        let end = self.endpoint();
        let c = end.credentials()?;
        Client::connect(c.url, c.user, &c.password, end.tls()).map_err(|e| match e {
            VimError::Tls {
                url,
                detail,
                sha1,
                sha256,
                pinnable,
            } => ConnectError::Tls(end.tls_refusal(
                &url,
                &detail,
                sha1.as_deref().zip(sha256.as_deref()),
                pinnable,
            )),
            e => ConnectError::Login {
                url: c.url.into(),
                user: c.user.into(),
                cause: Box::new(e),
            },
        })
    }
}
