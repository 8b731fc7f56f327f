#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The crate-compatible plaintext mode ("seal": false) across two NATs: ping both ways and a
# 20 MB transfer with its sha256 checked; the daemon warns that nothing is sealed.
set -u
export TUN_SEAL=0
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin holepuncherd ruphin-tund ruphinctl
e2e_require_cmd socat sha256sum
topo_trap
topo_up 2 || e2e_die "test bed"

tun_start_hpd || e2e_die "holepuncherd did not start"
tun_start_peer 1 server || e2e_die "server peer did not start"
tun_start_peer 2 client || e2e_die "client peer did not start"
if tun_wait_up 2 1 10 && tun_wait_up 1 1 5; then e2e_pass "handshake through both NATs"; else e2e_die "no handshake"; fi

tun_check_pings # both ways, IPv4 and IPv6, single and in bursts of 100
# A full-MTU packet crosses unfragmented: 1400 - 28 bytes of ICMP payload, DF set.
if tun_transfer 2 1 20 >/dev/null; then e2e_pass "20 MB client -> server, sha256 ok"; else e2e_fail "20 MB transfer"; fi
if tun_transfer 1 2 20 6 >/dev/null; then e2e_pass "20 MB server -> client over IPv6 inner packets, sha256 ok"; else e2e_fail "20 MB over IPv6 inner packets"; fi
e2e_check "status says not sealed" grep -q '"sealed":false' <<<"$(tun_status 1)"
e2e_check "the daemon warned that sealing is off" grep -q "sealing is off" "$TOPO_DIR/peer1.log"
# Nothing the crate does not know goes on the wire in plaintext (no LAN candidates, tag 0x07):
# either side would count it.
no_bad_control() {
    local st
    st=$(tun_status "$1") && [[ -n $st ]] && jq -e '.drops.bad_control == 0 and .drops.malformed == 0' <<<"$st" >/dev/null
}
e2e_check "plaintext: the server got no control message it does not know" no_bad_control 1
e2e_check "plaintext: the client got no control message it does not know" no_bad_control 2
# SIGTERM: exit 0 and the interface is gone.
topo_kill peer2
e2e_check "client's interface removed after SIGTERM" bash -c "! ip -n $NS_PEER2 link show rph0 >/dev/null 2>&1"
e2e_check "client logged a clean stop" grep -q "removed; bye" "$TOPO_DIR/peer2.log"
e2e_finish
