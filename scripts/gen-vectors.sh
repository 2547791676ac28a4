#!/usr/bin/env bash
# Regenerates the odt-bundle/v1 test vectors in odt-format/tests/vectors/ (see the README
# there). Generation is deterministic, so the output is byte-identical on every run.
#
# Usage: scripts/gen-vectors.sh           rewrite odt-format/tests/vectors/
#        scripts/gen-vectors.sh --check   regenerate into a temporary directory and fail if
#                                         anything differs from the committed vectors
set -euo pipefail
cd "$(dirname "$0")/.."

vectors=odt-format/tests/vectors
gen() { cargo run --quiet -p odt-format --example gen_vectors -- "$1"; }

case "${1:-}" in
"")
    rm -rf "$vectors"
    gen "$vectors"
    echo "gen-vectors: wrote $vectors ($(du -sh "$vectors" | cut -f1))"
    ;;
--check)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    gen "$tmp/vectors" >/dev/null
    if diff -r "$vectors" "$tmp/vectors"; then
        echo "gen-vectors: $vectors is up to date and reproducible"
    else
        echo "gen-vectors: $vectors differs from a fresh generation: run scripts/gen-vectors.sh" >&2
        exit 1
    fi
    ;;
*)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac
