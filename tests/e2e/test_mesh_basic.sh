#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The mesh (issue 15): a sealed server introduces its two clients to each other (tag 0x09) and
# they punch a direct path. Checked: each client lists the other as a member with a direct
# path; a ping and a sha256-checked transfer between them leave the server's
# forwarded_packets where it was and put no large UDP packet through the server's router (an
# nft counter there); with the server daemon stopped the pair keeps carrying traffic and
# rekeying; started again, everything reconverges by itself; a "mesh": false server keeps the
# hub: no members, client-to-client traffic forwarded by the server.
#
#   hp 203.0.113.10 (holepuncherd, relay on)
#   nat1 203.0.113.1 (port-restricted) -- peer1 server 10.77.0.1
#   nat2 203.0.113.2 (port-restricted) -- peer2 client 10.77.0.2
#   nat3 203.0.113.3 (port-restricted) -- peer3 client 10.77.0.3
set -u
TOPO_PREFIX=mesh$$
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nat_lib.sh
. "$(dirname "$0")/nat_lib.sh"
# shellcheck source-path=SCRIPTDIR source=tun_lib.sh
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin holepuncherd ruphin-tund ruphinctl
e2e_require_cmd ip nft socat sha256sum jq
topo_trap

NAT1=$(topo_ns nat 1)
MB=${MESH_MB:-4}
# The clients rekey every 3 s (a test setting): rekeys with the server gone show within seconds.
export RUPHIN_TEST_REKEY_MS=3000

nat_up || e2e_die "test bed: hp"
for k in 1 2 3; do nat_site "$k" port-restricted || e2e_die "test bed: site $k"; done
nat_ready || e2e_die "test bed: a host cannot reach hp"
# Large UDP datagrams through the server's router: tunnel data (pings of 1200 B, a transfer),
# never keepalives or handshakes. Client-to-client traffic through the server would pass here.
topo__do ip netns exec "$NAT1" nft -f - <<NFT || e2e_die "nft counter on nat1"
table inet meshcount {
    chain bigudp {
        type filter hook forward priority 0; policy accept;
        meta l4proto udp meta length > 1000 counter
    }
}
NFT
big_at_server() {
    ip netns exec "$NAT1" nft list table inet meshcount | sed -n 's/.*counter packets \([0-9]*\) .*/\1/p'
}

q() { tun_q "$@"; }
# shellcheck disable=SC2317 # called through e2e_check and wait_for
member_kind() { tun_member_kind "$1"; }
# shellcheck disable=SC2317
members() { q "$1" '[.peers[] | select(.kind == "member")] | length'; }
forwarded() { q 1 '.mesh.forwarded_packets'; }
# shellcheck disable=SC2317
server_up() { [[ $(q "$1" '[.peers[] | select(.kind == "server" and .state == "up")] | length') == 1 ]]; }
# shellcheck disable=SC2317
ping_big() { topo_run "$(topo_ns peer "$1")" ping -q -c 5 -i 0.2 -W 2 -s 1200 "$2" >/dev/null 2>&1; }

tun_start_hpd_relay || e2e_die "holepuncherd with the relay did not start"
tun_start_peer 1 server || e2e_die "server did not start"
wait_for "tun_status 1 | jq -e '.holepuncher.state == \"registered\"'" 10 || e2e_die "server not registered"
t0=$EPOCHREALTIME
tun_start_peer 2 client || e2e_die "client 2 did not start"
tun_start_peer 3 client || e2e_die "client 3 did not start"

e2e_check "both clients come up with the server" wait_for "server_up 2 && server_up 3" 15
e2e_check "client 2: client 3 is a member, path direct-ipv4" wait_for "[ \"\$(member_kind 2)\" = direct-ipv4 ]" 20
e2e_check "client 3: client 2 is a member, path direct-ipv4" wait_for "[ \"\$(member_kind 3)\" = direct-ipv4 ]" 20
e2e_info "members direct $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s after the clients started"
e2e_check "the member is shown with its overlay address and node key" \
    test "$(q 2 '[.peers[] | select(.kind == "member")][0] | "\(.overlay) \(.public_key != null)"')" = "10.77.0.3 true"
e2e_check "the server introduced both ways" test "$(q 1 '.mesh.introductions_sent')" -ge 2
e2e_check "ruphinctl status names the member and its path" \
    bash -c "'$RUPHIN_BIN/ruphinctl' -s '$TOPO_DIR/peer2.sock' status | grep -A6 '^member: 10.77.0.3' | grep -q 'path: direct over IPv4'"

fw0=$(forwarded) big0=$(big_at_server)
e2e_check "ping client 2 -> client 3 (1200 B)" ping_big 2 10.77.0.3
if r=$(tun_transfer 2 3 "$MB"); then
    e2e_pass "transfer client 2 -> client 3: $MB MiB, sha256 ok, $(awk -v r="$r" 'BEGIN { split(r, a, " "); printf "%.1f MB/s", a[1] / a[2] }')"
else
    e2e_fail "transfer client 2 -> client 3 ($MB MiB, sha256)"
fi
fw1=$(forwarded) big1=$(big_at_server)
e2e_info "server forwarded $fw0 -> $fw1 packets; large UDP through its router $big0 -> $big1"
e2e_check "no detour: the server forwarded nothing between the clients" test "$fw1" = "$fw0"
e2e_check "no detour: no tunnel data crossed the server's router" test "$big1" = "$big0"

# The server sleeps: its daemon stops (a goodbye to both clients).
topo_kill peer1
t_stop=$EPOCHREALTIME
e2e_check "server gone: clients see no server up" wait_for "! server_up 2 && ! server_up 3" 10
if r=$(tun_transfer 3 2 2); then
    e2e_pass "server gone: transfer client 3 -> client 2 (2 MiB, sha256 ok)"
else
    e2e_fail "server gone: transfer client 3 -> client 2 (2 MiB, sha256)"
fi
e2e_check "server gone: ping client 2 -> client 3" ping_big 2 10.77.0.3
# shellcheck disable=SC2317
rekeyed_since_stop() {
    local age since
    # Member rekeys are lazy (on the next send past rekey_ms): keep the pair talking.
    topo_run "$(topo_ns peer 2)" ping -q -c 1 -W 1 10.77.0.3 >/dev/null 2>&1 || true
    age=$(q 2 '[.peers[] | select(.kind == "member")][0].last_handshake_ago_s // 1e9')
    since=$(awk -v a="$t_stop" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
    awk -v age="$age" -v s="$since" 'BEGIN { exit !(age + 0.5 < s && s > 3) }'
}
e2e_check "server gone: the pair rekeyed (a handshake after the stop)" wait_for rekeyed_since_stop 20
e2e_check "server gone: the member is still direct" test "$(member_kind 2)" = direct-ipv4

tun_start_peer 1 server || e2e_die "server did not start again"
e2e_check "server back: both clients reconverge to it" wait_for "server_up 2 && server_up 3" 30
e2e_check "server back: it introduced the clients again" wait_for "[ \"\$(q 1 .mesh.introductions_sent)\" -ge 2 ]" 15
e2e_check "server back: the members are direct" \
    wait_for "[ \"\$(member_kind 2)\" = direct-ipv4 ] && [ \"\$(member_kind 3)\" = direct-ipv4 ]" 10
e2e_check "server back: one member each, no duplicate" test "$(members 2):$(members 3)" = "1:1"
fw0=$(forwarded)
t_ping=$EPOCHREALTIME
e2e_check "server back: ping client 3 -> client 2" wait_for "ping_big 3 10.77.0.2" 15
e2e_info "server back: first 5-ping round with a reply after $(awk -v a="$t_ping" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
e2e_check "server back: still no detour" test "$(forwarded)" = "$fw0"

# A member gone without a goodbye (kill -9): the server times it out and says it left.
kill -KILL "$(topo_pid peer3)"
e2e_check "client 3 killed: the server sends \"left\"" wait_for "[ \"\$(q 1 .mesh.lefts_sent)\" -ge 1 ]" 20
e2e_check "client 3 killed: client 2 has no member left" wait_for "[ \"\$(members 2)\" = 0 ]" 20

# "mesh": false: the hub of before. Everyone starts afresh (the clients forget their members).
topo_kill peer3
topo_kill peer2
topo_kill peer1
tun_write_peer_config 1 server "$TOPO_DIR/peer1.json" ', "mesh": false'
tun_start_peer 1 server || e2e_die "hub server did not start"
wait_for "tun_status 1 | jq -e '.holepuncher.state == \"registered\"'" 10 || e2e_die "hub server not registered"
tun_start_peer 2 client || e2e_die "client 2 did not start again"
tun_start_peer 3 client || e2e_die "client 3 did not start again"
e2e_check "hub: both clients come up" wait_for "server_up 2 && server_up 3 && [ \$(tun_peers_up 1) -ge 2 ]" 15
e2e_check "hub: status says mesh off" test "$(q 1 .mesh.enabled)" = false
fw0=$(forwarded) big0=$(big_at_server)
e2e_check "hub: ping client 2 -> client 3 through the server" ping_big 2 10.77.0.3
fw1=$(forwarded) big1=$(big_at_server)
e2e_check "hub: no members, no introductions" test "$(members 2):$(members 3):$(q 1 .mesh.introductions_sent)" = "0:0:0"
e2e_check "hub: the server forwarded the pings (forwarded_packets $fw0 -> $fw1)" test "$((fw1 - fw0))" -ge 10
# The counter that saw nothing above does see a detour: 5 pings, 5 replies, each in and out.
e2e_check "hub: the router's counter sees them ($big0 -> $big1 large UDP packets)" test "$((big1 - big0))" -ge 20

e2e_finish
