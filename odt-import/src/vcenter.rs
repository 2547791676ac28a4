//! Connecting to the target vCenter from command-line options: URL, user, password (never on
//! the command line), TLS policy, and the placement flags.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use odt_format::cli::secret::{read_secret, SecretSource};
use odt_format::vsphere::client::Client;
use odt_format::vsphere::inventory::Placement;
use odt_format::vsphere::tls::TlsMode;

/// Options naming the target vCenter and where VMs go in it.
#[derive(Debug, Args, Clone)]
pub struct VcenterArgs {
    /// vCenter (or ESXi) URL, e.g. https://vc.example.com (the /sdk path is added).
    #[arg(long, value_name = "URL", help_heading = "vCenter")]
    pub vcenter: String,
    /// vCenter user name.
    #[arg(
        long,
        env = "ODT_VCENTER_USER",
        value_name = "USER",
        help_heading = "vCenter"
    )]
    pub vcenter_user: String,
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
    /// Datacenter (may be left out when there is only one).
    #[arg(long, value_name = "NAME", help_heading = "Placement")]
    pub datacenter: Option<String>,
    /// Cluster (may be left out when there is only one cluster or host).
    #[arg(long, value_name = "NAME", help_heading = "Placement")]
    pub cluster: Option<String>,
    /// Host: a standalone host, or one host of --cluster.
    #[arg(long, value_name = "NAME", help_heading = "Placement")]
    pub host: Option<String>,
    /// Datastore (may be left out when the target sees only one).
    #[arg(long, value_name = "NAME", help_heading = "Placement")]
    pub datastore: Option<String>,
}

impl VcenterArgs {
    fn tls(&self) -> TlsMode {
        match (&self.vcenter_thumbprint, self.insecure) {
            (Some(t), _) => TlsMode::Thumbprint(t.clone()),
            (None, true) => TlsMode::Insecure,
            (None, false) => TlsMode::Verify,
        }
    }

    /// Logs in.
    pub fn connect(&self) -> Result<Client> {
        let password = read_secret(&SecretSource {
            env: "ODT_VCENTER_PASSWORD",
            file: self.vcenter_password_file.as_deref(),
            file_flag: "--vcenter-password-file",
            prompt: &format!("Password for {} at {}", self.vcenter_user, self.vcenter),
            confirm: false,
        })?;
        Client::connect(&self.vcenter, &self.vcenter_user, &password, self.tls()).with_context(
            || {
                format!(
                    "cannot log in to vCenter {} as {}",
                    self.vcenter, self.vcenter_user
                )
            },
        )
    }

    /// Resolves the placement flags.
    pub fn placement(&self, client: &Client) -> Result<Placement> {
        Placement::resolve(
            client,
            self.datacenter.as_deref(),
            self.cluster.as_deref(),
            self.host.as_deref(),
            self.datastore.as_deref(),
        )
        .context("choose where the VMs go (--datacenter, --cluster or --host, --datastore)")
    }
}
