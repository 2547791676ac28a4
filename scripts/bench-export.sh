#!/usr/bin/env bash
# Benchmark odt-export against cp, rage, gpg and openssl on one large disk.
# Run with -h for usage.
set -euo pipefail

PROG=$(basename "$0")
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
    cat <<EOF
Usage: $PROG [--size-gib N] [--runs N] [--dir DIR] [options]

Time the odt exporter's data path against common tools on one disk of random
(incompressible) data wrapped in an OVF folder (descriptor + SHA256 .mf + disk1.vmdk;
the "disk" is raw random bytes, not a real VMDK). Every tool writes into DIR; DIR is
cleaned and 'sync'ed (untimed) before each run, and the source is read once with
'cat > /dev/null' before each run so every tool reads it from the page cache.

Measured (median wall time of --runs runs, MiB/s of the source size, time ratio to
cp; the fastest run and its ratio to the fastest cp; peak RSS from /usr/bin/time %M,
max over runs):
  a) cp disk DIR/           and  cp + sync FILE (the exporter fsyncs, cp does not)
  b) tar -cf - -C src . | rage -r AGE_RECIPIENT -o DIR/x.age
  c) gpg --symmetric --cipher-algo AES256 --compress-algo none (passphrase file, temporary GNUPGHOME)
  d) openssl enc -aes-256-ctr -pbkdf2 -pass file:F
  e) odt-export run --recipient PKEY.pub --no-passphrase   (data path, no KDF)
  f) odt-export run with ODT_PASSPHRASE (default KDF); prints kdf_seconds from --json
  g) odt-export verify --nas DIR (keyless)  vs  openssl dgst -sha256 of the .odt file
     (and b3sum of it when b3sum is installed: the chunk digests are BLAKE3)
Then a memory-flatness check: (e) again on a 256 MiB disk, both peak RSS printed.

Options:
  --size-gib N        size of the disk in GiB, decimals allowed (default 2; e.g. 0.02 for
                      a quick plumbing test)
  --runs N            runs per tool (default 3)
  --dir DIR           output directory (the NAS); must be absent, empty, or a previous
                      output of this script. Default: a new folder under /var/tmp (not tmpfs).
                      Its contents are deleted between runs and at the end (see --keep).
  --skip-odt          do not build or run odt-export/odt-import (parts e, f, g-odt and
                      the flatness check); baselines only
  --no-build          do not run 'cargo build --release -p odt-export -p odt-import';
                      use the binaries already in target/release
  --bin-dir DIR       take odt-export and odt-import from DIR instead of target/release
                      (implies --no-build; e.g. for a stub or another build)
  --skip-rage         skip part b (no rage install)
  --kdf-memory-mib N  pass --kdf-memory-mib N to the passphrase run (f) (default: the
                      exporter's default KDF)
  --odt-args "ARGS"   extra arguments (word-split) appended to both 'odt-export run'
                      commands, e.g. "--org acme --vdc vdc1"
  --tools-dir DIR     cache for rage/rage-keygen (default target/bench-tools); rage is
                      installed there with 'cargo install --locked rage' when missing
  --keep              keep the work folder (source, keys, logs) and DIR's contents
  -h, --help          show this help

Exit status: 0 when every tool succeeded (figures are never judged), 1 when a tool,
the build or an install failed, 2 on a usage error.
EOF
}

die() { echo "$PROG: error: $*" >&2; exit 1; }
usage_error() { echo "$PROG: $*" >&2; echo "Try '$PROG -h' for help." >&2; exit 2; }
need_arg() { [[ $# -ge 2 && -n "$2" ]] || usage_error "$1 needs a value"; }
# shellcheck source=scripts/lib/bench.sh
. "$REPO/scripts/lib/bench.sh"

# ---------------------------------------------------------------- arguments
SIZE_GIB=2 RUNS=3 DIR="" SKIP_ODT=0 NO_BUILD=0 SKIP_RAGE=0 KDF_MIB="" ODT_ARGS="" KEEP=0
TOOLS_DIR="$REPO/target/bench-tools"
BIN_DIR="$REPO/target/release"
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --size-gib) need_arg "$@"; SIZE_GIB=$2; shift 2 ;;
        --size-gib=*) SIZE_GIB=${1#*=}; shift ;;
        --runs) need_arg "$@"; RUNS=$2; shift 2 ;;
        --runs=*) RUNS=${1#*=}; shift ;;
        --dir) need_arg "$@"; DIR=$2; shift 2 ;;
        --dir=*) DIR=${1#*=}; shift ;;
        --skip-odt) SKIP_ODT=1; shift ;;
        --no-build) NO_BUILD=1; shift ;;
        --bin-dir) need_arg "$@"; BIN_DIR=$2; NO_BUILD=1; shift 2 ;;
        --bin-dir=*) BIN_DIR=${1#*=}; NO_BUILD=1; shift ;;
        --skip-rage) SKIP_RAGE=1; shift ;;
        --kdf-memory-mib) need_arg "$@"; KDF_MIB=$2; shift 2 ;;
        --kdf-memory-mib=*) KDF_MIB=${1#*=}; shift ;;
        --odt-args) [[ $# -ge 2 ]] || usage_error "--odt-args needs a value"; ODT_ARGS=$2; shift 2 ;;
        --odt-args=*) ODT_ARGS=${1#*=}; shift ;;
        --tools-dir) need_arg "$@"; TOOLS_DIR=$2; shift 2 ;;
        --tools-dir=*) TOOLS_DIR=${1#*=}; shift ;;
        --keep) KEEP=1; shift ;;
        *) usage_error "unknown argument '$1'" ;;
    esac
done
[[ "$SIZE_GIB" =~ ^([0-9]+([.][0-9]*)?|[.][0-9]+)$ ]] || usage_error "--size-gib must be a number, got '$SIZE_GIB'"
SIZE_MIB=$(awk -v n="$SIZE_GIB" 'BEGIN { printf "%d", n * 1024 + 0.5 }')
(( SIZE_MIB >= 1 )) || usage_error "--size-gib $SIZE_GIB is below 1 MiB"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || usage_error "--runs must be a positive integer, got '$RUNS'"
[[ -z "$KDF_MIB" || "$KDF_MIB" =~ ^[1-9][0-9]*$ ]] || usage_error "--kdf-memory-mib must be a positive integer, got '$KDF_MIB'"
read -r -a ODT_EXTRA <<<"$ODT_ARGS"

for tool in /usr/bin/time openssl gpg gpgconf tar cp sync sha256sum python3 awk find stat; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (on Debian: apt-get install time openssl gnupg tar coreutils python3 gawk findutils)"
done

# python3 for the XML checks: $PYTHON if set, else Debian's own (starts far faster
# than a pyenv shim), else the first python3 in PATH.
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x /usr/bin/python3 ]]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi

# ---------------------------------------------------------------- work area
WORK=$(mktemp -d /var/tmp/odt-bench.XXXXXX) || die "cannot create a work folder under /var/tmp"
MARKER=.odt-bench-output
GNUPGHOME_TMP="$WORK/gnupg"
cleanup() {
    local rc=$?
    if [[ -d "$GNUPGHOME_TMP" ]]; then
        gpgconf --homedir "$GNUPGHOME_TMP" --kill gpg-agent >/dev/null 2>&1 || true
    fi
    if (( KEEP )); then
        echo "Kept: work folder $WORK, outputs in $DIR"
    else
        if [[ -n "${DIR:-}" && -f "$DIR/$MARKER" ]]; then clean_dir; fi
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z "$DIR" ]]; then
    DIR="$WORK/nas"
    mkdir -p "$DIR"
else
    mkdir -p "$DIR" || die "cannot create --dir '$DIR'"
    DIR=$(cd "$DIR" && pwd)
    if [[ ! -f "$DIR/$MARKER" ]] && [[ -n "$(ls -A "$DIR")" ]]; then
        die "--dir $DIR is not empty and was not made by $PROG; its contents would be deleted between runs. Pass an empty or new folder."
    fi
fi
touch "$DIR/$MARKER"
clean_dir() { find "$DIR" -mindepth 1 -maxdepth 1 ! -name "$MARKER" -exec rm -rf {} +; }
FSTYPE=$(stat -f -c %T "$DIR")
[[ "$FSTYPE" != tmpfs ]] || echo "$PROG: warning: $DIR is on tmpfs; write figures will not reflect a disk" >&2
LOGS="$WORK/logs"; mkdir -p "$LOGS"

# ---------------------------------------------------------------- tools
RAGE="" RAGE_KEYGEN=""
ensure_rage() {
    local bin="$TOOLS_DIR/bin"
    if [[ -x "$bin/rage" && -x "$bin/rage-keygen" ]]; then
        RAGE="$bin/rage" RAGE_KEYGEN="$bin/rage-keygen"
    elif command -v rage >/dev/null 2>&1 && command -v rage-keygen >/dev/null 2>&1; then
        RAGE=$(command -v rage) RAGE_KEYGEN=$(command -v rage-keygen)
    else
        command -v cargo >/dev/null 2>&1 || die "rage is not installed and cargo is missing; install rage or pass --skip-rage"
        local root="$WORK/rage-root"
        echo "Installing rage into $bin (cargo install --locked rage; takes a few minutes, once) ..."
        if ! cargo install --locked rage --root "$root" >"$LOGS/rage-install.log" 2>&1; then
            tail -n 20 "$LOGS/rage-install.log" >&2
            die "cargo install rage failed (log above; full log kept in $LOGS/rage-install.log with --keep); pass --skip-rage to bench without it"
        fi
        mkdir -p "$bin" || die "cannot create $bin"
        cp "$root/bin/rage" "$root/bin/rage-keygen" "$bin/"
        RAGE="$bin/rage" RAGE_KEYGEN="$bin/rage-keygen"
    fi
    "$RAGE" --version >/dev/null 2>&1 || die "$RAGE does not run; delete $TOOLS_DIR/bin to reinstall, or pass --skip-rage"
}

BIN_DIR=$(cd "$BIN_DIR" 2>/dev/null && pwd || echo "$BIN_DIR")
ODT_EXPORT="$BIN_DIR/odt-export"
ODT_IMPORT="$BIN_DIR/odt-import"
ensure_odt() {
    if (( ! NO_BUILD )); then
        echo "Building odt (cargo build --release -p odt-export -p odt-import) ..."
        if ! (cd "$REPO" && cargo build --release -p odt-export -p odt-import) >"$LOGS/cargo-build.log" 2>&1; then
            tail -n 30 "$LOGS/cargo-build.log" >&2
            die "cargo build --release failed (above); fix the build, or pass --skip-odt to bench the baseline tools only"
        fi
    fi
    local b
    for b in "$ODT_EXPORT" "$ODT_IMPORT"; do
        [[ -x "$b" ]] || die "$b is missing (not built yet?); build it with 'cargo build --release -p odt-export -p odt-import', or pass --skip-odt to bench the baseline tools only"
    done
}

if (( SKIP_RAGE )); then echo "Skipping rage (--skip-rage)."; else ensure_rage; fi
if (( SKIP_ODT )); then
    echo "Skipping odt-export parts e, f, g and the memory-flatness check (--skip-odt)."
else
    ensure_odt
fi

# ---------------------------------------------------------------- source data
# make_bench_source DIR MIB: OVF folder with disk1.vmdk of fixed-key AES-CTR keystream
# (incompressible, reproducible), an OVF 1.0 descriptor and a SHA256 manifest.
make_bench_source() {
    local d=$1 mib=$2 bytes
    bytes=$(( mib * 1048576 ))
    mkdir -p "$d"
    make_keystream "$d/disk1.vmdk" "$bytes"
    cat >"$d/bench.ovf" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData">
  <References>
    <File ovf:href="disk1.vmdk" ovf:id="file1" ovf:size="$bytes"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="$mib" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="corp-lan">
      <Description>The corp-lan network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="bench">
    <Info>A virtual machine</Info>
    <Name>bench</Name>
    <OperatingSystemSection ovf:id="101" vmw:osType="otherLinux64Guest">
      <Info>The kind of installed guest operating system</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>bench</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of Virtual CPUs</rasd:Description>
        <rasd:ElementName>1 virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>1</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>1024MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>1024</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SCSI Controller</rasd:Description>
        <rasd:ElementName>SCSI Controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard Disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>7</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>corp-lan</rasd:Connection>
        <rasd:Description>VmxNet3 ethernet adapter on &quot;corp-lan&quot;</rasd:Description>
        <rasd:ElementName>Network adapter 1</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
EOF
    "$PYTHON" -c 'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])' "$d/bench.ovf" \
        || die "generated $d/bench.ovf is not well-formed (bug in $PROG)"
    local f
    for f in bench.ovf disk1.vmdk; do
        echo "SHA256($f)= $(sha256sum "$d/$f" | cut -d' ' -f1)"
    done >"$d/bench.mf"
}

SRC="$WORK/src"
echo "Generating a ${SIZE_MIB} MiB random disk in $SRC ..."
make_bench_source "$SRC" "$SIZE_MIB"
SRC_DISK="$SRC/disk1.vmdk"

# Secrets and keys (all in the work folder, never on a command line).
PASSFILE="$WORK/passphrase"
( umask 077; printf 'odt-bench-passphrase-%s\n' "$RANDOM$RANDOM" >"$PASSFILE" )
PASSPHRASE=$(head -n1 "$PASSFILE")
mkdir -m 700 "$GNUPGHOME_TMP"
AGE_RECIPIENT=""
if [[ -n "$RAGE" ]]; then
    "$RAGE_KEYGEN" -o "$WORK/age-identity.txt" >/dev/null 2>&1 || die "rage-keygen failed"
    AGE_RECIPIENT=$(awk '/^# public key: /{print $4}' "$WORK/age-identity.txt")
    [[ "$AGE_RECIPIENT" == age1* ]] || die "could not read the age recipient from $WORK/age-identity.txt"
fi
if (( ! SKIP_ODT )); then
    make_keys
fi

# ---------------------------------------------------------------- measuring
# Results, one entry per row.
ROW_NAME=() ROW_MED=() ROW_MIN=() ROW_RSS=()
LAST_STDOUT=""

# bench_run LABEL RUN CMD...: one timed run (run_timed in scripts/lib/bench.sh, tagged by
# label and run). Sets LAST_WALL (s), LAST_RSS_KB; stdout in LAST_STDOUT.
bench_run() {
    local label=$1 run=$2; shift 2
    run_timed "${label//[^A-Za-z0-9]/_}.$run" "$@"
    LAST_STDOUT=$LAST_OUT
}

# prepare: empty DIR (leaving the empty job folder odt-export writes into), flush dirty
# pages (so one tool's writeback is not billed to the next), and pull the source into the
# page cache.
prepare() {
    clean_dir
    mkdir "$DIR/job"
    sync
    cat "$SRC"/* >/dev/null
}

# bench LABEL CMD...: RUNS runs with prepare before each; records a table row.
# Globals after: LAST_RUN_STDOUTS (array of stdout files).
bench() {
    local label=$1; shift
    local r walls=() maxrss=0
    LAST_RUN_STDOUTS=()
    for (( r = 1; r <= RUNS; r++ )); do
        prepare
        bench_run "$label" "$r" "$@"
        walls+=("$LAST_WALL")
        if (( LAST_RSS_KB > maxrss )); then maxrss=$LAST_RSS_KB; fi
        LAST_RUN_STDOUTS+=("$LAST_STDOUT")
        printf '  %-28s run %d/%d: %8.3f s  %7.1f MiB RSS\n' "$label" "$r" "$RUNS" "$LAST_WALL" "$(awk -v k="$LAST_RSS_KB" 'BEGIN { print k / 1024 }')"
    done
    ROW_NAME+=("$label")
    ROW_MED+=("$(printf '%s\n' "${walls[@]}" | median)")
    ROW_MIN+=("$(printf '%s\n' "${walls[@]}" | sort -g | head -n1)")
    ROW_RSS+=("$maxrss")
}

# bench_noprep LABEL CMD...: like bench, but DIR is kept (for verify/digest of its contents).
bench_noprep() {
    local label=$1; shift
    local r walls=() maxrss=0
    for (( r = 1; r <= RUNS; r++ )); do
        sync
        find "$DIR" -type f -exec cat {} + >/dev/null
        bench_run "$label" "$r" "$@"
        walls+=("$LAST_WALL")
        if (( LAST_RSS_KB > maxrss )); then maxrss=$LAST_RSS_KB; fi
        printf '  %-28s run %d/%d: %8.3f s  %7.1f MiB RSS\n' "$label" "$r" "$RUNS" "$LAST_WALL" "$(awk -v k="$LAST_RSS_KB" 'BEGIN { print k / 1024 }')"
    done
    ROW_NAME+=("$label")
    ROW_MED+=("$(printf '%s\n' "${walls[@]}" | median)")
    ROW_MIN+=("$(printf '%s\n' "${walls[@]}" | sort -g | head -n1)")
    ROW_RSS+=("$maxrss")
}

json_field() {  # json_field FILE FIELD: top-level field of a JSON object, or empty
    "$PYTHON" -c 'import json,sys
try:
    v = json.load(open(sys.argv[1])).get(sys.argv[2])
except Exception:
    v = None
print("" if v is None else v)' "$1" "$2"
}

echo
echo "Benchmark: ${SIZE_MIB} MiB disk, $RUNS run(s) per tool, output dir $DIR ($FSTYPE), $(nproc) CPU(s)"
echo "  openssl: $(openssl version | head -n1)"
echo "  gpg:     $(gpg --version | head -n1)"
if [[ -n "$RAGE" ]]; then echo "  rage:    $("$RAGE" --version 2>&1 | head -n1) ($RAGE)"; fi
if (( ! SKIP_ODT )); then echo "  odt:     $("$ODT_EXPORT" --version 2>/dev/null | head -n1 || echo "$ODT_EXPORT")"; fi
echo

# a) cp and cp + sync
bench "cp" cp "$SRC_DISK" "$DIR/"
# shellcheck disable=SC2016  # $1.. expand in the inner bash
bench "cp + sync" bash -c 'cp "$1" "$2/" && sync "$2/disk1.vmdk"' _ "$SRC_DISK" "$DIR"

# b) tar | rage
if [[ -n "$RAGE" ]]; then
    # shellcheck disable=SC2016  # $1.. expand in the inner bash
    bench "tar | rage -r (age)" bash -c 'set -o pipefail; tar -cf - -C "$1" . | "$2" -r "$3" -o "$4/x.age"' \
        _ "$SRC" "$RAGE" "$AGE_RECIPIENT" "$DIR"
fi

# c) gpg symmetric AES256
bench "gpg --symmetric AES256" env GNUPGHOME="$GNUPGHOME_TMP" gpg --batch --yes --pinentry-mode loopback \
    --passphrase-file "$PASSFILE" --symmetric --cipher-algo AES256 --compress-algo none -o "$DIR/x.gpg" "$SRC_DISK"

# d) openssl enc
bench "openssl enc aes-256-ctr" openssl enc -aes-256-ctr -pbkdf2 -pass "file:$PASSFILE" -in "$SRC_DISK" -out "$DIR/x.enc"

KDF_LINE=""
RSS_FLAT_BIG="" RSS_FLAT_SMALL=""
if (( ! SKIP_ODT )); then
    # The exporter refuses a NAS folder holding files no odt job has (this script's marker
    # among them), so the job goes one level down, as on a real NAS (/mnt/nas/job1).
    # e) data path: recipient key, no passphrase
    bench "odt-export run (recipient)" env -u ODT_PASSPHRASE "$ODT_EXPORT" run --nas "$DIR/job" \
        --signing-key "$WORK/signing.key" --recipient "$WORK/provider.key.pub" --no-passphrase --json \
        --org bench --vdc bench-vdc \
        "${ODT_EXTRA[@]}" "$SRC"
    RSS_FLAT_BIG=${ROW_RSS[-1]}

    # f) passphrase (default KDF unless --kdf-memory-mib)
    kdf_args=()
    if [[ -n "$KDF_MIB" ]]; then kdf_args=(--kdf-memory-mib "$KDF_MIB"); fi
    bench "odt-export run (passphrase)" env ODT_PASSPHRASE="$PASSPHRASE" "$ODT_EXPORT" run --nas "$DIR/job" \
        --signing-key "$WORK/signing.key" --json --org bench --vdc bench-vdc "${kdf_args[@]}" "${ODT_EXTRA[@]}" "$SRC"
    kdfs=()
    for out in "${LAST_RUN_STDOUTS[@]}"; do
        v=$(json_field "$out" kdf_seconds)
        if [[ -n "$v" ]]; then kdfs+=("$v"); fi
    done
    if (( ${#kdfs[@]} )); then
        KDF_LINE="kdf_seconds: $(printf '%s\n' "${kdfs[@]}" | median | awk '{ printf "%.3f", $1 }') (median of ${#kdfs[@]}; runs:$(printf ' %.3f' "${kdfs[@]}"))"
    else
        KDF_LINE="kdf_seconds: not reported (no top-level \"kdf_seconds\" in the --json output; see $LOGS/*passphrase*.out with --keep)"
    fi
    echo "$KDF_LINE"

    # g) verify the NAS left by the last (f) run, versus a plain digest of its .odt file
    ODT_FILE=$(find "$DIR/job/data" -type f -name '*.odt' -printf '%s %p\n' 2>/dev/null | sort -n | tail -n1 | cut -d' ' -f2-)
    [[ -n "$ODT_FILE" ]] || die "no *.odt file under $DIR/data after odt-export run (contents: $(cd "$DIR/job" && find . -type f | head -n 20 | tr '\n' ' '))"
    bench_noprep "odt-export verify (keyless)" "$ODT_EXPORT" verify --nas "$DIR/job" --trusted-key "$WORK/signing.key.pub"
    bench_noprep "openssl dgst -sha256 .odt" openssl dgst -sha256 "$ODT_FILE"
    # The chunk digests are BLAKE3 (docs/FORMAT.md §5): b3sum, when installed, is the
    # like-for-like single-tool baseline (Debian package b3sum).
    if command -v b3sum >/dev/null 2>&1; then
        bench_noprep "b3sum .odt" b3sum "$ODT_FILE"
    fi
fi

# ---------------------------------------------------------------- table
echo
echo "Results (${SIZE_MIB} MiB source, median of $RUNS; MiB/s = source size / median; x cp = median / cp median;"
echo "best = fastest run, and best x cp = best / cp best: when the disk is shared and the medians"
echo "scatter, the best runs show what each tool does undisturbed; RSS = max over runs)"
CP_MED=${ROW_MED[0]} CP_MIN=${ROW_MIN[0]}
printf '%-30s %10s %10s %8s %8s %9s %14s\n' "tool" "median s" "MiB/s" "x cp" "best s" "best x cp" "peak RSS MiB"
printf '%-30s %10s %10s %8s %8s %9s %14s\n' "------------------------------" "----------" "----------" "--------" "--------" "---------" "--------------"
for i in "${!ROW_NAME[@]}"; do
    awk -v n="${ROW_NAME[i]}" -v m="${ROW_MED[i]}" -v b="${ROW_MIN[i]}" -v s="$SIZE_MIB" -v c="$CP_MED" -v cb="$CP_MIN" -v r="${ROW_RSS[i]}" 'BEGIN {
        tp = (m > 0) ? sprintf("%.1f", s / m) : "inf"
        x  = (c > 0) ? sprintf("%.2f", m / c) : "n/a"
        xb = (cb > 0) ? sprintf("%.2f", b / cb) : "n/a"
        printf "%-30s %10.3f %10s %8s %8.3f %9s %14.1f\n", n, m, tp, x, b, xb, r / 1024 }'
done
if [[ -n "$KDF_LINE" ]]; then echo; echo "$KDF_LINE"; fi

# ---------------------------------------------------------------- memory flatness
if (( ! SKIP_ODT )); then
    echo
    echo "Memory flatness: odt-export run (recipient) on a 256 MiB disk ..."
    SRC_SMALL="$WORK/src256"
    make_bench_source "$SRC_SMALL" 256
    saved_src=$SRC; SRC=$SRC_SMALL
    bench "odt-export run (256 MiB)" env -u ODT_PASSPHRASE "$ODT_EXPORT" run --nas "$DIR/job" \
        --signing-key "$WORK/signing.key" --recipient "$WORK/provider.key.pub" --no-passphrase --json \
        --org bench --vdc bench-vdc \
        "${ODT_EXTRA[@]}" "$SRC_SMALL"
    SRC=$saved_src
    RSS_FLAT_SMALL=${ROW_RSS[-1]}
    awk -v big="$RSS_FLAT_BIG" -v small="$RSS_FLAT_SMALL" -v s="$SIZE_MIB" 'BEGIN {
        printf "peak RSS, odt-export run (recipient): %d MiB disk: %.1f MiB; 256 MiB disk: %.1f MiB (ratio %.2f)\n",
            s, big / 1024, small / 1024, (small > 0 ? big / small : 0) }'
fi

if (( ! KEEP )); then clean_dir; fi
echo
echo "Done."
