// SPDX-License-Identifier: MIT
// A small open-addressing table from overlay address to peer; rebuilt (route_clear + adds)
// when a peer leaves, which is rare next to the per-packet lookups.
#include "route.h"

#include <stdlib.h>
#include <string.h>

static size_t alen(int family)
{
    return family == 4 ? 4 : 16;
}

static size_t hash(int family, const uint8_t *a)
{
    uint32_t h = 2166136261u ^ (uint32_t)family;
    for (size_t i = 0; i < alen(family); i++)
        h = (h ^ a[i]) * 16777619u;
    return h;
}

int route_init(struct route *r, size_t max_entries)
{
    size_t cap = 16;
    /* two families per peer, at most half full */
    while (cap < max_entries * 4)
        cap *= 2;
    r->slots = calloc(cap, sizeof *r->slots);
    if (!r->slots) return -1;
    r->cap = cap;
    r->count = 0;
    return 0;
}

void route_free(struct route *r)
{
    free(r->slots);
    r->slots = NULL;
}

void route_clear(struct route *r)
{
    memset(r->slots, 0, r->cap * sizeof *r->slots);
    r->count = 0;
}

static struct route_entry *find(const struct route *r, int family, const uint8_t *addr)
{
    size_t mask = r->cap - 1;
    for (size_t i = hash(family, addr) & mask, n = 0; n < r->cap; i = (i + 1) & mask, n++) {
        struct route_entry *e = &r->slots[i];
        if (e->family == 0) return e;
        if (e->family == family && memcmp(e->addr, addr, alen(family)) == 0) return e;
    }
    return NULL;
}

int route_add(struct route *r, int family, const uint8_t *addr, void *peer)
{
    struct route_entry *e = find(r, family, addr);
    if (!e) return -1;
    if (e->family == 0) {
        if ((r->count + 1) * 2 > r->cap) return -1;
        e->family = (uint8_t)family;
        memcpy(e->addr, addr, alen(family));
        r->count++;
    }
    e->peer = peer;
    return 0;
}

void *route_lookup(const struct route *r, int family, const uint8_t *addr)
{
    struct route_entry *e = find(r, family, addr);
    return e && e->family ? e->peer : NULL;
}

bool route_in_prefix(const uint8_t *a, const uint8_t *net, int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a, net, (size_t)full) != 0) return false;
    if (!rest) return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (net[full] & mask);
}
