//! `odt-export run`: the arguments made into [`ExportOptions`], the export planned and
//! executed, its [`ExportStats`] printed.

use anyhow::{Context, Result};
use odt_cli::progress::Bars;
use odt_cli::secret::{read_secret, SecretSource};
use odt_cli::UsageError;
use odt_format::crypto::keys::{Recipient, SigningKey};
use odt_format::crypto::stanza::KdfParams;
use odt_format::io::nasfile::WriteOptions;
use odt_format::job::manifest::{IpMode, Target};
use odt_format::text::printable;
use zeroize::Zeroizing;

use crate::cli::RunArgs;
use crate::export::{ExportOptions, ExportPlan, ExportStats};

/// Runs the export and prints its summary.
pub fn run(a: RunArgs) -> Result<bool> {
    let kdf = KdfParams {
        memory_kib: a.kdf_memory_mib.saturating_mul(1024),
        iterations: a.kdf_iterations,
        parallelism: 4,
    };
    let opts = options(&a, kdf)?;
    // Once the command line is sound, before anything is written (one line per unit).
    for nas in &opts.nas {
        odt_cli::nas::warn_if_not_mounted("odt-export", nas, odt_cli::nas::NasUse::Write);
    }
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
    let stats = ExportPlan::new(&opts, &bars)
        .and_then(|plan| plan.execute(&passphrase, kdf, &bars))
        .context("odt-export run failed")?;
    if a.json {
        odt_cli::json::emit(true, &stats);
    } else {
        print_summary(&a, &stats);
    }
    Ok(true)
}

/// The options of the run: sources with their targets (the flags, then `--job`), keys, and
/// the source vCenter if one is named. Usage errors first, then the key files.
fn options(a: &RunArgs, kdf: KdfParams) -> Result<ExportOptions> {
    let flags = Target {
        org: a.org.clone(),
        vdc: a.vdc.clone(),
        network: a.network.clone(),
        catalog: a.catalog.clone(),
        as_template: a.as_template,
        power_on: a.power_on,
        ip_mode: a.ip_mode.as_deref().and_then(IpMode::parse),
        ip_addresses: a.ip_addresses.clone(),
        storage_profile: a.storage_profile.clone(),
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
    // Every SOURCE (a package, or a vCenter pattern) has somewhere to land before a key is
    // read or anything is written: found at the dock, a missing target means shipping the
    // NAS again.
    for (source, target) in &sources {
        crate::jobfile::check_target(target, &source.display().to_string())?;
    }
    kdf.check()
        .map_err(|e| UsageError(format!("--kdf-memory-mib/--kdf-iterations: {e}")))?;
    let signing = SigningKey::read(&a.signing_key)?;
    let recipients = a
        .recipient
        .iter()
        .map(|p| Recipient::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let parallel = a.parallel.map_or_else(
        || default_parallel(a.vcenter.vcenter.is_some()),
        usize::from,
    );
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
    Ok(ExportOptions {
        vcenter,
        nas: a.nas.clone(),
        signing,
        sources,
        use_passphrase: !a.no_passphrase,
        recipients,
        restart: a.restart,
        space_check: !a.no_space_check,
        write: WriteOptions::default(),
        parallel,
    })
}

/// How many VMs go at once without `--parallel`: a vCenter's downloads are bound by each
/// host's NFC service, so 4 pay even on one core; from files, sealing is CPU-bound, so one
/// per core, at most 4.
fn default_parallel(from_vcenter: bool) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match from_vcenter {
        true => 4,
        false => cores.min(4),
    }
}

fn print_summary(a: &RunArgs, stats: &ExportStats) {
    if stats.already_complete {
        println!(
            "job {} in {} is already complete; nothing to do",
            stats.job_id,
            a.nas[0].display()
        );
        return;
    }
    for vm in &stats.vms {
        let unit = vm.unit.map_or(1, |u| u as usize);
        println!(
            "exported {} -> {}/data/{}/ ({} files)",
            printable(&vm.name),
            a.nas[unit - 1].display(),
            vm.dir,
            vm.files.len()
        );
    }
    for u in &stats.units {
        println!(
            "unit {} of {}: {} holds {}",
            u.unit,
            stats.units.len(),
            u.nas.display(),
            if u.vms.is_empty() {
                "no VM".to_string()
            } else {
                u.vms.join(", ")
            }
        );
    }
    if stats.kdf_seconds > 0.0 {
        println!(
            "passphrase key derivation (Argon2id, once per job): {:.2} s",
            stats.kdf_seconds
        );
    }
    println!(
        "job {} {}: {} in {:.1} s ({:.0} MiB/s); signed by key {}",
        stats.job_id,
        if stats.resumed {
            "resumed and finished"
        } else {
            "finished"
        },
        odt_format::progress::human_bytes(stats.bytes),
        stats.seconds,
        stats.mib_per_second,
        stats.signer_key_id
    );
    for nas in &a.nas {
        println!(
            "next: odt-export verify --nas {} --trusted-key YOUR_KEY.pub",
            nas.display()
        );
    }
}
