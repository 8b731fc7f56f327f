#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Helpers shared by bench/tunnel.sh and bench/holepuncher.sh: build, packages, /proc sampling,
# percentiles, and the small JSON and table plumbing. Source it; it defines functions only.
# shellcheck disable=SC2034

BENCH_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
BENCH_REPO=$(cd -- "$BENCH_DIR/.." && pwd)
BENCH_BUILD=${BENCH_BUILD:-$BENCH_REPO/build-bench}
BENCH_RESULTS=${BENCH_RESULTS:-$BENCH_DIR/results}
CLK_TCK=$(getconf CLK_TCK)

bench_log() { printf '== %s\n' "$*" >&2; }
bench_warn() { printf 'bench: %s\n' "$*" >&2; }

# bench_need_pkgs CMD:PACKAGE...: apt-get install the packages whose command is missing.
bench_need_pkgs() {
    local pair cmd pkg missing=()
    for pair in "$@"; do
        cmd=${pair%%:*}
        pkg=${pair#*:}
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && return 0
    bench_log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null ||
        { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
}

# bench_build: a Release build of the whole tree in $BENCH_BUILD (never build/ or build-test/).
bench_build() {
    local log=$BENCH_BUILD/bench-build.log
    bench_log "building Release binaries in $BENCH_BUILD"
    mkdir -p "$BENCH_BUILD" || return 1
    if ! { cmake -S "$BENCH_REPO" -B "$BENCH_BUILD" -DCMAKE_BUILD_TYPE=Release -DRUPHIN_TESTS=OFF &&
        cmake --build "$BENCH_BUILD" -j"$(nproc)"; } >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        bench_warn "build failed (full log: $log)"
        return 1
    fi
}

# proc_ticks PID...: utime + stime of the processes (all their threads), in clock ticks.
proc_ticks() {
    local pid stat sum=0
    for pid in "$@"; do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        stat=${stat##*) }
        # shellcheck disable=SC2086 # split the fields on purpose
        set -- $stat
        sum=$((sum + ${12} + ${13}))
    done
    printf '%s\n' "$sum"
}

# proc_status_kb PID FIELD: a kB field of /proc/PID/status (VmRSS, VmHWM), or empty.
proc_status_kb() {
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null
}

# cpu_busy_ticks [CPU]: busy (user, nice, system, irq, softirq) ticks of one CPU ("cpu0") or of all ("cpu").
cpu_busy_ticks() {
    awk -v c="${1:-cpu}" '$1 == c { print $2 + $3 + $4 + $7 + $8 }' /proc/stat
}

# cpu_total_ticks: all ticks of all CPUs, busy or not.
cpu_total_ticks() {
    awk '$1 == "cpu" { s = 0; for (i = 2; i <= 9; i++) s += $i; print s }' /proc/stat
}

# busy_pct BUSY0 TOTAL0 BUSY1 TOTAL1: the busy share between two readings, in %.
busy_pct() {
    awk -v a="$1" -v ta="$2" -v b="$3" -v tb="$4" 'BEGIN { p = (tb > ta ? 100 * (b - a) / (tb - ta) : 0); printf "%.0f\n", (p > 100 ? 100 : p) }'
}

# machine_busy_pct SECONDS: how busy all CPUs were over SECONDS (other people's work included).
machine_busy_pct() {
    local a b ta tb
    a=$(cpu_busy_ticks cpu)
    ta=$(cpu_total_ticks)
    sleep "$1"
    b=$(cpu_busy_ticks cpu)
    tb=$(cpu_total_ticks)
    busy_pct "$a" "$ta" "$b" "$tb"
}

# bench_wait_quiet: wait (up to BENCH_QUIET_WAIT seconds, default 60) until the machine is
# less than BENCH_QUIET_PCT % busy (default 15) over a second, since other work on the same
# cores skews every figure. Prints the last reading; never fails.
bench_wait_quiet() {
    local max=${BENCH_QUIET_WAIT:-60} pct=${BENCH_QUIET_PCT:-15} end busy
    end=$((SECONDS + max))
    while :; do
        busy=$(machine_busy_pct 1)
        ((busy < pct || SECONDS >= end)) && break
        bench_log "machine ${busy}% busy with other work; waiting for it to calm down (up to ${max} s)"
        sleep 4
    done
    ((busy > 100)) && busy=100
    printf '%s\n' "$busy"
}

# foreign_ticks: CPU ticks used so far by every process that is neither this script nor one of
# its descendants (kernel threads left out), their reaped children included. The difference
# over a measurement says how much other work shared the machine meanwhile.
foreign_ticks() {
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v self="$$" '
        {
            i = 0
            for (j = length($0); j > 0; j--) if (substr($0, j, 1) == ")") { i = j; break }
            if (!i) next
            pid = $1 + 0
            n = split(substr($0, i + 2), f, " ")
            if (n < 15) next
            ppid[pid] = f[2] + 0
            kthread[pid] = int(f[7] / 2097152) % 2 # PF_KTHREAD
            t[pid] = f[12] + f[13] + f[14] + f[15]
        }
        function ours(p, d) {
            for (d = 0; p > 1 && d < 64; d++) { if (p == self) return 1; p = ppid[p] }
            return p == self
        }
        END { s = 0; for (p in t) if (!kthread[p] && !ours(p)) s += t[p]; print s }'
}

# foreign_pct TICKS0 TICKS1 SECONDS: that difference as a share of all CPUs.
foreign_pct() {
    awk -v a="$1" -v b="$2" -v s="$3" -v hz="$CLK_TCK" -v n="$(nproc)" \
        'BEGIN { p = s > 0 ? 100 * (b - a) / hz / s / n : 0; if (p < 0) p = 0; printf "%.0f\n", p }'
}

# percentiles P...: numbers on stdin, nearest-rank percentiles out, one per line ("" if none).
percentiles() {
    sort -g | awk -v ps="$*" '
        { v[++n] = $1 }
        END {
            k = split(ps, p, " ")
            for (i = 1; i <= k; i++) {
                if (n == 0) { print ""; continue }
                r = int(p[i] / 100 * n + 0.999999); if (r < 1) r = 1; if (r > n) r = n
                print v[r]
            }
        }'
}

# num_or_null X: X if it is a number, else null (for jq --argjson).
num_or_null() {
    if [[ $1 =~ ^-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$ ]]; then printf '%s\n' "$1"; else printf 'null\n'; fi
}

# fmt X DECIMALS: X rounded, or "—" when X is empty or null.
fmt() {
    if [[ -z $1 || $1 == null ]]; then printf '—'; else awk -v x="$1" -v d="$2" 'BEGIN { printf "%.*f", d, x }'; fi
}

# met VALUE OP LIMIT: MET or NOT MET (OP: le or ge); "not measured" for a missing value.
met() {
    if [[ -z $1 || $1 == null ]]; then
        printf 'not measured'
        return
    fi
    awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { ok = op == "le" ? v <= l : v >= l; printf "%s", ok ? "MET" : "NOT MET" }'
}

# bench_meta: a JSON object describing the machine and the tree the run measured.
bench_meta() {
    local commit dirty
    commit=$(git -C "$BENCH_REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
    dirty=$(git -C "$BENCH_REPO" status --porcelain 2>/dev/null | grep -qv '^??' && echo true || echo false)
    jq -n --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg kernel "$(uname -r)" \
        --arg cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
        --argjson cores "$(nproc)" --arg commit "$commit" --argjson dirty "$dirty" \
        --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
        '{"date": $date, "kernel": $kernel, "cpu": $cpu, "cores": $cores, "commit": $commit,
          "uncommitted_changes": $dirty, "loadavg_at_start": $load}'
}
