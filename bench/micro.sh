#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Micro-benchmarks behind the README's "Performance" notes (no root needed):
#  - the transport AEAD's speed per core (bench/aead_speed.c): libsodium's ChaCha20-Poly1305,
#    OpenSSL 3's and, where the CPU has AVX-512, ruphin's ChaCha20 with libsodium's Poly1305, at
#    packet sizes;
#  - what waking a sleeping process costs here (bench/wakeup.c), the floor under any userspace
#    tunnel's ping.
#
#   bench/micro.sh                 about 30 s
#   AEAD_SECONDS=0.3 bench/micro.sh
#
# Prints markdown and writes it to bench/results/micro-latest.md.
set -u
BENCH_SELF=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
. "$BENCH_SELF/lib.sh"
case ${1:-} in
-h | --help) sed -n '3,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
-*) echo "micro.sh: unknown option '$1'" >&2; exit 2 ;;
esac
SECS=${AEAD_SECONDS:-1}
if ! [[ $SECS =~ ^[0-9]*\.?[0-9]+$ ]]; then
    echo "micro.sh: AEAD_SECONDS must be a number of seconds, got '$SECS'" >&2
    exit 2
fi
if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then bench_build || exit 1; fi
mkdir -p "$BENCH_RESULTS"
meta=$(bench_meta)
{
    printf '## bench/micro.sh, %s\n\n' "$(jq -r .date <<<"$meta")"
    printf 'Commit %s; %s; kernel %s; load average %s at the start.\n\n' "$(jq -r .commit <<<"$meta")" \
        "$(jq -r .cpu <<<"$meta")" "$(jq -r .kernel <<<"$meta")" "$(cut -d' ' -f1-3 /proc/loadavg)"
    printf 'The transport AEAD on one core, one packet at a time (seal in place, open into a second buffer), %s s per figure:\n\n' "$SECS"
    "$BENCH_BUILD/bin/aead_speed" "$SECS" || exit 1
    printf '\nWaking a process: a 64-byte UDP ping-pong between two processes over loopback, each asleep in poll() between turns, one round trip every 10 ms (two wake-ups each), 200 round trips:\n\n'
    "$BENCH_BUILD/bin/wakeup" 200 || exit 1
} | tee "$BENCH_RESULTS/micro-latest.md"
