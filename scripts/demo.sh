#!/usr/bin/env bash
# The README's first command: the whole odt flow on this machine, end to end, against the
# bundled simulators (govmomi's vcsim as vCenter, our vCD simulator as vCloud Director):
#
#   customer: keys -> export two sample VMs onto a "NAS" folder (encrypted, signed) -> verify
#   provider: a trust file (which orgs the customer's key may target) -> verify at the dock
#             (keyless, then deep) -> plan -> run: deploy into vCenter on "VM Network",
#             register in vCD (a vApp on the org VDC network, a template in a catalog)
#             -> signed receipt
#   then: what landed where, a trust file that does not allow the job's org (plan refuses),
#   and a flipped byte on the NAS caught and located.
#
# Usage: scripts/demo.sh [WORKDIR]    (default: a fresh temporary folder, kept for inspection)
# Installs what it needs (qemu-utils, Go and govmomi from Debian) when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

need=()
command -v qemu-img >/dev/null || need+=(qemu-utils)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
    [[ $(id -u) -eq 0 ]] || { echo "demo: missing ${need[*]} (apt-get install them)" >&2; exit 1; }
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

work=${1:-$(mktemp -d /tmp/odt-demo.XXXXXX)}
mkdir -p "$work"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

step "build odt, the vCD simulator and vcsim"
cargo build --release --locked -q -p odt-export -p odt-import
cargo build --release --locked -q -p odt-tests --bin vcd-sim
vcsim_bin=$(scripts/build-vcsim.sh | tail -n 1)
export PATH="$root/target/release:$PATH"

step "sample VMs (qemu-img streamOptimized VMDKs)"
scripts/make-sample-vm.sh "$work/vms" --kind single,multi >/dev/null
ls -1 "$work/vms"

step "start the simulators: vCenter (vcsim) and vCloud Director (vcd-sim)"
cd "$work"
rm -rf nas nas-tampered state capture ./*.key ./*.key.pub job.toml trust*.toml
export ODT_VCENTER_USER=administrator@vsphere.local ODT_VCENTER_PASSWORD=demo-vc-password
export ODT_VCD_USER=administrator@System ODT_VCD_PASSWORD=vmware
mkfifo -m 600 vcsim.in vcd.in 2>/dev/null || true
"$vcsim_bin" -listen 127.0.0.1:0 -capture "$work/capture" -user "$ODT_VCENTER_USER" \
    -password "$ODT_VCENTER_PASSWORD" <vcsim.in >vcsim.json 2>vcsim.log &
pids+=($!)
exec 7>vcsim.in
for _ in $(seq 100); do [[ -s vcsim.json ]] && break; sleep 0.1; done
vc_url=$(python3 -c 'import json,sys; print(json.load(open("vcsim.json"))["url"])')
vcd-sim --seed "$root/tests/vcd-seed.toml" --vcsim-url "$vc_url" --vcsim-user "$ODT_VCENTER_USER" \
    --vcsim-password "$ODT_VCENTER_PASSWORD" <vcd.in >vcd.json 2>vcd.log &
pids+=($!)
exec 8>vcd.in
for _ in $(seq 100); do [[ -s vcd.json ]] && break; sleep 0.1; done
vcd_url=$(python3 -c 'import json,sys; print(json.load(open("vcd.json"))["url"])')
echo "vCenter: $vc_url"
echo "vCD:     $vcd_url"

step "customer: signing key; provider: recipient key and receipt key"
odt-export keygen --out customer.key
odt-import keygen --out provider.key
odt-import keygen --receipt --out provider-receipt.key

step "customer: export two VMs onto the NAS, each with its own target (job file)"
cat > job.toml <<TOML
org = "acme"
vdc = "acme-vdc"

[[vm]]
source = "vms/single"        # lands as a vApp on the org VDC network, powered on
network = "acme-net"
power_on = true

[[vm]]
source = "vms/multi.ova"     # lands as a vApp template in the catalog
catalog = "acme-catalog"
as_template = true
TOML
mkdir nas
echo "(the NAS here is the folder $PWD/nas: each command warns that it is not a mount point," \
    "as it would on a real node where the NAS was not mounted)"
export ODT_PASSPHRASE="demo passphrase - use a long one"
odt-export run --nas nas --signing-key customer.key --recipient provider.key.pub \
    --kdf-memory-mib 64 --job job.toml

step "customer: verify before shipping (no secret needed)"
odt-export verify --nas nas --trusted-key customer.key.pub

step "customer: what is on the NAS (no secret needed)"
odt-export inspect --nas nas

step "provider: the trust file: each customer's key and the vCD orgs it may target"
# The key id in the job's signature picks the customer; its signature is then checked against
# that customer's key, and every VM must target one of its orgs (VDCs, catalogs).
cat > trust.toml <<TOML
[[customer]]
name = "Acme Corp"
key = "customer.key.pub"        # relative to this file's folder
[[customer.org]]
name = "acme"
vdcs = ["acme-vdc"]             # optional: absent = any VDC of the org
catalogs = ["acme-catalog"]     # optional: absent = any catalog of the org
TOML
cat trust.toml

step "provider at the dock: signature and every byte, then decrypt-check with its own key"
odt-import verify --nas nas --trust trust.toml --state state     # leaves the dock record run needs
odt-import verify --nas nas --trust trust.toml --deep --identity provider.key --state state

common=(--nas nas --trust trust.toml --vcenter "$vc_url" --cluster DC0_C0 --vcd "$vcd_url" --state state)
step "provider: plan (the customer's orgs, VM Network on every host, datastore room, names, vCD targets)"
odt-import plan "${common[@]}"

step "provider: run (deploy into vCenter, register in vCD, receipt)"
odt-import run "${common[@]}" --identity provider.key --receipt-key provider-receipt.key

step "what landed where (read back from the vCD simulator)"
curl -s "$vcd_url/odt-sim/state" >vcd-state.json
python3 - vcd-state.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
status = {4: "powered on", 8: "powered off", 0: "unresolved"}
for v in s.get("vapps", []):
    print("vApp %r in org %r VDC %r, %s" % (v["name"], v["org"], v["vdc"], status.get(v["status"], v["status"])))
    for n in v.get("networks", []):
        print("  vApp network %r (%s) -> org VDC network %r" % (n["name"], n["fence_mode"], n.get("parent")))
    for vm in v.get("vms", []):
        for nic in vm.get("nics", []):
            print("  VM %r NIC %d on %r, connected=%s, %s %s" % (vm["name"], nic["index"], nic["network"], nic["connected"], nic["mode"], nic.get("ip") or ""))
for t in s.get("templates", []):
    print("vApp template %r in VDC %r, catalog %r" % (t["name"], t["vdc"], t.get("catalog")))
for i in s.get("catalog_items", []):
    print("catalog item %r in catalog %r" % (i["name"], i["catalog"]))
PY
receipt=$(ls state/receipt-*.json)
echo "receipt: $receipt"

step "provider: how far the import got, per VM and step (from the journal)"
odt-import inspect --nas nas --state state

step "customer: check the provider's signed receipt against their own manifest"
odt-export verify-receipt --receipt "$receipt" --provider-key provider-receipt.key.pub \
    --manifest nas/odt-job.json --trusted-key customer.key.pub

step "provider: the custody report, one self-contained HTML page for the customer"
odt-import report --receipt "$receipt" --provider-key provider-receipt.key.pub \
    --verify-record "$(ls state/dock-*.json)" --manifest nas/odt-job.json -o custody.html
echo "custody report: $work/custody.html"

step "a trust file that allows this customer only another org: plan refuses, naming VM, org and key id"
sed 's/name = "acme"/name = "globex"/; /^vdcs\|^catalogs/d' trust.toml > trust-globex.toml
if odt-import plan "${common[@]/trust.toml/trust-globex.toml}"; then
    echo "demo: the org was NOT refused" >&2; exit 1
else
    echo "(exit status $? as expected; run would deploy nothing)"
fi

step "the courier flips one byte in a disk: verification names the file and the chunk"
cp -r nas nas-tampered
f=nas-tampered/data/vm-000/single-disk1.vmdk.odt
printf '\x00' | dd of="$f" bs=1 seek=2000000 conv=notrunc status=none
if odt-import verify --nas nas-tampered --trusted-key customer.key.pub; then
    echo "demo: tampering was NOT detected" >&2; exit 1
else
    echo "(exit status $? as expected)"
fi

step "run refuses a NAS that changed since it was verified at the dock, before deploying anything"
if odt-import run --nas nas-tampered --trusted-key customer.key.pub --vcenter "$vc_url" \
    --cluster DC0_C0 --state state --identity provider.key; then
    echo "demo: run deployed from a changed NAS" >&2; exit 1
else
    echo "(exit status $? as expected)"
fi

step "done: everything is in $work (the simulators stop now)"
