#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Either side of a sealed tunnel restarted (SIGTERM, kill -9, the server also down for 15 s
# and with a fixed "port"), on the README's two port-restricted NATs: pings flow again within
# 2 s of the restarted daemon being up (its control socket answering); each outage is measured
# and printed. A client's clean stop frees its slot and address on the server at once
# (goodbye). TUN_SEAL=0 runs it in plaintext (by hand; a killed client is then bounded by the
# old endpoint's two silent keepalives instead).
set -u
# Namespaces of this test only (other tests run at the same time on the machine).
TOPO_PREFIX=${TOPO_PREFIX:-rrst$$}
# log_level debug: the daemons trace the protocol (probes, moves, rekeys), asserted below.
TUN_LOG_LEVEL=${TUN_LOG_LEVEL:-debug}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin holepuncherd ruphin-tund ruphinctl
e2e_require_cmd ping awk
topo_trap

BOUND_S=2         # the promise: traffic again within 2 s of the restarted daemon being up
FIXED_PORT=51820  # the server's "port" in the fixed-port case

now_s() { date +%s.%N; }

# ping_start NAME FROM_K TARGET: a background ping, each reply line stamped with its wall time
# (-D), 0.1 s apart, bounded (90 s), into $TOPO_DIR/NAME.log.
ping_start() {
    local line=()
    command -v stdbuf >/dev/null 2>&1 && line=(stdbuf -oL)
    topo_spawn "$1" "$(topo_ns peer "$2")" "$TOPO_DIR/$1.log" "${line[@]}" ping -n -D -i 0.1 -c 900 -W 1 "$3"
}

# first_reply_after LOG T: the time stamp of the first echo reply later than T (empty: none).
first_reply_after() {
    awk -v t="$2" '/bytes from/ { ts = substr($1, 2, length($1) - 2); if (ts + 0 > t + 0) { print ts; exit } }' "$1"
}

# stop_peer K HOW: term (SIGTERM, the daemon says goodbye) or kill (SIGKILL, it says nothing).
stop_peer() {
    local pid
    if [[ $2 == term ]]; then
        topo_kill "peer$1"
        return
    fi
    pid=$(topo_pid "peer$1") || return 1
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -f "$TOPO_DIR/procs/peer$1"
}

# start_peer_timed K: spawns peer K's daemon again and prints when it was started and when
# its control socket first answered (taken before the call that succeeded: never later than
# the real moment).
start_peer_timed() {
    local k=$1 t i t0
    t0=$(now_s)
    topo_spawn "peer$k" "$(topo_ns peer "$k")" "$TOPO_DIR/peer$k.log" \
        "$RUPHIN_BIN/ruphin-tund" -c "$TOPO_DIR/peer$k.json" || return 1
    for ((i = 0; i < 500; i++)); do
        t=$(now_s)
        if "$RUPHIN_BIN/ruphinctl" -s "$TOPO_DIR/peer$k.sock" status >/dev/null 2>&1; then
            printf '%s %s\n' "$t0" "$t"
            return 0
        fi
        sleep 0.02
    done
    return 1
}

# restart_case LABEL K HOW PINGER TARGET: ping TARGET from peer PINGER, stop peer K (HOW),
# start it again DOWN_S (default 1) seconds later, and measure from its control socket
# answering to the first reply.
restart_case() {
    local label=$1 k=$2 how=$3 from=$4 target=$5 t_spawn t_up t_reply out times
    local plog=$TOPO_DIR/ping-$k-$how.log
    ping_start "ping-$k-$how" "$from" "$target" || e2e_die "ping did not start"
    wait_for "grep -q 'bytes from' '$plog'" 10 || {
        e2e_fail "$label: no replies before the restart"
        topo_kill "ping-$k-$how"
        return
    }
    stop_peer "$k" "$how"
    # The stopped run's log is kept in peerK.all.log (the new run's starts empty).
    cat "$TOPO_DIR/peer$k.log" >>"$TOPO_DIR/peer$k.all.log" 2>/dev/null
    sleep "${DOWN_S:-1}" # the daemon stays down a while (pings are lost meanwhile); not a check
    if ! times=$(start_peer_timed "$k"); then
        e2e_fail "$label: the restarted daemon's control socket never answered"
        topo_kill "ping-$k-$how"
        return
    fi
    read -r t_spawn t_up <<<"$times"
    if wait_for "[ -n \"\$(first_reply_after '$plog' $t_up)\" ]" 20; then
        t_reply=$(first_reply_after "$plog" "$t_up")
        out=$(awk -v a="$t_up" -v b="$t_reply" 'BEGIN { printf "%.2f", b - a }')
        e2e_check "$label: traffic again $out s after the daemon was up (bound $BOUND_S s)" \
            awk -v o="$out" -v b="$BOUND_S" 'BEGIN { exit !(o <= b) }'
        e2e_info "outage: $label: $out s from the daemon being up, $(awk -v a="$t_spawn" -v b="$t_reply" 'BEGIN { printf "%.2f", b - a }') s from its start"
    else
        e2e_fail "$label: no reply within 20 s of the daemon being up"
    fi
    topo_kill "ping-$k-$how"
    # The tunnel is whole again both ways before the next case.
    wait_for "tun_ping 1 10.77.0.2 1 && tun_ping 2 10.77.0.1 1" 10 || e2e_fail "$label: tunnel not whole afterwards"
}

topo_up 2 || e2e_die "test bed"
tun_start_hpd || e2e_die "holepuncherd did not start"
tun_start_peer 1 server || e2e_die "server did not start"
tun_start_peer 2 client || e2e_die "client did not start"
tun_wait_up 2 1 10 || e2e_die "no handshake"
wait_for "tun_ping 2 10.77.0.1 1" 10 || e2e_die "no ping through the new tunnel"

# The server restarted: a new UDP port each time (no "port" in its config).
restart_case "server SIGTERM + restart" 1 term 2 10.77.0.1
e2e_check "the client logged the server's goodbye" grep -q "stopped (goodbye)" "$TOPO_DIR/peer2.log"
restart_case "server kill -9 + restart" 1 kill 2 10.77.0.1
# A reboot: down past the client's probe window (10 s) and its peer_timeout (6 s here).
DOWN_S=15 restart_case "server kill -9, down 15 s, restart" 1 kill 2 10.77.0.1

status_has() { tun_status "$1" | grep -q "$2"; }
e2e_check "the client's status counts its probes and its move (recovery)" \
    status_has 2 '"recovery":{"probes":[1-9][0-9]*,"moved":[1-9]'

# The server with a fixed port: the restarted one has no keys for the client's old session.
topo_kill peer1
tun_write_peer_config 1 server "$TOPO_DIR/peer1.json" ", \"port\": $FIXED_PORT"
tun_start_peer 1 server || e2e_die "server with a fixed port did not start"
tun_wait_up 2 1 15 || e2e_die "no handshake with the fixed-port server"
wait_for "tun_ping 2 10.77.0.1 1" 10 || e2e_die "no ping through the fixed-port server"
restart_case "server (fixed port) kill -9 + restart" 1 kill 2 10.77.0.1
restart_case "server (fixed port) SIGTERM + restart" 1 term 2 10.77.0.1
if [[ $TUN_LOG_LEVEL == debug ]]; then
    e2e_check "client traced its probe of the silent server" grep -q "trace: probe: server" "$TOPO_DIR/peer2.log"
    e2e_check "client traced its move to the restarted server's new endpoint" \
        grep -q "trace: moved: .*(the holepuncher named it)" "$TOPO_DIR/peer2.log"
    if [[ $TUN_SEAL == 1 ]]; then
        e2e_check "client traced the rekey with the fixed-port server" grep -q "trace: keys: rekeyed" "$TOPO_DIR/peer2.log"
        e2e_check "server traced the handshake it took" grep -q "trace: handshake-taken: HandshakeInit" "$TOPO_DIR/peer1.log"
    fi
fi

# The client restarted: pinged from the server, so the server must route to the new instance.
# A clean stop frees the client's slot and address on the server at once.
ping_start "ping-free" 1 10.77.0.2 || e2e_die "ping did not start"
wait_for "grep -q 'bytes from' '$TOPO_DIR/ping-free.log'" 10 || e2e_fail "no replies before the clean stop"
topo_kill ping-free
t0=$(now_s)
topo_kill peer2
if wait_for "[ \$(tun_peers_up 1) -eq 0 ]" 5; then
    t1=$(now_s)
    e2e_check "server freed the client's slot $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s after SIGTERM (bound 1 s)" \
        awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a <= 1) }'
else
    e2e_fail "server still lists the client up 5 s after its clean stop"
fi
e2e_check "server logged the client's goodbye and freed its address" \
    grep -q "stopped (goodbye); its address is free" "$TOPO_DIR/peer1.log"
tun_start_peer 2 client || e2e_die "client did not restart"
tun_wait_up 2 1 10 || e2e_die "no handshake after the client's restart"
wait_for "tun_ping 1 10.77.0.2 1" 10 || e2e_fail "restarted client not reachable"

restart_case "client SIGTERM + restart" 2 term 1 10.77.0.2
if [[ $TUN_SEAL == 1 ]]; then
    # Its node key says it is the same node: its new handshake takes over its old session.
    restart_case "client kill -9 + restart" 2 kill 1 10.77.0.2
    e2e_check "no address conflict on the server after the client's restarts" \
        bash -c "! grep -q 'held by another peer' '$TOPO_DIR/peer1.log' '$TOPO_DIR/peer1.all.log' 2>/dev/null"
else
    # Plaintext (TUN_SEAL=0, by hand): nothing proves a killed client's new instance is the
    # same node, so its address stays with the old endpoint until that has been silent for two
    # keepalives (docs/PROTOCOL.md); that bound is what is checked here.
    BOUND_S=$((2 * TUN_KEEPALIVE + 2)) restart_case "plaintext client kill -9 + restart" 2 kill 1 10.77.0.2
fi
e2e_finish
