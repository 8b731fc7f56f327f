// SPDX-License-Identifier: MIT
// The address verdict (verdict.h): a client must not show "up" while the server throws its
// traffic away, so the server says what it decided and the client believes only that.
#include "verdict.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "ruphin/ev.h"
#include "tunnel_priv.h"

void verdict_of(enum policy_announce v, const struct announce *a,
                const struct policy_ann_result *res, struct verdict *out)
{
    memset(out, 0, sizeof *out);
    switch (v) {
    case POLICY_ANN_FOREIGN:
        out->reason = res->own ? VERDICT_SERVERS : VERDICT_OUTSIDE;
        break;
    case POLICY_ANN_HELD:
        out->reason = VERDICT_HELD;
        break;
    default:
        /* Accepted whole: named by its first address. */
        out->reason = VERDICT_ACCEPTED;
        out->family = a->has4 ? 4 : 6;
        out->prefix = a->has4 ? a->prefix4 : a->prefix6;
        memcpy(out->addr, a->has4 ? a->addr4 : a->addr6, a->has4 ? 4 : 16);
        return;
    }
    out->family = (uint8_t)res->family;
    out->prefix = res->prefix;
    memcpy(out->addr, res->addr, res->family == 4 ? 4 : 16);
}

static bool same_verdict(const struct verdict *a, const struct verdict *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

bool verdict_send(struct tunnel *t, struct tpeer *p, const struct verdict *vd, uint64_t now_ms)
{
    bool changed = !p->has_verdict || !same_verdict(&p->verdict, vd);
    if (!changed && now_ms - p->verdict_ms < VERDICT_EVERY_MS) return false;
    uint8_t b[RPH_FRAME_HEADROOM + VERDICT_MAX_LEN + RPH_FRAME_TAILROOM];
    size_t n = verdict_encode(vd, b + RPH_FRAME_HEADROOM);
    rph_ev_peer_send_frame(t->ep, p->remote, b, n);
    p->has_verdict = true;
    p->verdict = *vd;
    p->verdict_ms = now_ms;
    return changed;
}

const char *verdict_addr_str(const struct verdict *vd, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(vd->family == 4 ? AF_INET : AF_INET6, vd->addr, ip, sizeof ip);
    snprintf(buf, cap, "%s/%u", ip, vd->prefix);
    return buf;
}

/* Client, refused: announce again soon (1 s, doubling up to the keepalive interval) so that
 * an address freed a moment later (its old holder gone silent) is taken within seconds. */
static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct tunnel *t = arg;
    bool refused = false;
    for (size_t i = 0; i < t->pol.n_peers; i++) {
        struct tpeer *p = &t->pol.peers[i];
        if (!p->remote || !p->has_verdict || p->verdict.reason == VERDICT_ACCEPTED) continue;
        uint8_t b[RPH_FRAME_HEADROOM + ANNOUNCE_LEN + RPH_FRAME_TAILROOM];
        size_t n = announce_encode(&t->pol.self, b + RPH_FRAME_HEADROOM);
        rph_ev_peer_send_frame(t->ep, p->remote, b, n);
        refused = true;
    }
    /* The server went down meanwhile: a new session starts again from 1 s. */
    if (!refused) t->verdict_retry_ms = 0;
}

static void schedule_retry(struct tunnel *t, bool refused)
{
    if (!refused) {
        t->verdict_retry_ms = 0;
        if (t->verdict_ev) event_del(t->verdict_ev);
        return;
    }
    if (!t->verdict_ev) t->verdict_ev = evtimer_new(t->base, on_retry, t);
    if (!t->verdict_ev) return; /* the announcement cadence still retries */
    uint64_t cap = 1000ull * (unsigned)t->cfg.keepalive_interval;
    t->verdict_retry_ms = t->verdict_retry_ms ? t->verdict_retry_ms * 2 : 1000;
    if (t->verdict_retry_ms > cap) t->verdict_retry_ms = cap;
    struct timeval tv = {(time_t)(t->verdict_retry_ms / 1000),
                         (suseconds_t)(t->verdict_retry_ms % 1000 * 1000)};
    evtimer_add(t->verdict_ev, &tv);
}

void verdict_receive(struct tunnel *t, struct tpeer *p, const uint8_t *d, size_t n, uint64_t now_ms)
{
    struct verdict vd;
    /* A server decides for itself: a verdict from a client is as wrong as a malformed one. */
    if (t->cfg.role != RPH_ROLE_CLIENT || verdict_decode(d, n, &vd) < 0) {
        t->drops.bad_control++;
        return;
    }
    bool was_refused = p->has_verdict && p->verdict.reason != VERDICT_ACCEPTED;
    bool changed = !p->has_verdict || !same_verdict(&p->verdict, &vd);
    p->has_verdict = true;
    p->verdict = vd;
    p->verdict_ms = now_ms;
    bool refused = vd.reason != VERDICT_ACCEPTED;
    schedule_retry(t, refused);
    if (!changed) return;
    char a[INET6_ADDRSTRLEN + 8], who[96] = "";
    verdict_addr_str(&vd, a, sizeof a);
    if (vd.holder[0]) snprintf(who, sizeof who, " (member \"%s\")", vd.holder);
    if (refused)
        log_error("server refused overlay address %s: %s%s; no traffic passes until it accepts "
                  "one (retrying)",
                  a, verdict_reason_str(vd.reason), who);
    else if (was_refused)
        log_info("server accepted overlay address %s: the refusal is over, traffic passes", a);
    else
        log_info("server accepted overlay address %s", a);
}
