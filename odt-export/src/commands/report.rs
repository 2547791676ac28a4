//! `odt-export report`: the custody report of the provider's import receipt, for the customer
//! to archive. The command is `odt_cli::report`'s, shared with `odt-import report`: the
//! receipt checked as `verify-receipt` checks it, then rendered as one HTML page.

use anyhow::{Context, Result};
use odt_cli::report::ReportOptions;

/// Runs `report`; an error means no page was written (exit 1).
pub fn report(o: ReportOptions) -> Result<bool> {
    odt_cli::report::report("odt-export", &o).context("no custody report was written")
}
