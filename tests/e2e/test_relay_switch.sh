#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A path switch keeps a running transfer intact (issue 13): a sealed server and client behind two
# port-restricted NATs, the direct path between the routers blocked by an nft rule on the
# server's router, holepuncherd relaying. A paced, sha256-checked TCP transfer starts relayed;
# the block lifts mid-transfer (the peers go direct), comes back (they go back to the relay);
# the transfer completes intact, both daemons log each path change with its reason, and
# `ruphinctl status` shows the path at each stage.
#
#   hp 203.0.113.10 (holepuncherd, relay on)
#   nat1 203.0.113.1 (port-restricted; the block: UDP to/from 203.0.113.2) -- peer1 server
#   nat2 203.0.113.2 (port-restricted) -- peer2 client
set -u
TOPO_PREFIX=rsw$$
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nat_lib.sh
. "$(dirname "$0")/nat_lib.sh"
# shellcheck source-path=SCRIPTDIR source=tun_lib.sh
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin holepuncherd ruphin-tund ruphinctl
e2e_require_cmd ip nft socat sha256sum jq dd
topo_trap

# The daemon's default MTU, which leaves room for the relay header on a 1500-byte path.
TUN_MTU=1340
CHUNKS=${RSW_CHUNKS:-150} # 128 KiB each, one every 0.1 s: ~19 MiB over 15 s or more
NAT1=$(topo_ns nat 1)

block() {
    topo__do ip netns exec "$NAT1" nft -f - <<'NFT'
table inet rswblock {
    chain pre {
        type filter hook prerouting priority -300; policy accept;
        ip saddr 203.0.113.2 meta l4proto udp drop
        ip daddr 203.0.113.2 meta l4proto udp drop
    }
}
NFT
}
unblock() { topo__do ip netns exec "$NAT1" nft delete table inet rswblock; }

# path K: peer K's path to its (first) peer in its status.
path() { tun_status "$1" 2>/dev/null | jq -r '.peers[0].path // "none"'; }
# path_lines K WHAT: how many "path WHAT" lines peer K logged.
path_lines() { grep -c " path $2" "$TOPO_DIR/peer$1.log"; }

nat_up || e2e_die "test bed: hp"
nat_site 1 port-restricted || e2e_die "test bed: server site"
nat_site 2 port-restricted || e2e_die "test bed: client site"
nat_ready || e2e_die "test bed: a host cannot reach hp"
block || e2e_die "nft block on nat1"

tun_start_hpd_relay || e2e_die "holepuncherd with the relay did not start"
tun_start_peer 1 server || e2e_die "server did not start"
wait_for "tun_status 1 | jq -e '.holepuncher.state == \"registered\"'" 10 || e2e_die "server not registered"
t0=$EPOCHREALTIME
tun_start_peer 2 client || e2e_die "client did not start"

# 1. Direct blocked: connected through the relay, within a second or so.
e2e_check "direct blocked: the client comes up (through the relay)" tun_wait_up 2 1 10
e2e_info "client up $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s after its start"
e2e_check "direct blocked: a ping crosses" tun_ping 2 10.77.0.1 1
e2e_check "direct blocked: a full-MTU ping (1340 - 28 bytes, DF) crosses the relay" \
    ip netns exec "$(topo_ns peer 2)" ping -c 1 -W 2 -M do -s 1312 10.77.0.1
e2e_check "status (client): path relayed" test "$(path 2)" = relayed
e2e_check "status (server): path relayed" test "$(path 1)" = relayed
e2e_check "status: relay_endpoint is the server's endpoint as holepuncherd sees it" \
    test "$(tun_status 2 | jq -r '.peers[0].relay_endpoint')" = "$(tun_status 2 | jq -r '.peers[0].endpoint')"
# rtt_measured K: peer K's status is there and has a round-trip time (jq -e alone passes on no
# input, which a bash -c with a quoted $1 gave it before).
# shellcheck disable=SC2317 # called through e2e_check
rtt_measured() {
    local st
    st=$(tun_status "$1" 2>/dev/null) && [[ -n $st ]] && jq -e '.peers[0].rtt_ms > 0' <<<"$st" >/dev/null
}
e2e_check "status: a round-trip time measured at the handshake (client)" rtt_measured 2
e2e_check "status: a round-trip time measured at the handshake (server)" rtt_measured 1
e2e_check "client log: path relayed, no direct answer" grep -q 'path relayed (through holepuncher .*): no direct answer' "$TOPO_DIR/peer2.log"
"$RUPHIN_BIN/ruphinctl" -s "$TOPO_DIR/peer2.sock" status 2>&1 | sed -n '/^peer:/,/^  state:/p' | sed 's/^/  status: /'
e2e_check "ruphinctl status (text) says relayed" \
    bash -c "'$RUPHIN_BIN/ruphinctl' -s '$TOPO_DIR/peer2.sock' status | grep -q 'path: relayed through the holepuncher'"

# 2. A paced transfer, relayed at first.
head -c "$((CHUNKS * 128 * 1024))" /dev/urandom >"$TOPO_DIR/blob"
want=$(sha256sum <"$TOPO_DIR/blob" | cut -d' ' -f1)
topo_spawn sink "$(topo_ns peer 1)" "$TOPO_DIR/sink.log" socat -u TCP-LISTEN:5001,reuseaddr "OPEN:$TOPO_DIR/received,creat,trunc" ||
    e2e_die "sink"
wait_for "ip netns exec $(topo_ns peer 1) ss -ltn | grep -q ':5001 '" 5 || e2e_die "sink did not listen"
cat >"$TOPO_DIR/send.sh" <<SH
for ((i = 0; i < $CHUNKS; i++)); do
    dd if="$TOPO_DIR/blob" bs=128K skip=\$i count=1 status=none
    sleep 0.1
done | socat -u STDIN TCP:10.77.0.1:5001,connect-timeout=5
SH
topo_spawn sender "$(topo_ns peer 2)" "$TOPO_DIR/sender.log" bash "$TOPO_DIR/send.sh" || e2e_die "sender"
sleep 2 # a part of the transfer goes relayed (the test's pacing, not a check)
e2e_check "transfer running, relayed" test "$(path 2)" = relayed
# Relayed TCP leaves the client in GSO trains (a relayed datagram fits the path at this MTU),
# and holepuncherd forwards them as trains (its stop line, checked at the end).
e2e_check "relayed: the client sends GSO trains" \
    bash -c "test \"\$('$RUPHIN_BIN/ruphinctl' -s '$TOPO_DIR/peer2.sock' status --json | jq '.offload.gso_sends')\" -gt 0"

# 3. The block lifts: both go direct (the background attempt every 2 s).
unblock || e2e_die "unblock"
t1=$EPOCHREALTIME
e2e_check "block lifted: the client goes direct" wait_for "[ \"\$(path 2)\" = direct ]" 15
e2e_check "block lifted: the server goes direct" wait_for "[ \"\$(path 1)\" = direct ]" 15
e2e_info "direct $(awk -v a="$t1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s after the block lifted"
e2e_check "client log: path direct, authenticated datagram arrived directly" \
    grep -q 'path direct: authenticated datagram arrived directly' "$TOPO_DIR/peer2.log"
e2e_check "transfer still running when direct" topo_alive sender

# 4. Direct dies again: back to the relay under traffic.
block || e2e_die "block again"
t2=$EPOCHREALTIME
e2e_check "blocked again: the client is relayed" wait_for "[ \"\$(path 2)\" = relayed ]" 15
e2e_check "blocked again: the server is relayed" wait_for "[ \"\$(path 1)\" = relayed ]" 15
e2e_info "relayed again $(awk -v a="$t2" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s after the block"
e2e_check "client logged two relayed paths" test "$(path_lines 2 relayed)" -ge 2
e2e_check "server logged direct and relayed again" \
    test "$(path_lines 1 direct)" -ge 1 -a "$(path_lines 1 relayed)" -ge 2
e2e_check "transfer still running after the second switch" topo_alive sender

# 5. The transfer completes intact.
e2e_check "the transfer completes" topo_wait sender 120
topo_wait sink 30 || true
topo_kill sink
got=$(sha256sum <"$TOPO_DIR/received" | cut -d' ' -f1)
e2e_check "sha256 of $((CHUNKS / 8)) MiB across two path switches matches" test "$got" = "$want"
e2e_check "the tunnel kept its peer (no down line)" bash -c "! grep -q ' down: ' '$TOPO_DIR/peer2.log'"
grep -h ' path ' "$TOPO_DIR/peer1.log" "$TOPO_DIR/peer2.log" | sed 's/^/  log: /'
topo_kill hpd
e2e_info "holepuncherd: $(grep -o '(gso_sends [^)]*)' "$TOPO_DIR/hpd.log" | tail -n 1)"
e2e_check "holepuncherd forwarded relayed trains as GSO sends" \
    bash -c "grep -o '(gso_sends [0-9]*' '$TOPO_DIR/hpd.log' | tail -n 1 | grep -qv 'gso_sends 0$'"
e2e_finish
