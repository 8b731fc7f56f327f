/* SPDX-License-Identifier: MIT */
/* Fresh-port retries (internal; docs/PROTOCOL.md "Fresh-port retries"): when a sealed client's
 * direct attempt toward its server failed, it tries again from a new local port (a new NAT
 * mapping, so a Linux router's lost conntrack race is not repeated), bounded. Pure: the peer
 * says what it sees and when, this says when a try is due. */
#ifndef RUPHIN_CORE_FRESH_PORT_H
#define RUPHIN_CORE_FRESH_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include "ruphin/addr.h"
#include "ruphin/peer.h"

struct fresh_port {
    struct rph_addr server; /* the server endpoint the tries so far were for */
    bool has_server;
    uint8_t tries;             /* made toward it, at most RPH_FRESH_PORT_TRIES */
    bool failing;              /* its direct attempt is failed now */
    uint64_t failing_since_ms; /* since when (the first try's wait starts there) */
    uint64_t last_try_ms;      /* the later tries' waits start at the try before */
};

/* The wait before try k (1-based): RPH_FRESH_PORT_WAIT_{1,2,3}_MS; UINT64_MAX past the bound. */
uint64_t fresh_port_wait_ms(unsigned k);
/* What the peer sees at now: its server's endpoint (NULL: none yet) and whether the direct
 * path to it is failed (relayed, or no direct answer within the punch window). A new server
 * endpoint starts the count again; a path that works clears the failure (not the count). */
void fresh_port_observe(struct fresh_port *f, const struct rph_addr *server, bool failed,
                        uint64_t now_ms);
/* When the next try is due, UINT64_MAX for none (working, or the bound reached). */
uint64_t fresh_port_due(const struct fresh_port *f);
/* A try is made at now: its number, 1..RPH_FRESH_PORT_TRIES. */
unsigned fresh_port_take(struct fresh_port *f, uint64_t now_ms);

#endif
