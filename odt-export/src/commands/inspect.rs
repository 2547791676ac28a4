//! `odt-export inspect`: what is on the NAS and how far the export got, with no secret.

use anyhow::Result;

use crate::cli::InspectArgs;

/// Prints the inspection as text or `--json`; `Ok(false)` (exit 1) when a signature failed.
pub fn inspect(a: InspectArgs) -> Result<bool> {
    let i = odt_cli::inspect::inspect(&a.nas)?;
    if a.json {
        odt_cli::json::emit(i.ok(), &i);
    } else {
        for line in odt_cli::inspect::render(&i) {
            println!("{line}");
        }
    }
    Ok(i.ok())
}
