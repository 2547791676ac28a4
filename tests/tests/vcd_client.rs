//! The importer's vCD client (`odt_vmware::vcd`) against the vCD simulator
//! (`odt_tests::vcdsim`), and, for the whole register flow, with the simulator backed by
//! the vCenter simulator (`odt_tests::vcsim`): logins both ways, lookups, the three imports,
//! a failing task, network wiring, power-on, an expired token and 503 retries.

use std::time::Duration;

use odt_tests::vcdsim::{Seed, VcdOptions, VcdSim, VcsimLink};
use odt_tests::vcsim::Vcsim;
use odt_vmware::vcd::{
    ApiVersion, ConnectOptions, EntityRef, IpAllocation, IpRequest, Login, LoginMethod, VcdClient,
    VcdError,
};
use odt_vmware::vsphere::TlsMode;

const USER: &str = "administrator@System";
const PASSWORD: &str = "vmware";

fn sim() -> VcdSim {
    VcdSim::start(VcdOptions::new(Seed::default_seed())).expect("start vcd-sim")
}

/// Fast polling, so tests do not wait on the production backoff.
fn fast() -> ConnectOptions {
    ConnectOptions {
        poll_interval: Duration::from_millis(20),
        max_poll_interval: Duration::from_millis(100),
        retry_backoff: Duration::from_millis(20),
        task_timeout: Duration::from_secs(60),
        ..ConnectOptions::default()
    }
}

fn connect(sim: &VcdSim) -> VcdClient {
    VcdClient::connect_with(&sim.url, USER, PASSWORD, TlsMode::Verify, fast()).expect("connect")
}

struct Target {
    org: EntityRef,
    vdc: EntityRef,
    net: EntityRef,
    catalog: EntityRef,
}

fn target(c: &VcdClient) -> Target {
    let org = c.find_org("acme").unwrap().expect("org acme");
    let vdc = c.find_vdc(&org, "acme-vdc").unwrap().expect("vdc acme-vdc");
    let net = c
        .find_org_vdc_network(&vdc, "acme-net")
        .unwrap()
        .expect("network acme-net");
    let catalog = c
        .find_catalog(&org, "acme-catalog")
        .unwrap()
        .expect("catalog acme-catalog");
    Target {
        org,
        vdc,
        net,
        catalog,
    }
}

fn requested(sim: &VcdSim, method: &str, path: &str) -> Vec<u16> {
    sim.requests()
        .into_iter()
        .filter(|r| {
            r.method == method
                && r.path.split('?').next().map(|p| p.trim_end_matches('/')) == Some(path)
        })
        .map(|r| r.status)
        .collect()
}

#[test]
fn cloudapi_login_at_the_highest_version_and_logout() {
    let sim = sim();
    let c = connect(&sim);
    assert_eq!(
        c.api_version(),
        ApiVersion {
            major: 37,
            minor: 0
        }
    );
    assert_eq!(c.login_method(), Login::CloudApi);
    assert!(c.session().org.eq_ignore_ascii_case("system"));
    assert_eq!(
        requested(&sim, "POST", "/cloudapi/1.0.0/sessions/provider"),
        [200]
    );
    assert!(requested(&sim, "POST", "/api/sessions").is_empty());
    assert_eq!(requested(&sim, "GET", "/api/session"), [200]);
    c.logout().unwrap();
    assert_eq!(
        requested(&sim, "DELETE", "/cloudapi/1.0.0/sessions/current"),
        [204]
    );
    // Logged out means logged out: no silent re-login.
    let e = c.find_org("acme").unwrap_err();
    assert_eq!(e.status(), Some(401), "{e}");
    assert_eq!(c.relogin_count(), 0);
}

#[test]
fn legacy_login_with_an_old_version_or_on_request() {
    let sim = sim();
    let old = ConnectOptions {
        api_version: Some(ApiVersion {
            major: 32,
            minor: 0,
        }),
        ..fast()
    };
    let c = VcdClient::connect_with(&sim.url, USER, PASSWORD, TlsMode::Verify, old).unwrap();
    assert_eq!(c.login_method(), Login::Legacy);
    assert_eq!(c.api_version().to_string(), "32.0");
    assert_eq!(requested(&sim, "POST", "/api/sessions"), [200]);
    // Below 35.0 the filter is double-encoded with filterEncoded=true; the lookups work.
    let t = target(&c);
    assert_eq!(t.vdc.name, "acme-vdc");
    assert!(sim
        .requests()
        .iter()
        .any(|r| r.path.contains("filterEncoded=true")));
    c.logout().unwrap();
    assert_eq!(requested(&sim, "DELETE", "/api/session"), [204]);

    let legacy = ConnectOptions {
        login: LoginMethod::Legacy,
        ..fast()
    };
    let c = VcdClient::connect_with(&sim.url, USER, PASSWORD, TlsMode::Verify, legacy).unwrap();
    assert_eq!(c.login_method(), Login::Legacy);
    assert_eq!(c.api_version().to_string(), "37.0");
    assert_eq!(requested(&sim, "POST", "/api/sessions"), [200, 200]);

    // A version the server does not offer is refused before any login.
    let bad = ConnectOptions {
        api_version: Some(ApiVersion {
            major: 30,
            minor: 0,
        }),
        ..fast()
    };
    let e = VcdClient::connect_with(&sim.url, USER, PASSWORD, TlsMode::Verify, bad).unwrap_err();
    assert!(matches!(e, VcdError::Version { .. }), "{e}");
    assert!(e.to_string().contains("33.0"), "{e}");
}

#[test]
fn bad_password_and_tenant_users_are_refused() {
    let sim = sim();
    // A bare name means name@System.
    let c = VcdClient::connect_with(&sim.url, "administrator", PASSWORD, TlsMode::Verify, fast())
        .unwrap();
    c.logout().unwrap();
    let e = VcdClient::connect_with(&sim.url, USER, "wrong", TlsMode::Verify, fast()).unwrap_err();
    assert!(matches!(e, VcdError::Login { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("administrator@System"), "{msg}");
    assert!(
        !msg.contains("wrong"),
        "the password must not be shown: {msg}"
    );
    // A tenant admin cannot use the provider login at all.
    let e = VcdClient::connect_with(
        &sim.url,
        "acme-admin@acme",
        "acme-pass",
        TlsMode::Verify,
        fast(),
    )
    .unwrap_err();
    assert!(matches!(e, VcdError::Login { .. }), "{e}");
    // Through the legacy login it gets a session, which is not a sysadmin's.
    let legacy = ConnectOptions {
        login: LoginMethod::Legacy,
        ..fast()
    };
    let e = VcdClient::connect_with(
        &sim.url,
        "acme-admin@acme",
        "acme-pass",
        TlsMode::Verify,
        legacy,
    )
    .unwrap_err();
    assert!(matches!(e, VcdError::NotSysadmin { .. }), "{e}");
}

#[test]
fn lookups() {
    let sim = sim();
    let c = connect(&sim);
    let t = target(&c);
    assert_eq!(t.org.name, "acme");
    assert_eq!(
        t.vdc.uuid,
        odt_vmware::vcd::xml::uuid_of(&sim.vdc_href("acme", "acme-vdc").unwrap()).unwrap()
    );
    assert!(odt_vmware::vcd::xml::same_entity(
        &t.net.href,
        &sim.network_href("acme", "acme-vdc", "acme-net").unwrap()
    ));
    assert!(odt_vmware::vcd::xml::same_entity(
        &t.catalog.href,
        &sim.catalog_href("acme", "acme-catalog").unwrap()
    ));
    // Names are per parent: another org's VDC, another VDC's network, missing names.
    assert!(c.find_vdc(&t.org, "globex-vdc").unwrap().is_none());
    assert!(c
        .find_org_vdc_network(&t.vdc, "acme-net-2")
        .unwrap()
        .is_none());
    assert!(c.find_org("nope").unwrap().is_none());
    assert!(c.find_catalog(&t.org, "globex-catalog").unwrap().is_none());
    let globex = c.find_org("globex").unwrap().unwrap();
    assert!(c.find_catalog(&globex, "globex-catalog").unwrap().is_some());
    assert!(!c.vapp_exists(&t.vdc, "web").unwrap());
    assert!(!c.catalog_item_exists(&t.catalog, "web").unwrap());
    // The registered vCenter.
    let vims = c.vim_servers().unwrap();
    assert_eq!(vims.len(), 1, "{vims:?}");
    assert_eq!(vims[0].name, "vc1");
    assert!(vims[0].is_enabled && vims[0].is_connected);
    let vim = c
        .find_vim_server_for("https://vcenter.example.test/sdk")
        .unwrap();
    assert_eq!(vim.href, sim.vimserver_href().unwrap());
    let e = c.find_vim_server_for("https://other-vc/sdk").unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(
        e.to_string()
            .contains("vc1 (https://vcenter.example.test:443)"),
        "{e}"
    );
}

#[test]
fn import_as_vapp_wire_and_power_on() {
    let sim = sim();
    let c = connect(&sim);
    let t = target(&c);
    let vim = c.find_vim_server_for("vcenter.example.test").unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let s2 = seen.clone();
    c.set_task_progress(Some(std::sync::Arc::new(
        move |t: &odt_vmware::vcd::Task| {
            s2.lock()
                .unwrap()
                .push(format!("{} {}", t.operation_name, t.status));
        },
    )));
    let vapp = c
        .import_vm_as_vapp(&vim, "vm-1001", &t.vdc, "web", false)
        .unwrap();
    assert_eq!(vapp.name, "web");
    assert!(vapp.href.contains("/api/vApp/vapp-"), "{}", vapp.href);
    assert!(
        seen.lock().unwrap().iter().any(|s| s.ends_with("success")),
        "{seen:?}"
    );
    let view = sim.vapp("web").expect("the sim has the vApp");
    assert_eq!(view.vdc, "acme-vdc");
    assert_eq!(view.status, 8, "powered off after the import");
    assert_eq!(view.vms.len(), 1);
    assert_eq!(view.vms[0].moref, "vm-1001");
    assert!(!view.vms[0].source_move);
    assert!(c.vapp_exists(&t.vdc, "web").unwrap());

    // The same name again: vCD's DUPLICATE_NAME, kept as the minor code.
    let e = c
        .import_vm_as_vapp(&vim, "vm-1002", &t.vdc, "web", false)
        .unwrap_err();
    assert_eq!(e.minor_code(), Some("DUPLICATE_NAME"), "{e}");

    // Wiring: a bridged vApp network to acme-net, and every NIC on it.
    let before = c.get_vapp(&vapp.href).unwrap();
    let mac = before.vms[0].nics[0].mac.clone();
    let changed = c
        .wire_vapp_to_org_network(&vapp.href, &t.net, &IpRequest::Pool, &[])
        .unwrap();
    assert_eq!(changed, ["seed-vm-1"]);
    let view = sim.vapp("web").unwrap();
    let net = view
        .networks
        .iter()
        .find(|n| n.name == "acme-net")
        .unwrap_or_else(|| panic!("no acme-net vApp network: {:?}", view.networks));
    assert_eq!(net.parent.as_deref(), Some("acme-net"));
    assert_eq!(net.fence_mode, "bridged");
    assert!(
        view.networks.iter().any(|n| n.name == "VM Network"),
        "the imported vApp network is kept: {:?}",
        view.networks
    );
    let nic = &view.vms[0].nics[0];
    assert_eq!(nic.network, "acme-net");
    assert!(nic.connected);
    assert_eq!(nic.mode, "POOL");
    assert_eq!(nic.mac, mac);
    assert_eq!(view.vms[0].primary, Some(nic.index));
    let info = c.get_vapp(&vapp.href).unwrap();
    assert_eq!(info.vms[0].nics[0].network, "acme-net");
    assert!(info.networks.contains(&"acme-net".to_owned()));
    // Idempotent: nothing is sent the second time.
    let puts = sim.requests().iter().filter(|r| r.method == "PUT").count();
    assert!(c
        .connect_vapp_to_org_network(&vapp.href, &t.net)
        .is_ok_and(|c| !c));
    assert!(c
        .wire_vapp_to_org_network(&vapp.href, &t.net, &IpRequest::Pool, &[])
        .unwrap()
        .is_empty());
    assert_eq!(
        sim.requests().iter().filter(|r| r.method == "PUT").count(),
        puts
    );

    assert!(c.power_on(&vapp.href).unwrap());
    assert_eq!(sim.vapp("web").unwrap().status, 4);
    assert!(!c.power_on(&vapp.href).unwrap(), "already on");
    assert_eq!(c.get_vapp(&vapp.href).unwrap().status_name(), "POWERED_ON");
}

#[test]
fn manual_address_and_import_into_an_existing_vapp() {
    let sim = sim();
    let c = connect(&sim);
    let t = target(&c);
    let vim = c
        .find_vim_server_for("https://vcenter.example.test:443")
        .unwrap();
    let vapp = c
        .import_vm_as_vapp(&vim, "vm-1001", &t.vdc, "app", true)
        .unwrap();
    assert!(sim.vapp("app").unwrap().vms[0].source_move);
    let vm = c
        .import_vm_into_existing_vapp(&vim, "vm-1002", &vapp.href, "second", true)
        .unwrap();
    assert_eq!(vm.name, "second");
    let view = sim.vapp("app").unwrap();
    assert_eq!(view.vms.len(), 2, "{:?}", view.vms);
    c.connect_vapp_to_org_network(&vapp.href, &t.net).unwrap();
    assert!(c
        .connect_vm_nics(
            &vm.href,
            "acme-net",
            &[IpAllocation::Manual("192.168.10.150".into())]
        )
        .unwrap());
    let view = sim.vapp("app").unwrap();
    let second = view.vms.iter().find(|v| v.name == "second").unwrap();
    assert_eq!(second.nics[0].mode, "MANUAL");
    assert_eq!(second.nics[0].ip.as_deref(), Some("192.168.10.150"));
    // A NIC cannot name a network the vApp does not have: vCD's error comes through.
    let e = c
        .connect_vm_nics(&vm.href, "acme-isolated", &[IpAllocation::Dhcp])
        .unwrap_err();
    assert_eq!(e.status(), Some(400), "{e}");
}

/// A seed whose acme-net has a static pool of `pool` addresses, the first `held` of them
/// allocated by something else.
fn small_pool_sim(pool: &str, held: &[&str]) -> VcdSim {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/vcd-seed.toml"))
        .unwrap()
        .replace(
            "\npool = \"192.168.10.100-192.168.10.199\"\n",
            &format!("\npool = \"{pool}\"\nallocated = {held:?}\n"),
        );
    VcdSim::start(VcdOptions::new(Seed::parse(&text).unwrap())).expect("start vcd-sim")
}

/// The pool, its allocated addresses and their exhaustion, as `plan` reads them and as vCD
/// fails a NIC asking POOL on a full pool.
#[test]
fn allocated_addresses_and_an_exhausted_pool() {
    let sim = small_pool_sim("192.168.10.100-192.168.10.101", &["192.168.10.100"]);
    let c = connect(&sim);
    let t = target(&c);
    let ips = c.network_ips(&t.net).unwrap();
    assert_eq!(ips.ranges.len(), 1);
    assert_eq!(
        ips.allocated,
        ["192.168.10.100".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    assert_eq!(ips.free_in_pool(), 1);
    let vim = c
        .find_vim_server_for("https://vcenter.example.test:443")
        .unwrap();
    let one = c
        .import_vm_as_vapp(&vim, "vm-1001", &t.vdc, "one", true)
        .unwrap();
    c.wire_vapp_to_org_network(&one.href, &t.net, &IpRequest::Pool, &[])
        .unwrap();
    let nic = &sim.vapp("one").unwrap().vms[0].nics[0];
    assert_eq!(
        (nic.mode.as_str(), nic.ip.as_deref()),
        ("POOL", Some("192.168.10.101"))
    );
    let ips = c.network_ips(&t.net).unwrap();
    assert_eq!(ips.allocated.len(), 2, "{ips:?}");
    assert_eq!(ips.free_in_pool(), 0);
    // The second VM's NIC finds the pool full: the task fails with vCD's words.
    let two = c
        .import_vm_as_vapp(&vim, "vm-1002", &t.vdc, "two", true)
        .unwrap();
    let e = c
        .wire_vapp_to_org_network(&two.href, &t.net, &IpRequest::Pool, &[])
        .unwrap_err();
    assert!(e.to_string().contains("insufficient IP addresses"), "{e}");
    assert_ne!(sim.vapp("two").unwrap().vms[0].nics[0].network, "acme-net");
    // MANUAL outside the subnet is refused by vCD; DHCP needs no pool.
    let e = c
        .wire_vapp_to_org_network(
            &two.href,
            &t.net,
            &IpRequest::Manual(vec!["10.9.9.9".into()]),
            &[],
        )
        .unwrap_err();
    assert!(e.to_string().contains("is invalid"), "{e}");
    let e = c
        .wire_vapp_to_org_network(
            &two.href,
            &t.net,
            &IpRequest::Manual(vec!["192.168.10.5".into(), "192.168.10.6".into()]),
            &[],
        )
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("2 MANUAL address(es) but its VMs have 1 NIC"),
        "{e}"
    );
    c.wire_vapp_to_org_network(&two.href, &t.net, &IpRequest::Dhcp, &[])
        .unwrap();
    let nic = &sim.vapp("two").unwrap().vms[0].nics[0];
    assert_eq!((nic.mode.as_str(), nic.ip.as_deref()), ("DHCP", None));
}

/// Converting the imported vApp network in place to bridged (an org network of the same
/// name): vCD refuses a bridged network that keeps its isolated IpScopes; the client sends a
/// clean one (ParentNetwork, FenceMode, as pyvcloud).
#[test]
fn a_vapp_network_converted_to_bridged_is_clean() {
    let sim = sim();
    let c = connect(&sim);
    let t = target(&c);
    let vim = c
        .find_vim_server_for("https://vcenter.example.test:443")
        .unwrap();
    let vapp = c
        .import_vm_as_vapp(&vim, "vm-1001", &t.vdc, "conv", true)
        .unwrap();
    // What the client sent before: the isolated "VM Network" with FenceMode bridged and its
    // own IpScopes kept. The simulator refuses it as vCD's validation does.
    let sec_url = format!("{}/networkConfigSection/", vapp.href.trim_end_matches('/'));
    let mut api = odt_tests::vcdsim::testing::Api::new(&sim.url);
    api.login(USER, PASSWORD).expect(200);
    let old = api.get(&sec_url).expect(200).body;
    let stale = old.replace(
        "<FenceMode>isolated</FenceMode>",
        &format!(
            "<ParentNetwork href=\"{}\"/><FenceMode>bridged</FenceMode>",
            t.net.href
        ),
    );
    assert_ne!(stale, old);
    let r = api.put(
        &sec_url,
        "application/vnd.vmware.vcloud.networkConfigSection+xml",
        &stale,
    );
    r.expect_error(400, "BAD_REQUEST", "cannot have IpScopes");
    // The client's conversion is accepted and leaves a clean bridged network.
    let same_name = EntityRef {
        name: "VM Network".into(),
        ..t.net.clone()
    };
    assert!(c
        .connect_vapp_to_org_network(&vapp.href, &same_name)
        .unwrap());
    let view = sim.vapp("conv").unwrap();
    let net = view
        .networks
        .iter()
        .find(|n| n.name == "VM Network")
        .unwrap();
    assert_eq!(net.fence_mode, "bridged");
    assert_eq!(net.parent.as_deref(), Some("acme-net"));
    let statuses: Vec<u16> = sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.contains("networkConfigSection"))
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses,
        [400, 202],
        "the stale body refused, the clean one taken"
    );
}

#[test]
fn import_as_template_into_a_catalog() {
    let sim = sim();
    let c = connect(&sim);
    let t = target(&c);
    let vim = c.find_vim_server_for("vcenter.example.test").unwrap();
    let tpl = c
        .import_vm_as_vapp_template(&vim, "vm-1001", &t.vdc, Some(&t.catalog), "golden", false)
        .unwrap();
    assert!(
        tpl.href.contains("/api/vAppTemplate/vappTemplate-"),
        "{}",
        tpl.href
    );
    let view = sim
        .templates()
        .into_iter()
        .find(|x| x.name == "golden")
        .expect("template in the sim");
    assert_eq!(view.catalog.as_deref(), Some("acme-catalog"));
    assert!(sim
        .catalog_items()
        .iter()
        .any(|i| i.name == "golden" && i.catalog == "acme-catalog"));
    assert!(c.catalog_item_exists(&t.catalog, "golden").unwrap());
    let info = c.get_vapp_template(&tpl.href).unwrap();
    assert_eq!(info.name, "golden");
    assert_eq!(info.vms.len(), 1);
    assert_eq!(info.vms[0].nics.len(), 1);
}

#[test]
fn a_failed_task_is_a_clear_error() {
    let sim = sim();
    let c = connect(&sim);
    let t = target(&c);
    let vim = c.find_vim_server_for("vcenter.example.test").unwrap();
    sim.fail_next_task("any", "The datastore is full (injected).");
    let e = c
        .import_vm_as_vapp(&vim, "vm-1001", &t.vdc, "doomed", false)
        .unwrap_err();
    let VcdError::Task(te) = &e else {
        panic!("not a task error: {e}")
    };
    assert_eq!(te.status, "error");
    assert!(te.message.contains("The datastore is full"), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("/api/task/"), "{msg}");
    // What a failed import made stays, in FAILED_CREATION, as vCD leaves it (vcd-api.md §11);
    // the client can see it and delete it.
    let left = sim.vapp("doomed").expect("the failed import's vApp");
    assert_eq!(left.status, -1);
    assert!(c.vapp_exists(&t.vdc, "doomed").unwrap());
    let info = c.settle_vapp(&left.href).unwrap();
    assert_eq!(info.status, odt_vmware::vcd::FAILED_CREATION);
    c.delete_vapp(&left.href).unwrap();
    assert!(sim.vapp("doomed").is_none());
    assert!(!c.vapp_exists(&t.vdc, "doomed").unwrap());

    // A task that never ends: the wait gives up naming it.
    sim.slow_tasks(1000);
    let mut short = fast();
    short.task_timeout = Duration::from_millis(300);
    let mut c2 = VcdClient::connect_with(&sim.url, USER, PASSWORD, TlsMode::Verify, short).unwrap();
    c2.set_task_timeout(Duration::from_millis(300));
    let e = c2
        .import_vm_as_vapp(&vim, "vm-1001", &t.vdc, "slow", false)
        .unwrap_err();
    assert!(matches!(e, VcdError::TaskTimeout { .. }), "{e}");
    assert!(e.to_string().contains("/api/task/"), "{e}");
    sim.reset_faults();
    sim.finish_all_tasks();
}

#[test]
fn expired_token_means_one_relogin() {
    let sim = sim();
    let c = connect(&sim);
    let t = target(&c);
    sim.expire_tokens();
    assert!(c.find_vdc(&t.org, "acme-vdc").unwrap().is_some());
    assert_eq!(c.relogin_count(), 1);
    assert_eq!(
        requested(&sim, "POST", "/cloudapi/1.0.0/sessions/provider"),
        [200, 200]
    );
    // A POST that met the expired token is sent again after the login.
    sim.expire_tokens();
    let vim = c.find_vim_server_for("vcenter.example.test").unwrap();
    sim.expire_tokens();
    c.import_vm_as_vapp(&vim, "vm-1001", &t.vdc, "after-expiry", false)
        .unwrap();
    assert!(sim.vapp("after-expiry").is_some());
    assert_eq!(c.relogin_count(), 3);
    // Logging out of an expired session is fine, and does not log in first.
    sim.expire_tokens();
    c.logout().unwrap();
    assert_eq!(c.relogin_count(), 3);
    assert_eq!(
        requested(&sim, "POST", "/cloudapi/1.0.0/sessions/provider").len(),
        4
    );
}

#[test]
fn gets_are_retried_on_503() {
    let sim = sim();
    let c = connect(&sim);
    sim.respond_503_next(2);
    assert!(c.find_org("acme").unwrap().is_some());
    let statuses: Vec<u16> = sim
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/query"))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [503, 503, 200]);
    // More 503s than retries: the error says 503.
    sim.respond_503_next(10);
    let e = c.find_org("acme").unwrap_err();
    assert_eq!(e.status(), Some(503), "{e}");
    sim.reset_faults();
    // A POST is not resent on 503.
    let t = target(&c);
    let vim = c.find_vim_server_for("vcenter.example.test").unwrap();
    sim.respond_503_next(1);
    let e = c
        .import_vm_as_vapp(&vim, "vm-1001", &t.vdc, "once", false)
        .unwrap_err();
    assert_eq!(e.status(), Some(503), "{e}");
}

/// The whole register flow with the simulator backed by vcsim: vCD reads the VM's NICs
/// from vCenter, the vimServer is found by the URL the importer used for vCenter.
#[test]
fn register_a_vcsim_vm() {
    let Some(vc) = Vcsim::start_or_skip(false) else {
        return;
    };
    let client = odt_vmware::vsphere::Client::connect(&vc.url, "user", "pass", TlsMode::Verify)
        .expect("vcsim login");
    let root = client.service_content().root_folder.clone();
    let vm = odt_vmware::vsphere::find_vm(&client, &root, "DC0_H0_VM0")
        .expect("find_vm")
        .expect("vcsim's DC0_H0_VM0");
    let mut seed = Seed::default_seed();
    seed.vcenter.url = vc.url.trim_end_matches("/sdk").to_owned();
    let mut opts = VcdOptions::new(seed);
    opts.vcsim = Some(VcsimLink {
        url: vc.url.clone(),
        user: "user".into(),
        password: "pass".into(),
    });
    let sim = VcdSim::start(opts).expect("start vcd-sim");
    let c = connect(&sim);
    let t = target(&c);
    let vim = c.find_vim_server_for(&vc.url).unwrap();
    let vapp = c
        .import_vm_as_vapp(&vim, &vm.value, &t.vdc, "from-vcsim", true)
        .unwrap();
    c.wire_vapp_to_org_network(&vapp.href, &t.net, &IpRequest::Dhcp, &[])
        .unwrap();
    c.power_on(&vapp.href).unwrap();
    let view = sim.vapp("from-vcsim").unwrap();
    assert_eq!(view.status, 4);
    assert_eq!(view.vms[0].moref, vm.value);
    assert!(!view.vms[0].nics.is_empty());
    for n in &view.vms[0].nics {
        assert_eq!(n.network, "acme-net");
        assert_eq!(n.mode, "DHCP");
        assert!(n.connected);
    }
    c.logout().unwrap();
    let _ = client.logout();
}

/// TLS modes, against an https server that is not vCD (vcsim): a pinned thumbprint gets
/// through the handshake (then the server's 404 for /api/versions), an unpinned self-signed
/// certificate is refused with its thumbprints named, and a wrong pin too.
#[test]
fn tls_pinning() {
    let Some(vc) = Vcsim::start_or_skip(true) else {
        return;
    };
    let base = vc.url.trim_end_matches("/sdk").to_owned();
    let e = VcdClient::connect_with(&base, USER, PASSWORD, TlsMode::Verify, fast()).unwrap_err();
    let VcdError::Tls { sha1, .. } = &e else {
        panic!("not a TLS error: {e}")
    };
    assert_eq!(sha1, &vc.thumbprint, "{e}");
    assert!(e.to_string().contains("pin that thumbprint"), "{e}");
    let pinned = TlsMode::Thumbprint(vc.thumbprint.clone());
    let e = VcdClient::connect_with(&base, USER, PASSWORD, pinned, fast()).unwrap_err();
    assert!(e.status().is_some(), "past TLS, an HTTP answer: {e}");
    let wrong = TlsMode::Thumbprint("00".repeat(20));
    let e = VcdClient::connect_with(&base, USER, PASSWORD, wrong, fast()).unwrap_err();
    assert!(matches!(e, VcdError::Tls { .. }), "{e}");
    let e = VcdClient::connect_with(&base, USER, PASSWORD, TlsMode::Insecure, fast()).unwrap_err();
    assert!(e.status().is_some(), "{e}");
}

/// Issue 12, item 6: the caller's opaque client request id rides on every request, the login
/// included; vCD's answer to the last change is kept; an id that is no valid header value, or
/// longer than vCD takes, is refused before anything is sent.
#[test]
fn every_request_carries_the_client_request_id_and_the_last_change_is_kept() {
    let sim = sim();
    let opts = ConnectOptions {
        client_request_id: Some("odt-job-login".into()),
        ..fast()
    };
    let c = VcdClient::connect_with(&sim.url, USER, PASSWORD, TlsMode::Verify, opts).unwrap();
    let t = target(&c);
    assert_eq!(c.change_request_id(), None, "the login is no change");
    let vim = c.find_vim_server_for("vcenter.example.test").unwrap();
    c.set_client_request_id(Some("odt-job-vm-000-import"))
        .unwrap();
    c.import_vm_as_vapp(&vim, "vm-1001", &t.vdc, "web", false)
        .unwrap();
    let answered = c.change_request_id().expect("the import's request id");
    let log = sim.requests();
    assert!(log
        .iter()
        .take_while(|r| r.path.starts_with("/api/versions") || r.method == "POST")
        .all(|r| r.client_request_id.as_deref() == Some("odt-job-login")));
    let post = log
        .iter()
        .find(|r| r.request_id == answered)
        .expect("a request the simulator answered");
    assert_eq!(post.method, "POST");
    assert!(post.path.ends_with("/importVmAsVApp"), "{}", post.path);
    assert!(answered.starts_with("odt-job-vm-000-import-"), "{answered}");
    assert!(
        log.iter().all(|r| r.client_request_id.is_some()),
        "every request: {log:?}"
    );
    // Reads after the change do not replace it; a new step forgets it.
    c.get_vapp(&sim.vapp("web").unwrap().href).unwrap();
    assert_eq!(c.change_request_id().as_deref(), Some(answered.as_str()));
    c.set_client_request_id(Some("odt-job-vm-000-wire"))
        .unwrap();
    assert_eq!(c.change_request_id(), None);
    for bad in ["", "has space", "tab\t", "nl\n", "é", &"x".repeat(129)] {
        let e = c.set_client_request_id(Some(bad)).unwrap_err();
        assert!(e.to_string().contains("visible ASCII"), "{e}");
    }
    c.set_client_request_id(Some(&"x".repeat(128))).unwrap();
    let bad = ConnectOptions {
        client_request_id: Some("a b".into()),
        ..fast()
    };
    assert!(VcdClient::connect_with(&sim.url, USER, PASSWORD, TlsMode::Verify, bad).is_err());
}

/// `run --parallel` registers VMs from several threads on one client: each thread's
/// requests carry its own step's id and it gets back the request id of its own change, never
/// its neighbour's; a thread that set none sends the id given at connect.
#[test]
fn parallel_threads_on_one_client_keep_their_own_request_ids() {
    let sim = sim();
    let opts = ConnectOptions {
        client_request_id: Some("odt-job-run".into()),
        ..fast()
    };
    let c = VcdClient::connect_with(&sim.url, USER, PASSWORD, TlsMode::Verify, opts).unwrap();
    let t = target(&c);
    let vim = c.find_vim_server_for("vcenter.example.test").unwrap();
    let answered: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = [("vm-1001", "web"), ("vm-1002", "db")]
            .into_iter()
            .enumerate()
            .map(|(i, (moref, name))| {
                let (c, t, vim, sim) = (&c, &t, &vim, &sim);
                s.spawn(move || {
                    c.set_client_request_id(Some(&format!("odt-job-vm-00{i}-import")))
                        .unwrap();
                    c.import_vm_as_vapp(vim, moref, &t.vdc, name, true).unwrap();
                    // Reads between the change and the question do not blur it.
                    c.get_vapp(&sim.vapp(name).unwrap().href).unwrap();
                    c.change_request_id().expect("this thread's change")
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for (i, id) in answered.iter().enumerate() {
        assert!(id.starts_with(&format!("odt-job-vm-00{i}-import-")), "{id}");
    }
    let log = sim.requests();
    for (i, id) in answered.iter().enumerate() {
        let post = log.iter().find(|r| &r.request_id == id).expect("answered");
        assert_eq!(
            post.client_request_id.as_deref(),
            Some(format!("odt-job-vm-00{i}-import").as_str())
        );
    }
    assert_eq!(c.change_request_id(), None, "this thread changed nothing");
    c.get_vapp(&sim.vapp("web").unwrap().href).unwrap();
    let last = sim.requests().pop().unwrap();
    assert_eq!(last.client_request_id.as_deref(), Some("odt-job-run"));
}

/// Issue 12, item 4: a VDC's storage profiles with their limit and use, from the
/// `adminOrgVdcStorageProfile` query.
#[test]
fn storage_profiles_of_a_vdc_with_limits() {
    let sim = sim();
    let c = connect(&sim);
    let t = target(&c);
    let p = c.vdc_storage_profiles(&t.vdc).unwrap();
    let names: Vec<&str> = p.iter().map(|p| p.entity.name.as_str()).collect();
    assert_eq!(names, ["gold", "silver", "full"]);
    assert!(p[0].default && !p[1].default);
    assert_eq!(p[0].free_mb(), None, "gold has no limit");
    assert_eq!(p[1].free_mb(), Some(204_800 - 1024));
    assert_eq!(p[2].free_mb(), Some(0));
    assert_eq!(
        Some(p[1].entity.href.clone()),
        sim.storage_profile_href("acme", "acme-vdc", "silver")
    );
    let other = c.find_vdc(&t.org, "acme-vdc-2").unwrap().unwrap();
    let names: Vec<String> = c
        .vdc_storage_profiles(&other)
        .unwrap()
        .into_iter()
        .map(|p| p.entity.name)
        .collect();
    assert_eq!(names, ["*"]);
}
