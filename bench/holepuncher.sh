#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# holepuncherd benchmark (root): answers per second on one core, memory per session up to a
# million sessions, and handshake latency under load, driven by bench/hp_load on loopback.
#
#   bench/holepuncher.sh                        5 s per phase, each rate phase 3 times
#   HP_SECONDS=2 HP_REPEAT=1 bench/holepuncher.sh
#   HP_PERF=1 bench/holepuncher.sh              also a perf profile of holepuncherd
#
# Everything runs in a network namespace of its own with only lo: holepuncherd on
# 127.0.0.1:7700 pinned to CPU 0 (taskset), hp_load pinned to CPU 1. hp_load spreads its
# requests over a million source addresses in 127.0.0.0/8 (one per session), as a public
# holepuncher sees many clients; from one address the per-source limit would answer only a few
# dozen Register/Join a second. holepuncherd runs with log_level "warn": at "info" every new
# session and every Join is a log line.
set -u
# The command line as run, with the settings that came from the environment (for the results).
BENCH_CMD=
for _v in HP_SECONDS HP_REPEAT HP_PERF HP_MEM_SESSIONS BENCH_QUIET_WAIT \
    BENCH_ROW_QUIET_WAIT BENCH_QUIET_PCT BENCH_NO_BUILD; do
    [[ -n ${!_v+x} ]] && BENCH_CMD+=$(printf '%s=%q ' "$_v" "${!_v}")
done
BENCH_CMD+=bench/holepuncher.sh
HP_SECONDS=${HP_SECONDS:-5}
HP_REPEAT=${HP_REPEAT:-3}
HP_PERF=${HP_PERF:-0}
HP_MEM_SESSIONS=${HP_MEM_SESSIONS:-10000 100000 1000000}

BENCH_SELF=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
. "$BENCH_SELF/lib.sh"

if [[ $(id -u) -ne 0 ]]; then
    echo "holepuncher.sh: run as root (network namespace, pinned processes)" >&2
    exit 1
fi
if ! [[ $HP_SECONDS =~ ^[0-9]+$ && $HP_REPEAT =~ ^[0-9]+$ ]] || ((HP_SECONDS < 1 || HP_SECONDS > 60 || HP_REPEAT < 1 || HP_REPEAT > 10)); then
    echo "holepuncher.sh: HP_SECONDS must be 1..60 and HP_REPEAT 1..10" >&2
    exit 2
fi
if (($(nproc) < 2)); then
    echo "holepuncher.sh: needs 2 CPUs (holepuncherd on one, the load generator on the other)" >&2
    exit 1
fi
bench_need_pkgs jq:jq taskset:util-linux cmake:cmake || exit 1
if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then bench_build || exit 1; fi
BIN=$BENCH_BUILD/bin
[[ -x $BIN/holepuncherd && -x $BIN/hp_load ]] || { echo "holepuncher.sh: $BIN/holepuncherd or hp_load missing" >&2; exit 1; }

STAMP=$(date +%Y%m%d-%H%M%S)
mkdir -p "$BENCH_RESULTS"
BG_BUSY=$(bench_wait_quiet)
if ((BG_BUSY > 20)); then
    bench_warn "the machine was ${BG_BUSY}% busy before the run (other work): figures will be noisy"
fi
META=$(bench_meta)

NS=rphhpb$$
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rph-hpbench.XXXXXX")
HPD_PID=
REFLECT_PID=

hpd_stop() {
    [[ -n $HPD_PID ]] || return 0
    kill -TERM "$HPD_PID" 2>/dev/null
    local i
    for ((i = 0; i < 30; i++)); do
        kill -0 "$HPD_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$HPD_PID" 2>/dev/null
    wait "$HPD_PID" 2>/dev/null
    HPD_PID=
}

cleanup() {
    local pids
    trap '' INT TERM
    hpd_stop
    # Anything else in the namespace is ours (hp_load runs, the reflector): stop it by PID.
    pids=$(ip netns pids "$NS" 2>/dev/null)
    # shellcheck disable=SC2086 # one PID per word
    [[ -n $pids ]] && kill -KILL $pids 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    if [[ ${BENCH_KEEP_LOGS:-0} == 1 ]]; then echo "logs kept in $WORK" >&2; else rm -rf -- "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$NS" && ip -n "$NS" link set lo up || { echo "holepuncher.sh: cannot create namespace $NS" >&2; exit 1; }

# hpd_start MAX_SESSIONS: a fresh holepuncherd on CPU 0; sets HPD_PID. The per-source limits
# are off: hp_load's million sources would share the fail-closed buckets and sketch of a
# 4096-bucket table (by design, nothing raises a source above its rate), so at 400 000 requests
# a second the limit, not holepuncherd, would be measured.
hpd_start() {
    hpd_stop
    cat >"$WORK/hpd.json" <<JSON
{"listen": ["127.0.0.1:7700"], "session_ttl": 3600, "max_sessions": $1, "log_level": "warn",
 "rate_limit_per_source": 0, "max_sessions_per_source": 0}
JSON
    ip netns exec "$NS" taskset -c 0 "$BIN/holepuncherd" -c "$WORK/hpd.json" >>"$WORK/hpd.log" 2>&1 </dev/null &
    HPD_PID=$!
    local i
    for ((i = 0; i < 50; i++)); do
        ip netns exec "$NS" ss -lun 2>/dev/null | grep -q '127.0.0.1:7700 ' && return 0
        sleep 0.1
    done
    echo "holepuncher.sh: holepuncherd did not start: $(tail -n 3 "$WORK/hpd.log")" >&2
    return 1
}

# load ARGS...: hp_load on CPU 1 against holepuncherd, bounded in time; its JSON on stdout.
load() {
    timeout 180 ip netns exec "$NS" taskset -c 1 "$BIN/hp_load" -t 127.0.0.1:7700 "$@"
}

# measured ARGS...: a hp_load run that also reports holepuncherd's CPU use and CPU 0's.
measured() {
    local f0 f1 w0 w1 out
    f0=$(foreign_ticks)
    w0=$(date +%s.%N)
    out=$(load "$@" -W "$HPD_PID" -C 0) || { echo "holepuncher.sh: hp_load $* failed" >&2; return 1; }
    f1=$(foreign_ticks)
    w1=$(date +%s.%N)
    # Other processes' share of the CPUs meanwhile: high values mean a skewed run.
    jq -c --argjson o "$(foreign_pct "$f0" "$f1" "$(awk -v a="$w0" -v b="$w1" 'BEGIN { print b - a }')")" \
        '. + {"others_busy_pct": $o}' <<<"$out"
}

# median_run FILE: of the JSON lines in FILE, the one with the median answered_per_s (of the
# runs no other work got in the way of, if there are any).
median_run() {
    jq -s -c '(map(select(.others_busy_pct < 5)) | if length > 0 then . else null end) as $clean |
        ($clean // .) | sort_by(.answered_per_s) | .[(length - 1) / 2 | floor]' "$1"
}

perf_hpd() {
    local msg=$1
    local data=$WORK/perf.data out=$BENCH_RESULTS/perf-holepuncherd-$msg-$STAMP.txt
    command -v perf >/dev/null || { bench_warn "perf not installed: no profile"; return 0; }
    load rate -m "$msg" -x "f$msg" -d 5 >/dev/null &
    local lp=$!
    sleep 1.5 # past the prefill of register and join
    perf record -p "$HPD_PID" -o "$data" -- sleep 3 >/dev/null 2>&1
    wait "$lp"
    {
        printf '# perf profile of holepuncherd answering %s at full load, %s (perf record -p, 3 s)\n\n' "$msg" "$STAMP"
        printf '## by object (user space: holepuncherd, libc, libevent; the rest is the kernel)\n\n'
        perf report -i "$data" --sort dso --stdio 2>/dev/null | grep -vE '^#|^$' | head -n 8
        printf '\n## top symbols\n\n'
        perf report -i "$data" --sort dso,sym --stdio 2>/dev/null | grep -vE '^#|^$' | head -n 45
    } >"$out"
    rm -f "$data"
    bench_log "perf profile: $out"
}

# ---------------------------------------------------------------- the generator's own ceiling

# A batched reflector (hp_load reflect) stands in for holepuncherd on CPU 0: what hp_load
# reaches against it is the most this benchmark can measure.
bench_log "hp_load's ceiling: a batched reflector on CPU 0 in place of holepuncherd"
declare -A CEIL
ip netns exec "$NS" taskset -c 0 "$BIN/hp_load" -t 127.0.0.1:7700 -d $((3 * HP_SECONDS + 30)) reflect \
    >"$WORK/reflect.json" 2>&1 </dev/null &
REFLECT_PID=$!
sleep 0.3
for msg in hello register join; do
    CEIL[$msg]=$(load rate -m "$msg" -x "c$msg" -d "$HP_SECONDS" -W "$REFLECT_PID" -C 0 | tee -a "$WORK/ceiling.jsonl" | jq -r .answered_per_s) || CEIL[$msg]=null
done
kill -TERM "$REFLECT_PID" 2>/dev/null
wait "$REFLECT_PID" 2>/dev/null

# ---------------------------------------------------------------- rates and latency

bench_log "rates: holepuncherd on CPU 0, hp_load on CPU 1, ${HP_SECONDS} s per run, $HP_REPEAT runs each"
hpd_start 4000000 || exit 1
declare -A RATE
for msg in hello register join; do
    : >"$WORK/rate-$msg.jsonl"
    for ((i = 1; i <= HP_REPEAT; i++)); do
        # A run that other work got in the way of is done again (twice at most).
        for try in 1 2 3; do
            BENCH_QUIET_WAIT=${BENCH_ROW_QUIET_WAIT:-60} bench_wait_quiet >/dev/null
            run=$(measured rate -m "$msg" -x "$msg$i$try" -d "$HP_SECONDS") || exit 1
            (($(jq -r .others_busy_pct <<<"$run") < 5)) && break
            bench_log "$msg run $i: other work used $(jq -r .others_busy_pct <<<"$run")% of the CPUs; again"
        done
        printf '%s\n' "$run" >>"$WORK/rate-$msg.jsonl"
    done
    RATE[$msg]=$(median_run "$WORK/rate-$msg.jsonl" | jq -c --argjson c "$(num_or_null "${CEIL[$msg]}")" '. + {"generator_ceiling_per_s": $c}')
    bench_log "$msg: $(jq -r '"\(.answered_per_s) answered/s, holepuncherd \(.daemon_cpu_pct) % of CPU 0"' <<<"${RATE[$msg]}")"
    if [[ $HP_PERF == 1 ]]; then perf_hpd "$msg"; fi
done

REG=$(jq -r .answered_per_s <<<"${RATE[register]}")
# A fresh daemon: the table must not grow during these runs (growth is timed with the fills).
bench_log "handshake latency: idle, and under Register load at 50 % and 90 % of $REG/s"
hpd_start 4000000 || exit 1
BENCH_QUIET_WAIT=${BENCH_ROW_QUIET_WAIT:-60} bench_wait_quiet >/dev/null
LAT_IDLE=$(measured rate -m none -p -x idle -d "$HP_SECONDS") || exit 1
LAT_50=$(measured rate -m register -r "$((REG / 2))" -p -x lat50 -d "$HP_SECONDS") || exit 1
LAT_90=$(measured rate -m register -r "$((REG * 9 / 10))" -p -x lat90 -d "$HP_SECONDS") || exit 1
hpd_stop

# ---------------------------------------------------------------- memory per session

bench_log "memory: a fresh holepuncherd, sessions registered in steps ($HP_MEM_SESSIONS)"
hpd_start 4000000 || exit 1
sleep 0.5
RSS0=$(proc_status_kb "$HPD_PID" VmRSS)
MEM='[]'
done_n=0
probes=0 # probe handshakes register sessions of their own: counted in what the table holds
for n in $HP_MEM_SESSIONS; do
    if ((n > done_n)); then
        out=$(measured fill -n "$((n - done_n))" -o "$done_n" -x mem -d 120 -p) ||
            { echo "holepuncher.sh: registering sessions $done_n..$n failed: $out" >&2; exit 1; }
        done_n=$n
        probes=$((probes + $(jq -r '.probe.handshakes + .probe.lost' <<<"$out")))
    fi
    rss=$(proc_status_kb "$HPD_PID" VmRSS)
    hwm=$(proc_status_kb "$HPD_PID" VmHWM)
    MEM=$(jq -c --argjson n "$n" --argjson held "$((n + probes))" --argjson rss "$rss" \
        --argjson hwm "$hwm" --argjson rss0 "$RSS0" --argjson fill "$out" \
        '. + [{"sessions": $n, "sessions_held": $held, "rss_kb": $rss, "hwm_kb": $hwm,
               "bytes_per_session": ((($rss - $rss0) * 1024 / $held) | floor),
               "fill_per_s": $fill.acked_per_s, "fill": $fill}]' <<<"$MEM")
    bench_log "$n sessions: VmRSS $rss kB (from $RSS0 kB), $(jq -r '.[-1].bytes_per_session' <<<"$MEM") B/session"
done
hpd_stop

# ---------------------------------------------------------------- results

TARGETS='[]'
target() {
    TARGETS=$(jq -c --arg name "$1" --argjson value "$(num_or_null "$2")" --arg unit "$3" --arg op "$4" \
        --argjson limit "$5" --arg status "$(met "$2" "$4" "$5")" \
        '. + [{"target": $name, "value": $value, "unit": $unit, "op": $op, "limit": $limit, "status": $status}]' <<<"$TARGETS")
}
for msg in register join hello; do
    target "holepuncherd $msg answered per second (measured)" "$(jq -r .answered_per_s <<<"${RATE[$msg]}")" "/s" ge 300000
    target "holepuncherd $msg answers per busy second of its core" "$(jq -r '.answered_per_cpu_s // empty' <<<"${RATE[$msg]}")" "/s" ge 300000
done
target "holepuncherd bytes per session at 1M sessions" \
    "$(jq -r 'map(select(.sessions == 1000000))[0].bytes_per_session // empty' <<<"$MEM")" "B" le 128

RESULT=$(jq -n --argjson meta "$META" --argjson bg "$BG_BUSY" --argjson secs "$HP_SECONDS" \
    --argjson rep "$HP_REPEAT" --arg cmd "$BENCH_CMD" \
    --argjson hello "${RATE[hello]}" --argjson register "${RATE[register]}" --argjson join "${RATE[join]}" \
    --argjson idle "$LAT_IDLE" --argjson l50 "$LAT_50" --argjson l90 "$LAT_90" \
    --argjson rss0 "$RSS0" --argjson mem "$MEM" --argjson targets "$TARGETS" \
    --argjson ceiling "$(jq -s -c . "$WORK/ceiling.jsonl" 2>/dev/null || echo '[]')" \
    '{"benchmark": "holepuncher", "command": $cmd, "seconds_per_run": $secs, "repeats": $rep,
      "busy_pct_before_run": $bg, "meta": $meta,
      "rates": {"hello": $hello, "register": $register, "join": $join},
      "generator_ceiling": $ceiling,
      "latency": {"idle": $idle, "register_50pct": $l50, "register_90pct": $l90},
      "memory": {"rss_kb_empty": $rss0, "steps": $mem}, "targets": $targets}')
printf '%s\n' "$RESULT" >"$BENCH_RESULTS/holepuncher-$STAMP.json"

{
    printf '## bench/holepuncher.sh, %s\n\n' "$(jq -r .meta.date <<<"$RESULT")"
    printf 'Command: `%s` (as root). Commit %s%s; kernel %s; %s cores (%s); machine %s%% busy before the run. holepuncherd on CPU 0, hp_load on CPU 1, loopback in a namespace of its own.\n\n' \
        "$(jq -r .command <<<"$RESULT")" "$(jq -r .meta.commit <<<"$RESULT")" \
        "$(jq -r 'if .meta.uncommitted_changes then " with uncommitted changes" else "" end' <<<"$RESULT")" \
        "$(jq -r .meta.kernel <<<"$RESULT")" "$(jq -r .meta.cores <<<"$RESULT")" \
        "$(jq -r .meta.cpu <<<"$RESULT")" "$BG_BUSY"
    printf '| request (answer) | answered per second (median of %s) | holepuncherd CPU | CPU 0 busy | answers per busy CPU-0 second | unanswered | hp_load ceiling (reflector) |\n|---|---|---|---|---|---|---|\n' "$HP_REPEAT"
    jq -r '.rates | to_entries[] | .value as $v |
        "| \($v.msg) (\({"HelloReq": "HelloResp", "Register": "RegisterAck; refreshes of \($v.sessions) sessions", "Join": "PeerInfo to both; \($v.sessions) sessions"}[$v.msg]))\(if $v.others_busy_pct >= 5 then " ⚠ other work used \($v.others_busy_pct)% of the CPUs meanwhile" else "" end) | \($v.answered_per_s) | \($v.daemon_cpu_pct) % | \($v.cpu_busy_pct) % | \($v.answered_per_cpu_s // "—") | \($v.sent - $v.answered) of \($v.sent) | \($v.generator_ceiling_per_s // "—") |"' <<<"$RESULT"
    printf '\n| handshake (Register→RegisterAck→Join→PeerInfo to both) | load | p50 | p99 | max | lost |\n|---|---|---|---|---|---|\n'
    jq -r '.latency | to_entries[] | .value as $v |
        "| \(.key)\(if $v.others_busy_pct >= 5 then " ⚠ other work used \($v.others_busy_pct)% of the CPUs meanwhile" else "" end) | \(if $v.paced_per_s > 0 then "\($v.answered_per_s) Register/s" else "none" end) | \($v.probe.handshake_p50_us) µs | \($v.probe.handshake_p99_us) µs | \($v.probe.handshake_max_us) µs | \($v.probe.lost) of \($v.probe.handshakes + $v.probe.lost) |"' <<<"$RESULT"
    printf '\n| sessions | VmRSS | VmHWM (peak) | bytes per session | new sessions registered per second | handshake p99 / max meanwhile |\n|---|---|---|---|---|---|\n'
    jq -r '.memory.steps[] |
        "| \(.sessions) | \(.rss_kb) kB | \(.hwm_kb) kB | \(.bytes_per_session) B | \(.fill_per_s) | \(.fill.probe.handshake_p99_us) / \(.fill.probe.handshake_max_us) µs |"' <<<"$RESULT"
    printf '\n(VmRSS of the empty daemon: %s kB; bytes per session = (VmRSS - that) / sessions held, the probe handshakes'"'"' own sessions included. Registered per second: new sessions, each until acknowledged, from the previous step to this one.)\n' "$RSS0"
    printf '\nTargets (issue 5):\n\n| target | measured | limit | status |\n|---|---|---|---|\n'
    jq -r '.targets[] | "| \(.target) | \(if .value == null then "—" else "\(.value) \(.unit)" end) | \(if .op == "le" then "≤" else "≥" end) \(.limit) \(.unit) | \(.status) |"' <<<"$RESULT"
} >"$BENCH_RESULTS/holepuncher-latest.md"
cat "$BENCH_RESULTS/holepuncher-latest.md"
printf '\nresults: %s, %s\n' "$BENCH_RESULTS/holepuncher-$STAMP.json" "$BENCH_RESULTS/holepuncher-latest.md"
