//! `inspect`: what is on a NAS and how far it got, for both operators, with no secret. The
//! job id, who signed it (key id, the signature checked against its embedded key), who can
//! open it (stanzas), every VM with its target and files, and whether the export finished
//! or how far an interrupted one got. The importer adds the dock record and its journal.

use std::path::{Path, PathBuf};

use odt_format::crypto::stanza::Stanza;
use odt_format::job::journal::Journal;
use odt_format::job::layout::Layout;
use odt_format::job::manifest::{JobManifest, Target};
use odt_format::job::reader::{open_manifest_bytes, read_manifest_unverified, TrustAnchor};
use odt_format::job::unit::UnitIndex;
use odt_format::job::verify::UnitReport;
use odt_format::text::printable;
use serde::Serialize;

use super::CliError;

/// What is on the NAS: a finished job, an interrupted one, or nothing odt knows.
#[derive(Debug, Serialize)]
pub struct Inspection {
    /// The job directory.
    pub nas: PathBuf,
    /// `complete`, `interrupted` or `empty`.
    pub state: &'static str,
    /// The job id, when there is a job.
    pub job_id: Option<String>,
    /// Key id of the customer's signing key.
    pub signer_key_id: Option<String>,
    /// For a finished job: whether the signature (and a unit's index) verifies under the key
    /// it embeds (integrity; who signed is proven by `verify --trusted-key`), or why not
    /// (`FAILED: why`).
    pub signature: Option<String>,
    /// Who can open the job's key.
    pub stanzas: Vec<StanzaInfo>,
    /// The VMs of a finished job, in export order.
    pub vms: Vec<VmInfo>,
    /// Files of the finished job, or finished so far by an interrupted one.
    pub files: usize,
    /// Their plaintext bytes.
    pub bytes: u64,
    /// Their encrypted bytes on the NAS.
    pub encrypted_bytes: u64,
    /// For one unit of a job over several NAS units (its unit index checked against the
    /// manifest): which unit this is and which VMs it holds; the totals above are the
    /// whole job's.
    pub unit: Option<UnitHere>,
}

/// One unit of a job over several NAS units.
#[derive(Debug, Serialize)]
pub struct UnitHere {
    /// This unit, the VMs wholly and partly on it, the units not seen.
    #[serde(flatten)]
    pub report: UnitReport,
    /// Encrypted bytes of the job's files on this unit.
    pub encrypted_bytes_here: u64,
}

/// One way to open the job's key.
#[derive(Debug, Serialize)]
pub struct StanzaInfo {
    /// `passphrase` or `recipient`.
    pub kind: &'static str,
    /// The recipient's key id (X25519 stanzas).
    pub key_id: Option<String>,
    /// Argon2id memory in MiB and passes (passphrase stanzas).
    pub kdf: Option<String>,
}

/// One VM of the job.
#[derive(Debug, Serialize)]
pub struct VmInfo {
    /// Its name.
    pub name: String,
    /// Its directory under `data/`.
    pub dir: String,
    /// The source's file name and kind (`web.ova`, `ova`).
    pub source: String,
    /// Where it must land.
    pub target: Target,
    /// Its files.
    pub files: Vec<FileInfo>,
}

/// One file of a VM.
#[derive(Debug, Serialize)]
pub struct FileInfo {
    /// The file's name in the OVF package.
    pub name: String,
    /// Plaintext size.
    pub size: u64,
    /// Size on the NAS.
    pub encrypted_size: u64,
}

impl Inspection {
    /// Whether nothing read was wrong: a finished job's signature (and unit index) checks
    /// out against the key it embeds. `inspect` exits 1 when not.
    pub fn ok(&self) -> bool {
        !self
            .signature
            .as_deref()
            .is_some_and(|s| s.starts_with("FAILED"))
    }
}

/// Reads what `nas` holds. Nothing is decrypted and nothing is written; a damaged job is
/// described as far as it can be read (`verify` says what is wrong).
pub fn inspect(nas: &Path) -> Result<Inspection, CliError> {
    if !nas.is_dir() {
        return Err(super::UsageError(format!(
            "--nas {}: not a directory (is the NAS mounted?)",
            nas.display()
        ))
        .into());
    }
    let layout = Layout::new(nas);
    let mut out = Inspection {
        nas: nas.to_owned(),
        state: "empty",
        job_id: None,
        signer_key_id: None,
        signature: None,
        stanzas: vec![],
        vms: vec![],
        files: 0,
        bytes: 0,
        encrypted_bytes: 0,
        unit: None,
    };
    if layout.manifest().exists() {
        let (m, signature) = match open_manifest_bytes(&layout, &TrustAnchor::Embedded) {
            Ok((m, bytes)) => match unit_here(&layout, &m, &bytes) {
                Ok(unit) => {
                    out.unit = unit;
                    (m, "consistent with its embedded key".to_owned())
                }
                Err(e) => (m, format!("FAILED: {e}")),
            },
            Err(e) => (read_manifest_unverified(&layout)?, format!("FAILED: {e}")),
        };
        complete(&mut out, &m, signature);
    } else if let Some(j) = Journal::load(&layout).map_err(|e| {
        odt_format::FormatError::malformed(layout.journal().display().to_string(), e.to_string())
    })? {
        out.state = "interrupted";
        out.job_id = Some(j.job_id.clone());
        out.signer_key_id = Some(j.signer_key_id.clone());
        out.stanzas = stanzas(&j.stanzas);
        out.files = j.done.len();
        out.bytes = j.done.values().map(|f| f.size).sum();
        out.encrypted_bytes = j.done.values().map(|f| f.encrypted_size).sum();
    }
    Ok(out)
}

/// What this unit holds, when the job spans several units: its unit index must check out
/// (signed under the manifest's key, naming these manifest bytes and files the manifest
/// lists), else the NAS is not what the customer signed and the error says why.
fn unit_here(
    layout: &Layout,
    m: &JobManifest,
    bytes: &[u8],
) -> Result<Option<UnitHere>, odt_format::FormatError> {
    let Some(index) = UnitIndex::open(layout, &TrustAnchor::Embedded, m, bytes)? else {
        return Ok(None);
    };
    let encrypted_bytes_here = index
        .view(m)
        .vms
        .iter()
        .flat_map(|v| &v.files)
        .map(|f| f.encrypted_size)
        .sum();
    Ok(Some(UnitHere {
        report: UnitReport::new(&index, m),
        encrypted_bytes_here,
    }))
}

fn complete(out: &mut Inspection, m: &JobManifest, signature: String) {
    out.state = "complete";
    out.job_id = Some(m.job_id.clone());
    out.signer_key_id = Some(m.signer_key_id.clone());
    out.signature = Some(signature);
    out.stanzas = stanzas(&m.stanzas);
    out.vms = m
        .vms
        .iter()
        .map(|v| VmInfo {
            name: v.name.clone(),
            dir: v.dir.clone(),
            source: format!("{} ({})", v.source_name, v.source_kind),
            target: v.target.clone(),
            files: v
                .files
                .iter()
                .map(|f| FileInfo {
                    name: f.name.clone(),
                    size: f.size,
                    encrypted_size: f.encrypted_size,
                })
                .collect(),
        })
        .collect();
    let files = m.vms.iter().flat_map(|v| &v.files);
    out.files = files.clone().count();
    out.bytes = files.clone().map(|f| f.size).sum();
    out.encrypted_bytes = files.map(|f| f.encrypted_size).sum();
}

fn stanzas(s: &[Stanza]) -> Vec<StanzaInfo> {
    s.iter()
        .map(|s| match s {
            Stanza::Argon2id { params, .. } => StanzaInfo {
                kind: "passphrase",
                key_id: None,
                kdf: Some(format!(
                    "argon2id {} MiB, {} passes",
                    params.memory_kib / 1024,
                    params.iterations
                )),
            },
            Stanza::X25519 { recipient_id, .. } => StanzaInfo {
                kind: "recipient",
                key_id: Some(recipient_id.clone()),
                kdf: None,
            },
        })
        .collect()
}

/// The text form: one line per fact, VM and file. Names come from the NAS: escaped.
pub fn render(i: &Inspection) -> Vec<String> {
    let mut out = vec![];
    let id = i.job_id.as_deref().unwrap_or("-");
    match i.state {
        "empty" => out.push(format!("{}: no odt job here", i.nas.display())),
        "interrupted" => out.push(format!(
            "job {id}: interrupted: {} file(s) finished, {} ({} on the NAS); rerun the same \
             `odt-export run` command to resume",
            i.files,
            human(i.bytes),
            human(i.encrypted_bytes)
        )),
        _ => out.push(format!("job {id}: complete")),
    }
    if let Some(u) = &i.unit {
        out.push(unit_line(u));
    }
    if let Some(k) = &i.signer_key_id {
        let sig = i.signature.as_deref().unwrap_or("not signed yet");
        out.push(format!("signed by key {k}: signature {}", printable(sig)));
    }
    for s in &i.stanzas {
        out.push(match (&s.key_id, &s.kdf) {
            (Some(k), _) => format!("opens with: recipient key {k}"),
            (None, Some(kdf)) => format!("opens with: the passphrase ({kdf})"),
            (None, None) => format!("opens with: {}", s.kind),
        });
    }
    for (n, v) in i.vms.iter().enumerate() {
        out.push(format!(
            "VM {}/{} {} ({}, from {})",
            n + 1,
            i.vms.len(),
            printable(&v.name),
            v.dir,
            printable(&v.source)
        ));
        out.push(format!("  target: {}", target_line(&v.target)));
        for f in &v.files {
            out.push(format!("  {} {}", printable(&f.name), human(f.size)));
        }
    }
    if i.state == "complete" {
        let on = match &i.unit {
            Some(u) => format!("on its {} NAS units", u.report.units),
            None => "on the NAS".into(),
        };
        out.push(format!(
            "total: {} VM(s), {} file(s), {} ({} {on})",
            i.vms.len(),
            i.files,
            human(i.bytes),
            human(i.encrypted_bytes)
        ));
    }
    out
}

/// `unit 2 of 2 (id …) holds vm-000, and part of vm-002: 2.9 MiB; the rest is on unit 1`.
fn unit_line(u: &UnitHere) -> String {
    let r = &u.report;
    let mut held = r.vms_here.join(", ");
    if !r.vms_partly_here.is_empty() {
        let partly = format!("part of {}", r.vms_partly_here.join(", "));
        held = match held.is_empty() {
            true => partly,
            false => format!("{held}, and {partly}"),
        };
    }
    let others: Vec<String> = r.other_units.iter().map(u32::to_string).collect();
    format!(
        "unit {} of {} (id {}) holds {}: {} on the NAS; the rest is on unit {}",
        r.unit,
        r.units,
        r.unit_id,
        if held.is_empty() { "no VM" } else { &held },
        human(u.encrypted_bytes_here),
        others.join(", ")
    )
}

/// `org acme, VDC acme-vdc, network acme-net, vApp, powered on`.
pub fn target_line(t: &Target) -> String {
    let show = |v: &Option<String>| {
        v.as_deref()
            .map_or("-".to_owned(), |s| printable(s).into_owned())
    };
    let mut parts = vec![
        format!("org {}", show(&t.org)),
        format!("VDC {}", show(&t.vdc)),
    ];
    if t.network.is_some() {
        parts.push(format!("network {}", show(&t.network)));
    }
    if t.as_template {
        parts.push(format!("template in catalog {}", show(&t.catalog)));
    } else {
        parts.push("vApp".into());
    }
    if t.power_on {
        parts.push("powered on".into());
    }
    parts.join(", ")
}

/// Bytes as B, KiB, MiB, GiB or TiB with one decimal.
pub fn human(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
