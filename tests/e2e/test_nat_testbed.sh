#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves the e2e test bed behaves like two home NATs: outbound works, unsolicited inbound is dropped, hole punching works.
set -uo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

e2e_require_root
e2e_require_cmd ip nft conntrack socat ping timeout
topo_trap

PORT1=40001    # peer1's fixed local UDP port
PORT2=40002    # peer2's
ECHO_PORT=3478 # hp's "what is my address" echo

# udp_ask NS LPORT: send one datagram from LPORT to hp's echo, print the reply
# (the source address hp saw, i.e. the NAT mapping).
udp_ask() {
    echo "who am i" | timeout 5 ip netns exec "$1" \
        socat -t 1 - "UDP-DATAGRAM:$HP_IP:$ECHO_PORT,bind=0.0.0.0:$2" 2>/dev/null | head -n 1
}

# nft_count NS COMMENT: packets counted by the NAT rule carrying COMMENT.
nft_count() {
    ip netns exec "$1" nft list ruleset 2>/dev/null |
        awk -v c="\"$2\"" 'index($0, c) { for (i = 1; i < NF; i++) if ($i == "packets") { print $(i + 1); exit } }'
}

# sendto NS SPORT DST DPORT TEXT: one datagram, fire and forget.
sendto() {
    echo "$5" | timeout 3 ip netns exec "$1" \
        socat -u - "UDP-SENDTO:$3:$4,sourceport=$2" 2>/dev/null
}

topo_up 2 || e2e_die "topology: could not build hp + 2 NATs + 2 peers"
e2e_pass "topology up: hp $HP_IP, nat1 $NAT1_IP/peer1 $PEER1_IP, nat2 $NAT2_IP/peer2 $PEER2_IP"

# ---- (a) outbound: ping and UDP from behind the NATs reach hp, masqueraded, port kept
# shellcheck disable=SC2317 # called through e2e_check
ping_hp() { topo_run "$NS_PEER1" ping -c 2 -i 0.2 -W 1 -q "$HP_IP" >/dev/null; }
e2e_check "(a) peer1 pings hp" ping_hp

# shellcheck disable=SC2016 # $SOCAT_PEER* are expanded by socat's shell
topo_spawn echo "$NS_HP" "$TOPO_DIR/echo.log" \
    socat -T 2 "UDP-RECVFROM:$ECHO_PORT,fork" SYSTEM:'read -r _x; echo "$SOCAT_PEERADDR:$SOCAT_PEERPORT"'
wait_for "topo_run $NS_HP ss -Hlun sport = :$ECHO_PORT | grep -q ." 5 || e2e_die "hp echo did not start"

MAP1=$(udp_ask "$NS_PEER1" "$PORT1")
MAP2=$(udp_ask "$NS_PEER2" "$PORT2")
e2e_info "public mappings learned from hp: peer1 -> ${MAP1:-none}, peer2 -> ${MAP2:-none}"
if [[ $MAP1 == "$NAT1_IP:$PORT1" ]]; then
    e2e_pass "(a) peer1 -> hp UDP: hp sees $MAP1 (masqueraded to nat1, source port kept)"
else
    e2e_fail "(a) peer1 -> hp UDP: expected hp to see $NAT1_IP:$PORT1, got '${MAP1}'"
fi
if [[ $MAP2 == "$NAT2_IP:$PORT2" ]]; then
    e2e_pass "(a) peer2 -> hp UDP: hp sees $MAP2 (masqueraded to nat2, source port kept)"
else
    e2e_fail "(a) peer2 -> hp UDP: expected hp to see $NAT2_IP:$PORT2, got '${MAP2}'"
fi
topo_kill echo
[[ -n $MAP1 && -n $MAP2 ]] || e2e_die "no public mappings, cannot go on"

# ---- (b) unsolicited inbound never reaches peer1
topo_spawn listen1 "$NS_PEER1" "$TOPO_DIR/listen1.log" socat -u "UDP-RECV:$PORT1" STDOUT
wait_for "topo_run $NS_PEER1 ss -Hlun sport = :$PORT1 | grep -q ." 5 || e2e_die "peer1 listener did not start"
in_drops0=$(nft_count "$NS_NAT1" "unsolicited udp")
fw_drops0=$(nft_count "$NS_NAT1" "unsolicited inbound")

# To nat1's public address: from a port hp was never sent to, to the mapped
# port and to a port with no mapping; and from nat2 itself.
sendto "$NS_HP" 3479 "$NAT1_IP" "$PORT1" "unsolicited: hp:3479 to peer1's mapping"
sendto "$NS_HP" 3479 "$NAT1_IP" 5555 "unsolicited: hp:3479 to an unmapped port"
sendto "$NS_NAT2" 7000 "$NAT1_IP" "$PORT1" "unsolicited: nat2:7000 to peer1's mapping"
# Straight at the private address, as a neighbour on the WAN side could.
topo_run "$NS_HP" ip route add "$LAN1_NET" via "$NAT1_IP"
sendto "$NS_HP" 3479 "$PEER1_IP" "$PORT1" "unsolicited: hp to peer1's private address"
topo_run "$NS_HP" ip route del "$LAN1_NET" via "$NAT1_IP"
# Control: the port peer1 did talk to gets through (the listener works).
sendto "$NS_HP" "$ECHO_PORT" "$NAT1_IP" "$PORT1" "solicited: reply from hp:$ECHO_PORT"

if wait_for "grep -q solicited: '$TOPO_DIR/listen1.log'" 3 &&
    grep -q '^solicited: reply' "$TOPO_DIR/listen1.log"; then
    e2e_pass "(b) control: hp:$ECHO_PORT (which peer1 talked to) still reaches peer1 through the mapping"
else
    e2e_fail "(b) control: hp:$ECHO_PORT's datagram did not reach peer1 (mapping or listener broken)"
fi
sleep 0.3
topo_kill listen1
if grep -q '^unsolicited' "$TOPO_DIR/listen1.log"; then
    e2e_fail "(b) unsolicited UDP reached peer1: $(grep '^unsolicited' "$TOPO_DIR/listen1.log" | tr '\n' ';')"
else
    e2e_pass "(b) unsolicited UDP (hp from another port, nat2, hp to the private address) never reached peer1"
fi
in_drops=$(($(nft_count "$NS_NAT1" "unsolicited udp") - in_drops0))
fw_drops=$(($(nft_count "$NS_NAT1" "unsolicited inbound") - fw_drops0))
if ((in_drops >= 3 && fw_drops >= 1)); then
    e2e_pass "(b) nat1 dropped them itself: $in_drops at input (new UDP on wan), $fw_drops at forward"
else
    e2e_fail "(b) nat1 drop counters: expected >=3 at input and >=1 at forward, got $in_drops and $fw_drops"
fi

# ---- (c) simultaneous open: each peer sends to the other's public mapping
# peer1 starts first, so its first packets hit nat2 before nat2 has a mapping
# and are dropped there; once peer2 sends, both holes are open.
punch() { # punch NAME NS LPORT DST_IP DST_PORT
    # shellcheck disable=SC2016 # the inner script expands its own arguments
    topo_spawn "$1" "$2" "$TOPO_DIR/$1.log" bash -c '
        for i in $(seq 1 15); do echo "punch from $0 #$i"; sleep 0.2; done |
            socat -t 1 - "UDP-DATAGRAM:$2:$3,bind=0.0.0.0:$1"' "$1" "$3" "$4" "$5"
}
nat2_early0=$(nft_count "$NS_NAT2" "unsolicited udp")
punch peer1 "$NS_PEER1" "$PORT1" "${MAP2%:*}" "${MAP2##*:}"
sleep 0.5
punch peer2 "$NS_PEER2" "$PORT2" "${MAP1%:*}" "${MAP1##*:}"
topo_wait peer1 10 || e2e_fail "(c) peer1's punching socat failed or hung (rc $?)"
topo_wait peer2 10 || e2e_fail "(c) peer2's punching socat failed or hung (rc $?)"
got1=$(grep -c '^punch from peer2' "$TOPO_DIR/peer1.log")
got2=$(grep -c '^punch from peer1' "$TOPO_DIR/peer2.log")
nat2_early=$(($(nft_count "$NS_NAT2" "unsolicited udp") - nat2_early0))
e2e_info "peer1 got $got1 datagrams from peer2, peer2 got $got2 from peer1; nat2 dropped $nat2_early early punches"
if ((got1 > 0 && got2 > 0)); then
    e2e_pass "(c) simultaneous open: peer1 ($MAP1) and peer2 ($MAP2) hear each other across both NATs"
else
    e2e_fail "(c) simultaneous open: peer1 got $got1, peer2 got $got2 datagrams from the other"
    topo_run "$NS_NAT1" conntrack -L -p udp 2>/dev/null | sed 's/^/  nat1: /'
    topo_run "$NS_NAT2" conntrack -L -p udp 2>/dev/null | sed 's/^/  nat2: /'
fi
if ((nat2_early > 0)); then
    e2e_pass "(c) peer1's early punches were dropped at nat2's input, and punching still worked"
else
    e2e_fail "(c) expected nat2 to drop peer1's early punches (counter did not move)"
fi
# The mapping is endpoint independent: same public port towards hp and towards the peer.
ct=$(topo_run "$NS_NAT1" conntrack -L -p udp --orig-src "$PEER1_IP" --orig-dst "${MAP2%:*}" 2>/dev/null)
if [[ $ct == *"sport=$PORT1 dport=${MAP2##*:} "*"src=${MAP2%:*} dst=$NAT1_IP sport=${MAP2##*:} dport=${MAP1##*:} "* ]]; then
    e2e_pass "(c) nat1 kept the same public port ${MAP1##*:} towards peer2 as towards hp"
else
    e2e_fail "(c) nat1's conntrack entry towards peer2 is not the expected mapping: ${ct:-none}"
fi

# ---- (d) the input rule is what makes (c) work: without it (nat2 in "clash"
# mode) peer1's early punch leaves a conntrack entry on nat2 itself, peer2's
# own packet then clashes with it and is sent from another port.
topo_nat_mode 2 clash || e2e_die "could not switch nat2 to clash mode"
punch peer1d "$NS_PEER1" 40011 "$NAT2_IP" 40012
sleep 0.5
punch peer2d "$NS_PEER2" 40012 "$NAT1_IP" 40011
topo_wait peer1d 10 || e2e_fail "(d) peer1's punching socat failed or hung"
topo_wait peer2d 10 || e2e_fail "(d) peer2's punching socat failed or hung"
got=$(($(grep -c '^punch from' "$TOPO_DIR/peer1d.log") + $(grep -c '^punch from' "$TOPO_DIR/peer2d.log")))
ct=$(topo_run "$NS_NAT2" conntrack -L -p udp --orig-src "$PEER2_IP" 2>/dev/null | grep -o 'dport=[0-9]* mark' | head -n 1)
remapped=${ct//[!0-9]/}
if ((got == 0)) && [[ -n $remapped && $remapped != 40012 ]]; then
    e2e_pass "(d) without the input drop rule punching fails as expected: nat2 sent peer2's 40012 out as $remapped"
else
    e2e_fail "(d) nat2 in clash mode: expected failure with a remapped port, got $got datagrams through, public port '${remapped}'"
fi
topo_nat_mode 2 home || e2e_fail "could not restore nat2 to home mode"

e2e_finish
