# Shared by the benchmark scripts: timing helpers and keys (all three), and for the two that
# run against odt-vcsim (scripts/bench-import.sh, scripts/bench-export-vcenter.sh) the tool
# checks, the work folder, the builds, the synthetic source VM and the simulator's
# lifecycle. Source it after defining PROG, REPO and die; the functions read the caller's
# KEEP, NO_BUILD, VCSIM (a binary or ""), WORK, LOGS, ODT_EXPORT and ODT_IMPORT. Defining
# functions only, it is not meant to be run on its own.

# bench_require_tools: every outside tool the benches call, and PYTHON.
bench_require_tools() {
    local tool
    for tool in /usr/bin/time openssl curl sync sha256sum awk find stat head mkfifo; do
        command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (on Debian: apt-get install time openssl curl coreutils gawk findutils)"
    done
    if [[ -z "${PYTHON:-}" ]]; then
        if [[ -x /usr/bin/python3 ]]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
    fi
    command -v "$PYTHON" >/dev/null 2>&1 || die "python3 not found (set PYTHON, or apt-get install python3)"
}

# bench_work_area NAME: a fresh work folder WORK (under TMPDIR_BENCH, default /var/tmp) with
# LOGS inside; sets FSTYPE and installs the EXIT trap that stops vcsim and removes WORK and
# VC_DIR (a vcsim folder outside WORK, when the caller made one) unless --keep.
bench_work_area() {
    local parent=${TMPDIR_BENCH:-/var/tmp}
    WORK=$(mktemp -d "$parent/$1.XXXXXX") || die "cannot create a work folder under $parent"
    LOGS="$WORK/logs"
    mkdir -p "$LOGS"
    VCPID="" VCIN_OPEN=0 VC_DIR=""
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
    FSTYPE=$(stat -f -c %T "$WORK")
    [[ "$FSTYPE" != tmpfs ]] || echo "$PROG: warning: $WORK is on tmpfs; write figures will not reflect a disk" >&2
}

bench_stop_vcsim() {
    [[ -n "$VCPID" ]] || return 0
    if (( VCIN_OPEN )); then exec 7>&-; VCIN_OPEN=0; fi   # stdin EOF: vcsim stops itself
    local i
    for (( i = 0; i < 50; i++ )); do
        kill -0 "$VCPID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$VCPID" 2>/dev/null; then kill "$VCPID" 2>/dev/null || true; fi
    wait "$VCPID" 2>/dev/null || true
    VCPID=""
}

bench_cleanup() {
    local rc=$?
    bench_stop_vcsim
    if (( KEEP )); then
        echo "Kept: work folder $WORK${VC_DIR:+, vcsim folder $VC_DIR}"
    else
        rm -rf "$WORK"
        if [[ -n "$VC_DIR" ]]; then rm -rf "$VC_DIR"; fi
    fi
    exit "$rc"
}

# bench_build: ODT_EXPORT / ODT_IMPORT (release builds, unless --no-build) and VCSIM
# (scripts/build-vcsim.sh unless --vcsim-bin gave one). Build logs go to LOGS.
bench_build() {
    ODT_EXPORT="$REPO/target/release/odt-export"
    ODT_IMPORT="$REPO/target/release/odt-import"
    if (( ! NO_BUILD )); then
        echo "Building odt (cargo build --release -p odt-export -p odt-import) ..."
        if ! (cd "$REPO" && cargo build --release -p odt-export -p odt-import) >"$LOGS/cargo-build.log" 2>&1; then
            tail -n 30 "$LOGS/cargo-build.log" >&2
            die "cargo build --release failed (above)"
        fi
    fi
    local b rc
    for b in "$ODT_EXPORT" "$ODT_IMPORT"; do
        [[ -x "$b" ]] || die "$b is missing (not built yet?); build it with 'cargo build --release -p odt-export -p odt-import' or drop --no-build"
    done
    if [[ -n "$VCSIM" ]]; then
        [[ -x "$VCSIM" ]] || die "--vcsim-bin $VCSIM is not an executable file"
    else
        echo "Building odt-vcsim (scripts/build-vcsim.sh) ..."
        if VCSIM=$("$REPO/scripts/build-vcsim.sh" 2>"$LOGS/build-vcsim.log" | tail -n1); then :; else
            rc=$?
            cat "$LOGS/build-vcsim.log" >&2
            die "scripts/build-vcsim.sh failed with exit status $rc (3: this machine cannot provide Go or govmomi; or pass --vcsim-bin FILE)"
        fi
        [[ -x "$VCSIM" ]] || die "scripts/build-vcsim.sh did not name a binary (got '$VCSIM')"
    fi
}

# ---------------------------------------------------------------- measuring helpers
LAST_WALL="" LAST_RSS_KB="" LAST_OUT=""
# run_timed TAG CMD...: wall time from date(1) in ns, peak RSS from /usr/bin/time %M.
# stdout goes to $LOGS/TAG.out. Sets LAST_WALL (s), LAST_RSS_KB, LAST_OUT. Dies on failure.
run_timed() {
    local tag=$1; shift
    local t0 t1 rc
    LAST_OUT="$LOGS/$tag.out"
    t0=$(date +%s%N)
    if /usr/bin/time -f '%e %M' -o "$LOGS/$tag.time" "$@" >"$LAST_OUT" 2>"$LOGS/$tag.err"; then rc=0; else rc=$?; fi
    t1=$(date +%s%N)
    if (( rc != 0 )); then
        echo "---- stdout/stderr of $tag:" >&2
        tail -n 10 "$LAST_OUT" >&2
        tail -n 30 "$LOGS/$tag.err" >&2
        die "$tag failed with exit status $rc: $*"
    fi
    LAST_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", (b - a) / 1e9 }')
    LAST_RSS_KB=$(awk 'END { print $2 }' "$LOGS/$tag.time")
}
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.6f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
max() { sort -g | tail -n1; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# row NAME WALLS... -- RSS_KB... : one table line of median wall time, MiB/s of SIZE_MIB,
# ratio to BASE_MED, and peak RSS ("-" for none), the name padded to ROW_WIDTH (default 36).
row() {
    local name=$1; shift
    local walls=() rsss=()
    while [[ $1 != -- ]]; do walls+=("$1"); shift; done; shift
    rsss=("$@")
    local med maxrss
    med=$(printf '%s\n' "${walls[@]}" | median)
    maxrss=$(printf '%s\n' "${rsss[@]}" | max)
    awk -v n="$name" -v w="${ROW_WIDTH:-36}" -v m="$med" -v s="$SIZE_MIB" -v c="$BASE_MED" -v r="$maxrss" 'BEGIN {
        tp = (m > 0) ? sprintf("%.1f", s / m) : "inf"
        x  = (c > 0) ? sprintf("%.2f", m / c) : "n/a"
        rs = (r == "-") ? "-" : sprintf("%.1f", r / 1024)
        printf "%-*s %10.3f %10s %8s %14s\n", w, n, m, tp, x, rs }'
}
json_get() {  # json_get FILE EXPR: python expression on the parsed JSON "j"; "" on error
    "$PYTHON" -c 'import json,sys
try:
    j = json.load(open(sys.argv[1])); v = eval(sys.argv[2])
except Exception:
    v = None
print("" if v is None else v)' "$1" "$2"
}

# ---------------------------------------------------------------- source data and keys
# make_keystream FILE BYTES: BYTES of a fixed-key AES-CTR keystream (incompressible,
# reproducible) into FILE.
make_keystream() {
    { openssl enc -aes-128-ctr -K 000102030405060708090a0b0c0d0e0f -iv 00000000000000000000000000000000 </dev/zero 2>/dev/null || true; } \
        | head -c "$2" >"$1"
    [[ $(stat -c %s "$1") -eq $2 ]] || die "could not generate $1 ($2 bytes)"
}

# make_source DIR NAME MIB [mf]: OVF folder DIR with NAME.ovf and NAME-disk1.vmdk (a fixed-key
# AES-CTR keystream: incompressible, reproducible), plus NAME.mf (SHA256) when the fourth
# argument is "mf". The descriptor is make_big_ovf's (tests/src/lib.rs) plus what vcsim's
# CreateImportSpec needs: a <System> with a VirtualSystemType, a SCSI controller as the
# disk's <rasd:Parent>, and a NIC ResourceSubType (without them vcsim panics or rejects it).
make_source() {
    local d=$1 name=$2 mib=$3 with_mf=${4:-} bytes disk
    bytes=$(( mib * 1048576 ))
    disk="$name-disk1.vmdk"
    mkdir -p "$d"
    make_keystream "$d/$disk" "$bytes"
    cat >"$d/$name.ovf" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData">
  <References><File ovf:id="file1" ovf:href="$disk" ovf:size="$bytes"/></References>
  <DiskSection><Info>disks</Info><Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="$bytes"/></DiskSection>
  <NetworkSection><Info>nets</Info><Network ovf:name="corp-lan"><Description>lan</Description></Network></NetworkSection>
  <VirtualSystem ovf:id="$name">
    <Info>vm</Info><Name>$name</Name>
    <VirtualHardwareSection><Info>hw</Info>
      <System><vssd:ElementName>Virtual Hardware Family</vssd:ElementName><vssd:InstanceID>0</vssd:InstanceID><vssd:VirtualSystemIdentifier>$name</vssd:VirtualSystemIdentifier><vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType></System>
      <Item><rasd:ElementName>scsi</rasd:ElementName><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceSubType>lsilogic</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>
      <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:ElementName>disk</rasd:ElementName><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>2</rasd:InstanceID><rasd:Parent>1</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
      <Item><rasd:Connection>corp-lan</rasd:Connection><rasd:ElementName>nic</rasd:ElementName><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
EOF
    if [[ "$with_mf" == mf ]]; then
        local f
        for f in "$name.ovf" "$disk"; do
            echo "SHA256($f)= $(sha256sum "$d/$f" | cut -d' ' -f1)"
        done >"$d/$name.mf"
    fi
}

# make_keys: WORK/signing.key(.pub) from odt-export keygen, WORK/provider.key(.pub) from
# odt-import keygen.
make_keys() {
    "$ODT_EXPORT" keygen --out "$WORK/signing.key" >"$LOGS/keygen.log" 2>&1 \
        || { cat "$LOGS/keygen.log" >&2; die "odt-export keygen --out $WORK/signing.key failed"; }
    "$ODT_IMPORT" keygen --out "$WORK/provider.key" >>"$LOGS/keygen.log" 2>&1 \
        || { cat "$LOGS/keygen.log" >&2; die "odt-import keygen --out $WORK/provider.key failed"; }
    local f
    for f in signing.key signing.key.pub provider.key provider.key.pub; do
        [[ -f "$WORK/$f" ]] || die "keygen did not write $WORK/$f"
    done
}

# ---------------------------------------------------------------- the simulator
# start_vcsim BASE: starts VCSIM with a random password (exported as ODT_VCENTER_USER /
# ODT_VCENTER_PASSWORD), its capture in BASE/capture (CAP) and its datastores under
# BASE/vcsim-tmp; sets VCPID and VC_URL, then logs SOAP (the raw client, tests/vcsim/soap.py,
# as an array so /usr/bin/time can run it) in. One SOAP session serves the whole bench:
# leases belong to the session that made them; its cookie is kept in WORK.
# start_vcsim BASE: odt-vcsim with its capture and datastore under BASE, plus VCSIM_ARGS
# (an array, e.g. (-nfc-stream-mibps 40)).
start_vcsim() {
    local base=$1
    if [[ -z ${VCSIM_ARGS+x} ]]; then VCSIM_ARGS=(); fi
    VC_USER=odt-bench
    VC_PASSWORD="bench-$RANDOM$RANDOM"
    export ODT_VCENTER_USER="$VC_USER" ODT_VCENTER_PASSWORD="$VC_PASSWORD"
    CAP="$base/capture"
    mkdir -p "$base/vcsim-tmp"
    mkfifo "$WORK/vcsim.stdin"
    # vcsim exits when its stdin reaches EOF: fd 7 is the only writer, so it stops with us.
    TMPDIR="$base/vcsim-tmp" "$VCSIM" -listen 127.0.0.1:0 -capture "$CAP" -user "$VC_USER" -password "$VC_PASSWORD" \
        "${VCSIM_ARGS[@]}" <"$WORK/vcsim.stdin" >"$WORK/vcsim.json" 2>"$LOGS/vcsim.log" &
    VCPID=$!
    exec 7>"$WORK/vcsim.stdin"
    VCIN_OPEN=1
    local _
    for _ in $(seq 100); do
        [[ -s "$WORK/vcsim.json" ]] && break
        kill -0 "$VCPID" 2>/dev/null || break
        sleep 0.1
    done
    [[ -s "$WORK/vcsim.json" ]] || { tail -n 20 "$LOGS/vcsim.log" >&2; die "odt-vcsim printed no JSON line"; }
    VC_URL=$(json_get "$WORK/vcsim.json" 'j["url"]')
    [[ -n "$VC_URL" ]] || die "no url in $(cat "$WORK/vcsim.json")"
    export ODT_SOAP_COOKIES="$WORK/soap.cookies"
    SOAP=("$PYTHON" "$REPO/tests/vcsim/soap.py" "$VC_URL")
    "${SOAP[@]}" login >"$LOGS/login.log" 2>&1 || { cat "$LOGS/login.log" >&2; die "SOAP Login to $VC_URL failed"; }
}

# parallel_results LABEL: the table of a --vms bench, from the caller's WALLS and RSS (associative
# arrays keyed by the --parallel value: wall times separated by spaces, peak RSS in KiB) and
# VMS, SIZE_MIB, RUNS, STREAM_MIBPS: --parallel 1 and VMS side by side with the ideal
# (total bytes / (streams x STREAM_MIBPS)) and the ratio to it.
parallel_results() {
    local label=$1 p med streams ideal total=$(( VMS * SIZE_MIB ))
    echo "Results ($VMS VMs x ${SIZE_MIB} MiB = $total MiB; vcsim bounds each NFC stream to $STREAM_MIBPS MiB/s;"
    echo "median of $RUNS; ideal = total / (streams x $STREAM_MIBPS MiB/s); x ideal = median / ideal)"
    printf '%-36s %10s %10s %10s %9s %14s\n' "$label" "median s" "MiB/s" "ideal s" "x ideal" "peak RSS MiB"
    for p in 1 "$VMS"; do
        med=$(printf '%s\n' ${WALLS[$p]} | median)
        streams=$(( p < VMS ? p : VMS ))
        ideal=$(awk -v t="$total" -v s="$streams" -v r="$STREAM_MIBPS" 'BEGIN { printf "%.3f", t / (s * r) }')
        awk -v p="$p" -v m="$med" -v t="$total" -v i="$ideal" -v rss="${RSS[$p]}" 'BEGIN {
            printf "--parallel %-25d %10.3f %10.1f %10.3f %9.2f %14.1f\n", p, m, t / m, i, m / i, rss / 1024 }'
    done
}
