/* SPDX-License-Identifier: MIT */
/* Per-source token buckets in a fixed table: bounded memory whatever arrives (internal). */
#ifndef RUPHIN_CORE_TOKEN_BUCKET_H
#define RUPHIN_CORE_TOKEN_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

#include "ruphin/addr.h"

#define TB_BUCKETS 4096

struct tb_bucket {
    uint8_t ip[16];
    uint8_t family;
    uint32_t tokens_milli; /* tokens * 1000 */
    uint64_t last_ms;
};

struct token_bucket {
    uint32_t per_s, burst;
    uint64_t seed;
    struct tb_bucket b[TB_BUCKETS];
};

void tb_init(struct token_bucket *tb, uint32_t per_s, uint32_t burst);
/* Takes one token for from's IP address; false when it has none left. */
bool tb_take(struct token_bucket *tb, const struct rph_addr *from, uint64_t now_ms);

#endif
