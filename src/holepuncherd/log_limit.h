// SPDX-License-Identifier: MIT
// At most a few log lines per interval for events a peer can trigger at will; the rest are
// counted and reported with the next line or by a periodic flush.
#ifndef HOLEPUNCHERD_LOG_LIMIT_H
#define HOLEPUNCHERD_LOG_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct log_limit {
    uint32_t interval_ms;
    uint32_t burst; /* lines allowed per interval */
    uint32_t used;  /* lines written in the current interval */
    bool started;
    uint64_t last_ms;    /* when the current interval began */
    uint64_t suppressed; /* events since then that got no line of their own */
};

/* One line per interval. */
void log_limit_init(struct log_limit *ll, uint32_t interval_ms);
/* burst lines per interval. */
void log_limit_init_burst(struct log_limit *ll, uint32_t interval_ms, uint32_t burst);
/* true: log this event now, mentioning *suppressed others that came before it;
 * false: it was counted. */
bool log_limit_take(struct log_limit *ll, uint64_t now_ms, uint64_t *suppressed);
/* For a periodic timer: how many events were suppressed and not yet reported, once the
 * interval has passed (0 otherwise); they count as reported afterwards. */
uint64_t log_limit_flush(struct log_limit *ll, uint64_t now_ms);

#endif
