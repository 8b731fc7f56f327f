// SPDX-License-Identifier: MIT
// A few-lines-per-interval log limiter that counts what it holds back.
#include "log_limit.h"

void log_limit_init(struct log_limit *ll, uint32_t interval_ms)
{
    log_limit_init_burst(ll, interval_ms, 1);
}

void log_limit_init_burst(struct log_limit *ll, uint32_t interval_ms, uint32_t burst)
{
    ll->interval_ms = interval_ms;
    ll->burst = burst ? burst : 1;
    ll->used = 0;
    ll->started = false;
    ll->last_ms = 0;
    ll->suppressed = 0;
}

bool log_limit_take(struct log_limit *ll, uint64_t now_ms, uint64_t *suppressed)
{
    if (!ll->started || now_ms - ll->last_ms >= ll->interval_ms) {
        ll->started = true;
        ll->last_ms = now_ms;
        ll->used = 1;
        *suppressed = ll->suppressed;
        ll->suppressed = 0;
        return true;
    }
    if (ll->used < ll->burst) {
        ll->used++;
        *suppressed = 0;
        return true;
    }
    ll->suppressed++;
    return false;
}

uint64_t log_limit_flush(struct log_limit *ll, uint64_t now_ms)
{
    if (ll->suppressed == 0 || now_ms - ll->last_ms < ll->interval_ms) return 0;
    uint64_t n = ll->suppressed;
    ll->suppressed = 0;
    /* The flush line stands for the lines of this interval: the next events wait their turn. */
    ll->last_ms = now_ms;
    ll->used = ll->burst;
    return n;
}
