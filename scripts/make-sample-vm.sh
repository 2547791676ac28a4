#!/usr/bin/env bash
# Build small, deterministic sample VMs (OVF folders and OVA files) for testing odt.
# Run with -h for usage.
set -euo pipefail

PROG=$(basename "$0")

usage() {
    cat <<EOF
Usage: $PROG OUTDIR [--disk-mib N] [--kind KIND[,KIND...]]

Build deterministic sample VMs in VMware ovftool style under OUTDIR:

  single/single.ovf, single-disk1.vmdk, single.mf   one disk, one NIC on "corp-lan"
  single.ova                                        USTAR: .ovf, .mf, disk
  single2/single2.ovf, single2-disk1.vmdk, .mf      same VM as an OVF 2.0 descriptor
                                                    (envelope/2 namespace, SHA512 manifest)
  multi/multi.ovf, multi-disk{1,2,3}.vmdk, multi.mf three disks of different sizes,
                                                    NICs on "corp-lan" and "backup-net"
  multi.ova                                         USTAR: .ovf, .mf, disks in References order
  vapp/vapp.ovf, vapp-disk{1,2}.vmdk, vapp.mf       VirtualSystemCollection of two VMs
                                                    ("web" on corp-lan, "db" on backup-net)
  vapp3/vapp3.ovf, vapp3-disk{1,2,3}.vmdk, .mf      VirtualSystemCollection of three VMs
                                                    ("fe", "api", "store"; built with vapp)

Disks are streamOptimized VMDKs converted with qemu-img from raw images made of a
fixed-seed mix of random (incompressible), text (compressible) and zero runs: two
runs with the same options give byte-identical files (OVA included).

Options:
  --disk-mib N    size in MiB of the first disk of each VM package (default 8);
                  the other disks are min(N,4) and min(N,2) MiB
  --kind KIND     what to build: single (also builds single2), multi, vapp (also builds
                  vapp3), all
                  (default all); a comma-separated list is accepted
  -h, --help      show this help

Existing outputs of the selected kinds are replaced; nothing else in OUTDIR is touched.
Needs: qemu-img, openssl, sha256sum/sha512sum, GNU tar, python3 (XML check).
EOF
}

die() { echo "$PROG: error: $*" >&2; exit 1; }
usage_error() { echo "$PROG: $*" >&2; echo "Try '$PROG -h' for help." >&2; exit 2; }

# ---------------------------------------------------------------- arguments
OUTDIR=""
DISK_MIB=8
KINDS="all"
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --disk-mib) [[ $# -ge 2 ]] || usage_error "--disk-mib needs a value"; DISK_MIB=$2; shift 2 ;;
        --disk-mib=*) DISK_MIB=${1#*=}; shift ;;
        --kind) [[ $# -ge 2 ]] || usage_error "--kind needs a value"; KINDS=$2; shift 2 ;;
        --kind=*) KINDS=${1#*=}; shift ;;
        --) shift; [[ $# -eq 1 && -z "$OUTDIR" ]] || usage_error "expected exactly one OUTDIR"; OUTDIR=$1; shift ;;
        -*) usage_error "unknown option '$1'" ;;
        *) [[ -z "$OUTDIR" ]] || usage_error "unexpected argument '$1' (OUTDIR is already '$OUTDIR')"; OUTDIR=$1; shift ;;
    esac
done
[[ -n "$OUTDIR" ]] || usage_error "missing OUTDIR"
[[ "$DISK_MIB" =~ ^[1-9][0-9]*$ ]] || usage_error "--disk-mib must be a positive integer, got '$DISK_MIB'"
(( DISK_MIB <= 1048576 )) || usage_error "--disk-mib $DISK_MIB is unreasonably large (max 1048576)"

BUILD_SINGLE=0 BUILD_MULTI=0 BUILD_VAPP=0
IFS=',' read -r -a kind_list <<<"$KINDS"
[[ ${#kind_list[@]} -gt 0 ]] || usage_error "--kind needs a value"
for k in "${kind_list[@]}"; do
    case "$k" in
        single) BUILD_SINGLE=1 ;;
        multi) BUILD_MULTI=1 ;;
        vapp) BUILD_VAPP=1 ;;
        all) BUILD_SINGLE=1 BUILD_MULTI=1 BUILD_VAPP=1 ;;
        *) usage_error "unknown --kind '$k' (expected single, multi, vapp or all)" ;;
    esac
done

for tool in qemu-img openssl sha256sum sha512sum tar python3 head yes stat; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found in PATH (install it first, e.g. apt-get install qemu-utils openssl coreutils tar python3)"
done

# python3 for the XML checks: $PYTHON if set, else Debian's own (starts far faster
# than a pyenv shim), else the first python3 in PATH.
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x /usr/bin/python3 ]]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi

SMALL_A=$(( DISK_MIB < 4 ? DISK_MIB : 4 ))
SMALL_B=$(( DISK_MIB < 2 ? DISK_MIB : 2 ))

mkdir -p "$OUTDIR" || die "cannot create OUTDIR '$OUTDIR'"
OUTDIR=$(cd "$OUTDIR" && pwd)
WORK=$(mktemp -d "$OUTDIR/.make-sample-vm.XXXXXX") || die "cannot create a temporary folder in '$OUTDIR'"
trap 'rm -rf "$WORK"' EXIT

# Fixed timestamp for reproducible OVA members (2024-01-01T00:00:00Z).
FIXED_MTIME=1704067200

# ---------------------------------------------------------------- disks
UNIT=65536   # raw images are built from 64 KiB units

# make_raw NAME MIB FILE: deterministic raw image. A small LCG (seeded from NAME)
# picks runs of 1..16 units of: random bytes (AES-128-CTR keystream keyed from NAME),
# repeated text, or zeros. Byte 0.. holds a text label so every disk is distinct.
make_raw() {
    local name=$1 mib=$2 file=$3
    local units=$(( mib * 1048576 / UNIT ))
    local key
    key=$(printf 'odt-sample-vm:%s' "$name" | sha256sum | cut -c1-32)
    local state=$(( 0x${key:0:7} ))
    local -a kinds=() lens=()
    local done_units=0 rand_bytes=0 kind len
    while (( done_units < units )); do
        state=$(( (state * 1103515245 + 12345) % 2147483648 ))
        kind=$(( (state >> 16) % 4 ))          # 0,1 random; 2 text; 3 zero
        state=$(( (state * 1103515245 + 12345) % 2147483648 ))
        len=$(( (state >> 16) % 16 + 1 ))
        if (( done_units == 0 )); then kind=2; fi   # first run: text label (like a boot area)
        if (( len > units - done_units )); then len=$(( units - done_units )); fi
        kinds+=("$kind"); lens+=("$len")
        if (( kind <= 1 )); then rand_bytes=$(( rand_bytes + len * UNIT )); fi
        done_units=$(( done_units + len ))
    done
    # Random bytes come from one keystream on fd 3; head -c reads exactly what it is asked.
    local i
    {
        for i in "${!kinds[@]}"; do
            len=$(( lens[i] * UNIT ))
            case "${kinds[i]}" in
                0|1) head -c "$len" <&3 ;;
                2) { yes "odt sample disk $name, run $i: The quick brown fox jumps over the lazy dog." || true; } | head -c "$len" ;;
                3) head -c "$len" /dev/zero ;;
            esac
        done
    } >"$file" 3< <( { openssl enc -aes-128-ctr -K "$key" -iv 00000000000000000000000000000000 </dev/zero 2>/dev/null || true; } | head -c "$rand_bytes")
    local got
    got=$(stat -c %s "$file")
    [[ "$got" -eq $(( units * UNIT )) ]] || die "raw image for $name has $got bytes, expected $(( units * UNIT ))"
    # populated (non-zero) bytes, reported as ovf:populatedSize
    POPULATED=0
    for i in "${!kinds[@]}"; do
        if (( kinds[i] != 3 )); then POPULATED=$(( POPULATED + lens[i] * UNIT )); fi
    done
    return 0
}

# qemu-img writes a random CID (printed without zero padding, so even its length
# varies) into the embedded VMDK descriptor; pin it to a fixed 8-digit value derived
# from the file name so the output is reproducible. The descriptor is NUL-padded
# text, so the rest of it is shifted within the padding.
pin_vmdk_cid() {
    local vmdk=$1 name=$2 new
    new=$(printf 'cid:%s' "$name" | sha256sum | cut -c1-8)
    "$PYTHON" - "$vmdk" "$new" <<'PY' || die "cannot pin the CID in $vmdk (unexpected qemu-img output)"
import struct, sys
path, cid = sys.argv[1], sys.argv[2].encode()
with open(path, "r+b") as f:
    head = f.read(512)
    if head[:4] != b"KDMV":
        sys.exit("not a VMDK sparse extent")
    off, size = struct.unpack_from("<QQ", head, 28)       # descriptorOffset/Size, sectors
    f.seek(off * 512)
    region = f.read(size * 512)
    text = region.split(b"\0", 1)[0]
    lines = text.split(b"\n")
    idx = [i for i, l in enumerate(lines) if l.startswith(b"CID=")]
    if len(idx) != 1:
        sys.exit("expected one CID line")
    lines[idx[0]] = b"CID=" + cid
    text = b"\n".join(lines)
    if len(text) >= len(region):
        sys.exit("descriptor does not fit")
    f.seek(off * 512)
    f.write(text + b"\0" * (len(region) - len(text)))
PY
}

# Global disk table of the package being built.
D_FILE=() D_MIB=() D_SIZE=() D_POP=()

# add_disk DIR FILENAME MIB: make a raw image, convert it to streamOptimized VMDK.
add_disk() {
    local dir=$1 fname=$2 mib=$3
    local raw="$WORK/${fname%.vmdk}.raw"
    make_raw "$fname" "$mib" "$raw"
    qemu-img convert -q -f raw -O vmdk -o subformat=streamOptimized,adapter_type=lsilogic \
        "$raw" "$dir/$fname" || die "qemu-img convert failed for $dir/$fname"
    rm -f "$raw"
    pin_vmdk_cid "$dir/$fname" "$fname"
    D_FILE+=("$fname"); D_MIB+=("$mib"); D_SIZE+=("$(stat -c %s "$dir/$fname")"); D_POP+=("$POPULATED")
}

reset_package() { D_FILE=() D_MIB=() D_SIZE=() D_POP=() NETS=() VS_XML=""; }

# ---------------------------------------------------------------- OVF descriptor
NETS=()      # network names
VS_XML=""    # VirtualSystem / VirtualSystemCollection body

# vs_xml INDENT ID OSID OSTYPE CPUS MEM_MIB "DISK_INDEXES" "NETWORKS"
#   DISK_INDEXES: 0-based indexes into D_* (space separated); NETWORKS: names, '|' separated
vs_xml() {
    local ind=$1 id=$2 osid=$3 ostype=$4 cpus=$5 mem=$6 disks=$7 nets=$8
    # Heredoc bodies of external commands are expanded in the child process, so
    # InstanceIDs are computed here, never with $((x++)) inside a heredoc.
    local ctrl=3 iid=4 d addr=0 n nic=1 netlist=()
    cat <<EOF
$ind<VirtualSystem ovf:id="$id">
$ind  <Info>A virtual machine</Info>
$ind  <Name>$id</Name>
$ind  <OperatingSystemSection ovf:id="$osid" vmw:osType="$ostype">
$ind    <Info>The kind of installed guest operating system</Info>
$ind  </OperatingSystemSection>
$ind  <VirtualHardwareSection>
$ind    <Info>Virtual hardware requirements</Info>
$ind    <System>
$ind      <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
$ind      <vssd:InstanceID>0</vssd:InstanceID>
$ind      <vssd:VirtualSystemIdentifier>$id</vssd:VirtualSystemIdentifier>
$ind      <vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>
$ind    </System>
$ind    <Item>
$ind      <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
$ind      <rasd:Description>Number of Virtual CPUs</rasd:Description>
$ind      <rasd:ElementName>$cpus virtual CPU(s)</rasd:ElementName>
$ind      <rasd:InstanceID>1</rasd:InstanceID>
$ind      <rasd:ResourceType>3</rasd:ResourceType>
$ind      <rasd:VirtualQuantity>$cpus</rasd:VirtualQuantity>
$ind    </Item>
$ind    <Item>
$ind      <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
$ind      <rasd:Description>Memory Size</rasd:Description>
$ind      <rasd:ElementName>${mem}MB of memory</rasd:ElementName>
$ind      <rasd:InstanceID>2</rasd:InstanceID>
$ind      <rasd:ResourceType>4</rasd:ResourceType>
$ind      <rasd:VirtualQuantity>$mem</rasd:VirtualQuantity>
$ind    </Item>
EOF
    cat <<EOF
$ind    <Item>
$ind      <rasd:Address>0</rasd:Address>
$ind      <rasd:Description>SCSI Controller</rasd:Description>
$ind      <rasd:ElementName>SCSI Controller 0</rasd:ElementName>
$ind      <rasd:InstanceID>$ctrl</rasd:InstanceID>
$ind      <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>
$ind      <rasd:ResourceType>6</rasd:ResourceType>
$ind    </Item>
EOF
    for d in $disks; do
        cat <<EOF
$ind    <Item>
$ind      <rasd:AddressOnParent>$addr</rasd:AddressOnParent>
$ind      <rasd:ElementName>Hard Disk $((addr + 1))</rasd:ElementName>
$ind      <rasd:HostResource>ovf:/disk/vmdisk$((d + 1))</rasd:HostResource>
$ind      <rasd:InstanceID>$iid</rasd:InstanceID>
$ind      <rasd:Parent>$ctrl</rasd:Parent>
$ind      <rasd:ResourceType>17</rasd:ResourceType>
$ind    </Item>
EOF
        addr=$((addr + 1)) iid=$((iid + 1))
    done
    IFS='|' read -r -a netlist <<<"$nets"
    for n in "${netlist[@]}"; do
        cat <<EOF
$ind    <Item>
$ind      <rasd:AddressOnParent>$((6 + nic))</rasd:AddressOnParent>
$ind      <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
$ind      <rasd:Connection>$n</rasd:Connection>
$ind      <rasd:Description>VmxNet3 ethernet adapter on &quot;$n&quot;</rasd:Description>
$ind      <rasd:ElementName>Network adapter $nic</rasd:ElementName>
$ind      <rasd:InstanceID>$iid</rasd:InstanceID>
$ind      <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
$ind      <rasd:ResourceType>10</rasd:ResourceType>
$ind    </Item>
EOF
        nic=$((nic + 1)) iid=$((iid + 1))
    done
    cat <<EOF
$ind  </VirtualHardwareSection>
$ind</VirtualSystem>
EOF
}

# write_ovf FILE OVF_MAJOR(1|2)
write_ovf() {
    local file=$1 major=$2 i n
    local ns="http://schemas.dmtf.org/ovf/envelope/$major"
    {
        cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!--Generated by odt scripts/make-sample-vm.sh (VMware ovftool style sample)-->
<Envelope vmw:buildId="build-0000000" xmlns="$ns" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:ovf="$ns" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
EOF
        for i in "${!D_FILE[@]}"; do
            echo "    <File ovf:href=\"${D_FILE[i]}\" ovf:id=\"file$((i + 1))\" ovf:size=\"${D_SIZE[i]}\"/>"
        done
        cat <<EOF
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
EOF
        for i in "${!D_FILE[@]}"; do
            echo "    <Disk ovf:capacity=\"${D_MIB[i]}\" ovf:capacityAllocationUnits=\"byte * 2^20\" ovf:diskId=\"vmdisk$((i + 1))\" ovf:fileRef=\"file$((i + 1))\" ovf:format=\"http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized\" ovf:populatedSize=\"${D_POP[i]}\"/>"
        done
        cat <<EOF
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
EOF
        for n in "${NETS[@]}"; do
            cat <<EOF
    <Network ovf:name="$n">
      <Description>The $n network</Description>
    </Network>
EOF
        done
        echo "  </NetworkSection>"
        printf '%s' "$VS_XML"
        echo "</Envelope>"
    } >"$file"
    "$PYTHON" -c 'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])' "$file" \
        || die "generated descriptor $file is not well-formed XML (bug in $PROG)"
    check_ovf "$file" || die "generated descriptor $file is inconsistent (bug in $PROG)"
}

# check_ovf FILE: cross-references of the descriptor (sizes, fileRefs, disks,
# networks, unique InstanceIDs, Parent controllers).
check_ovf() {
    "$PYTHON" - "$1" <<'PY'
import os, sys, xml.etree.ElementTree as ET
path = sys.argv[1]
root = ET.parse(path).getroot()
ns = root.tag[1:].split("}")[0]
O = "{%s}" % ns
R = "{http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData}"
def fail(msg):
    sys.exit("%s: %s" % (path, msg))
files = {}
for f in root.find(O + "References"):
    href, size = f.get(O + "href"), int(f.get(O + "size"))
    real = os.path.getsize(os.path.join(os.path.dirname(path), href))
    if real != size:
        fail("ovf:size of %s is %d, file has %d bytes" % (href, size, real))
    files[f.get(O + "id")] = href
disks = {}
for d in root.find(O + "DiskSection").findall(O + "Disk"):
    if d.get(O + "fileRef") not in files:
        fail("disk %s has unknown fileRef" % d.get(O + "diskId"))
    disks[d.get(O + "diskId")] = d
nets = {n.get(O + "name") for n in root.find(O + "NetworkSection").findall(O + "Network")}
used = set()
for vs in root.iter(O + "VirtualSystem"):
    items = vs.find(O + "VirtualHardwareSection").findall(O + "Item")
    ids = [i.find(R + "InstanceID").text for i in items]
    if len(ids) != len(set(ids)):
        fail("duplicate InstanceID in %s: %s" % (vs.get(O + "id"), ids))
    ctrls = {i.find(R + "InstanceID").text for i in items if i.find(R + "ResourceType").text == "6"}
    for i in items:
        rt = i.find(R + "ResourceType").text
        if rt == "17":
            ref = i.find(R + "HostResource").text.rsplit("/", 1)[-1]
            if ref not in disks:
                fail("HostResource %s has no Disk" % ref)
            if i.find(R + "Parent").text not in ctrls:
                fail("disk item Parent is not a controller")
            used.add(ref)
        if rt == "10" and i.find(R + "Connection").text not in nets:
            fail("NIC on unknown network %s" % i.find(R + "Connection").text)
if used != set(disks):
    fail("disks not attached to any VM: %s" % sorted(set(disks) - used))
PY
}

# write_mf DIR BASE ALGO(SHA256|SHA512): manifest over BASE.ovf and every disk
write_mf() {
    local dir=$1 base=$2 algo=$3 f sum tool
    case "$algo" in SHA256) tool=sha256sum ;; SHA512) tool=sha512sum ;; *) die "bad algo $algo" ;; esac
    {
        for f in "$base.ovf" "${D_FILE[@]}"; do
            sum=$("$tool" "$dir/$f" | cut -d' ' -f1)
            echo "$algo($f)= $sum"
        done
    } >"$dir/$base.mf"
}

# make_ova BASE: OUTDIR/BASE.ova from OUTDIR/BASE/ (.ovf, .mf, disks in References order)
make_ova() {
    local base=$1
    rm -f "$OUTDIR/$base.ova"
    tar --format=ustar --owner=0 --group=0 --numeric-owner --mtime="@$FIXED_MTIME" --mode='u=rw,go=r' \
        -cf "$OUTDIR/$base.ova" -C "$OUTDIR/$base" "$base.ovf" "$base.mf" "${D_FILE[@]}" \
        || die "tar failed creating $OUTDIR/$base.ova"
    MADE+=("$OUTDIR/$base.ova")
}

fresh_dir() {
    rm -rf "${OUTDIR:?}/$1"
    mkdir -p "$OUTDIR/$1"
    MADE+=("$OUTDIR/$1/")
}

# ---------------------------------------------------------------- packages
MADE=()

build_single() {   # single (OVF 1.0) and single2 (OVF 2.0)
    local base major algo
    for base in single single2; do
        reset_package
        fresh_dir "$base"
        add_disk "$OUTDIR/$base" "$base-disk1.vmdk" "$DISK_MIB"
        NETS=("corp-lan")
        VS_XML=$(vs_xml "  " "$base" 101 otherLinux64Guest 1 1024 "0" "corp-lan")$'\n'
        if [[ $base == single ]]; then major=1 algo=SHA256; else major=2 algo=SHA512; fi
        write_ovf "$OUTDIR/$base/$base.ovf" "$major"
        write_mf "$OUTDIR/$base" "$base" "$algo"
        if [[ $base == single ]]; then make_ova single; fi
    done
}

build_multi() {
    reset_package
    fresh_dir multi
    add_disk "$OUTDIR/multi" multi-disk1.vmdk "$DISK_MIB"
    add_disk "$OUTDIR/multi" multi-disk2.vmdk "$SMALL_A"
    add_disk "$OUTDIR/multi" multi-disk3.vmdk "$SMALL_B"
    NETS=("corp-lan" "backup-net")
    VS_XML=$(vs_xml "  " multi 101 otherLinux64Guest 2 2048 "0 1 2" "corp-lan|backup-net")$'\n'
    write_ovf "$OUTDIR/multi/multi.ovf" 1
    write_mf "$OUTDIR/multi" multi SHA256
    make_ova multi
}

build_vapp() {
    reset_package
    fresh_dir vapp
    add_disk "$OUTDIR/vapp" vapp-disk1.vmdk "$DISK_MIB"
    add_disk "$OUTDIR/vapp" vapp-disk2.vmdk "$SMALL_A"
    NETS=("corp-lan" "backup-net")
    VS_XML="  <VirtualSystemCollection ovf:id=\"vapp\">
    <Info>A collection of virtual machines</Info>
    <Name>vapp</Name>
    <StartupSection>
      <Info>VApp startup section</Info>
      <Item ovf:id=\"db\" ovf:order=\"0\" ovf:startAction=\"powerOn\" ovf:startDelay=\"0\" ovf:stopAction=\"powerOff\" ovf:stopDelay=\"0\"/>
      <Item ovf:id=\"web\" ovf:order=\"1\" ovf:startAction=\"powerOn\" ovf:startDelay=\"0\" ovf:stopAction=\"powerOff\" ovf:stopDelay=\"0\"/>
    </StartupSection>
$(vs_xml "    " web 101 otherLinux64Guest 1 1024 "0" "corp-lan")
$(vs_xml "    " db 101 otherLinux64Guest 2 2048 "1" "backup-net")
  </VirtualSystemCollection>
"
    write_ovf "$OUTDIR/vapp/vapp.ovf" 1
    write_mf "$OUTDIR/vapp" vapp SHA256
}

build_vapp3() {
    reset_package
    fresh_dir vapp3
    add_disk "$OUTDIR/vapp3" vapp3-disk1.vmdk "$SMALL_A"
    add_disk "$OUTDIR/vapp3" vapp3-disk2.vmdk "$SMALL_B"
    add_disk "$OUTDIR/vapp3" vapp3-disk3.vmdk "$SMALL_B"
    NETS=("corp-lan" "backup-net")
    VS_XML="  <VirtualSystemCollection ovf:id=\"vapp3\">
    <Info>A collection of virtual machines</Info>
    <Name>vapp3</Name>
    <StartupSection>
      <Info>VApp startup section</Info>
      <Item ovf:id=\"store\" ovf:order=\"0\" ovf:startAction=\"powerOn\" ovf:startDelay=\"0\" ovf:stopAction=\"powerOff\" ovf:stopDelay=\"0\"/>
      <Item ovf:id=\"api\" ovf:order=\"1\" ovf:startAction=\"powerOn\" ovf:startDelay=\"0\" ovf:stopAction=\"powerOff\" ovf:stopDelay=\"0\"/>
      <Item ovf:id=\"fe\" ovf:order=\"2\" ovf:startAction=\"powerOn\" ovf:startDelay=\"0\" ovf:stopAction=\"powerOff\" ovf:stopDelay=\"0\"/>
    </StartupSection>
$(vs_xml "    " fe 101 otherLinux64Guest 1 1024 "0" "corp-lan")
$(vs_xml "    " api 101 otherLinux64Guest 1 1024 "1" "corp-lan")
$(vs_xml "    " store 101 otherLinux64Guest 1 1024 "2" "backup-net")
  </VirtualSystemCollection>
"
    write_ovf "$OUTDIR/vapp3/vapp3.ovf" 1
    write_mf "$OUTDIR/vapp3" vapp3 SHA256
}

if (( BUILD_SINGLE )); then build_single; fi
if (( BUILD_MULTI )); then build_multi; fi
if (( BUILD_VAPP )); then build_vapp; build_vapp3; fi

echo "Made under $OUTDIR (first disk ${DISK_MIB} MiB, kinds: $KINDS):"
for m in "${MADE[@]}"; do
    if [[ -d "$m" ]]; then
        for f in "$m"*; do
            printf '  %-40s %12s bytes\n' "${f#"$OUTDIR"/}" "$(stat -c %s "$f")"
        done
    else
        printf '  %-40s %12s bytes\n' "${m#"$OUTDIR"/}" "$(stat -c %s "$m")"
    fi
done
