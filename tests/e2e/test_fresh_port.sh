#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fresh-port retries (issue 14): a sealed server and client, each behind a Linux router without
# the input drop (conntrack-race), with realistic asymmetric latency (the server's uplink 5 ms
# each way, the client's 40 ms, as in test_nat_latency.sh), holepuncherd relaying. The client's
# first (ephemeral) port is 7702: its namespace offers no other until its daemon has bound it.
# Its router drops what the client sends the server from that port, so the first
# direct attempt fails the way a lost race does: the server's punches leave conntrack entries on
# that router, the client's own packets never reach the server, and the pair ends relayed. The
# client must then try from a fresh local port (after 3 s), and that attempt must end direct
# (or the next, 10 s later: timed punches leave some 20 ms each way, which a busy machine eats):
# the server talks to the client's new endpoint, a ping every 0.2 s runs throughout (at most 2
# lost, far less than a rebinding costs), and a sha256-checked transfer goes through.
#
#   hp 203.0.113.10 (holepuncherd, relay on)
#   nat1 203.0.113.1 (conntrack-race, 5 ms)  -- peer1 server
#   nat2 203.0.113.2 (conntrack-race, 40 ms) -- peer2 client, its port 7702 dropped toward nat1
#
# Env: FRP_MB (transfer, default 2).
set -u
TOPO_PREFIX=frp$$
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nat_lib.sh
. "$(dirname "$0")/nat_lib.sh"
# shellcheck source-path=SCRIPTDIR source=tun_lib.sh
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin holepuncherd ruphin-tund ruphinctl nfq_delay
e2e_require_cmd ip nft iptables conntrack socat sha256sum jq ping awk
topo_trap

FIRST_PORT=7702
MB=${FRP_MB:-2}
start=$SECONDS

nat_up || e2e_die "test bed: hp"
nat_site 1 conntrack-race || e2e_die "test bed: server site"
nat_site 2 conntrack-race || e2e_die "test bed: client site"
nat_ready || e2e_die "test bed: a host cannot reach hp"
nat_delay 1 5 || e2e_die "uplink delay of the server's site"
nat_delay 2 40 || e2e_die "uplink delay of the client's site"
# The first attempt fails: the client's packets from its first port to the server die in its
# router's forward chain (before conntrack confirms them), while the server's punches arriving
# there leave conntrack entries, as in a lost race. A fresh port is not matched.
topo__do ip netns exec "$(topo_ns nat 2)" nft insert rule inet rph forward \
    ip daddr 203.0.113.1 udp sport "$FIRST_PORT" counter drop comment '"first port"' ||
    e2e_die "the first port's drop rule"

tun_start_hpd_relay || e2e_die "holepuncherd"
tun_write_peer_config 1 server "$TOPO_DIR/peer1.json"
tun_write_peer_config 2 client "$TOPO_DIR/peer2.json"
tun_start_peer 1 server || e2e_die "server peer did not start"
wait_for "tun_status 1 | jq -e '.holepuncher.state == \"registered\"'" 10 ||
    e2e_die "the server did not register"
# A client with a fixed "port" keeps it (no fresh-port retries): its port is an ephemeral one,
# the only one its namespace offers at its start; later sockets get others.
topo__do ip netns exec "$NS_PEER2" sysctl -qw net.ipv4.ip_local_port_range="$FIRST_PORT $FIRST_PORT" ||
    e2e_die "the client's port range"
t0=$EPOCHREALTIME
tun_start_peer 2 client || e2e_die "client peer did not start"
topo__do ip netns exec "$NS_PEER2" sysctl -qw net.ipv4.ip_local_port_range="20000 29999" ||
    e2e_die "the client's port range"
e2e_check "the client's first port is $FIRST_PORT" \
    test "$(tun_status 2 | jq -r .listen)" = "0.0.0.0:$FIRST_PORT"

# log_time RE: seconds from the client's start to its first log line matching the sed RE.
log_time() {
    local hms stamp
    hms=$(sed -n "s/^\([0-9:.]*\) $1.*/\1/p" "$TOPO_DIR/peer2.log" | head -n 1)
    [[ -n $hms ]] && stamp=$(date -d "$(date -d "@${t0%.*}" +%F) $hms" +%s.%N 2>/dev/null) &&
        awk -v a="$t0" -v b="$stamp" 'BEGIN { printf "%.2f", b - a }'
}

e2e_check "the pair comes up (relayed: the first port's direct path is dropped)" tun_wait_up 2 1 15
# 150 pings, one every 0.2 s: the relayed path, the swap(s), direct, the transfer.
topo_spawn pinger "$NS_PEER2" "$TOPO_DIR/ping.log" ping -n -c 150 -i 0.2 -W 1 10.77.0.1 ||
    e2e_die "ping did not start"
e2e_check "the client goes relayed" wait_for "log_time '.* peer .* path relayed' >/dev/null" 10
e2e_check "the client takes a fresh local port" \
    wait_for "log_time '.* fresh local port [0-9]* (attempt 1 of 3)' >/dev/null" 15
# Timed punches leave a margin of some 20 ms each way here: a busy machine may lose the race
# from the fresh port too, and the second try (10 s later) is allowed to be the one.
e2e_check "a fresh port's attempt ends direct" \
    wait_for "[ \"\$(tun_status 2 | jq -r '.peers[0].path')\" = direct ] && [ \"\$(tun_status 1 | jq -r '.peers[0].path')\" = direct ]" 20
t_rel=$(log_time '.* peer .* path relayed') || t_rel='?'
t_fresh=$(log_time '.* fresh local port [0-9]* (attempt 1 of 3)') || t_fresh='?'
t_direct=$(log_time '.* peer .* path direct') || t_direct='?'
st1=$(tun_status 1)
st2=$(tun_status 2)
tries=$(jq -r '.recovery.fresh_port_retries' <<<"$st2")
# The port of the last try: the one that went direct.
new_port=$(sed -n 's/.* fresh local port \([0-9]*\) (attempt [0-9] of 3).*/\1/p' "$TOPO_DIR/peer2.log" | tail -n 1)
e2e_info "from the client's start: relayed ${t_rel} s, fresh port at ${t_fresh} s, direct ${t_direct} s after try ${tries} (port ${new_port:-?})"

server_sees=$(jq -r '.peers[0].endpoint' <<<"$st1")
e2e_check "the server talks to the client's new port ($server_sees)" \
    test "${server_sees##*:}" = "${new_port:-none}" -a "$new_port" != "$FIRST_PORT"
e2e_check "the client's status listens on the new port" \
    test "$(jq -r .listen <<<"$st2")" = "0.0.0.0:${new_port:-none}"
e2e_check "status: $tries fresh-port retries (1, or 2 when the first lost the race again)" \
    test "$tries" = 1 -o "$tries" = 2
e2e_check "the server keeps one peer (none left at the old port)" \
    test "$(jq '[.peers[]] | length' <<<"$st1")" = 1

if r=$(tun_transfer 2 1 "$MB"); then
    read -r _mb secs <<<"$r"
    e2e_pass "$MB MB transfer, sha256 intact, ${secs} s, path $(tun_status 2 | jq -r '.peers[0].path')"
else
    e2e_fail "$MB MB transfer (sha256 mismatch or it failed)"
fi
e2e_check "still direct after the transfer" \
    test "$(tun_status 2 | jq -r '.peers[0].path')" = direct
e2e_check "no further fresh-port retry once direct" \
    test "$(tun_status 2 | jq -r '.recovery.fresh_port_retries')" = "$tries"

topo_wait pinger 40 || e2e_fail "the pinger did not end"
read -r sent got < <(awk '/packets transmitted/ { print $1, $4 }' "$TOPO_DIR/ping.log")
lost=$((${sent:-0} - ${got:-0}))
e2e_info "ping every 0.2 s from the relayed path through the swap to direct: ${got:-0} of ${sent:-0} answered"
# RelayData leave from the old socket until holepuncherd took the new port: none should be lost
# (a margin of 2 for a busy machine; a rebinding costs about 1.1 s, 5 of these).
e2e_check "pings lost across the swap: $lost (at most 2)" test "${sent:-0}" -gt 0 -a "$lost" -le 2
e2e_info "took $((SECONDS - start)) s"
e2e_finish
