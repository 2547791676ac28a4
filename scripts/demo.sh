#!/usr/bin/env bash
# The README's first command: builds odt, makes sample VMs, and runs the customer-side flow
# end to end on this machine: keys, export onto a "NAS" folder, verification on both sides
# (keyless and deep), then shows that one flipped byte on the NAS is caught and located.
#
# Usage: scripts/demo.sh [WORKDIR]    (default: a fresh temporary folder, kept for inspection)
#
# The provider-side deploy into vCenter and vCloud Director joins this demo as it lands.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

command -v qemu-img >/dev/null || {
    [[ $(id -u) -eq 0 ]] || { echo "demo: qemu-img missing (apt-get install qemu-utils)" >&2; exit 1; }
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-utils >/dev/null
}

work=${1:-$(mktemp -d /tmp/odt-demo.XXXXXX)}
mkdir -p "$work"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "build (release)"
cargo build --release --locked -q -p odt-export -p odt-import
export PATH="$root/target/release:$PATH"

step "sample VMs (qemu-img streamOptimized VMDKs, OVF folders and OVA)"
scripts/make-sample-vm.sh "$work/vms" --kind single,multi >/dev/null
ls -1 "$work/vms"

cd "$work"
rm -rf nas customer.key* provider.key*
mkdir nas
step "customer: signing key; provider: recipient key"
odt-export keygen --out customer.key
odt-import keygen --out provider.key

step "customer: export two VMs onto the NAS (passphrase + provider recipient)"
export ODT_PASSPHRASE="demo passphrase - use a long one"
odt-export run --nas nas --signing-key customer.key --recipient provider.key.pub \
    --org acme --vdc acme-vdc --network acme-net --kdf-memory-mib 64 \
    vms/single vms/multi.ova

step "customer: verify before shipping (no secret needed)"
odt-export verify --nas nas --trusted-key customer.key.pub

step "provider at the dock: verify the signature and every byte, then decrypt-check with its own key"
odt-import verify --nas nas --trusted-key customer.key.pub
odt-import verify --nas nas --trusted-key customer.key.pub --deep --identity provider.key

step "the courier flips one byte in a disk: verification names the file and the chunk"
cp -r nas nas-tampered
f=nas-tampered/data/vm-001/multi-disk1.vmdk.odt
printf '\x00' | dd of="$f" bs=1 seek=2000000 conv=notrunc status=none
if odt-import verify --nas nas-tampered --trusted-key customer.key.pub; then
    echo "demo: tampering was NOT detected" >&2; exit 1
else
    echo "(exit status $? as expected)"
fi

step "done: the NAS is in $work/nas"
