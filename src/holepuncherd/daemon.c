// SPDX-License-Identifier: MIT
// holepuncherd's runtime: the library's event-driven holepuncher on a libevent base, plus
// signals (stop, reload), a one-second timer and the log lines around them.
#include "daemon.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_log.h"
#include "listen_probe.h"
#include "log.h"
#include "notify.h"
#include "relay_log.h"
#include "ruphin/clock.h"
#include "ruphin/error.h"
#include "ruphin/ev.h"

static const int handled_signals[] = {SIGTERM, SIGINT, SIGHUP};
#define N_SIGNALS (sizeof handled_signals / sizeof handled_signals[0])

struct hpd_daemon {
    struct event_base *base;
    struct rph_ev_holepuncher *evh;
    struct rph_holepuncher *hp;
    struct event *sig[N_SIGNALS];
    struct event *tick;
    struct hpd_config cfg; /* listen: what is bound; the rest: what is applied */
    char *config_path;
    struct hpd_event_log elog;
    struct hpd_relay_log rlog;
    int stop_signal;
};

static void core_config(const struct hpd_config *cfg, struct rph_holepuncher_config *hc)
{
    rph_holepuncher_config_defaults(hc);
    hc->session_ttl_ms = cfg->session_ttl_s * 1000u;
    hc->max_sessions = cfg->max_sessions;
    hc->rate_per_s = cfg->rate_per_s;
    hc->rate_burst = cfg->rate_burst;
    hc->max_sessions_per_source = cfg->max_sessions_per_source;
    hc->relay_enabled = cfg->relay_enabled;
    hc->relay_max_sessions = cfg->relay_max_sessions;
    hc->relay_max_kbps = cfg->relay_max_kbps;
    /* LocalInterrupt is the crate's test hook; a daemon must not stop on a datagram. */
    hc->allow_local_interrupt = false;
}

/* "a b c" from the configured listen addresses. */
static void listen_text(const struct hpd_config *cfg, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < cfg->n_listen && o < cap; i++) {
        char a[RPH_ADDR_STRLEN];
        int n = snprintf(buf + o, cap - o, "%s%s", i ? " " : "",
                         rph_addr_format(&cfg->listen[i], a, sizeof a));
        if (n < 0) break;
        o += (size_t)n;
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct hpd_daemon *d = arg;
    /* Expiry is the event module's own one-second tick (ev.h); this one flushes log counts. */
    hpd_event_log_flush(&d->elog, rph_now_ms());
    hpd_relay_log_tick(&d->rlog, rph_holepuncher_relay_stats(d->hp), rph_now_ms());
}

/* "off" or "on (max_sessions N, max_kbps_per_session K)" for the start and reload lines. */
static const char *relay_text(const struct hpd_config *c, char *buf, size_t cap)
{
    if (!c->relay_enabled) return "off";
    snprintf(buf, cap, "on (max_sessions %zu, max_kbps_per_session %u%s)", c->relay_max_sessions,
             c->relay_max_kbps, c->relay_max_kbps ? "" : ": no limit");
    return buf;
}

int hpd_daemon_reload(struct hpd_daemon *d)
{
    struct hpd_config nc;
    struct errmsg err;
    int rc = hpd_config_load(d->config_path, &nc, &err);
    if (rc < 0) {
        log_error("reload failed, keeping the running config: %s", err.msg);
        return rc;
    }
    log_set_level(nc.log_level);
    struct rph_holepuncher_config hc;
    core_config(&nc, &hc);
    rph_holepuncher_reconfigure(d->hp, &hc);
    d->elog.max_sessions = nc.max_sessions;
    d->elog.max_sessions_per_source = nc.max_sessions_per_source;
    if (!hpd_config_same_listen(&d->cfg, &nc)) {
        char cur[HPD_MAX_LISTEN * (RPH_ADDR_STRLEN + 1)];
        listen_text(&d->cfg, cur, sizeof cur);
        log_warn("reload: \"listen\" changed; it needs a restart, still listening on %s", cur);
    }
    d->cfg.session_ttl_s = nc.session_ttl_s;
    d->cfg.max_sessions = nc.max_sessions;
    d->cfg.max_sessions_per_source = nc.max_sessions_per_source;
    d->cfg.log_level = nc.log_level;
    d->cfg.relay_enabled = nc.relay_enabled;
    d->cfg.relay_max_sessions = nc.relay_max_sessions;
    d->cfg.relay_max_kbps = nc.relay_max_kbps;
    size_t count = rph_holepuncher_session_count(d->hp);
    char relay[96];
    log_info("reloaded config %s: session_ttl %u s, max_sessions %zu, max_sessions_per_source %u, "
             "relay %s, log_level %s (sessions kept: %zu)",
             d->config_path, nc.session_ttl_s, nc.max_sessions, nc.max_sessions_per_source,
             relay_text(&nc, relay, sizeof relay), log_level_name(nc.log_level), count);
    if (count > nc.max_sessions)
        log_warn("reload: %zu sessions exceed max_sessions %zu; new sessions are refused until "
                 "enough expire",
                 count, nc.max_sessions);
    return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct hpd_daemon *d = arg;
    if (sig == SIGHUP) {
        log_info("SIGHUP: reloading config %s", d->config_path);
        notify_reloading();
        hpd_daemon_reload(d);
        notify_ready();
        return;
    }
    notify_stopping();
    d->stop_signal = (int)sig;
    event_base_loopbreak(d->base);
}

static void bind_error(const struct hpd_config *cfg, int err, struct errmsg *msg)
{
    int perr = 0;
    int i = hpd_listen_probe(cfg->listen, cfg->n_listen, &perr);
    char a[RPH_ADDR_STRLEN];
    if (i >= 0) {
        errmsg_set(msg, "cannot bind %s: %s", rph_addr_format(&cfg->listen[i], a, sizeof a),
                   rph_strerror(perr));
        return;
    }
    /* All bind now: the failure was elsewhere (memory) or the address was freed since. */
    char all[HPD_MAX_LISTEN * (RPH_ADDR_STRLEN + 1)];
    listen_text(cfg, all, sizeof all);
    errmsg_set(msg, "cannot listen on %s: %s", all, rph_strerror(err));
}

int hpd_daemon_new(const char *config_path, const struct hpd_config *cfg, struct hpd_daemon **out,
                   struct errmsg *msg)
{
    int e = -ENOMEM;
    struct hpd_daemon *d = calloc(1, sizeof *d);
    if (!d) goto nomem;
    d->cfg = *cfg;
    d->config_path = strdup(config_path);
    if (!d->config_path) goto nomem;
    hpd_event_log_init(&d->elog, cfg->max_sessions);
    d->elog.max_sessions_per_source = cfg->max_sessions_per_source;
    d->base = event_base_new();
    if (!d->base) {
        errmsg_set(msg, "cannot create the libevent base");
        goto fail;
    }
    struct rph_holepuncher_config hc;
    core_config(cfg, &hc);
    d->evh = rph_ev_holepuncher_new(d->base, &hc, cfg->listen, cfg->n_listen, &e);
    if (!d->evh) {
        bind_error(cfg, e, msg);
        goto fail;
    }
    d->hp = rph_ev_holepuncher_core(d->evh);
    rph_holepuncher_set_event_cb(d->hp, hpd_event_log_cb, &d->elog);
    hpd_relay_log_init(&d->rlog);
    rph_holepuncher_set_relay_end_cb(d->hp, hpd_relay_log_end_cb, &d->rlog);
    for (size_t i = 0; i < N_SIGNALS; i++) {
        d->sig[i] = evsignal_new(d->base, handled_signals[i], on_signal, d);
        if (!d->sig[i] || evsignal_add(d->sig[i], NULL) < 0) {
            errmsg_set(msg, "cannot handle signal %s", strsignal(handled_signals[i]));
            goto fail;
        }
    }
    d->tick = event_new(d->base, -1, EV_PERSIST, on_tick, d);
    struct timeval sec = {1, 0};
    if (!d->tick || event_add(d->tick, &sec) < 0) {
        errmsg_set(msg, "cannot start the expiry timer");
        goto fail;
    }
    *out = d;
    return 0;
nomem:
    errmsg_set(msg, "out of memory");
fail:
    hpd_daemon_free(d);
    return e < 0 ? e : -ENOMEM;
}

static void log_stats(const struct hpd_daemon *d, const char *why)
{
    /* The relay's own line first, so that the last line stays the one with the totals (scripts
     * read it). Relayed datagrams are not in those totals. */
    const struct rph_relay_stats *r = rph_holepuncher_relay_stats(d->hp);
    const struct rph_ev_hp_io *io = rph_ev_holepuncher_io(d->evh);
    log_info("%s: relay %s: %zu sessions relayed now; relayed %llu datagrams, %llu bytes "
             "(gso_sends %llu carrying %llu; gro_trains received %llu); sessions_started %llu, "
             "members_added %llu, members_full %llu; dropped: disabled %llu, malformed %llu, "
             "not_member %llu, bad_destination %llu, rate_limited %llu (%llu bytes), "
             "refused_full %llu",
             why, d->cfg.relay_enabled ? "on" : "off", rph_holepuncher_relay_sessions(d->hp),
             (unsigned long long)r->relayed, (unsigned long long)r->relayed_bytes,
             (unsigned long long)io->gso_sends, (unsigned long long)io->gso_datagrams,
             (unsigned long long)io->gro_trains, (unsigned long long)r->sessions_started,
             (unsigned long long)r->members_added, (unsigned long long)r->members_full,
             (unsigned long long)r->disabled, (unsigned long long)r->malformed,
             (unsigned long long)r->not_member, (unsigned long long)r->bad_destination,
             (unsigned long long)r->rate_limited, (unsigned long long)r->rate_limited_bytes,
             (unsigned long long)r->refused_full);
    const struct rph_holepuncher_stats *s = rph_holepuncher_stats(d->hp);
    /* registers and joins count sealed ones too (the part in parentheses). */
    log_info("%s: %zu sessions; received %llu, sent %llu, registers %llu (sealed %llu), joins %llu "
             "(sealed %llu), hellos %llu, peerinfos_sent %llu, not_found %llu, refused_full %llu, "
             "refused_per_source %llu, refused_held %llu, cookies_sent %llu, rate_limited %llu, "
             "stale %llu, "
             "bad_signature %llu, malformed %llu, unexpected %llu, expired %llu",
             why, rph_holepuncher_session_count(d->hp), (unsigned long long)s->received,
             (unsigned long long)s->sent, (unsigned long long)(s->registers + s->sealed_registers),
             (unsigned long long)s->sealed_registers,
             (unsigned long long)(s->joins + s->sealed_joins), (unsigned long long)s->sealed_joins,
             (unsigned long long)s->hellos, (unsigned long long)s->peerinfos_sent,
             (unsigned long long)s->not_found, (unsigned long long)s->refused_full,
             (unsigned long long)s->refused_per_source, (unsigned long long)s->refused_held,
             (unsigned long long)s->cookies_sent, (unsigned long long)s->rate_limited,
             (unsigned long long)s->stale, (unsigned long long)s->bad_signature,
             (unsigned long long)s->malformed, (unsigned long long)s->unexpected,
             (unsigned long long)s->expired);
}

int hpd_daemon_run(struct hpd_daemon *d)
{
    char bound[HPD_MAX_LISTEN * (RPH_ADDR_STRLEN + 1)];
    listen_text(&d->cfg, bound, sizeof bound);
    char relay[96];
    log_info("holepuncherd %s listening on %s (session_ttl %u s, max_sessions %zu, relay %s, "
             "log_level %s)",
             RUPHIN_VERSION, bound, d->cfg.session_ttl_s, d->cfg.max_sessions,
             relay_text(&d->cfg, relay, sizeof relay), log_level_name(d->cfg.log_level));
    notify_ready(); /* the sockets are bound (hpd_daemon_new) */
    int r = event_base_dispatch(d->base);
    if (r < 0) {
        log_error("event loop failed: %s", strerror(errno));
        log_stats(d, "stopped on an error");
        return -EIO;
    }
    char why[64];
    snprintf(why, sizeof why, "stopped on %s",
             d->stop_signal == SIGINT    ? "SIGINT"
             : d->stop_signal == SIGTERM ? "SIGTERM"
                                         : "exit");
    log_stats(d, why);
    return 0;
}

void hpd_daemon_free(struct hpd_daemon *d)
{
    if (!d) return;
    if (d->tick) event_free(d->tick);
    for (size_t i = 0; i < N_SIGNALS; i++)
        if (d->sig[i]) event_free(d->sig[i]);
    rph_ev_holepuncher_free(d->evh);
    if (d->base) event_base_free(d->base);
    free(d->config_path);
    free(d);
}
