// SPDX-License-Identifier: MIT
// Sessions per source for holepuncherd's max_sessions_per_source: a count-min sketch keyed by
// the source's IPv4 address or IPv6 /64, so memory is fixed however many sources there are.
#include "source_count.h"

#include <string.h>
#include <sys/random.h>

#include "token_bucket.h" /* tb_source_hash: the same notion of a source */

void sc_init(struct source_count *sc)
{
    memset(sc, 0, sizeof *sc);
    if (getrandom(sc->seed, sizeof sc->seed, 0) != sizeof sc->seed) {
        sc->seed[0] = (uint64_t)(uintptr_t)sc;
        sc->seed[1] = ~sc->seed[0];
    }
}

static uint32_t *counter(const struct source_count *sc, size_t row, const struct rph_addr *from,
                         unsigned cls)
{
    uint64_t h = tb_source_hash(sc->seed[row] ^ ((uint64_t)cls * 0x9e3779b97f4a7c15ull), from);
    return (uint32_t *)&sc->c[row][h & (SC_WIDTH - 1)];
}

uint32_t sc_get(const struct source_count *sc, const struct rph_addr *from, unsigned cls)
{
    uint32_t m = UINT32_MAX;
    for (size_t r = 0; r < SC_ROWS; r++) {
        uint32_t v = *counter(sc, r, from, cls);
        if (v < m) m = v;
    }
    return m;
}

void sc_add(struct source_count *sc, const struct rph_addr *from, unsigned cls)
{
    for (size_t r = 0; r < SC_ROWS; r++) {
        uint32_t *v = counter(sc, r, from, cls);
        if (*v < UINT32_MAX) ++*v;
    }
}

void sc_sub(struct source_count *sc, const struct rph_addr *from, unsigned cls)
{
    for (size_t r = 0; r < SC_ROWS; r++) {
        uint32_t *v = counter(sc, r, from, cls);
        if (*v > 0) --*v;
    }
}
