/* SPDX-License-Identifier: MIT */
/* Per-source token buckets in a fixed table: bounded memory whatever arrives (internal). */
#ifndef RUPHIN_CORE_RATELIMIT_H
#define RUPHIN_CORE_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "ruphin/addr.h"

#define RL_BUCKETS 4096

struct rl_bucket {
    uint8_t ip[16];
    uint8_t family;
    uint32_t tokens_milli; /* tokens * 1000 */
    uint64_t last_ms;
};

struct ratelimit {
    uint32_t per_s, burst;
    uint64_t seed;
    struct rl_bucket b[RL_BUCKETS];
};

void rl_init(struct ratelimit *rl, uint32_t per_s, uint32_t burst);
/* Takes one token for from's IP address; false when it has none left. */
bool rl_take(struct ratelimit *rl, const struct rph_addr *from, uint64_t now_ms);

#endif
