#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ruphin-tund's failures are clear and exit with the documented code: config errors (2, --check
# naming every problem; bad names and automatic addresses where they cannot work, a bad
# "dns"), no CAP_NET_ADMIN, no /dev/net/tun, an interface name clash, a busy control socket
# (1); SIGHUP applies log_level and names each change that needs a restart.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin ruphin-tund
e2e_require_cmd capsh unshare
topo_trap
topo_up 1 || e2e_die "test bed"
D=$TOPO_DIR
tund=$RUPHIN_BIN/ruphin-tund

# expect CODE PATTERN CMD...: CMD exits with CODE and its stderr matches PATTERN.
expect() {
    local code=$1 pat=$2 rc=0
    shift 2
    # Bounded: a daemon that wrongly starts is killed after 10 s and the check fails.
    timeout 10 "$@" >"$D/out" 2>"$D/err" </dev/null || rc=$?
    if [[ $rc -ne $code ]]; then
        echo "exit $rc, want $code; stderr: $(head -c 300 "$D/err")"
        return 1
    fi
    [[ -z $pat ]] || grep -Eq -- "$pat" "$D/err" || { echo "stderr lacks /$pat/: $(head -c 300 "$D/err")"; return 1; }
}

tun_write_peer_config 1 server "$D/good.json"
e2e_check "--check accepts a good config (exit 0)" expect 0 "" "$tund" -c "$D/good.json" --check
e2e_check "--check makes no node key: the state directory is still absent" test ! -e "$D/state-peer1"
# Node keys: "members" holds node public keys only; plaintext has none to admit by.
sed 's|"seal": {|"members": ["10.77.0.2"], "seal": {|' "$D/good.json" >"$D/members.json"
e2e_check "a members entry that is not a key: exit 2 naming \"members\"[0]" \
    expect 2 '"members"\[0\] must be a node public key.*"10\.77\.0\.2"' "$tund" -c "$D/members.json" --check
sed -e 's|"seal": {[^}]*}|"seal": false|' -e 's|"state_dir": "[^"]*",\?||' \
    -e 's|"control_socket"|"members": ["q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80="], "control_socket"|' \
    "$D/good.json" >"$D/plainmembers.json"
e2e_check "plaintext with members: exit 2 naming \"members\" and \"seal\"" \
    expect 2 '"members" needs "seal"' "$tund" -c "$D/plainmembers.json" --check
mkdir -m 0777 "$D/openstate"
sed "s|\"state_dir\": \"[^\"]*\"|\"state_dir\": \"$D/openstate\"|" "$D/good.json" >"$D/openstate.json"
e2e_check "a state_dir others may write: exit 2, 'chmod go-w'" \
    expect 2 '"state_dir": state directory .*chmod go-w' "$tund" -c "$D/openstate.json" --check
sed 's/"mtu": 1400/"mtu": 70000/' "$D/good.json" >"$D/mtu.json"
# Names and automatic addresses (docs/CONFIG.md "name", "interface.address").
sed 's|"session"|"name": "Bad_Name", "session"|' "$D/good.json" >"$D/name.json"
e2e_check "a name that is no DNS label: exit 2 naming \"name\"" \
    expect 2 '"name" must be a DNS label.*"Bad_Name"' "$tund" -c "$D/name.json"
sed -e 's|"role": "server"|"role": "client"|' -e 's|"address": "[^"]*", "address6": "[^"]*", ||' \
    -e 's|"seal": {[^}]*}|"seal": false|' -e 's|"state_dir": "[^"]*",\?||' "$D/good.json" >"$D/autoplain.json"
e2e_check "an automatic address in plaintext: exit 2 naming interface.address and seal" \
    expect 2 '"interface\.address" is automatic.*needs "seal"' "$tund" -c "$D/autoplain.json"
sed -e 's|"address": "[^"]*"|"address": "auto"|' "$D/good.json" >"$D/autoserver.json"
e2e_check "a server with \"address\": \"auto\": exit 2" \
    expect 2 'must be a fixed address on a server' "$tund" -c "$D/autoserver.json"
# "dns" (docs/CONFIG.md): a domain that is no domain name; an automatic address with "user".
sed 's|"session"|"dns": {"domain": "office..lan"}, "session"|' "$D/good.json" >"$D/dnsbad.json"
e2e_check "a dns.domain with an empty label: exit 2 naming \"dns.domain\"" \
    expect 2 '"dns\.domain" "office\.\.lan": each label' "$tund" -c "$D/dnsbad.json" --check
sed -e 's|"role": "server"|"role": "client"|' -e 's|"address": "[^"]*", "address6": "[^"]*", ||' \
    -e 's|"session"|"dns": {"domain": "office.lan.arpa"}, "user": "nobody", "session"|' \
    "$D/good.json" >"$D/dnsuser.json"
e2e_check "dns with \"user\" and an automatic address: exit 2, a fixed address needed" \
    expect 2 '"dns" with "user" needs a fixed "interface\.address"' "$tund" -c "$D/dnsuser.json" --check
e2e_check "mtu 70000: exit 2 naming interface.mtu" expect 2 'interface\.mtu' "$tund" -c "$D/mtu.json"
sed 's/"role": "server"/"role": "boss"/' "$D/good.json" >"$D/role.json"
e2e_check "role \"boss\": exit 2 naming role" expect 2 '"role"' "$tund" -c "$D/role.json"
printf '{"holepuncher": ' >"$D/broken.json"
e2e_check "truncated JSON: exit 2 naming the file" expect 2 "broken.json" "$tund" -c "$D/broken.json"
e2e_check "missing file: exit 2" expect 2 "nosuch.json" "$tund" -c "$D/nosuch.json"
e2e_check "no arguments: usage, exit 2" expect 2 "Usage" "$tund"
sed "s|\"key_file\": \"[^\"]*\"|\"key_file\": \"$D/nokey\"|" "$D/good.json" >"$D/nokey.json"
e2e_check "missing key file: exit 2 naming seal.key_file" expect 2 'seal\.key_file.*No such file' "$tund" -c "$D/nokey.json"
install -m 0644 "$(tun_key)" "$D/open.key"
sed "s|\"key_file\": \"[^\"]*\"|\"key_file\": \"$D/open.key\"|" "$D/good.json" >"$D/open.json"
e2e_check "world-readable key file: exit 2, 'chmod 600'" expect 2 'chmod 600' "$tund" -c "$D/open.json"
# --check runs the resolve step: every problem there is named on the one line.
nohost=$(printf 'a%.0s' {1..64}).invalid # a 64-byte label: refused without asking DNS
sed -e "s|\"holepuncher\": \"[^\"]*\"|\"holepuncher\": \"$nohost:7700\"|" \
    -e "s|\"key_file\": \"[^\"]*\"|\"key_file\": \"$D/nokey\"|" "$D/good.json" >"$D/two.json"
e2e_check "--check names a malformed holepuncher name and a missing key file together" \
    expect 2 'holepuncher.*longer than 63 characters; "seal\.key_file".*No such file' "$tund" -c "$D/two.json" --check
mkdir -p "$D/rel/keys"
install -m 0600 "$(tun_key)" "$D/rel/keys/office.key"
sed 's|"key_file": "[^"]*"|"key_file": "keys/office.key"|' "$D/good.json" >"$D/rel/office.json"
e2e_check "a relative key_file is found beside the config, from any directory" \
    bash -c "cd / && '$tund' -c '$D/rel/office.json' --check >/dev/null"
# The daemon agrees with --check whatever its working directory: relative key_file and
# state_dir are taken from the config's directory when it starts from / as systemd starts it.
sed -e 's|"key_file": "[^"]*"|"key_file": "keys/office.key"|' \
    -e 's|"state_dir": "[^"]*"|"state_dir": "state"|' "$D/good.json" >"$D/rel/daemon.json"
e2e_check "relative key_file and state_dir: --check from / accepts them" \
    bash -c "cd / && '$tund' -c '$D/rel/daemon.json' --check >/dev/null"
topo_spawn relstart "$NS_PEER1" "$D/relstart.log" sh -c "cd / && exec '$tund' -c '$D/rel/daemon.json'"
e2e_check "... and the daemon started from / reads the key and makes its node key in $D/rel/state" \
    wait_for "grep -q 'node public key .* (made now in $D/rel/state/node.key)' '$D/relstart.log' && [ -s '$D/rel/state/node.key' ]" 10
topo_kill relstart
e2e_check "no node key in the working directory's state/" test ! -e /state/node.key
e2e_check "--version: exit 0" expect 0 "" "$tund" --version
e2e_check "--help: exit 0" expect 0 "" "$tund" --help

ns=$NS_PEER1
e2e_check "without CAP_NET_ADMIN: exit 1 naming the capability" \
    expect 1 "CAP_NET_ADMIN" ip netns exec "$ns" capsh --drop=cap_net_admin -- -c "exec $tund -c $D/good.json"
e2e_check "without /dev/net/tun: exit 1 naming it" \
    expect 1 "/dev/net/tun" ip netns exec "$ns" unshare -m sh -c "mount -t tmpfs none /dev/net && exec $tund -c $D/good.json"
ip -n "$ns" link add rph0 type bridge
e2e_check "interface rph0 exists: exit 1, 'already exists'" expect 1 "rph0 already exists" ip netns exec "$ns" "$tund" -c "$D/good.json"
bridge_kept() { ip -n "$ns" link show rph0 type bridge >/dev/null; }
e2e_check "the existing rph0 is left alone" bridge_kept
ip -n "$ns" link del rph0

# A second daemon on a live control socket is refused, and the first keeps running.
topo_spawn first "$ns" "$D/first.log" "$tund" -c "$D/good.json"
wait_for "[ -S '$D/peer1.sock' ]" 5 || e2e_fail "first daemon did not start"
sed 's/"name": "rph0"/"name": "rph1"/' "$D/good.json" >"$D/second.json"
e2e_check "a busy control socket: exit 1" expect 1 "in use" ip netns exec "$ns" "$tund" -c "$D/second.json"
e2e_check "the first daemon still runs" topo_alive first
e2e_check "ruphin-tund removed rph1 after failing" bash -c "! ip -n $ns link show rph1 >/dev/null 2>&1"

# SIGHUP validates without resolving or reading the key, applies log_level, and names the
# rest as needing a restart; the daemon keeps running as it was.
first_log=$(topo_log first)
sed -e 's/"log_level": "[a-z]*"/"log_level": "debug"/' -e 's/"mtu": 1400/"mtu": 1280/' \
    -e "s|\"holepuncher\": \"[^\"]*\"|\"holepuncher\": \"$nohost:7700\"|" \
    -e "s|\"key_file\": \"[^\"]*\"|\"key_file\": \"$D/nokey\"|" "$D/good.json" >"$D/good.json.new"
cp "$D/good.json" "$D/good.json.orig"
mv "$D/good.json.new" "$D/good.json"
kill -HUP "$(topo_pid first)"
e2e_check "SIGHUP: log_level applied" wait_for "grep -q 'reload: \"log_level\" changed from \"info\" to \"debug\": applied' '$first_log'" 10
e2e_check "SIGHUP: mtu needs a restart" grep -q 'reload: "interface.mtu" changed from "1400" to "1280": needs a restart, keeping "1400"' "$first_log"
e2e_check "SIGHUP: a new holepuncher name is not looked up, it needs a restart" grep -q 'reload: "holepuncher" changed .*: needs a restart' "$first_log"
e2e_check "SIGHUP: the key file is not read (a missing one is only a changed path)" grep -q 'reload: "seal.key_file" changed .*: needs a restart' "$first_log"
e2e_check "SIGHUP: no reload error" bash -c "! grep -q 'keeping the running config' '$first_log'"
e2e_check "the first daemon still runs after SIGHUP" topo_alive first
mv "$D/good.json.orig" "$D/good.json"
e2e_finish
