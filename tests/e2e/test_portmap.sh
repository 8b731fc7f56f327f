#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Port mapping (issue 14): a sealed client behind a symmetric NAT whose router answers NAT-PMP
# (tests/tools/natpmp_responder, installing each mapping with nft) gets its UDP port mapped,
# shows it in `ruphinctl status`, renews it, and deletes it when it stops; the mapping really
# carries outside traffic to it; a server behind a router without NAT-PMP says so and runs on.
#
#   hp 203.0.113.10 (holepuncherd, relay on)
#   nat1 203.0.113.1 (port-restricted, no NAT-PMP) -- peer1 server
#   nat2 203.0.113.2 (symmetric, NAT-PMP on 192.168.102.1:5351, lifetime at most 4 s) -- peer2
set -u
TOPO_PREFIX=pmp$$
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nat_lib.sh
. "$(dirname "$0")/nat_lib.sh"
# shellcheck source-path=SCRIPTDIR source=tun_lib.sh
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin holepuncherd ruphin-tund ruphinctl natpmp_responder
e2e_require_cmd ip nft conntrack jq python3
topo_trap

NAT2=$(topo_ns nat 2)
pm() { tun_status "$1" 2>/dev/null | jq -r ".port_mapping.$2 // empty"; }

nat_up || e2e_die "test bed: hp"
nat_site 1 port-restricted || e2e_die "test bed: server site"
nat_site 2 symmetric || e2e_die "test bed: client site"
nat_ready || e2e_die "test bed: a host cannot reach hp"
NAT_PMP_ARGS="--lifetime-max 4" nat_pmp 2 || e2e_die "NAT-PMP responder on nat2"

tun_start_hpd_relay || e2e_die "holepuncherd with the relay did not start"
tun_start_peer 1 server || e2e_die "server did not start"
t0=$EPOCHREALTIME
tun_start_peer 2 client || e2e_die "client did not start"

# 1. The client's router maps its port.
e2e_check "client: port mapping in place" wait_for "[ \"\$(pm 2 state)\" = mapped ]" 10
e2e_info "mapped $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s after the client started"
ext=$(pm 2 external)
local_port=$(pm 2 local_port)
e2e_info "client status: external $ext, local port $local_port, gateway $(pm 2 gateway)"
e2e_check "status: the external endpoint is the router's WAN address" \
    bash -c "[[ '$ext' == 203.0.113.2:* ]]"
e2e_check "status: the gateway is the router's LAN address" test "$(pm 2 gateway)" = 192.168.102.1
e2e_check "status: the local port is the tunnel's UDP port" \
    bash -c "ip netns exec '$(topo_ns peer 2)' ss -uln | grep -q ':$local_port '"
e2e_check "client log: the mapping, once" \
    test "$(grep -c "port mapping: $ext -> local port $local_port via NAT-PMP gateway 192.168.102.1" "$TOPO_DIR/peer2.log")" = 1
e2e_check "ruphinctl status (text) shows the mapping" \
    bash -c "'$RUPHIN_BIN/ruphinctl' -s '$TOPO_DIR/peer2.sock' status | grep -q 'port mapping: $ext (NAT-PMP gateway 192.168.102.1'"
ext_port=${ext##*:}
e2e_check "router: the nft map holds the mapping" \
    bash -c "ip netns exec '$NAT2' nft list map ip pmp in4 | grep -q '$ext_port : 192.168.102.2 . $local_port'"

# 2. It carries outside traffic: a datagram from hp to the mapped endpoint reaches the client's
# tunnel port through the symmetric NAT (conntrack shows it translated to the client).
ip netns exec "$NS_HP" python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b'x' * 8, ('203.0.113.2', $ext_port))"
e2e_check "the mapped endpoint reaches the client from outside" \
    wait_for "ip netns exec '$NAT2' conntrack -L -p udp --orig-dst 203.0.113.2 --orig-port-dst $ext_port 2>/dev/null | grep -q 'src=192.168.102.2 dst=$HP_IP sport=$local_port'" 5

# 3. Renewed before it runs out (the responder grants 4 s), same external endpoint.
e2e_check "renewed at least twice" wait_for "[ \"\$(pm 2 renewals)\" -ge 2 ]" 15
e2e_check "still the same external endpoint after renewals" test "$(pm 2 external)" = "$ext"
e2e_check "responder: no mapping expired" bash -c "! grep -q expired '$TOPO_DIR/pmp2.log'"

# 4. The tunnel works meanwhile, and the server's router (no NAT-PMP) is reported once.
e2e_check "the peers connect" tun_wait_up 2 1 15
e2e_check "a ping crosses" tun_ping 2 10.77.0.1 3
e2e_check "server: no mapping, the reason in status" test "$(pm 1 state)" = none
e2e_info "server: $(pm 1 last_error)"
e2e_check "server log: the gateway without NAT-PMP, in one line" \
    test "$(grep -c 'port mapping: gateway 192.168.101.1: .*(NAT-PMP; next try in' "$TOPO_DIR/peer1.log")" = 1

# 5. Deleted when the client stops.
topo_kill peer2
e2e_check "responder: the client deleted its mapping" \
    wait_for "grep -q 'unmapped 192.168.102.2:$local_port <- 203.0.113.2:$ext_port (deleted by the client)' '$TOPO_DIR/pmp2.log'" 5
e2e_check "client log: deleted" grep -q "port mapping: $ext deleted" "$TOPO_DIR/peer2.log"
tail -n 3 "$TOPO_DIR/peer2.log" | sed 's/^/  client: /'
e2e_check "router: the nft map is empty again" \
    bash -c "! ip netns exec '$NAT2' nft list map ip pmp in4 | grep -q ' : 192.168.102.2'"

# 6. "port_mapping": false asks nothing.
jq '.port_mapping = false' "$TOPO_DIR/peer2.json" >"$TOPO_DIR/peer2.off.json" && mv "$TOPO_DIR/peer2.off.json" "$TOPO_DIR/peer2.json"
n_before=$(grep -c '^mapped' "$TOPO_DIR/pmp2.log")
tun_start_peer 2 client || e2e_die "client did not restart"
e2e_check "port_mapping false: the client connects" tun_wait_up 2 1 15
e2e_check "port_mapping false: no port_mapping in status" \
    bash -c "[ -z \"\$('$RUPHIN_BIN/ruphinctl' -s '$TOPO_DIR/peer2.sock' status --json | jq -r '.port_mapping // empty')\" ]"
e2e_check "port_mapping false: the router got no request" test "$(grep -c '^mapped' "$TOPO_DIR/pmp2.log")" = "$n_before"
e2e_finish
