// SPDX-License-Identifier: MIT
// At most one log line per interval for events a peer can trigger at will; the rest are counted
// and reported with the next line.
#ifndef HOLEPUNCHERD_RATELIMIT_H
#define HOLEPUNCHERD_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct hpd_ratelimit {
    uint32_t interval_ms;
    bool started;
    uint64_t last_ms;    /* when the last line was allowed */
    uint64_t suppressed; /* events since that line that got no line of their own */
};

void hpd_ratelimit_init(struct hpd_ratelimit *rl, uint32_t interval_ms);
/* true: log this event now, mentioning *suppressed others that came before it;
 * false: it was counted. */
bool hpd_ratelimit_take(struct hpd_ratelimit *rl, uint64_t now_ms, uint64_t *suppressed);
/* For a periodic timer: how many events were suppressed and not yet reported, once the
 * interval has passed (0 otherwise); they count as reported afterwards. */
uint64_t hpd_ratelimit_flush(struct hpd_ratelimit *rl, uint64_t now_ms);

#endif
