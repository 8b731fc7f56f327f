/* SPDX-License-Identifier: MIT */
/* Timed punches: how long a peer holds its first packet so that both sides' first packets leave
 * their NATs together (docs/PROTOCOL.md "Timed punches"). */
#include "ruphin/peer.h"

uint32_t rph_punch_delay_ms(uint32_t own_rtt_ms, uint32_t other_rtt_ms)
{
    /* The holepuncher sends both PeerInfos at once; each reaches its peer half a round trip
     * later. The nearer side waits, so that neither side's first packet reaches the other's
     * NAT before that NAT has seen the other's own first packet leave (a Linux router without
     * an input drop would otherwise keep a conntrack entry for the early arrival and move the
     * outgoing packet to another port).
     *
     * How long: with one-way delays n (near) and f (far) to the holepuncher, the wait that
     * works lies between bounds that depend on where on each path its NAT sits. Both firing
     * together, (f - n), is right when the NATs sit at the peers' ends of their delays; both
     * leaving their NATs together, 2 (f - n), when they sit at the far ends (as the test bed's
     * routers, which hold a packet before NATing it); the window is f + n wide in either case,
     * and 3/2 (f - n), three quarters of the difference of round trips, is in both windows:
     * the middle of the second, and within 2 f of the first. Unknown (0) on either side: no
     * wait. Bounded: a lying round trip costs at most RPH_PUNCH_DELAY_MAX_MS. */
    if (own_rtt_ms == 0 || other_rtt_ms <= own_rtt_ms) return 0;
    uint32_t d = (uint32_t)(((uint64_t)other_rtt_ms - own_rtt_ms) * 3 / 4);
    return d > RPH_PUNCH_DELAY_MAX_MS ? RPH_PUNCH_DELAY_MAX_MS : d;
}
