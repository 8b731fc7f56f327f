#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The mesh over a LAN: two clients behind one router that does not hairpin, their server
# elsewhere. The server's introductions carry each client's LAN candidates, so the pair goes
# direct over the LAN: both list the other as a member with path direct-lan (not direct-ipv4),
# `ruphinctl status` says "direct over the LAN", and a sha256-checked transfer between them
# leaves the server's forwarded_packets where it was.
#
#   hp 203.0.113.10 (holepuncherd, relay on)
#   nat1 203.0.113.1 (port-restricted) -- peer1 server
#   nat2 203.0.113.2 (port-restricted, no hairpin) -- peer2 client 192.168.102.2
#                                                  \- peer3 client 192.168.102.13 (nat_join)
set -u
TOPO_PREFIX=meshl$$
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nat_lib.sh
. "$(dirname "$0")/nat_lib.sh"
# shellcheck source-path=SCRIPTDIR source=tun_lib.sh
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin holepuncherd ruphin-tund ruphinctl
e2e_require_cmd ip socat sha256sum jq
topo_trap

nat_up || e2e_die "test bed: hp"
nat_site 1 port-restricted || e2e_die "test bed: server site"
nat_site 2 port-restricted || e2e_die "test bed: client site"
nat_join 2 3 || e2e_die "test bed: a second client on site 2's LAN"
nat_ready || e2e_die "test bed: a host cannot reach hp"

q() { tun_q "$@"; }
# shellcheck disable=SC2317 # called through e2e_check and wait_for
member_kind() { tun_member_kind "$1"; }

tun_start_hpd_relay || e2e_die "holepuncherd with the relay did not start"
tun_start_peer 1 server || e2e_die "server did not start"
wait_for "tun_status 1 | jq -e '.holepuncher.state == \"registered\"'" 10 || e2e_die "server not registered"
t0=$EPOCHREALTIME
tun_start_peer 2 client || e2e_die "client 2 did not start"
tun_start_peer 3 client || e2e_die "client 3 did not start"
e2e_check "both clients come up" wait_for "[ \$(tun_peers_up 1) -ge 2 ]" 15
e2e_check "client 2: client 3 is a member over the LAN" wait_for "[ \"\$(member_kind 2)\" = direct-lan ]" 20
e2e_check "client 3: client 2 is a member over the LAN" wait_for "[ \"\$(member_kind 3)\" = direct-lan ]" 20
e2e_info "members direct over the LAN $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s after the clients started"
e2e_check "the member's endpoint is its LAN address" \
    test "$(q 2 '[.peers[] | select(.kind == "member")][0].endpoint')" = "192.168.102.13:$(q 3 '.listen | split(":") | last')"
e2e_check "ruphinctl status says direct over the LAN" \
    bash -c "'$RUPHIN_BIN/ruphinctl' -s '$TOPO_DIR/peer2.sock' status | grep -A6 '^member: 10.77.0.3' | grep -q 'path: direct over the LAN'"
fw0=$(q 1 .mesh.forwarded_packets)
if r=$(tun_transfer 2 3 4); then
    e2e_pass "transfer client 2 -> client 3 over the LAN: 4 MiB, sha256 ok ($r s)"
else
    e2e_fail "transfer client 2 -> client 3 over the LAN (4 MiB, sha256)"
fi
e2e_check "the server forwarded nothing ($fw0 -> $(q 1 .mesh.forwarded_packets))" test "$(q 1 .mesh.forwarded_packets)" = "$fw0"
e2e_finish
