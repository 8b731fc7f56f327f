#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# holepuncherd's relay (issue 13, phase 1): two members of one sealed session (signed Register
# and Join, past the cookie check) exchange RelayData through holepuncherd; nothing else gets
# anything forwarded; the relay is off until the config turns it on (SIGHUP); the stop line's
# counters match what was sent.
#
#   NS_HP   eth0 198.51.100.1/24 (holepuncherd) --+
#   NS_M    eth0 198.51.100.11 and .12 (members) --+-- bridge br0 in NS_PUB
#   NS_X    eth0 198.51.100.13 (non-member; may  --+
#           send with a member's address: IP_TRANSPARENT, ARP from its own address)
set -u
TOPO_PREFIX=relayhp$$
. "$(dirname "$0")/lib.sh"
e2e_require_root
e2e_require_bin holepuncherd relay_member
topo_trap

NS_M=${TOPO_PREFIX}peer1
NS_X=${TOPO_PREFIX}peer2
HP=198.51.100.1:7700
A=198.51.100.11:40001
B=198.51.100.12:40002
X=198.51.100.13:40003
SEED=7
COUNT=200
SIZE=1259 # RelayData bytes: a 1200-byte sealed datagram behind the 59-byte relay header
RM=$RUPHIN_BIN/relay_member
hpd_log=
conf=

bed() {
    topo__dir || return 1
    topo__addns "$NS_PUB" || return 1
    topo__do ip -n "$NS_PUB" link add br0 type bridge || return 1
    topo__do ip -n "$NS_PUB" link set br0 up || return 1
    local ns port
    for ns in "$NS_HP" "$NS_M" "$NS_X"; do
        port=p${ns#"$TOPO_PREFIX"}
        topo__addns "$ns" || return 1
        topo__veth "$ns" eth0 "$NS_PUB" "$port" || return 1
        topo__do ip -n "$NS_PUB" link set "$port" master br0 || return 1
    done
    topo__do ip -n "$NS_HP" addr add 198.51.100.1/24 dev eth0 || return 1
    topo__do ip -n "$NS_M" addr add 198.51.100.11/24 dev eth0 || return 1
    topo__do ip -n "$NS_M" addr add 198.51.100.12/24 dev eth0 || return 1
    topo__do ip -n "$NS_X" addr add 198.51.100.13/24 dev eth0 || return 1
    # X may send from a member's address, and never announces that address by ARP (which
    # would steer holepuncherd's answers to X: that is not the spoofing this test is about).
    topo_run "$NS_X" sysctl -qw net.ipv4.conf.all.arp_announce=2 || return 1
    topo_run "$NS_X" sysctl -qw net.ipv4.conf.eth0.arp_announce=2
}

# write_conf ENABLED: holepuncherd's config with the relay on (true) or off (false).
write_conf() {
    cat >"$conf" <<JSON
{"listen": ["$HP"], "session_ttl": 60, "log_level": "info",
 "relay": {"enabled": $1, "max_sessions": 10, "max_kbps_per_session": 100000}}
JSON
}

kv() { grep -o "\b$1=[0-9]*" <<<"$2" | tail -1 | cut -d= -f2; }
# stop_kv KEY: a counter from the relay's stop line ("KEY N").
stop_kv() { grep 'stopped on SIGTERM: relay' "$hpd_log" | grep -o "$1 [0-9][0-9]*" | head -1 | cut -d' ' -f2; }

bed || e2e_die "test bed"
conf=$TOPO_DIR/hpd.json
hpd_log=$TOPO_DIR/hpd.log
write_conf false
topo_spawn hpd "$NS_HP" "$hpd_log" "$RUPHIN_BIN/holepuncherd" -c "$conf" || e2e_die "holepuncherd"
wait_for "grep -q 'listening on' '$hpd_log'" 10 || e2e_die "holepuncherd did not listen"
e2e_check "the relay is off by default and says so" grep -q 'relay off' "$hpd_log"

# ---------------------------------------------------------------- off: nothing is relayed
out=$(topo_run "$NS_M" "$RM" pair "$HP" "$A" "$B" "$SEED" 20 "$SIZE" 0) || e2e_fail "pair (relay off)"
e2e_info "relay off: $(tail -1 <<<"$out")"
if [[ $(kv a_to_b "$out") == 0 && $(kv b_to_a "$out") == 0 ]]; then
    e2e_pass "with the relay off, members' RelayData is not forwarded"
else
    e2e_fail "with the relay off something was forwarded: $out"
fi

# ---------------------------------------------------------------- on after SIGHUP
write_conf true
kill -HUP "$(topo_pid hpd)"
wait_for "grep -q 'reloaded config.*relay on' '$hpd_log'" 10 || e2e_fail "SIGHUP did not turn the relay on"

# The members listen 6 s after their exchange; meanwhile X sends as a non-member and as A.
topo_spawn pair "$NS_M" "$TOPO_DIR/pair.out" "$RM" pair "$HP" "$A" "$B" "$SEED" "$COUNT" "$SIZE" 6000 ||
    e2e_die "pair"
wait_for "grep -q ready '$TOPO_DIR/pair.out'" 30 || e2e_die "the members never finished their exchange"
x1=$(topo_run "$NS_X" "$RM" send "$HP" "$X" "$B" "$SEED" 50 "$SIZE")
x2=$(topo_run "$NS_X" "$RM" send "$HP" 198.51.100.11:40001 "$B" "$SEED" 50 "$SIZE")
x3=$(topo_run "$NS_X" "$RM" send "$HP" 198.51.100.12:40002 "$A" "$SEED" 50 "$SIZE")
e2e_info "non-member: $x1; spoofed as A: $x2; spoofed as B: $x3"
topo_wait pair 20 || e2e_fail "the members' tool failed"
out=$(tail -1 "$TOPO_DIR/pair.out")
e2e_info "relay on: $out"
ab=$(kv a_to_b "$out")
ba=$(kv b_to_a "$out")
# Loss on a local bridge is not expected; allow a little rather than flake.
if ((${ab:-0} >= COUNT * 95 / 100 && ${ba:-0} >= COUNT * 95 / 100)); then
    e2e_pass "members' RelayData crosses both ways ($ab and $ba of $COUNT)"
else
    e2e_fail "members' RelayData did not cross: $out"
fi
e2e_check "every forwarded datagram arrived as large as sent, from holepuncherd, with the sender's endpoint and its payload intact" \
    test "$(kv bad "$out")" = 0
e2e_check "nothing reached the members from a non-member or a spoofed member ($(kv late "$out") datagrams)" \
    test "$(kv late "$out")" = 0

# ---------------------------------------------------------------- bulk: GRO in, GSO out
# The members send in UDP GSO trains of 32, as a busy tunnel's traffic reaches holepuncherd
# (the kernel hands each over as one GRO train); the relay forwards each train in place and
# sends it on as one GSO send.
GCOUNT=640
out=$(topo_run "$NS_M" "$RM" pair "$HP" "$A" "$B" "$SEED" "$GCOUNT" "$SIZE" 0 32) || e2e_fail "pair (trains)"
out=$(tail -1 <<<"$out")
e2e_info "trains: $out"
gab=$(kv a_to_b "$out")
gba=$(kv b_to_a "$out")
if ((${gab:-0} >= GCOUNT * 95 / 100 && ${gba:-0} >= GCOUNT * 95 / 100)); then
    e2e_pass "trains of RelayData cross both ways ($gab and $gba of $GCOUNT)"
else
    e2e_fail "trains of RelayData did not cross: $out"
fi
e2e_check "every datagram of the trains arrived intact" test "$(kv bad "$out")" = 0

# ---------------------------------------------------------------- the stop line
topo_kill hpd
wait_for "grep -q 'stopped on SIGTERM: relay' '$hpd_log'" 10 || e2e_die "no relay stop line"
e2e_info "$(grep 'stopped on SIGTERM: relay' "$hpd_log")"
relayed=$(stop_kv relayed)
bytes=$(grep 'stopped on SIGTERM: relay' "$hpd_log" | grep -o 'datagrams, [0-9]* bytes' | grep -o '[0-9]*')
total=$((ab + ba + gab + gba))
e2e_check "the stop line counts what crossed: relayed $relayed = $ab + $ba + $gab + $gba" test "$relayed" = $total
e2e_check "... and its bytes: $bytes = $total x $SIZE" test "$bytes" = $((total * SIZE))
gro=$(stop_kv 'received')
gso=$(stop_kv gso_sends)
gsod=$(stop_kv carrying)
e2e_check "trains came in as GRO trains ($gro) and left as GSO sends ($gso carrying $gsod datagrams)" \
    test "${gro:-0}" -gt 0 -a "${gso:-0}" -gt 0 -a "${gsod:-0}" -gt $((2 * ${gso:-0} - 1))
e2e_check "... 40 dropped while the relay was off" test "$(stop_kv disabled)" = 40
e2e_check "... 150 from non-members (one of them real, two spoofed)" test "$(stop_kv not_member)" = 150
e2e_check "... one session relayed" test "$(stop_kv sessions_started)" = 1
e2e_finish
