#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The NAT matrix's three-member LAN with mixed kinds (tests/e2e/test_nat_matrix.sh runs it like a
# pair): a sealed server behind a port-restricted NAT, client 2 behind a symmetric NAT (no direct
# path to the server) and client 3 on the server's own LAN behind the same router (no hairpin).
# Client 2 reaches the server through holepuncherd's relay, client 3 over the LAN (the LAN
# candidates both offer), and each other through the server.
#
#   bash tests/e2e/nat_lan3.sh RESULT_FILE
#
# RESULT_FILE gets nat_pair.sh's line (server "port-restricted", client "symmetric+same-router");
# the path is the two clients' path kinds ("client 2 relayed, client 3 direct-lan"), the first ping is client 2's to client 3
# (through the server), the transfer client 2 -> client 3. Env: NATM_DEADLINE, NATM_MB.
set -u
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nat_lib.sh
. "$(dirname "$0")/nat_lib.sh"
# shellcheck source-path=SCRIPTDIR source=tun_lib.sh
. "$(dirname "$0")/tun_lib.sh"

RESULT=${1:?result file}
DEADLINE=${NATM_DEADLINE:-20}
MB=${NATM_MB:-2}

result() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' port-restricted symmetric+same-router "$@" >"$RESULT"
}
error() {
    result error - - - - "$1"
    printf 'nat_lan3: %s\n' "$1" >&2
    topo_dump_logs 20
    exit 1
}

e2e_require_root
topo_trap
nat_up || error "test bed: hp"
nat_site 1 port-restricted || error "test bed: server site"
nat_site 2 symmetric || error "test bed: client 2 site"
nat_join 1 3 || error "test bed: client 3 on the server's LAN"
nat_ready || error "test bed: a host cannot reach hp"

cat >"$TOPO_DIR/hpd.json" <<JSON
{"listen": ["$HP_IP:7700"], "session_ttl": 60, "max_sessions": 100, "log_level": "$TUN_LOG_LEVEL",
 "relay": {"enabled": true}}
JSON
topo_spawn hpd "$NS_HP" "$TOPO_DIR/hpd.log" "$RUPHIN_BIN/holepuncherd" -c "$TOPO_DIR/hpd.json" || error "holepuncherd"
wait_for "grep -q 'listening on' '$TOPO_DIR/hpd.log'" 10 || error "holepuncherd did not listen"
tun_start_peer 1 server || error "server did not start"
wait_for "tun_status 1 | jq -e '.holepuncher.state == \"registered\"'" 10 || error "server not registered"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
t0=$(now)
tun_start_peer 2 client || error "client 2 did not start"
tun_start_peer 3 client || error "client 3 did not start"
# Client 2 pings client 3 through the server: both relayed legs and the forwarding must work.
topo_spawn pinger "$NS_PEER2" "$TOPO_DIR/ping.log" ping -n -D -c 1 -i 0.1 -W 1 -w "$DEADLINE" 10.77.0.3 ||
    error "ping did not start"
topo_wait pinger "$((DEADLINE + 5))" || true
stamp=$(sed -n 's/^\[\([0-9.]*\)\] .*bytes from.*/\1/p' "$TOPO_DIR/ping.log" | head -n 1)
if [[ -z $stamp ]]; then
    result no-path - - - - "client 2 -> client 3: no ping within ${DEADLINE}s"
    topo_dump_logs 10
    nat_stop_all
    exit 0
fi
t_ping=$(since "$t0" "$stamp")
# Client 3 and the server offer each other their LAN addresses (sealed candidates): their path
# goes direct over the LAN; client 2 stays relayed. Each path as the status names it at the end.
kind() { tun_status "$1" | jq -r '.peers[0].path_kind // .peers[0].path // "?"'; }
wait_for "tun_status 3 | jq -e '.peers[0].path_kind == \"direct-lan\"'" "${NATM_DIRECT_WAIT:-8}" || true
p2=$(kind 2)
p3=$(kind 3)
ok=1
tun_ping 3 10.77.0.2 || ok=0
tun_ping 2 10.77.0.1 || ok=0
tun_ping 3 10.77.0.1 || ok=0
if ((ok == 0)); then
    result connected "client 2 $p2, client 3 $p3" "$t_ping" n/a "pings FAILED" "not every member reaches every other"
elif r=$(tun_transfer 2 3 "$MB"); then
    read -r _mb secs <<<"$r"
    result connected "client 2 $p2, client 3 $p3" "$t_ping" n/a "${MB} MB ok ${secs}s" "client 2 -> client 3 through the server"
else
    result connected "client 2 $p2, client 3 $p3" "$t_ping" n/a "${MB} MB FAILED" "client 2 -> client 3"
    topo_dump_logs 8
fi
nat_stop_all
exit 0
