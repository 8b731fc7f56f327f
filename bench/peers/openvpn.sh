#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Row "openvpn" of bench/tunnel.sh: openvpn 2.6 static-key (--secret) UDP peer-to-peer,
# fixed port 1194 on both sides, each --remote the other's NAT address, --float, --ping 1 so
# both sides send and punch. Overlay 10.80.0.1 <-> 10.80.0.2.
# shellcheck disable=SC2034

openvpn_label="openvpn $(openvpn --version 2>/dev/null | awk 'NR == 1 { print $2 }') static key"

ovpn__start() {
    local k=$1 o=$((3 - $1)) ns
    ns=$(topo_ns peer "$k")
    topo_spawn "ovpn$k" "$ns" "$TOPO_DIR/ovpn$k.log" openvpn --dev "bov$k" --dev-type tun \
        --proto udp --lport 1194 --rport 1194 --remote "203.0.113.$o" --float \
        --ifconfig "10.80.0.$k" "10.80.0.$o" --secret "$TOPO_DIR/ovpn.key" "$((k - 1))" \
        --cipher AES-256-CBC --auth SHA256 --tun-mtu 1400 --ping 1 --disable-dco --verb 3 ||
        return 1
    wait_for "ip -n $ns addr show bov$k 2>/dev/null | grep -q 10.80.0.$k" 10 ||
        { ROW_REASON="openvpn $k did not come up: $(grep -m1 -iE 'error|fatal|options' "$TOPO_DIR/ovpn$k.log")"; return 1; }
}

openvpn_up1() {
    ROW_SRV_NS=$NS_PEER1 ROW_CLI_NS=$NS_PEER2 ROW_TARGET=10.80.0.1 ROW_MTU=1400 ROW_CONNECT=1
    ROW_PROCS=(ovpn1 ovpn2)
    openvpn --genkey secret "$TOPO_DIR/ovpn.key" >/dev/null 2>&1 || { ROW_REASON="openvpn --genkey"; return 1; }
    ovpn__start 1
}
openvpn_up2() { ovpn__start 2; }
openvpn_down() { :; }
