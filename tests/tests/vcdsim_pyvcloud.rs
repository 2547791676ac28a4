//! The real vCD client library, pyvcloud (from PyPI, in a venv that tests/pyvcloud/run.sh
//! makes and caches under target/), against the simulator: login as a system
//! administrator (pyvcloud negotiates API 36.0 and logs in at
//! /cloudapi/1.0.0/sessions/provider, then reads /api/session), list orgs, an org's VDCs
//! and catalogs and catalog items, a VDC's resources and networks, read an imported vApp and
//! its VM's NICs, then connect the vApp to an org VDC network and move the NIC onto it with
//! pyvcloud's own request bodies, and log out.
//!
//! The vApp is imported first over raw HTTP, from a VM made in odt-vcsim on "VM Network"
//! (or, where vcsim cannot be built, from the seed's stand-in VMs). The test is skipped
//! loudly only when pip cannot reach the package index (a failure under
//! ODT_REQUIRE_ALL_TESTS=1).

use std::process::Command;
use std::time::{Duration, Instant};

use odt_tests::vcdsim::testing::{import_template_body, import_vapp_body, Api};
use odt_tests::vcdsim::{Seed, VcdOptions, VcdSim, VcsimLink};
use odt_tests::vcsim::Vcsim;
use odt_vmware::vsphere::{wait_task, Client, MoRef, TlsMode};

const T_IMPORT_VAPP: &str = "application/vnd.vmware.admin.importVmAsVAppParams+xml";
const T_IMPORT_TEMPLATE: &str = "application/vnd.vmware.admin.importVmAsVAppTemplateParams+xml";

/// A powered-off VM with one VMXNET3 NIC on "VM Network"; returns its moref.
fn create_vm(vc: &Vcsim, name: &str) -> String {
    let c = Client::connect(&vc.url, "user", "pass", TlsMode::Insecure).expect("connect to vcsim");
    let folder = c.find_by_inventory_path("DC0/vm").unwrap().expect("DC0/vm");
    let pool = c
        .find_by_inventory_path("DC0/host/DC0_C0/Resources")
        .unwrap()
        .expect("resource pool");
    let body = format!(
        "<config><name>{name}</name><guestId>otherGuest64</guestId><files><vmPathName>\
         [LocalDS_0]</vmPathName></files><numCPUs>1</numCPUs><memoryMB>32</memoryMB>\
         <deviceChange><operation>add</operation><device xsi:type=\"VirtualVmxnet3\"><key>-1</key>\
         <backing xsi:type=\"VirtualEthernetCardNetworkBackingInfo\"><deviceName>VM Network\
         </deviceName></backing><connectable><startConnected>true</startConnected>\
         <allowGuestControl>true</allowGuestControl><connected>false</connected></connectable>\
         <addressType>generated</addressType></device></deviceChange></config>{}",
        pool.to_xml("pool")
    );
    let resp = c
        .call("CreateVM_Task", &folder, &body)
        .expect("CreateVM_Task");
    let task = MoRef::from_element(resp.child("returnval").unwrap()).unwrap();
    let r = wait_task(&c, &task, Duration::from_secs(30)).expect("CreateVM_Task ends");
    r.expect("result").text_trim().to_owned()
}

#[test]
fn pyvcloud_reads_what_the_simulator_serves() {
    let started = Instant::now();
    // vcsim behind the registered vCenter when this machine has it.
    let (vc, vapp_moref, template_moref) = match odt_tests::vcsim::available() {
        Ok(()) => {
            let vc = Vcsim::start(false).unwrap_or_else(|e| panic!("starting odt-vcsim: {e}"));
            let a = create_vm(&vc, "py-app-vm");
            let t = create_vm(&vc, "py-template-vm");
            (Some(vc), a, t)
        }
        Err(why) => {
            eprintln!("note: odt-vcsim unavailable ({why}); importing the seed's stand-in VMs");
            (None, "vm-1001".to_owned(), "vm-1002".to_owned())
        }
    };
    let mut opts = VcdOptions::new(Seed::default_seed());
    opts.vcsim = vc.as_ref().map(|vc| VcsimLink {
        url: vc.url.clone(),
        user: "user".into(),
        password: "pass".into(),
    });
    let sim = VcdSim::start(opts).expect("start vcd-sim");

    // Import a vApp and a catalog template over raw HTTP and wait for both.
    let mut api = Api::new(&sim.url);
    api.login("administrator@System", "vmware").expect(200);
    let vs = sim.vimserver_href().unwrap();
    let vdc = sim.vdc_href("acme", "acme-vdc").unwrap();
    let cat = sim.catalog_href("acme", "acme-catalog").unwrap();
    let r = api
        .post(
            &format!("{vs}/importVmAsVApp"),
            T_IMPORT_VAPP,
            &import_vapp_body("py-app", &vapp_moref, &vdc, true, None),
        )
        .expect(201);
    let th = r.first("Task").unwrap().attr("href").unwrap().to_owned();
    assert_eq!(api.wait_task(&th, 10).1.last().unwrap(), "success");
    let r = api
        .post(
            &format!("{vs}/importVmAsVAppTemplate"),
            T_IMPORT_TEMPLATE,
            &import_template_body("py-template", &template_moref, &vdc, Some(&cat)),
        )
        .expect(201);
    let th = r.first("Task").unwrap().attr("href").unwrap().to_owned();
    assert_eq!(api.wait_task(&th, 10).1.last().unwrap(), "success");
    let app = sim.vapp("py-app").unwrap();
    let vm = app.vms[0].clone();
    let requests_before = sim.requests().len();

    let script = odt_tests::workspace().join("tests/pyvcloud/run.sh");
    let out = Command::new("bash")
        .arg(&script)
        .args([
            "--url",
            &sim.url,
            "--user",
            "administrator",
            "--org",
            "System",
            "--password",
            "vmware",
        ])
        .args([
            "--tenant", "acme", "--vdc", "acme-vdc", "--vapp", "py-app", "--vm", &vm.name,
        ])
        .args(["--catalog", "acme-catalog", "--rewire", "acme-net"])
        .current_dir(odt_tests::workspace())
        .output()
        .expect("run tests/pyvcloud/run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {}
        Some(3) => {
            odt_tests::skip(&format!(
                "pip cannot reach the package index to install pyvcloud: {}",
                stderr.trim()
            ));
            return;
        }
        _ => panic!(
            "pyvcloud check failed ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        ),
    }
    let j: serde_json::Value = serde_json::from_str(stdout.trim().lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("check.py printed no JSON ({e}):\n{stdout}\n{stderr}"));
    let strs = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("not a list: {v}"))
            .iter()
            .map(|s| s.as_str().unwrap_or_default().to_owned())
            .collect()
    };

    // Login: the version pyvcloud negotiated, the endpoint it chose, the System org.
    assert_eq!(j["api_version"], "36.0");
    assert_eq!(j["is_sysadmin"], true);
    let reqs = sim.requests();
    let py: Vec<_> = reqs[requests_before..].to_vec();
    assert!(
        py.iter().any(|r| r.method == "POST"
            && r.path == "/cloudapi/1.0.0/sessions/provider"
            && r.status == 200),
        "{py:#?}"
    );
    assert!(py
        .iter()
        .any(|r| r.method == "GET" && r.path == "/api/session" && r.status == 200));
    assert!(
        py.iter().all(|r| r.status < 400),
        "pyvcloud got errors: {:#?}",
        py.iter().filter(|r| r.status >= 400).collect::<Vec<_>>()
    );

    // Listing.
    assert_eq!(strs(&j["orgs"]), ["System", "acme", "globex"]);
    assert_eq!(strs(&j["vdcs"]), ["acme-vdc", "acme-vdc-2"]);
    // As a system administrator pyvcloud's list_catalogs queries adminCatalog across orgs.
    assert_eq!(strs(&j["catalogs"]), ["acme-catalog", "globex-catalog"]);
    assert_eq!(strs(&j["catalog_items"]), ["py-template"]);
    let res: Vec<(String, String)> = j["vdc_resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_owned(),
                p[1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        res.contains(&(
            "py-app".into(),
            "application/vnd.vmware.vcloud.vApp+xml".into()
        )),
        "{res:?}"
    );
    assert!(
        res.contains(&(
            "py-template".into(),
            "application/vnd.vmware.vcloud.vAppTemplate+xml".into()
        )),
        "{res:?}"
    );
    assert_eq!(strs(&j["networks"]), ["acme-isolated", "acme-net"]);

    // The vApp and its VM's NICs as pyvcloud reads them.
    assert_eq!(j["vapp"]["name"], "py-app");
    assert_eq!(j["vapp"]["status"], "8");
    assert_eq!(j["vapp"]["href"], app.href.as_str());
    let nics = j["nics"].as_array().unwrap();
    assert_eq!(nics.len(), vm.nics.len());
    let n0 = &nics[0];
    assert_eq!(n0["index"], 0);
    assert_eq!(n0["network"], "VM Network");
    assert_eq!(n0["connected"], "true");
    assert_eq!(n0["primary"], true);
    assert_eq!(n0["ip_address_mode"], "DHCP");
    assert_eq!(n0["adapter_type"], vm.nics[0].adapter.as_str());
    assert_eq!(n0["mac_address"], vm.nics[0].mac.as_str());

    // After pyvcloud's own NetworkConfigSection PUT and a NetworkConnectionSection PUT.
    assert_eq!(strs(&j["vapp_networks"]), ["VM Network", "acme-net"]);
    let after = &j["nics_after"][0];
    assert_eq!(after["network"], "acme-net");
    assert_eq!(after["ip_address_mode"], "POOL");
    assert_eq!(after["ip_address"], "192.168.10.100");
    assert_eq!(after["mac_address"], vm.nics[0].mac.as_str());
    let app = sim.vapp("py-app").unwrap();
    assert_eq!(app.networks[1].parent.as_deref(), Some("acme-net"));
    assert_eq!(app.vms[0].nics[0].network, "acme-net");
    assert!(py.iter().any(|r| r.method == "PUT"
        && r.path.ends_with("/networkConfigSection/")
        && r.status == 202));
    assert!(py.iter().any(|r| r.method == "PUT"
        && r.path.ends_with("/networkConnectionSection/")
        && r.status == 202));
    assert_eq!(j["logged_out"], true);
    assert!(py
        .iter()
        .any(|r| r.method == "DELETE" && r.path.starts_with("/api/session") && r.status == 204));
    eprintln!("pyvcloud test took {:?}", started.elapsed());
}
