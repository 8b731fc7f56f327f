#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Handshake flood benchmark (root, issue 11): a sealed tunnel's TCP throughput and a new
# client's start -> first ping while 20 000 HandshakeInits a second hit the server.
#
#   bench/handshake_flood.sh                    10 s per iperf3 run, 20 000 inits/s
#   BENCH_SECONDS=3 bench/handshake_flood.sh    shorter runs
#   FLOOD_RATE=40000 bench/handshake_flood.sh   another rate
#
# On the two-NAT test bed of the e2e tests (tests/e2e/lib.sh, three peers): ruphin-tund server
# on peer 1, the existing tunnel's client on peer 2, and a new client started on peer 3 during
# each flood. The flood (tests/tools/rph_attack hs forge|replay) comes from the public segment:
# it is injected on the bridge port toward NAT 1 inside the headers of a captured RegisterAck,
# so it carries the holepuncher's endpoint, a source NAT 1 lets in (as an attacker on the
# internet who knows that endpoint would). Two kinds, one phase each:
#   forged    random bytes of a HandshakeInit's length and type, which fail the session key's tag
#   replayed  one real HandshakeInit of client 2, captured on the wire at its start
# Per phase: iperf3 TCP 1 stream client 2 -> server, the server daemon's CPU meanwhile, then
# peer 3's start -> first ping answered, the rate the flood reached, and the server's counters
# (ruphinctl status --json: cookies_sent, handshake_limited, auth_failed, replayed).
#
# Other work on the same cores skews every figure: like bench/tunnel.sh, the run waits (up to
# BENCH_QUIET_WAIT s, and BENCH_ROW_QUIET_WAIT s before each phase, default 60) for the machine
# to be under BENCH_QUIET_PCT % busy (default 15) and marks phases other processes shared.
# shellcheck disable=SC2034 # TOPO_DUMP_LOGS, TUN_SEAL, TUN_SESSION: read by the sourced libraries
set -u
BENCH_CMD=
for _v in BENCH_SECONDS FLOOD_RATE BENCH_QUIET_WAIT BENCH_ROW_QUIET_WAIT BENCH_QUIET_PCT \
    BENCH_NO_BUILD; do
    [[ -n ${!_v+x} ]] && BENCH_CMD+=$(printf '%s=%q ' "$_v" "${!_v}")
done
BENCH_CMD+=bench/handshake_flood.sh
BENCH_SECONDS=${BENCH_SECONDS:-10}
FLOOD_RATE=${FLOOD_RATE:-20000}
BENCH_ROW_QUIET_WAIT=${BENCH_ROW_QUIET_WAIT:-60}
# The new client's limit: the target is 2 s; later than this it counts as not connected.
CONNECT_LIMIT=8

BENCH_SELF=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
. "$BENCH_SELF/lib.sh"
. "$BENCH_REPO/tests/e2e/lib.sh"
. "$BENCH_REPO/tests/e2e/tun_lib.sh"

e2e_require_root
# rph_attack stops after 30 s and 1 000 000 datagrams; a flood lasts BENCH_SECONDS + 10 s.
if ! [[ $BENCH_SECONDS =~ ^[0-9]+$ && $FLOOD_RATE =~ ^[0-9]+$ ]] ||
    ((BENCH_SECONDS < 1 || BENCH_SECONDS > 20 || FLOOD_RATE < 100 || FLOOD_RATE > 40000)); then
    echo "handshake_flood.sh: BENCH_SECONDS must be 1..20 and FLOOD_RATE 100..40000" >&2
    exit 2
fi
bench_need_pkgs iperf3:iperf3 jq:jq socat:socat conntrack:conntrack nft:nftables cmake:cmake || exit 1
if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then bench_build || exit 1; fi
RUPHIN_BIN=$BENCH_BUILD/bin
export RUPHIN_BIN
for b in holepuncherd ruphin-tund ruphinctl rph_attack; do
    [[ -x $RUPHIN_BIN/$b ]] || { echo "handshake_flood.sh: $RUPHIN_BIN/$b missing (rph_attack needs libsodium)" >&2; exit 1; }
done
ATK=$RUPHIN_BIN/rph_attack

STAMP=$(date +%Y%m%d-%H%M%S)
mkdir -p "$BENCH_RESULTS"
BG_BUSY=$(bench_wait_quiet)
if ((BG_BUSY > 20)); then
    bench_warn "the machine was ${BG_BUSY}% busy before the run (other work): figures will be noisy"
fi
META=$(bench_meta)

TOPO_DUMP_LOGS=0
TUN_SEAL=1
TUN_SESSION=bench-flood
topo_trap
topo_up 3 || e2e_die "test bed"
tun_start_hpd || e2e_die "holepuncherd did not start"

# cap NAME ARGS...: rph_attack capture on the public bridge, in the background, until ready.
cap() {
    local name=$1
    shift
    topo_spawn "cap_$name" "$NS_PUB" "$TOPO_DIR/cap_$name.log" \
        "$ATK" capture -o "$TOPO_DIR/$name.bin" "$@" || return 1
    wait_for "grep -q ready '$TOPO_DIR/cap_$name.log'" 5
}
# The RegisterAck holepuncher -> NAT 1 (the flood's headers) and client 2's first init.
cap ack -i p1 -s "$HP_IP" -d "$NAT1_IP" -t 6 -n 1 -w 15 || e2e_die "capture"
cap init -i p2 -s "$NAT2_IP" -d "$NAT1_IP" -t 16 -n 1 -w 15 || e2e_die "capture"
tun_start_peer 1 server || e2e_die "server did not start: $(tail -n1 "$TOPO_DIR/peer1.log")"
tun_start_peer 2 client || e2e_die "client did not start: $(tail -n1 "$TOPO_DIR/peer2.log")"
tun_wait_up 2 1 10 || e2e_die "client and server never came up"
topo_wait cap_ack 10 || e2e_die "saw no RegisterAck on the wire"
topo_wait cap_init 10 || e2e_die "saw no HandshakeInit on the wire"
topo_spawn iperf-srv "$NS_PEER1" "$TOPO_DIR/iperf-srv.log" iperf3 -s -p 5201
wait_for "ip netns exec $NS_PEER1 ss -ltn | grep -q ':5201 '" 5 || e2e_die "iperf3 server did not start"
SRV_PID=$(topo_pid peer1)

# first_ping NS TARGET T0 LIMIT_S: seconds from T0 to the first echo reply (as bench/tunnel.sh).
first_ping() {
    local ns=$1 target=$2 t0=$3 limit=$4 end out ts rest
    end=$((SECONDS + limit))
    while ((SECONDS < end)); do
        rest=$((end - SECONDS))
        ((rest < 1)) && rest=1
        if out=$(ip netns exec "$ns" ping -D -n -i 0.002 -c 1 -w "$rest" "$target" 2>&1); then
            ts=$(sed -nE 's/^\[([0-9.]+)\] [0-9]+ bytes from.*/\1/p' <<<"$out" | head -n 1)
            if [[ -n $ts ]]; then
                awk -v a="$t0" -v b="$ts" 'BEGIN { printf "%.3f\n", b - a }'
                return 0
            fi
        fi
        sleep 0.005
    done
    return 1
}

counters() {
    tun_status 1 2>/dev/null | jq -c '.drops | {cookies_sent, handshake_limited, auth_failed, replayed}'
}

# new_client N: a new client on peer 3 (node key, overlay 10.77.0.N of its own, so it is a
# stranger to the server every time); prints its start -> first ping, or fails.
new_client() {
    local n=$1 t0 t
    tun_write_peer_config 3 client "$TOPO_DIR/peer3.base.json"
    jq --arg a "10.77.0.$n/24" --arg a6 "fd77::$n/64" --arg sd "$TOPO_DIR/state-new$n" \
        '.interface.address = $a | .interface.address6 = $a6 | .state_dir = $sd' \
        "$TOPO_DIR/peer3.base.json" >"$TOPO_DIR/peer3.json"
    t0=$(date +%s.%N)
    topo_spawn peer3 "$NS_PEER3" "$TOPO_DIR/peer3-$n.log" "$RUPHIN_BIN/ruphin-tund" -c "$TOPO_DIR/peer3.json" || return 1
    t=$(first_ping "$NS_PEER3" 10.77.0.1 "$t0" "$CONNECT_LIMIT")
    local rc=$?
    topo_kill peer3
    [[ $rc == 0 ]] && printf '%s\n' "$t"
    return "$rc"
}

# phase KIND N: one measurement (KIND none, forged or replayed; N the new client's address);
# its JSON object into $TOPO_DIR/phase-KIND.json.
phase() {
    local kind=$1 n=$2 busy c0 c1 f0 f1 w0 w1 t0 t1 tcp=null cpu=null conn=null others flood='{}'
    local fpid='' a0=0 a1=0 acpu=null
    local dur=$((BENCH_SECONDS + CONNECT_LIMIT + 2)) reason=
    bench_log "phase $kind: iperf3 TCP 1 stream ${BENCH_SECONDS} s, then a new client"
    busy=$(BENCH_QUIET_WAIT=$BENCH_ROW_QUIET_WAIT bench_wait_quiet)
    c0=$(counters)
    if [[ $kind != none ]]; then
        local what=forge extra=()
        [[ $kind == replayed ]] && what=replay extra=(-f "$TOPO_DIR/init.bin")
        topo_spawn flood "$NS_PUB" "$TOPO_DIR/flood-$kind.log" "$ATK" hs "$what" -i p1 \
            -F "$TOPO_DIR/ack.bin" "${extra[@]}" -r "$FLOOD_RATE" -n $((FLOOD_RATE * dur)) -T "$dur" ||
            { bench_warn "rph_attack did not start"; return 1; }
        fpid=$(topo_pid flood)
        sleep 1 # the server is under load (cookie replies) before the measurement starts
    fi
    f0=$(foreign_ticks)
    w0=$(date +%s.%N)
    t0=$(proc_ticks "$SRV_PID")
    [[ -n $fpid ]] && a0=$(proc_ticks "$fpid")
    if timeout $((BENCH_SECONDS + 30)) ip netns exec "$NS_PEER2" iperf3 -c 10.77.0.1 -p 5201 \
        -t "$BENCH_SECONDS" -J --connect-timeout 5000 >"$TOPO_DIR/iperf-$kind.json" 2>&1; then
        tcp=$(num_or_null "$(jq -r '.end.sum_received.bits_per_second // empty' "$TOPO_DIR/iperf-$kind.json")")
    else
        reason="iperf3: $(jq -r '.error // empty' "$TOPO_DIR/iperf-$kind.json" 2>/dev/null | head -c 200)"
    fi
    t1=$(proc_ticks "$SRV_PID")
    [[ -n $fpid ]] && a1=$(proc_ticks "$fpid")
    w1=$(date +%s.%N)
    cpu=$(awk -v t=$((t1 - t0)) -v h="$CLK_TCK" -v a="$w0" -v b="$w1" 'BEGIN { printf "%.0f", 100 * t / h / (b - a) }')
    # The attacker shares this machine's cores (a real one would not): what it used meanwhile.
    [[ -n $fpid ]] && acpu=$(awk -v t=$((a1 - a0)) -v h="$CLK_TCK" -v a="$w0" -v b="$w1" 'BEGIN { printf "%.0f", 100 * t / h / (b - a) }')
    if ! conn=$(new_client "$n"); then
        conn=null
        reason+="${reason:+; }no ping from the new client within $CONNECT_LIMIT s"
    fi
    f1=$(foreign_ticks)
    others=$(foreign_pct "$f0" "$f1" "$(awk -v a="$w0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')")
    if [[ $kind != none ]]; then
        topo_wait flood $((dur + 10)) >/dev/null || topo_kill flood
        local out
        out=$(grep -o 'sent=.*' "$TOPO_DIR/flood-$kind.log" | tail -n 1)
        flood=$(awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); printf "%s\"%s\": %s", (i > 1 ? ", " : "{"), kv[1], kv[2] } print "}" }' <<<"$out")
        jq -e . >/dev/null 2>&1 <<<"$flood" || flood='{}'
        bench_log "$kind flood: $out (asked for $FLOOD_RATE/s)"
    fi
    c1=$(counters)
    jq -n --arg kind "$kind" --argjson tcp "$tcp" --argjson cpu "$(num_or_null "$cpu")" \
        --argjson conn "$conn" --argjson flood "$flood" --argjson acpu "$(num_or_null "$acpu")" --argjson c0 "${c0:-null}" --argjson c1 "${c1:-null}" \
        --argjson busy "$busy" --argjson others "$others" --arg reason "$reason" \
        '{"kind": $kind, "tcp1_bps": $tcp, "server_cpu_pct": $cpu, "flood_tool_cpu_pct": $acpu, "connect_s": $conn,
          "flood": $flood, "counters": (if $c0 == null or $c1 == null then null
              else ($c1 | with_entries(.value -= $c0[.key])) end),
          "busy_pct_before": $busy, "others_busy_pct": $others, "reason": $reason}' \
        >"$TOPO_DIR/phase-$kind.json"
}

phase none 3
phase forged 4
phase replayed 5

# ---------------------------------------------------------------- results

PHASES=$(jq -s . "$TOPO_DIR"/phase-none.json "$TOPO_DIR"/phase-forged.json "$TOPO_DIR"/phase-replayed.json 2>/dev/null || echo '[]')
pv() { jq -r --arg k "$1" "map(select(.kind == \$k))[0].$2 // null" <<<"$PHASES"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "null" || b == "null" || b == 0) print "null"; else printf "%.1f\n", 100 * a / b }'; }
BASE=$(pv none tcp1_bps)
TARGETS='[]'
target() {
    TARGETS=$(jq -c --arg name "$1" --argjson value "$(num_or_null "$2")" --arg unit "$3" --arg op "$4" \
        --argjson limit "$5" --arg status "$(met "$2" "$4" "$5")" \
        '. + [{"target": $name, "value": $value, "unit": $unit, "op": $op, "limit": $limit, "status": $status}]' <<<"$TARGETS")
}
for k in forged replayed; do
    target "sealed TCP 1 stream during $FLOOD_RATE $k inits/s vs without" "$(ratio "$(pv "$k" tcp1_bps)" "$BASE")" "%" ge 80
    target "new client start -> first ping during $FLOOD_RATE $k inits/s" "$(pv "$k" connect_s)" "s" le 2
    target "$k inits reaching the wire per second (asked $FLOOD_RATE)" "$(pv "$k" flood.rate)" "/s" ge "$((FLOOD_RATE * 95 / 100))"
done

RESULT=$(jq -n --argjson meta "$META" --argjson phases "$PHASES" --argjson targets "$TARGETS" \
    --argjson secs "$BENCH_SECONDS" --argjson rate "$FLOOD_RATE" --argjson bg "$BG_BUSY" --arg cmd "$BENCH_CMD" \
    '{"benchmark": "handshake_flood", "command": $cmd, "bench_seconds": $secs, "flood_rate": $rate,
      "busy_pct_before_run": $bg, "meta": $meta, "phases": $phases, "targets": $targets}')
printf '%s\n' "$RESULT" >"$BENCH_RESULTS/handshake_flood-$STAMP.json"

{
    printf '## bench/handshake_flood.sh, %s\n\n' "$(jq -r .meta.date <<<"$RESULT")"
    printf 'Command: `%s` (as root). Commit %s%s; kernel %s; %s cores (%s); machine %s%% busy before the run. Sealed tunnel server (peer 1) ← client (peer 2) on the two-NAT test bed; the flood comes from the public segment with the holepuncher'"'"'s endpoint as source.\n\n' \
        "$(jq -r .command <<<"$RESULT")" "$(jq -r .meta.commit <<<"$RESULT")" \
        "$(jq -r 'if .meta.uncommitted_changes then " with uncommitted changes" else "" end' <<<"$RESULT")" \
        "$(jq -r .meta.kernel <<<"$RESULT")" "$(jq -r .meta.cores <<<"$RESULT")" \
        "$(jq -r .meta.cpu <<<"$RESULT")" "$BG_BUSY"
    printf '| flood | inits/s reached (rph_attack CPU) | TCP 1 stream | vs no flood | server CPU | new client start → 1st ping | cookies_sent | handshake_limited | auth_failed | replayed |\n'
    printf '|---|---|---|---|---|---|---|---|---|---|\n'
    jq -r --argjson base "$(num_or_null "$BASE")" '.phases[] |
        def f(d): if . == null then "—" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
        "| \(.kind)\(if .others_busy_pct >= 5 then " ⚠ other work used \(.others_busy_pct)% of the CPUs meanwhile" else "" end)\(if .reason != "" then " (" + .reason + ")" else "" end) | \(.flood.rate | f(0))\(if .flood_tool_cpu_pct == null then "" else " (\(.flood_tool_cpu_pct) %)" end) | \(if .tcp1_bps == null then "—" else "\(.tcp1_bps / 1e9 | f(2)) Gbit/s" end) | \(if .kind == "none" or .tcp1_bps == null or $base == null then "—" else "\(100 * .tcp1_bps / $base | f(1)) %" end) | \(.server_cpu_pct | f(0)) % | \(if .connect_s == null then "—" else "\(.connect_s) s" end) | \(.counters.cookies_sent // "—") | \(.counters.handshake_limited // "—") | \(.counters.auth_failed // "—") | \(.counters.replayed // "—") |"' <<<"$RESULT"
    printf '\nTargets (issue 11):\n\n| target | measured | limit | status |\n|---|---|---|---|\n'
    jq -r '.targets[] | "| \(.target) | \(if .value == null then "—" else "\(.value) \(.unit)" end) | \(if .op == "le" then "≤" else "≥" end) \(.limit) \(.unit) | \(.status) |"' <<<"$RESULT"
    printf '\nThroughput: iperf3 receiver, %s s, client 2 → server over the sealed tunnel, the flood running from 1 s before. Server CPU: ruphin-tund user+system time over that run, %% of one core; in brackets after the rate, rph_attack'"'"'s own (it shares the cores, and the kernel forwards its datagrams through NAT 1 on them too). New client: a fresh ruphin-tund (a node key and overlay address of its own) on peer 3, started after the iperf3 run with the flood still on. Counters: the server'"'"'s `ruphinctl status --json` drops, their increase over the phase.\n' "$BENCH_SECONDS"
} >"$BENCH_RESULTS/handshake_flood-latest.md"
cat "$BENCH_RESULTS/handshake_flood-latest.md"
printf '\nresults: %s, %s\n' "$BENCH_RESULTS/handshake_flood-$STAMP.json" "$BENCH_RESULTS/handshake_flood-latest.md"
