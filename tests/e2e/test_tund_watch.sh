#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ruphin-tund's info lines about its own health (src/tun/watch.c): holepuncherd stopped -> the
# server logs the holepuncher lost; started again -> regained, with how long; a client whose
# server does not answer -> one "punching" line with what was tried; the path healed -> a
# "connected after" line. Times are measured and printed.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin ruphin-tund holepuncherd ruphinctl
e2e_require_cmd nft
topo_trap
topo_up 2 || e2e_die "test bed"
D=$TOPO_DIR
ms() { echo $(($(date +%s%N) / 1000000)); }

tun_start_hpd || e2e_die "holepuncherd did not start"
tun_start_peer 1 server || e2e_die "server did not start"
tun_start_peer 2 client || e2e_die "client did not start"
tun_wait_up 2 1 20 || e2e_die "the tunnel did not come up"
e2e_check "no holepuncher or punching line while all is well" \
    bash -c "! grep -Eq 'holepuncher [^ ]* (lost|regained):|punching for|punching given up|connected after' '$D/peer1.log' '$D/peer2.log'"

topo_kill hpd
t0=$(ms)
e2e_check "holepuncherd stopped: the server logs the holepuncher lost (info), once" \
    wait_for "grep -Eq 'info .*holepuncher $HP_IP:7700 lost: no answer for [0-9.]+ s \(unreachable, [0-9]+ Registers sent in all\)' '$D/peer1.log'" 60
e2e_info "lost logged $(($(ms) - t0)) ms after holepuncherd stopped: $(grep -m1 'lost:' "$D/peer1.log")"
e2e_check "the tunnel keeps working meanwhile" tun_ping 2 10.77.0.1
tun_start_hpd || e2e_die "holepuncherd did not start again"
t0=$(ms)
e2e_check "holepuncherd back: the server logs the holepuncher regained, with how long" \
    wait_for "grep -Eq 'info .*holepuncher $HP_IP:7700 regained: it answers again after [0-9.]+ s' '$D/peer1.log'" 60
e2e_info "regained logged $(($(ms) - t0)) ms after holepuncherd started: $(grep -m1 'regained:' "$D/peer1.log")"
e2e_check "lost and regained each logged once" \
    bash -c "[ \$(grep -c ' lost: ' '$D/peer1.log') -eq 1 ] && [ \$(grep -c ' regained: ' '$D/peer1.log') -eq 1 ]"

# The server's NAT drops everything between it and the client's NAT (both ways); the
# holepuncher still answers both. A restarted client is introduced to the server and punches.
topo_kill peer2
nft_block() {
    ip netns exec "$NS_NAT1" nft -f - <<NFT
table inet watchblock {
    chain block {
        type filter hook forward priority 0; policy accept;
        ip saddr $NAT2_IP drop
        ip daddr $NAT2_IP drop
    }
}
NFT
}
nft_block || e2e_die "nft block rule"
tun_start_peer 2 client || e2e_die "client did not restart"
t0=$(ms)
e2e_check "a client whose server does not answer: one 'punching' line naming the endpoint and what was sent" \
    wait_for "grep -Eq 'info .*peer $NAT1_IP:[0-9]+: punching for [0-9.]+ s without an answer .*[0-9]+ hellos, [0-9]+ handshake inits and [0-9]+ Joins sent in all' '$D/peer2.log'" 20
e2e_info "$(grep -m1 'punching for' "$D/peer2.log")"
took=$(($(ms) - t0))
e2e_info "punching line $took ms after the client started (due after 5 s of punching)"
e2e_check "... not before 5 s of punching" test "$took" -ge 4500
ip netns exec "$NS_NAT1" nft delete table inet watchblock
t0=$(ms)
e2e_check "the path heals: 'connected after N s of punching'" \
    wait_for "grep -Eq 'info .*peer $NAT1_IP:[0-9]+ connected after [0-9.]+ s of punching' '$D/peer2.log'" 30
e2e_info "$(grep -m1 'connected after' "$D/peer2.log") ($(($(ms) - t0)) ms after the block was lifted)"
tun_wait_up 2 1 20
e2e_check "and the tunnel carries traffic" tun_ping 2 10.77.0.1

topo_down
e2e_finish
