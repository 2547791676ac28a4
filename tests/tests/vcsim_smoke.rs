//! The vCenter simulator (`odt-vcsim`, scripts/vcsim/) starts over http and https, answers
//! raw SOAP, captures NFC uploads into its index, injects upload failures on request, and
//! stops when its handle is dropped.

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
        } else {
            assert_eq!(vc.thumbprint, "");
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
        let pool = self.find("DC0/host/DC0_C0/Resources");
        let ds = self.find("DC0/datastore/LocalDS_0");
        let folder = self.find("DC0/vm");
        let r = self.call(&format!(
            r#"<CreateImportSpec xmlns="urn:vim25"><_this type="OvfManager">OvfManager</_this><ovfDescriptor>{}</ovfDescriptor><resourcePool type="ResourcePool">{pool}</resourcePool><datastore type="Datastore">{}</datastore><cisp><locale>US</locale><deploymentOption></deploymentOption><entityName>{name}</entityName><diskProvisioning>thin</diskProvisioning></cisp></CreateImportSpec>"#,
            xml_escape(TINY_OVF),
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
