#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Rows "quicktun_raw" and "quicktun_nacltai" of bench/tunnel.sh: Debian's quicktun, settings
# as `-c NAME VALUE` pairs, UDP 2998 on both sides, each REMOTE_ADDRESS the other's NAT.
# quicktun sends nothing on its own, so peer 1 sends one packet first to open its NAT
# (as a user would with a keepalive ping). Overlay 10.81.0.1 <-> 10.81.0.2.
# shellcheck disable=SC2034

quicktun_raw_label="quicktun raw (no crypto)"
quicktun_nacltai_label="quicktun nacltai"

qt__start() {
    local k=$1 proto=$2 o=$((3 - $1)) ns ifn keys=()
    ns=$(topo_ns peer "$k")
    ifn=bqt$k
    if [[ $proto == nacltai ]]; then
        keys=(-c PRIVATE_KEY "$(awk '/^SECRET/ { print $2 }' "$TOPO_DIR/qt$k.keys")"
            -c PUBLIC_KEY "$(awk '/^PUBLIC/ { print $2 }' "$TOPO_DIR/qt$o.keys")")
    fi
    topo_spawn "qt$k" "$ns" "$TOPO_DIR/qt$k.log" quicktun -c INTERFACE "$ifn" -c TUN_MODE 1 \
        -c PROTOCOL "$proto" -c LOCAL_ADDRESS 0.0.0.0 -c LOCAL_PORT 2998 \
        -c REMOTE_ADDRESS "203.0.113.$o" -c REMOTE_PORT 2998 -c REMOTE_FLOAT 0 "${keys[@]}" ||
        return 1
    wait_for "ip -n $ns link show $ifn" 5 ||
        { ROW_REASON="quicktun $k did not create $ifn: $(tail -n1 "$TOPO_DIR/qt$k.log")"; return 1; }
    ip -n "$ns" addr add "10.81.0.$k" peer "10.81.0.$o" dev "$ifn" &&
        ip -n "$ns" link set "$ifn" mtu 1400 up || { ROW_REASON="addressing $ifn"; return 1; }
}

qt__up1() {
    local proto=$1 k
    ROW_SRV_NS=$NS_PEER1 ROW_CLI_NS=$NS_PEER2 ROW_TARGET=10.81.0.1 ROW_MTU=1400 ROW_CONNECT=1
    ROW_PROCS=(qt1 qt2)
    if [[ $proto == nacltai ]]; then
        for k in 1 2; do
            keypair >"$TOPO_DIR/qt$k.keys" 2>/dev/null </dev/null && grep -q '^SECRET' "$TOPO_DIR/qt$k.keys" ||
                { ROW_REASON="quicktun keypair"; return 1; }
        done
    fi
    qt__start 1 "$proto" || return 1
    # Opens NAT 1 toward NAT 2's port 2998 (dropped there): peer 2's packets can then come in.
    topo_run "$NS_PEER1" ping -c 1 -W 0.2 10.81.0.2 >/dev/null 2>&1 || true
}

quicktun_raw_up1() { qt__up1 raw; }
quicktun_raw_up2() { qt__start 2 raw; }
quicktun_raw_down() { :; }
quicktun_nacltai_up1() { qt__up1 nacltai; }
quicktun_nacltai_up2() { qt__start 2 nacltai; }
quicktun_nacltai_down() { :; }
