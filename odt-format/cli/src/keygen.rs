//! The `keygen` commands of both programs: make a key pair, write it (secret 0600, never
//! overwriting), and tell the operator what to hand to whom.

use std::path::Path;

use rand::rngs::OsRng;
use zeroize::Zeroizing;

use odt_format::crypto::keys::{
    write_key_pair, Identity, SigningKey, SIGN_PUBLIC_PREFIX, SIGN_SECRET_PREFIX,
    X25519_PUBLIC_PREFIX, X25519_SECRET_PREFIX,
};
use odt_format::error::Result;

/// Which key pair.
#[derive(Clone, Copy, Debug)]
pub enum KeyKind {
    /// The customer's Ed25519 signing key (`odt-export keygen`).
    Signing,
    /// The provider's X25519 recipient key (`odt-import keygen`).
    Recipient,
    /// The provider's Ed25519 key that signs import receipts (`odt-import keygen
    /// --receipt`): the same kind of key as the customer's, handed the other way.
    Receipt,
}

/// Writes a new key pair to `out` and `out.pub` and prints a report (JSON with `json`).
pub fn keygen(kind: KeyKind, out: &Path, json: bool) -> Result<()> {
    let (secret, public, prefixes, comment, hint) = match kind {
        KeyKind::Signing | KeyKind::Receipt => {
            let sk = SigningKey::generate(&mut OsRng);
            let vk = sk.verifying_key().to_bytes();
            let (comment, hint) = match kind {
                KeyKind::Signing => (
                    "odt customer signing key (Ed25519)",
                    "give {pub} to your provider: it proves the NAS came from you unaltered",
                ),
                _ => (
                    "odt provider receipt key (Ed25519)",
                    "give {pub} to your customers: `odt-export verify-receipt --provider-key \
                     {pub}` proves a receipt came from you unaltered; sign receipts with \
                     `odt-import run --receipt-key`",
                ),
            };
            (
                Zeroizing::new(sk.seed()),
                vk,
                (SIGN_SECRET_PREFIX, SIGN_PUBLIC_PREFIX),
                comment,
                hint,
            )
        }
        KeyKind::Recipient => {
            let id = Identity::generate(&mut OsRng);
            let r = id.recipient().0;
            (
                Zeroizing::new(id.secret_bytes()),
                r,
                (X25519_SECRET_PREFIX, X25519_PUBLIC_PREFIX),
                "odt provider recipient key (X25519)",
                "customers pass {pub} to `odt-export run --recipient`",
            )
        }
    };
    let pub_path = write_key_pair(out, prefixes.0, &secret, prefixes.1, &public, comment)?;
    let key_id = odt_format::crypto::keys::key_id(&public);
    if json {
        super::json::emit(
            true,
            serde_json::json!({"secret_key": out, "public_key": pub_path, "key_id": key_id}),
        );
    } else {
        println!(
            "wrote {} (secret, mode 0600) and {}",
            out.display(),
            pub_path.display()
        );
        println!(
            "key id {key_id}: {}",
            hint.replace("{pub}", &pub_path.display().to_string())
        );
    }
    Ok(())
}
