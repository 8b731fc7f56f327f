/* SPDX-License-Identifier: MIT */
/* Fresh-port retries: when the next one is due (fresh_port.h says what for). */
#include "fresh_port.h"

uint64_t fresh_port_wait_ms(unsigned k)
{
    /* The first soon (a relayed pair is already working, the try costs a Join and a
     * handshake), the second as soon: a timed punch misses its window mostly by jitter (a busy
     * host, a Wi-Fi burst), which the next try does not repeat, and a user waits for direct in
     * seconds; the last further apart. A NAT that loses the race every time gets three tries
     * in the first 16 s and then no more churn. */
    static const uint64_t waits[RPH_FRESH_PORT_TRIES] = {
        RPH_FRESH_PORT_WAIT_1_MS, RPH_FRESH_PORT_WAIT_2_MS, RPH_FRESH_PORT_WAIT_3_MS};
    return k >= 1 && k <= RPH_FRESH_PORT_TRIES ? waits[k - 1] : UINT64_MAX;
}

void fresh_port_observe(struct fresh_port *f, const struct rph_addr *server, bool failed,
                        uint64_t now_ms)
{
    if (!server) {
        f->failing = false;
        return;
    }
    if (!f->has_server || !rph_addr_equal(&f->server, server)) {
        /* Another server endpoint (it restarted or moved): its own tries. */
        f->server = *server;
        f->has_server = true;
        f->tries = 0;
        f->failing = false;
    }
    if (!failed) {
        f->failing = false;
        return;
    }
    if (!f->failing) {
        f->failing = true;
        f->failing_since_ms = now_ms;
    }
}

uint64_t fresh_port_due(const struct fresh_port *f)
{
    if (!f->failing || f->tries >= RPH_FRESH_PORT_TRIES) return UINT64_MAX;
    /* From the later of the try before and the start of this failure: the tries stay at
     * least as far apart as the schedule says, and a path that went direct after a try and
     * failed again gets the whole wait from then. */
    uint64_t from = f->failing_since_ms;
    if (f->tries > 0 && f->last_try_ms > from) from = f->last_try_ms;
    return from + fresh_port_wait_ms(f->tries + 1u);
}

unsigned fresh_port_take(struct fresh_port *f, uint64_t now_ms)
{
    f->tries++;
    f->last_try_ms = now_ms;
    return f->tries;
}
