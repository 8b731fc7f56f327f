#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The mesh at scale (root; issue #15): MESH_N members (default 64: one server, MESH_N - 1
# clients), each ruphin-tund in a namespace of its own behind a NAT of its own, sealed, mesh on
# (the default); holepuncherd with the relay on the public segment. Prints a markdown table and
# writes bench/results/mesh-N-DATE.txt:
#   - from the last member's start: when every pair has a working path (every client up with
#     the server, which forwards between them; confirmed by pings between sampled pairs), and
#     when every client has a direct path to every other client (all port-restricted NATs:
#     every pair can be direct);
#   - the server's introductions and handshakes per second while the mesh forms (peak over a
#     poll, and mean);
#   - once settled (MESH_SETTLE s after all direct, or after the deadline), over MESH_IDLE s:
#     each daemon's RSS, wake-ups per second (context switches; the server's apart from the
#     clients') and CPU (the exact run time of /proc/PID/task/*/schedstat, not 100 Hz ticks),
#     and the whole mesh's CPU as a share of one core.
# Targets (issue #15): all pairs working within 10 s of the last start, the idle mesh under 2 %
# of one core, RSS under 8 MB per daemon.
#
#   bench/mesh.sh                    64 members
#   MESH_N=16 bench/mesh.sh          a quick run (MESH_N 4..128)
#   BENCH_NO_BUILD=1 RUPHIN_BIN=build-bench/bin bench/mesh.sh
#
# The NAT of a member is nft in its own namespace, so the bed is MESH_N + 2 namespaces: the
# daemon binds a private address (172.16.0.K on its loopback) that the routes make the
# source of everything it sends; postrouting masquerades that to its public address
# 203.0.113.(100 + K), keeping ports; new inbound UDP is dropped (a port-restricted NAT, as
# tests/e2e/lib.sh's "home" router). The kernel's neighbour table is one for all namespaces:
# its thresholds are raised for the run and restored after.
set -u
BENCH_CMD=
for _v in MESH_N MESH_DEADLINE MESH_SETTLE MESH_IDLE MESH_PINGS BENCH_NO_BUILD; do
    [[ -n ${!_v+x} ]] && BENCH_CMD+=$(printf '%s=%q ' "$_v" "${!_v}")
done
BENCH_CMD+=bench/mesh.sh
MESH_N=${MESH_N:-64}
MESH_DEADLINE=${MESH_DEADLINE:-60} # s after the last start to wait for all direct paths
MESH_SETTLE=${MESH_SETTLE:-70}     # s of quiet before the idle measurement (LAN probes: ~60 s)
MESH_IDLE=${MESH_IDLE:-20}         # s the idle measurement lasts
MESH_PINGS=${MESH_PINGS:-24}       # sampled pairs pinged to confirm "working"

BENCH_SELF=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$BENCH_SELF/lib.sh"
# shellcheck source=tests/e2e/lib.sh
. "$BENCH_REPO/tests/e2e/lib.sh"
# shellcheck source=tests/e2e/nat_lib.sh
. "$BENCH_REPO/tests/e2e/nat_lib.sh"
# shellcheck source=tests/e2e/tun_lib.sh
. "$BENCH_REPO/tests/e2e/tun_lib.sh"

e2e_require_root
if ! [[ $MESH_N =~ ^[0-9]+$ ]] || ((MESH_N < 4 || MESH_N > 128)); then
    echo "mesh.sh: MESH_N must be 4..128, got '$MESH_N'" >&2
    exit 2
fi
bench_need_pkgs jq:jq nft:nftables conntrack:conntrack || exit 1
if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
    bench_build || exit 1
    RUPHIN_BIN=$BENCH_BUILD/bin
fi
for b in holepuncherd ruphin-tund ruphinctl; do
    [[ -x $RUPHIN_BIN/$b ]] || { echo "mesh.sh: $RUPHIN_BIN/$b missing" >&2; exit 1; }
done
# The shipped timings, not the e2e tests' short ones.
TUN_KEEPALIVE=10 TUN_PEER_TIMEOUT=30 TUN_LOG_LEVEL=info

# The neighbour table's thresholds (one table for every namespace): raised, restored on exit.
NEIGH_KEYS=(net.ipv4.neigh.default.gc_thresh1 net.ipv4.neigh.default.gc_thresh2
    net.ipv4.neigh.default.gc_thresh3)
declare -A NEIGH_WAS=()
for key in "${NEIGH_KEYS[@]}"; do NEIGH_WAS[$key]=$(sysctl -n "$key"); done
mesh_exit() {
    local key
    for key in "${NEIGH_KEYS[@]}"; do sysctl -qw "$key=${NEIGH_WAS[$key]}" || true; done
    topo__on_exit
}
topo_trap
trap mesh_exit EXIT
sysctl -qw net.ipv4.neigh.default.gc_thresh1=4096 net.ipv4.neigh.default.gc_thresh2=8192 \
    net.ipv4.neigh.default.gc_thresh3=16384 || bench_warn "could not raise the neighbour table's thresholds"

now() { printf '%s\n' "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# member_host K: member K's namespace behind its own port-restricted NAT (nft, in it).
member_host() {
    local k=$1 ns pub priv
    ns=$(topo_ns peer "$k")
    pub=203.0.113.$((100 + k)) priv=172.16.0.$k
    topo__addns "$ns" || return 1
    nat__on_pub "$ns" "$TOPO_NAT_WAN_IF" "m$k" || return 1
    topo__do ip -n "$ns" addr add "$pub/24" dev "$TOPO_NAT_WAN_IF" noprefixroute || return 1
    topo__do ip -n "$ns" addr add "$priv/32" dev lo || return 1
    # Everything it sends leaves from the private address (then masqueraded); the other
    # members' private addresses are nowhere (their LAN candidates do not reach).
    topo__do ip -n "$ns" route add 203.0.113.0/24 dev "$TOPO_NAT_WAN_IF" src "$priv" || return 1
    topo__do ip -n "$ns" route add unreachable 172.16.0.0/16 || return 1
    topo__do ip netns exec "$ns" nft -f - <<RULES
table inet rph {
    chain post {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "$TOPO_NAT_WAN_IF" ip saddr $priv masquerade
    }
    chain in {
        type filter hook input priority filter; policy accept;
        iifname "$TOPO_NAT_WAN_IF" ct state established,related accept
        iifname "$TOPO_NAT_WAN_IF" meta l4proto udp ct state new counter drop comment "unsolicited udp"
    }
}
RULES
}

bench_log "test bed: hp and $MESH_N members, each behind its own NAT"
T_BED=$(now)
nat_up || exit 1
for ((k = 1; k <= MESH_N; k++)); do member_host "$k" || exit 1; done
for ((k = 1; k <= MESH_N; k++)); do
    wait_for "ip netns exec $(topo_ns peer "$k") ping -c1 -W0.3 -q $HP_IP" 10 ||
        { bench_warn "member $k cannot reach hp"; exit 1; }
done
bench_log "test bed up in $(since "$T_BED" "$(now)") s"

tun_start_hpd_relay || { bench_warn "holepuncherd did not start"; exit 1; }
for ((k = 1; k <= MESH_N; k++)); do
    tun_write_peer_config "$k" "$([[ $k == 1 ]] && echo server || echo client)" "$TOPO_DIR/peer$k.json" \
        ", \"name\": \"m$k\"" || exit 1
done
tun_start_peer 1 server || { bench_warn "the server did not start"; exit 1; }
wait_for "tun_status 1 | jq -e '.holepuncher.state == \"registered\"'" 10 ||
    { bench_warn "the server did not register"; exit 1; }
bench_log "starting $((MESH_N - 1)) clients"
T_FIRST=$(now)
for ((k = 2; k <= MESH_N; k++)); do
    topo_spawn "peer$k" "$(topo_ns peer "$k")" "$TOPO_DIR/peer$k.log" "$RUPHIN_BIN/ruphin-tund" \
        -c "$TOPO_DIR/peer$k.json" || exit 1
done
T_LAST=$(now)
bench_log "clients started in $(since "$T_FIRST" "$T_LAST") s"

# A poll: every member's status in $TOPO_DIR/st/K.json (8 at a time).
mkdir -p "$TOPO_DIR/st"
poll() {
    seq 1 "$MESH_N" | xargs -P 8 -I{} sh -c \
        "'$RUPHIN_BIN/ruphinctl' -s '$TOPO_DIR/peer{}.sock' status --json >'$TOPO_DIR/st/{}.tmp' 2>/dev/null; mv '$TOPO_DIR/st/{}.tmp' '$TOPO_DIR/st/{}.json'"
}
# A client's mesh members with a direct path (docs/CONFIG.md "What the status shows").
JQ_DIRECT='[.peers[] | select(.kind == "member" and .path == "direct")] | length'
# counts: "clients-up direct-pairs-seen intros handshakes" over the last poll (direct pairs
# counted at each end, so all direct is (N-1)(N-2)); one jq for all the documents.
counts() {
    local files=() k
    for ((k = 2; k <= MESH_N; k++)); do [[ -s $TOPO_DIR/st/$k.json ]] && files+=("$TOPO_DIR/st/$k.json"); done
    printf '%s %s %s %s\n' \
        "$(jq -s '[.[] | select(any(.peers[]; .kind == "server" and .state == "up"))] | length' "${files[@]}" 2>/dev/null || echo 0)" \
        "$(jq -s "[.[] | $JQ_DIRECT] | add // 0" "${files[@]}" 2>/dev/null || echo 0)" \
        "$(jq '.mesh.introductions_sent // 0' "$TOPO_DIR/st/1.json" 2>/dev/null || echo 0)" \
        "$(jq '.handshakes.done // 0' "$TOPO_DIR/st/1.json" 2>/dev/null || echo 0)"
}

# ping_sample: MESH_PINGS client pairs (and every client's server) answer one ping each.
ping_sample() {
    local i a b pids=() p bad=0
    for ((i = 0; i < MESH_PINGS; i++)); do
        a=$((2 + RANDOM % (MESH_N - 1)))
        b=$((2 + RANDOM % (MESH_N - 1)))
        ((a == b)) && b=$((a == MESH_N ? 2 : a + 1))
        tun_ping "$a" "10.77.0.$b" 1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
    ((bad == 0))
}

WANT_DIRECT=$(((MESH_N - 1) * (MESH_N - 2)))
t_working='' t_direct='' peak_intro=0 peak_hs=0
prev_t=$T_LAST prev_i=0 prev_h=0 last=''
end=$(awk -v a="$T_LAST" -v d="$MESH_DEADLINE" 'BEGIN { printf "%d", a + d }')
while :; do
    poll
    t=$(now)
    read -r up direct intros hs <<<"$(counts)"
    dt=$(since "$prev_t" "$t")
    peak_intro=$(awk -v p="$peak_intro" -v d="$((intros - prev_i))" -v t="$dt" 'BEGIN { r = t > 0 ? d / t : 0; print (r > p ? r : p) }')
    peak_hs=$(awk -v p="$peak_hs" -v d="$((hs - prev_h))" -v t="$dt" 'BEGIN { r = t > 0 ? d / t : 0; print (r > p ? r : p) }')
    prev_t=$t prev_i=$intros prev_h=$hs
    last="$up/$((MESH_N - 1)) clients up, $direct/$WANT_DIRECT direct member paths"
    printf '  %5s s: %s, server: %s introductions, %s handshakes\n' "$(since "$T_LAST" "$t")" "$last" "$intros" "$hs" >&2
    if [[ -z $t_working ]] && ((up == MESH_N - 1)) && ping_sample; then t_working=$(since "$T_LAST" "$t"); fi
    if [[ -z $t_direct ]] && ((direct >= WANT_DIRECT)); then t_direct=$(since "$T_LAST" "$t"); fi
    [[ -n $t_working && -n $t_direct ]] && break
    (($(printf '%.0f' "$t") >= end)) && break
done
T_FORMED=$(now)
mean_intro=$(awk -v d="$prev_i" -v t="$(since "$T_LAST" "$T_FORMED")" 'BEGIN { printf "%.0f", (t > 0 ? d / t : 0) }')
mean_hs=$(awk -v d="$prev_h" -v t="$(since "$T_LAST" "$T_FORMED")" 'BEGIN { printf "%.0f", (t > 0 ? d / t : 0) }')

bench_log "settling for $MESH_SETTLE s, then measuring idle for $MESH_IDLE s"
sleep "$MESH_SETTLE"
declare -A pid_of=() sw0=() tk0=() ns0=()
# Over all the daemon's threads: its context switches, and the exact CPU time the scheduler
# ran it (schedstat's first field, ns): the 100 Hz ticks of /proc/PID/stat are samples, about
# one per idle client in 20 s, so +-1 tick was most of the figure.
ctx_switches() { cat "/proc/$1"/task/*/status 2>/dev/null | awk '/^(non)?voluntary_ctxt_switches/ { s += $2 } END { print s + 0 }'; }
run_ns() { cat "/proc/$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
for ((k = 1; k <= MESH_N; k++)); do
    pid_of[$k]=$(topo_pid "peer$k")
    sw0[$k]=$(ctx_switches "${pid_of[$k]}")
    tk0[$k]=$(proc_ticks "${pid_of[$k]}")
    ns0[$k]=$(run_ns "${pid_of[$k]}")
done
sleep "$MESH_IDLE"
: >"$TOPO_DIR/idle"
for ((k = 1; k <= MESH_N; k++)); do
    p=${pid_of[$k]}
    printf '%s %s %s %s %s\n' "$k" "$(($(ctx_switches "$p") - sw0[$k]))" "$(($(proc_ticks "$p") - tk0[$k]))" \
        "$(proc_status_kb "$p" VmRSS)" "$((($(run_ns "$p") - ns0[$k]) / 1000))" >>"$TOPO_DIR/idle"
done
# Idle member pairs rest (docs/PROTOCOL.md "Idle members"): how many member paths rest now,
# counted at each end like the direct ones; then sampled pairs answer their first ping (through
# the server, which wakes them) and the mesh is direct again.
poll
files=()
for ((k = 2; k <= MESH_N; k++)); do files+=("$TOPO_DIR/st/$k.json"); done
resting=$(jq -s '[.[] | .mesh.idle_members // 0] | add // 0' "${files[@]}" 2>/dev/null || echo 0)
T_WAKE=$(now)
if ping_sample; then woke="all $MESH_PINGS answered"; else woke="some unanswered"; fi
bench_log "after the idle window: $resting member paths resting; sampled pairs pinged: $woke ($(since "$T_WAKE" "$(now)") s)"
# The CPU share from the exact run time (us); the server's wake-ups apart from the clients'.
read -r wk_mean wk_max wk_srv cpu_total cpu_srv rss_mean rss_max rss_srv < <(awk -v s="$MESH_IDLE" '
    { w = $2 / s; if ($1 == 1) { ws = w; us = $5 } else { sw += w; if (w > wm) wm = w; nc++ }
      u += $5; r += $4; if ($4 > rm) rm = $4; if ($1 == 1) rs = $4; n++ }
    END { printf "%.2f %.2f %.2f %.2f %.2f %.0f %.0f %.0f\n", sw / nc, wm, ws, 100 * u / 1e6 / s,
          100 * us / 1e6 / s, r / n, rm, rs }' "$TOPO_DIR/idle")

# ---- the table
DATE=$(date -u +%Y%m%d-%H%M%S)
COMMIT=$(git -C "$BENCH_REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { if (v == "") print "missed"; else print (v + 0 <= t ? "met" : "missed") }'; }
TABLE=$(
    printf '| mesh of %d members (1 server, %d clients), each behind its own NAT | measured | target |\n' "$MESH_N" "$((MESH_N - 1))"
    printf '|---|---|---|\n'
    printf '| all %d pairs working, s after the last start | %s | 10 s (%s) |\n' "$((MESH_N * (MESH_N - 1) / 2))" \
        "${t_working:-not within ${MESH_DEADLINE} s}" "$(verdict "$t_working" 10)"
    printf '| every direct path up (%d client pairs), s after the last start | %s | |\n' "$(((MESH_N - 1) * (MESH_N - 2) / 2))" \
        "${t_direct:-not within ${MESH_DEADLINE} s ($last)}"
    printf '| server: introductions / s, peak (mean) | %.0f (%s) | |\n' "$peak_intro" "$mean_intro"
    printf '| server: handshakes / s, peak (mean) | %.0f (%s) | |\n' "$peak_hs" "$mean_hs"
    printf '| idle CPU of the whole mesh, %% of one core (server alone) | %s (%s) | under 2 %% (%s) |\n' "$cpu_total" \
        "$cpu_srv" "$(verdict "$cpu_total" 2)"
    printf '| idle wake-ups / s: clients mean, max (server) | %s, %s (%s) | |\n' "$wk_mean" "$wk_max" "$wk_srv"
    printf '| member paths resting after the idle window (of %d) | %s | |\n' "$WANT_DIRECT" "$resting"
    printf '| then %d sampled client pairs, one ping each (through the server, waking the pair) | %s | |\n' "$MESH_PINGS" "$woke"
    printf '| RSS per daemon, MB: mean, max (server) | %s, %s (%s) | under 8 MB (%s) |\n' \
        "$(awk -v k="$rss_mean" 'BEGIN { printf "%.1f", k / 1024 }')" "$(awk -v k="$rss_max" 'BEGIN { printf "%.1f", k / 1024 }')" \
        "$(awk -v k="$rss_srv" 'BEGIN { printf "%.1f", k / 1024 }')" "$(verdict "$(awk -v k="$rss_max" 'BEGIN { print k / 1024 }')" 8)"
)
printf '\n%s\n\n%s, commit %s, %s; idle measured over %s s after %s s settling\n' "$TABLE" \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$COMMIT" "$BENCH_CMD" "$MESH_IDLE" "$MESH_SETTLE"
mkdir -p "$BENCH_RESULTS"
{
    printf '%s\n\n%s, commit %s, %s (%s CPUs); idle measured over %s s after %s s settling\n' "$TABLE" \
        "$(date -u '+%Y-%m-%d %H:%M UTC')" "$COMMIT" "$BENCH_CMD" "$(nproc)" "$MESH_IDLE" "$MESH_SETTLE"
    printf '\nper member: K context-switches CPU-ticks RSS-kB run-us (schedstat) over the idle window\n'
    cat "$TOPO_DIR/idle"
} >"$BENCH_RESULTS/mesh-$MESH_N-$DATE.txt"
bench_log "wrote $BENCH_RESULTS/mesh-$MESH_N-$DATE.txt"
