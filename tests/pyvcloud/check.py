"""Drive a vCD endpoint with pyvcloud (the real client library) and print what it saw.

Run through tests/pyvcloud/run.sh (which makes the venv). Prints one JSON object on stdout;
exits 1 with the exception on stderr when pyvcloud fails. The Rust test
(tests/tests/vcdsim_pyvcloud.rs) compares the JSON with the simulator's state.

Steps: log in (pyvcloud negotiates the API version and picks the login endpoint), list the
orgs, the tenant org's VDCs and catalogs, the VDC's resources, read the vApp and its VM's
NICs; with --rewire also connect the vApp to an org VDC network (NetworkConfigSection PUT,
pyvcloud's own code) and move NIC 0 onto it with POOL addressing (NetworkConnectionSection
PUT, built the way pyvcloud's VM.update_nic builds it), waiting for both tasks with
pyvcloud's task monitor, then read the NICs again; then log out.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import traceback


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--org", default="System")
    p.add_argument("--password", required=True)
    p.add_argument("--tenant", required=True, help="tenant org to list")
    p.add_argument("--vdc", required=True)
    p.add_argument("--vapp", required=True)
    p.add_argument("--vm", required=True)
    p.add_argument("--catalog")
    p.add_argument("--rewire", metavar="ORG_VDC_NETWORK")
    a = p.parse_args()

    # pyvcloud writes log files into the working directory (some at import time): keep them
    # out of the caller's tree.
    logdir = tempfile.mkdtemp(prefix="pyvcloud-log.")
    os.chdir(logdir)

    from pyvcloud.vcd.client import (BasicLoginCredentials, Client, EntityType,
                                     RelationType, E)
    from pyvcloud.vcd.org import Org
    from pyvcloud.vcd.vapp import VApp
    from pyvcloud.vcd.vdc import VDC
    from pyvcloud.vcd.vm import VM

    out = {}
    client = Client(a.url, verify_ssl_certs=False,
                    log_file=os.path.join(logdir, "pyvcloud.log"),
                    log_requests=True, log_headers=False, log_bodies=True)
    try:
        client.set_credentials(BasicLoginCredentials(a.user, a.org, a.password))
        out["api_version"] = client.get_api_version()
        out["is_sysadmin"] = client.is_sysadmin()

        out["orgs"] = sorted(o.get("name") for o in client.get_org_list())

        org = Org(client, resource=client.get_org_by_name(a.tenant))
        out["vdcs"] = sorted(v["name"] for v in org.list_vdcs())
        out["catalogs"] = sorted(c["name"] for c in org.list_catalogs())
        if a.catalog:
            out["catalog_items"] = sorted(
                i["name"] for i in org.list_catalog_items(a.catalog))

        vdc = VDC(client, resource=org.get_vdc(a.vdc))
        out["vdc_resources"] = sorted(
            (r["name"], r["type"]) for r in vdc.list_resources())
        out["networks"] = sorted(
            n["name"] for n in vdc.list_orgvdc_network_records())

        vapp = VApp(client, resource=vdc.get_vapp(a.vapp))
        out["vapp"] = {"name": vapp.name, "status": vapp.resource.get("status"),
                       "href": vapp.href}
        vm = VM(client, resource=vapp.get_vm(a.vm))
        out["nics"] = vm.list_nics()

        if a.rewire:
            monitor = client.get_task_monitor()
            task = vapp.connect_org_vdc_network(a.rewire)
            monitor.wait_for_success(task, poll_frequency=0.2)
            vapp.reload()
            out["vapp_networks"] = sorted(
                nc.get("networkName")
                for nc in vapp.resource.NetworkConfigSection.NetworkConfig)

            vm = VM(client, href=vm.href)
            section = vm.get_resource().NetworkConnectionSection
            for nc in section.NetworkConnection:
                if int(nc.NetworkConnectionIndex.text) == 0:
                    nc.set("network", a.rewire)
                    nc.IsConnected = E.IsConnected(True)
                    nc.IpAddressAllocationMode = E.IpAddressAllocationMode("POOL")
            task = client.put_linked_resource(
                section, RelationType.EDIT,
                EntityType.NETWORK_CONNECTION_SECTION.value, section)
            monitor.wait_for_success(task, poll_frequency=0.2)
            vm.reload()
            out["nics_after"] = vm.list_nics()

        client.logout()
        out["logged_out"] = True
    except Exception:
        traceback.print_exc()
        log = os.path.join(logdir, "pyvcloud.log")
        if os.path.exists(log):
            with open(log) as f:
                tail = f.read()[-6000:]
            print("--- pyvcloud request log (tail):\n" + tail, file=sys.stderr)
        print(json.dumps(out, default=str))
        return 1
    print(json.dumps(out, default=str))
    os.chdir("/")
    shutil.rmtree(logdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
