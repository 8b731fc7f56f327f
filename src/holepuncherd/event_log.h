// SPDX-License-Identifier: MIT
// Turns the holepuncher's events into log lines: one line per event, with every event a
// stranger can cause at will limited to a few lines a second and a count of the rest.
#ifndef HOLEPUNCHERD_EVENT_LOG_H
#define HOLEPUNCHERD_EVENT_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "log_limit.h"
#include "ruphin/holepuncher.h"
#include "ruphin/wire.h"

/* Session events a stranger can cause at will, each throttled on its own. */
enum hpd_session_line {
    HPD_LINE_REGISTERED,
    HPD_LINE_REFRESHED,
    HPD_LINE_MOVED,
    HPD_LINE_JOINED,
    HPD_LINE_NOT_FOUND,
    HPD_LINE_EXPIRED,
    HPD_LINE_COOKIE,
    HPD_N_LINES
};

/* Lines a second of each session event before "N similar suppressed". */
#define HPD_SESSION_LINES_PER_S 10
/* A session that keeps moving (two plaintext servers registering one ID) gets one "moved"
 * line per this interval, the next one saying how often it moved meanwhile. */
#define HPD_MOVED_EVERY_MS 60000u
#define HPD_MOVED_SLOTS 256

struct hpd_moved {
    struct rph_session id;
    uint64_t logged_ms; /* 0: free */
    uint64_t held;      /* moves since that line without one */
};

struct hpd_event_log {
    size_t max_sessions;              /* named in the "table full" line */
    uint32_t max_sessions_per_source; /* named in the per-source refusal */
    struct log_limit refused;
    struct log_limit dropped;
    struct log_limit denied; /* well-formed requests refused (bad signature, stale, rate) */
    struct log_limit held;   /* sealed Registers refused: another server holds the session */
    struct log_limit session[HPD_N_LINES];
    struct hpd_moved moved[HPD_MOVED_SLOTS]; /* recent moves by session (a small cache) */
};

void hpd_event_log_init(struct hpd_event_log *el, size_t max_sessions);
/* An rph_hp_event_fn; ctx is the struct hpd_event_log. */
void hpd_event_log_cb(void *ctx, const struct rph_hp_event *ev);
/* Reports counts held back by the rate limits; call about once a second. */
void hpd_event_log_flush(struct hpd_event_log *el, uint64_t now_ms);

#endif
