/* SPDX-License-Identifier: MIT */
/* Timed punches: how long a peer holds its first packet so that both sides' first packets leave
 * their NATs together (docs/PROTOCOL.md "Timed punches"). */
#include "ruphin/peer.h"

/* sixteenths / 16 of the difference of round trips, bounded; 0 when either is unknown or ours
 * is not the shorter. */
static uint32_t wait_part(uint32_t own_rtt_ms, uint32_t other_rtt_ms, uint32_t sixteenths)
{
    if (own_rtt_ms == 0 || other_rtt_ms <= own_rtt_ms) return 0;
    uint32_t d = (uint32_t)(((uint64_t)other_rtt_ms - own_rtt_ms) * sixteenths / 16);
    return d > RPH_PUNCH_DELAY_MAX_MS ? RPH_PUNCH_DELAY_MAX_MS : d;
}

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
    return wait_part(own_rtt_ms, other_rtt_ms, 12);
}

uint32_t rph_punch_delay_role_ms(uint32_t own_rtt_ms, uint32_t other_rtt_ms, enum rph_role role)
{
    /* The two ends of the window are not alike. Too late a server (or too early a client)
     * lets the client's packet reach the server's router first: it keeps a conntrack entry,
     * the server's packet leaves from a clash port, and Linux then gives that same port to
     * every new flow from the server's socket while the entry lives (its NAT reuses a source's
     * existing mapping), so the client's fresh ports all meet it again. The other end loses
     * at the client's router, and a fresh port is a fresh mapping there. A busy host only
     * ever adds delay (a late timer, a round-trip sample that includes its own wake-up), which
     * pushes a waiting server later and a waiting client earlier, both toward the server's end. In
     * the test bed's window (f - 2n, 2f - n), a server's 5/8 of the difference 2 (f - n) leaves
     * 3f/4 + n/4 on the server's side and f/4 + 3n/4 on the client's (with 5 and 40 ms: 31 and 14
     * ms, against 22.5 both). A client stays in the middle: the server's round trip reaches it only
     * as a class of it, up to a fifth off either way (a sixth too high for 80 ms), more than a
     * shift would gain; the server gets the client's round trip exact. */
    return wait_part(own_rtt_ms, other_rtt_ms, role == RPH_ROLE_SERVER ? 10 : 12);
}
