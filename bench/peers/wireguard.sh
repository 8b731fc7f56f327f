#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Row "wireguard_go" of bench/tunnel.sh: Debian's wireguard-go + wireguard-tools, overlay
# 10.78.0.0/24. Each side's endpoint is the other's NAT address and fixed ListenPort (the test
# NATs keep source ports), and persistent keepalives make the handshakes punch through.
# shellcheck disable=SC2034

wireguard_go_label="wireguard-go $(dpkg-query -W -f='${Version}' wireguard-go 2>/dev/null)"
WG_PORT=51820

# Control sockets live in /var/run/wireguard, shared by all namespaces: names must differ
# per namespace and per run.
wg__ifname() { printf 'bwg%s%s' "$$" "$1"; }

# wg__start K: wireguard-go for peer K, configured toward the other peer's NAT.
wg__start() {
    local k=$1 o=$((3 - $1)) ns ifn pub_o
    ns=$(topo_ns peer "$k")
    ifn=$(wg__ifname "$k")
    pub_o=$(cat "$TOPO_DIR/wg$o.pub")
    topo_spawn "wg$k" "$ns" "$TOPO_DIR/wg$k.log" env WG_PROCESS_FOREGROUND=1 \
        WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 wireguard-go "$ifn" || return 1
    wait_for "[ -S /var/run/wireguard/$ifn.sock ]" 5 || { ROW_REASON="wireguard-go $k did not start: $(tail -n1 "$TOPO_DIR/wg$k.log")"; return 1; }
    ip netns exec "$ns" wg set "$ifn" listen-port "$WG_PORT" private-key "$TOPO_DIR/wg$k.key" \
        peer "$pub_o" endpoint "203.0.113.$o:$WG_PORT" allowed-ips "10.78.0.$o/32" \
        persistent-keepalive 1 || { ROW_REASON="wg set on peer $k"; return 1; }
    ip -n "$ns" addr add "10.78.0.$k/24" dev "$ifn" &&
        ip -n "$ns" link set "$ifn" mtu 1400 up || { ROW_REASON="addressing $ifn"; return 1; }
}

wireguard_go_up1() {
    local k
    ROW_SRV_NS=$NS_PEER1 ROW_CLI_NS=$NS_PEER2 ROW_TARGET=10.78.0.1 ROW_MTU=1400 ROW_CONNECT=1
    ROW_PROCS=(wg1 wg2)
    for k in 1 2; do
        (umask 077 && wg genkey >"$TOPO_DIR/wg$k.key") && wg pubkey <"$TOPO_DIR/wg$k.key" >"$TOPO_DIR/wg$k.pub" ||
            { ROW_REASON="wg genkey"; return 1; }
    done
    wg__start 1
}
wireguard_go_up2() { wg__start 2; }
wireguard_go_down() { rm -f "/var/run/wireguard/$(wg__ifname 1).sock" "/var/run/wireguard/$(wg__ifname 2).sock"; }
