// SPDX-License-Identifier: MIT
// Token buckets keyed by source IP (port ignored: one host, one budget). The table is fixed;
// a source that hashes onto a bucket held by another takes it over, so memory never grows
// and a flood of spoofed sources only ever costs each other their budgets.
#include "ratelimit.h"

#include <string.h>
#include <sys/random.h>

void rl_init(struct ratelimit *rl, uint32_t per_s, uint32_t burst)
{
    uint64_t seed = rl->seed;
    memset(rl, 0, sizeof *rl);
    rl->per_s = per_s;
    rl->burst = burst ? burst : per_s;
    rl->seed = seed;
    if (!rl->seed && getrandom(&rl->seed, sizeof rl->seed, 0) != sizeof rl->seed)
        rl->seed = (uint64_t)(uintptr_t)rl;
}

bool rl_take(struct ratelimit *rl, const struct rph_addr *from, uint64_t now_ms)
{
    if (rl->per_s == 0) return true;
    size_t n = from->family == 4 ? 4 : 16;
    uint64_t h = rl->seed ^ 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ from->ip[i]) * 1099511628211ull;
    struct rl_bucket *b = &rl->b[(h ^ (h >> 29)) & (RL_BUCKETS - 1)];
    if (b->family != from->family || memcmp(b->ip, from->ip, n) != 0) {
        memset(b, 0, sizeof *b);
        b->family = from->family;
        memcpy(b->ip, from->ip, n);
        b->tokens_milli = rl->burst * 1000u;
        b->last_ms = now_ms;
    }
    uint64_t refill = (now_ms - b->last_ms) * rl->per_s; /* milli-tokens */
    uint64_t t = b->tokens_milli + refill;
    if (t > rl->burst * 1000ull) t = rl->burst * 1000ull;
    b->last_ms = now_ms;
    if (t < 1000) {
        b->tokens_milli = (uint32_t)t;
        return false;
    }
    b->tokens_milli = (uint32_t)(t - 1000);
    return true;
}
