//! `odt-export keygen`: the customer's Ed25519 signing key.

use anyhow::Result;

use crate::cli::KeygenArgs;

/// Writes KEY and KEY.pub (never overwrites).
pub fn keygen(a: KeygenArgs) -> Result<bool> {
    odt_cli::keygen::keygen(odt_cli::keygen::KeyKind::Signing, &a.out, a.json)?;
    Ok(true)
}
