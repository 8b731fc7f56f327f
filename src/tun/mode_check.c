/* SPDX-License-Identifier: MIT */
/* Names a plaintext/sealed mismatch between two peers from what the core refused (the count
 * rph_ev_peer_other_mode keeps on its error path), polled once a second: no per-packet cost. */
#include "mode_check.h"

#include "log.h"
#include "ruphin/ev.h"
#include "tunnel_priv.h"

void mode_check_poll(struct tunnel *t, uint64_t now_ms)
{
    struct rph_addr from = {0};
    uint64_t n = rph_ev_peer_other_mode(t->ep, &from);
    if (n == t->mode_seen) return;
    if (t->mode_warned_ms && now_ms - t->mode_warned_ms < MODE_CHECK_EVERY_MS) return;
    uint64_t more = n - t->mode_seen;
    t->mode_seen = n;
    t->mode_warned_ms = now_ms;
    char a[RPH_ADDR_STRLEN];
    rph_addr_format(&from, a, sizeof a);
    if (t->cfg.seal)
        log_warn("peer %s speaks plaintext ruphin but this tunnel is sealed (\"seal\" differs "
                 "between the two configs; %llu such datagrams refused)",
                 a, (unsigned long long)more);
    else
        log_warn("peer %s speaks sealed ruphin but this tunnel is plaintext (\"seal\" differs "
                 "between the two configs; %llu such datagrams refused)",
                 a, (unsigned long long)more);
}
