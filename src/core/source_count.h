/* SPDX-License-Identifier: MIT */
/* Sessions held per source address, in fixed memory: never under-counted (internal). */
#ifndef RUPHIN_CORE_SOURCE_COUNT_H
#define RUPHIN_CORE_SOURCE_COUNT_H

#include <stdbool.h>
#include <stdint.h>

#include "ruphin/addr.h"

#define SC_ROWS 2
#define SC_WIDTH 16384

/* A count-min sketch: each source (IPv4 address or IPv6 /64, and a class such as "sealed")
 * adds to one counter per row; its count is the smallest of them. Sources that share a
 * counter only ever raise each other's count (failing closed); two rows with independent
 * keys make it unlikely that both of a source's counters are shared with a busy one. */
struct source_count {
    uint64_t seed[SC_ROWS];
    uint32_t c[SC_ROWS][SC_WIDTH];
};

void sc_init(struct source_count *sc);
/* How many sessions from's source holds in class cls, or more (never fewer). */
uint32_t sc_get(const struct source_count *sc, const struct rph_addr *from, unsigned cls);
void sc_add(struct source_count *sc, const struct rph_addr *from, unsigned cls);
void sc_sub(struct source_count *sc, const struct rph_addr *from, unsigned cls);

#endif
