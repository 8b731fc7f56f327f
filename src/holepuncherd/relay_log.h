// SPDX-License-Identifier: MIT
// holepuncherd's log lines about the relay: each relayed session's end with its counters, and
// a summary of what the relay dropped, both rate-limited (a member can cause them at will).
#ifndef HOLEPUNCHERD_RELAY_LOG_H
#define HOLEPUNCHERD_RELAY_LOG_H

#include <stdint.h>

#include "log_limit.h"
#include "ruphin/relay.h"

/* Session-end lines a second before "N similar suppressed". */
#define HPD_RELAY_END_LINES_PER_S 10
/* At most one drop summary per this interval. */
#define HPD_RELAY_DROP_INTERVAL_MS 10000

struct hpd_relay_log {
    struct log_limit ended;
    uint64_t drops_reported; /* the drop total at the last summary */
    uint64_t last_summary_ms;
};

void hpd_relay_log_init(struct hpd_relay_log *rl);
/* An rph_relay_end_fn; ctx is the struct hpd_relay_log. */
void hpd_relay_log_end_cb(void *ctx, const struct rph_relay_session_end *e);
/* Once a second: reports suppressed end lines and, at most every HPD_RELAY_DROP_INTERVAL_MS,
 * what was dropped since the last summary. */
void hpd_relay_log_tick(struct hpd_relay_log *rl, const struct rph_relay_stats *s, uint64_t now_ms);
/* Total datagrams the relay dropped, whatever the reason. */
uint64_t hpd_relay_dropped(const struct rph_relay_stats *s);

#endif
