#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The truth on both sides: a client whose overlay address the server refuses (held by another
# live member, outside the server's subnet) is told so, logs it once and shows "refused" in
# its status instead of "up"; once it has a free address (the holder left, or a restart with
# another one) it is accepted and up. Also the status fields wg show has: allowed addresses
# and the keepalive.
set -u
TOPO_PREFIX=${TOPO_PREFIX:-refused$$}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin holepuncherd ruphin-tund ruphinctl
topo_trap
topo_up 3 || e2e_die "test bed"

ctl() { "$RUPHIN_BIN/ruphinctl" -s "$TOPO_DIR/peer$1.sock" status; }
# peer_field K FIELD: FIELD of peer K's (first) peer in its status document.
peer_field() { tun_status "$1" | jq -c ".peers[0].$2"; }
# restart_as K ADDR: restart client K with overlay address ADDR/24.
restart_as() {
    topo_kill "peer$1"
    tun_write_peer_config "$1" client "$TOPO_DIR/peer$1.json"
    sed -i "s|10.77.0.$1/24|$2/24|" "$TOPO_DIR/peer$1.json"
    tun_start_peer "$1" client
}
e2e_require_cmd jq

tun_start_hpd || e2e_die "holepuncherd did not start"
tun_start_peer 1 server || e2e_die "server did not start"
tun_start_peer 2 client || e2e_die "client 2 did not start"
tun_wait_up 2 1 10 || e2e_die "client 2 not up"

# Client 3 claims client 2's address 10.77.0.2 (its IPv6 address fd77::3 is free: the
# announcement is refused whole).
tun_write_peer_config 3 client "$TOPO_DIR/peer3.json"
sed -i 's|10.77.0.3/24|10.77.0.2/24|' "$TOPO_DIR/peer3.json"
tun_start_peer 3 client || e2e_die "client 3 did not start"
refused_line="server refused overlay address 10.77.0.2/24: held by another member"
if wait_for "grep -q '$refused_line' '$TOPO_DIR/peer3.log'" 15; then
    e2e_pass "client 3 logs: $refused_line"
else
    e2e_fail "client 3 never logged the refusal"
fi
e2e_check "the line is an error" grep -qi "error *$refused_line" "$TOPO_DIR/peer3.log"
e2e_check "server logs the refusal" grep -q "announced 10.77.0.2, which is held by another peer" "$TOPO_DIR/peer1.log"
e2e_check "client 3 status: state refused" test "$(peer_field 3 state)" = '"refused"'
# The holder is named by its member name (client 2's, as the server granted it).
holder=$(tun_status 2 | jq -r .name)
e2e_check "client 3 status: the reason, address and holder ($holder)" test \
    "$(peer_field 3 address_verdict)" = '{"accepted":false,"code":1,"reason":"held by another member","address":"10.77.0.2/24","holder":"'"$holder"'"}'
e2e_check "client 3 text status names the refusal and the holder" grep -q \
    "state: refused (the server refused overlay address 10.77.0.2/24: held by another member (member \"$holder\"))" <<<"$(ctl 3)"
e2e_check "client 3 is not counted up" test "$(tun_peers_up 3)" -eq 0
e2e_check "client 3 cannot reach the server" bash -c "! ip netns exec $NS_PEER3 ping -q -c 2 -i 0.2 -W 1 10.77.0.1 >/dev/null 2>&1"
# The refusal repeats (client 3 re-announces, the server answers each time, at most once a
# second) but is logged once per change, on both sides.
wait_for "[ \$(tun_status 1 | jq .drops.address_conflict) -ge 4 ]" 15 ||
    e2e_fail "the refused client did not announce again (address_conflict $(tun_status 1 | jq .drops.address_conflict))"
n_client=$(grep -c "$refused_line" "$TOPO_DIR/peer3.log")
n_server=$(grep -c "announced 10.77.0.2, which is held" "$TOPO_DIR/peer1.log")
e2e_check "after 4 refusals: logged once on the client ($n_client) and once on the server ($n_server)" \
    test "$n_client" -eq 1 -a "$n_server" -eq 1

# Client 2, accepted: up, with what the policy granted it on both sides.
e2e_check "client 2 logs its acceptance" grep -q "server accepted overlay address 10.77.0.2/24" "$TOPO_DIR/peer2.log"
e2e_check "client 2 status: up, accepted" test "$(peer_field 2 state)/$(peer_field 2 address_verdict.accepted)" = '"up"/true'
e2e_check "client 2 status: allowed_ips are the overlay networks" test "$(peer_field 2 allowed_ips)" = '["10.77.0.0/24","fd77::/64"]'
e2e_check "client 2 status: the server announced 10.77.0.1/24, fd77::1/64" test "$(peer_field 2 announced)" = '["10.77.0.1/24","fd77::1/64"]'
e2e_check "client 2 status: keepalive 2 s, peer timeout 6 s" test \
    "$(tun_status 2 | jq -c '[.keepalive_interval_s, .peer_timeout_s]')" = '[2,6]'
srv_peer2=$(tun_status 1 | jq -c '.peers[] | select(.overlay == "10.77.0.2")')
e2e_check "server status: client 2 allowed 10.77.0.2/32, fd77::2/128" test \
    "$(jq -c .allowed_ips <<<"$srv_peer2")" = '["10.77.0.2/32","fd77::2/128"]'
e2e_check "server status: client 2 announced 10.77.0.2/24, fd77::2/64" test \
    "$(jq -c .announced <<<"$srv_peer2")" = '["10.77.0.2/24","fd77::2/64"]'
e2e_check "server status: client 3 refused, with nothing allowed" test \
    "$(tun_status 1 | jq -c '[.peers[] | select(.state == "refused") | .allowed_ips]')" = '[[]]'
text=$(ctl 2)
e2e_check "text status shows allowed ips and the keepalive" grep -q "allowed ips: 10.77.0.0/24, fd77::/64" <<<"$text"
e2e_check "text status shows the keepalive" grep -q "keepalive: every 2 s" <<<"$text"

# The holder leaves: client 3 takes the address, says so, and is up.
t0=$(date +%s.%N)
topo_kill peer2
if wait_for "grep -q 'the refusal is over' '$TOPO_DIR/peer3.log'" 20; then
    e2e_pass "client 3 accepted $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s after the holder stopped"
else
    e2e_fail "client 3 never accepted after the holder left"
fi
e2e_check "client 3 logs the end of the refusal" grep -q "server accepted overlay address 10.77.0.2/24: the refusal is over" "$TOPO_DIR/peer3.log"
e2e_check "client 3 status: up again" test "$(peer_field 3 state)" = '"up"'
e2e_check "client 3 reaches the server now" tun_ping 3 10.77.0.1

# Client 2 comes back outside the server's subnet: refused with that reason.
restart_as 2 10.78.0.2 || e2e_die "client 2 did not restart"
outside="server refused overlay address 10.78.0.2/24: outside the server's subnet"
if wait_for "grep -q \"$outside\" '$TOPO_DIR/peer2.log'" 15; then
    e2e_pass "client 2 logs: $outside"
else
    e2e_fail "client 2 never logged: $outside"
fi
e2e_check "server logs the foreign address" grep -q "announced 10.78.0.2, which is not a peer address of this network" "$TOPO_DIR/peer1.log"
e2e_check "client 2 status: refused, outside the subnet" test "$(peer_field 2 state)/$(peer_field 2 address_verdict.code)" = '"refused"/2'
# ... and fixes it: a restart with a free address is accepted and up.
restart_as 2 10.77.0.4 || e2e_die "client 2 did not restart"
if wait_for "grep -q 'server accepted overlay address 10.77.0.4/24' '$TOPO_DIR/peer2.log'" 15; then
    e2e_pass "client 2 with a free address 10.77.0.4 is accepted"
else
    e2e_fail "client 2 with a free address was not accepted"
fi
e2e_check "client 2 status: up" test "$(peer_field 2 state)" = '"up"'
e2e_check "client 2 (10.77.0.4) reaches client 3 (10.77.0.2)" tun_ping 2 10.77.0.2
e2e_check "no refusal logged by the fixed client" bash -c "! grep -q 'refused' '$TOPO_DIR/peer2.log'"
e2e_finish
