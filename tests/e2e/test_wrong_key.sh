#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Wrong keys named, one fingerprint everywhere, one live server per sealed session (issue #12):
# a client with another key says "does the key differ?" with its fingerprint, which differs
# from the one the server logs and holepuncherd names; a second server of the session is
# refused and says so while the first keeps working; a restarted first server (same node key,
# new port) takes its session over at once; holepuncherd's stop line counts sealed registers.
set -u
TOPO_PREFIX=${TOPO_PREFIX:-rphwk$$}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin ruphin-tund holepuncherd ruphinctl
topo_trap
topo_up 3 || e2e_die "test bed"
D=$TOPO_DIR
ms() { echo $(($(date +%s%N) / 1000000)); }
# fp LOG: the key fingerprint a daemon logged at start ("(sealed, key 4d8b12ef)").
fp() { grep -o 'sealed, key [0-9a-f]\{8\}' "$1" | head -1 | awk '{print $3}'; }

tun_start_hpd || e2e_die "holepuncherd did not start"
tun_start_peer 1 server || e2e_die "server did not start"
FP1=$(fp "$D/peer1.log")
e2e_check "the server logs its key fingerprint at start (8 hex digits: '$FP1')" \
    test "${#FP1}" -eq 8
e2e_check "holepuncherd names the session by the same fingerprint (sealed:$FP1)" \
    wait_for "grep -q 'session sealed:$FP1 registered by $NAT1_IP:' '$D/hpd.log'" 10
e2e_check "ruphinctl status shows the same fingerprint" \
    bash -c "'$RUPHIN_BIN/ruphinctl' -s '$D/peer1.sock' status | grep -q 'key fingerprint: $FP1'"

# ---- a client with another key
"$RUPHIN_BIN/ruphinctl" genkey "$D/wrong.key" 2>/dev/null || e2e_die "genkey"
tun_write_peer_config 2 client "$D/peer2.json"
sed -i "s|$D/session.key|$D/wrong.key|" "$D/peer2.json"
tun_start_peer 2 client || e2e_die "client with the wrong key did not start"
FP2=$(fp "$D/peer2.log")
e2e_check "the wrong-key client logs another fingerprint ('$FP2' vs the server's '$FP1')" \
    bash -c "[ ${#FP2} -eq 8 ] && [ '$FP2' != '$FP1' ]"
t0=$(ms)
e2e_check "the client says the key may differ, naming its fingerprint" \
    wait_for "grep -q 'session \"office\" not found: is the server up, or does the key differ? (this key.s fingerprint $FP2; the server logs its own at start)' '$D/peer2.log'" 20
e2e_info "$(($(ms) - t0)) ms after start: $(grep -m1 'key differ' "$D/peer2.log" | cut -c1-160)..."
e2e_check "holepuncherd names the client's session by the client's fingerprint (sealed:$FP2 not found)" \
    grep -q "session sealed:$FP2 not found, join from $NAT2_IP:" "$D/hpd.log"
sleep 3 # more Joins answered: the warning must not repeat with each of them
e2e_check "the warning is rate-limited: one 'key differ' line, not one per retry" \
    test "$(grep -c 'key differ' "$D/peer2.log")" -eq 1
topo_kill peer2

# ---- the right key: the tunnel works
rm -f "$D/peer2.json"
tun_start_peer 2 client || e2e_die "client did not start"
tun_wait_up 2 1 20 || e2e_die "the tunnel did not come up"
e2e_check "with the right key the tunnel carries traffic" tun_ping 2 10.77.0.1

# ---- a second server of the same session (its own node key, another host)
tun_start_peer 3 server || e2e_die "second server did not start"
t0=$(ms)
e2e_check "holepuncherd refuses the second server's Register, naming the live one" \
    wait_for "grep -q 'refused a Register from $NAT3_IP:[0-9]* for session sealed:$FP1: another server ($NAT1_IP:[0-9]*, another node) holds it' '$D/hpd.log'" 15
e2e_check "the second server logs the refusal as an error, with the holder and the fingerprint" \
    wait_for "grep -q 'error .*another server (from $NAT1_IP:[0-9]*) holds session \"office\" (key $FP1); retrying; is a second server configured?' '$D/peer3.log'" 15
e2e_info "refusal logged $(($(ms) - t0)) ms after the second server started"
e2e_check "its status shows the holepuncher state 'refused'" \
    bash -c "'$RUPHIN_BIN/ruphinctl' -s '$D/peer3.sock' status --json | grep -q '\"state\":\"refused\"'"
sleep 7 # the second server asks again every keepalive (2 s): several refusals
e2e_check "the second server logs the refusal once, not once per Register" \
    test "$(grep -c 'another server (from' "$D/peer3.log")" -eq 1
e2e_check "the session never moved to the second server" \
    bash -c "! grep -q 'session sealed:$FP1 moved' '$D/hpd.log'"
e2e_check "the first server keeps working: ping through the tunnel" tun_ping 2 10.77.0.1
e2e_check "the first server saw no refusal" bash -c "! grep -q 'another server' '$D/peer1.log'"

# ---- the first server restarts (same node key, a new socket): it takes over at once
topo_kill peer1
t0=$(ms)
tun_start_peer 1 server || e2e_die "server did not restart"
# (the restarted daemon's log starts afresh)
e2e_check "the restarted server registers at once (not refused)" \
    wait_for "grep -q 'session \"office\" registered with holepuncher' '$D/peer1.log'" 10
took=$(($(ms) - t0))
e2e_info "registered $took ms after the restart (session_ttl 60 s: a refusal would last that long)"
e2e_check "... well before the old registration would expire" test "$took" -lt 10000
e2e_check "holepuncherd moved the session to the restarted server's new port" \
    grep -q "session sealed:$FP1 moved from $NAT1_IP:[0-9]* to $NAT1_IP:[0-9]*" "$D/hpd.log"
e2e_info "holepuncherd: $(grep "sealed:$FP1 moved" "$D/hpd.log" | tail -1 | cut -c1-160)"
NEWPORT=$(grep "sealed:$FP1 moved" "$D/hpd.log" | tail -1 | sed 's/.*:\([0-9]*\)$/\1/')
e2e_check "the restarted server saw no refusal" bash -c "! grep -q 'another server' '$D/peer1.log'"
# The client notices the old server's silence (peer_timeout 6 s) and joins again.
t0=$(ms)
e2e_check "the client reaches the restarted server (through the holepuncher again)" \
    wait_for "grep -q 'peer $NAT1_IP:${NEWPORT:-[0-9]*} (node [^)]*) up' '$D/peer2.log' && tun_ping 2 10.77.0.1" 40
e2e_info "client through $(($(ms) - t0)) ms after the restart was registered"
e2e_check "the second server is still refused" \
    bash -c "'$RUPHIN_BIN/ruphinctl' -s '$D/peer3.sock' status --json | grep -q '\"state\":\"refused\"'"

# ---- a plaintext/sealed mismatch is named where it shows: datagrams of the other mode
# listen_port K: the UDP port peer K's daemon listens on (from its status).
listen_port() { tun_status "$1" | grep -o '"listen":"[^"]*"' | sed 's/.*:\([0-9]*\)"$/\1/'; }
# send_raw K HEX_HEADER BODY_LEN: one datagram to peer K's port from its own namespace.
send_raw() {
    local port ns
    port=$(listen_port "$1")
    ns=$(topo_ns peer "$1")
    ip netns exec "$ns" bash -c "printf '$2%s' \"\$(head -c $3 /dev/zero | tr '\\0' a)\" >/dev/udp/192.168.10$1.2/$port"
}
topo_kill peer3
rm -f "$D/peer3.json"
TUN_SEAL=0 TUN_SESSION=plain tun_write_peer_config 3 server "$D/peer3.json"
tun_start_peer 3 server || e2e_die "plaintext server did not start"
# A HandshakeInit (type 16, 72 bytes) at the plaintext daemon...
send_raw 3 '\x00\x48\x00\x10' 68
e2e_check "a plaintext tunnel names a peer speaking sealed ruphin" \
    wait_for "grep -q 'warn .*peer 192.168.103.2:[0-9]* speaks sealed ruphin but this tunnel is plaintext' '$D/peer3.log'" 10
# ...and plain Data (type 5) at the sealed one.
send_raw 1 '\x00\x08\x00\x05' 4
e2e_check "a sealed tunnel names a peer speaking plaintext ruphin" \
    wait_for "grep -q 'warn .*peer 192.168.101.2:[0-9]* speaks plaintext ruphin but this tunnel is sealed' '$D/peer1.log'" 10
for _ in 1 2 3; do send_raw 1 '\x00\x08\x00\x05' 4; done
sleep 2
e2e_check "... once, not once per datagram" test "$(grep -c 'speaks plaintext ruphin' "$D/peer1.log")" -eq 1
e2e_check "the sealed tunnel still works" tun_ping 2 10.77.0.1

# ---- holepuncherd's stop line counts sealed registers
topo_kill hpd
e2e_check "holepuncherd's stop line counts the sealed registers and the refusals" \
    grep -Eq 'stopped on SIGTERM: .*registers [1-9][0-9]* \(sealed [1-9][0-9]*\).*refused_held [1-9]' "$D/hpd.log"
e2e_info "$(grep -o 'registers [0-9]* (sealed [0-9]*)' "$D/hpd.log" | tail -1), $(grep -o 'refused_held [0-9]*' "$D/hpd.log" | tail -1)"

topo_down
e2e_finish
