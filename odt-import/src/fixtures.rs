//! Test fixtures shared by the pure modules' tests: a signed-looking job manifest built from
//! its VMs, so each test states only the fields it is about.

use odt_format::job::manifest::{JobManifest, Target, VmEntry, VmSummary};

/// The signer key id the fixtures' manifests name.
pub(crate) const KEY_ID: &str = "1a2b3c4d5e6f7a8b";

/// VM `i` of a job: `vm-NNN`, its package named after it, no target, no summary, no files.
pub(crate) fn vm(i: usize, name: &str) -> VmEntry {
    VmEntry {
        name: name.into(),
        dir: format!("vm-{i:03}"),
        source_kind: "ovf".into(),
        source_name: format!("{name}.ovf"),
        descriptor: format!("{name}.ovf"),
        mf: format!("{name}.mf"),
        target: Target::default(),
        summary: VmSummary::default(),
        files: vec![],
    }
}

/// VM `i` landing in `org` / `vdc`.
pub(crate) fn vm_in(i: usize, name: &str, org: Option<&str>, vdc: Option<&str>) -> VmEntry {
    let mut v = vm(i, name);
    v.target.org = org.map(Into::into);
    v.target.vdc = vdc.map(Into::into);
    v
}

/// A job of `vms`, signed (so far as its fields say) by [`KEY_ID`].
pub(crate) fn manifest(vms: Vec<VmEntry>) -> JobManifest {
    JobManifest {
        format: "odt-bundle/v1".into(),
        job_id: "00".repeat(16),
        created: String::new(),
        exporter: String::new(),
        signer_key_id: KEY_ID.into(),
        key_check: String::new(),
        stanzas: vec![],
        vms,
        units: None,
    }
}
