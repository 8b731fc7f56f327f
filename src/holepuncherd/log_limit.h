// SPDX-License-Identifier: MIT
// At most one log line per interval for events a peer can trigger at will; the rest are counted
// and reported with the next line.
#ifndef HOLEPUNCHERD_LOG_LIMIT_H
#define HOLEPUNCHERD_LOG_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct log_limit {
    uint32_t interval_ms;
    bool started;
    uint64_t last_ms;    /* when the last line was allowed */
    uint64_t suppressed; /* events since that line that got no line of their own */
};

void log_limit_init(struct log_limit *ll, uint32_t interval_ms);
/* true: log this event now, mentioning *suppressed others that came before it;
 * false: it was counted. */
bool log_limit_take(struct log_limit *ll, uint64_t now_ms, uint64_t *suppressed);
/* For a periodic timer: how many events were suppressed and not yet reported, once the
 * interval has passed (0 otherwise); they count as reported afterwards. */
uint64_t log_limit_flush(struct log_limit *ll, uint64_t now_ms);

#endif
