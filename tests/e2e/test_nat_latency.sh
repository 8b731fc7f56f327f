#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Timed punches (issue 14, the conntrack race): the pairs with a Linux router that keeps no input
# drop, with realistic asymmetric latency between the routers (the holepuncher 5 ms from one
# side's uplink, 40 ms from the other's, both ways round), must each end direct. Runs the NAT
# matrix (test_nat_matrix.sh) on just those pairs, in parallel, once per direction of the
# asymmetry, and prints both tables. Env: NATM_MB (transfer, default 1), NATM_JOBS (pairs at a
# time, default 2), NATM_DIRECT_WAIT (s a relayed pair gets to go direct, default 20).
set -u
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_require_root

PAIRS="conntrack-race:conntrack-race port-restricted:conntrack-race conntrack-race:port-restricted carrier:conntrack-race conntrack-race:carrier"
# Two at a time: the timing is a matter of tens of milliseconds, and five pairs (six daemons
# and four nfq_delay each, ASan builds) on a shared 2-core machine delay timers by as much.
# Three at a time was too many on a slow CI machine (12-06): each pair's holepuncherd answered
# 30-40 ms late, which the round trips cannot tell from distance.
# A pair that lost the race is relayed and tries again from a fresh port 3 s, then 3 s, then
# 10 s later (docs/PROTOCOL.md "Fresh-port retries"): 20 s to find direct lets all three tries
# count (the timing is tens of milliseconds; on a loaded machine a try can lose the race again,
# and the product's answer is the next try, not a longer hold). A pair that goes direct ends
# at once.
export NATM_ONLY=$PAIRS NATM_MUST_DIRECT=$PAIRS NATM_JOBS=${NATM_JOBS:-2} NATM_MB=${NATM_MB:-1}
export NATM_DIRECT_WAIT=${NATM_DIRECT_WAIT:-20}
start=$SECONDS
for delays in "5 40" "40 5"; do
    read -r d1 d2 <<<"$delays"
    e2e_info "the server's uplink $d1 ms each way, the client's $d2 ms"
    if NATM_DELAY1=$d1 NATM_DELAY2=$d2 bash "$(dirname "$0")/test_nat_matrix.sh"; then
        e2e_pass "server $d1 ms, client $d2 ms: all five conntrack-race pairs ended direct"
    else
        e2e_fail "server $d1 ms, client $d2 ms: a pair did not end direct (table above)"
    fi
done
e2e_info "both runs took $((SECONDS - start)) s"
e2e_finish
