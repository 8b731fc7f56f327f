#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Three machines behind three NATs on one virtual LAN: the clients reach each other through
# the server; a client cannot send as another client's overlay address, nor claim it. The
# server is a hub ("mesh": false): the forwarding is the point (test_mesh_basic.sh has the mesh).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin holepuncherd ruphin-tund ruphinctl
topo_trap
topo_up 3 || e2e_die "test bed"

tun_start_hpd || e2e_die "holepuncherd did not start"
tun_write_peer_config 1 server "$TOPO_DIR/peer1.json" ', "mesh": false'
tun_start_peer 1 server || e2e_die "server peer did not start"
tun_start_peer 2 client || e2e_die "client 2 did not start"
tun_start_peer 3 client || e2e_die "client 3 did not start"
tun_wait_up 1 2 10 && e2e_pass "server sees both clients" || e2e_die "server does not see both clients"
wait_for "tun_status 1 | grep -q '\"overlay\":\"10.77.0.3\"'" 5 || e2e_fail "client 3 never announced its address"

e2e_check "client 2 -> client 3 (10.77.0.3) through the server" tun_ping 2 10.77.0.3
e2e_check "client 3 -> client 2 (10.77.0.2) through the server" tun_ping 3 10.77.0.2
e2e_check "client 3 -> client 2 over IPv6 (fd77::2)" tun_ping 3 fd77::2
e2e_check "client 2 -> server (10.77.0.1)" tun_ping 2 10.77.0.1
# The server forwards through its send queue: what one received batch brings for a client leaves
# as one GSO train, so the forwarded transfer adds to the server's gso_sends.
gso_sends() { tun_status 1 | grep -o '"gso_sends":[0-9]*' | cut -d: -f2; }
gso_before=$(gso_sends)
if r=$(tun_transfer 2 3 10); then e2e_pass "10 MB client 2 -> client 3, sha256 ok ($r s)"; else e2e_fail "10 MB client -> client"; fi
e2e_check "the server forwarded in GSO trains ($gso_before -> $(gso_sends) sends)" \
    test "$(gso_sends)" -gt "${gso_before:-0}"

# Spoofing: client 3 sends with client 2's address as its source.
spoofed() { tun_status 1 | grep -o '"spoofed_source":[0-9]*' | tail -1 | cut -d: -f2; }
before=$(spoofed)
topo_run "$NS_PEER3" ip addr add 10.77.0.2/32 dev rph0
topo_run "$NS_PEER3" ping -q -c 5 -i 0.2 -W 1 -I 10.77.0.2 10.77.0.1 >/dev/null 2>&1
got=$?
after=$(spoofed)
topo_run "$NS_PEER3" ip addr del 10.77.0.2/32 dev rph0
e2e_check "packets spoofing client 2's address get no answer" test "$got" -ne 0
e2e_check "and are counted as spoofed_source ($before -> $after)" test "$after" -ge $((before + 5))
e2e_check "client 2 still reachable afterwards" tun_ping 3 10.77.0.2

# Claiming: a second daemon behind NAT 3 (a member, with the key) announces client 2's address.
cat >"$TOPO_DIR/thief.json" <<JSON
{"holepuncher": "$HP_IP:7700", "session": "$TUN_SESSION", "role": "client",
 "interface": {"name": "rph9", "address": "10.77.0.2/24", "mtu": 1400}, "seal": $(tun_seal_json)$(tun_state_json thief),
 "keepalive_interval": 2, "peer_timeout": 6, "control_socket": "$TOPO_DIR/thief.sock"}
JSON
topo_spawn thief "$NS_PEER3" "$TOPO_DIR/thief.log" "$RUPHIN_BIN/ruphin-tund" -c "$TOPO_DIR/thief.json"
wait_for "grep -q 'held by another peer' '$TOPO_DIR/peer1.log'" 10 &&
    e2e_pass "server refuses a second claim on 10.77.0.2" || e2e_fail "server took a claim on a held address"
e2e_check "the real client 2 keeps its address" tun_ping 1 10.77.0.2
e2e_check "server status counts the conflict" grep -q '"address_conflict":[1-9]' <<<"$(tun_status 1)"
topo_kill thief
e2e_finish
