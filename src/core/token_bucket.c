// SPDX-License-Identifier: MIT
// Token buckets keyed by source IP (port ignored: one host, one budget). The table is fixed;
// a source that hashes onto a bucket held by another takes it over, so memory never grows
// and a flood of spoofed sources only ever costs each other their budgets.
#include "token_bucket.h"

#include <string.h>
#include <sys/random.h>

void tb_init(struct token_bucket *tb, uint32_t per_s, uint32_t burst)
{
    uint64_t seed = tb->seed;
    memset(tb, 0, sizeof *tb);
    tb->per_s = per_s;
    tb->burst = burst ? burst : per_s;
    tb->seed = seed;
    if (!tb->seed && getrandom(&tb->seed, sizeof tb->seed, 0) != sizeof tb->seed)
        tb->seed = (uint64_t)(uintptr_t)tb;
}

bool tb_take(struct token_bucket *tb, const struct rph_addr *from, uint64_t now_ms)
{
    if (tb->per_s == 0) return true;
    size_t n = from->family == 4 ? 4 : 16;
    uint64_t h = tb->seed ^ 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ from->ip[i]) * 1099511628211ull;
    struct tb_bucket *b = &tb->b[(h ^ (h >> 29)) & (TB_BUCKETS - 1)];
    if (b->family != from->family || memcmp(b->ip, from->ip, n) != 0) {
        memset(b, 0, sizeof *b);
        b->family = from->family;
        memcpy(b->ip, from->ip, n);
        b->tokens_milli = tb->burst * 1000u;
        b->last_ms = now_ms;
    }
    uint64_t refill = (now_ms - b->last_ms) * tb->per_s; /* milli-tokens */
    uint64_t t = b->tokens_milli + refill;
    if (t > tb->burst * 1000ull) t = tb->burst * 1000ull;
    b->last_ms = now_ms;
    if (t < 1000) {
        b->tokens_milli = (uint32_t)t;
        return false;
    }
    b->tokens_milli = (uint32_t)(t - 1000);
    return true;
}
