#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Row "nebula" of bench/tunnel.sh: Debian's nebula, lighthouse on the public host, nodes on
# peer 1 and 2 behind the NATs with punching on, overlay 10.79.0.0/24, all on UDP 4242.
# shellcheck disable=SC2034

nebula_label="nebula $(nebula -version 2>/dev/null | awk '{ print $2 }') (lighthouse + punching)"

# nebula__config NAME IP LIGHTHOUSE(true|false): a node's config file.
nebula__config() {
    local name=$1 ip=$2 lh=$3 d=$TOPO_DIR/nebula
    {
        printf 'pki: {ca: %s/ca.crt, cert: %s/%s.crt, key: %s/%s.key}\n' "$d" "$d" "$name" "$d" "$name"
        printf 'static_host_map: {"10.79.0.10": ["%s:4242"]}\n' "$HP_IP"
        if [[ $lh == true ]]; then
            printf 'lighthouse: {am_lighthouse: true}\n'
            printf 'tun: {disabled: true}\n'
        else
            printf 'lighthouse: {am_lighthouse: false, interval: 1, hosts: ["10.79.0.10"]}\n'
            printf 'tun: {dev: neb0, mtu: 1400}\n'
        fi
        printf 'listen: {host: 0.0.0.0, port: 4242}\n'
        printf 'punchy: {punch: true, respond: true}\n'
        printf 'logging: {level: info}\n'
        printf 'firewall:\n  outbound: [{port: any, proto: any, host: any}]\n'
        printf '  inbound: [{port: any, proto: any, host: any}]\n'
    } >"$d/$name.yml"
    printf '# %s %s\n' "$name" "$ip" >>"$d/$name.yml"
}

nebula__start() {
    local name=$1 ns=$2
    topo_spawn "neb-$name" "$ns" "$TOPO_DIR/neb-$name.log" nebula -config "$TOPO_DIR/nebula/$name.yml"
}

nebula_up1() {
    local d=$TOPO_DIR/nebula n
    ROW_SRV_NS=$NS_PEER1 ROW_CLI_NS=$NS_PEER2 ROW_TARGET=10.79.0.1 ROW_MTU=1400 ROW_CONNECT=1
    ROW_PROCS=(neb-n1 neb-n2)
    mkdir -p "$d"
    (cd "$d" && nebula-cert ca -name bench -out-crt ca.crt -out-key ca.key >/dev/null &&
        nebula-cert sign -ca-crt ca.crt -ca-key ca.key -name lh -ip 10.79.0.10/24 -out-crt lh.crt -out-key lh.key &&
        nebula-cert sign -ca-crt ca.crt -ca-key ca.key -name n1 -ip 10.79.0.1/24 -out-crt n1.crt -out-key n1.key &&
        nebula-cert sign -ca-crt ca.crt -ca-key ca.key -name n2 -ip 10.79.0.2/24 -out-crt n2.crt -out-key n2.key) ||
        { ROW_REASON="nebula-cert"; return 1; }
    nebula__config lh 10.79.0.10 true
    nebula__config n1 10.79.0.1 false
    nebula__config n2 10.79.0.2 false
    nebula__start lh "$NS_HP" || return 1
    nebula__start n1 "$NS_PEER1" || return 1
    wait_for "ip -n $NS_PEER1 addr show neb0 2>/dev/null | grep -q 10.79.0.1" 10 ||
        { ROW_REASON="nebula node 1 did not come up: $(tail -n1 "$TOPO_DIR/neb-n1.log")"; return 1; }
    # Node 1 must have told the lighthouse where it is before node 2 asks.
    wait_for "grep -q 'Handshake message received' '$TOPO_DIR/neb-lh.log'" 10 ||
        { ROW_REASON="nebula node 1 did not reach the lighthouse"; return 1; }
}
nebula_up2() { nebula__start n2 "$NS_PEER2"; }
nebula_down() { topo_kill neb-lh; }
