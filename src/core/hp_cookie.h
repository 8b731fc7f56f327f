/* SPDX-License-Identifier: MIT */
/* holepuncherd's return-routability cookies: a MAC of the source endpoint under a secret that
 * rotates every HP_COOKIE_EPOCH_MS, valid for the current and the previous secret (internal). */
#ifndef RUPHIN_CORE_HP_COOKIE_H
#define RUPHIN_CORE_HP_COOKIE_H

#include <stdbool.h>
#include <stdint.h>

#include "ruphin/addr.h"
#include "ruphin/wire.h"

#define HP_COOKIE_EPOCH_MS 120000u

struct hp_cookie {
    uint8_t cur[32], prev[32];
    uint64_t epoch; /* of cur; prev is epoch - 1 */
    bool started;
};

/* The cookie for from at now_ms (rotating the secrets first when an epoch has passed). */
void hp_cookie_make(struct hp_cookie *c, const struct rph_addr *from, uint64_t now_ms,
                    uint8_t out[RPH_COOKIE_LEN]);
/* Whether cookie is from's under the current or the previous secret. */
bool hp_cookie_check(struct hp_cookie *c, const struct rph_addr *from, uint64_t now_ms,
                     const uint8_t cookie[RPH_COOKIE_LEN]);
void hp_cookie_wipe(struct hp_cookie *c);

#endif
