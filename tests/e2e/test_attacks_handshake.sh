#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Attacks on the sealed Noise handshake, against the real daemons, while a sha256-checked transfer
# runs from the client to the server and the client rekeys every 3 s (RUPHIN_TEST_REKEY_MS).
#
# The attacker (tests/tools/rph_attack hs) is on the public bridge, as in test_attacks.sh: it
# reads frames on the bridge ports and injects frames out of p1 toward NAT 1 (the server).
#
#   1 one captured HandshakeInit replayed at 1 000/s for 10 s from another source than the
#     client's (the holepuncher's endpoint: the attacker's own address cannot pass NAT 1)
#                                          -> no loss, rekeys go on, the replays counted
#   2 the same, spoofed from the client's own endpoint          -> the same
#   3 a member (the session key, a node key of its own) runs a whole handshake from the client's
#     endpoint, reading the server's answers on the path        -> it gets a remote of its own
#     (counted node_conflict); the client's remote, keys and traffic are untouched
#   4 a second client (peer 3) joins while the transfer runs; the attacker answers its Join at
#     once with a PeerInfo forged from the holepuncher's address naming the attacker's own
#     endpoint, records the HandshakeInits the client sends there, and replays them at the
#     server at 5 000/s from the holepuncher's endpoint -> the transfer intact, the client
#     still connects, no remote of the attacker's at the server, the replays counted
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin holepuncherd ruphin-tund ruphinctl rph_attack
e2e_require_cmd jq socat ping
topo_trap
topo_up 3 || e2e_die "test bed"

ATK=$RUPHIN_BIN/rph_attack
export RUPHIN_TEST_REKEY_MS=3000

st() { tun_status "$1" 2>/dev/null | jq -r "$2"; }
drop() { st 1 ".drops.$1"; }
kv() { grep -o "\b$1=[0-9.]*" <<<"$2" | head -1 | cut -d= -f2; }
cap_start() {
    local name=$1
    shift
    topo_spawn "cap_$name" "$NS_PUB" "$TOPO_DIR/cap_$name.log" \
        "$ATK" capture -o "$TOPO_DIR/$name.bin" "$@" || return 1
    wait_for "grep -q ready '$TOPO_DIR/cap_$name.log'" 5
}
cap_done() { topo_wait "cap_$1" "${2:-10}"; }
hs() { topo_run "$NS_PUB" "$ATK" hs "$@"; }

# xfer_start FROM TO MB / xfer_check: sha256-checked transfers back to back in the background.
xfer_start() {
    rm -f "$TOPO_DIR"/xfer.*
    touch "$TOPO_DIR/xfer.go"
    XFER_DESC="$3 MB client $1 -> peer $2"
    (
        end=$((SECONDS + 60))
        while [[ -e $TOPO_DIR/xfer.go ]] && ((SECONDS < end)); do
            if r=$(tun_transfer "$@" 2>&1); then
                echo "$r" >>"$TOPO_DIR/xfer.ok"
            else
                echo "$r" >"$TOPO_DIR/xfer.err"
                break
            fi
        done
    ) &
    XFER_PID=$!
}
xfer_check() {
    rm -f "$TOPO_DIR/xfer.go"
    wait "$XFER_PID" 2>/dev/null
    local n
    n=$(wc -l <"$TOPO_DIR/xfer.ok" 2>/dev/null) || n=0
    if [[ ! -e $TOPO_DIR/xfer.err ]] && ((n > 0)); then
        e2e_pass "$1: $n transfers of $XFER_DESC, each sha256 ok" \
            "(s each: $(awk '{ printf "%s ", $2 }' "$TOPO_DIR/xfer.ok"))"
    else
        e2e_fail "$1: transfers of $XFER_DESC:" "$(tail -2 "$TOPO_DIR/xfer.err" 2>/dev/null)"
    fi
}
ping_start() {
    topo_spawn "$1" "$(topo_ns peer "$2")" "$TOPO_DIR/$1.log" ping -c "$4" -i 0.1 -W 2 "$3"
}
ping_clean() {
    topo_wait "$1" 30 >/dev/null
    grep -q ' 0% packet loss' "$(topo_log "$1")"
}
loss() { grep -o '[0-9.]*% packet loss' "$(topo_log "$1")"; }

tun_start_hpd || e2e_die "holepuncherd did not start"
# The observer sees the RegisterAck (holepuncher -> server: a source NAT 1 lets in) and the
# client's first HandshakeInit.
cap_start ack -i p1 -s "$HP_IP" -d "$NAT1_IP" -t 6 -n 1 -w 15 || e2e_die "capture"
cap_start init -i p2 -s "$NAT2_IP" -d "$NAT1_IP" -t 16 -n 1 -w 15 || e2e_die "capture"
tun_start_peer 1 server || e2e_die "server peer did not start"
tun_start_peer 2 client || e2e_die "client did not start"
if ! tun_wait_up 1 1 10 || ! tun_wait_up 2 1 10; then e2e_die "client and server never came up"; fi
cap_done ack 10 || e2e_die "the observer saw no RegisterAck"
cap_done init 10 || e2e_die "the observer saw no HandshakeInit"
e2e_check "the client warns that it rekeys every 3 s (test setting)" \
    grep -q "RUPHIN_TEST_REKEY_MS: rekeying every 3000 ms" "$TOPO_DIR/peer2.log"
wait_for "[ \"\$(st 1 '[.peers[].overlay] | map(select(. != null)) | length')\" -ge 1 ]" 5 ||
    e2e_fail "the client never announced its address"
c_endpoint=$(st 1 '.peers[] | select(.overlay == "10.77.0.2") | .endpoint')

# replay_through_rekeys N TEMPLATE WHAT: attack N, the captured init inside TEMPLATE's headers.
replay_through_rekeys() {
    local n=$1 tpl=$2 what=$3 r0 r1 out sent
    r0=$(drop replayed)
    xfer_start 2 1 10
    ping_start "ping$n" 2 10.77.0.1 100
    # The genuine inits of the client's rekeys in the meantime: at least three must pass.
    cap_start "rekeys$n" -i p2 -s "$NAT2_IP" -d "$NAT1_IP" -t 16 -n 3 -w 12 || e2e_die "capture"
    out=$(hs replay -i p1 -f "$TOPO_DIR/init.bin" -F "$tpl" -n 10000 -r 1000 -T 10.5)
    sent=$(kv sent "$out")
    if cap_done "rekeys$n" 5; then
        e2e_pass "$n: the client rekeyed 3 times during the replay"
    else
        e2e_fail "$n: fewer than 3 rekeys during the replay: $(tail -1 "$TOPO_DIR/cap_rekeys$n.log")"
    fi
    wait_for "[ \$(drop replayed) -ge $((r0 + sent * 9 / 10)) ]" 5
    r1=$(drop replayed)
    e2e_check "$n: $sent copies of one captured init $what -> counted replayed ($r0 -> $r1)" \
        test "$sent" -ge 9000 -a "$r1" -ge $((r0 + sent * 9 / 10))
    if ping_clean "ping$n"; then
        e2e_pass "$n: 100 pings client -> server during the replay: none lost"
    else
        e2e_fail "$n: pings client -> server during the replay: $(loss "ping$n")"
    fi
    xfer_check "$n"
    e2e_check "$n: the client's remote kept its endpoint" \
        test "$(st 1 '.peers[] | select(.overlay == "10.77.0.2") | .endpoint')" = "$c_endpoint"
}

replay_through_rekeys 1 "$TOPO_DIR/ack.bin" "from the holepuncher's endpoint, 1000/s"
replay_through_rekeys 2 "$TOPO_DIR/init.bin" "spoofed from the client's endpoint, 1000/s"

# ---------------------------------------------------------------- 3: another member's node key

k0=$(drop node_conflict)
xfer_start 2 1 10
ping_start ping3 2 10.77.0.1 60
out=$(hs member -i p1 -F "$TOPO_DIR/init.bin" -k "$(tun_key)" -T 5)
e2e_check "3: a member's handshake from the client's endpoint completes (it is a member): $out" \
    test "$(kv finished "$out")" = 1
wait_for "[ \$(drop node_conflict) -ge $((k0 + 1)) ]" 5
k1=$(drop node_conflict)
e2e_check "3: it got a remote of its own, counted node_conflict ($k0 -> $k1)" test "$k1" -ge $((k0 + 1))
e2e_check "3: exactly one remote holds 10.77.0.2, at the client's endpoint" \
    test "$(st 1 "[.peers[] | select(.overlay == \"10.77.0.2\")] | length")" = 1 -a \
    "$(st 1 '.peers[] | select(.overlay == "10.77.0.2") | .endpoint')" = "$c_endpoint"
if ping_clean ping3; then
    e2e_pass "3: 60 pings client -> server meanwhile: none lost"
else
    e2e_fail "3: pings client -> server meanwhile: $(loss ping3)"
fi
xfer_check 3
# ---------------------------------------------------------------- 4: a forged PeerInfo during a join

# The attacker's own host on the public segment (it answers ARP, so NAT 3 sends it datagrams).
ATK_IP=203.0.113.66
ATK_EP=$ATK_IP:4444
ip -n "$NS_PUB" addr add "$ATK_IP/24" dev br0 || e2e_die "attacker address"
handled() { st 1 '.drops | .replayed + .auth_failed + .cookies_sent + .handshake_limited'; }
h0=$(handled)
xfer_start 2 1 10
# The forged PeerInfo must reach client 2 before the holepuncher's real one: that is the
# attack's setup, a race the attacker (on the holepuncher's segment) usually wins but can lose on
# a loaded machine. A lost race is set up again (client 2 restarted), at most 3 times.
for attempt in 1 2 3; do
    topo_spawn pi "$NS_PUB" "$TOPO_DIR/pi.log" "$ATK" hs peerinfo -i p3 -a "$ATK_EP" \
        -o "$TOPO_DIR/leak.bin" -n 2 -T 15 || e2e_die "rph_attack hs peerinfo"
    wait_for "grep -q ready '$TOPO_DIR/pi.log'" 5 || e2e_die "rph_attack hs peerinfo is not ready"
    tun_start_peer 3 client || e2e_die "client 2 did not start"
    topo_wait pi 20 >/dev/null
    grep -q 'peerinfo=1 captured=2' "$TOPO_DIR/pi.log" && break
    e2e_info "4: attempt $attempt: the real PeerInfo came first ($(tail -1 "$TOPO_DIR/pi.log")); again"
    topo_kill pi
    [[ $attempt == 3 ]] || topo_kill peer3
done
e2e_check "4: the forged PeerInfo won the race and client 2 sent its inits to $ATK_EP: $(tail -1 "$TOPO_DIR/pi.log")" \
    grep -q 'peerinfo=1 captured=2' "$TOPO_DIR/pi.log"
out=$(hs replay -i p1 -f "$TOPO_DIR/leak.bin" -F "$TOPO_DIR/ack.bin" -n 25000 -r 5000 -T 6)
sent=$(kv sent "$out")
wait_for "[ \$(handled) -ge $((h0 + sent * 9 / 10)) ]" 5
h1=$(handled)
e2e_check "4: $sent replays of the leaked inits from the holepuncher's endpoint, counted (replayed+auth_failed+cookies_sent+handshake_limited $h0 -> $h1)" \
    test "${sent:-0}" -ge 20000 -a "$h1" -ge $((h0 + ${sent:-0} * 9 / 10))
if tun_wait_up 3 1 30; then
    e2e_pass "4: client 2 still connects to the server"
else
    e2e_fail "4: client 2 never connected: $(tun_status 3 2>/dev/null | jq -c '[.peers[] | {endpoint, state}]')"
fi
e2e_check "4: client 2 -> server across the tunnel" tun_ping 3 10.77.0.1
xfer_check 4
e2e_check "4: the server has two remotes up, client 1 and client 2, and none at $HP_IP or $ATK_IP" \
    test "$(st 1 '[.peers[] | select(.state == "up")] | length')" = 2 -a \
    "$(st 1 "[.peers[] | select(.endpoint | tostring | test(\"^($HP_IP|$ATK_IP):\"))] | length")" = 0
e2e_check "4: client 1's remote kept its endpoint" \
    test "$(st 1 '.peers[] | select(.overlay == "10.77.0.2") | .endpoint')" = "$c_endpoint"

e2e_check "the client still reaches the server afterwards" tun_ping 2 10.77.0.1
e2e_check "the server saw no plaintext or malformed datagrams from the attacks" \
    test "$(drop malformed)" = 0

e2e_finish
