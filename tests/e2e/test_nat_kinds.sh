#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves nat_lib.sh's NAT kinds behave as named (what hp sees, what gets in, per-destination ports,
# no hairpin needed on one LAN) and that nfq_delay adds the uplink delay asked for without loss.
set -u
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nat_lib.sh
. "$(dirname "$0")/nat_lib.sh"
e2e_require_root
e2e_require_bin nfq_delay
e2e_require_cmd ip nft iptables ip6tables ping socat timeout
topo_trap

ECHO=3478 # hp's "what is my address" echo; ECHO+1 a second one (another destination)

# echo_start NAME PORT [6]: a UDP echo on hp answering with the sender's address (socat prints an
# IPv6 one in full: 2001:0db8:0000:...).
echo_start() {
    local addr=UDP4-RECVFROM:$2,fork
    [[ ${3:-4} == 6 ]] && addr=UDP6-RECVFROM:$2,ipv6only=1,fork
    # shellcheck disable=SC2016 # $SOCAT_PEER* are expanded by socat's shell
    topo_spawn "$1" "$NS_HP" "$TOPO_DIR/$1.log" \
        socat -T 2 "$addr" SYSTEM:'read -r _x; echo "$SOCAT_PEERADDR:$SOCAT_PEERPORT"'
    wait_for "topo_run $NS_HP ss -Hlun sport = :$2 | grep -q ." 5
}

# ask K HOST PORT LPORT: from peer K's local port LPORT, the address the echo at HOST:PORT saw.
ask() {
    local dst="UDP-DATAGRAM:$2:$3,bind=0.0.0.0:$4"
    [[ $2 == *:* ]] && dst="UDP6-DATAGRAM:[$2]:$3,bind=[::]:$4"
    echo "who am i" | timeout 5 ip netns exec "$(topo_ns peer "$1")" \
        socat -t 1 - "$dst" 2>/dev/null | head -n 1 | sed 's/^\[\(.*\)\]:/\1:/'
}

# rtt NS DST COUNT: "loss% min avg" of COUNT pings, 20 ms apart.
rtt() {
    ip netns exec "$1" ping -n -q -c "$3" -i 0.02 -W 2 "$2" 2>/dev/null |
        awk -F'[ /,%]+' '/packet loss/ { for (i = 1; i < NF; i++) if ($(i + 1) == "packet") l = $i }
                          /^rtt/ { print l, $7, $8 }'
}

# check_delay NS DST WANT_MS MSG: 200 pings, none lost, each at least WANT_MS late, at most 30 ms more.
check_delay() {
    local r loss min avg
    r=$(rtt "$1" "$2" 200)
    read -r loss min avg <<<"$r"
    if [[ $loss == 0 ]] && awk -v m="$min" -v a="$avg" -v w="$3" 'BEGIN { exit !(m >= w && a < w + 30) }'; then
        e2e_pass "$4: 200 pings, none lost, rtt min $min avg $avg ms"
    else
        e2e_fail "$4: wanted no loss and rtt >= $3 ms, got loss ${loss:-?}% min ${min:-?} avg ${avg:-?} ms"
    fi
}

# ---- bed A: port-restricted with a second host on its LAN, a public host, an IPv6 site
nat_up || e2e_die "bed A: hp"
nat_site 1 port-restricted || e2e_die "bed A: port-restricted site"
nat_join 1 4 || e2e_die "bed A: a second host behind the same router"
nat_site 2 public || e2e_die "bed A: public host"
nat_site 3 ipv6 || e2e_die "bed A: IPv6 site"
nat_ready || e2e_die "bed A: hosts cannot reach hp"
e2e_pass "bed A: port-restricted (2 hosts), public, ipv6"
echo_start echo "$ECHO" || e2e_die "echo on hp"
echo_start echo6 "$ECHO" 6 || e2e_die "IPv6 echo on hp"

got=$(ask 2 "$HP_IP" "$ECHO" 40002)
e2e_check "public: hp sees the host's own address ($got)" test "$got" = "203.0.113.22:40002"
topo_spawn inbound "$NS_PEER2" "$TOPO_DIR/inbound.log" socat -u UDP-RECV:40012 OPEN:"$TOPO_DIR/inbound",creat
wait_for "topo_run $NS_PEER2 ss -Hlun sport = :40012 | grep -q ." 5
echo hello | topo_run "$NS_HP" socat -u - UDP-SENDTO:203.0.113.22:40012
e2e_check "public: unsolicited UDP from hp arrives" wait_for "grep -q hello '$TOPO_DIR/inbound'" 5

got=$(ask 3 "$HP_IP6" "$ECHO" 40003)
e2e_check "ipv6: hp sees the host's global address, untranslated ($got)" test "$got" = "2001:0db8:0003:0000:0000:0000:0000:0002:40003"
topo_spawn inbound6 "$(topo_ns peer 3)" "$TOPO_DIR/inbound6.log" socat -u UDP6-RECV:40013 OPEN:"$TOPO_DIR/inbound6",creat
wait_for "topo_run $(topo_ns peer 3) ss -Hlun sport = :40013 | grep -q ." 5
echo hello | topo_run "$NS_HP" socat -u - "UDP6-SENDTO:[2001:db8:3::2]:40013"
# shellcheck disable=SC2317 # called through wait_for
dropped() { ip netns exec "$NS_NAT3" nft list ruleset | grep -q 'packets [1-9][0-9]* .*"unsolicited inbound"'; }
e2e_check "ipv6: the firewall drops unsolicited inbound UDP" wait_for dropped 5
e2e_check "ipv6: ... and it never arrives" test ! -s "$TOPO_DIR/inbound6"

got=$(ask 4 "$HP_IP" "$ECHO" 40004)
e2e_check "same router: hp sees the second host masqueraded ($got)" test "$got" = "203.0.113.1:40004"
e2e_check "same router: the two hosts reach each other on the LAN" \
    bash -c "ip netns exec $(topo_ns peer 4) ping -c 2 -i 0.2 -W 1 -q 192.168.101.2 >/dev/null"

nat_delay 1 20 0 || e2e_die "delay on nat1"
nat_delay 2 10 10 || e2e_die "delay on the public host"
nat_delay 3 5 15 || e2e_die "delay on the IPv6 router"
check_delay "$NS_PEER1" "$HP_IP" 20 "delay: 20 ms out of the port-restricted router, 0 in"
# The public host holds its own packets: seen from hp, since ping stamps a reply when it arrives.
check_delay "$NS_HP" 203.0.113.22 20 "delay: 10 ms each way on the public host"
check_delay "$(topo_ns peer 3)" "$HP_IP6" 20 "delay: 5 ms out of and 15 ms into the IPv6 router"
e2e_check "nfq_delay dropped nothing" bash -c "! grep -q 'dropped' $TOPO_DIR/delay*_*.log"
topo_kill delay1_out
e2e_check "nfq_delay stops cleanly on SIGTERM" grep -q "stop on .*: accepted=[1-9][0-9]* dropped=0" "$TOPO_DIR/delay1_out.log"
nat_down

# ---- bed B: symmetric, carrier-grade NAT in front of a home NAT, conntrack race
nat_up || e2e_die "bed B: hp"
nat_site 1 symmetric || e2e_die "bed B: symmetric site"
nat_site 2 carrier || e2e_die "bed B: carrier site"
nat_site 3 conntrack-race || e2e_die "bed B: conntrack-race site"
nat_ready || e2e_die "bed B: hosts cannot reach hp"
e2e_pass "bed B: symmetric, carrier, conntrack-race"
echo_start echo "$ECHO" || e2e_die "echo on hp"
echo_start echo2 $((ECHO + 1)) || e2e_die "second echo on hp"

a=$(ask 1 "$HP_IP" "$ECHO" 40001)
b=$(ask 1 "$HP_IP" $((ECHO + 1)) 40001)
e2e_check "symmetric: one local port, two destinations, two public ports ($a, $b)" \
    test -n "$a" -a -n "$b" -a "${a%:*}" = 203.0.113.1 -a "$a" != "$b"
got=$(ask 2 "$HP_IP" "$ECHO" 40002)
e2e_check "carrier: hp sees the carrier's address, the port kept through both NATs ($got)" test "$got" = "203.0.113.6:40002"
e2e_check "carrier: the home router's uplink is in 100.64.0.0/10" bash -c "ip -n $NS_NAT2 -4 addr show wan | grep -q 'inet 100.64.2.2/24'"
got=$(ask 3 "$HP_IP" "$ECHO" 40003)
e2e_check "conntrack race: masqueraded, port kept ($got)" test "$got" = "203.0.113.3:40003"
e2e_check "conntrack race: no drop of unsolicited UDP on the router" bash -c "! ip netns exec $NS_NAT3 nft list ruleset | grep -q 'unsolicited udp'"
nat_down

# ---- bed C: dual stack (IPv4 NAT and stateful IPv6 firewall on one router), two sites
nat_up || e2e_die "bed C: hp"
nat_site 1 symmetric+v6 || e2e_die "bed C: symmetric+v6 site"
nat_site 2 port-restricted+v6 || e2e_die "bed C: port-restricted+v6 site"
nat_ready || e2e_die "bed C: hosts cannot reach hp over both families"
e2e_pass "bed C: symmetric+v6, port-restricted+v6"
echo_start echo "$ECHO" || e2e_die "echo on hp"
echo_start echo2 $((ECHO + 1)) || e2e_die "second echo on hp"
echo_start echo6 "$ECHO" 6 || e2e_die "IPv6 echo on hp"

a=$(ask 1 "$HP_IP" "$ECHO" 40001)
b=$(ask 1 "$HP_IP" $((ECHO + 1)) 40001)
e2e_check "symmetric+v6: IPv4 is still symmetric ($a, $b)" \
    test -n "$a" -a -n "$b" -a "${a%:*}" = 203.0.113.1 -a "$a" != "$b"
got=$(ask 1 "$HP_IP6" "$ECHO" 40001)
e2e_check "symmetric+v6: IPv6 leaves untranslated ($got)" test "$got" = "2001:0db8:0001:0000:0000:0000:0000:0002:40001"
topo_spawn inbound6 "$NS_PEER1" "$TOPO_DIR/inbound6.log" socat -u UDP6-RECV:40011 OPEN:"$TOPO_DIR/inbound6",creat
wait_for "topo_run $NS_PEER1 ss -Hlun sport = :40011 | grep -q ." 5
echo hello | topo_run "$NS_HP" socat -u - "UDP6-SENDTO:[2001:db8:1::2]:40011"
# shellcheck disable=SC2317 # called through wait_for
dropped1() { ip netns exec "$NS_NAT1" nft list ruleset | grep -q 'packets [1-9][0-9]* .*"unsolicited inbound"'; }
e2e_check "symmetric+v6: the firewall drops unsolicited inbound IPv6" wait_for dropped1 5
e2e_check "symmetric+v6: ... and it never arrives" test ! -s "$TOPO_DIR/inbound6"
# The punch IPv6 candidates rely on: peer2's datagram to peer1 is dropped at nat1 but opens
# nat2, so peer1's answer from the port peer2 sent to gets in.
topo_spawn punch6 "$NS_PEER2" "$TOPO_DIR/punch6.log" bash -c \
    "echo first | timeout 8 socat -t 6 - 'UDP6-DATAGRAM:[2001:db8:1::2]:40021,bind=[::]:40022' >'$TOPO_DIR/punch6'"
wait_for "topo_run $NS_PEER2 ss -Hlun sport = :40022 | grep -q ." 5
wait_for "ip netns exec $NS_NAT2 conntrack -L -f ipv6 -p udp --dport 40021 2>/dev/null | grep -q 40022" 5 ||
    e2e_fail "dual stack: peer2's first datagram made no conntrack entry on nat2"
echo second | topo_run "$NS_PEER1" socat -u - "UDP6-SENDTO:[2001:db8:2::2]:40022,sourceport=40021"
e2e_check "dual stack: both sides' datagrams open both IPv6 firewalls (the second crosses)" \
    wait_for "grep -q second '$TOPO_DIR/punch6'" 5
e2e_finish
