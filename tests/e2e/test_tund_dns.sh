#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A holepuncher host name that does not resolve at start (no network, no resolver yet at boot)
# is retried with backoff, each failure logged, instead of exiting 2 like a config error: the
# tunnel comes up once the name resolves; SIGTERM while waiting stops cleanly; --check warns.
# The name lives in a hosts file bind-mounted over /etc/hosts in a private mount namespace,
# with a resolv.conf naming 127.0.0.1 inside the peer's network namespace (nothing listens
# there): no DNS query ever leaves the test's namespaces.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin ruphin-tund holepuncherd ruphinctl
e2e_require_cmd unshare mount
topo_trap
topo_up 2 || e2e_die "test bed"
D=$TOPO_DIR
tund=$RUPHIN_BIN/ruphin-tund
NAME=hp.ruphin.test # .test: reserved, never a real name

# The system files the resolver reads, private to the test. The hosts file is appended to in
# place (same inode), so the bind mount shows the new line to the running daemon.
printf '127.0.0.1 localhost\n' >"$D/hosts"
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$D/resolv.conf"
printf 'hosts: files dns\n' >"$D/nsswitch.conf"
# The argv prefix that runs a command in a private mount namespace seeing the files above:
# "${PRIV[@]}" CMD... (inside ip netns exec, or topo_spawn's namespace). Every exec keeps the
# PID, so topo_pid is the daemon's.
# shellcheck disable=SC2016 # expanded by the inner sh, with $0 = the test directory
MOUNTS='mount --bind "$0/hosts" /etc/hosts && mount --bind "$0/resolv.conf" /etc/resolv.conf &&
    mount --bind "$0/nsswitch.conf" /etc/nsswitch.conf && exec "$@"'
PRIV=(unshare -m -- sh -c "$MOUNTS" "$D")
# in_ns NS CMD...: CMD in network namespace NS with the private files.
in_ns() {
    local ns=$1
    shift
    ip netns exec "$ns" "${PRIV[@]}" "$@"
}
unresolved() { ! in_ns "$NS_PEER1" getent hosts "$NAME" >/dev/null; }

tun_start_hpd || e2e_die "holepuncherd did not start"
tun_write_peer_config 1 server "$D/peer1.json"
sed -i "s|\"holepuncher\": \"[^\"]*\"|\"holepuncher\": \"$NAME:7700\"|" "$D/peer1.json"

e2e_check "the name does not resolve yet in the test's namespaces" unresolved

in_ns "$NS_PEER1" "$tund" -c "$D/peer1.json" --check >"$D/check.out" 2>"$D/check.err"
rc=$?
e2e_check "--check with a name that does not resolve yet: exit 0 (got $rc)" test "$rc" -eq 0
e2e_check "--check warns that $NAME does not resolve and a start waits" \
    grep -Eq "warn .*\"$NAME:7700\" does not resolve now \(.+\); a start waits for it" "$D/check.err"

# SIGTERM while waiting: a clean stop, the interface removed.
topo_spawn waiter "$NS_PEER2" "$D/waiter.log" "${PRIV[@]}" "$tund" -c "$D/peer1.json"
e2e_check "waiting: the first failure is logged with the resolver's reason and the next retry" \
    wait_for "grep -Eq 'warn .*cannot resolve \"$NAME:7700\": .+; attempt 1 failed, next in 1 s' '$D/waiter.log'" 10
e2e_check "waiting: the interface is up already (the device is checked at once)" \
    bash -c "ip -n $NS_PEER2 link show rph0 >/dev/null"
kill -TERM "$(topo_pid waiter)"
topo_wait waiter 10
rc=$?
e2e_check "SIGTERM while waiting: exit 0 (got $rc)" test "$rc" -eq 0
e2e_check "SIGTERM while waiting: logged, interface removed" \
    bash -c "grep -q 'SIGTERM while waiting for \"$NAME:7700\" to resolve: stopping' '$D/waiter.log' && ! ip -n $NS_PEER2 link show rph0 2>/dev/null"
topo_kill waiter

# The server waits for its holepuncher's name; the client (numeric) is up meanwhile.
topo_spawn peer1 "$NS_PEER1" "$D/peer1.log" "${PRIV[@]}" "$tund" -c "$D/peer1.json"
tun_start_peer 2 client || e2e_die "client did not start"
e2e_check "the server retries with backoff: attempts 1, 2, 3 logged 1 s then 2 s apart" \
    wait_for "grep -q 'attempt 3 failed, next in 4 s' '$D/peer1.log'" 15
e2e_info "$(grep -m1 'attempt 1 failed' "$D/peer1.log")"
e2e_check "the server is still running while it waits (no exit 2)" topo_alive peer1
e2e_check "no tunnel yet" test "$(tun_peers_up 2)" -eq 0

echo "203.0.113.10 $NAME" >>"$D/hosts"
t0=$(date +%s%N)
e2e_check "the name resolves at the next retry (logged with the address)" \
    wait_for "grep -Eq 'info .*\"$NAME:7700\" resolves to 203\.0\.113\.10:7700, after [0-9]+ failed attempts' '$D/peer1.log'" 15
e2e_check "then the tunnel comes up" tun_wait_up 2 1 20
t1=$(date +%s%N)
e2e_info "from the hosts entry to the tunnel up: $(((t1 - t0) / 1000000)) ms (the retry was due within 4 s)"
e2e_check "and carries traffic (ping 10.77.0.1 from the client)" tun_ping 2 10.77.0.1

# A malformed name is still a config error, at once.
sed "s|\"holepuncher\": \"[^\"]*\"|\"holepuncher\": \"hp..ruphin.test:7700\"|" "$D/peer1.json" >"$D/bad.json"
rc=0
in_ns "$NS_PEER2" timeout 10 "$tund" -c "$D/bad.json" --check >/dev/null 2>"$D/bad.err" || rc=$?
e2e_check "a malformed name: exit 2 (got $rc), naming the empty label" \
    bash -c "[ $rc -eq 2 ] && grep -q 'empty label' '$D/bad.err'"

topo_down
e2e_finish
