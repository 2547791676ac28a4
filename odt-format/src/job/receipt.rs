//! The import receipt (`odt-receipt/v1`): per VM, what landed where (the vCenter entity, the
//! vCD ids and hrefs) and the digests the uploaded files were checked against (from the
//! package's own `.mf`). It is bound to the job by the manifest's SHA-256 and signed by the
//! provider's receipt key under its own domain string, so a manifest signature can never pass
//! for a receipt's or the other way round.
//!
//! The importer writes it; the customer checks it offline (`odt-export verify-receipt`)
//! against the provider's public key and their own copy of the job manifest.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crypto::keys::{SigningKey, VerifyingKey};
use crate::error::{FormatError, Result};
use crate::job::manifest::{
    sign_with_context, verify_with_context, JobManifest, SignedDoc, VmEntry,
};

/// Receipt format identifier.
pub const RECEIPT_FORMAT: &str = "odt-receipt/v1";
/// Domain separation for the receipt's signature.
pub const RECEIPT_CONTEXT: &[u8] = b"odt-receipt/v1\0";
/// The largest receipt a reader accepts.
pub const MAX_RECEIPT_BYTES: u64 = 16 << 20;

/// The receipt.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// Always [`RECEIPT_FORMAT`].
    pub format: String,
    /// The job.
    pub job_id: String,
    /// SHA-256 of the exact `odt-job.json` bytes imported.
    pub manifest_sha256: String,
    /// Key id of the customer who signed the job.
    pub customer_key_id: String,
    /// Key id of the provider key that signs this receipt (absent when unsigned).
    pub provider_key_id: Option<String>,
    /// The target vCenter.
    pub vcenter: String,
    /// The vCD, when registration was done.
    pub vcd: Option<String>,
    /// When (RFC 3339, UTC).
    pub created: String,
    /// The VMs.
    pub vms: Vec<ReceiptVm>,
    /// What the provider changed at the dock (`odt-import run --rename`, `--set`), in the
    /// order given, each within what the customer's key may target. The VMs keep their
    /// manifest names above; a rename says which name they landed under. Skipped when empty,
    /// so receipts without overrides keep their bytes (docs/FORMAT.md §7.1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<Override>,
}

/// One change the provider made at the dock to a VM's name or target.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// The VM's name in the manifest.
    pub vm: String,
    /// Its `vm-NNN`.
    pub dir: String,
    /// What changed: `name`, `org`, `vdc`, `network`, `catalog`, `storage_profile` or
    /// `power_on`.
    pub field: String,
    /// The manifest's value (absent when the manifest named none).
    pub from: Option<String>,
    /// The value it was imported with.
    pub to: String,
}

impl std::fmt::Display for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.from {
            Some(from) => write!(
                f,
                "VM {:?} ({}): {} {:?} -> {:?}",
                self.vm, self.dir, self.field, from, self.to
            ),
            None => write!(
                f,
                "VM {:?} ({}): {} (none) -> {:?}",
                self.vm, self.dir, self.field, self.to
            ),
        }
    }
}

/// One VM in the receipt.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReceiptVm {
    /// Name.
    pub name: String,
    /// Bundle dir (`vm-000`).
    pub dir: String,
    /// vCenter entity (`VirtualMachine:vm-42`).
    pub vcenter_entity: String,
    /// Where it is in vCD, when registered.
    pub vcd: Option<Registered>,
    /// Files and the digests they were checked against on upload.
    pub files: Vec<ReceiptFile>,
}

/// Where a VM landed in vCD.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Registered {
    /// `vapp` or `template`.
    pub kind: String,
    /// Org.
    pub org: String,
    /// VDC.
    pub vdc: String,
    /// Catalog (templates).
    pub catalog: Option<String>,
    /// Org VDC network the NICs are on (vApps).
    pub network: Option<String>,
    /// vApp / template href.
    pub href: String,
    /// Its id.
    pub id: Option<String>,
    /// Powered on.
    pub powered_on: bool,
    /// The VDC storage profile the import named; absent: the VDC's default. Skipped when
    /// absent, so older receipts keep their bytes (docs/FORMAT.md §7.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_profile: Option<String>,
    /// The `X-VMWARE-VCLOUD-REQUEST-ID` vCD answered each step's request with, in order, so
    /// the step can be found in vCD's, vCenter's and ESXi's logs. Skipped when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<StepRequest>,
}

/// One step of a registration and the request id vCD gave it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StepRequest {
    /// `import`, `join-N` (the N-th other VM of an OVF vApp), `wire` or `power-on`.
    pub step: String,
    /// vCD's `X-VMWARE-VCLOUD-REQUEST-ID`: the client id odt sent, then vCD's own id.
    pub request_id: String,
}

/// One file of a VM.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReceiptFile {
    /// Name in the package.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// `ALG:hex`, in the package's `.mf` algorithm (`SHA1`, `SHA256` or `SHA512`), when the
    /// `.mf` lists the file.
    pub digest: Option<String>,
}

const SIGNED_DOC: SignedDoc<'static> = SignedDoc {
    file: "the receipt",
    sig_file: "the receipt's .sig file",
    what: "the receipt",
    key_flag: "--provider-key",
    signer: "the receipt was not signed by the provider you expect",
};

impl Receipt {
    /// The exact bytes written and signed: pretty JSON with a trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a receipt serialises");
        v.push(b'\n');
        v
    }

    /// Signs [`Receipt::to_bytes`]; returns the signature file's bytes.
    pub fn sign(bytes: &[u8], key: &SigningKey) -> Vec<u8> {
        sign_with_context(key, RECEIPT_CONTEXT, bytes)
    }

    /// Checks the signature over `bytes` with the provider's `trusted` key first, then parses
    /// the receipt. Nothing of an unauthenticated receipt is believed.
    pub fn verify(bytes: &[u8], sig_bytes: &[u8], trusted: &VerifyingKey) -> Result<Receipt> {
        if bytes.len() as u64 > MAX_RECEIPT_BYTES {
            return Err(FormatError::malformed(
                "the receipt",
                format!("is larger than {MAX_RECEIPT_BYTES} bytes"),
            ));
        }
        verify_with_context(bytes, sig_bytes, trusted, RECEIPT_CONTEXT, &SIGNED_DOC).map_err(
            |e| match e {
                FormatError::BadSignature(m) => FormatError::BadReceipt(m),
                e => e,
            },
        )?;
        let r: Receipt = serde_json::from_slice(bytes)
            .map_err(|e| FormatError::malformed("the receipt", e.to_string()))?;
        if r.format != RECEIPT_FORMAT {
            return Err(FormatError::malformed(
                "the receipt",
                format!("has format {:?}; this odt reads {RECEIPT_FORMAT}", r.format),
            ));
        }
        if r.provider_key_id.as_deref() != Some(trusted.key_id().as_str()) {
            return Err(FormatError::BadReceipt(
                "provider_key_id in the receipt does not match its signer".into(),
            ));
        }
        Ok(r)
    }

    /// Checks that this receipt is about exactly the job in `manifest_bytes`: the same bytes
    /// (SHA-256), job and customer key, and every VM and file of the manifest, with the same
    /// sizes, and nothing else. Returns every difference found, not just the first.
    pub fn check_against(&self, manifest_bytes: &[u8]) -> Result<()> {
        let m = JobManifest::parse(manifest_bytes)?;
        let mut wrong = vec![];
        let sha = hex::encode(Sha256::digest(manifest_bytes));
        if self.manifest_sha256 != sha {
            wrong.push(format!(
                "it is bound to manifest SHA-256 {} but this manifest's is {sha}",
                self.manifest_sha256
            ));
        }
        if self.job_id != m.job_id {
            wrong.push(format!(
                "it is for job {} but the manifest is job {}",
                self.job_id, m.job_id
            ));
        }
        if self.customer_key_id != m.signer_key_id {
            wrong.push(format!(
                "it names customer key {} but the manifest was signed by {}",
                self.customer_key_id, m.signer_key_id
            ));
        }
        for vm in &m.vms {
            let Some(r) = self.vms.iter().find(|r| r.dir == vm.dir) else {
                wrong.push(format!("VM {} ({}) is not in the receipt", vm.name, vm.dir));
                continue;
            };
            vm_differences(vm, r, &mut wrong);
        }
        let mut dirs = std::collections::BTreeSet::new();
        for r in &self.vms {
            if !dirs.insert(r.dir.as_str()) {
                wrong.push(format!("{} is listed twice in the receipt", r.dir));
            }
            let mut names = std::collections::BTreeSet::new();
            for f in &r.files {
                if !names.insert(f.name.as_str()) {
                    wrong.push(format!(
                        "{}/{} is listed twice in the receipt",
                        r.dir, f.name
                    ));
                }
            }
            if !m.vms.iter().any(|vm| vm.dir == r.dir) {
                wrong.push(format!(
                    "VM {} ({}) is in the receipt but not in the manifest",
                    r.name, r.dir
                ));
            }
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(FormatError::malformed(
                "the receipt",
                format!("does not match the manifest: {}", wrong.join("; ")),
            ))
        }
    }
}

/// What differs between a VM of the manifest and its entry in the receipt: its name, and
/// files missing from either side or of another size.
fn vm_differences(vm: &VmEntry, r: &ReceiptVm, wrong: &mut Vec<String>) {
    if r.name != vm.name {
        wrong.push(format!(
            "{} is VM {} in the manifest but {} in the receipt",
            vm.dir, vm.name, r.name
        ));
    }
    for f in &vm.files {
        match r.files.iter().find(|x| x.name == f.name) {
            None => wrong.push(format!("{}/{} is not in the receipt", vm.dir, f.name)),
            Some(x) if x.size != f.size => wrong.push(format!(
                "{}/{} has {} bytes in the manifest but {} in the receipt",
                vm.dir, f.name, f.size, x.size
            )),
            Some(_) => {}
        }
    }
    for x in &r.files {
        if vm.file(&x.name).is_none() {
            wrong.push(format!(
                "{}/{} is in the receipt but not in the manifest",
                vm.dir, x.name
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(provider: &SigningKey) -> Receipt {
        Receipt {
            format: RECEIPT_FORMAT.into(),
            job_id: "00112233445566778899aabbccddeeff".into(),
            manifest_sha256: "00".repeat(32),
            customer_key_id: "0011223344556677".into(),
            provider_key_id: Some(provider.verifying_key().key_id()),
            vcenter: "https://vc.example/sdk".into(),
            vcd: None,
            created: "2026-11-21T00:00:00Z".into(),
            vms: vec![ReceiptVm {
                name: "web".into(),
                dir: "vm-000".into(),
                vcenter_entity: "VirtualMachine:vm-42".into(),
                vcd: None,
                files: vec![],
            }],
            overrides: vec![],
        }
    }

    #[test]
    fn a_signed_receipt_verifies_and_nothing_else_does() {
        let mut rng = rand::rngs::OsRng;
        let provider = SigningKey::generate(&mut rng);
        let other = SigningKey::generate(&mut rng);
        let r = receipt(&provider);
        let bytes = r.to_bytes();
        let sig = Receipt::sign(&bytes, &provider);
        assert_eq!(
            Receipt::verify(&bytes, &sig, &provider.verifying_key()).unwrap(),
            r
        );
        // Wrong key.
        let e = Receipt::verify(&bytes, &sig, &other.verifying_key()).unwrap_err();
        assert!(e.to_string().contains("wrong --provider-key"), "{e}");
        // One byte changed.
        let mut t = bytes.clone();
        let at = t.iter().position(|&b| b == b'w').unwrap();
        t[at] = b'W';
        let e = Receipt::verify(&t, &sig, &provider.verifying_key()).unwrap_err();
        assert!(
            e.to_string().contains("does not match its signature"),
            "{e}"
        );
        // A manifest signature over the same bytes is not a receipt signature.
        let as_manifest = crate::job::manifest::sign(&provider, &bytes);
        let e = Receipt::verify(&bytes, &as_manifest, &provider.verifying_key()).unwrap_err();
        assert!(
            e.to_string().contains("does not match its signature"),
            "{e}"
        );
        // Unknown fields are refused even when signed.
        let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        v["extra"] = 1.into();
        let odd = serde_json::to_vec(&v).unwrap();
        let e = Receipt::verify(
            &odd,
            &Receipt::sign(&odd, &provider),
            &provider.verifying_key(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }

    /// A receipt without overrides has no `overrides` key (old receipts keep their bytes and
    /// still verify); one with them round-trips through its signature, and an override
    /// changed after signing fails it.
    #[test]
    fn overrides_are_signed_and_absent_when_there_are_none() {
        let provider = SigningKey::generate(&mut rand::rngs::OsRng);
        let r = receipt(&provider);
        let bytes = r.to_bytes();
        assert!(!String::from_utf8_lossy(&bytes).contains("overrides"));
        let mut r = r;
        r.overrides.push(Override {
            vm: "web".into(),
            dir: "vm-000".into(),
            field: "vdc".into(),
            from: Some("acme-vdc".into()),
            to: "acme-vdc-2".into(),
        });
        let bytes = r.to_bytes();
        let sig = Receipt::sign(&bytes, &provider);
        let back = Receipt::verify(&bytes, &sig, &provider.verifying_key()).unwrap();
        assert_eq!(back.overrides, r.overrides);
        assert_eq!(
            back.overrides[0].to_string(),
            "VM \"web\" (vm-000): vdc \"acme-vdc\" -> \"acme-vdc-2\""
        );
        let t = String::from_utf8(bytes)
            .unwrap()
            .replace("acme-vdc-2", "acme-vdc-3");
        let e = Receipt::verify(t.as_bytes(), &sig, &provider.verifying_key()).unwrap_err();
        assert!(
            e.to_string().contains("does not match its signature"),
            "{e}"
        );
    }
}
