//! `odt-export verify-receipt`: the customer's offline check of the provider's import receipt
//! (`odt_format::job::receipt`): the signature with the provider's receipt key first, then that it
//! is about exactly the customer's job manifest, then where each VM landed.

use anyhow::Result;
use odt_cli::receipt::{check, ReceiptFiles};
use odt_format::job::receipt::{Receipt, ReceiptVm};
use serde::Serialize;

use crate::cli::VerifyReceiptArgs;

/// The `--json` report.
#[derive(Serialize)]
struct Report<'a> {
    ok: bool,
    job_id: &'a str,
    provider_key_id: String,
    manifest_signature_checked: bool,
    receipt: &'a Receipt,
}

/// Runs `verify-receipt`; an error means the receipt must not be trusted (exit 1).
pub fn verify_receipt(a: VerifyReceiptArgs) -> Result<bool> {
    let (receipt, key) = check_receipt(&a)?;
    if a.json {
        let report = Report {
            ok: true,
            job_id: &receipt.job_id,
            provider_key_id: key.clone(),
            manifest_signature_checked: a.trusted_key.is_some(),
            receipt: &receipt,
        };
        odt_cli::json::emit(report.ok, &report);
        return Ok(true);
    }
    print_text(&a, &receipt, &key);
    Ok(true)
}

/// The receipt's signature with the provider's key first, then the manifest's with the
/// customer's (with `--trusted-key`), then the receipt against the manifest
/// (`odt_cli::receipt`, shared with `report`).
fn check_receipt(a: &VerifyReceiptArgs) -> Result<(Receipt, String)> {
    let checked = check(&ReceiptFiles {
        receipt: &a.receipt,
        provider_key: &a.provider_key,
        manifest: Some(&a.manifest),
        trusted_key: a.trusted_key.as_deref(),
    })?;
    Ok((checked.receipt, checked.provider_key_id))
}

/// "What landed where", one line per VM.
fn print_text(a: &VerifyReceiptArgs, receipt: &Receipt, key: &str) {
    // The receipt's text is the provider's: it is printed escaped (docs/SECURITY.md §S4).
    use odt_format::text::printable;
    println!(
        "{}",
        printable(&format!(
            "receipt for job {}: signed by provider key {} (checked), imported into {}{}, {}",
            receipt.job_id,
            key,
            receipt.vcenter,
            receipt
                .vcd
                .as_deref()
                .map(|v| format!(" and {v}"))
                .unwrap_or_default(),
            receipt.created
        ))
    );
    println!(
        "  about the manifest {} (SHA-256 {}{}): every VM and file matches",
        a.manifest.display(),
        receipt.manifest_sha256,
        if a.trusted_key.is_some() {
            ", signed by your key"
        } else {
            ", taken as your own copy"
        }
    );
    for vm in &receipt.vms {
        let place = place(vm);
        let checked = vm.files.iter().filter(|f| f.digest.is_some()).count();
        let line = format!(
            "  {} ({}): vCenter {}; {}; {} file(s), {} with the .mf digest they were checked against",
            vm.name,
            vm.dir,
            vm.vcenter_entity,
            place,
            vm.files.len(),
            checked
        );
        println!("{}", printable(&line));
        if let Some(ids) = request_ids(vm) {
            println!("{}", printable(&ids));
        }
    }
    // What the provider changed at the dock, within what your key may target.
    for o in &receipt.overrides {
        println!("  override at the dock: {}", printable(&o.to_string()));
    }
}

/// The vCD request id of each registration step, for finding it in vCD's logs.
fn request_ids(vm: &ReceiptVm) -> Option<String> {
    let v = vm.vcd.as_ref().filter(|v| !v.requests.is_empty())?;
    let ids: Vec<String> = v
        .requests
        .iter()
        .map(|r| format!("{} {}", r.step, r.request_id))
        .collect();
    Some(format!("    vCD request ids: {}", ids.join(", ")))
}

/// The storage profile the import named, if any.
fn storage(v: &odt_format::job::receipt::Registered) -> String {
    v.storage_profile
        .as_deref()
        .map(|p| format!(", storage profile {p}"))
        .unwrap_or_default()
}

/// Where a VM landed in vCD.
fn place(vm: &ReceiptVm) -> String {
    match &vm.vcd {
        Some(v) if v.kind == "template" => format!(
            "vCD template in {}/{}, catalog {}{}",
            v.org,
            v.vdc,
            v.catalog.as_deref().unwrap_or("?"),
            storage(v)
        ),
        Some(v) => format!(
            "vCD vApp in {}/{}{}{}{}",
            v.org,
            v.vdc,
            v.network
                .as_deref()
                .map(|n| format!(", network {n}"))
                .unwrap_or_default(),
            storage(v),
            if v.powered_on { ", powered on" } else { "" }
        ),
        None => "not registered in vCD".into(),
    }
}
