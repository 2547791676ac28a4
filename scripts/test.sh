#!/usr/bin/env bash
# The README's test command: installs what the tests need on a fresh machine, then runs
# formatting and lint checks and every test (unit, CLI, end-to-end, test vectors).
#
# Usage: scripts/test.sh [--quick]     (--quick skips fmt/clippy)
#
# As root (CI), tests that need privileges (a size-limited tmpfs for the full-NAS test) are
# mandatory: ODT_REQUIRE_ALL_TESTS=1 turns their "skipped" into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[[ "${1:-}" == "--quick" ]] && quick=1

need_apt=()
command -v qemu-img >/dev/null || need_apt+=(qemu-utils)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v python3 >/dev/null || need_apt+=(python3)
command -v tar >/dev/null || need_apt+=(tar)
command -v curl >/dev/null || need_apt+=(curl)
if ((${#need_apt[@]})); then
    echo "test.sh: installing ${need_apt[*]}" >&2
    if [[ $(id -u) -ne 0 ]]; then
        echo "test.sh: need root to install ${need_apt[*]} (or install them yourself)" >&2
        exit 1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "test.sh: cargo (Rust) is required" >&2; exit 1; }

if [[ $(id -u) -eq 0 ]]; then
    export ODT_REQUIRE_ALL_TESTS=1
else
    echo "test.sh: not root: tests that mount a tmpfs will be SKIPPED (loudly)" >&2
fi

if ((quick == 0)); then
    echo "== cargo fmt --check"
    cargo fmt --all -- --check
    echo "== cargo clippy"
    cargo clippy --workspace --all-targets --locked -- -D warnings
fi
echo "== shell scripts parse"
for f in scripts/*.sh scripts/lib/*.sh tests/vcsim/*.sh; do bash -n "$f"; done
echo "== odt-format builds alone (no network, no terminal)"
cargo build -p odt-format --locked
for dep in reqwest rustls clap indicatif rpassword; do
    if cargo tree -p odt-format -e normal --locked | grep -q "$dep v"; then
        echo "test.sh: odt-format depends on $dep: the pure format must not" >&2; exit 1
    fi
done
echo "== cargo test"
cargo test --workspace --locked
echo "== all tests passed"
