#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# DNS on the LAN: a server and two clients with automatic addresses, each with "dns":
# {"domain": "office.lan.arpa"}, answer NAME.office.lan.arpa for every member (A and AAAA, UDP
# and TCP) on their overlay addresses: dig in each namespace asks its own member's responder and
# another member's across the tunnel; getent hosts resolves through the namespace's own
# resolv.conf (/etc/netns/NS/resolv.conf, which `ip netns exec` bind-mounts). An unknown name is
# NXDOMAIN, a name outside the domain REFUSED with no recursion; after a client restart its
# responder answers again; an idle TCP connection is closed after 10 s. No systemd-resolved in
# the namespaces: the daemon logs the hint line. The server is a hub, so the clients know each
# other from its member list, which names a new member to the others at once (bounded here).
set -u
TOPO_PREFIX=dns$$
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin holepuncherd ruphin-tund ruphinctl
e2e_require_cmd dig getent
topo_trap
topo_up 3 || e2e_die "test bed"
export TUN_SEAL=1
DOMAIN=office.lan.arpa

# The namespaces' resolv.conf files go with the namespaces, whatever ends the test.
dns_on_exit() {
    local rc=$?
    rm -rf "/etc/netns/$NS_PEER1" "/etc/netns/$NS_PEER2" "/etc/netns/$NS_PEER3"
    (exit "$rc")
    topo__on_exit
}
trap dns_on_exit EXIT

# auto_config ID NAME: a client without "address", answering names.
auto_config() {
    cat >"$TOPO_DIR/$1.json" <<JSON
{"holepuncher": "$HP_IP:7700", "session": "$TUN_SESSION", "role": "client", "name": "$2",
 "interface": {"name": "rph0", "mtu": 1400},
 "keepalive_interval": $TUN_KEEPALIVE, "peer_timeout": $TUN_PEER_TIMEOUT, "seal": $(tun_seal_json)$(tun_state_json "$1"),
 "control_socket": "$TOPO_DIR/$1.sock", "log_level": "$TUN_LOG_LEVEL", "dns": {"domain": "$DOMAIN"}}
JSON
}
run() { topo_spawn "$1" "$2" "$TOPO_DIR/$1.log" "$RUPHIN_BIN/ruphin-tund" -c "$TOPO_DIR/$1.json"; }
st() { "$RUPHIN_BIN/ruphinctl" -s "$TOPO_DIR/$1.sock" status --json 2>/dev/null; }
addr() { st "$1" | python3 -c 'import json,sys; a=json.load(sys.stdin).get("address"); print(a.split("/")[0] if a else "")' 2>/dev/null; }
addr6() { st "$1" | python3 -c 'import json,sys; a=json.load(sys.stdin).get("address6"); print(a.split("/")[0] if a else "")' 2>/dev/null; }
# q NS SERVER NAME TYPE [DIG OPTIONS]: the answer's addresses, one a line (dig +short).
q() {
    local ns=$1 server=$2 name=$3 type=$4
    shift 4
    topo_run "$ns" dig +time=2 +tries=2 +short "$@" @"$server" "$name" "$type" 2>/dev/null
}
# full NS SERVER NAME TYPE: dig's whole output (status, flags).
full() { topo_run "$1" dig +time=2 +tries=2 @"$2" "$3" "$4" 2>/dev/null; }

tun_start_hpd || e2e_die "holepuncherd did not start"
# A hub ("mesh": false): a client knows the other only from the server's list (tag 0x06), not
# from an introduction (tag 0x09, which names members too).
tun_write_peer_config 1 server "$TOPO_DIR/peer1.json" ", \"name\": \"hq\", \"mesh\": false, \"dns\": {\"domain\": \"$DOMAIN\"}"
tun_start_peer 1 server || e2e_die "server did not start"
auto_config c2 laptop
auto_config c3 desk
# desk starts once laptop is settled (its address accepted: it repeats to the server only every
# minute now), so that laptop can learn of desk only from the server's push.
run c2 "$NS_PEER2" || e2e_die "laptop did not start"
wait_for "grep -q 'server accepted overlay address' '$TOPO_DIR/c2.log'" 15 ||
    e2e_fail "laptop's address was not accepted"
run c3 "$NS_PEER3" || e2e_die "desk did not start"
for c in c2 c3; do
    wait_for "[ -n \"\$(addr $c)\" ]" 15 || e2e_fail "$c got no address"
done
A1=10.77.0.1 A2=$(addr c2) A3=$(addr c3) S6=fd77::1 L6=$(addr6 c2) D6=$(addr6 c3)
e2e_info "hq $A1 $S6, laptop $A2 $L6, desk $A3 $D6"
wait_for "tun_peers_up 1 | grep -q 2" 10 || e2e_fail "server does not see two clients up"

e2e_check "the server answers on its overlay addresses" \
    grep -q "dns: answering for \*.$DOMAIN on $A1 port 53 (UDP and TCP)" "$TOPO_DIR/peer1.log"
e2e_check "a client answers once its automatic address is assigned" \
    grep -q "dns: answering for \*.$DOMAIN on $A2 port 53" "$TOPO_DIR/c2.log"
e2e_check "without systemd-resolved the daemon logs what to configure" \
    grep -q "add \"server=/$DOMAIN/$A2\" to dnsmasq" "$TOPO_DIR/c2.log"

# Each member's own responder knows every member: itself, the server, the other client (listed
# by the server, tag 0x06). The server lists a member to the others as soon as its name and
# address are taken, not at their next repeat (a minute, sealed): seconds after desk's address.
tl=$(date +%s%N)
wait_for "[ \"\$(q $NS_PEER2 $A2 desk.$DOMAIN A)\" = '$A3' ]" 15
listed_ms=$((($(date +%s%N) - tl) / 1000000))
e2e_info "laptop resolved desk ${listed_ms} ms after desk had its address"
e2e_check "a new member is listed to the others at once (within 5 s, not the minute's repeat)" \
    test "$listed_ms" -lt 5000
t0=$(date +%s%N)
e2e_check "laptop's responder: desk.$DOMAIN A is $A3" test "$(q "$NS_PEER2" "$A2" "desk.$DOMAIN" A)" = "$A3"
t1=$(date +%s%N)
e2e_info "one UDP query answered in $(((t1 - t0) / 1000000)) ms (dig included)"
e2e_check "laptop's responder: desk.$DOMAIN AAAA is $D6" test "$(q "$NS_PEER2" "$A2" "desk.$DOMAIN" AAAA)" = "$D6"
e2e_check "laptop's responder: hq.$DOMAIN A is $A1" test "$(q "$NS_PEER2" "$A2" "hq.$DOMAIN" A)" = "$A1"
e2e_check "laptop's responder: laptop.$DOMAIN (itself) is $A2" test "$(q "$NS_PEER2" "$A2" "laptop.$DOMAIN" A)" = "$A2"
e2e_check "the same over TCP" test "$(q "$NS_PEER2" "$A2" "desk.$DOMAIN" A +tcp)" = "$A3"
e2e_check "and over IPv6 to [$L6], AAAA over TCP" test "$(q "$NS_PEER2" "$L6" "hq.$DOMAIN" AAAA +tcp)" = "$S6"
e2e_check "names are case-insensitive (DeSk.OFFICE.lan.arpa.)" test "$(q "$NS_PEER2" "$A2" "DeSk.OFFICE.lan.arpa." A)" = "$A3"
wait_for "[ \"\$(q $NS_PEER3 $A3 laptop.$DOMAIN A)\" = '$A2' ]" 15
e2e_check "desk's responder: laptop.$DOMAIN A is $A2" test "$(q "$NS_PEER3" "$A3" "laptop.$DOMAIN" A)" = "$A2"
e2e_check "the server's responder: laptop.$DOMAIN A is $A2" test "$(q "$NS_PEER1" "$A1" "laptop.$DOMAIN" A)" = "$A2"
e2e_check "the server's responder: desk.$DOMAIN AAAA is $D6 (TCP)" test "$(q "$NS_PEER1" "$A1" "desk.$DOMAIN" AAAA +tcp)" = "$D6"
e2e_check "desk asks laptop's responder across the tunnel: hq is $A1" \
    test "$(q "$NS_PEER3" "$A2" "hq.$DOMAIN" A)" = "$A1"

out=$(full "$NS_PEER2" "$A2" "nobody.$DOMAIN" A)
e2e_check "an unknown name in the domain is NXDOMAIN, authoritative" \
    bash -c "grep -q 'status: NXDOMAIN' <<<'$out' && grep -q 'flags: qr aa rd;' <<<'$out'"
out=$(full "$NS_PEER2" "$A2" example.org A)
e2e_check "a name outside the domain is REFUSED, recursion not available" \
    bash -c "grep -q 'status: REFUSED' <<<'$out' && ! grep -q 'flags:.* ra' <<<'$out'"
out=$(full "$NS_PEER2" "$A2" "desk.$DOMAIN" MX)
e2e_check "another type of a known name: NOERROR, no answer" \
    bash -c "grep -q 'status: NOERROR' <<<'$out' && grep -q 'ANSWER: 0,' <<<'$out'"

# ruphinctl status shows the responder and counts what it answered.
stj=$(st c2)
e2e_check "status --json: dns listens on $A2 and $L6, queries counted" python3 -c "
import json,sys
d = json.loads(sys.argv[1])['dns']
assert d['domain'] == '$DOMAIN' and d['listening'] == ['$A2', '$L6'] and d['port'] == 53, d
assert d['queries'] >= 8, d
" "$stj"
e2e_check "ruphinctl status prints the dns line" bash -c \
    "'$RUPHIN_BIN/ruphinctl' -s '$TOPO_DIR/c2.sock' status | grep -q '^  dns: \*.$DOMAIN on $A2, $L6 port 53, [0-9]* queries answered'"

# A TCP connection that asks nothing is closed after the idle timeout (10 s): the client reads
# EOF. Measured from connect to EOF, bounded by a generous 30 s.
idle_ms=$(topo_run "$NS_PEER2" timeout 30 bash -c "exec 3<>/dev/tcp/$A2/53 || exit 1
    t0=\$(date +%s%N); cat <&3 >/dev/null; echo \$(((\$(date +%s%N) - t0) / 1000000))")
e2e_info "an idle TCP connection was closed after ${idle_ms:-?} ms"
e2e_check "an idle TCP connection is closed after 10 s (${idle_ms:-none} ms)" \
    bash -c "[[ -n '$idle_ms' ]] && ((${idle_ms:-0} >= 9500 && ${idle_ms:-0} <= 15000))"

# getent through the C library's resolver, with the namespace's own resolv.conf.
for k in 1 2 3; do
    ns_var=NS_PEER$k
    mkdir -p "/etc/netns/${!ns_var}"
done
printf 'nameserver %s\noptions timeout:2 attempts:2\n' "$A1" >"/etc/netns/$NS_PEER1/resolv.conf"
printf 'nameserver %s\noptions timeout:2 attempts:2\n' "$A2" >"/etc/netns/$NS_PEER2/resolv.conf"
printf 'nameserver %s\noptions timeout:2 attempts:2\n' "$A3" >"/etc/netns/$NS_PEER3/resolv.conf"
# getent hosts asks for IPv6 first: desk's AAAA.
g=$(topo_run "$NS_PEER2" getent hosts "desk.$DOMAIN")
e2e_check "getent hosts desk.$DOMAIN on laptop: $g" bash -c "grep -Eq '^($D6|$A3) +desk.$DOMAIN' <<<'$g'"
g=$(topo_run "$NS_PEER2" getent ahostsv4 "hq.$DOMAIN" | head -1)
e2e_check "getent ahostsv4 hq.$DOMAIN on laptop: $g" bash -c "grep -q '^$A1 ' <<<'$g'"
g=$(topo_run "$NS_PEER3" getent hosts "laptop.$DOMAIN")
e2e_check "getent hosts laptop.$DOMAIN on desk: $g" bash -c "grep -Eq '^($L6|$A2) ' <<<'$g'"
g=$(topo_run "$NS_PEER1" getent ahostsv4 "desk.$DOMAIN" | head -1)
e2e_check "getent ahostsv4 desk.$DOMAIN on the server: $g" bash -c "grep -q '^$A3 ' <<<'$g'"
e2e_check "getent hosts nobody.$DOMAIN fails (NXDOMAIN)" bash -c "! ip netns exec $NS_PEER2 getent hosts nobody.$DOMAIN"
e2e_check "ping laptop.$DOMAIN from desk, by name" \
    bash -c "ip netns exec $NS_PEER3 ping -4 -q -c 2 -i 0.2 -W 2 laptop.$DOMAIN >/dev/null"

# A client restart: it keeps its address, binds its responder again and knows the others.
topo_kill c2
run c2 "$NS_PEER2" || e2e_die "laptop did not restart"
wait_for "[ \"\$(addr c2)\" = '$A2' ]" 15 || e2e_fail "laptop did not get $A2 back"
wait_for "[ \"\$(q $NS_PEER2 $A2 desk.$DOMAIN A)\" = '$A3' ]" 15
e2e_check "after laptop's restart its responder answers desk.$DOMAIN again" \
    test "$(q "$NS_PEER2" "$A2" "desk.$DOMAIN" A +tcp)" = "$A3"
# Laptop's goodbye made the server tell desk it left; its new session's name puts it back.
wait_for "[ \"\$(q $NS_PEER3 $A3 laptop.$DOMAIN A)\" = '$A2' ]" 15
e2e_check "and desk still resolves laptop.$DOMAIN ($A2)" \
    test "$(topo_run "$NS_PEER3" getent ahostsv4 "laptop.$DOMAIN" | awk 'NR == 1 {print $1}')" = "$A2"

# A member that leaves is forgotten at once: desk stops (its goodbye reaches the server, which
# tells laptop), and laptop's responder stops answering desk within seconds, not at the end of
# its listing window (three sealed repeats, three minutes).
left_start=$(date +%s%N)
topo_kill c3
if wait_for "[ -z \"\$(q $NS_PEER2 $A2 desk.$DOMAIN A)\" ]" 10; then
    left_ms=$((($(date +%s%N) - left_start) / 1000000))
    e2e_pass "desk stopped: laptop no longer resolves desk.$DOMAIN, ${left_ms} ms later (bound 5 s)"
    e2e_check "... within 5 s" test "$left_ms" -lt 5000
else
    e2e_fail "desk stopped: laptop still resolves desk.$DOMAIN 10 s later"
fi
e2e_check "laptop logged that desk left" grep -q 'member "desk".* left the session' "$TOPO_DIR/c2.log"
e2e_check "and still resolves hq.$DOMAIN" test "$(q "$NS_PEER2" "$A2" "hq.$DOMAIN" A)" = "$A1"
e2e_check "no daemon logged an error" bash -c "! grep -h ' error ' '$TOPO_DIR'/peer1.log '$TOPO_DIR'/c2.log '$TOPO_DIR'/c3.log"
e2e_finish
