// SPDX-License-Identifier: MIT
// Log lines for holepuncher events (registered, moved, joined, expired, refused, dropped).
#include "event_log.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "ruphin/clock.h"
#include "ruphin/error.h"
#include "session_text.h"

void hpd_event_log_init(struct hpd_event_log *el, size_t max_sessions)
{
    el->max_sessions = max_sessions;
    memset(el->moved, 0, sizeof el->moved);
    log_limit_init(&el->refused, 1000);
    log_limit_init(&el->dropped, 1000);
    log_limit_init(&el->denied, 1000);
    log_limit_init(&el->held, 60000);
    for (size_t i = 0; i < HPD_N_LINES; i++)
        log_limit_init_burst(&el->session[i], 1000, HPD_SESSION_LINES_PER_S);
}

static const char *const line_what[HPD_N_LINES] = {[HPD_LINE_REGISTERED] = "session registered",
                                                   [HPD_LINE_REFRESHED] = "session refreshed",
                                                   [HPD_LINE_MOVED] = "session moved",
                                                   [HPD_LINE_JOINED] = "session joined",
                                                   [HPD_LINE_NOT_FOUND] = "session not found",
                                                   [HPD_LINE_EXPIRED] = "session expired",
                                                   [HPD_LINE_COOKIE] = "cookie sent"};

static const enum log_level line_level[HPD_N_LINES] = {
    [HPD_LINE_REGISTERED] = LOG_LVL_INFO, [HPD_LINE_REFRESHED] = LOG_LVL_DEBUG,
    [HPD_LINE_MOVED] = LOG_LVL_WARN,      [HPD_LINE_JOINED] = LOG_LVL_INFO,
    [HPD_LINE_NOT_FOUND] = LOG_LVL_INFO,  [HPD_LINE_EXPIRED] = LOG_LVL_INFO,
    [HPD_LINE_COOKIE] = LOG_LVL_DEBUG};

/* Whether this event gets its own line; a line first reports the ones held back before it. */
static bool line_ok(struct hpd_event_log *el, enum hpd_session_line k)
{
    uint64_t more;
    if (!log_limit_take(&el->session[k], rph_now_ms(), &more)) return false;
    if (more)
        log_msg(line_level[k], "%llu similar suppressed (%s)", (unsigned long long)more,
                line_what[k]);
    return true;
}

/* Whether a move of this session gets a line now; *held: its moves since its last line. A
 * small cache by hash: a session pushed out by another just logs its next move at once. */
static bool moved_ok(struct hpd_event_log *el, const struct rph_session *s, uint64_t now,
                     uint64_t *held)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < s->len; i++)
        h = (h ^ s->id[i]) * 16777619u;
    struct hpd_moved *m = &el->moved[h % HPD_MOVED_SLOTS];
    if (m->logged_ms && rph_session_equal(&m->id, s)) {
        if (now - m->logged_ms < HPD_MOVED_EVERY_MS) {
            m->held++;
            return false;
        }
        *held = m->held;
    }
    m->id = *s;
    m->logged_ms = now ? now : 1;
    m->held = 0;
    return true;
}

static const char *addr_text(const struct rph_addr *a, char *buf, size_t cap)
{
    if (!a) return "(unknown)";
    return rph_addr_format(a, buf, cap);
}

/* The level each event logs at: an event whose line would be discarded is not formatted at
 * all (at full load, formatting refreshes for nothing was 5 % of holepuncherd's time). */
static enum log_level event_level(enum rph_hp_event_type type)
{
    switch (type) {
    case RPH_HP_REFRESHED:
    case RPH_HP_DROPPED:
    case RPH_HP_COOKIE_SENT:
        return LOG_LVL_DEBUG;
    case RPH_HP_MOVED:
    case RPH_HP_REFUSED_FULL:
    case RPH_HP_REFUSED:
        return LOG_LVL_WARN;
    default:
        return LOG_LVL_INFO;
    }
}

static const char *refusal_text(const struct hpd_event_log *el, int err, char *buf, size_t cap)
{
    if (err == RPH_E_UNEXPECTED) return "plaintext message for a sealed session";
    if (err == RPH_E_FULL) {
        snprintf(buf, cap, "too many sessions from this source (max_sessions_per_source %u)",
                 el->max_sessions_per_source);
        return buf;
    }
    return rph_strerror(err);
}

void hpd_event_log_cb(void *ctx, const struct rph_hp_event *ev)
{
    struct hpd_event_log *el = ctx;
    char sess[HPD_SESSION_TEXT_MAX] = "(none)";
    char from[RPH_ADDR_STRLEN], server[RPH_ADDR_STRLEN], why[96];
    uint64_t more;

    if ((int)log_get_level() < (int)event_level(ev->type)) return;
    if (ev->session) hpd_session_text(ev->session, sess, sizeof sess);
    switch (ev->type) {
    case RPH_HP_REGISTERED:
        if (!line_ok(el, HPD_LINE_REGISTERED)) break;
        log_info("session %s registered by %s", sess, addr_text(ev->from, from, sizeof from));
        break;
    case RPH_HP_REFRESHED:
        if (!line_ok(el, HPD_LINE_REFRESHED)) break;
        log_debug("session %s refreshed by %s", sess, addr_text(ev->from, from, sizeof from));
        break;
    case RPH_HP_MOVED: {
        /* Anyone who knows the ID can take a session over (as in the crate): worth a warning,
         * but two servers of one session move it every keepalive: once a minute for it. */
        uint64_t held = 0;
        if (!moved_ok(el, ev->session, rph_now_ms(), &held)) break;
        if (!line_ok(el, HPD_LINE_MOVED)) break;
        if (held)
            log_warn("session %s moved from %s to %s (%llu more moves since its last such line: "
                     "two servers registering it?)",
                     sess, addr_text(ev->server, server, sizeof server),
                     addr_text(ev->from, from, sizeof from), (unsigned long long)held);
        else
            log_warn("session %s moved from %s to %s", sess,
                     addr_text(ev->server, server, sizeof server),
                     addr_text(ev->from, from, sizeof from));
        break;
    }
    case RPH_HP_JOINED:
        if (!line_ok(el, HPD_LINE_JOINED)) break;
        log_info("session %s joined by %s, server %s", sess, addr_text(ev->from, from, sizeof from),
                 addr_text(ev->server, server, sizeof server));
        break;
    case RPH_HP_NOT_FOUND:
        if (!line_ok(el, HPD_LINE_NOT_FOUND)) break;
        log_info("session %s not found, join from %s", sess,
                 addr_text(ev->from, from, sizeof from));
        break;
    case RPH_HP_REFUSED_FULL:
        if (log_limit_take(&el->refused, rph_now_ms(), &more)) {
            if (more)
                log_warn("session %s refused: table full (max_sessions %zu), register from %s; "
                         "%llu more refused since the last line",
                         sess, el->max_sessions, addr_text(ev->from, from, sizeof from),
                         (unsigned long long)more);
            else
                log_warn("session %s refused: table full (max_sessions %zu), register from %s",
                         sess, el->max_sessions, addr_text(ev->from, from, sizeof from));
        }
        break;
    case RPH_HP_EXPIRED:
        if (!line_ok(el, HPD_LINE_EXPIRED)) break;
        log_info("session %s expired, server was %s", sess,
                 addr_text(ev->server, server, sizeof server));
        break;
    case RPH_HP_REFUSED:
        /* An attack or a misconfigured peer: worth a line, but a flood gets one a second. */
        if (ev->err == RPH_E_HELD) {
            /* Two servers of one session: each refusal repeats at the keepalive pace. */
            if (log_limit_take(&el->held, rph_now_ms(), &more))
                log_warn("refused a Register from %s for session %s: another server (%s, "
                         "another node) holds it; told it so%s",
                         addr_text(ev->from, from, sizeof from), sess,
                         addr_text(ev->server, server, sizeof server),
                         more ? " (and more since the last line)" : "");
        } else if (log_limit_take(&el->denied, rph_now_ms(), &more))
            log_warn("refused a request from %s%s%s: %s%s", addr_text(ev->from, from, sizeof from),
                     ev->session ? " for session " : "", ev->session ? sess : "",
                     refusal_text(el, ev->err, why, sizeof why),
                     more ? " (and more since the last line)" : "");
        break;
    case RPH_HP_COOKIE_SENT:
        if (line_ok(el, HPD_LINE_COOKIE))
            log_debug("sent a cookie to %s (sealed request without a valid one)",
                      addr_text(ev->from, from, sizeof from));
        break;
    case RPH_HP_DROPPED:
        if (log_limit_take(&el->dropped, rph_now_ms(), &more)) {
            if (more)
                log_debug("dropped a datagram from %s: %s; %llu more dropped since the last line",
                          addr_text(ev->from, from, sizeof from), rph_strerror(ev->err),
                          (unsigned long long)more);
            else
                log_debug("dropped a datagram from %s: %s", addr_text(ev->from, from, sizeof from),
                          rph_strerror(ev->err));
        }
        break;
    }
}

void hpd_event_log_flush(struct hpd_event_log *el, uint64_t now_ms)
{
    uint64_t n = log_limit_flush(&el->refused, now_ms);
    if (n)
        log_warn("%llu more sessions refused: table full (max_sessions %zu)", (unsigned long long)n,
                 el->max_sessions);
    n = log_limit_flush(&el->denied, now_ms);
    if (n) log_warn("%llu more requests refused", (unsigned long long)n);
    n = log_limit_flush(&el->held, now_ms);
    if (n)
        log_warn("%llu more Registers refused: another server holds the session",
                 (unsigned long long)n);
    for (size_t k = 0; k < HPD_N_LINES; k++) {
        n = log_limit_flush(&el->session[k], now_ms);
        if (n && log_get_level() >= line_level[k])
            log_msg(line_level[k], "%llu similar suppressed (%s)", (unsigned long long)n,
                    line_what[k]);
    }
    n = log_limit_flush(&el->dropped, now_ms);
    if (n && log_get_level() >= LOG_LVL_DEBUG)
        log_debug("%llu more datagrams dropped", (unsigned long long)n);
}
