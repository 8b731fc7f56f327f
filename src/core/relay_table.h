/* SPDX-License-Identifier: MIT */
/* The relay's forwarding table (internal): which endpoints are members of which sealed session,
 * and the sessions being relayed with their byte budgets and counters. No socket, no clock. */
#ifndef RUPHIN_CORE_RELAY_TABLE_H
#define RUPHIN_CORE_RELAY_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruphin/addr.h"
#include "ruphin/relay.h"
#include "ruphin/wire.h"

struct relay_config {
    bool enabled;
    size_t max_sessions; /* sessions relayed at once */
    uint32_t max_kbps;   /* per session, kilobits (1000 bits) a second; 0: no limit */
    uint32_t ttl_ms;     /* a membership lasts this long after its proof */
    size_t max_members;  /* endpoints remembered at once, all sessions together */
};

struct relay_table;

/* NULL on -ENOMEM. */
struct relay_table *relay_table_new(const struct relay_config *cfg);
void relay_table_free(struct relay_table *t);
/* New limits; the relayed sessions table is rebuilt when max_sessions changes (its sessions
 * and their counters kept, up to the new cap). 0 or -ENOMEM (the old limits are kept). */
int relay_table_reconfigure(struct relay_table *t, const struct relay_config *cfg);
/* from proved the session's key and its return routability with cookie (the HpCookie it
 * carried): a member until now + ttl_ms. 0, RPH_E_FULL (max_members) or -ENOMEM. */
int relay_member_add(struct relay_table *t, const struct rph_session *s,
                     const struct rph_addr *from, const uint8_t cookie[RPH_COOKIE_LEN],
                     uint64_t now_ms);
/* Whether a is a member of s at now_ms (for tests and logs). */
bool relay_is_member(const struct relay_table *t, const struct rph_session *s,
                     const struct rph_addr *a, uint64_t now_ms);
/* One RelayData of len bytes in buf from `from`. 0: buf now holds the datagram to send, the
 * same len bytes, to *to (the source's endpoint in place of the destination, the cookie field
 * zeroed). Else why it is dropped (counted in the stats): RPH_E_NOTSUP (relay off), a decode
 * error, RPH_E_UNKNOWN_PEER (source not a member or wrong cookie), RPH_E_UNEXPECTED
 * (destination no member of the session), RPH_E_RATE, RPH_E_FULL (max_sessions). */
int relay_forward(struct relay_table *t, uint8_t *buf, size_t len, const struct rph_addr *from,
                  uint64_t now_ms, struct rph_addr *to);
/* Drops expired members and idle sessions (up to budget slots examined per table, resuming
 * where it stopped), reporting each ended session to fn (may be NULL). */
void relay_expire(struct relay_table *t, uint64_t now_ms, size_t budget, rph_relay_end_fn fn,
                  void *ctx);
const struct rph_relay_stats *relay_stats(const struct relay_table *t);
size_t relay_session_count(const struct relay_table *t);
size_t relay_member_count(const struct relay_table *t);
/* A relayed session's counters; false when it is not being relayed. */
bool relay_session_counters(const struct relay_table *t, const struct rph_session *s,
                            uint64_t *relayed, uint64_t *bytes, uint64_t *rate_limited);

#endif
