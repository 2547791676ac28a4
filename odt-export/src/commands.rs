//! Subcommand bodies: build the request, call the library, render the result.

use anyhow::{Context, Result};
use odt_cli::progress::Bars;
use odt_cli::secret::{read_secret, SecretSource};
use odt_cli::{verify as verify_cmd, UsageError};
use odt_format::crypto::keys::{Recipient, SigningKey};
use odt_format::crypto::stanza::KdfParams;
use odt_format::io::nasfile::WriteOptions;
use odt_format::job::manifest::Target;
use odt_format::text::printable;
use zeroize::Zeroizing;

use crate::cli::{Command, KeygenArgs, RunArgs, VerifyArgs};
use crate::export::{self, ExportRequest};

/// Runs a parsed command. `Ok(false)` means the work was done and found a failure (exit 1).
pub fn dispatch(cmd: Command) -> Result<bool> {
    match cmd {
        Command::Keygen(a) => keygen(a),
        Command::Run(a) => run(*a),
        Command::Verify(a) => verify(a),
        Command::VerifyReceipt(a) => crate::receipt::verify_receipt(a),
    }
}

fn keygen(a: KeygenArgs) -> Result<bool> {
    odt_cli::keygen::keygen(odt_cli::keygen::KeyKind::Signing, &a.out, a.json)?;
    Ok(true)
}

fn run(a: RunArgs) -> Result<bool> {
    let flags = Target {
        org: a.org.clone(),
        vdc: a.vdc.clone(),
        network: a.network.clone(),
        catalog: a.catalog.clone(),
        as_template: a.as_template,
        power_on: a.power_on,
    };
    let mut sources: Vec<_> = a
        .sources
        .iter()
        .map(|s| (s.clone(), flags.clone()))
        .collect();
    if let Some(job) = &a.job {
        sources.extend(crate::jobfile::load(job, &flags)?);
    }
    if sources.is_empty() {
        return Err(UsageError(
            "no SOURCE given: name OVF folders, .ovf or .ova files, or pass --job FILE".into(),
        )
        .into());
    }
    let kdf = KdfParams {
        memory_kib: a.kdf_memory_mib.saturating_mul(1024),
        iterations: a.kdf_iterations,
        parallelism: 4,
    };
    kdf.check()
        .map_err(|e| UsageError(format!("--kdf-memory-mib/--kdf-iterations: {e}")))?;
    let signing = SigningKey::read(&a.signing_key)?;
    let recipients = a
        .recipient
        .iter()
        .map(|p| Recipient::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let vcenter = match a.vcenter.vcenter {
        Some(_) => Some(crate::vcsource::VcenterSource {
            client: a
                .vcenter
                .connect()
                .context("connect to the source vCenter")?,
            datacenter: a.datacenter.clone(),
        }),
        None => None,
    };
    let req = ExportRequest {
        vcenter,
        nas: a.nas.clone(),
        signing,
        sources,
        use_passphrase: !a.no_passphrase,
        recipients,
        restart: a.restart,
        space_check: !a.no_space_check,
        write: WriteOptions::default(),
    };
    let passphrase = || -> Result<Zeroizing<String>> {
        Ok(read_secret(&SecretSource {
            env: "ODT_PASSPHRASE",
            file: a.passphrase_file.as_deref(),
            file_flag: "--passphrase-file",
            prompt: "New bundle passphrase",
            confirm: true,
        })?)
    };
    let bars = Bars::new(a.json);
    let report = export::run(&req, &passphrase, kdf, &bars).context("odt-export run failed")?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else if report.already_complete {
        println!(
            "job {} in {} is already complete; nothing to do",
            report.job_id,
            a.nas.display()
        );
    } else {
        for vm in &report.vms {
            println!(
                "exported {} -> {}/data/{}/ ({} files)",
                printable(&vm.name),
                a.nas.display(),
                vm.dir,
                vm.files.len()
            );
        }
        if report.kdf_seconds > 0.0 {
            println!(
                "passphrase key derivation (Argon2id, once per job): {:.2} s",
                report.kdf_seconds
            );
        }
        println!(
            "job {} {}: {} in {:.1} s ({:.0} MiB/s); signed by key {}",
            report.job_id,
            if report.resumed {
                "resumed and finished"
            } else {
                "finished"
            },
            odt_format::progress::human_bytes(report.bytes),
            report.seconds,
            report.mib_per_second,
            report.signer_key_id
        );
        println!(
            "next: odt-export verify --nas {} --trusted-key YOUR_KEY.pub",
            a.nas.display()
        );
    }
    Ok(true)
}

fn verify(a: VerifyArgs) -> Result<bool> {
    let report = verify_cmd::run(&verify_cmd::VerifyRequest {
        nas: a.nas,
        trusted_key: a.trusted_key,
        deep: a.deep,
        passphrase_file: a.passphrase_file,
        identity: a.identity,
        json: a.json,
    })
    .context("verification failed")?;
    Ok(report.ok())
}
