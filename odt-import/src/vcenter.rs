//! Connecting to the target vCenter from command-line options: URL, user, password (never on
//! the command line), TLS policy, and the placement flags.

use anyhow::{Context, Result};
use clap::Args;
use odt_cli::vcenter::VcenterConn;
use odt_vmware::vsphere::client::Client;
use odt_vmware::vsphere::inventory::Placement;

/// Options naming the target vCenter and where VMs go in it.
#[derive(Debug, Args, Clone)]
pub struct VcenterArgs {
    #[command(flatten)]
    pub conn: VcenterConn,
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
    /// Logs in.
    pub fn connect(&self) -> Result<Client> {
        Ok(self.conn.connect()?)
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
