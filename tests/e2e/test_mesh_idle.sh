#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Idle members rest (issue 15, docs/PROTOCOL.md "Idle members"): two clients with a direct path
# and no traffic for a minute stop their keepalives to each other; status says the member is
# idle, via the server. Their routers then forget the pair's mappings (as a home router does
# after a few idle minutes). The next ping crosses through the server with nothing lost, both
# ends wake, and the path is direct again within seconds, with no detour after that.
#
#   hp 203.0.113.10 (holepuncherd, relay on)
#   nat1 203.0.113.1 (port-restricted) -- peer1 server 10.77.0.1
#   nat2 203.0.113.2 (port-restricted) -- peer2 client 10.77.0.2
#   nat3 203.0.113.3 (port-restricted) -- peer3 client 10.77.0.3
# Env: MESH_IDLE_WAIT (s for both ends to rest after the last ping, default 120).
set -u
TOPO_PREFIX=meshidle$$
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nat_lib.sh
. "$(dirname "$0")/nat_lib.sh"
# shellcheck source-path=SCRIPTDIR source=tun_lib.sh
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin holepuncherd ruphin-tund ruphinctl
e2e_require_cmd ip nft conntrack jq ping
topo_trap

nat_up || e2e_die "test bed: hp"
for k in 1 2 3; do nat_site "$k" port-restricted || e2e_die "test bed: site $k"; done
nat_ready || e2e_die "test bed: a host cannot reach hp"
NAT2=$(topo_ns nat 2)
# What client 2's router forwards towards client 3's router: the pair's direct traffic only
# (keepalives, handshakes, data), never the server's or the holepuncher's.
topo__do ip netns exec "$NAT2" nft -f - <<NFT || e2e_die "nft counter on nat2"
table inet idlecount {
    chain pair {
        type filter hook forward priority 0; policy accept;
        ip daddr 203.0.113.3 udp dport != 0 counter
    }
}
NFT
pair_packets() {
    ip netns exec "$NAT2" nft list table inet idlecount | sed -n 's/.*counter packets \([0-9]*\) .*/\1/p'
}

q() { tun_q "$@"; }
# shellcheck disable=SC2317 # called through e2e_check and wait_for
member_kind() { tun_member_kind "$1"; }
# shellcheck disable=SC2317
member_idle() { [[ $(q "$1" '[.peers[] | select(.kind == "member")][0].idle') == true ]]; }
forwarded() { q 1 '.mesh.forwarded_packets'; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

tun_start_hpd_relay || e2e_die "holepuncherd with the relay did not start"
tun_start_peer 1 server || e2e_die "server did not start"
wait_for "tun_status 1 | jq -e '.holepuncher.state == \"registered\"'" 10 || e2e_die "server not registered"
tun_start_peer 2 client || e2e_die "client 2 did not start"
tun_start_peer 3 client || e2e_die "client 3 did not start"
e2e_check "members direct both ways" \
    wait_for "[ \"\$(member_kind 2)\" = direct-ipv4 ] && [ \"\$(member_kind 3)\" = direct-ipv4 ]" 20
e2e_check "ping client 2 -> client 3" topo_run "$(topo_ns peer 2)" ping -q -c 3 -i 0.2 -W 2 10.77.0.3
t_last=$EPOCHREALTIME

# ---- a minute without traffic: both ends rest
if wait_for "member_idle 2 && member_idle 3" "${MESH_IDLE_WAIT:-120}"; then
    e2e_pass "idle: both ends rest $(since "$t_last") s after the last ping (the rule: 60 s without data)"
else
    e2e_die "idle: the pair did not rest within ${MESH_IDLE_WAIT:-120} s (client 2 idle: $(q 2 '[.peers[] | select(.kind == "member")][0].idle'), client 3: $(q 3 '[.peers[] | select(.kind == "member")][0].idle'))"
fi
e2e_check "idle: status says via the server" test "$(member_kind 2):$(member_kind 3)" = "via-server:via-server"
e2e_check "idle: mesh.idle_members is 1 on both" test "$(q 2 .mesh.idle_members):$(q 3 .mesh.idle_members)" = "1:1"
e2e_check "idle: ruphinctl status says so" \
    bash -c "'$RUPHIN_BIN/ruphinctl' -s '$TOPO_DIR/peer2.sock' status | grep -A6 '^member: 10.77.0.3' | grep -q 'path: via the server (idle'"
e2e_check "idle: the daemon logged it" grep -q "idle 60 s: its direct path rests" "$TOPO_DIR/peer2.log"
# An observation window, not a wait: longer than the 25 s between a member pair's keepalives,
# so a pair that still kept itself alive would show one here.
c0=$(pair_packets)
sleep 30
c1=$(pair_packets)
e2e_check "idle: nothing between the two routers in 30 s ($c0 -> $c1 packets)" test "$c1" = "$c0"

# ---- the routers forget the pair (only its mappings: the server's stay)
for k in 2 3; do
    other=203.0.113.$((k == 2 ? 3 : 2))
    ip netns exec "$(topo_ns nat "$k")" conntrack -D -p udp --orig-dst "$other" >/dev/null 2>&1 || true
done
e2e_check "both routers forgot the pair's mappings" \
    test "$(ip netns exec "$NAT2" conntrack -L -p udp --orig-dst 203.0.113.3 2>/dev/null | wc -l)" = 0

# ---- the first packets go through the server, nothing lost; the pair wakes and goes direct
fw0=$(forwarded)
t_wake=$EPOCHREALTIME
out=$(topo_run "$(topo_ns peer 2)" ping -c 10 -i 0.2 -W 2 10.77.0.3 2>&1)
e2e_check "wake: 10 pings client 2 -> client 3, none lost ($(grep -o '[0-9]* received' <<<"$out"))" \
    grep -q ' 10 received' <<<"$out"
fw1=$(forwarded)
e2e_check "wake: the first packets went through the server (forwarded $fw0 -> $fw1)" test "$fw1" -gt "$fw0"
if wait_for "[ \"\$(member_kind 2)\" = direct-ipv4 ] && [ \"\$(member_kind 3)\" = direct-ipv4 ]" 10; then
    # When it went direct, from the status's path age (the pings themselves take 2 s).
    ago=$(q 2 '[.peers[] | select(.kind == "member")][0].path_since_ago_s')
    e2e_pass "wake: direct again both ways, client 2's path $(awk -v w="$(since "$t_wake")" -v a="$ago" 'BEGIN { printf "%.2f", w - a }') s after the first ping"
else
    e2e_fail "wake: not direct 10 s after the first ping ($(member_kind 2) / $(member_kind 3))"
fi
e2e_check "wake: status no longer idle" test "$(q 2 .mesh.idle_members):$(q 3 .mesh.idle_members)" = "0:0"
e2e_check "wake: idle_wakes counted" test "$(q 2 .mesh.idle_wakes)" -ge 1
fw2=$(forwarded)
e2e_check "awake: ping client 3 -> client 2" topo_run "$(topo_ns peer 3)" ping -q -c 5 -i 0.2 -W 2 10.77.0.2
e2e_check "awake: no detour (forwarded stays $fw2 -> $(forwarded))" test "$(forwarded)" = "$fw2"

e2e_finish
