"""A tiny raw vSphere SOAP client for the benchmarks: the calls a no-SDK client makes (as
tests/vcsim/smoke.sh does with curl), so odt's own client can be timed against them.

Usage: soap.py URL COMMAND [ARGS]
   login                  log in with ODT_VCENTER_USER / ODT_VCENTER_PASSWORD (do this first)
   logout
   import NAME OVF        -> "LEASE UPLOAD_URL" (an import lease of OVF as NAME, ready)
   export NAME            -> "LEASE DOWNLOAD_URL SIZE" (an export lease of DC0/vm/NAME, ready)
   manifest LEASE         -> "SHA1 SIZE" of the lease's first disk
   complete LEASE
   abort LEASE
   destroy NAME           -> "destroyed MOREF" or "absent"

Leases belong to the session that made them, so one session serves a whole bench: its cookie
is kept in the file named by ODT_SOAP_COOKIES (required). The inventory paths are vcsim's
defaults (DC0, DC0_C0, LocalDS_0); every OVF network is mapped to "VM Network".
"""
import html
import http.cookiejar
import os
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

V, XSI = "urn:vim25", "http://www.w3.org/2001/XMLSchema-instance"
NS = {"v": V}
HTTP_TIMEOUT = 600
LEASE_TIMEOUT = 300

if len(sys.argv) < 3:
    sys.exit(__doc__)
url = sys.argv[1]
base = url[: -len("/sdk")] if url.endswith("/sdk") else url
cookies = os.environ.get("ODT_SOAP_COOKIES")
if not cookies:
    sys.exit("soap.py: set ODT_SOAP_COOKIES to the file that keeps the session cookie")
JAR = http.cookiejar.MozillaCookieJar(cookies)
if os.path.exists(JAR.filename):
    JAR.load(ignore_discard=True, ignore_expires=True)
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(JAR))


def soap(body):
    env = ('<?xml version="1.0" encoding="UTF-8"?>\n<soapenv:Envelope '
           'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
           'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
           'xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soapenv:Body>%s</soapenv:Body></soapenv:Envelope>' % body)
    req = urllib.request.Request(url, env.encode(), {
        "Content-Type": 'text/xml; charset="utf-8"', "SOAPAction": "urn:vim25/6.5"})
    try:
        with opener.open(req, timeout=HTTP_TIMEOUT) as r:
            data = r.read()
    except urllib.error.HTTPError as e:
        data = e.read()
        try:
            fs = ET.fromstring(data).find(".//faultstring")
            msg = fs.text if fs is not None else data[:400]
        except ET.ParseError:
            msg = data[:400]
        sys.exit("soap.py: %s: HTTP %d: %s" % (body.split(" ", 1)[0][1:], e.code, msg))
    return ET.fromstring(data)


def text(root, path):
    e = root.find(path, NS)
    return "" if e is None else (e.text or "")


def find(path):
    """(type, moref) of the inventory object at path, or None."""
    r = soap('<FindByInventoryPath xmlns="urn:vim25"><_this type="SearchIndex">SearchIndex</_this>'
             '<inventoryPath>%s</inventoryPath></FindByInventoryPath>' % html.escape(path))
    e = r.find(".//v:returnval", NS)
    return None if e is None else (e.get("type"), e.text)


def must(path):
    f = find(path)
    if f is None:
        sys.exit("soap.py: %s not found" % path)
    return f[1]


def props(kind, moref, *paths):
    return soap('<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this>'
                '<specSet><propSet><type>%s</type>%s</propSet><objectSet><obj type="%s">%s</obj></objectSet></specSet>'
                '<options></options></RetrievePropertiesEx>'
                % (kind, "".join("<pathSet>%s</pathSet>" % p for p in paths), kind, html.escape(moref)))


def prop(root, name):
    for ps in root.iter("{%s}propSet" % V):
        if text(ps, "v:name") == name:
            return ps.find("v:val", NS)
    return None


def prop_text(root, name):
    e = prop(root, name)
    return "" if e is None else (e.text or "")


def wait_ready(lid):
    """Waits for the lease to be ready; returns its info element."""
    deadline = time.time() + LEASE_TIMEOUT
    while True:
        r = props("HttpNfcLease", lid, "state", "info")
        st = prop_text(r, "state")
        if st == "ready":
            return prop(r, "info")
        if st == "error" or time.time() > deadline:
            sys.exit("soap.py: lease %s is %r" % (lid, st or "not ready"))
        time.sleep(0.05)


def here(u):
    """'https://*/nfc/...' -> the same path on this server."""
    return base + "/" + u.split("://", 1)[1].split("/", 1)[1]


def import_vm(name, ovf):
    pool = must("DC0/host/DC0_C0/Resources")
    ds = must("DC0/datastore/LocalDS_0")
    folder = must("DC0/vm")
    net = must("DC0/network/VM Network")
    desc = html.escape(open(ovf, encoding="utf-8").read(), quote=False)
    nets = "".join(
        '<networkMapping><name>%s</name><network type="Network">%s</network></networkMapping>'
        % (html.escape(n), net) for n in ovf_networks(ovf))
    r = soap('<CreateImportSpec xmlns="urn:vim25"><_this type="OvfManager">OvfManager</_this>'
             '<ovfDescriptor>%s</ovfDescriptor><resourcePool type="ResourcePool">%s</resourcePool>'
             '<datastore type="Datastore">%s</datastore><cisp><locale>US</locale><deploymentOption></deploymentOption>'
             '<entityName>%s</entityName>%s<diskProvisioning>thin</diskProvisioning></cisp></CreateImportSpec>'
             % (desc, pool, ds, html.escape(name), nets))
    err = text(r, ".//v:returnval/v:error/v:localizedMessage")
    if err:
        sys.exit("soap.py: CreateImportSpec: " + err)
    spec = r.find(".//v:returnval/v:importSpec", NS)
    if spec is None:
        sys.exit("soap.py: CreateImportSpec returned no importSpec")
    ET.register_namespace("", V)
    ET.register_namespace("xsi", XSI)
    spec.tag = "{%s}spec" % V
    r = soap('<ImportVApp xmlns="urn:vim25"><_this type="ResourcePool">%s</_this>%s'
             '<folder type="Folder">%s</folder></ImportVApp>' % (pool, ET.tostring(spec, encoding="unicode"), folder))
    lid = text(r, ".//v:returnval")
    if not lid:
        sys.exit("soap.py: ImportVApp returned no lease")
    u = text(wait_ready(lid), ".//v:deviceUrl/v:url")
    if not u:
        sys.exit("soap.py: the import lease has no deviceUrl")
    print(lid, here(u))


def ovf_networks(ovf):
    """The network names in the descriptor's NetworkSection (OVF 1.x or 2.x)."""
    names = []
    for section in ET.parse(ovf).iter():
        if section.tag.rsplit("}", 1)[-1] != "NetworkSection":
            continue
        for net in section:
            if net.tag.rsplit("}", 1)[-1] == "Network":
                names += [v for k, v in net.attrib.items() if k.rsplit("}", 1)[-1] == "name"]
    return names


def export_vm(name):
    vm = must("DC0/vm/" + name)
    r = soap('<ExportVm xmlns="urn:vim25"><_this type="VirtualMachine">%s</_this></ExportVm>' % html.escape(vm))
    lid = text(r, ".//v:returnval")
    if not lid:
        sys.exit("soap.py: ExportVm returned no lease")
    info = wait_ready(lid)
    for d in info.iterfind(".//v:deviceUrl", NS):
        if text(d, "v:disk") == "true":
            print(lid, here(text(d, "v:url")), text(d, "v:fileSize") or "?")
            return
    sys.exit("soap.py: the export lease has no disk deviceUrl")


def lease_call(method, lid, inner=""):
    return soap('<%s xmlns="urn:vim25"><_this type="HttpNfcLease">%s</_this>%s</%s>'
                % (method, html.escape(lid), inner, method))


def destroy(name):
    f = find("DC0/vm/" + name)
    if f is None:
        print("absent")
        return
    r = soap('<Destroy_Task xmlns="urn:vim25"><_this type="%s">%s</_this></Destroy_Task>' % f)
    task = text(r, ".//v:returnval")
    deadline = time.time() + LEASE_TIMEOUT
    while True:
        st = prop_text(props("Task", task, "info.state"), "info.state")
        if st == "success":
            break
        if st == "error" or time.time() > deadline:
            sys.exit("soap.py: Destroy_Task of %s: %s" % (name, st or "timed out"))
        time.sleep(0.05)
    if find("DC0/vm/" + name) is not None:
        sys.exit("soap.py: %s still exists after Destroy_Task" % name)
    print("destroyed", f[1])


def main():
    cmd, args = sys.argv[2], sys.argv[3:]
    need = {"login": 0, "logout": 0, "import": 2, "export": 1, "manifest": 1,
            "complete": 1, "abort": 1, "destroy": 1}
    if cmd not in need:
        sys.exit("soap.py: unknown command %r\n\n%s" % (cmd, __doc__))
    if len(args) != need[cmd]:
        sys.exit("soap.py: %s takes %d argument(s)\n\n%s" % (cmd, need[cmd], __doc__))
    if cmd == "login":
        soap('<Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this>'
             '<userName>%s</userName><password>%s</password></Login>'
             % (html.escape(os.environ["ODT_VCENTER_USER"]), html.escape(os.environ["ODT_VCENTER_PASSWORD"])))
        JAR.save(ignore_discard=True, ignore_expires=True)
    elif cmd == "logout":
        soap('<Logout xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this></Logout>')
    elif cmd == "import":
        import_vm(*args)
    elif cmd == "export":
        export_vm(*args)
    elif cmd == "manifest":
        r = lease_call("HttpNfcLeaseGetManifest", args[0])
        print(text(r, ".//v:returnval/v:sha1"), text(r, ".//v:returnval/v:size"))
    elif cmd == "complete":
        lease_call("HttpNfcLeaseComplete", args[0])
    elif cmd == "abort":
        lease_call("HttpNfcLeaseAbort", args[0])
    elif cmd == "destroy":
        destroy(*args)


main()
