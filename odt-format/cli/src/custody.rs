//! The custody report page: a checked receipt (and the dock's verify record) rendered as one
//! self-contained HTML page a customer can archive. A pure function of what was checked, so
//! it is tested without files or a terminal; the `report` command reads, checks and writes.
//!
//! Everything the page shows from the receipt or the record is the other side's text: it is
//! made printable (`odt_format::text::printable`: no control, bidi or line-separator
//! character survives) and then HTML-escaped, so no name can open a tag, an attribute or an
//! entity. The page has no script, no link, no remote font or image and a
//! Content-Security-Policy that forbids all of them, so it shows the same in ten years,
//! offline, and nothing in it can run.

use odt_format::job::dock::DockRecord;
use odt_format::job::receipt::{Override, ReceiptFile, ReceiptVm, Registered};
use odt_format::text::printable;

use super::receipt::CheckedReceipt;

/// What the page is made of: the checked receipt, the dock record that matched it, and when
/// and by what the page was made.
pub struct Page<'a> {
    /// The receipt whose signature (and manifest, if given) checked out.
    pub checked: &'a CheckedReceipt,
    /// The dock's verify record, already matched to the receipt's job and manifest, and the
    /// path it was read from.
    pub dock: Option<(&'a DockRecord, &'a str)>,
    /// When the page was made (RFC 3339, UTC).
    pub rendered_at: &'a str,
    /// What made it (`odt-import 0.1.0`).
    pub program: &'a str,
}

/// The page's style sheet: inline, so the page needs nothing else.
const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;\
max-width:72em;padding:0 1em;color:#1b1b1b;line-height:1.4}\
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #ccc;padding:.3em .5em;\
text-align:left;vertical-align:top}th{background:#f2f2f2}code,.mono{font-family:ui-monospace,Menlo,\
Consolas,monospace;font-size:.9em;word-break:break-all}.ok{color:#14632b;font-weight:600}\
.note{color:#555}dt{font-weight:600;margin-top:.4em}dd{margin-left:1.5em}\
@media print{body{margin:0;max-width:none}}";

/// `s` made printable, then HTML-escaped: safe between tags and inside a quoted attribute.
pub fn escape(s: &str) -> String {
    let s = printable(s);
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page being written: literal markup goes in with [`Html::raw`], text only escaped.
struct Html(String);

impl Html {
    fn raw(&mut self, s: &str) {
        self.0.push_str(s);
    }
    fn text(&mut self, s: &str) {
        self.0.push_str(&escape(s));
    }
    /// `<tag>text</tag>`.
    fn el(&mut self, tag: &str, text: &str) {
        self.raw(&format!("<{tag}>"));
        self.text(text);
        self.raw(&format!("</{tag}>"));
    }
    /// `<code>text</code>`.
    fn code(&mut self, text: &str) {
        self.el("code", text);
    }
    /// A definition list entry.
    fn dt_dd(&mut self, term: &str, detail: &str) {
        self.el("dt", term);
        self.el("dd", detail);
    }
    /// A table row of text cells (`th` for a header row).
    fn row(&mut self, cell: &str, cells: &[&str]) {
        self.raw("<tr>");
        for c in cells {
            self.el(cell, c);
        }
        self.raw("</tr>");
    }
}

/// The whole page.
pub fn render(p: &Page<'_>) -> String {
    let r = &p.checked.receipt;
    let mut h = Html(String::with_capacity(16 << 10));
    h.raw(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'\">\n<meta name=\"viewport\" content=\"width=device-width, \
         initial-scale=1\">\n<title>",
    );
    h.text(&format!("odt custody report: job {}", r.job_id));
    h.raw("</title>\n<style>");
    h.raw(STYLE);
    h.raw("</style>\n</head>\n<body>\n");
    h.el("h1", "Custody report");
    h.raw("<p>");
    h.text("Job ");
    h.code(&r.job_id);
    h.text(": what arrived at the provider's dock, what was checked, and where each VM landed, from the provider's signed import receipt. ");
    h.raw("<span class=\"ok\">");
    h.text(&format!(
        "The receipt's signature was verified with provider key {} before this page was made.",
        p.checked.provider_key_id
    ));
    h.raw("</span></p>\n");
    signatures(&mut h, p.checked);
    arrived(&mut h, p.checked);
    checked(&mut h, p);
    landed(&mut h, p.checked);
    overrides(&mut h, &r.overrides);
    times(&mut h, p);
    h.raw("</body>\n</html>\n");
    h.0
}

/// Who signed what, and what was checked of it.
fn signatures(h: &mut Html, c: &CheckedReceipt) {
    let r = &c.receipt;
    h.el("h2", "Signatures");
    h.raw("<dl>");
    h.dt_dd(
        "Import receipt",
        &format!(
            "{} signed by the provider's receipt key {}: signature checked (Ed25519)",
            r.format, c.provider_key_id
        ),
    );
    h.dt_dd("Receipt file SHA-256", &c.receipt_sha256);
    h.dt_dd("Receipt signature file SHA-256", &c.signature_sha256);
    let manifest = match (&c.manifest, &c.manifest_signer) {
        (Some(m), Some(k)) => format!(
            "signed by customer key {}; its signature was checked with that key ({}), and the \
             receipt is about exactly this manifest: the same bytes, job, VMs and files",
            k,
            m.display()
        ),
        (Some(m), None) => format!(
            "signed by customer key {} (as the receipt states); the receipt is about exactly \
             the manifest {}, taken as the customer's own copy: the same bytes, job, VMs and files",
            r.customer_key_id,
            m.display()
        ),
        (None, _) => format!(
            "signed by customer key {}, as the receipt states (no manifest was given to check \
             it against)",
            r.customer_key_id
        ),
    };
    h.dt_dd("Job manifest", &manifest);
    h.dt_dd("Manifest SHA-256", &r.manifest_sha256);
    h.raw("</dl>\n");
}

/// What arrived: the job, its targets, its VMs and files.
fn arrived(h: &mut Html, c: &CheckedReceipt) {
    let r = &c.receipt;
    let files: usize = r.vms.iter().map(|v| v.files.len()).sum();
    let bytes: u64 = r.vms.iter().flat_map(|v| &v.files).map(|f| f.size).sum();
    h.el("h2", "What arrived");
    h.raw("<dl>");
    h.dt_dd("Job id", &r.job_id);
    h.dt_dd("Imported into vCenter", &r.vcenter);
    h.dt_dd(
        "Registered in vCloud Director",
        r.vcd.as_deref().unwrap_or("no (vCenter only)"),
    );
    h.dt_dd(
        "Contents",
        &format!(
            "{} VM(s), {files} file(s), {}",
            r.vms.len(),
            size_text(bytes)
        ),
    );
    h.raw("</dl>\n<table>");
    h.row("th", &["VM", "Folder", "Files", "Size"]);
    for vm in &r.vms {
        let size: u64 = vm.files.iter().map(|f| f.size).sum();
        h.row(
            "td",
            &[
                &vm.name,
                &vm.dir,
                &vm.files.len().to_string(),
                &size_text(size),
            ],
        );
    }
    h.raw("</table>\n");
}

/// What was checked: the dock's verification, and each file's `.mf` digest on upload.
fn checked(h: &mut Html, p: &Page<'_>) {
    h.el("h2", "What was checked");
    h.raw("<p>");
    match p.dock {
        Some((d, path)) => h.text(&dock_text(d, path)),
        None => h.text(
            "No dock verify record was given (--verify-record), so this page does not show \
             the verification at the dock; odt-import run deploys nothing without one.",
        ),
    }
    h.raw("</p>\n<p>");
    h.text(
        "On its way into vCenter, each file's decrypted bytes were compared with the digest \
         the VM's own OVF manifest (.mf) lists for it, before its last bytes were uploaded:",
    );
    h.raw("</p>\n<table>");
    h.row(
        "th",
        &["VM", "File", "Size (bytes)", "Checked against (.mf digest)"],
    );
    for vm in &p.checked.receipt.vms {
        for f in &vm.files {
            file_row(h, vm, f);
        }
    }
    h.raw("</table>\n");
}

/// One file's row of the digest table.
fn file_row(h: &mut Html, vm: &ReceiptVm, f: &ReceiptFile) {
    h.raw("<tr>");
    h.el("td", &vm.name);
    h.el("td", &f.name);
    h.el("td", &f.size.to_string());
    match &f.digest {
        Some(d) => {
            h.raw("<td class=\"mono\">");
            h.text(d);
            h.raw("</td>");
        }
        None => h.el(
            "td",
            "not compared: vCenter did not ask for this file (the .mf itself, or a file the OVF does not reference)",
        ),
    }
    h.raw("</tr>");
}

/// What the dock record says was verified.
fn dock_text(d: &DockRecord, path: &str) -> String {
    let how = if d.deep {
        "every encrypted chunk against the signed manifest's digests, and every file decrypted \
         and compared with its .mf digest (deep)"
    } else {
        "every encrypted chunk of every file against the signed manifest's digests, with no \
         secret (keyless)"
    };
    let files = d.entries.iter().filter(|e| e.kind == "file").count();
    format!(
        "Verified at the dock at {}: the manifest's signature with customer key {}, then {how}. \
         The {} entries of the job folder ({files} files) were fingerprinted before and after, \
         and odt-import run deploys only while they are unchanged. Dock record: {path} (the \
         ODT node's own record, bound to manifest SHA-256 {}; not signed).",
        d.verified_at,
        d.signer_key_id,
        d.entries.len(),
        d.manifest_sha256
    )
}

/// Where each VM landed, in vCenter and vCD.
fn landed(h: &mut Html, c: &CheckedReceipt) {
    h.el("h2", "Where each VM landed");
    h.raw("<table>");
    h.row(
        "th",
        &[
            "VM",
            "vCenter entity",
            "vCD",
            "Network or catalog",
            "Storage profile",
            "vCD href and id",
            "vCD request ids",
        ],
    );
    for vm in &c.receipt.vms {
        let cells = placement(vm);
        h.raw("<tr>");
        h.el("td", &format!("{} ({})", vm.name, vm.dir));
        h.raw("<td class=\"mono\">");
        h.text(&vm.vcenter_entity);
        h.raw("</td>");
        for (i, cell) in cells.iter().enumerate() {
            h.raw(if i >= 3 {
                "<td class=\"mono\">"
            } else {
                "<td>"
            });
            h.text(cell);
            h.raw("</td>");
        }
        h.raw("</tr>");
    }
    h.raw("</table>\n");
}

/// The vCD cells of a VM's row: kind and place, network or catalog, storage profile, href and
/// id, request ids.
fn placement(vm: &ReceiptVm) -> [String; 5] {
    let Some(v) = &vm.vcd else {
        return [
            "not registered in vCD".into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ];
    };
    [
        kind_text(v),
        match (&v.network, &v.catalog) {
            (Some(n), _) => format!("network {n}"),
            (None, Some(c)) => format!("catalog {c}"),
            (None, None) => "none".into(),
        },
        v.storage_profile
            .clone()
            .unwrap_or_else(|| "the VDC's default".into()),
        match &v.id {
            Some(id) => format!("{} ({id})", v.href),
            None => v.href.clone(),
        },
        v.requests
            .iter()
            .map(|r| format!("{}: {}", r.step, r.request_id))
            .collect::<Vec<_>>()
            .join("; "),
    ]
}

/// `vApp in org/VDC, powered on`, or `template in org/VDC`.
fn kind_text(v: &Registered) -> String {
    let what = if v.kind == "template" {
        "vApp template"
    } else {
        "vApp"
    };
    let power = if v.powered_on { ", powered on" } else { "" };
    format!("{what} in org {} / VDC {}{power}", v.org, v.vdc)
}

/// What the provider changed at the dock.
fn overrides(h: &mut Html, list: &[Override]) {
    h.el("h2", "Changed at the dock");
    if list.is_empty() {
        h.el(
            "p",
            "Nothing: every VM landed under its manifest name and target.",
        );
        return;
    }
    h.el(
        "p",
        "The provider changed these names and targets at the dock (odt-import run --rename, \
         --set), each within what the customer's key may target; the receipt's signature \
         covers them:",
    );
    h.raw("<table>");
    h.row(
        "th",
        &["VM", "Folder", "What", "In the manifest", "Imported with"],
    );
    for o in list {
        h.row(
            "td",
            &[
                &o.vm,
                &o.dir,
                &o.field,
                o.from.as_deref().unwrap_or("(none)"),
                &o.to,
            ],
        );
    }
    h.raw("</table>\n");
}

/// When: the receipt, the dock verification, this page.
fn times(h: &mut Html, p: &Page<'_>) {
    h.el("h2", "Times (UTC)");
    h.raw("<dl>");
    h.dt_dd("Receipt written", &p.checked.receipt.created);
    if let Some((d, _)) = p.dock {
        h.dt_dd("Verified at the dock", &d.verified_at);
    }
    h.dt_dd(
        "This page made",
        &format!("{} by {}", p.rendered_at, p.program),
    );
    h.raw("</dl>\n<p class=\"note\">");
    h.text(
        "Keep the receipt and its .sig with this page: odt-export verify-receipt checks them \
         again at any time, offline, with the provider's receipt public key.",
    );
    h.raw("</p>\n");
}

/// `N bytes (X.Y GiB)`.
fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{bytes} bytes ({v:.1} {})", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use odt_format::job::receipt::{Receipt, StepRequest, RECEIPT_FORMAT};

    fn hostile(name: &str) -> CheckedReceipt {
        let reg = Registered {
            kind: "vapp".into(),
            org: "acme".into(),
            vdc: "acme-vdc".into(),
            catalog: None,
            network: Some(format!("net{name}")),
            href: format!("https://vcd/api/vApp/vapp-1?x={name}"),
            id: Some("urn:vcloud:vapp:1".into()),
            powered_on: true,
            storage_profile: Some(name.into()),
            requests: vec![StepRequest {
                step: "import".into(),
                request_id: format!("odt-{name}"),
            }],
        };
        CheckedReceipt {
            receipt: Receipt {
                format: RECEIPT_FORMAT.into(),
                job_id: "00112233445566778899aabbccddeeff".into(),
                manifest_sha256: "ab".repeat(32),
                customer_key_id: "0011223344556677".into(),
                provider_key_id: Some("8899aabbccddeeff".into()),
                vcenter: format!("https://vc/sdk{name}"),
                vcd: Some(format!("https://vcd{name}")),
                created: format!("2026-12-07T00:00:00Z{name}"),
                vms: vec![ReceiptVm {
                    name: name.into(),
                    dir: "vm-000".into(),
                    vcenter_entity: format!("VirtualMachine:vm-42{name}"),
                    vcd: Some(reg),
                    files: vec![ReceiptFile {
                        name: format!("{name}.vmdk"),
                        size: 5 << 20,
                        digest: Some(format!("SHA256:{name}")),
                    }],
                }],
                overrides: vec![Override {
                    vm: name.into(),
                    dir: "vm-000".into(),
                    field: "name".into(),
                    from: Some(name.into()),
                    to: format!("{name}-2"),
                }],
            },
            provider_key_id: "8899aabbccddeeff".into(),
            receipt_sha256: "cd".repeat(32),
            signature_sha256: "ef".repeat(32),
            manifest: None,
            manifest_signer: None,
        }
    }

    /// The tags the page itself writes; anything else after a `<` came from the receipt.
    const TAGS: &[&str] = &[
        "!DOCTYPE", "html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "span",
        "code", "dl", "dt", "dd", "table", "tr", "th", "td",
    ];

    /// docs/SECURITY.md §S4 for a page: a name that is markup, quotes, an ampersand and
    /// control characters reach the page escaped, and every tag in it is one the page wrote.
    #[test]
    fn receipt_text_is_escaped_everywhere() {
        let name = "<script>alert(1)</script>\"'&amp;\u{1b}[2J\u{7}\u{202e}\n<img src=x>";
        let c = hostile(name);
        let page = render(&Page {
            checked: &c,
            dock: None,
            rendered_at: "2026-12-07T00:00:01Z",
            program: "odt-import 0.1.0",
        });
        for raw in [
            "<script", "<img", "\u{1b}", "\u{7}", "\u{202e}", "&amp;amp", "\"'",
        ] {
            if raw == "&amp;amp" {
                // The name's own "&amp;" is escaped once: "&amp;amp;".
                assert!(page.contains("&amp;amp;"), "{page}");
                continue;
            }
            assert!(!page.contains(raw), "{raw:?} reached the page raw:\n{page}");
        }
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;amp;"));
        assert!(page.contains("\\u{1b}[2J\\u{7}\\u{202e}\\u{a}&lt;img src=x&gt;"));
        // No control character but the page's own newlines.
        assert!(!page.chars().any(|c| c.is_control() && c != '\n'));
        // Every '<' opens a tag of the page's own.
        for (i, _) in page.match_indices('<') {
            let tag: String = page[i + 1..]
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
                .collect();
            assert!(TAGS.contains(&tag.as_str()), "unexpected tag {tag:?}");
        }
        // Self-contained: nothing to fetch, nothing to run (the name's "src=" is text here).
        for bad in [
            "<script",
            "<link",
            "href=",
            "url(",
            "@import",
            "javascript:",
        ] {
            assert!(!page.contains(bad), "{bad:?} in the page");
        }
    }

    #[test]
    fn the_page_names_each_vm_its_digests_placement_and_keys() {
        let c = hostile("web");
        let page = render(&Page {
            checked: &c,
            dock: None,
            rendered_at: "2026-12-07T00:00:01Z",
            program: "odt-export 0.1.0",
        });
        for needle in [
            "00112233445566778899aabbccddeeff",
            "provider key 8899aabbccddeeff",
            "customer key 0011223344556677",
            &"ab".repeat(32),
            "SHA256:web",
            "VirtualMachine:vm-42web",
            "vApp in org acme / VDC acme-vdc, powered on",
            "network netweb",
            "https://vcd/api/vApp/vapp-1?x=web (urn:vcloud:vapp:1)",
            "import: odt-web",
            "web-2",
            "5242880 bytes (5.0 MiB)",
            "No dock verify record was given",
            "2026-12-07T00:00:01Z by odt-export 0.1.0",
        ] {
            assert!(page.contains(needle), "{needle:?} missing:\n{page}");
        }
    }

    #[test]
    fn sizes_read_as_people_read_them() {
        assert_eq!(size_text(10), "10 bytes");
        assert_eq!(size_text(1536), "1536 bytes (1.5 KiB)");
        assert_eq!(size_text(3 << 30), "3221225472 bytes (3.0 GiB)");
    }
}
