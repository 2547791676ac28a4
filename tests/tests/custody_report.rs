//! `odt-import report` and `odt-export report` (issue 13, item 8): a signed receipt rendered
//! as one self-contained HTML page. The receipts here are made with odt-format's API and
//! signed with a receipt key made by `odt-import keygen --receipt`, about a job really
//! exported, so that names no importer would produce (markup, quotes, control characters)
//! can be tried; `import_vcd.rs` renders the receipt of a real import.

use std::path::{Path, PathBuf};
use std::process::Output;

use odt_format::crypto::keys::SigningKey;
use odt_format::job::dock::{DockRecord, DOCK_FORMAT};
use odt_format::job::manifest::JobManifest;
use odt_format::job::receipt::{
    Override, Receipt, ReceiptFile, ReceiptVm, Registered, RECEIPT_FORMAT,
};
use odt_tests::{assert_fails, samples, text, Scratch};

const HOSTILE: &str = "<script>alert(1)</script>\"'&\u{1b}[31m\u{202e}";

/// A scratch area with an exported job, a receipt key, and a signed receipt about the job
/// whose first VM's org and network are `name`.
struct Fixture {
    s: Scratch,
    receipt: PathBuf,
    manifest_sha256: String,
    job_id: String,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let s = Scratch::new();
        s.ok(&s.export_run(&[&samples().join("single")], &[]));
        let rk = s.path("rk");
        s.ok(&s.import(&["keygen", "--receipt", "--out", rk.to_str().unwrap()]));
        let bytes = std::fs::read(s.nas().join("odt-job.json")).unwrap();
        let m = JobManifest::parse(&bytes).unwrap();
        let key = SigningKey::read(&rk).unwrap();
        let r = receipt_of(&m, &bytes, &key, name);
        let path = s.path(&format!("receipt-{}.json", m.job_id));
        let rb = r.to_bytes();
        std::fs::write(&path, &rb).unwrap();
        std::fs::write(format!("{}.sig", path.display()), Receipt::sign(&rb, &key)).unwrap();
        Fixture {
            s,
            receipt: path,
            manifest_sha256: r.manifest_sha256,
            job_id: r.job_id,
        }
    }

    /// `PROGRAM report --receipt R --provider-key rk.pub EXTRA`.
    fn report(&self, program: &str, extra: &[&str]) -> Output {
        self.report_of(program, &self.receipt, extra)
    }

    fn report_of(&self, program: &str, receipt: &Path, extra: &[&str]) -> Output {
        let pk = self.s.path("rk.pub");
        let mut a = vec![
            "report",
            "--receipt",
            receipt.to_str().unwrap(),
            "--provider-key",
            pk.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        self.s.cmd(program, &a, None)
    }
}

/// A receipt about the job `m` (its exact bytes), signed by `key`, as an importer would
/// write it, with `name` in every text field the provider's side fills in.
fn receipt_of(m: &JobManifest, bytes: &[u8], key: &SigningKey, name: &str) -> Receipt {
    use sha2::Digest;
    let vms = m
        .vms
        .iter()
        .map(|vm| ReceiptVm {
            name: vm.name.clone(),
            dir: vm.dir.clone(),
            vcenter_entity: format!("VirtualMachine:vm-42{name}"),
            vcd: Some(Registered {
                kind: "vapp".into(),
                org: format!("acme{name}"),
                vdc: "acme-vdc".into(),
                catalog: None,
                network: Some(format!("net{name}")),
                href: format!("https://vcd/api/vApp/vapp-7{name}"),
                id: Some("urn:vcloud:vapp:7".into()),
                powered_on: true,
                storage_profile: None,
                requests: vec![],
            }),
            files: vm
                .files
                .iter()
                .map(|f| ReceiptFile {
                    name: f.name.clone(),
                    size: f.size,
                    digest: Some(format!("SHA256:{}", "5a".repeat(32))),
                })
                .collect(),
        })
        .collect();
    Receipt {
        format: RECEIPT_FORMAT.into(),
        job_id: m.job_id.clone(),
        manifest_sha256: hex::encode(sha2::Sha256::digest(bytes)),
        customer_key_id: m.signer_key_id.clone(),
        provider_key_id: Some(key.verifying_key().key_id()),
        vcenter: "https://vc.example/sdk".into(),
        vcd: Some("https://vcd.example".into()),
        created: "2026-12-07T08:00:00Z".into(),
        vms,
        overrides: vec![Override {
            vm: m.vms[0].name.clone(),
            dir: m.vms[0].dir.clone(),
            field: "org".into(),
            from: Some("acme".into()),
            to: format!("acme{name}"),
        }],
    }
}

fn key_id(s: &Scratch, key: &str) -> String {
    odt_format::crypto::keys::VerifyingKey::read(&s.path(key))
        .unwrap()
        .key_id()
}

#[test]
fn a_verified_receipt_becomes_a_page_naming_each_vm_its_digests_and_the_key_ids() {
    let f = Fixture::new("");
    let s = &f.s;
    let out = s.path("custody.html");
    let manifest = s.nas().join("odt-job.json");
    let kp = s.path("k.pub");
    for program in ["odt-import", "odt-export"] {
        let _ = std::fs::remove_file(&out);
        let o = f.report(
            program,
            &[
                "--manifest",
                manifest.to_str().unwrap(),
                "--trusted-key",
                kp.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ],
        );
        let said = s.ok(&o);
        assert!(
            said.contains("wrote") && said.contains("custody.html"),
            "{said}"
        );
        let page = std::fs::read_to_string(&out).unwrap();
        for needle in [
            f.job_id.as_str(),
            f.manifest_sha256.as_str(),
            &format!("provider&#39;s receipt key {}", key_id(s, "rk.pub")),
            &format!("signed by customer key {}", key_id(s, "k.pub")),
            "single",
            "vm-000",
            &format!("SHA256:{}", "5a".repeat(32)),
            "VirtualMachine:vm-42",
            "vApp in org acme / VDC acme-vdc, powered on",
            "https://vcd/api/vApp/vapp-7 (urn:vcloud:vapp:7)",
            "2026-12-07T08:00:00Z",
            &format!("by {program} "),
        ] {
            assert!(
                page.contains(needle),
                "{program}: {needle:?} missing:\n{page}"
            );
        }
        assert!(page.starts_with("<!DOCTYPE html>"));
    }

    // Without -o the page is stdout, and nothing else is.
    let o = f.report("odt-import", &[]);
    let page = s.ok(&o);
    assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>\n"));

    // --json names the file written, with its schema.
    let out2 = s.path("custody2.html");
    let o = f.report("odt-import", &["--json", "-o", out2.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(s.ok(&o).trim()).unwrap();
    assert_eq!(v["schema"], "odt.import.report/1");
    assert_eq!(v["ok"], true);
    assert_eq!(v["output"], out2.to_str().unwrap());
    assert_eq!(v["job_id"], f.job_id.as_str());
    assert_eq!(v["vms"], 1);
    assert_eq!(v["bytes"], std::fs::metadata(&out2).unwrap().len());
    let o = f.report("odt-export", &["--json"]);
    assert_fails(&o, 2, &["--out"]);
}

#[test]
fn an_existing_page_is_kept_unless_forced() {
    let f = Fixture::new("");
    let out = f.s.path("custody.html");
    std::fs::write(&out, "the customer's own file").unwrap();
    let o = f.report("odt-import", &["-o", out.to_str().unwrap()]);
    assert_fails(&o, 1, &["custody.html already exists", "--force"]);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "the customer's own file"
    );
    f.s.ok(&f.report("odt-import", &["-o", out.to_str().unwrap(), "--force"]));
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .starts_with("<!DOCTYPE html>"));
    // Nothing but the page beside it: no temporary file left.
    let left: Vec<String> = std::fs::read_dir(f.s.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_receipt_that_does_not_verify_writes_no_page() {
    let f = Fixture::new("");
    let s = &f.s;
    let out = s.path("custody.html");
    let o_arg = ["-o", out.to_str().unwrap()];
    // One byte changed.
    let forged = s.path("forged.json");
    let t = std::fs::read_to_string(&f.receipt).unwrap();
    std::fs::write(&forged, t.replacen("vm-42", "vm-43", 1)).unwrap();
    std::fs::copy(
        format!("{}.sig", f.receipt.display()),
        s.path("forged.json.sig"),
    )
    .unwrap();
    for program in ["odt-import", "odt-export"] {
        let o = f.report_of(program, &forged, &o_arg);
        assert_fails(
            &o,
            1,
            &[
                "no custody report was written",
                "receipt signature check failed",
                "does not match its signature",
            ],
        );
        assert!(!out.exists());
        assert!(text(&o.stdout).is_empty(), "{}", text(&o.stdout));
    }
    // Its --json failure document, and still no page.
    let o = f.report_of(
        "odt-import",
        &forged,
        &["--json", "-o", out.to_str().unwrap()],
    );
    let v: serde_json::Value = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    assert_eq!(v["schema"], "odt.import.report/1");
    assert_eq!(v["ok"], false);
    assert!(!out.exists());
    // Without its signature.
    std::fs::remove_file(s.path("forged.json.sig")).unwrap();
    let o = f.report_of("odt-import", &forged, &o_arg);
    assert_fails(&o, 1, &["unsigned receipt proves nothing"]);
    // Checked with another key (the customer's own).
    let o = s.cmd(
        "odt-import",
        &[
            "report",
            "--receipt",
            f.receipt.to_str().unwrap(),
            "--provider-key",
            s.path("k.pub").to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert_fails(&o, 1, &["wrong --provider-key"]);
    // About another manifest than the one given.
    let other = s.path("other-job.json");
    let m = std::fs::read_to_string(s.nas().join("odt-job.json")).unwrap();
    std::fs::write(&other, m.replacen("acme-vdc", "acme-vdd", 1)).unwrap();
    let o = f.report(
        "odt-export",
        &["--manifest", other.to_str().unwrap(), "-o", o_arg[1]],
    );
    assert_fails(&o, 1, &["is not about the job in", "manifest SHA-256"]);
    assert!(!out.exists());
}

#[test]
fn the_dock_record_is_shown_when_it_is_the_receipts_and_refused_when_not() {
    let f = Fixture::new("");
    let s = &f.s;
    s.ok(&s.verify_at_dock());
    let record = s.path(&format!("state/dock-{}.json", f.job_id));
    let out = s.path("custody.html");
    let o = f.report(
        "odt-import",
        &[
            "--verify-record",
            record.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    s.ok(&o);
    let page = std::fs::read_to_string(&out).unwrap();
    assert!(page.contains("Verified at the dock at"), "{page}");
    assert!(page.contains("(keyless)"), "{page}");
    std::fs::remove_file(&out).unwrap();
    // A record of another job (or manifest) is not this receipt's.
    let mut r = DockRecord::parse(&std::fs::read(&record).unwrap(), "record").unwrap();
    assert_eq!(r.format, DOCK_FORMAT);
    r.manifest_sha256 = "00".repeat(32);
    let other = s.path("other-dock.json");
    std::fs::write(&other, serde_json::to_vec(&r).unwrap()).unwrap();
    let o = f.report(
        "odt-import",
        &[
            "--verify-record",
            other.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_fails(
        &o,
        1,
        &["is not the dock record of this receipt", "manifest SHA-256"],
    );
    assert!(!out.exists());
}

/// docs/SECURITY.md §S4 for the page: the provider's text (here markup, quotes, an
/// ampersand, a terminal escape and a bidi override in the org, network, href and vCenter
/// entity, and in an override) reaches it escaped.
#[test]
fn hostile_names_reach_the_page_escaped() {
    let f = Fixture::new(HOSTILE);
    let page = f.s.ok(&f.report("odt-export", &[]));
    for raw in ["<script", "\u{1b}", "\u{202e}", "\"'&"] {
        assert!(!page.contains(raw), "{raw:?} reached the page raw");
    }
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;\\u{1b}[31m\\u{202e}"),
        "{page}"
    );
    assert!(!page.chars().any(|c| c.is_control() && c != '\n'));
}
