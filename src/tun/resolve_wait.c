/* SPDX-License-Identifier: MIT */
/* Waiting at start for the holepuncher's host name to resolve: a name that does not resolve
 * yet is retried with backoff, never taken for a config error (systemd would not restart it). */
#include "resolve_wait.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>

#include "log.h"
#include "notify.h"
#include "ruphin/addr.h"
#include "ruphin/clock.h"

void backoff_init(struct backoff *b, uint32_t first_ms, uint32_t max_ms)
{
    *b = (struct backoff){.first_ms = first_ms, .max_ms = max_ms};
}

uint32_t backoff_failed(struct backoff *b, uint64_t now_ms)
{
    if (b->failures++ == 0) {
        b->since_ms = now_ms;
        b->delay_ms = b->first_ms;
    } else {
        b->delay_ms = b->delay_ms > b->max_ms / 2 ? b->max_ms : b->delay_ms * 2;
    }
    if (b->delay_ms > b->max_ms) b->delay_ms = b->max_ms;
    b->due_ms = now_ms + b->delay_ms;
    return b->delay_ms;
}

struct waiter {
    struct event_base *base;
    struct tund_config *c;
    struct backoff bo;
    struct event *timer;
    int result;
    struct errmsg *err;
};

/* Logs the failure just counted and arms the next attempt. */
static void schedule(struct waiter *w, uint64_t now_ms)
{
    uint32_t delay = backoff_failed(&w->bo, now_ms);
    log_warn("\"holepuncher\": cannot resolve \"%s\": %s; attempt %u failed, next in %u s "
             "(the tunnel starts once it resolves)",
             w->c->holepuncher, w->c->holepuncher_why, w->bo.failures, delay / 1000);
    char st[TUND_HOLEPUNCHER_MAX + sizeof w->c->holepuncher_why + 64];
    snprintf(st, sizeof st, "STATUS=waiting for \"%s\" to resolve: %s", w->c->holepuncher,
             w->c->holepuncher_why);
    notify_send(st);
    /* The start job's timeout (TimeoutStartSec=, 90 s by default) runs from the unit's start:
     * push it past the next attempt, with room for a slow resolver. */
    snprintf(st, sizeof st, "EXTEND_TIMEOUT_USEC=%llu",
             (unsigned long long)(delay + 30000u) * 1000ull);
    notify_send(st);
    struct timeval tv = {.tv_sec = delay / 1000, .tv_usec = (delay % 1000) * 1000};
    evtimer_add(w->timer, &tv);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct waiter *w = arg;
    uint64_t now = rph_now_ms();
    struct errmsg why;
    int rc = tund_config_resolve_holepuncher(w->c, &why);
    if (rc == -EAGAIN) {
        schedule(w, now);
        return;
    }
    if (rc < 0) {
        errmsg_set(w->err, "%s", why.msg);
        w->result = rc;
    } else {
        char a[RPH_ADDR_STRLEN];
        log_info("\"holepuncher\": \"%s\" resolves to %s, after %u failed attempts in %.1f s",
                 w->c->holepuncher, rph_addr_format(&w->c->holepuncher_addr, a, sizeof a),
                 w->bo.failures, (double)(now - w->bo.since_ms) / 1000.0);
        w->result = 0;
    }
    event_base_loopbreak(w->base);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct waiter *w = arg;
    log_info("%s while waiting for \"%s\" to resolve: stopping",
             sig == SIGTERM ? "SIGTERM" : "SIGINT", w->c->holepuncher);
    notify_stopping();
    w->result = 1;
    event_base_loopbreak(w->base);
}

/* SIGHUP's default action would end the daemon; a reload this early changes nothing (the
 * config read at start is kept), and saying so beats dying. */
static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct waiter *w = arg;
    log_info("SIGHUP while waiting for \"%s\" to resolve: ignored (the config read at start is "
             "kept; restart to change it)",
             w->c->holepuncher);
}

int resolve_wait(struct event_base *base, struct tund_config *c, struct errmsg *err)
{
    if (!c->holepuncher_pending) return 0;
    struct waiter w = {.base = base, .c = c, .err = err, .result = -EINTR};
    backoff_init(&w.bo, RESOLVE_FIRST_MS, RESOLVE_MAX_MS);
    w.timer = evtimer_new(base, on_retry, &w);
    struct event *ev_int = evsignal_new(base, SIGINT, on_signal, &w);
    struct event *ev_term = evsignal_new(base, SIGTERM, on_signal, &w);
    struct event *ev_hup = evsignal_new(base, SIGHUP, on_hup, &w);
    if (!w.timer || !ev_int || !ev_term || !ev_hup) {
        errmsg_set(err, "event loop: cannot create the resolve timer");
        w.result = -ENOMEM;
    } else {
        event_add(ev_int, NULL);
        event_add(ev_term, NULL);
        event_add(ev_hup, NULL);
        schedule(&w, rph_now_ms()); /* the failure tund_config_resolve saw */
        event_base_dispatch(base);
        if (w.result == -EINTR)
            errmsg_set(err, "event loop: ended while waiting for the holepuncher's name");
    }
    if (ev_int) event_free(ev_int);
    if (ev_term) event_free(ev_term);
    if (ev_hup) event_free(ev_hup);
    if (w.timer) event_free(w.timer);
    return w.result;
}
