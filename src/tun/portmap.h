/* SPDX-License-Identifier: MIT */
/* A port mapping on the router in front of this machine (NAT-PMP, RFC 6886, with Debian's
 * libnatpmp): the tunnel's UDP port reachable from outside at a fixed external address and port,
 * which a NAT (a symmetric one too) keeps for every destination; renewed, deleted at exit. */
#ifndef RUPHIN_TUN_PORTMAP_H
#define RUPHIN_TUN_PORTMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "portmap_sm.h"

struct event_base;
struct portmap;

struct portmap_info {
    bool available;    /* built with libnatpmp */
    const char *state; /* "asking", "mapped", "renewing", "none" */
    char gateway[16];  /* the router asked ("" before the first attempt) */
    uint32_t ext_ip;   /* network order; 0 when not mapped */
    uint16_t ext_port;
    uint16_t local_port;
    uint32_t lifetime_s;
    uint64_t expires_in_ms, next_in_ms;
    uint64_t mapped, renewals, failures;
    char last_error[96]; /* the last failure, "" none */
};

/* Called when the external endpoint appears, changes or goes (ext_ip 0). */
typedef void (*portmap_change_fn)(void *ctx, uint32_t ext_ip, uint16_t ext_port);

/* Starts asking at once; NULL only when out of memory. */
struct portmap *portmap_new(struct event_base *base, uint16_t local_port, portmap_change_fn fn,
                            void *ctx);
/* The tunnel's socket moved to local_port (a fresh-port retry): a mapping for it is asked for
 * now (the old one expires on the router by itself). */
void portmap_set_local_port(struct portmap *p, uint16_t local_port);
/* Deletes the mapping on the router (waiting at most 300 ms for its answer), then frees. */
void portmap_free(struct portmap *p);
void portmap_info(const struct portmap *p, uint64_t now_ms, struct portmap_info *out);

#endif
