//! Connecting to vCloud Director from command-line options (the importer registers the VMs
//! there): URL, system administrator, password (never on the command line), TLS. The same
//! options as a vCenter's, under `--vcd-*` names (see [`super::endpoint`]).

use std::path::PathBuf;

use clap::Args;

use super::endpoint::{Endpoint, Names};
use super::vcenter::ConnectError;
use odt_vmware::vcd::{ConnectOptions, VcdClient, VcdError};

/// The vCloud Director to register the VMs in.
#[derive(Debug, Args, Clone)]
pub struct VcdConn {
    /// vCloud Director URL, e.g. https://vcd.example.com. Without it, `run` stops after the
    /// vCenter deploy.
    #[arg(long, value_name = "URL", help_heading = "vCloud Director")]
    pub vcd: Option<String>,
    /// vCD system administrator (`name@System`).
    #[arg(
        long,
        env = "ODT_VCD_USER",
        value_name = "USER",
        help_heading = "vCloud Director"
    )]
    pub vcd_user: Option<String>,
    /// Read the vCD password from FILE (else ODT_VCD_PASSWORD, else a prompt).
    #[arg(long, value_name = "FILE", help_heading = "vCloud Director")]
    pub vcd_password_file: Option<PathBuf>,
    /// Trust the vCD certificate with this SHA-1 or SHA-256 thumbprint.
    #[arg(long, value_name = "HEX", help_heading = "vCloud Director")]
    pub vcd_thumbprint: Option<String>,
    /// Do not verify the vCD certificate (labs only).
    #[arg(
        long,
        conflicts_with = "vcd_thumbprint",
        help_heading = "vCloud Director"
    )]
    pub vcd_insecure: bool,
}

/// The vCD options' names, for messages.
static VCD: Names = Names {
    server: "vCD",
    url_flag: "--vcd",
    user_hint: "--vcd-user or ODT_VCD_USER (name@System)",
    password_env: "ODT_VCD_PASSWORD",
    password_file_flag: "--vcd-password-file",
    thumbprint_flag: "--vcd-thumbprint",
    insecure_flag: "--vcd-insecure",
};

impl VcdConn {
    fn endpoint(&self) -> Endpoint<'_> {
        Endpoint {
            url: self.vcd.as_deref(),
            user: self.vcd_user.as_deref(),
            password_file: self.vcd_password_file.as_deref(),
            thumbprint: self.vcd_thumbprint.as_deref(),
            insecure: self.vcd_insecure,
            names: &VCD,
        }
    }

    /// Logs in when `--vcd` is given (`None` without it), the password from
    /// `--vcd-password-file`, `ODT_VCD_PASSWORD` or a prompt.
    pub fn connect(&self, opts: ConnectOptions) -> Result<Option<VcdClient>, ConnectError> {
        if self.vcd.is_none() {
            return Ok(None);
        }
        let end = self.endpoint();
        let c = end.credentials()?;
        VcdClient::connect_with(c.url, c.user, &c.password, end.tls(), opts)
            .map(Some)
            .map_err(|e| match e {
                VcdError::Tls {
                    url,
                    detail,
                    sha1,
                    sha256,
                    pinnable,
                } => ConnectError::Tls(end.tls_refusal(
                    &url,
                    &detail,
                    Some((&sha1, &sha256)),
                    pinnable,
                )),
                e => ConnectError::VcdLogin {
                    url: c.url.into(),
                    user: c.user.into(),
                    cause: Box::new(e),
                },
            })
    }
}
