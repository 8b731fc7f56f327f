// SPDX-License-Identifier: MIT
// A one-line-per-interval log limiter that counts what it holds back.
#include "ratelimit.h"

void hpd_ratelimit_init(struct hpd_ratelimit *rl, uint32_t interval_ms)
{
    rl->interval_ms = interval_ms;
    rl->started = false;
    rl->last_ms = 0;
    rl->suppressed = 0;
}

bool hpd_ratelimit_take(struct hpd_ratelimit *rl, uint64_t now_ms, uint64_t *suppressed)
{
    if (!rl->started || now_ms - rl->last_ms >= rl->interval_ms) {
        rl->started = true;
        rl->last_ms = now_ms;
        *suppressed = rl->suppressed;
        rl->suppressed = 0;
        return true;
    }
    rl->suppressed++;
    return false;
}

uint64_t hpd_ratelimit_flush(struct hpd_ratelimit *rl, uint64_t now_ms)
{
    if (rl->suppressed == 0 || now_ms - rl->last_ms < rl->interval_ms) return 0;
    uint64_t n = rl->suppressed;
    rl->suppressed = 0;
    /* The flush line stands for a line of this interval: the next event waits its turn. */
    rl->last_ms = now_ms;
    return n;
}
