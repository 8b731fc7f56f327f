#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Rows "raw" and "raw2nat" of bench/tunnel.sh: the underlay with no tunnel, as the reference.
# shellcheck disable=SC2034

# peer 2 -> iperf3 on the public host: through NAT 2 only. TCP cannot cross two NATs without a
# port forward, so this one-NAT path is the reference the targets are measured against.
raw_label="raw underlay: peer2 -> public host (one NAT)"
raw_up1() {
    ROW_SRV_NS=$NS_HP ROW_CLI_NS=$NS_PEER2 ROW_TARGET=$HP_IP ROW_MTU=1500 ROW_CONNECT=0
}
raw_up2() { :; }
raw_down() { :; }

# peer 2 -> peer 1 through both NATs, with a port forward (DNAT of TCP/UDP 5201 and ICMP echo)
# on NAT 1: the very path the tunnels take, for comparison.
raw2nat_label="raw underlay: peer2 -> peer1 (both NATs, port forward on NAT1)"
raw2nat_up1() {
    ROW_SRV_NS=$NS_PEER1 ROW_CLI_NS=$NS_PEER2 ROW_TARGET=$NAT1_IP ROW_MTU=1500 ROW_CONNECT=0
    ip netns exec "$NS_NAT1" nft -f - <<NFT || { ROW_REASON="nft port forward on NAT1"; return 1; }
table ip benchfwd {
    chain pre {
        type nat hook prerouting priority dstnat; policy accept;
        iifname "$TOPO_NAT_WAN_IF" tcp dport 5201 dnat to $PEER1_IP
        iifname "$TOPO_NAT_WAN_IF" udp dport 5201 dnat to $PEER1_IP
        iifname "$TOPO_NAT_WAN_IF" icmp type echo-request dnat to $PEER1_IP
    }
}
NFT
    # The test bed's forward chain drops new inbound flows; let the forwarded ones through.
    ip netns exec "$NS_NAT1" nft insert rule inet rph forward ct status dnat accept ||
        { ROW_REASON="nft forward rule on NAT1"; return 1; }
}
raw2nat_up2() { :; }
# Back to the test bed's own NAT rules (flushes the forward and conntrack state too).
raw2nat_down() { topo_nat_mode 1 home; }
