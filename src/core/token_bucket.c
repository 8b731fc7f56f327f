// SPDX-License-Identifier: MIT
// Token buckets keyed by source (an IPv4 address or an IPv6 /64; port ignored: one host, one
// budget) in a fixed table. Sources that hash onto one bucket share it: nobody takes a bucket
// over with a fresh burst, so interleaving any number of other sources never raises a
// source's rate above the configured one (it can only lower it, failing closed).
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

uint64_t tb_source_hash(uint64_t seed, const struct rph_addr *from)
{
    /* An IPv6 host is given a /64; limiting single addresses would give it 2^64 budgets. */
    size_t n = from->family == 4 ? 4 : 8;
    uint64_t h = (seed ^ 1469598103934665603ull) + from->family;
    for (size_t i = 0; i < n; i++)
        h = (h ^ from->ip[i]) * 1099511628211ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}

uint32_t tb_index(const struct token_bucket *tb, const struct rph_addr *from)
{
    return (uint32_t)(tb_source_hash(tb->seed, from) & (TB_BUCKETS - 1));
}

bool tb_take(struct token_bucket *tb, const struct rph_addr *from, uint64_t now_ms)
{
    if (tb->per_s == 0) return true;
    struct tb_bucket *b = &tb->b[tb_index(tb, from)];
    if (now_ms > b->last_ms) {
        uint64_t earned = (now_ms - b->last_ms) * tb->per_s; /* milli-tokens */
        b->debt_milli = earned >= b->debt_milli ? 0 : b->debt_milli - earned;
    }
    b->last_ms = now_ms > b->last_ms ? now_ms : b->last_ms;
    if (b->debt_milli + 1000 > (uint64_t)tb->burst * 1000u) return false;
    b->debt_milli += 1000;
    return true;
}
