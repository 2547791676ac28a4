//! The `verify` command shared by `odt-export verify` (before shipping) and
//! `odt-import verify` (at the dock).

use std::path::PathBuf;

use odt_format::crypto::keys::{Identity, VerifyingKey};
use odt_format::crypto::stanza::Unlock;
use odt_format::job::layout::Layout;
use odt_format::job::reader::TrustAnchor;
use odt_format::job::verify::{verify_job, VerifyReport};
use odt_format::text::{printable, printable_lines};

use super::progress::Bars;
use super::secret::read_job_passphrase;
use super::{CliError, UsageError};

/// What to verify and how.
pub struct VerifyRequest {
    /// The job directory on the NAS.
    pub nas: PathBuf,
    /// The customer's public key; `None` checks against the embedded key (integrity only).
    pub trusted_key: Option<PathBuf>,
    /// Also decrypt and check every file against the OVF's own `.mf`.
    pub deep: bool,
    /// `--passphrase-file`.
    pub passphrase_file: Option<PathBuf>,
    /// `--identity` (the provider's X25519 key).
    pub identity: Option<PathBuf>,
    /// `--json`.
    pub json: bool,
}

/// Runs the verification, prints the human or JSON report, and returns it.
/// `Err` means verification could not even start or the signature/secret failed.
pub fn run(req: &VerifyRequest) -> Result<VerifyReport, CliError> {
    let report = check(req)?;
    print(req, &report, serde_json::Map::new(), &[]);
    Ok(report)
}

/// Runs the verification without printing its report (progress bars aside).
pub fn check(req: &VerifyRequest) -> Result<VerifyReport, CliError> {
    let layout = Layout::new(&req.nas);
    let trusted = req
        .trusted_key
        .as_deref()
        .map(VerifyingKey::read)
        .transpose()?;
    if !req.deep && (req.identity.is_some() || req.passphrase_file.is_some()) {
        return Err(UsageError(
            "--identity and --passphrase-file are only used with --deep".into(),
        )
        .into());
    }
    let identity = req.identity.as_deref().map(Identity::read).transpose()?;
    let passphrase = if req.deep && identity.is_none() {
        // Unverified here, only to say "use --identity" before a prompt; verify_job checks
        // the signature before anything is decrypted.
        let manifest = odt_format::job::reader::read_manifest_unverified(&layout).ok();
        Some(read_job_passphrase(
            manifest.as_ref(),
            req.passphrase_file.as_deref(),
        )?)
    } else {
        None
    };
    let unlock = match (&identity, &passphrase) {
        (Some(id), _) => Some(Unlock::Identity(id)),
        (None, Some(p)) => Some(Unlock::Passphrase(p.as_bytes())),
        _ => None,
    };
    let anchor = match &trusted {
        Some(k) => TrustAnchor::Trusted(k),
        None => TrustAnchor::Embedded,
    };
    let bars = Bars::new(req.json);
    Ok(verify_job(&layout, &anchor, unlock.as_ref(), &bars)?)
}

/// Prints `report` as text or JSON. `extra` is added to the JSON object; `notes` are printed
/// after the verdict in text.
pub fn print(
    req: &VerifyRequest,
    report: &VerifyReport,
    extra: serde_json::Map<String, serde_json::Value>,
    notes: &[String],
) {
    let trusted = req.trusted_key.is_some();
    if req.json {
        super::json::emit(report.ok(), json(req, report, extra));
    } else {
        let who = if trusted {
            format!("signed by trusted key {}", report.signer_key_id)
        } else {
            format!(
                "signature consistent with its embedded key {} (pass --trusted-key to prove who signed)",
                report.signer_key_id
            )
        };
        println!("job {}: {who}", report.job_id);
        println!(
            "{} VM(s), {} file(s), {} encrypted bytes checked{}",
            report.vms,
            report.files,
            report.bytes,
            if report.deep {
                ", decrypted and checked against each package's .mf"
            } else {
                " (keyless)"
            }
        );
        if let Some(u) = &report.unit {
            println!("{}", unit_line(u, report.ok()));
        }
        if report.ok() && report.unit.is_some() {
            println!("OK: this unit holds exactly what its signed unit index says");
        } else if report.ok() {
            println!("OK: the NAS holds exactly what the manifest says");
        } else {
            for p in &report.problems {
                // Problems name files found on the NAS: untrusted text.
                eprintln!(
                    "FAILED {}: {}",
                    printable(&p.file),
                    printable_lines(&p.what)
                );
            }
            eprintln!(
                "verification failed: {} problem(s); the job must not be imported as is",
                report.problems.len()
            );
        }
        for n in notes {
            println!("{n}");
        }
    }
}

/// The JSON document of `report`, with `extra` added (one unit's part when several units
/// are verified in one run).
pub fn json(
    req: &VerifyRequest,
    report: &VerifyReport,
    extra: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    let mut v = serde_json::to_value(report).expect("serialises");
    v["trusted_key"] = req.trusted_key.is_some().into();
    // Set again by the envelope of a document of its own; kept in a unit's part of one.
    v["ok"] = report.ok().into();
    for (k, x) in extra {
        v[k] = x;
    }
    v
}

/// "unit 2 of 3: complete; units 1 and 3 not here", and what it holds.
fn unit_line(u: &odt_format::job::verify::UnitReport, ok: bool) -> String {
    let others: Vec<String> = u.other_units.iter().map(u32::to_string).collect();
    let others = match others.as_slice() {
        [one] => format!("unit {one} not here"),
        [init @ .., last] => format!("units {} and {last} not here", init.join(", ")),
        [] => String::new(),
    };
    let state = if ok { "complete" } else { "DAMAGED" };
    let mut line = format!("unit {} of {}: {state}; {others}", u.unit, u.units);
    if !u.vms_here.is_empty() {
        line.push_str(&format!("\nVMs here: {}", u.vms_here.join(", ")));
    }
    if !u.vms_partly_here.is_empty() {
        let partly = u.vms_partly_here.join(", ");
        line.push_str(&format!(
            "\nVMs partly here (the rest on other units): {partly}"
        ));
    }
    line
}
