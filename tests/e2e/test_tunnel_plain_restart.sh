#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Plaintext ("seal": false) has no node keys to say that a restarted client is the same one: a
# client killed and restarted behind the same NAT comes back on a new UDP port, and the server
# gives it its address back once the old endpoint has been silent for 1 s (not the two
# keepalives of silence that free an address for anyone else). The outage is measured.
set -u
export TUN_SEAL=0
TOPO_PREFIX=${TOPO_PREFIX:-plainrst$$}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin holepuncherd ruphin-tund ruphinctl
e2e_require_cmd jq
topo_trap
topo_up 2 || e2e_die "test bed"

# A long keepalive, so that only the same-IP rule can free the address within the deadline:
# anyone else waits 2 x 10 s of silence.
export TUN_KEEPALIVE=10 TUN_PEER_TIMEOUT=30
tun_start_hpd || e2e_die "holepuncherd did not start"
tun_start_peer 1 server || e2e_die "server did not start"
tun_start_peer 2 client || e2e_die "client did not start"
tun_wait_up 2 1 15 || e2e_die "no handshake"
e2e_check "ping client -> server before the restart" tun_ping 2 10.77.0.1
old_ep=$(tun_status 1 | jq -r '.peers[] | select(.overlay == "10.77.0.2") | .endpoint')

# kill -9: no clean stop, the old endpoint simply falls silent.
kill -KILL "$(topo_pid peer2)"
topo_wait peer2 5 >/dev/null 2>&1 # (bash reports the kill)
topo_kill peer2
t0=$(date +%s.%N)
tun_start_peer 2 client || e2e_die "client did not restart"
if wait_for "ip netns exec $NS_PEER2 ping -q -c 1 -W 1 10.77.0.1" 15; then
    e2e_pass "traffic flows again $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s after the restart (the old endpoint $old_ep would hold it 20 s)"
else
    e2e_fail "no traffic within 15 s of the restart"
fi
e2e_check "server logs the takeover from the old endpoint at the same IP" \
    grep -q "takes over 10.77.0.2 from its old endpoint at the same IP address (restarted), $old_ep" "$TOPO_DIR/peer1.log"
new_ep=$(tun_status 1 | jq -r '.peers[] | select(.overlay == "10.77.0.2") | .endpoint')
e2e_check "the address is on the new endpoint ($new_ep, was $old_ep)" test -n "$new_ep" -a "$new_ep" != "$old_ep"
e2e_check "client status: up and accepted" test \
    "$(tun_status 2 | jq -r '.peers[0].state + "/" + (.peers[0].address_verdict.accepted | tostring)')" = "up/true"
e2e_finish
