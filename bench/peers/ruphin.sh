#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Rows "ruphin" (plaintext) and "ruphin_sealed" of bench/tunnel.sh: ruphin-tund on the e2e
# test bed (tests/e2e/tun_lib.sh), server on peer 1, client on peer 2, overlay 10.77.0.0/24.
# "ruphin_sealed" uses the default transport AEAD (or the RUPHIN_AEAD bench/tunnel.sh was run
# with); "ruphin_sealed_sodium", "ruphin_sealed_avx512" and "ruphin_sealed_openssl" name one
# implementation in both daemons' environment (RUPHIN_AEAD, docs/SECURITY.md "Transport"),
# so one run compares them on the same test bed.
# shellcheck disable=SC2034

ruphin_label="ruphin-tund plaintext (\"seal\": false)"
ruphin_sealed_label="ruphin-tund sealed"
ruphin_sealed_sodium_label="ruphin-tund sealed, RUPHIN_AEAD=sodium (libsodium)"
ruphin_sealed_avx512_label="ruphin-tund sealed, RUPHIN_AEAD=avx512 (src/core/chacha20.c)"
ruphin_sealed_openssl_label="ruphin-tund sealed, RUPHIN_AEAD=openssl (OpenSSL 3)"

# The transport AEAD this row's daemons are told to use, or empty (the environment's).
RUPHIN__AEAD=

# ruphin__run CMD...: CMD with RUPHIN_AEAD=$RUPHIN__AEAD in its environment when that is set;
# ip netns exec passes the environment on to ruphin-tund.
ruphin__run() {
    if [[ -n $RUPHIN__AEAD ]]; then RUPHIN_AEAD=$RUPHIN__AEAD "$@"; else "$@"; fi
}

# ruphin__config K ROLE plain|sealed: peer K's config, the test bed's with "seal" set.
ruphin__config() {
    local k=$1 role=$2 mode=$3
    tun_write_peer_config "$k" "$role" "$TOPO_DIR/peer$k.base.json" || return 1
    # A plaintext config may not name a state_dir (it has no node key).
    jq --arg mode "$mode" --arg kf "$TOPO_DIR/seal.key" --arg sd "$TOPO_DIR/state-peer$k" \
        'if $mode == "sealed" then .seal = {key_file: $kf} | .state_dir = $sd
         else .seal = false | del(.state_dir) end' \
        "$TOPO_DIR/peer$k.base.json" >"$TOPO_DIR/peer$k.json"
}

# ruphin_seal_supported: 0 when this build's ruphin-tund accepts "seal": {"key_file": ...}
# (checked with --check on a real config); otherwise RUPHIN_SEAL_WHY says why not.
ruphin_seal_supported() {
    local out
    # A subshell, so the umask stays with the key and not with every later file.
    (
        umask 077
        if ! "$RUPHIN_BIN/ruphinctl" genkey "$TOPO_DIR/seal.key" >/dev/null 2>&1; then
            rm -f "$TOPO_DIR/seal.key"
            head -c 32 /dev/urandom | base64 >"$TOPO_DIR/seal.key"
        fi
    )
    chmod 600 "$TOPO_DIR/seal.key"
    TUN_SESSION=bench-check ruphin__config 1 server sealed || return 1
    if out=$("$RUPHIN_BIN/ruphin-tund" -c "$TOPO_DIR/peer1.json" --check 2>&1); then
        rm -f "$TOPO_DIR/peer1.json"
        return 0
    fi
    RUPHIN_SEAL_WHY=$(printf '%s\n' "$out" | tail -n 1 | sed -E 's/^[0-9:.]+ //')
    rm -f "$TOPO_DIR/peer1.json"
    return 1
}

# ruphin__up1 plain|sealed [AEAD]
ruphin__up1() {
    local mode=$1
    RUPHIN__AEAD=${2:-}
    TUN_SESSION=bench-$mode
    ROW_SRV_NS=$NS_PEER1 ROW_CLI_NS=$NS_PEER2 ROW_TARGET=10.77.0.1 ROW_MTU=1400 ROW_CONNECT=1
    ROW_PROCS=(peer1 peer2) ROW_RSS=1
    ruphin__config 1 server "$mode" && ruphin__config 2 client "$mode" ||
        { ROW_REASON="writing the configs"; return 1; }
    if ! ruphin__run tun_start_peer 1 server; then
        if [[ -n $RUPHIN__AEAD ]] && grep -q 'names no implementation' "$TOPO_DIR/peer1.log"; then
            ROW_UNAVAILABLE="RUPHIN_AEAD=$RUPHIN__AEAD: not in this build or on this CPU"
        fi
        ROW_REASON="server peer did not start: $(tail -n1 "$TOPO_DIR/peer1.log")"
        return 1
    fi
    # The daemon names the implementation it runs; a row must measure the one it is named for.
    if [[ -n $RUPHIN__AEAD ]] && ! grep -q "with the $RUPHIN__AEAD implementation" "$TOPO_DIR/peer1.log"; then
        ROW_REASON="server peer does not log the $RUPHIN__AEAD implementation"
        return 1
    fi
    # Registered before the client starts, so the timed part is the client's join and punch.
    wait_for "[ \"\$(tun_status 1 | jq -r .holepuncher.state)\" = registered ]" 10 ||
        { ROW_REASON="server did not register with holepuncherd"; return 1; }
}

# The client is spawned directly, not with tun_start_peer, which polls for the interface in
# 0.1 s steps: the first-ping timer must start the moment the process does.
ruphin__up2() {
    ruphin__run topo_spawn peer2 "$NS_PEER2" "$TOPO_DIR/peer2.log" "$RUPHIN_BIN/ruphin-tund" -c "$TOPO_DIR/peer2.json"
}

ruphin_up1() { ruphin__up1 plain; }
ruphin_up2() { ruphin__up2; }
ruphin_down() { :; }

# ruphin__sealed_up1 [AEAD]
ruphin__sealed_up1() {
    if [[ ${RUPHIN_SEAL_OK:-0} != 1 ]]; then
        ROW_UNAVAILABLE="not available in this build (${RUPHIN_SEAL_WHY:-ruphin-tund --check refused \"seal\": {\"key_file\": ...}})"
        return 1
    fi
    ruphin__up1 sealed "${1:-}"
}
ruphin_sealed_up1() { ruphin__sealed_up1; }
ruphin_sealed_up2() { ruphin__up2; }
ruphin_sealed_down() { :; }
ruphin_sealed_sodium_up1() { ruphin__sealed_up1 sodium; }
ruphin_sealed_sodium_up2() { ruphin__up2; }
ruphin_sealed_sodium_down() { :; }
ruphin_sealed_avx512_up1() { ruphin__sealed_up1 avx512; }
ruphin_sealed_avx512_up2() { ruphin__up2; }
ruphin_sealed_avx512_down() { :; }
ruphin_sealed_openssl_up1() { ruphin__sealed_up1 openssl; }
ruphin_sealed_openssl_up2() { ruphin__up2; }
ruphin_sealed_openssl_down() { :; }

# Row "ruphin_relayed": the sealed tunnel through holepuncherd's relay (issue 13). The direct
# path between the two routers is blocked (nft on nat1), holepuncherd runs with the relay on and
# no bandwidth limit; its CPU per GB relayed is logged from its /proc ticks and its stop line.
# It runs at the daemon's default MTU, 1340, which leaves room for the relay header on a
# 1500-byte path (the direct rows keep 1400, like the other tunnels).
ruphin_relayed_label="ruphin-tund sealed, relayed through holepuncherd (MTU 1340, the default)"
RUPHIN__HPD_TICKS0=0

ruphin__block() {
    ip netns exec "$NS_NAT1" nft -f - <<'NFT'
table inet benchrelay {
    chain pre {
        type filter hook prerouting priority -300; policy accept;
        ip saddr 203.0.113.2 meta l4proto udp drop
        ip daddr 203.0.113.2 meta l4proto udp drop
    }
}
NFT
}

ruphin_relayed_up1() {
    topo_kill hpd
    cat >"$TOPO_DIR/hpd.json" <<JSON
{"listen": ["$HP_IP:7700"], "session_ttl": 60, "max_sessions": 1000, "log_level": "info",
 "relay": {"enabled": true, "max_sessions": 10, "max_kbps_per_session": 0}}
JSON
    if ! topo_spawn hpd "$NS_HP" "$TOPO_DIR/hpd.log" "$RUPHIN_BIN/holepuncherd" -c "$TOPO_DIR/hpd.json" ||
        ! wait_for "grep -q 'listening on' '$TOPO_DIR/hpd.log'" 5; then
        ROW_REASON="holepuncherd with the relay did not start"
        return 1
    fi
    ruphin__block || { ROW_REASON="nft block on nat1"; return 1; }
    RUPHIN__HPD_TICKS0=$(proc_ticks "$(topo_pid hpd)")
    TUN_MTU=1340 ruphin__sealed_up1 || return 1
    ROW_MTU=1340 ROW_PERF_COMMS=holepuncherd
}
ruphin_relayed_up2() { ruphin__up2; }
ruphin_relayed_down() {
    local t1 bytes cpu
    t1=$(proc_ticks "$(topo_pid hpd)")
    topo_kill hpd
    bytes=$(sed -n 's/.*relay on: .* relayed [0-9]* datagrams, \([0-9]*\) bytes.*/\1/p' "$TOPO_DIR/hpd.log" | tail -n 1)
    cpu=$(awk -v t=$((t1 - RUPHIN__HPD_TICKS0)) -v h="$CLK_TCK" 'BEGIN { printf "%.2f", t / h }')
    bench_log "holepuncherd relayed ${bytes:-?} bytes with $cpu s of CPU ($(awk -v c="$cpu" -v b="${bytes:-0}" \
        'BEGIN { if (b > 0) printf "%.3f", c / (b / 1e9); else print "?" }') s per GB)"
    # How well the batching worked: GSO sends and GRO trains from the stop line.
    bench_log "holepuncherd: $(grep -o '(gso_sends [^)]*)' "$TOPO_DIR/hpd.log" | tail -n 1)"
    ip netns exec "$NS_NAT1" nft delete table inet benchrelay 2>/dev/null
    tun_start_hpd
}

# Row "ruphin_c2c" (issue #15): the sealed tunnel client to client over their direct mesh path,
# to compare with "ruphin_sealed" (client to server): server on peer 1, clients on peers 2 and 3
# (three sites, each behind its own NAT), iperf3 from client 2 to client 3 (10.77.0.3). The row
# starts once both clients show each other on a direct path ("path": "direct" in their status);
# the server only introduced them, and its forwarded_packets is logged to show it stayed out.
ruphin_c2c_label="ruphin-tund sealed, client to client over the direct mesh path"

# ruphin__c2c_direct A B: client A's status shows client B (10.77.0.B) on a direct path.
ruphin__c2c_direct() {
    tun_status "$1" 2>/dev/null |
        jq -e --arg ip "10.77.0.$2" 'any(.peers[]; .overlay == $ip and .kind == "member" and .path == "direct")' >/dev/null
}

ruphin_c2c_up1() {
    if [[ ${RUPHIN_SEAL_OK:-0} != 1 ]]; then
        ROW_UNAVAILABLE="not available in this build (${RUPHIN_SEAL_WHY:-sealed mode refused})"
        return 1
    fi
    if [[ -z ${NS_PEER3:-} ]] || ! ip netns list | grep -q "^$NS_PEER3\b"; then
        ROW_REASON="needs the three-site test bed"
        return 1
    fi
    ruphin__up1 sealed || return 1
    ROW_SRV_NS=$NS_PEER3 ROW_CLI_NS=$NS_PEER2 ROW_TARGET=10.77.0.3 ROW_CONNECT=0
    ROW_PROCS=(peer2 peer3) # the two ends, as in ruphin_sealed; the server stays up until down
    ruphin__config 3 client sealed || { ROW_REASON="writing the config of client 3"; return 1; }
    tun_start_peer 3 client || { ROW_REASON="client 3 did not start: $(tail -n1 "$TOPO_DIR/peer3.log")"; return 1; }
}

ruphin_c2c_up2() {
    ruphin__up2 || return 1
    if ! wait_for "ruphin__c2c_direct 2 3 && ruphin__c2c_direct 3 2" 20; then
        ROW_REASON="clients 2 and 3 found no direct path within 20 s"
        return 1
    fi
    RUPHIN__FWD0=$(tun_status 1 2>/dev/null | jq '.mesh.forwarded_packets // 0')
}

ruphin_c2c_down() {
    local fwd
    fwd=$(tun_status 1 2>/dev/null | jq '.mesh.forwarded_packets // 0')
    bench_log "server forwarded $((fwd - ${RUPHIN__FWD0:-0})) client-to-client packets during the row (0: all direct)"
    topo_kill peer1
}
