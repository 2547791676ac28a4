//! Subcommand bodies: build the request, call the library, render the result.

use anyhow::{Context, Result};
use odt_format::cli::{verify as verify_cmd, UsageError};
use odt_format::keys::{write_key_pair, Identity, X25519_PUBLIC_PREFIX, X25519_SECRET_PREFIX};

use crate::cli::{Command, KeygenArgs, VerifyArgs};

/// Runs a parsed command. `Ok(false)` means the work was done and found a failure (exit 1).
pub fn dispatch(cmd: Command) -> Result<bool> {
    match cmd {
        Command::Keygen(a) => keygen(a),
        Command::Verify(a) => verify(a),
    }
}

fn keygen(a: KeygenArgs) -> Result<bool> {
    let id = Identity::generate(&mut rand::rngs::OsRng);
    let r = id.recipient();
    let secret = zeroize::Zeroizing::new(id.secret_bytes());
    let pub_path = write_key_pair(
        &a.out,
        X25519_SECRET_PREFIX,
        &secret,
        X25519_PUBLIC_PREFIX,
        &r.0,
        "odt provider recipient key (X25519)",
    )?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({"secret_key": a.out, "public_key": pub_path, "key_id": r.key_id()})
        );
    } else {
        println!(
            "wrote {} (secret, mode 0600) and {}",
            a.out.display(),
            pub_path.display()
        );
        println!(
            "key id {}: customers pass {} to `odt-export run --recipient`",
            r.key_id(),
            pub_path.display()
        );
    }
    Ok(true)
}

fn verify(a: VerifyArgs) -> Result<bool> {
    let report = verify_cmd::run(&verify_cmd::VerifyRequest {
        nas: a.nas,
        trusted_key: Some(a.trusted_key),
        deep: a.deep,
        passphrase_file: a.passphrase_file,
        identity: a.identity,
        json: a.json,
    })
    .map_err(|e| match e.downcast::<UsageError>() {
        Ok(u) => anyhow::Error::new(*u),
        Err(e) => anyhow::anyhow!(e),
    })
    .context("verification failed")?;
    Ok(report.ok())
}
