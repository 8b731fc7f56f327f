/* SPDX-License-Identifier: MIT */
/* Overlay address -> peer, for the server's routing and the source-address check. */
#ifndef RUPHIN_TUN_ROUTE_H
#define RUPHIN_TUN_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct route_entry {
    uint8_t family; /* 0 empty, 4 or 6 */
    uint8_t addr[16];
    void *peer;
};

struct route {
    struct route_entry *slots;
    size_t cap; /* power of two, at least twice the entries */
    size_t count;
};

int route_init(struct route *r, size_t max_entries);
void route_free(struct route *r);
void route_clear(struct route *r);
/* -1 when full (cannot happen within max_entries). Replaces an existing entry. */
int route_add(struct route *r, int family, const uint8_t *addr, void *peer);
void *route_lookup(const struct route *r, int family, const uint8_t *addr);
/* Whether address a (4 or 16 bytes) lies in net/bits. */
bool route_in_prefix(const uint8_t *a, const uint8_t *net, int bits);

#endif
