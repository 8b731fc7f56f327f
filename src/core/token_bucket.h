/* SPDX-License-Identifier: MIT */
/* Per-source token buckets in a fixed table: bounded memory whatever arrives (internal). */
#ifndef RUPHIN_CORE_TOKEN_BUCKET_H
#define RUPHIN_CORE_TOKEN_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

#include "ruphin/addr.h"

#define TB_BUCKETS 8192

/* Zeroed is full: debt is what the bucket's sources have taken and not yet earned back. */
struct tb_bucket {
    uint64_t debt_milli; /* tokens * 1000 */
    uint64_t last_ms;
};

struct token_bucket {
    uint32_t per_s, burst;
    uint64_t seed;
    struct tb_bucket b[TB_BUCKETS];
};

void tb_init(struct token_bucket *tb, uint32_t per_s, uint32_t burst);
/* Takes one token for from's source (its IPv4 address, or its IPv6 /64); false when the
 * bucket it maps to has none left. */
bool tb_take(struct token_bucket *tb, const struct rph_addr *from, uint64_t now_ms);
/* The bucket index from maps to (for tests). */
uint32_t tb_index(const struct token_bucket *tb, const struct rph_addr *from);
/* The key that stands for from's source: an IPv4 address, or an IPv6 /64, hashed with seed. */
uint64_t tb_source_hash(uint64_t seed, const struct rph_addr *from);

#endif
