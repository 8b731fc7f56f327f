/* SPDX-License-Identifier: MIT */
/* What the daemon tells the user about its own health: the holepuncher lost and regained, and
 * peers punching without an answer, read from the tunnel's state once a second while something
 * is being watched, else after the core's ticks (watch_nudge; at most once a second). */
#include "watch.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mode_check.h"
#include "ruphin/addr.h"
#include "ruphin/clock.h"
#include "ruphin/peer.h"
#include "tunnel_priv.h"

/* A peer seen punching, keyed by its endpoint rather than its slot: a rejoin frees the slot
 * and a new PeerInfo fills another for the same endpoint, which is the same peer still
 * punching. */
struct punching {
    struct rph_addr addr;
    uint64_t added_ms; /* when the holepuncher first introduced it */
    bool reported;     /* the "punching" line was logged */
    uint8_t missing;   /* polls in a row without a slot for it */
};

struct watch {
    struct tunnel *t;
    struct event *ev;
    uint64_t started_ms;
    bool hp_lost;
    uint64_t hp_heard_ms; /* the last answer before it was lost */
    uint64_t hp_lost_ms;  /* when the loss was logged */
    uint64_t asking_ms;   /* when this Register/Join round began (as first polled) */
    bool asking;
    bool busy;          /* something is watched: the 1 s timer polls */
    uint64_t polled_ms; /* the last poll */
    size_t n, cap;
    struct punching *seen;
};

static const struct rph_peer *core(const struct watch *w)
{
    return rph_ev_peer_core(w->t->ep);
}

static double secs(uint64_t ms)
{
    return (double)ms / 1000.0;
}

/* Lost: the server's Register, or the client's Join, has gone unanswered past a few retries. A
 * client that has joined asks the holepuncher nothing, so it cannot lose it. */
static void poll_holepuncher(struct watch *w, uint64_t now)
{
    const struct rph_peer *p = core(w);
    uint64_t last = rph_peer_holepuncher_last_ms(p);
    const char *st = rph_peer_holepuncher_status(p, now);
    bool server = rph_peer_role(p) == RPH_ROLE_SERVER;
    /* A (re)join or (re)register starts a round of asking: its silence counts from then, not
     * from the last answer, which may be long ago when nothing needed asking. */
    bool asking = strcmp(st, server ? "registering" : "joining") == 0;
    if (asking && !w->asking) w->asking_ms = now;
    w->asking = asking;
    uint64_t heard = last > w->started_ms ? last : w->started_ms;
    if (asking && w->asking_ms > heard) heard = w->asking_ms;
    uint64_t quiet = now > heard ? now - heard : 0;
    uint64_t limit = 3ull * rph_peer_config(p)->retry_ms;
    bool lost = (server && strcmp(st, "unreachable") == 0) || (asking && quiet > limit);
    const struct rph_peer_stats *s = rph_peer_stats(p);
    const char *hp = w->t->cfg.holepuncher;
    if (lost && !w->hp_lost) {
        w->hp_lost = true;
        w->hp_heard_ms = heard;
        w->hp_lost_ms = now;
        log_info("holepuncher %s lost: no answer for %.1f s (%s, %llu %s sent in all)%s", hp,
                 secs(quiet), st, (unsigned long long)(server ? s->registers_sent : s->joins_sent),
                 server ? "Registers" : "Joins",
                 server ? "; peers already connected keep working" : "");
    } else if (!lost && w->hp_lost && last > w->hp_heard_ms) {
        w->hp_lost = false;
        log_info("holepuncher %s regained: it answers again after %.1f s without an answer "
                 "(%s)",
                 hp, secs(last - w->hp_heard_ms), st);
    }
}

static const struct rph_remote *slot_of(const struct watch *w, const struct rph_addr *addr)
{
    for (size_t i = 0; i < w->t->n_slots; i++)
        if (w->t->rbase[i].in_use && rph_addr_equal(&w->t->rbase[i].addr, addr))
            return &w->t->rbase[i];
    return NULL;
}

static void poll_peers(struct watch *w, uint64_t now)
{
    const struct rph_peer_stats *s = rph_peer_stats(core(w));
    bool server = rph_peer_role(core(w)) == RPH_ROLE_SERVER;
    char a[RPH_ADDR_STRLEN];
    for (size_t i = 0; i < w->n;) {
        struct punching *k = &w->seen[i];
        const struct rph_remote *r = slot_of(w, &k->addr);
        bool done = false;
        if (r && r->up) {
            if (k->reported)
                log_info("peer %s connected after %.1f s of punching",
                         rph_addr_format(&k->addr, a, sizeof a),
                         secs((r->up_ms > k->added_ms ? r->up_ms : now) - k->added_ms));
            done = true;
        } else if (!r && ++k->missing >= 2) { /* one poll of grace: a rejoin refills it */
            if (k->reported)
                log_info("peer %s: punching given up after %.1f s without an answer",
                         rph_addr_format(&k->addr, a, sizeof a), secs(now - k->added_ms));
            done = true;
        } else if (r) {
            k->missing = 0;
            if (!k->reported && now - k->added_ms > WATCH_PUNCHING_MS) {
                k->reported = true;
                /* The counters are the daemon's: the core keeps no per-peer count. */
                log_info("peer %s: punching for %.1f s without an answer (since the holepuncher "
                         "introduced it; %llu hellos, %llu handshake inits and %llu %s sent in "
                         "all)",
                         rph_addr_format(&k->addr, a, sizeof a), secs(now - k->added_ms),
                         (unsigned long long)s->hellos_sent, (unsigned long long)s->handshakes_sent,
                         (unsigned long long)(server ? s->registers_sent : s->joins_sent),
                         server ? "Registers" : "Joins");
            }
        }
        if (done)
            w->seen[i] = w->seen[--w->n];
        else
            i++;
    }
    for (size_t i = 0; i < w->t->n_slots && w->n < w->cap; i++) {
        const struct rph_remote *r = &w->t->rbase[i];
        if (!r->in_use || r->up) continue;
        size_t j = 0;
        while (j < w->n && !rph_addr_equal(&w->seen[j].addr, &r->addr))
            j++;
        if (j == w->n)
            w->seen[w->n++] = (struct punching){.addr = r->addr, .added_ms = r->added_ms};
    }
}

void watch_poll(struct watch *w, uint64_t now_ms)
{
    poll_holepuncher(w, now_ms);
    poll_peers(w, now_ms);
    mode_check_poll(w->t, now_ms);
}

/* Once a second while something is being watched (the holepuncher asked or lost, a peer
 * punching). With nothing to watch, nothing changes but in the core, which wakes for its own
 * reasons (a send, an answer, a timer) and nudges us after each tick: an idle daemon (a mesh
 * member among 63) wakes for nothing else. The fallback timer is only a safety net. */
#define WATCH_FALLBACK_S 30

static void poll_and_arm(struct watch *w, uint64_t now_ms)
{
    watch_poll(w, now_ms);
    w->polled_ms = now_ms;
    w->busy = w->asking || w->hp_lost || w->n > 0;
    struct timeval tv = {w->busy ? 1 : WATCH_FALLBACK_S, 0};
    event_add(w->ev, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    poll_and_arm(arg, rph_now_ms());
}

void watch_nudge(struct watch *w, uint64_t now_ms)
{
    if (w->busy || now_ms - w->polled_ms < 1000) return;
    poll_and_arm(w, now_ms);
}

struct watch *watch_new(struct event_base *base, struct tunnel *t)
{
    struct watch *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->t = t;
    w->started_ms = rph_now_ms();
    w->cap = t->n_slots;
    w->seen = calloc(w->cap ? w->cap : 1, sizeof *w->seen);
    w->ev = event_new(base, -1, 0, on_timer, w);
    if (!w->seen || !w->ev) {
        watch_free(w);
        return NULL;
    }
    struct timeval tv = {1, 0};
    event_add(w->ev, &tv);
    t->watch = w;
    return w;
}

void watch_free(struct watch *w)
{
    if (!w) return;
    if (w->t->watch == w) w->t->watch = NULL;
    if (w->ev) event_free(w->ev);
    free(w->seen);
    free(w);
}
