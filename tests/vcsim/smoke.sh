#!/usr/bin/env bash
# Hand-run smoke test of odt-vcsim with nothing but curl (and python3 for XML picking), the
# same raw SOAP a no-SDK client speaks:
#
#   RetrieveServiceContent → Login → FindByInventoryPath (pool, datastore, folder, network)
#   → CreateImportSpec (sample OVF from scripts/make-sample-vm.sh) → ImportVApp → read the
#   lease's deviceUrl → HttpNfcLeaseProgress → POST the streamOptimized VMDK (rewriting the
#   "*" host and the scheme) → HttpNfcLeaseComplete → capture has the VMDK's sha256
#   → ExportVm → GET the disk back (same sha256; Range) → injected download failure
#   (POST /odt-test/fail-next-download; index.json "downloads") → HttpNfcLeaseGetManifest (sha1)
#   → HttpNfcLeaseComplete → CreateDescriptor → CreateImportSpec accepts that descriptor
#   → injected NFC failure (POST /odt-test/fail-next-upload) → HttpNfcLeaseAbort
#   → vApp (VirtualSystemCollection): CreateImportSpec → ImportVApp → one lease, two VMs'
#   disks uploaded and captured per VM → HttpNfcLeaseComplete → Destroy_Task → Logout.
#
# Usage: tests/vcsim/smoke.sh [--tls] [--keep]
#   --tls    run the simulator with https
#   --keep   keep the work folder (printed at the end)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TLS=0 KEEP=0
for a in "$@"; do
    case "$a" in
        --tls) TLS=1 ;;
        --keep) KEEP=1 ;;
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "smoke.sh: unknown argument '$a'" >&2; exit 2 ;;
    esac
done
PY=/usr/bin/python3; [[ -x $PY ]] || PY=python3

BIN=$("$ROOT/scripts/build-vcsim.sh" | tail -n1)
W=$(mktemp -d /tmp/odt-vcsim-smoke.XXXXXX)
VCPID=""
cleanup() {
    [[ -n "$VCPID" ]] && kill "$VCPID" 2>/dev/null && wait "$VCPID" 2>/dev/null
    if ((KEEP)); then echo "work folder kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
fail() { echo "smoke.sh: FAIL: $*" >&2; echo "--- simulator log:" >&2; tail -n 20 "$W/vcsim.log" >&2; exit 1; }
step() { echo "== $*"; }

step "sample VM"
"$ROOT/scripts/make-sample-vm.sh" "$W/vm" --kind single --disk-mib 2 >/dev/null
OVF="$W/vm/single/single.ovf"
VMDK="$W/vm/single/single-disk1.vmdk"

step "start odt-vcsim"
tlsflag=(); ((TLS)) && tlsflag=(-tls)
"$BIN" -capture "$W/cap" -exit-on-stdin-eof=false "${tlsflag[@]}" >"$W/vcsim.json" 2>"$W/vcsim.log" </dev/null &
VCPID=$!
for _ in $(seq 100); do [[ -s "$W/vcsim.json" ]] && break; sleep 0.1; done
[[ -s "$W/vcsim.json" ]] || fail "no JSON line from the simulator"
cat "$W/vcsim.json"
json() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$W/vcsim.json" "$1"; }
URL=$(json url) PORT=$(json port)
BASE=${URL%/sdk}            # http(s)://127.0.0.1:PORT

# soap BODY_XML: POSTs one envelope (cookie jar keeps the session); prints the reply.
soap() {
    local code
    code=$(printf '<?xml version="1.0" encoding="UTF-8"?>\n<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soapenv:Body>%s</soapenv:Body></soapenv:Envelope>' "$1" |
        curl -sS -k -o "$W/reply.xml" -w '%{http_code}' -b "$W/cookies" -c "$W/cookies" \
            -H 'Content-Type: text/xml; charset="utf-8"' -H 'SOAPAction: urn:vim25/6.5' \
            --data-binary @- "$URL") || fail "curl: SOAP call failed"
    [[ "$code" == 200 ]] || fail "HTTP $code: $(cat "$W/reply.xml")"
    cat "$W/reply.xml"
}
# returnval: the text of the reply's first <returnval>.
returnval() { sed -n 's:.*<returnval type="[^"]*">\([^<]*\)</returnval>.*:\1:p' "$W/reply.xml"; }
# pick XPATH: text of the first element matching an ElementTree path in the reply (urn:vim25 = v:).
pick() { "$PY" - "$W/reply.xml" "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
e = ET.parse(sys.argv[1]).getroot().find(sys.argv[2], {"v": "urn:vim25"})
print("" if e is None else (e.text or ""))
PY
}
esc() { "$PY" -c 'import sys,html; sys.stdout.write(html.escape(open(sys.argv[1]).read(), quote=False))' "$1"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
lease_info() {  # lease_info LEASE → reply holds HttpNfcLease state and info
    soap "<RetrievePropertiesEx xmlns=\"urn:vim25\"><_this type=\"PropertyCollector\">propertyCollector</_this><specSet><propSet><type>HttpNfcLease</type><pathSet>state</pathSet><pathSet>info</pathSet></propSet><objectSet><obj type=\"HttpNfcLease\">$1</obj></objectSet></specSet><options></options></RetrievePropertiesEx>" >/dev/null
}
nfc_url() {     # the first deviceUrl, with "*" and the scheme rewritten to this server
    local u; u=$(pick './/v:deviceUrl/v:url')
    [[ -n "$u" ]] || fail "lease has no deviceUrl: $(cat "$W/reply.xml")"
    echo "$BASE/${u#https://\*/}"
}

step "RetrieveServiceContent"
soap '<RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent>' >/dev/null
[[ $(pick './/v:about/v:apiVersion') == 6.5 ]] || fail "apiVersion is not 6.5"

step "Login"
soap '<Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this><userName>odt</userName><password>secret</password></Login>' >/dev/null
grep -q vmware_soap_session "$W/cookies" || fail "no session cookie"

find_path() {
    soap "<FindByInventoryPath xmlns=\"urn:vim25\"><_this type=\"SearchIndex\">SearchIndex</_this><inventoryPath>$1</inventoryPath></FindByInventoryPath>" >/dev/null
    local r; r=$(returnval); [[ -n "$r" ]] || fail "FindByInventoryPath $1: not found"; echo "$r"
}
POOL=$(find_path DC0/host/DC0_C0/Resources)
DS=$(find_path DC0/datastore/LocalDS_0)
FOLDER=$(find_path DC0/vm)
NET=$(find_path "DC0/network/VM Network")
echo "   pool=$POOL ds=$DS folder=$FOLDER net=$NET"

# import NAME: CreateImportSpec + ImportVApp; sets LEASE and writes the lease info reply.
import_vm() {
    local name=$1 desc=$2
    step "CreateImportSpec $name"
    soap "<CreateImportSpec xmlns=\"urn:vim25\"><_this type=\"OvfManager\">OvfManager</_this><ovfDescriptor>$(esc "$desc")</ovfDescriptor><resourcePool type=\"ResourcePool\">$POOL</resourcePool><datastore type=\"Datastore\">$DS</datastore><cisp><locale>US</locale><deploymentOption></deploymentOption><entityName>$name</entityName><networkMapping><name>corp-lan</name><network type=\"Network\">$NET</network></networkMapping><diskProvisioning>thin</diskProvisioning></cisp></CreateImportSpec>" >/dev/null
    [[ -z $(pick './/v:returnval/v:error/v:localizedMessage') ]] || fail "CreateImportSpec error: $(pick './/v:returnval/v:error/v:localizedMessage')"
    # Re-serialise importSpec as <spec xsi:type="…"> with its own namespace declarations.
    "$PY" - "$W/reply.xml" >"$W/spec.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
V, XSI = "urn:vim25", "http://www.w3.org/2001/XMLSchema-instance"
ET.register_namespace("", V); ET.register_namespace("xsi", XSI)
spec = ET.parse(sys.argv[1]).getroot().find(".//{%s}returnval/{%s}importSpec" % (V, V))
if spec is None:
    sys.exit("no importSpec in the reply")
spec.tag = "{%s}spec" % V
sys.stdout.write(ET.tostring(spec, encoding="unicode"))
PY
    step "ImportVApp $name"
    soap "<ImportVApp xmlns=\"urn:vim25\"><_this type=\"ResourcePool\">$POOL</_this>$(cat "$W/spec.xml")<folder type=\"Folder\">$FOLDER</folder></ImportVApp>" >/dev/null
    LEASE=$(returnval)
    [[ -n "$LEASE" ]] || fail "ImportVApp returned no lease"
    lease_info "$LEASE"
    [[ $(pick './/v:val') == ready ]] || grep -q '>ready<' "$W/reply.xml" || fail "lease not ready"
}

import_vm smoke-vm "$OVF"
VMREF=$(pick './/v:entity')
UPLOAD=$(nfc_url)
echo "   lease=$LEASE vm=$VMREF url=$UPLOAD"
soap "<HttpNfcLeaseProgress xmlns=\"urn:vim25\"><_this type=\"HttpNfcLease\">$LEASE</_this><percent>50</percent></HttpNfcLeaseProgress>" >/dev/null

step "upload the VMDK"
code=$(curl -sS -k -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/x-vnd.vmware-streamVmdk' \
    --data-binary @"$VMDK" "$UPLOAD") || fail "upload failed"
[[ "$code" == 200 ]] || fail "upload: HTTP $code"
soap "<HttpNfcLeaseComplete xmlns=\"urn:vim25\"><_this type=\"HttpNfcLease\">$LEASE</_this></HttpNfcLeaseComplete>" >/dev/null

step "capture matches"
FILE=${UPLOAD##*/}
[[ -f "$W/cap/smoke-vm/$FILE" ]] || fail "no capture file cap/smoke-vm/$FILE"
[[ $(sha "$W/cap/smoke-vm/$FILE") == $(sha "$VMDK") ]] || fail "capture sha256 differs"
"$PY" - "$W/cap/index.json" "$(sha "$VMDK")" <<'PY' || fail "index.json does not record the upload"
import json, sys
ix = json.load(open(sys.argv[1]))
up = [u for u in ix["uploads"] if u["vm"] == "smoke-vm" and u["status"] == 200]
assert up and up[-1]["sha256"] == sys.argv[2], ix
assert [l["state"] for l in ix["leases"] if l["vm"] == "smoke-vm"] == ["done"], ix
print("   index:", json.dumps(up[-1]))
PY

step "ExportVm"
soap "<ExportVm xmlns=\"urn:vim25\"><_this type=\"VirtualMachine\">$VMREF</_this></ExportVm>" >/dev/null
XLEASE=$(returnval)
lease_info "$XLEASE"
DKEY=$(pick './/v:deviceUrl/v:key')
DOWN=$(nfc_url)
echo "   lease=$XLEASE key=$DKEY url=$DOWN"
curl -sS -k -f -o "$W/exported.vmdk" "$DOWN" || fail "export GET failed"
[[ $(sha "$W/exported.vmdk") == $(sha "$VMDK") ]] || fail "exported disk differs from the uploaded one"
range=$(curl -sS -k -f -r 0-9 -o /dev/null -w '%{http_code}' "$DOWN")
[[ "$range" == 206 ]] || fail "Range GET: HTTP $range"
step "injected download failure (POST /odt-test/fail-next-download)"
curl -sS -f -k -X POST "$BASE/odt-test/fail-next-download?after=1000" >/dev/null || fail "download fault endpoint"
if curl -sS -k -f -o "$W/cut.vmdk" "$DOWN" 2>"$W/curl.err"; then
    fail "the download should have been cut"
fi
echo "   curl: $(cat "$W/curl.err")"
"$PY" - "$W/cap/index.json" "$(stat -c %s "$VMDK")" <<'PY' || fail "index.json does not record the downloads"
import json, sys
ds = json.load(open(sys.argv[1]))["downloads"]
size = int(sys.argv[2])
assert [(d["status"], d["bytes"]) for d in ds if not d.get("range")] == [(200, size), (0, 1000)], ds
print("   index:", json.dumps(ds[-1]))
PY
soap "<HttpNfcLeaseGetManifest xmlns=\"urn:vim25\"><_this type=\"HttpNfcLease\">$XLEASE</_this></HttpNfcLeaseGetManifest>" >/dev/null
[[ $(pick './/v:sha1') == $(sha1sum "$VMDK" | cut -d' ' -f1) ]] || fail "manifest sha1 differs"
soap "<HttpNfcLeaseComplete xmlns=\"urn:vim25\"><_this type=\"HttpNfcLease\">$XLEASE</_this></HttpNfcLeaseComplete>" >/dev/null
code=$(curl -sS -k -o /dev/null -w '%{http_code}' "$DOWN")
[[ "$code" == 404 ]] || fail "export URL still served after Complete (HTTP $code)"

step "CreateDescriptor"
soap "<CreateDescriptor xmlns=\"urn:vim25\"><_this type=\"OvfManager\">OvfManager</_this><obj type=\"VirtualMachine\">$VMREF</obj><cdp><ovfFiles><deviceId>$DKEY</deviceId><path>smoke-vm-disk1.vmdk</path><size>$(stat -c %s "$W/exported.vmdk")</size></ovfFiles><name>smoke-vm</name></cdp></CreateDescriptor>" >/dev/null
pick './/v:ovfDescriptor' >"$W/exported.ovf"
grep -q 'ovf:href="smoke-vm-disk1.vmdk"' "$W/exported.ovf" || fail "descriptor lacks the disk file: $(cat "$W/exported.ovf")"
import_vm smoke-vm2 "$W/exported.ovf"
soap "<HttpNfcLeaseAbort xmlns=\"urn:vim25\"><_this type=\"HttpNfcLease\">$LEASE</_this></HttpNfcLeaseAbort>" >/dev/null

step "injected NFC failure"
curl -sS -f -k -X POST "$BASE/odt-test/fail-next-upload?after=100000" >/dev/null || fail "fault endpoint"
import_vm smoke-vm3 "$OVF"
UPLOAD=$(nfc_url)
if curl -sS -k -o /dev/null -X POST -H 'Content-Type: application/x-vnd.vmware-streamVmdk' \
        --data-binary @"$VMDK" "$UPLOAD" 2>"$W/curl.err"; then
    fail "the upload should have been cut"
fi
echo "   curl: $(cat "$W/curl.err")"
[[ ! -e "$W/cap/smoke-vm3/${UPLOAD##*/}" ]] || fail "a failed upload left a capture file"
soap "<HttpNfcLeaseAbort xmlns=\"urn:vim25\"><_this type=\"HttpNfcLease\">$LEASE</_this><fault><fault xsi:type=\"FileFault\"><file>disk-0.vmdk</file></fault><localizedMessage>upload cut</localizedMessage></fault></HttpNfcLeaseAbort>" >/dev/null
"$PY" - "$W/cap/index.json" <<'PY' || fail "index.json does not record the failure"
import json, sys
ix = json.load(open(sys.argv[1]))
u = [u for u in ix["uploads"] if u["vm"] == "smoke-vm3"][-1]
assert u["status"] == 0 and u["bytes"] == 100000 and "path" not in u, u
l = [l for l in ix["leases"] if l["vm"] == "smoke-vm3"][-1]
assert l["state"] == "aborted" and l["abort_fault"] == "upload cut", l
print("   index:", json.dumps(u))
PY

step "vApp (VirtualSystemCollection web+db)"
"$ROOT/scripts/make-sample-vm.sh" "$W/vm" --kind vapp --disk-mib 2 >/dev/null
import_vm smoke-vapp "$W/vm/vapp/vapp.ovf"
VAPP=$(pick './/v:entity')
grep -q '<entity type="VirtualApp">' "$W/reply.xml" || fail "lease entity is not a VirtualApp: $(cat "$W/reply.xml")"
# importKey /<vm>/disk:0 → the sample's disk of that VM; one lease covers both VMs.
"$PY" - "$W/reply.xml" >"$W/vapp-urls" <<'PY'
import sys, xml.etree.ElementTree as ET
V = {"v": "urn:vim25"}
for d in ET.parse(sys.argv[1]).getroot().iterfind(".//v:deviceUrl", V):
    print(d.find("v:importKey", V).text, d.find("v:url", V).text)
PY
[[ $(wc -l <"$W/vapp-urls") == 2 ]] || fail "expected 2 deviceUrls: $(cat "$W/vapp-urls")"
while read -r key url; do
    vm=$(cut -d/ -f2 <<<"$key")
    case "$vm" in web) disk="$W/vm/vapp/vapp-disk1.vmdk" ;; db) disk="$W/vm/vapp/vapp-disk2.vmdk" ;; *) fail "unexpected importKey $key" ;; esac
    code=$(curl -sS -k -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/x-vnd.vmware-streamVmdk' \
        --data-binary @"$disk" "$BASE/${url#https://\*/}") || fail "vApp upload failed"
    [[ "$code" == 200 ]] || fail "vApp upload $key: HTTP $code"
    echo "$vm $(sha "$disk")" >>"$W/vapp-want"
done <"$W/vapp-urls"
soap "<HttpNfcLeaseComplete xmlns=\"urn:vim25\"><_this type=\"HttpNfcLease\">$LEASE</_this></HttpNfcLeaseComplete>" >/dev/null
while read -r vm want; do
    [[ $(sha "$W/cap/$vm/disk-0.vmdk") == "$want" ]] || fail "capture of $vm differs"
done <"$W/vapp-want"
echo "   vapp=$VAPP: $(tr '\n' ' ' <"$W/vapp-want")"
soap "<Destroy_Task xmlns=\"urn:vim25\"><_this type=\"VirtualApp\">$VAPP</_this></Destroy_Task>" >/dev/null
soap "<FindByInventoryPath xmlns=\"urn:vim25\"><_this type=\"SearchIndex\">SearchIndex</_this><inventoryPath>DC0/vm/smoke-vapp/web</inventoryPath></FindByInventoryPath>" >/dev/null
[[ -z $(returnval) ]] || fail "the vApp's VM survived Destroy_Task"

step "Logout"
soap '<Logout xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this></Logout>' >/dev/null
echo "smoke.sh: all good ($( ((TLS)) && echo https || echo http ))"
