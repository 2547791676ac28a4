//! `odt-import report`: the custody report the provider hands the customer with the receipt.
//! The command is `odt_cli::report`'s, shared with `odt-export report`: the receipt's
//! signature checked first, the dock record matched to it, then one HTML page.

use anyhow::{Context, Result};
use odt_cli::report::ReportOptions;

/// Runs `report`; an error means no page was written (exit 1).
pub(super) fn report(o: ReportOptions) -> Result<bool> {
    odt_cli::report::report("odt-import", &o).context("no custody report was written")
}
