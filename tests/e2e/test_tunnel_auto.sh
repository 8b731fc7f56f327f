#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Automatic addresses and member names: three clients with no "address" get distinct addresses
# from the server's prefix, keep them across a client restart and a server restart, and reach
# each other; a duplicate name gets a suffix, logged on both sides; a fixed address that is
# assigned to another member is refused naming both; `ruphinctl members` lists everyone; a
# corrupt member table stops the server with the file named.
set -u
TOPO_PREFIX=auto$$
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin holepuncherd ruphin-tund ruphinctl
topo_trap
topo_up 3 || e2e_die "test bed"
export TUN_SEAL=1

# auto_config ID IFNAME NAME [ADDRESS]: a client config without "address" (or with ADDRESS).
auto_config() {
    local id=$1 ifn=$2 name=$3 addr=${4:-}
    [[ -n $addr ]] && addr=", \"address\": \"$addr\""
    cat >"$TOPO_DIR/$id.json" <<JSON
{"holepuncher": "$HP_IP:7700", "session": "$TUN_SESSION", "role": "client", "name": "$name",
 "interface": {"name": "$ifn", "mtu": 1400$addr},
 "keepalive_interval": $TUN_KEEPALIVE, "peer_timeout": $TUN_PEER_TIMEOUT, "seal": $(tun_seal_json)$(tun_state_json "$id"),
 "control_socket": "$TOPO_DIR/$id.sock", "log_level": "$TUN_LOG_LEVEL"}
JSON
}
# run ID NS LOG: start ruphin-tund with ID's config, log to LOG.
run() { topo_spawn "$1" "$2" "$TOPO_DIR/$3" "$RUPHIN_BIN/ruphin-tund" -c "$TOPO_DIR/$1.json"; }
st() { "$RUPHIN_BIN/ruphinctl" -s "$TOPO_DIR/$1.sock" status --json 2>/dev/null; }
# addr ID: the overlay IPv4 address ID shows as its own ("" before one is assigned).
addr() { st "$1" | python3 -c 'import json,sys; a=json.load(sys.stdin).get("address"); print(a.split("/")[0] if a else "")' 2>/dev/null; }
addr6() { st "$1" | python3 -c 'import json,sys; a=json.load(sys.stdin).get("address6"); print(a.split("/")[0] if a else "")' 2>/dev/null; }
# ping_from NS ADDR [SOURCE]
ping_from() { topo_run "$1" ping -q -c 3 -i 0.2 -W 2 ${3:+-I "$3"} "$2" >/dev/null 2>&1; }
# desk (rph0) and laptop-2 (rph1) share a namespace and a prefix: each one's packets leave
# through its own device (run again after a restart made a device anew).
route_ns3() {
    topo_run "$NS_PEER3" ip rule show | grep -q "from $A3 lookup 103" ||
        topo_run "$NS_PEER3" ip rule add from "$A3" table 103
    topo_run "$NS_PEER3" ip rule show | grep -q "from $A4 lookup 104" ||
        topo_run "$NS_PEER3" ip rule add from "$A4" table 104
    topo_run "$NS_PEER3" ip route replace 10.77.0.0/24 dev rph0 table 103
    topo_run "$NS_PEER3" ip route replace 10.77.0.0/24 dev rph1 table 104
}

tun_start_hpd || e2e_die "holepuncherd did not start"
tun_write_peer_config 1 server "$TOPO_DIR/peer1.json" ', "name": "hq"'
tun_start_peer 1 server || e2e_die "server did not start"
auto_config c2 rph0 laptop
auto_config c3 rph0 desk
auto_config c4 rph1 laptop # a second "laptop": gets a suffix
run c2 "$NS_PEER2" c2.log && run c3 "$NS_PEER3" c3.log && run c4 "$NS_PEER3" c4.log || e2e_die "clients did not start"

t0=$(date +%s.%N)
for c in c2 c3 c4; do
    wait_for "[ -n \"\$(addr $c)\" ]" 15 || e2e_fail "$c got no address"
done
t1=$(date +%s.%N)
A2=$(addr c2) A3=$(addr c3) A4=$(addr c4)
e2e_info "assigned: laptop $A2, desk $A3, laptop-2 $A4 (all within $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s)"
e2e_check "three clients without \"address\" got addresses from 10.77.0.0/24" \
    bash -c "[[ '$A2' == 10.77.0.* && '$A3' == 10.77.0.* && '$A4' == 10.77.0.* ]]"
e2e_check "the addresses are distinct and none is the server's" \
    bash -c "[[ \$(printf '%s\n' '$A2' '$A3' '$A4' 10.77.0.1 | sort -u | wc -l) == 4 ]]"
A6=$(addr6 c2)
e2e_check "and IPv6 from the server's fd77::/64 ($A6)" bash -c "[[ '$A6' == fd77::* && '$A6' != fd77::1 ]]"
e2e_check "the client's interface carries the assigned address" \
    bash -c "ip -n $NS_PEER2 addr show rph0 | grep -q 'inet $A2/24'"

route_ns3
wait_for "tun_peers_up 1 | grep -q 3" 10 || e2e_fail "server does not see three clients up"
wait_for "st peer1 | grep -q '\"overlay\":\"$A4\"'" 10 || e2e_fail "server never accepted $A4"
e2e_check "laptop -> server (10.77.0.1)" ping_from "$NS_PEER2" 10.77.0.1
e2e_check "server -> laptop ($A2)" ping_from "$NS_PEER1" "$A2"
e2e_check "laptop -> desk ($A3) (members: direct, or through the server)" ping_from "$NS_PEER2" "$A3"
e2e_check "desk -> laptop ($A2)" ping_from "$NS_PEER3" "$A2" "$A3"
e2e_check "laptop -> laptop-2 ($A4)" ping_from "$NS_PEER2" "$A4"
e2e_check "laptop -> desk over IPv6 ($(addr6 c3))" ping_from "$NS_PEER2" "$(addr6 c3)"

# The duplicate name: suffixed by the server, logged on both sides.
e2e_check "server logs the duplicate name and the suffix" \
    grep -q 'asks for name "laptop", which another member has; it is "laptop-2"' "$TOPO_DIR/peer1.log"
e2e_check "the second laptop logs the name it got" \
    grep -q 'the server named this member "laptop-2": "laptop" is taken' "$TOPO_DIR/c4.log"
has_name() { st c4 | grep -q '"name":"laptop-2","name_asked":"laptop"'; }
e2e_check "its status says name laptop-2, asked laptop" has_name

# ruphinctl members: the server knows everyone, a client at least itself and the server.
m=$("$RUPHIN_BIN/ruphinctl" -s "$TOPO_DIR/peer1.sock" members)
printf '%s\n' "$m" | sed 's/^/    /' >&"$E2E_OUT"
e2e_check "members on the server lists hq, laptop, desk, laptop-2 with their addresses" bash -c "
    grep -q '^hq .*10.77.0.1' <<<'$m' && grep -q '^laptop .*$A2' <<<'$m' &&
    grep -q '^desk .*$A3' <<<'$m' && grep -q '^laptop-2 .*$A4' <<<'$m'"
mj=$("$RUPHIN_BIN/ruphinctl" -s "$TOPO_DIR/c2.sock" members --json)
e2e_check "members --json on a client: itself and the server hq, with node keys" python3 -c "
import json,sys
m = json.loads(sys.argv[1])['members']
assert m[0]['self'] and m[0]['name'] == 'laptop' and m[0]['addresses'][0] == '$A2', m[0]
s = [x for x in m if x['name'] == 'hq'][0]
assert s['addresses'][0] == '10.77.0.1' and len(s['public_key']) == 44 and s['state'] == 'up', s
assert 'last_seen_ago_s' in s and 'rtt_ms' in s
" "$mj"

# The server lists the other members to each client (tag 0x06): a client knows them all, those
# the mesh introduced with their endpoints, the others as listed (via the server).
mc() { "$RUPHIN_BIN/ruphinctl" -s "$TOPO_DIR/c2.sock" members; }
wait_for "mc | grep -q '^desk  *client  *$A3'" 10
m=$(mc)
printf '%s\n' "$m" | sed 's/^/    /' >&"$E2E_OUT"
e2e_check "members on a client also lists desk and laptop-2, once each" bash -c "
    [[ \$(grep -c '^desk  *client  *$A3' <<<'$m') == 1 && \$(grep -c '^laptop-2  *client  *$A4' <<<'$m') == 1 ]]"

# A client restart keeps its address (the server keeps it per node key).
topo_kill c2
run c2 "$NS_PEER2" c2-restart.log || e2e_die "c2 did not restart"
wait_for "[ -n \"\$(addr c2)\" ]" 15
e2e_check "laptop restarted keeps $A2 (got $(addr c2))" test "$(addr c2)" == "$A2"
e2e_check "and reaches desk again" ping_from "$NS_PEER2" "$A3"

# A server restart keeps every assignment (STATE_DIR/members).
e2e_check "the server's member table holds three nodes" \
    bash -c "[[ \$(grep -c '^[A-Za-z0-9+/=]\{44\} ' '$TOPO_DIR/state-peer1/members') == 3 ]]"
topo_kill peer1
topo_spawn peer1 "$NS_PEER1" "$TOPO_DIR/peer1-restart.log" "$RUPHIN_BIN/ruphin-tund" -c "$TOPO_DIR/peer1.json" ||
    e2e_die "server did not restart"
wait_for "grep -q '3 nodes remembered' '$TOPO_DIR/peer1-restart.log'" 5 &&
    e2e_pass "the restarted server loads its member table" || e2e_fail "no member table loaded"
wait_for "tun_peers_up 1 | grep -q 3" 15 || e2e_fail "clients did not come back"
# A fresh client restart after the server restart: the address comes from the file.
topo_kill c3
run c3 "$NS_PEER3" c3-restart.log || e2e_die "c3 did not restart"
wait_for "[ -n \"\$(addr c3)\" ]" 15
route_ns3
e2e_check "desk, restarted after the server, keeps $A3 (got $(addr c3))" test "$(addr c3)" == "$A3"
e2e_check "laptop kept $A2 across the server restart" test "$(addr c2)" == "$A2"
e2e_check "no address changed" bash -c "! grep -q '(changed)' '$TOPO_DIR'/c*.log"
wait_for "ping_from '$NS_PEER2' '$A3'" 10 && e2e_pass "laptop -> desk after both restarts" ||
    e2e_fail "laptop -> desk after both restarts"

# A fixed address that is assigned to another member: refused, naming both members.
auto_config c5 rph9 thief "$A3/24"
run c5 "$NS_PEER2" c5.log || e2e_die "c5 did not start"
wait_for "grep -q 'assigned to member \"desk\"' '$(topo_log peer1)'" 15 &&
    e2e_pass "server refuses thief's fixed $A3: assigned to member desk" ||
    e2e_fail "server did not refuse the fixed address"
e2e_check "server log names both members" \
    grep -q "\"thief\" announced $A3, which is assigned to member \"desk\"" "$(topo_log peer1)"
wait_for "grep -q 'assigned to another member (member \"desk\")' '$TOPO_DIR/c5.log'" 10 &&
    e2e_pass "the thief is told why, naming desk" || e2e_fail "the client was not told"
refused() { st c5 | grep -q '"state":"refused"'; }
e2e_check "the thief's status shows refused" refused
e2e_check "desk keeps its address" ping_from "$NS_PEER1" "$A3"
topo_kill c5

# A corrupt member table stops the server's start with the file and line named, exit 1.
topo_kill peer1
printf 'not a member line\n' >>"$TOPO_DIR/state-peer1/members"
topo_spawn peer1 "$NS_PEER1" "$TOPO_DIR/peer1-corrupt.log" "$RUPHIN_BIN/ruphin-tund" -c "$TOPO_DIR/peer1.json"
topo_wait peer1 10
rc=$?
e2e_check "a corrupt member table: the server exits 1 (got $rc)" test "$rc" -eq 1
e2e_check "naming the file, the line and the problem" grep -q \
    "member table $TOPO_DIR/state-peer1/members: corrupt, line [0-9]*: \"not\" is not a node key; fix or move it away" "$TOPO_DIR/peer1-corrupt.log"

# A server whose prefix has room for one client (10.88.0.0/30: .1 is the server's, .2 free):
# the three running clients come to it; one gets 10.88.0.2 in place of its old address, the
# others none, the server says the prefix is used up, and a client that got none says so.
sed -e 's|10.77.0.1/24|10.88.0.1/30|' -e 's|"address6": "fd77::1/64", ||' -e 's|state-peer1|state-small|' \
    "$TOPO_DIR/peer1.json" >"$TOPO_DIR/small.json"
sed -i 's|peer1.sock|small.sock|' "$TOPO_DIR/small.json"
# The same node key: holepuncherd lets only the session's own server back in at once.
install -d -m 0700 "$TOPO_DIR/state-small" && install -m 0600 "$TOPO_DIR/state-peer1/node.key" "$TOPO_DIR/state-small/"
topo_spawn small "$NS_PEER1" "$TOPO_DIR/small.log" "$RUPHIN_BIN/ruphin-tund" -c "$TOPO_DIR/small.json" ||
    e2e_die "the small server did not start"
wait_for "grep -q 'no free IPv4 address left in the server.s prefix (10.88.0.1/30)' '$TOPO_DIR/small.log'" 20 &&
    e2e_pass "the small server logs its used-up prefix" || e2e_fail "no exhaustion line"
winners=0
for c in c2 c3 c4; do [[ $(addr "$c") == 10.88.0.2 ]] && winners=$((winners + 1)) && w=$c; done
e2e_check "exactly one client got 10.88.0.2 ($winners: ${w:-none})" test "$winners" -eq 1
e2e_check "it logs the changed address" grep -q 'the server assigned overlay address 10.88.0.2/30 (changed)' "$TOPO_DIR"/c*.log
wait_for "grep -q 'answered none of 4 requests for an overlay address' $TOPO_DIR/c*.log" 20 &&
    e2e_pass "a client left without an address says why it may be" || e2e_fail "no client warned"
topo_kill small
e2e_finish
