#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Helpers for tunnel e2e tests and the demo: configs, holepuncherd and ruphin-tund on the test bed.
#
#   . tests/e2e/lib.sh; . tests/e2e/tun_lib.sh
#   topo_up 2; tun_start_hpd; tun_start_peer 1 server; tun_start_peer 2 client
#   tun_wait_up 2 10 && topo_run "$NS_PEER2" ping -c1 10.77.0.1
#
# Peer K gets overlay address 10.77.0.K/24 (and fd77::K/64), interface rph0 in its own
# namespace, its config at $TOPO_DIR/peerK.json and control socket $TOPO_DIR/peerK.sock.
# shellcheck disable=SC2034

TUN_SESSION=${TUN_SESSION:-office}
TUN_KEEPALIVE=${TUN_KEEPALIVE:-2}
TUN_PEER_TIMEOUT=${TUN_PEER_TIMEOUT:-6}
TUN_LOG_LEVEL=${TUN_LOG_LEVEL:-info}
# Sealed by default, as the shipped configs are; TUN_SEAL=0 runs the crate's plaintext mode.
TUN_SEAL=${TUN_SEAL:-1}

# tun_key: the session key file (made once per test bed with ruphinctl genkey).
tun_key() {
    [[ -e $TOPO_DIR/session.key ]] || "$RUPHIN_BIN/ruphinctl" genkey "$TOPO_DIR/session.key" 2>/dev/null
    printf '%s\n' "$TOPO_DIR/session.key"
}

# tun_seal_json: the "seal" value for configs.
tun_seal_json() {
    if [[ $TUN_SEAL == 1 ]]; then printf '{"key_file": "%s"}' "$(tun_key)"; else printf 'false'; fi
}

# tun_state_json NAME: ', "state_dir": ...' for a sealed config (its node key lives there), so
# no test writes /var/lib/ruphin and no two daemons share a node key; '' in plaintext.
tun_state_json() {
    if [[ $TUN_SEAL == 1 ]]; then printf ', "state_dir": "%s"' "$TOPO_DIR/state-$1"; fi
}

# tun_write_hpd_config FILE: holepuncherd on the public host.
tun_write_hpd_config() {
    cat >"$1" <<JSON
{"listen": ["$HP_IP:7700"], "session_ttl": 60, "max_sessions": 1000, "log_level": "$TUN_LOG_LEVEL"}
JSON
}

# tun_write_peer_config K ROLE FILE [EXTRA_JSON]: ruphin-tund config of peer K.
tun_write_peer_config() {
    local k=$1 role=$2 file=$3 extra=${4:-}
    cat >"$file" <<JSON
{"holepuncher": "$HP_IP:7700", "session": "$TUN_SESSION", "role": "$role",
 "interface": {"name": "rph0", "address": "10.77.0.$k/24", "address6": "fd77::$k/64", "mtu": ${TUN_MTU:-1400}},
 "keepalive_interval": $TUN_KEEPALIVE, "peer_timeout": $TUN_PEER_TIMEOUT, "seal": $(tun_seal_json)$(tun_state_json "peer$k"),
 "control_socket": "$TOPO_DIR/peer$k.sock", "log_level": "$TUN_LOG_LEVEL"$extra}
JSON
}

# tun_start_hpd_relay: holepuncherd with the relay on (its default limits), logging at info.
tun_start_hpd_relay() {
    cat >"$TOPO_DIR/hpd.json" <<JSON
{"listen": ["$HP_IP:7700"], "session_ttl": 60, "max_sessions": 100, "log_level": "info",
 "relay": {"enabled": true}}
JSON
    topo_spawn hpd "$NS_HP" "$TOPO_DIR/hpd.log" "$RUPHIN_BIN/holepuncherd" -c "$TOPO_DIR/hpd.json" || return 1
    wait_for "grep -q 'listening on' '$TOPO_DIR/hpd.log'" 10
}

tun_start_hpd() {
    tun_write_hpd_config "$TOPO_DIR/hpd.json"
    topo_spawn hpd "$NS_HP" "$TOPO_DIR/hpd.log" "$RUPHIN_BIN/holepuncherd" -c "$TOPO_DIR/hpd.json" || return 1
    wait_for "grep -q 'listening on' '$TOPO_DIR/hpd.log'" 5
}

# tun_start_peer K ROLE: ruphin-tund as peer K (server or client); waits for its interface.
tun_start_peer() {
    local k=$1 role=$2 ns
    ns=$(topo_ns peer "$k")
    [[ -e $TOPO_DIR/peer$k.json ]] || tun_write_peer_config "$k" "$role" "$TOPO_DIR/peer$k.json"
    topo_spawn "peer$k" "$ns" "$TOPO_DIR/peer$k.log" "$RUPHIN_BIN/ruphin-tund" -c "$TOPO_DIR/peer$k.json" || return 1
    wait_for "ip -n $ns link show rph0 >/dev/null 2>&1 && [ -S '$TOPO_DIR/peer$k.sock' ]" 5
}

# tun_status K: peer K's status document (JSON).
tun_status() {
    "$RUPHIN_BIN/ruphinctl" -s "$TOPO_DIR/peer$1.sock" status --json
}

# tun_q K FILTER: jq -r FILTER over peer K's status ("" when the daemon does not answer).
tun_q() {
    tun_status "$1" 2>/dev/null | jq -r "$2" 2>/dev/null
}

# tun_member_kind K: the path_kind of the first mesh member client K lists ("none": no member).
tun_member_kind() {
    tun_q "$1" '[.peers[] | select(.kind == "member")][0].path_kind // "none"'
}

# tun_peers_up K: how many peers K sees up.
tun_peers_up() {
    tun_status "$1" 2>/dev/null | grep -o '"state":"up"' | wc -l
}

# tun_wait_up K N [TIMEOUT]: wait until peer K has N peers up.
tun_wait_up() {
    wait_for "[ \$(tun_peers_up $1) -ge $2 ]" "${3:-10}"
}

# tun_ping FROM_K TO_ADDR [COUNT]: ping across the tunnel from peer FROM_K.
tun_ping() {
    topo_run "$(topo_ns peer "$1")" ping -q -c "${3:-3}" -i 0.2 -W 2 "$2" >/dev/null 2>&1
}

# tun_ping_burst K TARGET SIZE: 300 pings of SIZE bytes with 100 sent back to back (-l), so the
# daemons read them in bursts and send each burst as one GSO train. Fails on any loss, or on a
# reply whose data differs from what was sent (ping prints "wrong data byte").
tun_ping_burst() {
    local out
    out=$(topo_run "$(topo_ns peer "$1")" ping -n -c 300 -l 100 -i 0.01 -s "$3" -W 2 "$2" 2>&1)
    grep -q ' 0% packet loss' <<<"$out" && ! grep -qiE 'wrong data|DUP!' <<<"$out"
}

# tun_check_pings: the ping checks of a two-peer tunnel (server 1, client 2): both ways over
# IPv4 and IPv6, then bursts of 100 echo requests in flight, which the daemons read in bursts
# and send as GSO trains; every reply must come back intact.
tun_check_pings() {
    e2e_check "ping client -> server (10.77.0.1)" tun_ping 2 10.77.0.1
    e2e_check "ping server -> client (10.77.0.2)" tun_ping 1 10.77.0.2
    e2e_check "ping6 client -> server (fd77::1)" tun_ping 2 fd77::1
    e2e_check "ping6 server -> client (fd77::2)" tun_ping 1 fd77::2
    e2e_check "burst of 100 pings of 1200 B in flight: none lost or corrupted" tun_ping_burst 2 10.77.0.1 1200
    e2e_check "burst of 100 pings of 56 B in flight: none lost or corrupted" tun_ping_burst 1 10.77.0.2 56
}

# tun_transfer FROM_K TO_K MB [6]: a TCP transfer of MB MiB of random data over the tunnel
# (socat), checked with sha256 at the far end; with 6, over IPv6 inner packets (fd77::TO_K).
# Prints "MB seconds"; fails on mismatch.
tun_transfer() {
    local from=$1 to=$2 mb=$3 src dst port=5001 t0 t1 want got listen=TCP-LISTEN conn
    conn=TCP:10.77.0.$to
    if [[ ${4:-4} == 6 ]]; then listen=TCP6-LISTEN conn="TCP6:[fd77::$to]"; fi
    src=$(topo_ns peer "$from")
    dst=$(topo_ns peer "$to")
    head -c "$((mb * 1024 * 1024))" /dev/urandom >"$TOPO_DIR/blob"
    want=$(sha256sum <"$TOPO_DIR/blob" | cut -d' ' -f1)
    rm -f "$TOPO_DIR/received"
    topo_spawn sink "$dst" "$TOPO_DIR/sink.log" socat -u "$listen:$port,reuseaddr" "OPEN:$TOPO_DIR/received,creat,trunc" || return 1
    wait_for "ip netns exec $dst ss -ltn | grep -q ':$port '" 5 || return 1
    t0=$(date +%s.%N)
    timeout 120 ip netns exec "$src" socat -u "OPEN:$TOPO_DIR/blob" "$conn:$port,connect-timeout=5" || { topo_kill sink; return 1; }
    topo_wait sink 30 || true
    t1=$(date +%s.%N)
    topo_kill sink
    got=$(sha256sum <"$TOPO_DIR/received" | cut -d' ' -f1)
    rm -f "$TOPO_DIR/blob" "$TOPO_DIR/received"
    [[ $got == "$want" ]] || { echo "sha256 mismatch: sent $want, received $got" >&2; return 1; }
    awk -v mb="$mb" -v a="$t0" -v b="$t1" 'BEGIN { printf "%d %.3f\n", mb, b - a }'
}
