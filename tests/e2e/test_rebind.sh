#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# NAT rebinding and roaming under a running transfer (issue 14): a sealed server and client
# behind port-restricted NATs, a paced sha256-checked TCP transfer through the tunnel during
# each event, and a ping every 0.1 s that measures the time from the event until the tunnel
# carries data again (bound 2 s). Nobody restarts anything; no peer goes down.
#
#   a. the client's NAT forgets its mapping (conntrack -F on its router)
#   b. the client's NAT gives it a new port (masquerade to :20000-20999, conntrack -F; below
#      the ephemeral ports, which a NAT keeps when they are in the range)
#   c. the same on the server's router (:21000-21999)
#   d. roaming: the client moves behind another router (new public address); the server learns
#      the new endpoint from authenticated datagrams only: captured datagrams replayed from the
#      old address and tampered ones move nothing. (The old address is the one an attacker can
#      use: nat1 still has its mapping; from any other address nat1 drops them unseen.)
#
# RBD_RELAY=1 (by hand) runs it with holepuncherd relaying, as the shipped config does.
#
#   hp 203.0.113.10 (holepuncherd, no relay: the tunnel must come back direct)
#   nat1 203.0.113.1 (port-restricted) -- peer1 server
#   nat2 203.0.113.2 (port-restricted) -- peer2 client (eth0)
#   nat3 203.0.113.3 (port-restricted) -- peer2 client (eth1, used after the roam)
# shellcheck disable=SC2317 # the helpers below run through e2e_check, wait_for and event
set -u
TOPO_PREFIX=rbd$$
# The daemon's defaults (a server re-registers every 10 s): recovery must not wait for them.
TUN_KEEPALIVE=${TUN_KEEPALIVE:-10}
TUN_PEER_TIMEOUT=${TUN_PEER_TIMEOUT:-30}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nat_lib.sh
. "$(dirname "$0")/nat_lib.sh"
# shellcheck source-path=SCRIPTDIR source=tun_lib.sh
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin holepuncherd ruphin-tund ruphinctl rph_attack
e2e_require_cmd ip nft conntrack socat sha256sum jq dd ping awk
topo_trap

BOUND_S=2
CHUNKS=${RBD_CHUNKS:-80} # 64 KiB each, one every 0.1 s: 5 MiB over 8 s or more per event
ATK=$RUPHIN_BIN/rph_attack
NAT3=$(topo_ns nat 3)
PEER2=$(topo_ns peer 2)

nat_up || e2e_die "test bed: hp"
nat_site 1 port-restricted || e2e_die "test bed: server site"
nat_site 2 port-restricted || e2e_die "test bed: client site"
nat_site 3 port-restricted || e2e_die "test bed: the client's second site"
# The client's second link, on nat3's LAN, without an address until it roams there.
topo__veth "$NAT3" m2 "$PEER2" eth1 || e2e_die "test bed: second link"
topo__do ip -n "$NAT3" link set m2 master "$TOPO_NAT_LAN_IF" || e2e_die "test bed: second link"
nat_ready || e2e_die "test bed: a host cannot reach hp"

# RBD_RELAY=1: holepuncherd relays (as the shipped config does); the client may go through the
# relay during an outage, and must be back direct on the new port afterwards.
if [[ ${RBD_RELAY:-0} == 1 ]]; then
    cat >"$TOPO_DIR/hpd.json" <<JSON
{"listen": ["$HP_IP:7700"], "session_ttl": 60, "max_sessions": 100, "log_level": "$TUN_LOG_LEVEL",
 "relay": {"enabled": true}}
JSON
    topo_spawn hpd "$NS_HP" "$TOPO_DIR/hpd.log" "$RUPHIN_BIN/holepuncherd" -c "$TOPO_DIR/hpd.json" ||
        e2e_die "holepuncherd did not start"
    wait_for "grep -q 'listening on' '$TOPO_DIR/hpd.log'" 5 || e2e_die "holepuncherd did not listen"
else
    tun_start_hpd || e2e_die "holepuncherd did not start"
fi
tun_start_peer 1 server || e2e_die "server did not start"
wait_for "tun_status 1 | jq -e '.holepuncher.state == \"registered\"'" 10 || e2e_die "server not registered"
tun_start_peer 2 client || e2e_die "client did not start"
tun_wait_up 2 1 10 || e2e_die "no handshake"
wait_for "tun_ping 2 10.77.0.1 1" 10 || e2e_die "no ping through the new tunnel"
PID1=$(topo_pid peer1) PID2=$(topo_pid peer2) PIDH=$(topo_pid hpd)

# path K: peer K's path to its (first) peer (direct or relayed).
path() { tun_status "$1" 2>/dev/null | jq -r '.peers[0].path // "none"'; }
# endpoint K: where peer K sends to its (first) peer, as its status says.
endpoint() { tun_status "$1" 2>/dev/null | jq -r '.peers[0].endpoint // "none"'; }
port_of() { printf '%s\n' "${1##*:}"; }
in_range() { local p; p=$(port_of "$1"); [[ $p =~ ^[0-9]+$ ]] && ((p >= $2 && p <= $3)); }

head -c "$((CHUNKS * 64 * 1024))" /dev/urandom >"$TOPO_DIR/blob"
WANT=$(sha256sum <"$TOPO_DIR/blob" | cut -d' ' -f1)
cat >"$TOPO_DIR/send.sh" <<SH
for ((i = 0; i < $CHUNKS; i++)); do
    dd if="$TOPO_DIR/blob" bs=64K skip=\$i count=1 status=none
    sleep 0.1
done | socat -u STDIN TCP:10.77.0.1:5001,connect-timeout=5
SH

# xfer_start NAME: the paced transfer client -> server and a stamped ping (-D) beside it.
xfer_start() {
    local line=()
    command -v stdbuf >/dev/null 2>&1 && line=(stdbuf -oL)
    rm -f "$TOPO_DIR/received"
    topo_spawn "sink_$1" "$(topo_ns peer 1)" "$TOPO_DIR/sink_$1.log" \
        socat -u TCP-LISTEN:5001,reuseaddr "OPEN:$TOPO_DIR/received,creat,trunc" || return 1
    wait_for "ip netns exec $(topo_ns peer 1) ss -ltn | grep -q ':5001 '" 5 || return 1
    topo_spawn "send_$1" "$PEER2" "$TOPO_DIR/send_$1.log" bash "$TOPO_DIR/send.sh" || return 1
    topo_spawn "ping_$1" "$PEER2" "$TOPO_DIR/ping_$1.log" "${line[@]}" ping -n -D -i 0.1 -c 600 -W 2 10.77.0.1
}

# back_after LOG T: seconds from T until the first reply to an echo request sent after T (its
# reply time minus its round trip); empty while there is none.
back_after() {
    awk -v t="$2" '/bytes from/ {
        ts = substr($1, 2, length($1) - 2); rtt = 0
        for (i = 1; i <= NF; i++) if ($i ~ /^time=/) { rtt = substr($i, 6) / 1000 }
        if (ts - rtt > t + 0) { printf "%.2f\n", ts - t; exit } }' "$1"
}

# event NAME DESC CMD...: the transfer and the ping running, CMD at a noted time, the outage
# measured and bounded, the transfer completed and checked, no peer down.
event() {
    local name=$1 desc=$2 t got out
    shift 2
    xfer_start "$name" || e2e_die "$desc: transfer did not start"
    wait_for "grep -q 'bytes from' '$TOPO_DIR/ping_$name.log'" 10 || e2e_fail "$desc: no ping before the event"
    sleep 1.5 # a part of the transfer before the event (pacing, not a check)
    # The clock starts once the event is complete (the NAT changed, its table flushed): a ping
    # that crossed while the commands ran would otherwise count as "back".
    "$@" || e2e_fail "$desc: the event itself failed"
    t=$(date +%s.%N)
    if wait_for "[ -n \"\$(back_after '$TOPO_DIR/ping_$name.log' $t)\" ]" 30; then
        out=$(back_after "$TOPO_DIR/ping_$name.log" "$t")
        e2e_check "$desc: the tunnel carries data again $out s after the event (bound $BOUND_S s)" \
            awk -v o="$out" -v b="$BOUND_S" 'BEGIN { exit !(o <= b) }'
        OUTAGES+=("$name $out")
    else
        e2e_fail "$desc: no ping crossed within 30 s of the event"
    fi
    if topo_wait "send_$name" 90; then
        topo_wait "sink_$name" 30 || true
        got=$(sha256sum <"$TOPO_DIR/received" | cut -d' ' -f1)
        e2e_check "$desc: the transfer ($((CHUNKS / 16)) MiB) completes, sha256 intact" test "$got" = "$WANT"
    else
        e2e_fail "$desc: the transfer did not complete within 90 s"
    fi
    topo_kill "sink_$name"
    topo_kill "ping_$name"
    e2e_check "$desc: both ends on the direct path afterwards" \
        wait_for "[ \"\$(path 1) \$(path 2)\" = 'direct direct' ]" 10
}

# The NAT of site K masquerades to ports LO-HI from now on, and forgets its mappings.
new_ports() {
    topo__do ip netns exec "$(topo_ns nat "$1")" nft -f - <<NFT || return 1
flush chain inet rph postrouting
add rule inet rph postrouting oifname "$TOPO_NAT_WAN_IF" meta l4proto udp masquerade to :$2-$3
add rule inet rph postrouting oifname "$TOPO_NAT_WAN_IF" masquerade
NFT
    topo__do ip netns exec "$(topo_ns nat "$1")" conntrack -F
}
flush_nat() { topo__do ip netns exec "$(topo_ns nat "$1")" conntrack -F; }
# roam: the client leaves nat2's LAN for nat3's (another router, another public address).
roam() {
    topo__do ip -n "$PEER2" addr flush dev eth0 &&
        topo__do ip -n "$PEER2" link set eth0 down &&
        topo__do ip -n "$PEER2" addr add 192.168.103.20/24 dev eth1 &&
        topo__do ip -n "$PEER2" route add default via 192.168.103.1
}

OUTAGES=()
ep0=$(endpoint 1)
e2e_info "the server sees the client at $ep0, the client the server at $(endpoint 2)"

# a. The client's NAT forgets its mapping.
event a "a. client NAT conntrack -F" flush_nat 2

# b. The client's NAT gives a new port.
was=$(endpoint 1)
event b "b. client NAT to new ports 20000-20999" new_ports 2 20000 20999
e2e_check "b. the server now sends to the client's new port ($(endpoint 1), was $was)" \
    wait_for "in_range \"\$(endpoint 1)\" 20000 20999" 5

# c. The server's NAT gives a new port.
was=$(endpoint 2)
event c "c. server NAT to new ports 21000-21999" new_ports 1 21000 21999
e2e_check "c. the client now sends to the server's new port ($(endpoint 2), was $was)" \
    wait_for "in_range \"\$(endpoint 2)\" 21000 21999" 5
# Relayed meanwhile (RBD_RELAY=1), holepuncherd learns the new port from relayed datagrams.
if [[ ${RBD_RELAY:-0} != 1 ]]; then
    e2e_check "c. the server registered again at once (recovery.reregisters $(tun_status 1 | jq .recovery.reregisters))" \
        test "$(tun_status 1 | jq .recovery.reregisters)" -ge 1
fi

# d. Roaming. First an observer records the client's Transport datagrams at its old address.
topo_spawn cap "$NS_PUB" "$TOPO_DIR/cap.log" "$ATK" capture -i p1 -o "$TOPO_DIR/tr.bin" \
    -s 203.0.113.2 -d 203.0.113.1 -t 14 -n 10 -w 15 || e2e_die "capture"
wait_for "grep -q ready '$TOPO_DIR/cap.log'" 5 || e2e_die "capture did not start"
tun_ping 2 10.77.0.1 10
topo_wait cap 15 || e2e_die "the observer saw no Transport from the client"
old_ep=$(endpoint 1)
event d "d. client roams behind another router" roam
new_ep=$(endpoint 1)
e2e_check "d. the server learned the client's new address ($old_ep -> $new_ep)" \
    test "${new_ep%:*}" = 203.0.113.3
# Forged datagrams from the old address: genuine ones replayed, tampered ones, garbage.
drop() { tun_status 1 | jq -r ".drops.$1"; }
r0=$(drop replayed) a0=$(drop auth_failed)
topo_run "$NS_PUB" "$ATK" inject -i p1 -f "$TOPO_DIR/tr.bin" -m replay -n 200 -r 2000 >/dev/null ||
    e2e_fail "inject replay"
topo_run "$NS_PUB" "$ATK" inject -i p1 -f "$TOPO_DIR/tr.bin" -m tamper -n 200 -r 2000 >/dev/null ||
    e2e_fail "inject tamper"
e2e_check "d. the server counted the replayed datagrams from the old address" \
    wait_for "[ \$(drop replayed) -ge $((r0 + 200)) ]" 5
e2e_check "d. the server counted the tampered datagrams from the old address" \
    wait_for "[ \$(drop auth_failed) -ge $((a0 + 200)) ]" 5
e2e_check "d. forged datagrams from the old address moved nothing (still $new_ep)" \
    test "$(endpoint 1)" = "$new_ep"
e2e_check "d. the tunnel still works after the forgeries" tun_ping 2 10.77.0.1 1

same_processes() {
    local n pids=("$PID1" "$PID2" "$PIDH") names=(peer1 peer2 hpd) i
    for i in 0 1 2; do
        n=${names[$i]}
        topo_alive "$n" && [[ $(topo_pid "$n") == "${pids[$i]}" ]] || return 1
    done
}
e2e_check "nothing restarted (both daemons and holepuncherd run as the same processes)" same_processes
e2e_check "no peer went down (no \"down\" line in either log)" \
    bash -c "! grep -h ' down: silent' '$TOPO_DIR/peer1.log' '$TOPO_DIR/peer2.log'"
e2e_info "outages (s from the event to the first ping that crossed after it): ${OUTAGES[*]}"
grep -h -e ' moved' -e ' probe' -e ' path ' -e ' down' "$TOPO_DIR/peer1.log" "$TOPO_DIR/peer2.log" | sed 's/^/  log: /'
e2e_finish
