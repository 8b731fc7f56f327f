/* SPDX-License-Identifier: MIT */
/* Waiting at start for the holepuncher's host name to resolve (no network yet at boot): the
 * retry schedule, with time passed in, and the event-loop wait that follows it. */
#ifndef RUPHIN_TUN_RESOLVE_WAIT_H
#define RUPHIN_TUN_RESOLVE_WAIT_H

#include <event2/event.h>
#include <stdint.h>

#include "config.h"
#include "errmsg.h"

#define RESOLVE_FIRST_MS 1000u /* the first retry, one second after the failure */
#define RESOLVE_MAX_MS 60000u  /* doubling up to once a minute */

/* Exponential backoff: first_ms after the first failure, doubling, at most max_ms. */
struct backoff {
    uint32_t first_ms, max_ms;
    uint32_t delay_ms; /* the last delay handed out; 0 before the first failure */
    unsigned failures; /* attempts that failed so far */
    uint64_t since_ms; /* when the first attempt failed */
    uint64_t due_ms;   /* when the next attempt is due */
};

void backoff_init(struct backoff *b, uint32_t first_ms, uint32_t max_ms);
/* An attempt failed at now_ms: counts it and returns the delay before the next one, which is
 * then due at due_ms. */
uint32_t backoff_failed(struct backoff *b, uint64_t now_ms);

/* c->holepuncher_pending: retries tund_config_resolve_holepuncher on the schedule above, running
 * base until it resolves (0, holepuncher_addr set), SIGTERM/SIGINT arrive (1), or the name
 * resolves to an address no holepuncher can have (negative errno, err says why). Each failure is
 * logged (warn) with the resolver's reason and the next retry, and told to systemd (STATUS=,
 * and EXTEND_TIMEOUT_USEC= so its start timeout does not kill a daemon that waits on purpose). */
int resolve_wait(struct event_base *base, struct tund_config *c, struct errmsg *err);

#endif
