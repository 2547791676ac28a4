#!/usr/bin/env bash
# Run the odt-format fuzz targets (odt-format/fuzz/) with cargo-fuzz and libFuzzer. Run with -h for usage.
set -euo pipefail

PROG=$(basename "$0")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FUZZ="$ROOT/odt-format/fuzz"
TOOLS="$ROOT/target/fuzz-tools"
LOGS="$ROOT/target/fuzz-logs"

usage() {
    cat <<EOF
Usage: $PROG [TARGET|all] [SECONDS]

Fuzz one target (or every target, one after the other) for SECONDS each (default 60),
starting from the seeds in odt-format/fuzz/seeds/TARGET/ plus whatever earlier runs kept in
odt-format/fuzz/corpus/TARGET/ (git-ignored; new interesting inputs are written there).

Targets (odt-format/fuzz/fuzz_targets/; the invariants are in the doc comments of the functions named;
libFuzzer dictionaries in odt-format/fuzz/dicts/):
  descriptor, mf, ova      odt_format::ovf::fuzz_entry::fuzz_{descriptor,mf,ova}
  manifest, signed_manifest, header, key_text, stanza, decrypt, receipt, unit_index, trust,
  xml_tree
                           odt_format::fuzzing::fuzz_<target>

A crash (panic, failed invariant, sanitizer report, timeout or out-of-memory) leaves its
input in odt-format/fuzz/artifacts/TARGET/ and the log in target/fuzz-logs/TARGET.log; the script goes
on with the remaining targets and exits 1 at the end. Replay a crash with
  (cd odt-format && RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-...)
and shrink it with
  (cd odt-format && RUSTC_BOOTSTRAP=1 cargo fuzz tmin TARGET fuzz/artifacts/TARGET/crash-...)
(from the repository root, with $TOOLS/bin on PATH).

cargo-fuzz is installed on first use into $TOOLS (cargo install --locked).
The machine's toolchain is stable Rust: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its nightly
flags (-Zsanitizer, -Cpasses=sancov-module...). The build is release with debug assertions
and overflow checks (cargo-fuzz's default), so arithmetic overflow is a crash too.

Environment:
  FUZZ_SANITIZER   address (default), or none for 2-7 times the speed (odt-format forbids
                   unsafe code, so ASan mainly watches the dependencies)
  FUZZ_JOBS        parallel libFuzzer jobs per target (default 1)
  FUZZ_ARGS        extra libFuzzer flags, e.g. "-only_ascii=1"

Exit status: 0 no crash, 1 a target crashed, 2 usage error, 3 build or setup failure.
EOF
}

die() { echo "$PROG: error: $*" >&2; exit 3; }
usage_error() { echo "$PROG: $*" >&2; echo "Try '$PROG -h' for help." >&2; exit 2; }

TARGET=all
SECONDS_EACH=60
args=()
for a in "$@"; do
    case "$a" in
        -h|--help) usage; exit 0 ;;
        -*) usage_error "unknown option '$a'" ;;
        *) args+=("$a") ;;
    esac
done
[[ ${#args[@]} -le 2 ]] || usage_error "expected at most TARGET and SECONDS"
[[ ${#args[@]} -ge 1 ]] && TARGET=${args[0]}
[[ ${#args[@]} -ge 2 ]] && SECONDS_EACH=${args[1]}
[[ "$SECONDS_EACH" =~ ^[1-9][0-9]*$ ]] || usage_error "SECONDS must be a positive integer, got '$SECONDS_EACH'"
SANITIZER=${FUZZ_SANITIZER:-address}
case "$SANITIZER" in address|none) ;; *) usage_error "FUZZ_SANITIZER must be address or none" ;; esac
JOBS=${FUZZ_JOBS:-1}
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || usage_error "FUZZ_JOBS must be a positive integer"

# ---------------------------------------------------------------- cargo-fuzz
export PATH="$TOOLS/bin:$PATH"
export RUSTC_BOOTSTRAP=1
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "$PROG: installing cargo-fuzz into $TOOLS (once)" >&2
    cargo install cargo-fuzz --locked --root "$TOOLS" || die "cargo install cargo-fuzz failed"
fi
cd "$ROOT/odt-format"   # cargo fuzz looks for ./fuzz

mapfile -t ALL < <(cargo fuzz list) || die "cargo fuzz list failed"
[[ ${#ALL[@]} -gt 0 ]] || die "no fuzz targets found under $FUZZ"
if [[ "$TARGET" == all ]]; then
    TARGETS=("${ALL[@]}")
else
    found=0
    for t in "${ALL[@]}"; do [[ "$t" == "$TARGET" ]] && found=1; done
    [[ $found -eq 1 ]] || usage_error "unknown target '$TARGET' (one of: ${ALL[*]}, all)"
    TARGETS=("$TARGET")
fi

build_flags=(--sanitizer "$SANITIZER")
# A separate target dir, so switching sanitizers does not rebuild everything each time.
[[ "$SANITIZER" == none ]] && build_flags+=(--target-dir "$FUZZ/target/nosan")

# One build for every target (they share odt-format and libFuzzer).
echo "$PROG: building ${TARGETS[*]} (sanitizer $SANITIZER)" >&2
if [[ "$TARGET" == all ]]; then
    cargo fuzz build "${build_flags[@]}" || die "cargo fuzz build failed"
else
    cargo fuzz build "${build_flags[@]}" "$TARGET" || die "cargo fuzz build failed"
fi

# ---------------------------------------------------------------- runs
mkdir -p "$LOGS"
crashed=()
build_failed=()
summary=()
for t in "${TARGETS[@]}"; do
    corpus="$FUZZ/corpus/$t"
    seeds="$FUZZ/seeds/$t"
    artifacts="$FUZZ/artifacts/$t"
    mkdir -p "$corpus" "$artifacts"
    [[ -d "$seeds" ]] || seeds=""
    before=$(mktemp)
    find "$artifacts" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort >"$before"
    log="$LOGS/$t.log"
    echo "$PROG: fuzzing $t for ${SECONDS_EACH}s (log: $log)" >&2
    libfuzzer_args=(-max_total_time="$SECONDS_EACH" -timeout=25 -rss_limit_mb=2048
        -print_final_stats=1 -artifact_prefix="$artifacts/")
    case "$t" in
        manifest|signed_manifest|stanza|receipt|unit_index) dict="$FUZZ/dicts/json.dict" ;;
        trust) dict="$FUZZ/dicts/toml.dict" ;;
        *) dict="$FUZZ/dicts/$t.dict" ;;
    esac
    [[ -f "$dict" ]] && libfuzzer_args+=(-dict="$dict")
    if [[ "$JOBS" -gt 1 ]]; then
        libfuzzer_args+=(-jobs="$JOBS" -workers="$JOBS")
    fi
    # shellcheck disable=SC2206 # FUZZ_ARGS is split on purpose
    extra=(${FUZZ_ARGS:-})
    set +e
    cargo fuzz run "${build_flags[@]}" "$t" "$corpus" ${seeds:+"$seeds"} -- \
        "${libfuzzer_args[@]}" "${extra[@]}" >"$log" 2>&1
    rc=$?
    set -e
    new=$(comm -13 "$before" <(find "$artifacts" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort))
    rm -f "$before"
    runs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | tail -1 || true)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
    if [[ $rc -ne 0 && -z "$new" ]] && grep -q "failed to build fuzz script" "$log"; then
        # cargo fuzz run rebuilds when the sources changed since the build above.
        build_failed+=("$t")
        summary+=("$t: BUILD FAILED (see $log)")
        echo "$PROG: $t did not build:" >&2
        grep -m1 -B2 -A12 -E "^error" "$log" >&2 || tail -30 "$log" >&2
    elif [[ $rc -ne 0 || -n "$new" ]]; then
        crashed+=("$t")
        summary+=("$t: CRASH (exit $rc) ${new:+-> $(echo "$new" | sed "s|^|odt-format/fuzz/artifacts/$t/|" | tr '\n' ' ')}")
        echo "$PROG: $t crashed; the panic:" >&2
        grep -m1 -A12 -E "panicked at|ERROR: (libFuzzer|AddressSanitizer)" "$log" >&2 || tail -30 "$log" >&2
    else
        summary+=("$t: ok (${runs:-no stats}; ${cov:-})")
    fi
done

echo
echo "== fuzz summary (${SECONDS_EACH}s per target, sanitizer $SANITIZER) =="
printf '  %s\n' "${summary[@]}"
if [[ ${#crashed[@]} -gt 0 ]]; then
    echo "$PROG: ${#crashed[@]} target(s) crashed: ${crashed[*]}" >&2
    exit 1
fi
if [[ ${#build_failed[@]} -gt 0 ]]; then
    echo "$PROG: ${#build_failed[@]} target(s) did not build: ${build_failed[*]}" >&2
    exit 3
fi
