//! The vCenter simulator (`odt-vcsim`, tests/vcsim/) starts over http and https, answers
//! raw SOAP, captures NFC uploads into its index, records export downloads, injects upload
//! and download failures on request, and stops when its handle is dropped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use odt_tests::vcsim::Vcsim;

const SERVICE_CONTENT: &str = r#"<RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent>"#;

/// The text of the first `<tag>…</tag>` (attributes allowed) in `xml`.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = xml.find(&format!("<{tag}"))?;
    let rest = &xml[open + tag.len() + 1..];
    if !rest.starts_with(['>', ' ']) {
        return element(rest, tag);
    }
    let start = rest.find('>')? + 1;
    let end = rest.find(&format!("</{tag}>"))?;
    Some(&rest[start..end])
}

/// `POST /sdk` over a plain TcpStream: no HTTP client library, no curl.
fn raw_soap_post(port: u16, body: &str) -> (u16, String) {
    let envelope = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    );
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST /sdk HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/xml; charset=\"utf-8\"\r\n\
         SOAPAction: urn:vim25/6.5\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{envelope}",
        envelope.len()
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("read reply");
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_owned())
}

fn check_service_content(xml: &str) {
    let about = element(xml, "about").unwrap_or_else(|| panic!("no <about> in {xml}"));
    assert_eq!(element(about, "apiVersion"), Some("6.5"), "{about}");
    assert_eq!(element(about, "apiType"), Some("VirtualCenter"), "{about}");
    assert_eq!(element(xml, "rootFolder"), Some("group-d1"));
}

fn process_gone(pid: u32) -> bool {
    // Reaped by the launcher's wait(), so not even a zombie remains.
    !Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn starts_answers_soap_and_stops() {
    for tls in [false, true] {
        let Some(vc) = Vcsim::start_or_skip(tls) else {
            return;
        };
        let scheme = if tls { "https" } else { "http" };
        assert_eq!(vc.url, format!("{scheme}://127.0.0.1:{}/sdk", vc.port));
        assert_eq!(vc.tls, tls);
        if tls {
            let parts: Vec<&str> = vc.thumbprint.split(':').collect();
            assert_eq!(parts.len(), 20, "thumbprint {:?}", vc.thumbprint);
            assert!(
                parts.iter().all(|p| p.len() == 2
                    && p.chars()
                        .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c))),
                "thumbprint {:?}",
                vc.thumbprint
            );
            // The SHA-256 thumbprint too, of the same (ECDSA P-256, pinnable) certificate.
            assert_eq!(
                vc.thumbprint_sha256.split(':').count(),
                32,
                "{:?}",
                vc.thumbprint_sha256
            );
        } else {
            assert_eq!(vc.thumbprint, "");
            assert_eq!(vc.thumbprint_sha256, "");
            // Raw HTTP/1.1 with std only.
            let (status, body) = raw_soap_post(vc.port, SERVICE_CONTENT);
            assert_eq!(status, 200, "{body}");
            check_service_content(&body);
        }
        match vc.soap(SERVICE_CONTENT, None) {
            Ok((status, body)) => {
                assert_eq!(status, 200, "{body}");
                check_service_content(&body);
            }
            Err(e) if e.contains("is it installed") => {
                odt_tests::skip(&format!("curl: {e}"));
            }
            Err(e) => panic!("{e}"),
        }
        // Without a session, other calls fail with NotAuthenticated (HTTP 500 + fault).
        let (status, body) = vc
            .soap(
                r#"<Logout xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this></Logout>"#,
                None,
            )
            .unwrap();
        assert_eq!(status, 500, "{body}");
        assert!(body.contains("NotAuthenticated"), "{body}");

        let index = vc.index();
        assert_eq!(
            index["uploads"].as_array().map(Vec::len),
            Some(0),
            "{index}"
        );
        let pid = vc.pid();
        let capture = vc.capture_dir.clone();
        assert!(capture.join("index.json").is_file());
        assert!(!process_gone(pid));
        let status = vc.stop();
        assert!(
            status.is_some_and(|s| s.success()),
            "exit status {status:?}"
        );
        assert!(process_gone(pid), "odt-vcsim (pid {pid}) still running");
        assert!(!capture.exists(), "temporary folder left behind");
    }
}

#[test]
fn dropping_the_handle_stops_it() {
    let Some(vc) = Vcsim::start_or_skip(false) else {
        return;
    };
    let pid = vc.pid();
    drop(vc);
    assert!(process_gone(pid), "odt-vcsim (pid {pid}) still running");
}

/// A one-disk OVF vcsim accepts (it needs the `<System>` element).
const TINY_OVF: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData">
  <References><File ovf:id="file1" ovf:href="tiny-disk1.vmdk" ovf:size="70000"/></References>
  <DiskSection><Info>disks</Info><Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="1048576"/></DiskSection>
  <VirtualSystem ovf:id="tiny"><Info>vm</Info>
    <VirtualHardwareSection><Info>hw</Info>
      <System><vssd:InstanceID>0</vssd:InstanceID><vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType></System>
      <Item><rasd:ElementName>scsi</rasd:ElementName><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceSubType>lsilogic</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>
      <Item><rasd:ElementName>disk</rasd:ElementName><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>2</rasd:InstanceID><rasd:Parent>1</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"#;

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A logged-in SOAP session on a simulator.
struct Session<'a> {
    vc: &'a Vcsim,
    cookie: String,
}

impl<'a> Session<'a> {
    fn login(vc: &'a Vcsim) -> Session<'a> {
        let cookie = vc.login("odt", "secret").unwrap();
        Session { vc, cookie }
    }

    fn call(&self, body: &str) -> String {
        let (status, reply) = self.vc.soap(body, Some(&self.cookie)).unwrap();
        assert_eq!(status, 200, "{body}\n=> {reply}");
        reply
    }

    /// A call that must fail: returns the fault's xsi:type (e.g. `AlreadyExists`).
    fn fault(&self, body: &str) -> String {
        let (status, reply) = self.vc.soap(body, Some(&self.cookie)).unwrap();
        assert_eq!(status, 500, "{body}\n=> {reply}");
        fault_type(&reply)
    }

    /// RetrievePropertiesEx of one property of one object; returns the reply.
    fn property(&self, kind: &str, moref: &str, path: &str) -> String {
        self.call(&format!(
            r#"<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><specSet><propSet><type>{kind}</type><pathSet>{path}</pathSet></propSet><objectSet><obj type="{kind}">{}</obj></objectSet></specSet><options></options></RetrievePropertiesEx>"#,
            xml_escape(moref)
        ))
    }

    fn find(&self, path: &str) -> String {
        let r = self.call(&format!(
            r#"<FindByInventoryPath xmlns="urn:vim25"><_this type="SearchIndex">SearchIndex</_this><inventoryPath>{}</inventoryPath></FindByInventoryPath>"#,
            xml_escape(path)
        ));
        element(&r, "returnval")
            .unwrap_or_else(|| panic!("{path} not found"))
            .to_owned()
    }

    /// CreateImportSpec + ImportVApp of TINY_OVF as `name`; returns (lease, NFC URL).
    fn import(&self, name: &str) -> (String, String) {
        self.import_ovf(name, TINY_OVF, "")
    }

    /// CreateImportSpec (with `mapping`, raw `networkMapping` elements) + ImportVApp of `ovf`
    /// as `name` into cluster DC0_C0; returns (lease, NFC URL).
    fn import_ovf(&self, name: &str, ovf: &str, mapping: &str) -> (String, String) {
        let pool = self.find("DC0/host/DC0_C0/Resources");
        let ds = self.find("DC0/datastore/LocalDS_0");
        let folder = self.find("DC0/vm");
        let r = self.call(&format!(
            r#"<CreateImportSpec xmlns="urn:vim25"><_this type="OvfManager">OvfManager</_this><ovfDescriptor>{}</ovfDescriptor><resourcePool type="ResourcePool">{pool}</resourcePool><datastore type="Datastore">{}</datastore><cisp><locale>US</locale><deploymentOption></deploymentOption><entityName>{name}</entityName>{mapping}<diskProvisioning>thin</diskProvisioning></cisp></CreateImportSpec>"#,
            xml_escape(ovf),
            xml_escape(&ds)
        ));
        // vcsim declares the xsi prefix on importSpec itself, so the raw text can be resent.
        let start = r.find("<importSpec").expect("importSpec");
        let end = r.find("</importSpec>").expect("importSpec end") + "</importSpec>".len();
        let spec = r[start..end]
            .replacen("<importSpec", "<spec", 1)
            .replace("</importSpec>", "</spec>");
        let r = self.call(&format!(
            r#"<ImportVApp xmlns="urn:vim25"><_this type="ResourcePool">{pool}</_this>{spec}<folder type="Folder">{folder}</folder></ImportVApp>"#
        ));
        let lease = element(&r, "returnval").expect("lease").to_owned();
        let r = self.call(&format!(
            r#"<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><specSet><propSet><type>HttpNfcLease</type><pathSet>info</pathSet></propSet><objectSet><obj type="HttpNfcLease">{}</obj></objectSet></specSet><options></options></RetrievePropertiesEx>"#,
            xml_escape(&lease)
        ));
        let url = element(&r, "url").expect("deviceUrl url").to_owned();
        assert!(url.starts_with("https://*/nfc/"), "{url}");
        (lease, self.vc.nfc_url(&url))
    }

    fn lease_call(&self, method: &str, lease: &str) {
        self.call(&format!(
            r#"<{method} xmlns="urn:vim25"><_this type="HttpNfcLease">{}</_this></{method}>"#,
            xml_escape(lease)
        ));
    }
}

#[test]
fn captures_nfc_uploads_and_injects_failures() {
    let Some(vc) = Vcsim::start_or_skip(true) else {
        return;
    };
    let s = Session::login(&vc);
    // Printable, so it survives the String bodies of Vcsim::request.
    let data: Vec<u8> = (0..70_000u32)
        .map(|i| ((i * 7 + i / 256) % 94 + 33) as u8)
        .collect();

    // A clean upload is captured byte for byte.
    let (lease, url) = s.import("tiny-ok");
    let path = url.strip_prefix(&vc.base()).unwrap();
    let (status, body) = vc
        .request(
            "POST",
            path,
            &["Content-Type: application/x-vnd.vmware-streamVmdk".to_owned()],
            Some(&data),
        )
        .unwrap();
    assert_eq!(status, 200, "{body}");
    s.lease_call("HttpNfcLeaseComplete", &lease);
    let got = vc.captured("tiny-ok");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "disk-0.vmdk");
    assert_eq!(std::fs::read(&got[0].1).unwrap(), data);
    let up = vc.uploads().pop().unwrap();
    assert_eq!(
        (up.status, up.bytes, up.method.as_str()),
        (200, 70_000, "POST")
    );
    assert_eq!(up.sha256, odt_tests::sha256_file(&got[0].1));
    let leases = vc.leases();
    assert_eq!(leases[0]["state"], "done", "{leases:?}");
    assert_eq!(leases[0]["vm"], "tiny-ok");

    // ExportVm (our extension) serves the uploaded bytes back, with a manifest.
    let vm = s.find("DC0/vm/tiny-ok");
    let r = s.call(&format!(
        r#"<ExportVm xmlns="urn:vim25"><_this type="VirtualMachine">{vm}</_this></ExportVm>"#
    ));
    let xlease = element(&r, "returnval").expect("export lease").to_owned();
    let r = s.call(&format!(
        r#"<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><specSet><propSet><type>HttpNfcLease</type><pathSet>info</pathSet></propSet><objectSet><obj type="HttpNfcLease">{}</obj></objectSet></specSet><options></options></RetrievePropertiesEx>"#,
        xml_escape(&xlease)
    ));
    assert_eq!(element(&r, "targetId"), Some("disk-0.vmdk"), "{r}");
    let down = vc.nfc_url(element(&r, "url").expect("url"));
    let (status, body) = vc
        .http("GET", down.strip_prefix(&vc.base()).unwrap(), None)
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(body.as_bytes(), &data[..]);
    let r = s.call(&format!(
        r#"<HttpNfcLeaseGetManifest xmlns="urn:vim25"><_this type="HttpNfcLease">{}</_this></HttpNfcLeaseGetManifest>"#,
        xml_escape(&xlease)
    ));
    assert_eq!(element(&r, "size"), Some("70000"), "{r}");
    s.lease_call("HttpNfcLeaseComplete", &xlease);
    assert_eq!(vc.leases()[1]["kind"], "export");

    // An injected failure cuts the connection and leaves no capture.
    vc.fail_next_uploads(1000, None, 1).unwrap();
    let (lease, url) = s.import("tiny-cut");
    let path = url.strip_prefix(&vc.base()).unwrap();
    let res = vc.request("POST", path, &[], Some(&data));
    assert!(res.is_err(), "upload should have been cut: {res:?}");
    s.lease_call("HttpNfcLeaseAbort", &lease);
    assert!(vc.captured("tiny-cut").is_empty());
    let up = vc.uploads().pop().unwrap();
    assert_eq!(
        (up.vm.as_str(), up.status, up.bytes),
        ("tiny-cut", 0, 1000),
        "{up:?}"
    );
    assert!(up.path.is_none() && up.error.is_some());
    assert_eq!(vc.leases()[2]["state"], "aborted");

    // An injected status is answered after the given bytes; an unknown lease is a 404.
    vc.fail_next_uploads(0, Some(503), 1).unwrap();
    let (lease, url) = s.import("tiny-503");
    let path = url.strip_prefix(&vc.base()).unwrap().to_owned();
    let (status, _) = vc.request("POST", &path, &[], Some(&data)).unwrap();
    assert_eq!(status, 503);
    let (status, _) = vc.request("POST", &path, &[], Some(&data)).unwrap();
    assert_eq!(status, 200, "the fault fires once");
    s.lease_call("HttpNfcLeaseComplete", &lease);
    let (status, _) = vc.request("POST", &path, &[], Some(&data)).unwrap();
    assert_eq!(status, 404, "lease is gone after Complete");
    assert_eq!(vc.captured("tiny-503").len(), 1);
}

#[test]
fn export_downloads_are_recorded_and_can_be_cut() {
    for tls in [false, true] {
        if !downloads_recorded_and_cut(tls) {
            return;
        }
    }
}

/// Returns false when the simulator is unavailable (skipped).
fn downloads_recorded_and_cut(tls: bool) -> bool {
    let Some(vc) = Vcsim::start_or_skip(tls) else {
        return false;
    };
    let s = Session::login(&vc);
    let data: Vec<u8> = (0..70_000u32)
        .map(|i| ((i * 11 + i / 300) % 94 + 33) as u8)
        .collect();
    let (lease, url) = s.import("tiny-dl");
    let path = url.strip_prefix(&vc.base()).unwrap();
    let (status, _) = vc.request("POST", path, &[], Some(&data)).unwrap();
    assert_eq!(status, 200);
    s.lease_call("HttpNfcLeaseComplete", &lease);
    let vm = s.find("DC0/vm/tiny-dl");
    let r = s.call(&format!(
        r#"<ExportVm xmlns="urn:vim25"><_this type="VirtualMachine">{vm}</_this></ExportVm>"#
    ));
    let xlease = element(&r, "returnval").expect("export lease").to_owned();
    let r = s.property("HttpNfcLease", &xlease, "info");
    let down = vc.nfc_url(element(&r, "url").expect("url"));
    let down = down.strip_prefix(&vc.base()).unwrap().to_owned();

    // Bad parameters are refused.
    let (code, _) = vc
        .http("POST", "/odt-test/fail-next-download?skip=-1", None)
        .unwrap();
    assert_eq!(code, 400);

    // skip=1: the first GET goes through, the second is cut after 1000 bytes, the third is
    // whole again.
    vc.fail_downloads_after(1, 1000, None, 1).unwrap();
    let (status, body) = vc.http("GET", &down, None).unwrap();
    assert_eq!((status, body.as_bytes()), (200, &data[..]));
    let cut = vc.http("GET", &down, None);
    assert!(cut.is_err(), "the download should have been cut: {cut:?}");
    let (status, body) = vc.http("GET", &down, None).unwrap();
    assert_eq!((status, body.len()), (200, data.len()));

    // status=CODE answers it instead; count=2 fires twice; a Range GET is recorded as such.
    vc.fail_next_downloads(0, Some(503), 2).unwrap();
    for _ in 0..2 {
        let (status, _) = vc.http("GET", &down, None).unwrap();
        assert_eq!(status, 503);
    }
    let (status, body) = vc
        .request("GET", &down, &["Range: bytes=0-9".to_owned()], None)
        .unwrap();
    assert_eq!((status, body.as_bytes()), (206, &data[..10]));
    // clear-faults forgets pending download faults.
    vc.fail_next_downloads(0, None, 1).unwrap();
    vc.clear_faults().unwrap();
    let (status, _) = vc.http("GET", &down, None).unwrap();
    assert_eq!(status, 200);

    let got: Vec<_> = vc
        .downloads()
        .iter()
        .map(|d| (d.status, d.bytes, d.range.clone(), d.error.is_some()))
        .collect();
    let whole = (200, 70_000, String::new(), false);
    assert_eq!(
        got,
        [
            whole.clone(),
            (0, 1000, String::new(), true),
            whole.clone(),
            (503, 0, String::new(), true),
            (503, 0, String::new(), true),
            (206, 10, "bytes=0-9".to_owned(), false),
            whole,
        ]
    );
    let d = &vc.downloads()[1];
    assert_eq!(
        (d.vm.as_str(), d.file.as_str(), d.lease.as_str(), d.size),
        ("tiny-dl", "disk-0.vmdk", xlease.as_str(), 70_000)
    );
    assert!(d.error.as_deref().unwrap().contains("dropped"), "{d:?}");

    // After Complete the URL is gone (404), and a 404 is neither recorded nor faulted.
    s.lease_call("HttpNfcLeaseComplete", &xlease);
    vc.fail_next_downloads(0, Some(503), 1).unwrap();
    let (status, _) = vc.http("GET", &down, None).unwrap();
    assert_eq!(status, 404);
    assert_eq!(vc.downloads().len(), 7);
    true
}

#[test]
fn login_restriction_and_fail_flag() {
    if let Err(why) = odt_tests::vcsim::available() {
        odt_tests::skip(&why);
        return;
    }
    let vc = Vcsim::start_with(&odt_tests::vcsim::Options {
        login: Some(("admin".into(), "s3cret".into())),
        nfc_fail_after: Some(10),
        ..Default::default()
    })
    .unwrap();
    let err = vc.login("odt", "secret").unwrap_err();
    assert!(err.contains("InvalidLogin"), "{err}");
    let cookie = vc.login("admin", "s3cret").unwrap();
    let s = Session { vc: &vc, cookie };
    let (_lease, url) = s.import("flagged");
    let path = url.strip_prefix(&vc.base()).unwrap().to_owned();
    assert!(vc.request("POST", &path, &[], Some(&[b'x'; 100])).is_err());
    let (status, _) = vc.request("POST", &path, &[], Some(&[b'x'; 100])).unwrap();
    assert_eq!(status, 200, "-nfc-fail-after fires once");
    let ups = vc.uploads();
    assert_eq!(
        ups.iter().map(|u| (u.status, u.bytes)).collect::<Vec<_>>(),
        [(0, 10), (200, 100)]
    );
}

/// The xsi:type of the fault in a SOAP fault reply.
fn fault_type(reply: &str) -> String {
    let detail = element(reply, "detail").unwrap_or_else(|| panic!("no fault detail: {reply}"));
    let at = detail.find("type=\"").expect("xsi:type") + 6;
    detail[at..].split('"').next().unwrap().to_owned()
}

/// The MoRefs in a reply, as (type, value), in order.
fn morefs(xml: &str, tag: &str) -> Vec<(String, String)> {
    let open = format!("<{tag} type=\"");
    let close = format!("</{tag}>");
    let mut out = vec![];
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let (kind, after) = rest.split_once("\">").expect("moref");
        let (value, after) = after.split_once(&close).expect("moref end");
        out.push((kind.to_owned(), value.to_owned()));
        rest = after;
    }
    out
}

impl Session<'_> {
    /// The host's `network` list as (type, name).
    fn host_networks(&self, host: &str) -> Vec<(String, String)> {
        let r = self.property("HostSystem", host, "network");
        morefs(&r, "ManagedObjectReference")
            .into_iter()
            .map(|(kind, value)| {
                let r = self.property(&kind, &value, "name");
                let name = element(&r, "val").expect("name").to_owned();
                (kind, name)
            })
            .collect()
    }

    /// Whether the host has a standard port group named "VM Network": in `network` (a
    /// Network of that name) and in `config.network.portgroup`; both must agree.
    fn has_vm_network(&self, host: &str) -> bool {
        let in_network = self
            .host_networks(host)
            .iter()
            .any(|(kind, name)| kind == "Network" && name == "VM Network");
        let r = self.property("HostSystem", host, "config.network.portgroup");
        let in_config = r.contains("<name>VM Network</name>");
        assert_eq!(
            in_network, in_config,
            "{host}: network vs config.network:\n{r}"
        );
        in_network
    }

    /// The hosts (values) in the "VM Network" Network's `host` list.
    fn vm_network_hosts(&self) -> Vec<String> {
        let net = self.find("DC0/network/VM Network");
        let r = self.property("Network", &net, "host");
        let mut hosts: Vec<String> = morefs(&r, "ManagedObjectReference")
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        hosts.sort();
        hosts
    }

    fn network_system(&self, host: &str) -> String {
        let r = self.property("HostSystem", host, "configManager.networkSystem");
        element(&r, "val").expect("networkSystem").to_owned()
    }

    fn add_port_group(&self, host: &str, name: &str, vswitch: &str) -> Result<(), String> {
        let body = format!(
            r#"<AddPortGroup xmlns="urn:vim25"><_this type="HostNetworkSystem">{}</_this><portgrp><name>{}</name><vlanId>0</vlanId><vswitchName>{vswitch}</vswitchName><policy></policy></portgrp></AddPortGroup>"#,
            xml_escape(&self.network_system(host)),
            xml_escape(name)
        );
        let (status, reply) = self.vc.soap(&body, Some(&self.cookie)).unwrap();
        match status {
            200 => Ok(()),
            500 => Err(fault_type(&reply)),
            _ => panic!("AddPortGroup: HTTP {status}: {reply}"),
        }
    }
}

/// TINY_OVF with one vmxnet3 NIC on OVF network "lan".
fn tiny_ovf_with_nic() -> String {
    TINY_OVF
        .replace(
            "<VirtualSystem ",
            r#"<NetworkSection><Info>nets</Info><Network ovf:name="lan"><Description>lan</Description></Network></NetworkSection>
  <VirtualSystem "#,
        )
        .replace(
            "    </VirtualHardwareSection>",
            r#"      <Item><rasd:AutomaticAllocation>true</rasd:AutomaticAllocation><rasd:Connection>lan</rasd:Connection><rasd:ElementName>nic</rasd:ElementName><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>
    </VirtualHardwareSection>"#,
        )
}

#[test]
fn hosts_without_vm_network_and_add_port_group() {
    if let Err(why) = odt_tests::vcsim::available() {
        odt_tests::skip(&why);
        return;
    }
    let vc = Vcsim::start_with(&odt_tests::vcsim::Options {
        args: vec!["-hosts-without-vm-network".into(), "DC0_C0_H1".into()],
        ..Default::default()
    })
    .unwrap();
    let s = Session::login(&vc);
    let h0 = s.find("DC0/host/DC0_C0/DC0_C0_H0");
    let h1 = s.find("DC0/host/DC0_C0/DC0_C0_H1");
    let h2 = s.find("DC0/host/DC0_C0/DC0_C0_H2");

    // H1 lacks "VM Network"; the others have it; the DVPGs are untouched.
    assert!(s.has_vm_network(&h0));
    assert!(s.has_vm_network(&h2));
    assert!(!s.has_vm_network(&h1));
    let nets = s.host_networks(&h1);
    assert!(
        nets.iter()
            .any(|(k, n)| k == "DistributedVirtualPortgroup" && n == "DC0_DVPG0"),
        "{nets:?}"
    );
    let mut want = vec![h0.clone(), h2.clone()];
    want.push(s.find("DC0/host/DC0_H0/DC0_H0"));
    want.sort();
    assert_eq!(s.vm_network_hosts(), want);

    // Deploying onto the cluster with networkMapping to "VM Network" still works.
    let net = s.find("DC0/network/VM Network");
    let mapping = format!(
        r#"<networkMapping><name>lan</name><network type="Network">{net}</network></networkMapping>"#
    );
    let (lease, _) = s.import_ovf("nic-vm", &tiny_ovf_with_nic(), &mapping);
    s.lease_call("HttpNfcLeaseComplete", &lease);
    let vm = s.find("DC0/vm/nic-vm");
    let r = s.property("VirtualMachine", &vm, "network");
    assert_eq!(
        morefs(&r, "ManagedObjectReference"),
        [("Network".to_owned(), net.clone())],
        "{r}"
    );

    // AddPortGroup on H1 joins the existing "VM Network" (vcsim alone faults DuplicateName).
    s.add_port_group(&h1, "VM Network", "vSwitch0").unwrap();
    assert!(s.has_vm_network(&h1));
    let r = s.property(
        "HostNetworkSystem",
        &s.network_system(&h1),
        "networkInfo.portgroup",
    );
    assert!(r.contains("<name>VM Network</name>"), "{r}");
    assert!(s.vm_network_hosts().contains(&h1));
    assert_eq!(s.find("DC0/network/VM Network"), net, "no second Network");
    // Again: this host has it now.
    assert_eq!(
        s.add_port_group(&h1, "VM Network", "vSwitch0"),
        Err("AlreadyExists".into())
    );
    assert_eq!(
        s.add_port_group(&h0, "VM Network", "vSwitch0"),
        Err("AlreadyExists".into())
    );
    assert_eq!(
        s.add_port_group(&h2, "Other", "vSwitch9"),
        Err("NotFound".into())
    );
    // A new name creates a Network that only this host has.
    s.add_port_group(&h2, "Lab", "vSwitch0").unwrap();
    assert!(s
        .host_networks(&h2)
        .contains(&("Network".into(), "Lab".into())));
    assert!(!s.host_networks(&h0).iter().any(|(_, n)| n == "Lab"));
    // RemovePortGroup takes it from this host only (vcsim alone deletes the Network).
    let remove = format!(
        r#"<RemovePortGroup xmlns="urn:vim25"><_this type="HostNetworkSystem">{}</_this><pgName>Lab</pgName></RemovePortGroup>"#,
        xml_escape(&s.network_system(&h2))
    );
    s.call(&remove);
    assert!(!s.host_networks(&h2).iter().any(|(_, n)| n == "Lab"));
    assert_eq!(s.fault(&remove), "NotFound");
    s.add_port_group(&h2, "Lab", "vSwitch0").unwrap();
    assert!(s
        .host_networks(&h2)
        .contains(&("Network".into(), "Lab".into())));

    // At run time: the same removal, through the test endpoint.
    assert_eq!(vc.remove_vm_network("DC0_C0_H0"), Ok(true));
    assert!(!s.has_vm_network(&h0));
    assert!(s.has_vm_network(&h1) && s.has_vm_network(&h2));
    assert!(!s.vm_network_hosts().contains(&h0));
    assert_eq!(vc.remove_vm_network("DC0_C0_H0"), Ok(false));
    let err = vc.remove_vm_network("no-such-host").unwrap_err();
    assert!(err.contains("404"), "{err}");
    s.add_port_group(&h0, "VM Network", "vSwitch0").unwrap();
    assert!(s.has_vm_network(&h0));
}

/// The `<deviceId>`s (or any tag) of a reply, in order.
fn texts<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    xml.split(&open)
        .skip(1)
        .filter_map(|s| s.split_once(&close).map(|(v, _)| v))
        .collect()
}

impl Session<'_> {
    /// The state of a (synchronous, so finished) vcsim task, and its fault type if any.
    fn task_result(&self, reply: &str) -> (String, Option<String>) {
        let task = element(reply, "returnval").expect("task").to_owned();
        let r = self.property("Task", &task, "info");
        let state = element(&r, "state").expect("task state").to_owned();
        let fault = element(&r, "error").map(|e| {
            let at = e.find("type=\"").expect("fault type") + 6;
            e[at..].split('"').next().unwrap().to_owned()
        });
        (state, fault)
    }

    /// FindByInventoryPath that may find nothing.
    fn try_find(&self, path: &str) -> Option<String> {
        let r = self.call(&format!(
            r#"<FindByInventoryPath xmlns="urn:vim25"><_this type="SearchIndex">SearchIndex</_this><inventoryPath>{}</inventoryPath></FindByInventoryPath>"#,
            xml_escape(path)
        ));
        element(&r, "returnval").map(str::to_owned)
    }
}

/// A vApp (VirtualSystemCollection "vapp": VMs "web" and "db", one disk each) imports as in
/// vCenter: a VirtualAppImportSpec with two children, one lease for both VMs' disks whose
/// entity is the VirtualApp, uploads captured per child VM, VMs listed in VirtualApp.vm,
/// and Destroy_Task on the vApp removes it with its VMs.
#[test]
fn vapp_import_one_lease_for_all_vms() {
    let Some(vc) = Vcsim::start_or_skip(true) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("bash")
        .arg(odt_tests::workspace().join("scripts/make-sample-vm.sh"))
        .arg(tmp.path())
        .args(["--kind", "vapp", "--disk-mib", "2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", odt_tests::text(&out.stderr));
    let dir = tmp.path().join("vapp");
    let ovf = std::fs::read_to_string(dir.join("vapp.ovf")).unwrap();
    assert!(
        ovf.contains("<VirtualSystemCollection"),
        "not a vApp sample"
    );

    let s = Session::login(&vc);
    let pool = s.find("DC0/host/DC0_C0/Resources");
    let ds = s.find("DC0/datastore/LocalDS_0");
    let folder = s.find("DC0/vm");
    let net = s.find("DC0/network/VM Network");

    // CreateImportSpec: a VirtualAppImportSpec named entityName with two VM children.
    let r = s.call(&format!(
        r#"<CreateImportSpec xmlns="urn:vim25"><_this type="OvfManager">OvfManager</_this><ovfDescriptor>{}</ovfDescriptor><resourcePool type="ResourcePool">{pool}</resourcePool><datastore type="Datastore">{}</datastore><cisp><locale>US</locale><deploymentOption></deploymentOption><entityName>vapp</entityName><networkMapping><name>corp-lan</name><network type="Network">{net}</network></networkMapping><diskProvisioning>thin</diskProvisioning></cisp></CreateImportSpec>"#,
        xml_escape(&ovf),
        xml_escape(&ds)
    ));
    assert!(element(&r, "error").is_none(), "{r}");
    let start = r.find("<importSpec").expect("importSpec");
    let end = r.find("</importSpec>").expect("importSpec end") + "</importSpec>".len();
    let spec = &r[start..end];
    let open_tag = &spec[..spec.find('>').unwrap()];
    assert!(
        open_tag.contains(r#":type="VirtualAppImportSpec""#),
        "{open_tag}"
    );
    assert_eq!(element(spec, "name"), Some("vapp"), "{spec}");
    assert_eq!(
        spec.matches(r#"<child XMLSchema-instance:type="VirtualMachineImportSpec">"#)
            .count(),
        2,
        "{spec}"
    );
    // The children's names, in descriptor order, and their startup settings.
    let names: Vec<&str> = texts(spec, "configSpec")
        .iter()
        .map(|c| element(c, "name").unwrap())
        .collect();
    assert_eq!(names, ["web", "db"]);
    assert_eq!(texts(spec, "tag"), ["web", "db"]);
    let items = texts(&r[end..], "fileItem");
    assert_eq!(items.len(), 2, "{r}");
    let file_for: Vec<(String, String)> = items
        .iter()
        .map(|i| {
            (
                element(i, "deviceId").unwrap().to_owned(),
                element(i, "path").unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        file_for,
        [
            ("/web/disk:0".to_owned(), "vapp-disk1.vmdk".to_owned()),
            ("/db/disk:0".to_owned(), "vapp-disk2.vmdk".to_owned())
        ]
    );

    // ImportVApp (into the cluster's pool, with the VM folder): one lease for both VMs.
    let spec = spec
        .replacen("<importSpec", "<spec", 1)
        .replace("</importSpec>", "</spec>");
    let import = format!(
        r#"<ImportVApp xmlns="urn:vim25"><_this type="ResourcePool">{pool}</_this>{spec}<folder type="Folder">{folder}</folder></ImportVApp>"#
    );
    let r = s.call(&import);
    let lease = element(&r, "returnval").expect("lease").to_owned();
    let r = s.property("HttpNfcLease", &lease, "state");
    assert_eq!(element(&r, "val"), Some("ready"), "{r}");
    let info = s.property("HttpNfcLease", &lease, "info");
    let entity = morefs(&info, "entity");
    assert_eq!(entity.len(), 1, "{info}");
    assert_eq!(entity[0].0, "VirtualApp", "{info}");
    let vapp = entity[0].1.clone();
    let urls = texts(&info, "deviceUrl");
    assert_eq!(urls.len(), 2, "{info}");
    assert_eq!(s.find("DC0/vm/vapp"), vapp, "the vApp is in its folder");

    // Upload each disk to the deviceUrl whose importKey is its fileItem's deviceId.
    let mut want = vec![];
    for u in &urls {
        let key = element(u, "importKey").unwrap();
        let (_, file) = file_for
            .iter()
            .find(|(id, _)| id == key)
            .unwrap_or_else(|| panic!("no fileItem for importKey {key}"));
        assert_eq!(element(u, "disk"), Some("true"));
        let url = vc.nfc_url(element(u, "url").unwrap());
        let data = std::fs::read(dir.join(file)).unwrap();
        let (status, body) = vc
            .request(
                "POST",
                url.strip_prefix(&vc.base()).unwrap(),
                &["Content-Type: application/x-vnd.vmware-streamVmdk".to_owned()],
                Some(&data),
            )
            .unwrap();
        assert_eq!(status, 200, "{body}");
        let vm = key.split('/').nth(1).unwrap().to_owned();
        want.push((vm, odt_tests::sha256_file(&dir.join(file))));
    }
    s.lease_call("HttpNfcLeaseProgress", &lease);
    s.lease_call("HttpNfcLeaseComplete", &lease);

    // The capture has each disk under its child VM's name.
    for (vm, sha) in &want {
        let got = vc.captured(vm);
        assert_eq!(got.len(), 1, "{vm}: {got:?}");
        assert_eq!(got[0].0, "disk-0.vmdk");
        assert_eq!(&odt_tests::sha256_file(&got[0].1), sha, "{vm}");
    }
    let ups = vc.uploads();
    assert_eq!(ups.len(), 2);
    for u in &ups {
        assert_eq!(
            (u.lease.as_str(), u.vapp.as_str()),
            (lease.as_str(), "vapp")
        );
        assert_eq!(u.status, 200);
    }
    let rec = &vc.leases()[0];
    assert_eq!(rec["entity_type"], "VirtualApp", "{rec}");
    assert_eq!(rec["vm"], "vapp");
    assert_eq!(rec["state"], "done");
    assert_eq!(rec["children"].as_array().map(Vec::len), Some(2), "{rec}");
    // The child leases ended with the vApp's.
    let url = vc.nfc_url(element(urls[0], "url").unwrap());
    let (status, _) = vc
        .request(
            "POST",
            url.strip_prefix(&vc.base()).unwrap(),
            &[],
            Some(b"x"),
        )
        .unwrap();
    assert_eq!(status, 404, "lease is gone after Complete");

    // VirtualApp.vm lists both VMs, which belong to it and can be reconfigured.
    let r = s.property("VirtualApp", &vapp, "vm");
    let vms = morefs(&r, "ManagedObjectReference");
    assert_eq!(vms.len(), 2, "{r}");
    let mut vm_names = vec![];
    for (kind, vm) in &vms {
        assert_eq!(kind, "VirtualMachine");
        let r = s.property("VirtualMachine", vm, "name");
        vm_names.push(element(&r, "val").unwrap().to_owned());
        let r = s.property("VirtualMachine", vm, "parentVApp");
        assert_eq!(element(&r, "val"), Some(vapp.as_str()), "{r}");
    }
    assert_eq!(vm_names, ["web", "db"]);
    assert_eq!(s.find("DC0/vm/vapp/web"), vms[0].1);
    let r = s.call(&format!(
        r#"<ReconfigVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">{}</_this><spec><extraConfig><key>odt.marker</key><value xsi:type="xsd:string">vapp-web</value></extraConfig></spec></ReconfigVM_Task>"#,
        vms[0].1
    ));
    assert_eq!(s.task_result(&r), ("success".to_owned(), None));
    let r = s.property("VirtualMachine", &vms[0].1, "config.extraConfig");
    assert!(
        r.contains("<key>odt.marker</key>") && r.contains(">vapp-web</value>"),
        "{r}"
    );

    // Destroy_Task on the vApp refuses while a VM runs, then removes the vApp and its VMs.
    let destroy = format!(
        r#"<Destroy_Task xmlns="urn:vim25"><_this type="VirtualApp">{vapp}</_this></Destroy_Task>"#
    );
    let power = |m: &str| {
        let r = s.call(&format!(
            r#"<{m} xmlns="urn:vim25"><_this type="VirtualMachine">{}</_this></{m}>"#,
            vms[1].1
        ));
        assert_eq!(s.task_result(&r).0, "success", "{m}");
    };
    power("PowerOnVM_Task");
    let r = s.call(&destroy);
    assert_eq!(
        s.task_result(&r),
        ("error".to_owned(), Some("InvalidPowerState".to_owned()))
    );
    assert_eq!(s.try_find("DC0/vm/vapp/web").as_ref(), Some(&vms[0].1));
    power("PowerOffVM_Task");
    let r = s.call(&destroy);
    assert_eq!(s.task_result(&r), ("success".to_owned(), None));
    assert_eq!(s.try_find("DC0/vm/vapp"), None);
    assert_eq!(s.try_find("DC0/vm/web"), None);
    assert_eq!(s.try_find("DC0/vm/db"), None);
    let r = s.property("ResourcePool", &pool, "vm");
    assert!(!r.contains(&vms[0].1) && !r.contains(&vms[1].1), "{r}");

    // Again, aborted this time: the lease and its child leases end; the vApp stays (as
    // vcsim leaves an aborted VM), so the client destroys it.
    let r = s.call(&import);
    let lease = element(&r, "returnval").expect("lease").to_owned();
    let info = s.property("HttpNfcLease", &lease, "info");
    let url = vc.nfc_url(element(&info, "url").unwrap());
    s.lease_call("HttpNfcLeaseAbort", &lease);
    let (status, _) = vc
        .request(
            "POST",
            url.strip_prefix(&vc.base()).unwrap(),
            &[],
            Some(b"x"),
        )
        .unwrap();
    assert_eq!(status, 404, "lease is gone after Abort");
    assert_eq!(vc.leases()[1]["state"], "aborted");
    let vapp = s.find("DC0/vm/vapp");
    let r = s.call(&format!(
        r#"<Destroy_Task xmlns="urn:vim25"><_this type="VirtualApp">{vapp}</_this></Destroy_Task>"#
    ));
    assert_eq!(s.task_result(&r).0, "success");
    assert_eq!(s.try_find("DC0/vm/vapp/db"), None);
}

/// The per-stream bandwidth knob (tests/vcsim/rate.go) holds an upload to its rate, so the
/// import benchmark can model a real host's NFC service. A lower bound only: pacing sleeps.
#[test]
fn nfc_uploads_are_paced_to_the_stream_rate() {
    let Some(vc) = Vcsim::start_or_skip(false) else {
        return;
    };
    let s = Session::login(&vc);
    let data: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 94 + 33) as u8).collect();
    vc.set_nfc_stream_rate(2).unwrap();
    let (lease, url) = s.import("paced");
    let path = url.strip_prefix(&vc.base()).unwrap();
    let started = std::time::Instant::now();
    let (status, body) = vc
        .request(
            "POST",
            path,
            &["Content-Type: application/x-vnd.vmware-streamVmdk".to_owned()],
            Some(&data),
        )
        .unwrap();
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    assert!(
        took >= std::time::Duration::from_millis(400),
        "1 MiB at 2 MiB/s took {took:?}"
    );
    s.lease_call("HttpNfcLeaseComplete", &lease);
    assert_eq!(vc.uploads().pop().unwrap().bytes, 1 << 20);
    vc.set_nfc_stream_rate(0).unwrap();
}
