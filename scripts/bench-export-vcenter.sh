#!/usr/bin/env bash
# Benchmark odt-export run --vcenter (ExportVm lease -> download -> encrypt onto the NAS)
# against a bare curl download of the same disk from the same simulated vCenter.
# Run with -h for usage.
set -euo pipefail

PROG=$(basename "$0")
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
    cat <<EOF
Usage: $PROG [--size-mib N] [--runs N] [--no-build] [--vcsim-bin FILE] [--keep]
       $PROG --vms N [--stream-mibps R] [--size-mib N] [--runs N] [--no-build] ...

Time the customer's export-from-vCenter data path against a bare download with curl,
both from one odt-vcsim (tests/vcsim, http, with a user and password) started for
the whole bench.

Set-up (untimed): one VM "bench" with one disk of N MiB of incompressible data
(AES-CTR keystream; not a real VMDK) and one VM "bench256" with a 256 MiB disk are
made in the simulator with raw SOAP (CreateImportSpec of an OVF in the style of
make_big_ovf in tests/src/lib.rs, ImportVApp) and a curl -T upload of the disk;
vcsim stores the uploaded bytes in the VM's datastore file, which ExportVm serves
back. The source disks are then deleted (only the datastore copy remains).

Each run does, in this order (the machine is 'sync'ed and the datastore disk is read
with 'cat > /dev/null' before each timed part, so both read it from the page cache):
  a) baseline, raw SOAP with python3 (one session, logged in once before the runs):
       ExportVm -> wait for the lease -> deviceUrl
       curl -sS -f -o OUT/disk URL          (timed: the "x curl" reference)
       sync OUT/disk                        (timed: the "curl + sync" row; odt fsyncs)
       HttpNfcLeaseGetManifest              (timed: vcsim hashes the disk; odt calls it)
       HttpNfcLeaseComplete
     The first run checks the downloaded disk's SHA-256 against the source's.
  b) ODT_VCENTER_USER=.. ODT_VCENTER_PASSWORD=.. odt-export run --nas FRESH_DIR
       --signing-key K --recipient P.pub --no-passphrase --vcenter URL --json bench
     into a new NAS folder next to OUT (same filesystem); its report must name the VM.
     The first run's NAS is checked with 'odt-export verify' (keyless, untimed).

Printed: a table (median wall time of --runs runs, MiB/s of the disk size, time ratio
to the curl download, peak RSS from /usr/bin/time %M, max over runs); a memory-
flatness line (odt-export run once on the 256 MiB VM, both peak RSS values);
odt-vcsim's own peak RSS; the load average before and after (figures from a busy
machine are not comparable).

With --vms N (parallel downloads): N VMs of one disk each (--size-mib each, default
256) are made the same way; then vcsim bounds each NFC stream to --stream-mibps R MiB/s
(default 40, as one ESXi host's NFC service roughly does; set after the set-up uploads).
Timed: odt-export run --vcenter --parallel 1 and --parallel N of all N VMs into a fresh
NAS folder each (the first run's NAS is verified). Printed side by side: wall time,
MiB/s, the ideal (total bytes / (streams x R)), the ratio to it (target: within 1.2x),
and peak RSS.

Options:
  --vms N           the parallel-download bench with N VMs (see above)
  --stream-mibps R  with --vms: vcsim's per-stream NFC limit in MiB/s (default 40)
  --size-mib N      size of the big disk in MiB (default 2048, or 256 with --vms; e.g. 16
                    for a quick plumbing test)
  --runs N          runs per tool (default 3)
  --no-build        do not run 'cargo build --release -p odt-export -p odt-import'; use
                    the binaries in target/release (odt-import is only used for keygen).
                    vcsim is still built when out of date
  --vcsim-bin FILE  use this odt-vcsim binary instead of scripts/build-vcsim.sh's
  --keep            keep the work folder (logs, keys, vcsim capture, index and datastores)
  -h, --help        show this help

Environment: PYTHON (default /usr/bin/python3), TMPDIR_BENCH (parent of the work
folder, default /var/tmp; not tmpfs if you care about write figures). Disk use: about
3x the disk size at set-up (source, vcsim's capture copy, datastore), then 2x.

Exit status: 0 when every step succeeded (figures are never judged), 1 when a tool,
the build, the simulator or a correctness check failed, 2 on a usage error.
EOF
}

die() { echo "$PROG: error: $*" >&2; exit 1; }
usage_error() { echo "$PROG: $*" >&2; echo "Try '$PROG -h' for help." >&2; exit 2; }
need_arg() { [[ $# -ge 2 && -n "$2" ]] || usage_error "$1 needs a value"; }
# shellcheck source=scripts/lib/bench.sh
. "$REPO/scripts/lib/bench.sh"

# ---------------------------------------------------------------- arguments
SIZE_MIB="" RUNS=3 NO_BUILD=0 KEEP=0 VCSIM="" VMS=0 STREAM_MIBPS=40
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --size-mib) need_arg "$@"; SIZE_MIB=$2; shift 2 ;;
        --size-mib=*) SIZE_MIB=${1#*=}; shift ;;
        --runs) need_arg "$@"; RUNS=$2; shift 2 ;;
        --runs=*) RUNS=${1#*=}; shift ;;
        --no-build) NO_BUILD=1; shift ;;
        --vcsim-bin) need_arg "$@"; VCSIM=$2; shift 2 ;;
        --vcsim-bin=*) VCSIM=${1#*=}; shift ;;
        --keep) KEEP=1; shift ;;
        --vms) need_arg "$@"; VMS=$2; shift 2 ;;
        --vms=*) VMS=${1#*=}; shift ;;
        --stream-mibps) need_arg "$@"; STREAM_MIBPS=$2; shift 2 ;;
        --stream-mibps=*) STREAM_MIBPS=${1#*=}; shift ;;
        *) usage_error "unknown argument '$1'" ;;
    esac
done
[[ "$VMS" =~ ^[0-9]+$ ]] || usage_error "--vms must be a positive integer, got '$VMS'"
[[ "$STREAM_MIBPS" =~ ^[1-9][0-9]*$ ]] || usage_error "--stream-mibps must be a positive integer, got '$STREAM_MIBPS'"
if [[ -z $SIZE_MIB ]]; then SIZE_MIB=$(( VMS > 0 ? 256 : 2048 )); fi
[[ "$SIZE_MIB" =~ ^[1-9][0-9]*$ ]] || usage_error "--size-mib must be a positive integer, got '$SIZE_MIB'"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || usage_error "--runs must be a positive integer, got '$RUNS'"
FLAT_MIB=256

bench_require_tools

# ---------------------------------------------------------------- work area, builds
bench_work_area odt-bench-export-vc
OUT="$WORK/out"
mkdir -p "$OUT"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
bench_build

# ---------------------------------------------------------------- keys
make_keys

# ---------------------------------------------------------------- vcsim
unset ODT_PASSPHRASE
# Its datastores go under WORK/vcsim-tmp: on the same filesystem as the outputs.
start_vcsim "$WORK"
VCTMP="$WORK/vcsim-tmp"
echo "odt-vcsim: $VC_URL (pid $VCPID, work folder $WORK)"

# make_vm NAME MIB: a VM NAME in vcsim whose one disk holds MIB MiB of the keystream.
# Sets VM_SHA (the disk's SHA-256) and VM_DISK (its datastore file).
make_vm() {
    local name=$1 mib=$2 src="$WORK/src/$1" lid url code bytes rec
    bytes=$(( mib * 1048576 ))
    make_source "$src" "$name" "$mib"
    VM_SHA=$(sha256sum "$src/$name-disk1.vmdk" | cut -d' ' -f1)
    "${SOAP[@]}" import "$name" "$src/$name.ovf" >"$LOGS/import-$name.out" 2>"$LOGS/import-$name.err" \
        || { cat "$LOGS/import-$name.err" >&2; die "SOAP import of VM $name failed"; }
    read -r lid url <"$LOGS/import-$name.out"
    [[ -n "$lid" && -n "$url" ]] || die "soap import printed no lease and URL: $(cat "$LOGS/import-$name.out")"
    code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'Expect:' -T "$src/$name-disk1.vmdk" \
        -H 'Content-Type: application/x-vnd.vmware-streamVmdk' "$url") || die "uploading the disk of $name to $url failed"
    [[ $code == 200 ]] || die "uploading the disk of $name: HTTP $code"
    "${SOAP[@]}" complete "$lid" >>"$LOGS/import-$name.out" 2>&1 || die "HttpNfcLeaseComplete for $name failed"
    rec=$("$PYTHON" - "$CAP/index.json" "$name" <<'PY'
import json, sys
ups = [u for u in json.load(open(sys.argv[1]))["uploads"] if u["vm"] == sys.argv[2]]
print(ups[-1]["status"], ups[-1]["sha256"], ups[-1]["bytes"]) if ups else sys.exit("no upload for " + sys.argv[2])
PY
    ) || die "cannot read the upload of $name from $CAP/index.json"
    [[ $rec == "200 $VM_SHA $bytes" ]] || die "vcsim recorded the upload of $name as '$rec', want '200 $VM_SHA $bytes'"
    # Only the datastore copy is needed from now on.
    rm -rf "$src" "${CAP:?}/$name"
    VM_DISK=$(find "$VCTMP" -type f -path "*/$name/*" -size "${bytes}c" | head -n1)
    [[ -n "$VM_DISK" ]] || die "cannot find the datastore file of $name ($bytes bytes) under $VCTMP"
}

# ---------------------------------------------------------------- parallel downloads (--vms)
# parallel_bench: N VMs exported in one job under vcsim's per-stream bound; --parallel 1 vs N.
parallel_bench() {
    local i names=() disks=() p r nas
    echo "Making $VMS VMs of one ${SIZE_MIB} MiB disk each in odt-vcsim ..."
    for (( i = 1; i <= VMS; i++ )); do
        make_vm "vm$i" "$SIZE_MIB"
        names+=("vm$i") disks+=("$VM_DISK")
    done
    curl -sS -f -X POST "${VC_URL%/sdk}/odt-test/nfc-rate?mibps=$STREAM_MIBPS" >/dev/null \
        || die "cannot set vcsim's NFC stream rate"
    echo "each NFC stream bounded to $STREAM_MIBPS MiB/s"
    declare -A WALLS RSS
    for (( r = 1; r <= RUNS; r++ )); do
        for p in 1 "$VMS"; do
            nas="$OUT/nas-p$p"
            find "$OUT" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
            sync; cat "${disks[@]}" >/dev/null
            mkdir -p "$nas"
            run_timed "odt-p$p.$r" "$ODT_EXPORT" run --nas "$nas" --signing-key "$WORK/signing.key" \
                --recipient "$WORK/provider.key.pub" --no-passphrase --org bench --vdc bench-vdc \
                --vcenter "$VC_URL" --parallel "$p" --json "${names[@]}"
            [[ $(json_get "$LAST_OUT" 'len(j["vms"])') == "$VMS" ]] \
                || die "--parallel $p: not every VM exported: $(head -c 600 "$LAST_OUT")"
            if (( r == 1 )); then
                "$ODT_EXPORT" verify --nas "$nas" --trusted-key "$WORK/signing.key.pub" >"$LOGS/verify-p$p.log" 2>&1 \
                    || { tail -n 20 "$LOGS/verify-p$p.log" >&2; die "odt-export verify of the --parallel $p NAS failed"; }
            fi
            WALLS[$p]+="$LAST_WALL "
            if (( LAST_RSS_KB > ${RSS[$p]:-0} )); then RSS[$p]=$LAST_RSS_KB; fi
            printf '  run %d/%d  odt-export run --vcenter --parallel %-3d %8.3f s  %7s MiB RSS\n' "$r" "$RUNS" "$p" "$LAST_WALL" "$(mib "$LAST_RSS_KB")"
        done
    done
    find "$OUT" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
    echo
    parallel_results "odt-export run --vcenter"
    echo "load average: $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end ($(nproc) CPUs)"
    echo
    echo "Done."
}

if (( VMS > 0 )); then
    parallel_bench
    exit 0
fi

echo "Making VM bench (${SIZE_MIB} MiB disk) and VM bench256 (${FLAT_MIB} MiB disk) in odt-vcsim ..."
make_vm bench "$SIZE_MIB"; BIG_SHA=$VM_SHA BIG_DISK=$VM_DISK
make_vm bench256 "$FLAT_MIB"; FLAT_DISK=$VM_DISK

# ---------------------------------------------------------------- runs
# prepare DISK: empty the output folder, flush dirty pages (so one tool's writeback is not
# billed to the next), and pull the datastore disk into the page cache.
prepare() {
    find "$OUT" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
    sync
    cat "$1" >/dev/null
}

# baseline_run R: ExportVm, curl GET, sync, GetManifest, Complete.
W_CURL=() R_CURL=() W_SYNC=() W_MAN=() W_SEQ=() W_CURL_GET=()
baseline_run() {
    local r=$1 lid url t0 t1 curl_wall sha1 msize get
    prepare "$BIG_DISK"
    t0=$(date +%s%N)
    run_timed "exportvm.$r" "${SOAP[@]}" export bench
    read -r lid url _ <"$LAST_OUT"
    [[ -n "$lid" && -n "$url" ]] || die "soap export printed no lease and URL: $(cat "$LAST_OUT")"
    run_timed "curl.$r" curl -sS -f -o "$OUT/disk" "$url"
    curl_wall=$LAST_WALL
    W_CURL+=("$LAST_WALL") R_CURL+=("$LAST_RSS_KB")
    get=$(last_get_seconds bench) || die "cannot read curl's download from $CAP/index.json (above)"
    W_CURL_GET+=("$get")
    run_timed "sync.$r" sync "$OUT/disk"
    W_SYNC+=("$(awk -v a="$curl_wall" -v b="$LAST_WALL" 'BEGIN { printf "%.6f", a + b }')")
    run_timed "manifest.$r" "${SOAP[@]}" manifest "$lid"
    W_MAN+=("$LAST_WALL")
    read -r sha1 msize <"$LAST_OUT"
    run_timed "complete.$r" "${SOAP[@]}" complete "$lid"
    t1=$(date +%s%N)
    W_SEQ+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", (b - a) / 1e9 }')")
    [[ $(stat -c %s "$OUT/disk") == "$SIZE_BYTES" && $msize == "$SIZE_BYTES" ]] \
        || die "curl downloaded $(stat -c %s "$OUT/disk") bytes, the manifest says $msize; the disk has $SIZE_BYTES"
    if (( r == 1 )); then
        local got
        got=$(sha256sum "$OUT/disk" | cut -d' ' -f1)
        [[ $got == "$BIG_SHA" ]] || die "the disk curl downloaded has SHA-256 $got, the source had $BIG_SHA"
        [[ $(sha1sum "$OUT/disk" | cut -d' ' -f1) == "$sha1" ]] || die "the disk curl downloaded does not match HttpNfcLeaseGetManifest's SHA-1 $sha1"
    fi
    printf '  run %d/%d  %-30s %8.3f s  %7s MiB RSS   (+ sync: %.3f s; GetManifest: %.3f s; ExportVm..Complete: %.3f s)\n' \
        "$r" "$RUNS" "curl GET" "$curl_wall" "$(mib "${R_CURL[-1]}")" "${W_SYNC[-1]}" "${W_MAN[-1]}" "${W_SEQ[-1]}"
}

# last_get_seconds VM: how long vcsim took to serve the last GET of VM's disk (index.json
# "downloads": started .. time), i.e. the download phase alone, whoever the client was.
last_get_seconds() {
    "$PYTHON" - "$CAP/index.json" "$1" <<'PY'
import datetime, json, re, sys
ds = [d for d in json.load(open(sys.argv[1])).get("downloads", []) if d.get("vm") == sys.argv[2]]
if not ds or not ds[-1].get("time"):
    sys.exit("index.json has no finished download for VM " + sys.argv[2])
def t(s):  # RFC 3339 with up to 9 fractional digits, UTC ("Z")
    m = re.match(r"(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$", s)
    base = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    return base.timestamp() + float("0." + (m.group(2) or "0"))
d = ds[-1]
if d.get("status") != 200 or d.get("bytes") != d.get("size"):
    sys.exit("the last download of %s was not whole: %s" % (sys.argv[2], d))
print("%.6f" % (t(d["time"]) - t(d["started"])))
PY
}

# odt_run TAG VM DISK: odt-export run --vcenter into a fresh NAS folder; checks the report.
odt_run() {
    local tag=$1 vm=$2 disk=$3 name nas="$OUT/nas"
    prepare "$disk"
    mkdir -p "$nas"
    run_timed "$tag" "$ODT_EXPORT" run --nas "$nas" --signing-key "$WORK/signing.key" \
        --recipient "$WORK/provider.key.pub" --no-passphrase --org bench --vdc bench-vdc \
        --vcenter "$VC_URL" --json "$vm"
    name=$(json_get "$LAST_OUT" 'j["vms"][0]["name"]')
    [[ $name == "$vm" ]] || die "$tag: the report names VM '$name', want '$vm' (report: $(head -c 600 "$LAST_OUT"))"
    [[ -f "$nas/odt-job.json" ]] || die "$tag: no $nas/odt-job.json after a successful run"
    LAST_SELF=$(json_get "$LAST_OUT" 'j["seconds"]')
    LAST_GET=$(last_get_seconds "$vm") || die "$tag: cannot read odt's download of $vm from $CAP/index.json (above)"
}

W_ODT=() R_ODT=() ODT_SELF=() W_ODT_GET=()
SIZE_BYTES=$(( SIZE_MIB * 1048576 ))
echo
echo "Benchmark: ${SIZE_MIB} MiB disk, $RUNS run(s) per tool, work folder $WORK ($FSTYPE), $(nproc) CPU(s), load average $LOAD_START"
echo "  curl:    $(curl --version | head -n1 | cut -d' ' -f1-2)"
echo "  odt:     $("$ODT_EXPORT" --version 2>/dev/null | head -n1 || echo "$ODT_EXPORT")"
echo "  vcsim:   $VCSIM"
echo
for (( r = 1; r <= RUNS; r++ )); do
    baseline_run "$r"
    odt_run "odt.$r" bench "$BIG_DISK"
    W_ODT+=("$LAST_WALL") R_ODT+=("$LAST_RSS_KB") ODT_SELF+=("$LAST_SELF") W_ODT_GET+=("$LAST_GET")
    printf '  run %d/%d  %-30s %8.3f s  %7s MiB RSS   (its own report: %.3f s; its GET: %.3f s)\n' \
        "$r" "$RUNS" "odt-export run --vcenter" "$LAST_WALL" "$(mib "$LAST_RSS_KB")" "$LAST_SELF" "$LAST_GET"
    if (( r == 1 )); then
        "$ODT_EXPORT" verify --nas "$OUT/nas" --trusted-key "$WORK/signing.key.pub" >"$LOGS/verify.log" 2>&1 \
            || { tail -n 20 "$LOGS/verify.log" >&2; die "odt-export verify of the first run's NAS failed"; }
    fi
done

# ---------------------------------------------------------------- memory flatness
echo
echo "Memory flatness: odt-export run --vcenter on the ${FLAT_MIB} MiB VM ..."
odt_run "odt-flat" bench256 "$FLAT_DISK"
FLAT_RSS=$LAST_RSS_KB FLAT_WALL=$LAST_WALL
find "$OUT" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
VC_HWM=$(awk '/^VmHWM:/ { print $2 }' "/proc/$VCPID/status" 2>/dev/null || true)

# ---------------------------------------------------------------- table
BASE_MED=$(printf '%s\n' "${W_CURL[@]}" | median)   # the curl baseline of the "x curl" column
ROW_WIDTH=40
echo
echo "Results (${SIZE_MIB} MiB disk, median of $RUNS; MiB/s = disk size / median; x curl = median / median"
echo "of the curl GET; RSS = max over runs; one odt-vcsim on this machine serves every byte)"
printf '%-40s %10s %10s %8s %14s\n' "tool" "median s" "MiB/s" "x curl" "peak RSS MiB"
printf '%-40s %10s %10s %8s %14s\n' "----------------------------------------" "----------" "----------" "--------" "--------------"
row "curl GET (export lease)" "${W_CURL[@]}" -- "${R_CURL[@]}"
row "curl GET + sync FILE" "${W_SYNC[@]}" -- -
row "HttpNfcLeaseGetManifest (vcsim hashes)" "${W_MAN[@]}" -- -
row "raw SOAP + curl (ExportVm..Complete)" "${W_SEQ[@]}" -- -
row "odt-export run --vcenter" "${W_ODT[@]}" -- "${R_ODT[@]}"
row "  its GET as vcsim served it" "${W_ODT_GET[@]}" -- -
row "  curl's GET as vcsim served it" "${W_CURL_GET[@]}" -- -
echo "(odt-export's own --json \"seconds\":$(printf ' %.3f' "${ODT_SELF[@]}"). Besides the GET, odt-export calls"
echo " HttpNfcLeaseGetManifest and CreateDescriptor, and fsyncs; the raw SOAP row includes GetManifest but"
echo " no sync. \"as vcsim served it\": from the start of the GET to its last byte, per vcsim's index.json.)"
echo
awk -v big="$(printf '%s\n' "${R_ODT[@]}" | max)" -v small="$FLAT_RSS" -v s="$SIZE_MIB" -v f="$FLAT_MIB" -v w="$FLAT_WALL" 'BEGIN {
    printf "memory flatness, peak RSS of odt-export run --vcenter: %d MiB disk: %.1f MiB; %d MiB disk: %.1f MiB (ratio %.2f; the %d MiB run took %.3f s)\n",
        s, big / 1024, f, small / 1024, (small > 0 ? big / small : 0), f, w }'
if [[ -n "$VC_HWM" ]]; then echo "odt-vcsim peak RSS over the whole bench: $(mib "$VC_HWM") MiB"; fi
echo "load average: $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end ($(nproc) CPUs)"
echo
echo "Done."
