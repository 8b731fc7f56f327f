#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# LAN candidates (issue 14): two machines behind one router that does not hairpin. They start
# through holepuncherd's relay, offer each other their LAN addresses inside the session, and move
# to the LAN: both statuses say direct-lan ("direct over the LAN"), both daemons log the path
# change with its kind, a sha256-checked transfer goes over the LAN (the router forwards next to
# nothing toward holepuncherd meanwhile), and the lists were taken (no bad_control).
#
#   hp 203.0.113.10 (holepuncherd, relay on)
#   nat1 203.0.113.1 (port-restricted, no hairpin) -- peer1 server (its site's host address)
#                                                  \- peer2 client 192.168.101.12 (nat_join)
set -u
TOPO_PREFIX=lanc$$
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
MB=${LANC_MB:-8}

nat_up || e2e_die "test bed: hp"
nat_site 1 port-restricted || e2e_die "test bed: server site"
nat_join 1 2 || e2e_die "test bed: client on the server's LAN"
nat_ready || e2e_die "test bed: a host cannot reach hp"
# Counts what the router forwards toward holepuncherd (relayed traffic would pass here).
topo__do ip netns exec "$NAT1" nft -f - <<NFT || e2e_die "nft counter on nat1"
table inet lanccount {
    chain tohp {
        type filter hook forward priority 0; policy accept;
        ip daddr $HP_IP udp dport 7700 counter
    }
}
NFT
to_hp() {
    ip netns exec "$NAT1" nft list table inet lanccount | sed -n 's/.*counter packets \([0-9]*\) .*/\1/p'
}

tun_start_hpd_relay || e2e_die "holepuncherd with the relay did not start"
tun_start_peer 1 server || e2e_die "server did not start"
wait_for "tun_status 1 | jq -e '.holepuncher.state == \"registered\"'" 10 || e2e_die "server not registered"
t0=$EPOCHREALTIME
tun_start_peer 2 client || e2e_die "client did not start"

kind() { tun_status "$1" 2>/dev/null | jq -r '.peers[0].path_kind // "none"'; }
# shellcheck disable=SC2317 # called through e2e_check
# status_has K FILTER: peer K's status is there and FILTER holds (jq -e alone passes on no input).
status_has() {
    local st
    st=$(tun_status "$1" 2>/dev/null) && [[ -n $st ]] && jq -e "$2" <<<"$st" >/dev/null
}
e2e_check "the client comes up" tun_wait_up 2 1 10
e2e_check "client: path direct-lan" wait_for "[ \"\$(kind 2)\" = direct-lan ]" 10
e2e_info "client direct over the LAN $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s after its start"
e2e_check "server: path direct-lan" wait_for "[ \"\$(kind 1)\" = direct-lan ]" 10
e2e_check "client: the server's endpoint is its LAN address" \
    status_has 2 ".peers[0].endpoint | startswith(\"${NAT_HOST_IP[1]}:\")"
e2e_check "server: the client's endpoint is its LAN address" \
    status_has 1 ".peers[0].endpoint | startswith(\"${NAT_HOST_IP[2]}:\")"
e2e_check "client status: the server's LAN address is a lan candidate" \
    status_has 2 "any(.peers[0].candidates[]; .kind == \"lan\" and (.endpoint | startswith(\"${NAT_HOST_IP[1]}:\")))"
e2e_check "status keeps path direct for older readers" test "$(tun_status 2 | jq -r '.peers[0].path')" = direct
"$RUPHIN_BIN/ruphinctl" -s "$TOPO_DIR/peer2.sock" status 2>&1 | sed -n '/^peer:/,/^  state:/p' | sed 's/^/  status: /'
e2e_check "ruphinctl status (text) says direct over the LAN" \
    bash -c "'$RUPHIN_BIN/ruphinctl' -s '$TOPO_DIR/peer2.sock' status | grep -q 'path: direct over the LAN'"
e2e_check "client log: the path change names the LAN" grep -q ' path direct: .* (over the LAN)' "$TOPO_DIR/peer2.log"
e2e_check "server log: the path change names the LAN" grep -q ' path direct: .* (over the LAN)' "$TOPO_DIR/peer1.log"
grep -h ' path ' "$TOPO_DIR/peer1.log" "$TOPO_DIR/peer2.log" | sed 's/^/  log: /'

before=$(to_hp)
e2e_check "the router's counter sees the peers' datagrams to holepuncherd (Register, Join, relayed start)" \
    test "${before:-0}" -gt 0
if r=$(tun_transfer 2 1 "$MB"); then
    e2e_pass "$MB MiB client -> server over the LAN, sha256 ok ($(cut -d' ' -f2 <<<"$r") s)"
else
    e2e_fail "$MB MiB transfer"
fi
after=$(to_hp)
e2e_info "the router forwarded $((after - before)) datagrams toward holepuncherd during the transfer"
# A relayed MiB is ~800 datagrams; joins, registrations and keepalives are a handful.
e2e_check "the transfer did not go through the relay" test "$((after - before))" -lt 50
e2e_check "still direct-lan after the transfer" test "$(kind 2)" = direct-lan
e2e_check "server: LAN candidate lists taken (bad_control 0)" status_has 1 '.drops.bad_control == 0'
e2e_check "client: LAN candidate lists taken (bad_control 0)" status_has 2 '.drops.bad_control == 0'
e2e_finish
