// SPDX-License-Identifier: MIT
// The server's side of the mesh (docs/PROTOCOL.md "Mesh"): every client that is up, has proven
// its node key and holds an accepted address is introduced (tag 0x09) to every other such
// client, both ways, once; again when what the introduction says changes (endpoint, addresses,
// candidates); "left" when it goes. Introductions are paced: at most MESH_PER_TICK a tick, the
// rest wait for the next, so a 64-member start never starves the server's own handshakes and
// keepalives. Nothing here runs while nothing changed: no timer per member, no periodic
// re-introduction (the keepalive timer only asks for a check, which sends what changed).
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "intro.h"
#include "lancand.h"
#include "log.h"
#include "nodekey.h"
#include "ruphin/ev.h"
#include "tunnel_priv.h"

/* Introductions (or "left") a tick, and the tick while some wait. 400 a second at most. */
#define MESH_PER_TICK 20
#define MESH_TICK_MS 50

/* What a client offered to be reached at, as it sent it (the core keeps only what the server
 * itself can use). */
struct offered {
    struct rph_addr lan[INTRO_MAX_CAND], v6[INTRO_MAX_CAND], mapped;
    size_t n_lan, n_v6;
    bool has_mapped;
};

struct mesh_server {
    struct tunnel *t;
    size_t n;
    /* sent[r * n + s]: a hash of the introduction of slot s last sent to slot r; 0: none (or
     * "left" sent). RTT is not in the hash: it moves with every handshake. */
    uint32_t *sent;
    bool *introduced;  /* per subject slot: introduced to someone under pk[s] */
    uint8_t (*pk)[32]; /* ... that node key, for its "left" */
    struct offered *off;
    struct event *ev;
    bool pending;
};

static bool eligible(const struct tunnel *t, size_t i)
{
    const struct tpeer *tp = &t->pol.peers[i];
    return tp->remote && tp->remote->up && tp->has_key && tp->announced;
}

/* The candidates a client offered that may go to others: none in the overlay (a path inside
 * the tunnel would go through itself). */
static bool overlay_addr(const struct tunnel *t, const struct rph_addr *a)
{
    const struct announce *s = &t->pol.self;
    if (a->family == 4) return s->has4 && route_in_prefix(a->ip, s->addr4, s->prefix4);
    return s->has6 && route_in_prefix(a->ip, s->addr6, s->prefix6);
}

static void build(const struct mesh_server *ms, size_t s, struct intro *in)
{
    const struct tpeer *tp = &ms->t->pol.peers[s];
    const struct rph_remote *r = tp->remote;
    const struct offered *o = &ms->off[s];
    memset(in, 0, sizeof *in);
    memcpy(in->node_pk, tp->node_pk, 32);
    in->addrs = tp->ann;
    /* Where another client should punch: the endpoint we talk to when that is its public
     * IPv4 one; over the LAN, a mapping, IPv6 or the relay, the endpoint the holepuncher sees
     * (those others go along as candidates). */
    bool public4 = rph_remote_path_kind(r) == RPH_PATHK_DIRECT4;
    in->endpoint = public4 || !r->has_relay_addr ? r->addr : r->relay_addr;
    for (size_t k = 0; k < o->n_lan; k++)
        if (!overlay_addr(ms->t, &o->lan[k])) in->lan[in->n_lan++] = o->lan[k];
    for (size_t k = 0; k < o->n_v6; k++)
        if (!overlay_addr(ms->t, &o->v6[k])) in->v6[in->n_v6++] = o->v6[k];
    in->has_mapped = o->has_mapped;
    in->mapped = o->mapped;
}

static uint32_t hash(const uint8_t *b, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h ? h : 1;
}

static bool send_msg(struct tunnel *t, size_t r, const struct intro *in)
{
    uint8_t b[RPH_FRAME_HEADROOM + INTRO_MAX_LEN + RPH_FRAME_TAILROOM];
    size_t len = intro_encode(in, b + RPH_FRAME_HEADROOM);
    return rph_ev_peer_send_frame(t->ep, &t->rbase[r], b, len) >= 0;
}

/* Another eligible slot speaks with node key pk now (the client restarted into a new slot):
 * a "left" for the old slot would make the others drop the live member. */
static bool key_live_elsewhere(const struct tunnel *t, size_t n, size_t s, const uint8_t *pk)
{
    for (size_t i = 0; i < n; i++)
        if (i != s && eligible(t, i) && memcmp(t->pol.peers[i].node_pk, pk, 32) == 0) return true;
    return false;
}

/* Returns the budget left. */
static int lefts(struct mesh_server *ms, size_t s, int budget)
{
    struct tunnel *t = ms->t;
    const struct tpeer *tp = &t->pol.peers[s];
    bool now_ok = eligible(t, s);
    if (!ms->introduced[s] || (now_ok && memcmp(tp->node_pk, ms->pk[s], 32) == 0)) return budget;
    bool silent = key_live_elsewhere(t, ms->n, s, ms->pk[s]);
    struct intro left = {.left = true};
    memcpy(left.node_pk, ms->pk[s], 32);
    for (size_t r = 0; r < ms->n; r++) {
        uint32_t *h = &ms->sent[r * ms->n + s];
        if (!*h) continue;
        if (budget <= 0) return budget;
        if (!silent && t->pol.peers[r].remote && t->pol.peers[r].remote->up &&
            send_msg(t, r, &left)) {
            t->mesh.lefts_sent++;
            budget--;
        }
        *h = 0;
    }
    ms->introduced[s] = false;
    return budget;
}

static int intros(struct mesh_server *ms, size_t s, int budget)
{
    struct tunnel *t = ms->t;
    struct intro in;
    build(ms, s, &in);
    uint8_t b[INTRO_MAX_LEN];
    uint32_t h = hash(b, intro_encode(&in, b)); /* without the RTT: build leaves it 0 */
    const struct rph_remote *sr = t->pol.peers[s].remote;
    in.rtt_ms = sr->rtt_ms > 65535 ? 65535 : (uint16_t)sr->rtt_ms;
    for (size_t r = 0; r < ms->n; r++) {
        if (r == s || !eligible(t, r) || ms->sent[r * ms->n + s] == h) continue;
        if (budget <= 0) return budget;
        if (!ms->introduced[s]) {
            ms->introduced[s] = true;
            memcpy(ms->pk[s], in.node_pk, 32);
        }
        if (send_msg(t, r, &in)) t->mesh.intros_sent++;
        ms->sent[r * ms->n + s] = h;
        budget--;
    }
    return budget;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct mesh_server *ms = arg;
    struct tunnel *t = ms->t;
    int budget = MESH_PER_TICK;
    ms->pending = false;
    for (size_t s = 0; s < ms->n && budget > 0; s++)
        budget = lefts(ms, s, budget);
    for (size_t s = 0; s < ms->n && budget > 0; s++)
        if (eligible(t, s)) budget = intros(ms, s, budget);
    if (budget > 0) return;
    /* More waits: the next tick, after the loop served everything else. */
    ms->pending = true;
    struct timeval tv = {0, MESH_TICK_MS * 1000};
    event_add(ms->ev, &tv);
}

struct mesh_server *mesh_server_new(struct tunnel *t)
{
    if (t->cfg.role != RPH_ROLE_SERVER || !t->cfg.seal || !t->cfg.mesh) return NULL;
    struct mesh_server *ms = calloc(1, sizeof *ms);
    if (!ms) return NULL;
    ms->t = t;
    ms->n = t->n_slots;
    ms->sent = calloc(ms->n * ms->n, sizeof *ms->sent);
    ms->introduced = calloc(ms->n, sizeof *ms->introduced);
    ms->pk = calloc(ms->n, sizeof *ms->pk);
    ms->off = calloc(ms->n, sizeof *ms->off);
    ms->ev = event_new(t->base, -1, 0, tick, ms);
    if (!ms->sent || !ms->introduced || !ms->pk || !ms->off || !ms->ev) {
        mesh_server_free(ms);
        return NULL;
    }
    return ms;
}

void mesh_server_free(struct mesh_server *ms)
{
    if (!ms) return;
    if (ms->ev) event_free(ms->ev);
    free(ms->sent);
    free(ms->introduced);
    free(ms->pk);
    free(ms->off);
    free(ms);
}

void mesh_server_changed(struct tunnel *t, size_t i)
{
    struct mesh_server *ms = t->ms;
    if (!ms) return;
    const struct tpeer *tp = i < ms->n ? &t->pol.peers[i] : NULL;
    if (tp && (!tp->remote || !tp->remote->up)) {
        /* A client that went (or rejoined) is told everything again when it is back. */
        for (size_t s = 0; s < ms->n; s++)
            ms->sent[i * ms->n + s] = 0;
        memset(&ms->off[i], 0, sizeof ms->off[i]);
    }
    if (ms->pending) return;
    ms->pending = true;
    struct timeval now = {0, 0};
    event_add(ms->ev, &now);
}

void mesh_server_lan(struct tunnel *t, struct rph_remote *r, int version, const struct rph_addr *a,
                     size_t n)
{
    if (!t->ms) return;
    struct offered *o = &t->ms->off[r - t->rbase];
    int want = version == LANCAND_VERSION ? 4 : 6;
    struct rph_addr *dst = want == 4 ? o->lan : o->v6;
    size_t *k = want == 4 ? &o->n_lan : &o->n_v6;
    struct rph_addr keep[INTRO_MAX_CAND];
    size_t m = 0;
    for (size_t i = 0; i < n && m < INTRO_MAX_CAND; i++)
        if (a[i].family == want && a[i].port) keep[m++] = a[i];
    if (m == *k && memcmp(keep, dst, m * sizeof *keep) == 0) return;
    memcpy(dst, keep, m * sizeof *keep);
    *k = m;
    mesh_server_changed(t, (size_t)(r - t->rbase));
}

void mesh_server_mapped(struct tunnel *t, struct rph_remote *r, const struct rph_addr *a)
{
    if (!t->ms) return;
    struct offered *o = &t->ms->off[r - t->rbase];
    bool has = a && a->family == 4 && a->port;
    if (has == o->has_mapped && (!has || rph_addr_equal(a, &o->mapped))) return;
    o->has_mapped = has;
    if (has) o->mapped = *a;
    mesh_server_changed(t, (size_t)(r - t->rbase));
}
