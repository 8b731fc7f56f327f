#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The tunnel outlives holepuncherd, re-registers with a restarted one, and a restarted server
# or client daemon is found again on its own, within a stated bound.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin holepuncherd ruphin-tund ruphinctl
topo_trap
topo_up 2 || e2e_die "test bed"
tun_start_hpd || e2e_die "holepuncherd did not start"
tun_start_peer 1 server || e2e_die "server did not start"
tun_start_peer 2 client || e2e_die "client did not start"
tun_wait_up 2 1 10 || e2e_die "no handshake"

# 1. holepuncherd stops: traffic keeps flowing for longer than peer_timeout (6 s).
topo_kill hpd
loss=$(topo_run "$NS_PEER2" ping -q -c 40 -i 0.2 -W 1 10.77.0.1 | grep -o '[0-9.]*% packet loss' | cut -d% -f1)
e2e_check "8 s of pings with holepuncherd down: ${loss:-?}% loss" test "${loss:-100}" = 0
e2e_check "server reports the holepuncher unreachable" grep -q '"state":"unreachable"' <<<"$(tun_status 1)"

# 2. holepuncherd comes back: the server registers again by itself (keepalive 2 s).
tun_start_hpd || e2e_die "holepuncherd did not restart"
wait_for "grep -q 'registered by' '$TOPO_DIR/hpd.log'" 10 &&
    e2e_pass "server re-registered with the restarted holepuncherd" || e2e_fail "no re-registration"
wait_for "tun_status 1 | grep -q '\"state\":\"registered\"'" 5 &&
    e2e_pass "server reports registered again" || e2e_fail "server still not registered"

# 3. The server daemon restarts (new process, new UDP port): the client notices the silence
# after peer_timeout (6 s), re-joins, and traffic flows again. Bound: peer_timeout + 6 s.
topo_kill peer1
t0=$(date +%s.%N)
tun_start_peer 1 server || e2e_die "server did not restart"
if wait_for "tun_ping 2 10.77.0.1 1" 12; then
    t1=$(date +%s.%N)
    e2e_pass "client recovered on its own in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s (bound 12 s)"
else
    e2e_fail "client did not recover within 12 s"
fi
e2e_check "the client logged its re-join" grep -q "joining session" "$TOPO_DIR/peer2.log"
if r=$(tun_transfer 2 1 5); then e2e_pass "5 MB after recovery, sha256 ok"; else e2e_fail "transfer after recovery"; fi

# 4. The client daemon restarts (new UDP port, new handshake): the server gives its overlay
# address to the new instance once the old one has been silent for two keepalives.
topo_kill peer2
t0=$(date +%s.%N)
tun_start_peer 2 client || e2e_die "client did not restart"
if wait_for "tun_ping 1 10.77.0.2 1" 12; then
    t1=$(date +%s.%N)
    e2e_pass "restarted client reachable again in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s (bound 12 s)"
else
    e2e_fail "restarted client not reachable within 12 s"
fi
e2e_finish
