#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The transport AEAD's speed per core (bench/aead_speed.c): libsodium's ChaCha20-Poly1305 and,
# where the CPU has AVX-512, ruphin's ChaCha20 with libsodium's Poly1305, at packet sizes.
#
#   bench/aead.sh              about 1 s per figure
#   AEAD_SECONDS=0.3 bench/aead.sh
#
# Prints a markdown table and writes it to bench/results/aead-latest.md. Needs no root.
set -u
BENCH_SELF=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
. "$BENCH_SELF/lib.sh"
case ${1:-} in
-h | --help) sed -n '3,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
-*) echo "aead.sh: unknown option '$1'" >&2; exit 2 ;;
esac
SECS=${AEAD_SECONDS:-1}
if ! [[ $SECS =~ ^[0-9]*\.?[0-9]+$ ]]; then
    echo "aead.sh: AEAD_SECONDS must be a number of seconds, got '$SECS'" >&2
    exit 2
fi
if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then bench_build || exit 1; fi
mkdir -p "$BENCH_RESULTS"
meta=$(bench_meta)
{
    printf '## bench/aead.sh, %s\n\n' "$(jq -r .date <<<"$meta")"
    printf 'Commit %s; %s; one core, one packet at a time (seal in place, open into a second buffer), %s s per figure.\n\n' \
        "$(jq -r .commit <<<"$meta")" "$(jq -r .cpu <<<"$meta")" "$SECS"
    "$BENCH_BUILD/bin/aead_speed" "$SECS" || exit 1
} | tee "$BENCH_RESULTS/aead-latest.md"
