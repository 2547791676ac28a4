#!/usr/bin/env bash
# Benchmark odt-import run (NAS -> decrypt -> .mf check -> NFC upload) against a plain curl
# upload of the plaintext disk to the same simulated vCenter (tests/vcsim).
# Run with -h for usage.
set -euo pipefail

PROG=$(basename "$0")
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
    cat <<EOF
Usage: $PROG [--size-gib N | --size-mib N] [--runs N] [--keep] [--no-build]
          [--vcsim-bin FILE] [--vcsim-dir DIR]
       $PROG --vms N [--stream-mibps R] [--size-mib N] [--runs N] [--keep] [--no-build] ...

Time the provider's import data path against a bare NFC upload with curl, both into
one odt-vcsim (tests/vcsim, http, with a user and password) started for the whole
bench. The source is one OVF folder: a descriptor in the style of make_big_ovf in
tests/src/lib.rs (one VirtualSystem, a disk Item and a NIC on "corp-lan", plus the
System and SCSI controller vcsim needs), a SHA256 .mf, and a disk of N GiB of
incompressible AES-CTR keystream (not a real VMDK). The job is exported once with 'odt-export run --recipient P.pub --no-passphrase' (untimed; its
time is printed).

Each run does, in this order (the machine is 'sync'ed and the plaintext disk and the
NAS files are read with 'cat > /dev/null' before every timed part):
  a) baseline: raw SOAP with python3 (CreateImportSpec, ImportVApp, wait for the lease;
     one session, logged in once before the runs) for a VM with a new name, then
       curl -sS -X POST -H 'Expect:' -T disk -H 'Content-Type: application/x-vnd.vmware-streamVmdk' URL
     (streamed, like odt), then HttpNfcLeaseComplete. Timed: the curl upload alone (the
     reference of the "x curl" column), and the whole sequence.
  b) the same with curl -sS -X POST --data-binary @disk (upload timed). Only for disks
     under 1 GiB: curl reads the whole file into memory first, and refuses 1 GiB or more
     ("option --data-binary: out of memory").
  c) ODT_VCENTER_USER=.. ODT_VCENTER_PASSWORD=.. odt-import run --nas NAS --trusted-key K.pub
       --vcenter URL --cluster DC0_C0 --identity P --state FRESH_DIR --json
     after the VM of the previous run was destroyed (FindByInventoryPath + Destroy_Task);
     its report must say "deployed" (vms[0].outcome).
Every VM is destroyed and its capture files deleted after it has been checked, so the
disk use stays near 5x the disk size (vcsim writes each upload to its capture folder and
to its datastore; both tools pay that equally).

Printed: a table (median wall time of --runs runs, MiB/s of the disk size, time ratio
to the curl -T upload, peak RSS from /usr/bin/time %M, max over runs); the
SHA-256 vcsim recorded for the first odt upload next to the source disk's; a memory-
flatness line (odt-import run once more on a 256 MiB disk job, both peak RSS values);
vcsim's own peak RSS.

With --vms N (parallel transfers): N VMs of one disk each (--size-mib each, default 256)
in one job; vcsim bounds each NFC stream to --stream-mibps R MiB/s (default 40, as one
ESXi host's NFC service roughly does). Timed: odt-import run --parallel 1 and --parallel
N (every VM destroyed between runs). Printed side by side: wall time, MiB/s, the ideal
(total bytes / (streams x R)), the ratio to it (target: within 1.2x), and peak RSS.

Options:
  --vms N        the parallel-transfer bench with N VMs (see above)
  --stream-mibps R  with --vms: vcsim's per-stream NFC limit in MiB/s (default 40)
  --size-gib N   size of the disk in GiB, decimals allowed (default 2)
  --size-mib N   size of the disk in MiB (integer; overrides --size-gib; e.g. 16 for a
                 quick plumbing test)
  --runs N       runs per tool (default 3)
  --no-build     do not run 'cargo build --release -p odt-export -p odt-import'; use the
                 binaries in target/release (vcsim is still built when out of date)
  --vcsim-bin FILE  use this odt-vcsim binary instead of building one with
                 scripts/build-vcsim.sh (e.g. while tests/vcsim is being edited)
  --vcsim-dir DIR   put vcsim's capture folder and datastore in a new folder under DIR
                 instead of the work folder; e.g. /dev/shm, so that the simulator's
                 own disk writes (3x the disk size per upload) and their writeback
                 leave the figures. Needs about 3x the disk size free in DIR.
  --keep         keep the work folder (source, NAS, keys, logs, vcsim capture and index)
  -h, --help     show this help

Environment: PYTHON (default /usr/bin/python3), TMPDIR_BENCH (parent of the work folder,
default /var/tmp; not tmpfs if you care about write figures).

Exit status: 0 when every tool succeeded (figures are never judged), 1 when a tool, the
build, the simulator or the upload correctness check failed, 2 on a usage error.
EOF
}

die() { echo "$PROG: error: $*" >&2; exit 1; }
usage_error() { echo "$PROG: $*" >&2; echo "Try '$PROG -h' for help." >&2; exit 2; }
need_arg() { [[ $# -ge 2 && -n "$2" ]] || usage_error "$1 needs a value"; }
# shellcheck source=scripts/lib/bench.sh
. "$REPO/scripts/lib/bench.sh"

# ---------------------------------------------------------------- arguments
SIZE_GIB=2 SIZE_MIB_OPT="" RUNS=3 KEEP=0 NO_BUILD=0 VCSIM="" VCSIM_PARENT="" VMS=0 STREAM_MIBPS=40
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --size-gib) need_arg "$@"; SIZE_GIB=$2; shift 2 ;;
        --size-gib=*) SIZE_GIB=${1#*=}; shift ;;
        --size-mib) need_arg "$@"; SIZE_MIB_OPT=$2; shift 2 ;;
        --size-mib=*) SIZE_MIB_OPT=${1#*=}; shift ;;
        --runs) need_arg "$@"; RUNS=$2; shift 2 ;;
        --runs=*) RUNS=${1#*=}; shift ;;
        --keep) KEEP=1; shift ;;
        --vms) need_arg "$@"; VMS=$2; shift 2 ;;
        --vms=*) VMS=${1#*=}; shift ;;
        --stream-mibps) need_arg "$@"; STREAM_MIBPS=$2; shift 2 ;;
        --stream-mibps=*) STREAM_MIBPS=${1#*=}; shift ;;
        --no-build) NO_BUILD=1; shift ;;
        --vcsim-bin) need_arg "$@"; VCSIM=$2; shift 2 ;;
        --vcsim-dir) need_arg "$@"; VCSIM_PARENT=$2; shift 2 ;;
        --vcsim-dir=*) VCSIM_PARENT=${1#*=}; shift ;;
        --vcsim-bin=*) VCSIM=${1#*=}; shift ;;
        *) usage_error "unknown argument '$1'" ;;
    esac
done
[[ "$VMS" =~ ^[0-9]+$ ]] || usage_error "--vms must be a positive integer, got '$VMS'"
[[ "$STREAM_MIBPS" =~ ^[1-9][0-9]*$ ]] || usage_error "--stream-mibps must be a positive integer, got '$STREAM_MIBPS'"
if (( VMS > 0 )) && [[ -z "$SIZE_MIB_OPT" ]]; then SIZE_MIB_OPT=256; fi
if [[ -n "$SIZE_MIB_OPT" ]]; then
    [[ "$SIZE_MIB_OPT" =~ ^[1-9][0-9]*$ ]] || usage_error "--size-mib must be a positive integer, got '$SIZE_MIB_OPT'"
    SIZE_MIB=$SIZE_MIB_OPT
else
    [[ "$SIZE_GIB" =~ ^([0-9]+([.][0-9]*)?|[.][0-9]+)$ ]] || usage_error "--size-gib must be a number, got '$SIZE_GIB'"
    SIZE_MIB=$(awk -v n="$SIZE_GIB" 'BEGIN { printf "%d", n * 1024 + 0.5 }')
    (( SIZE_MIB >= 1 )) || usage_error "--size-gib $SIZE_GIB is below 1 MiB"
fi
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || usage_error "--runs must be a positive integer, got '$RUNS'"
FLAT_MIB=256

bench_require_tools

# ---------------------------------------------------------------- work area, builds
bench_work_area odt-bench-import
bench_build

# forget VM: destroy it in vcsim (frees its datastore files) and delete its capture files.
forget() {
    "${SOAP[@]}" destroy "$1" >>"$LOGS/destroy.log" 2>&1 || { tail -n 5 "$LOGS/destroy.log" >&2; die "could not destroy VM $1"; }
    rm -rf "${CAP:?}/$1"
}

# ---------------------------------------------------------------- parallel transfers (--vms)
# parallel_bench: N VMs in one job, vcsim bounding each NFC stream; --parallel 1 vs N.
parallel_bench() {
    local srcs=() i nas="$WORK/nas-vms" names=() p r
    echo "Generating $VMS VMs of one ${SIZE_MIB} MiB random disk each in $WORK ..."
    for (( i = 1; i <= VMS; i++ )); do
        make_source "$WORK/src/vm$i" "vm$i" "$SIZE_MIB" mf
        srcs+=("$WORK/src/vm$i")
        names+=("vm$i")
    done
    make_keys
    mkdir -p "$nas"
    run_timed export-vms env -u ODT_PASSPHRASE "$ODT_EXPORT" run --nas "$nas" \
        --signing-key "$WORK/signing.key" --recipient "$WORK/provider.key.pub" --no-passphrase --json \
        --org bench --vdc bench-vdc "${srcs[@]}"
    printf '  odt-export run (%d VMs): %.3f s\n' "$VMS" "$LAST_WALL"
    VCSIM_ARGS=(-nfc-stream-mibps "$STREAM_MIBPS")
    start_vcsim "$WORK"
    echo "odt-vcsim: $VC_URL (pid $VCPID), each NFC stream bounded to $STREAM_MIBPS MiB/s"
    declare -A WALLS RSS
    for (( r = 1; r <= RUNS; r++ )); do
        for p in 1 "$VMS"; do
            for n in "${names[@]}"; do forget "$n"; done
            local state="$WORK/state/p$p.$r"
            rm -rf "$state"; mkdir -p "$state"
            sync; find "$nas" -type f -exec cat {} + >/dev/null
            "$ODT_IMPORT" verify --nas "$nas" --trusted-key "$WORK/signing.key.pub" --state "$state" --json >/dev/null \
                || die "odt-import verify refused the job"
            run_timed "odt-p$p.$r" "$ODT_IMPORT" run --nas "$nas" --trusted-key "$WORK/signing.key.pub" \
                --vcenter "$VC_URL" --cluster DC0_C0 --identity "$WORK/provider.key" --state "$state" \
                --parallel "$p" --json
            [[ $(json_get "$LAST_OUT" 'sum(1 for v in j["vms"] if v["outcome"] == "deployed")') == "$VMS" ]] \
                || die "--parallel $p: not every VM deployed: $(head -c 600 "$LAST_OUT")"
            WALLS[$p]+="$LAST_WALL "
            if (( LAST_RSS_KB > ${RSS[$p]:-0} )); then RSS[$p]=$LAST_RSS_KB; fi
            printf '  run %d/%d  odt-import run --parallel %-3d %8.3f s  %7s MiB RSS\n' "$r" "$RUNS" "$p" "$LAST_WALL" "$(mib "$LAST_RSS_KB")"
        done
    done
    for n in "${names[@]}"; do forget "$n"; done
    echo
    parallel_results "odt-import run"
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "Done."
}

if (( VMS > 0 )); then
    parallel_bench
    exit 0
fi

# ---------------------------------------------------------------- sources, keys, export
echo "Generating a ${SIZE_MIB} MiB random disk and a ${FLAT_MIB} MiB one in $WORK ..."
make_source "$WORK/src/bench" bench "$SIZE_MIB" mf
make_source "$WORK/src/bench256" bench256 "$FLAT_MIB" mf
SRC_DISK="$WORK/src/bench/bench-disk1.vmdk"
SRC_OVF="$WORK/src/bench/bench.ovf"
SRC_SHA=$(sha256sum "$SRC_DISK" | cut -d' ' -f1)

make_keys

# export_job NAS SRC LABEL: untimed export (its wall time is printed); sets EXPORTED_NAME
# to the job's VM name.
export_job() {
    local nas=$1 src=$2 label=$3 name
    mkdir -p "$nas"
    sync
    run_timed "export-${label// /}" env -u ODT_PASSPHRASE "$ODT_EXPORT" run --nas "$nas" \
        --signing-key "$WORK/signing.key" --recipient "$WORK/provider.key.pub" --no-passphrase --json \
        --org bench --vdc bench-vdc "$src"
    name=$(json_get "$nas/odt-job.json" 'j["vms"][0]["name"]')
    [[ -n "$name" ]] || die "no vms[0].name in $nas/odt-job.json"
    printf '  odt-export run (%s): %.3f s, %s MiB peak RSS; VM "%s"\n' "$label" "$LAST_WALL" "$(mib "$LAST_RSS_KB")" "$name"
    EXPORTED_NAME=$name
}
NAS="$WORK/nas" NAS_FLAT="$WORK/nas256"
echo "Exporting (untimed for the table) ..."
export_job "$NAS" "$WORK/src/bench" "${SIZE_MIB} MiB"; VM_NAME=$EXPORTED_NAME
export_job "$NAS_FLAT" "$WORK/src/bench256" "${FLAT_MIB} MiB"; VM_FLAT=$EXPORTED_NAME

# ---------------------------------------------------------------- vcsim
if [[ -n "$VCSIM_PARENT" ]]; then
    [[ -d "$VCSIM_PARENT" ]] || die "--vcsim-dir $VCSIM_PARENT is not a folder"
    VC_DIR=$(mktemp -d "$VCSIM_PARENT/odt-bench-import-vcsim.XXXXXX") || die "cannot create a folder under $VCSIM_PARENT"
    avail_mib=$(( $(df -Pk "$VC_DIR" | awk 'NR == 2 { print $4 }') / 1024 ))
    need_mib=$(( 3 * SIZE_MIB + 64 ))
    (( avail_mib >= need_mib )) || die "--vcsim-dir $VCSIM_PARENT has $avail_mib MiB free; vcsim needs about $need_mib MiB (capture + datastore + its copy)"
    VC_FS="$(stat -f -c %T "$VC_DIR") at $VC_DIR"
else
    VC_DIR="" VC_FS="$FSTYPE, in the work folder"
fi
VC_BASE=${VC_DIR:-$WORK}
start_vcsim "$VC_BASE"
echo "odt-vcsim: $VC_URL (pid $VCPID, capture $CAP)"

# ---------------------------------------------------------------- one run of each
# prepare NAS: flush dirty pages (vcsim's writes of the previous upload), warm the page cache.
prepare() {
    sync
    cat "$SRC_DISK" >/dev/null
    find "$1" -type f -exec cat {} + >/dev/null
}

# upload_record VM: the last upload index.json has for VM, as "STATUS SHA256 BYTES PATH".
upload_record() {
    "$PYTHON" - "$CAP/index.json" "$1" <<'PY'
import json, sys
try:
    ix = json.load(open(sys.argv[1]))
except Exception as e:
    sys.exit("cannot read %s: %s" % (sys.argv[1], e))
ups = [u for u in ix.get("uploads", []) if u.get("vm") == sys.argv[2]]
if not ups:
    sys.exit("index.json has no upload for VM %s" % sys.argv[2])
u = ups[-1]
print(u.get("status"), u.get("sha256"), u.get("bytes"), u.get("path", "-"))
PY
}


SIZE_BYTES=$(( SIZE_MIB * 1048576 ))
W_STREAM=() W_SOAP=() W_DATA=() W_ODT=() R_STREAM=() R_SOAP=() R_DATA=() R_ODT=() ODT_SELF=()
# curl --data-binary @FILE loads the file into memory and refuses files of 1 GiB or more
# ("option --data-binary: out of memory", curl 7.88); that row is only run below that.
DATA_OK=0
if (( SIZE_BYTES < 1073741824 )); then DATA_OK=1; fi
SHA_LINE=""

# curl_upload TAG URL CURL-ARGS...: one timed upload; checks HTTP 200.
curl_upload() {
    local tag=$1 url=$2; shift 2
    run_timed "$tag" curl -sS -o /dev/null -w '%{http_code}' -X POST "$@" \
        -H 'Content-Type: application/x-vnd.vmware-streamVmdk' "$url"
    [[ $(cat "$LAST_OUT") == 200 ]] || die "$tag: HTTP $(cat "$LAST_OUT") from $url"
}

# baseline_run R KIND: lease + curl upload + complete; KIND is "data" (--data-binary @) or "stream" (-T).
baseline_run() {
    local r=$1 kind=$2 name lid url t0 t1 rss=0 rec
    name="curl-$kind-$r"
    prepare "$NAS"
    t0=$(date +%s%N)
    run_timed "lease-$kind.$r" "${SOAP[@]}" import "$name" "$SRC_OVF"
    rss=$LAST_RSS_KB
    read -r lid url <"$LAST_OUT"
    [[ -n "$lid" && -n "$url" ]] || die "soap.py import printed no lease and URL: $(cat "$LAST_OUT")"
    if [[ $kind == data ]]; then
        curl_upload "curl-$kind.$r" "$url" --data-binary @"$SRC_DISK"
    else
        curl_upload "curl-$kind.$r" "$url" -H 'Expect:' -T "$SRC_DISK"
    fi
    local up_wall=$LAST_WALL up_rss=$LAST_RSS_KB
    run_timed "complete-$kind.$r" "${SOAP[@]}" complete "$lid"
    t1=$(date +%s%N)
    if (( LAST_RSS_KB > rss )); then rss=$LAST_RSS_KB; fi
    if (( up_rss > rss )); then rss=$up_rss; fi
    rec=$(upload_record "$name") || die "cannot read the upload of $name from $CAP/index.json (above)"
    read -r st sha bytes _ <<<"$rec"
    [[ $st == 200 && $bytes == "$SIZE_BYTES" ]] || die "vcsim recorded upload of $name as status $st, $bytes bytes (want 200, $SIZE_BYTES)"
    [[ $sha == "$SRC_SHA" ]] || die "vcsim recorded sha256 $sha for $name, the disk has $SRC_SHA"
    forget "$name"
    LAST_WALL=$up_wall LAST_RSS_KB=$up_rss
    LAST_WHOLE=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", (b - a) / 1e9 }')
    LAST_WHOLE_RSS=$rss
}

# odt_run TAG NAS VM: fresh --state, previous VM of that name destroyed; checks "deployed".
odt_run() {
    local tag=$1 nas=$2 vm=$3 outcome
    forget "$vm"
    local state="$WORK/state/$tag"
    rm -rf "$state"; mkdir -p "$state"
    prepare "$nas"
    # At the dock (untimed): the keyless verification whose record `run` requires.
    "$ODT_IMPORT" verify --nas "$nas" --trusted-key "$WORK/signing.key.pub" --state "$state" --json >/dev/null \
        || die "$tag: odt-import verify refused the job"
    run_timed "$tag" "$ODT_IMPORT" run --nas "$nas" --trusted-key "$WORK/signing.key.pub" \
        --vcenter "$VC_URL" --cluster DC0_C0 --identity "$WORK/provider.key" --state "$state" --json
    outcome=$(json_get "$LAST_OUT" 'j["vms"][0]["outcome"]')
    [[ "$outcome" == deployed ]] || die "$tag: odt-import run reports outcome '$outcome', want 'deployed' (report: $(head -c 600 "$LAST_OUT"))"
    LAST_SELF=$(json_get "$LAST_OUT" 'j["seconds"]')
}

echo
echo "Benchmark: ${SIZE_MIB} MiB disk, $RUNS run(s) per tool, work folder $WORK ($FSTYPE), $(nproc) CPU(s), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  curl:    $(curl --version | head -n1 | cut -d' ' -f1-2)"
echo "  odt:     $("$ODT_IMPORT" --version 2>/dev/null | head -n1 || echo "$ODT_IMPORT")"
echo "  vcsim:   $VCSIM (capture and datastore on $VC_FS)"
echo
for (( r = 1; r <= RUNS; r++ )); do
    baseline_run "$r" stream
    W_STREAM+=("$LAST_WALL") R_STREAM+=("$LAST_RSS_KB") W_SOAP+=("$LAST_WHOLE") R_SOAP+=("$LAST_WHOLE_RSS")
    printf '  run %d/%d  %-34s %8.3f s  %7s MiB RSS   (with SOAP: %.3f s)\n' "$r" "$RUNS" "curl -T disk" "$LAST_WALL" "$(mib "$LAST_RSS_KB")" "$LAST_WHOLE"

    if (( DATA_OK )); then
        baseline_run "$r" data
        W_DATA+=("$LAST_WALL") R_DATA+=("$LAST_RSS_KB")
        printf '  run %d/%d  %-34s %8.3f s  %7s MiB RSS\n' "$r" "$RUNS" "curl --data-binary @disk" "$LAST_WALL" "$(mib "$LAST_RSS_KB")"
    fi

    odt_run "odt.$r" "$NAS" "$VM_NAME"
    W_ODT+=("$LAST_WALL") R_ODT+=("$LAST_RSS_KB") ODT_SELF+=("$LAST_SELF")
    printf '  run %d/%d  %-34s %8.3f s  %7s MiB RSS   (its own report: %s s)\n' "$r" "$RUNS" "odt-import run" "$LAST_WALL" "$(mib "$LAST_RSS_KB")" "$LAST_SELF"
    if [[ -z "$SHA_LINE" ]]; then
        rec=$(upload_record "$VM_NAME") || die "cannot read the upload of $VM_NAME from $CAP/index.json (above)"
        read -r st sha bytes path <<<"$rec"
        [[ -f "$CAP/$path" ]] || die "vcsim recorded capture file $path for $VM_NAME, but $CAP/$path is missing"
        cap_sha=$(sha256sum "$CAP/$path" | cut -d' ' -f1)
        SHA_LINE=$(printf 'sha256 (odt run 1, %s bytes, HTTP %s):\n  source disk       %s\n  vcsim index.json  %s\n  capture file      %s' \
            "$bytes" "$st" "$SRC_SHA" "$sha" "$cap_sha")
        if [[ $st == 200 && $sha == "$SRC_SHA" && $cap_sha == "$SRC_SHA" ]]; then SHA_OK=1; else SHA_OK=0; fi
    fi
done
forget "$VM_NAME"

# ---------------------------------------------------------------- memory flatness
echo
echo "Memory flatness: odt-import run on the ${FLAT_MIB} MiB job ..."
odt_run "odt-flat" "$NAS_FLAT" "$VM_FLAT"
FLAT_RSS=$LAST_RSS_KB FLAT_WALL=$LAST_WALL
forget "$VM_FLAT"
VC_HWM=$(awk '/^VmHWM:/ { print $2 }' "/proc/$VCPID/status" 2>/dev/null || true)

# ---------------------------------------------------------------- table
BASE_MED=$(printf '%s\n' "${W_STREAM[@]}" | median)   # the curl baseline of the "x curl" column
echo
echo "Results (${SIZE_MIB} MiB disk, median of $RUNS; MiB/s = disk size / median; x curl = median / median of"
echo "the curl -T upload; RSS = max over runs; all into one odt-vcsim on this machine)"
printf '%-36s %10s %10s %8s %14s\n' "tool" "median s" "MiB/s" "x curl" "peak RSS MiB"
printf '%-36s %10s %10s %8s %14s\n' "------------------------------------" "----------" "----------" "--------" "--------------"
row "curl -T disk (upload)" "${W_STREAM[@]}" -- "${R_STREAM[@]}"
row "curl -T disk + SOAP (whole)" "${W_SOAP[@]}" -- "${R_SOAP[@]}"
if (( DATA_OK )); then
    row "curl --data-binary @disk (upload)" "${W_DATA[@]}" -- "${R_DATA[@]}"
fi
row "odt-import run (whole)" "${W_ODT[@]}" -- "${R_ODT[@]}"
echo "(odt-import's own --json \"seconds\":$(printf ' %.3f' "${ODT_SELF[@]}"))"
if (( DATA_OK )); then
    echo "(curl --data-binary @disk reads the whole file into memory before sending)"
else
    echo "(curl --data-binary @disk not run: curl refuses to load a file of 1 GiB or more into memory)"
fi
echo
echo "$SHA_LINE"
echo
awk -v big="$(printf '%s\n' "${R_ODT[@]}" | max)" -v small="$FLAT_RSS" -v s="$SIZE_MIB" -v f="$FLAT_MIB" -v w="$FLAT_WALL" 'BEGIN {
    printf "peak RSS, odt-import run: %d MiB disk: %.1f MiB; %d MiB disk: %.1f MiB (ratio %.2f; the %d MiB run took %.3f s)\n",
        s, big / 1024, f, small / 1024, (small > 0 ? big / small : 0), f, w }'
if [[ -n "$VC_HWM" ]]; then echo "odt-vcsim peak RSS over the whole bench: $(mib "$VC_HWM") MiB"; fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

if (( ! SHA_OK )); then
    die "the upload vcsim captured from odt-import run differs from the source disk (above)"
fi
echo
echo "Done."
