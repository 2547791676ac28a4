#!/usr/bin/env bash
# Checks that this machine can act as the provider's ODT node: the customer's NAS is mounted
# and readable, the target vCenter and its ESXi hosts answer on 443 (the NFC uploads go
# straight to the hosts), and the odt tools are present. It only reads; it changes nothing.
#
# Usage: scripts/configure-odt-node.sh --nas DIR --vcenter HOST[:PORT] [--esxi HOST[:PORT]]...
#        [--vcd HOST[:PORT]]
# Exit status: 0 all checks passed, 1 a check failed, 2 usage error.
set -uo pipefail

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }
nas=""; vcenter=""; vcd=""; esxi=()
while (($#)); do
    case "$1" in
        --nas) nas=${2:?}; shift 2 ;;
        --vcenter) vcenter=${2:?}; shift 2 ;;
        --esxi) esxi+=("${2:?}"); shift 2 ;;
        --vcd) vcd=${2:?}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "configure-odt-node: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
[[ -n $nas && -n $vcenter ]] || { usage >&2; exit 2; }

failed=0
ok() { printf '  ok    %s\n' "$*"; }
bad() { printf '  FAIL  %s\n' "$*"; failed=1; }

echo "NAS"
if [[ ! -d $nas ]]; then
    bad "$nas is not a directory: mount the NAS (e.g. mount -t nfs nas:/export $nas)"
else
    mp=$(findmnt -n -o TARGET,FSTYPE --target "$nas" 2>/dev/null | head -1)
    ok "$nas is on ${mp:-an unknown mount}"
    if [[ -r $nas/odt-job.json && -r $nas/odt-job.json.sig ]]; then
        ok "a finished odt job is present (odt-job.json and its signature are readable)"
    elif [[ -e $nas/odt-journal.json ]]; then
        bad "the job on $nas is unfinished (odt-journal.json): the customer must rerun odt-export run"
    else
        bad "no odt-job.json in $nas: point --nas at the job directory"
    fi
    if [[ -d $nas/data ]] && find "$nas/data" -name '*.odt' -type f ! -readable | grep -q .; then
        bad "some encrypted files under $nas/data are not readable by $(id -un)"
    fi
fi

reach() {
    local hp=$1 host port
    host=${hp%%:*}; port=${hp##*:}; [[ $port == "$hp" ]] && port=443
    if timeout 5 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; then
        ok "$host:$port reachable"
    else
        bad "$host:$port not reachable (routing, firewall, DNS?)"
    fi
}
echo "Network"
reach "$vcenter"
for h in "${esxi[@]}"; do reach "$h"; done
((${#esxi[@]})) || echo "  note  pass --esxi HOST for each ESXi host of the target cluster: NFC uploads go to them directly"
[[ -n $vcd ]] && reach "$vcd"

echo "Tools"
dir=$(cd "$(dirname "$0")/.." && pwd)
for t in odt-import; do
    if command -v "$t" >/dev/null; then ok "$t: $(command -v "$t")"
    elif [[ -x $dir/target/release/$t ]]; then ok "$t: $dir/target/release/$t (not on PATH)"
    else bad "$t not found: cargo build --release -p odt-import"; fi
done
for t in findmnt timeout; do command -v "$t" >/dev/null && ok "$t" || bad "$t missing"; done

if ((failed)); then echo "some checks failed"; exit 1; fi
echo "this machine is ready to act as an ODT node"
