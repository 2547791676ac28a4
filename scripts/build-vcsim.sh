#!/usr/bin/env bash
# Build odt's extended vCenter simulator (tests/vcsim/, a Go main package on top of
# govmomi's vcsim 0.24.2 as packaged by Debian).
#
# Usage: scripts/build-vcsim.sh [OUT]      (default OUT: target/vcsim/odt-vcsim)
#
# Installs golang-go and golang-github-vmware-govmomi-dev with apt-get when they are missing
# (that needs root). Builds offline in GOPATH mode against /usr/share/gocode, with a build
# cache under target/ so it works in a clean clone. Skips the build when OUT is newer than
# every source file. Prints the binary's path as the last line of stdout.
#
# Exit status: 0 built (or up to date); 1 the build failed; 2 usage; 3 this machine cannot
# provide Go or govmomi (not root, no apt-get, or apt-get failed): callers may skip tests.
set -euo pipefail

PROG=$(basename "$0")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC="$ROOT/tests/vcsim"
OUT=${1:-"$ROOT/target/vcsim/odt-vcsim"}
case "$OUT" in
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "$PROG: unknown option '$OUT' (usage: $PROG [OUT])" >&2; exit 2 ;;
esac
[[ $# -le 1 ]] || { echo "$PROG: too many arguments (usage: $PROG [OUT])" >&2; exit 2; }
[[ "$OUT" == /* ]] || OUT="$PWD/$OUT"

GOPATH_DEB=/usr/share/gocode
SIMPKG="$GOPATH_DEB/src/github.com/vmware/govmomi/simulator"

die() { echo "$PROG: error: $*" >&2; exit 1; }
unavailable() { echo "$PROG: error: $*" >&2; exit 3; }

find_go() {
    if command -v go >/dev/null 2>&1; then command -v go; return 0; fi
    # Debian's golang-go puts /usr/bin/go; versioned packages live in /usr/lib/go-*/bin.
    local g
    for g in /usr/lib/go/bin/go /usr/lib/go-*/bin/go; do
        [[ -x "$g" ]] && { echo "$g"; return 0; }
    done
    return 1
}

# One build (and one apt-get) at a time, also across concurrent test processes.
mkdir -p "$ROOT/target/vcsim"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$ROOT/target/vcsim/.build.lock"
    flock 9
fi

need=()
find_go >/dev/null || need+=(golang-go)
[[ -d "$SIMPKG" ]] || need+=(golang-github-vmware-govmomi-dev)
if ((${#need[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        unavailable "missing ${need[*]}; installing them needs root: run 'sudo apt-get install ${need[*]}' (Debian/Ubuntu) or run this script as root"
    fi
    command -v apt-get >/dev/null 2>&1 || unavailable "missing ${need[*]} and there is no apt-get to install them with"
    echo "$PROG: installing ${need[*]} (apt-get)" >&2
    # Quiet when it works; show apt's output when it does not.
    log=$(mktemp)
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"; } >"$log" 2>&1; then
        cat "$log" >&2; rm -f "$log"
        unavailable "apt-get install ${need[*]} failed (see above)"
    fi
    rm -f "$log"
    find_go >/dev/null || unavailable "golang-go installed but no 'go' binary found"
    [[ -d "$SIMPKG" ]] || unavailable "golang-github-vmware-govmomi-dev installed but $SIMPKG is missing"
fi
GO=$(find_go)

shopt -s nullglob
srcs=("$SRC"/*.go)
shopt -u nullglob
((${#srcs[@]})) || die "no Go sources in $SRC"

# Up to date? (newer than every source and this script)
if [[ -x "$OUT" ]]; then
    stale=0
    for f in "${srcs[@]}" "$0"; do
        [[ "$f" -nt "$OUT" ]] && { stale=1; break; }
    done
    if ((stale == 0)); then
        echo "$OUT"
        exit 0
    fi
fi

mkdir -p "$(dirname "$OUT")" "$ROOT/target/vcsim/gocache"
echo "$PROG: building $OUT with $("$GO" version | cut -d' ' -f3)" >&2
start=$(date +%s)
# Build into a temporary name and rename, so a concurrent reader never sees half a binary.
tmp="$OUT.tmp.$$"
trap 'rm -f "$tmp"' EXIT
(
    cd "$SRC"
    GO111MODULE=off GOFLAGS= GOPATH="$GOPATH_DEB" GOCACHE="$ROOT/target/vcsim/gocache" \
        GOPROXY=off CGO_ENABLED=0 "$GO" build -o "$tmp" .
) || die "go build failed"
mv -f "$tmp" "$OUT"
echo "$PROG: built in $(( $(date +%s) - start )) s" >&2
echo "$OUT"
