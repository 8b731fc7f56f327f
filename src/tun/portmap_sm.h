/* SPDX-License-Identifier: MIT */
/* When to ask the router for a port mapping, renew it and give up on it: the NAT-PMP client's
 * timing as a state machine with the time passed in (portmap.c does the talking). */
#ifndef RUPHIN_TUN_PORTMAP_SM_H
#define RUPHIN_TUN_PORTMAP_SM_H

#include <stdbool.h>
#include <stdint.h>

/* The lifetime asked for, and how long one exchange (public address, then the mapping) may
 * take before the router counts as not answering: libnatpmp resends after 250, 500 and 1000 ms. */
#define PORTMAP_LIFETIME_S 7200
#define PORTMAP_ASK_TIMEOUT_MS 2000
/* After a failure the next attempt waits this long, doubling up to the maximum (a router
 * without NAT-PMP costs one small request every 10 minutes). */
#define PORTMAP_RETRY_MIN_MS 30000
#define PORTMAP_RETRY_MAX_MS 600000

enum portmap_state {
    PORTMAP_IDLE,     /* no mapping; the next attempt at next_ms */
    PORTMAP_ASKING,   /* an exchange in flight; it fails at next_ms */
    PORTMAP_MAPPED,   /* the router maps ext_port; renewed at next_ms */
    PORTMAP_RENEWING, /* mapped, and a renewal in flight; fails at next_ms */
};

struct portmap_sm {
    enum portmap_state state;
    uint64_t next_ms;
    uint64_t expires_ms; /* MAPPED/RENEWING: when the router drops the mapping */
    uint64_t retry_ms;   /* the wait after the next failure */
    uint32_t ext_ip;     /* network order */
    uint16_t ext_port;
    uint32_t lifetime_s; /* as granted */
    uint64_t mapped, renewals, failures;
};

enum portmap_action {
    PORTMAP_NOTHING,
    PORTMAP_ASK,     /* start an exchange (a first mapping or a renewal) */
    PORTMAP_TIMEOUT, /* the exchange in flight got no answer: stop it, portmap_sm_failed */
};

void portmap_sm_init(struct portmap_sm *s, uint64_t now_ms);
/* What is due at now_ms; call it at next_ms (or later). */
enum portmap_action portmap_sm_tick(struct portmap_sm *s, uint64_t now_ms);
/* The router granted ext_ip:ext_port for lifetime_s seconds (0 is refused: use failed). Returns
 * true when the external endpoint changed (a new candidate to offer). */
bool portmap_sm_granted(struct portmap_sm *s, uint64_t now_ms, uint32_t ext_ip, uint16_t ext_port,
                        uint32_t lifetime_s);
/* The exchange failed (an error answer, no gateway, a send error). */
void portmap_sm_failed(struct portmap_sm *s, uint64_t now_ms);
/* Whether a mapping is in place now. */
bool portmap_sm_mapped(const struct portmap_sm *s);

#endif
