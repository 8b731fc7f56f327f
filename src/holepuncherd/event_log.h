// SPDX-License-Identifier: MIT
// Turns the holepuncher's events into log lines: one line per event, with the events a
// stranger can cause at will (refusals, garbage) limited to a line per second.
#ifndef HOLEPUNCHERD_EVENT_LOG_H
#define HOLEPUNCHERD_EVENT_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "log_limit.h"
#include "ruphin/holepuncher.h"

struct hpd_event_log {
    size_t max_sessions; /* named in the "table full" line */
    struct log_limit refused;
    struct log_limit dropped;
    struct log_limit denied; /* well-formed requests refused (bad signature, stale, rate) */
};

void hpd_event_log_init(struct hpd_event_log *el, size_t max_sessions);
/* An rph_hp_event_fn; ctx is the struct hpd_event_log. */
void hpd_event_log_cb(void *ctx, const struct rph_hp_event *ev);
/* Reports counts held back by the rate limits; call about once a second. */
void hpd_event_log_flush(struct hpd_event_log *el, uint64_t now_ms);

#endif
