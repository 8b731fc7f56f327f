// SPDX-License-Identifier: MIT
// The relay's forwarding table: members (session, endpoint) learned from verified and
// cookie-checked SealedRegister/SealedJoin, and the sessions being relayed, each with a byte
// budget. Two flat open-addressing tables: a RelayData costs three lookups and no allocation.
#include "relay_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ruphin/be.h"
#include "ruphin/error.h"

/* (session, endpoint); a relayed session's key has a zero endpoint. Always built zeroed, so
 * the padding compares equal too. */
struct rkey {
    uint8_t sid[RPH_RELAY_SESSION_LEN];
    struct rph_addr addr;
};

/* Every slot starts with this. */
struct head {
    struct rkey key;
    bool used;
    uint64_t expires_ms;
};

struct member {
    struct head h;
    uint8_t cookie[RPH_COOKIE_LEN];
};

struct rsession {
    struct head h;
    uint64_t avail_milli; /* byte budget, in thousandths of a byte */
    uint64_t last_ms;
    uint64_t relayed, bytes, rate_limited;
};

/* Linear probing, deletion by backward shift (no tombstones), capacity a power of two. */
struct otab {
    uint8_t *mem;
    size_t elem, cap, count, cursor;
};

struct relay_table {
    struct relay_config cfg;
    uint64_t seed;
    struct otab members, sessions;
    struct rph_relay_stats stats;
};

#define MEMBERS_MIN_CAP 64

static struct head *slot(const struct otab *t, size_t i)
{
    return (struct head *)(void *)(t->mem + i * t->elem);
}

static size_t home(const struct relay_table *rt, const struct otab *t, const struct rkey *k)
{
    const uint8_t *p = (const uint8_t *)k;
    uint64_t h = rt->seed ^ 1469598103934665603ull;
    for (size_t i = 0; i < sizeof *k; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return (size_t)h & (t->cap - 1);
}

static long find(const struct relay_table *rt, const struct otab *t, const struct rkey *k)
{
    for (size_t i = home(rt, t, k), n = 0; n < t->cap; i = (i + 1) & (t->cap - 1), n++) {
        struct head *h = slot(t, i);
        if (!h->used) return -1;
        if (memcmp(&h->key, k, sizeof *k) == 0) return (long)i;
    }
    return -1;
}

/* A zeroed, used slot for k, which must not be present; the caller keeps the load under 3/4. */
static struct head *insert(const struct relay_table *rt, struct otab *t, const struct rkey *k)
{
    size_t i = home(rt, t, k);
    while (slot(t, i)->used)
        i = (i + 1) & (t->cap - 1);
    struct head *h = slot(t, i);
    memset(h, 0, t->elem);
    h->key = *k;
    h->used = true;
    t->count++;
    return h;
}

static void remove_at(const struct relay_table *rt, struct otab *t, size_t i)
{
    size_t mask = t->cap - 1, j = i;
    slot(t, i)->used = false;
    t->count--;
    for (;;) {
        j = (j + 1) & mask;
        struct head *hj = slot(t, j);
        if (!hj->used) return;
        size_t k = home(rt, t, &hj->key);
        /* hj stays when its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays) continue;
        memcpy(slot(t, i), hj, t->elem);
        hj->used = false;
        i = j;
    }
}

static int otab_init(struct otab *t, size_t elem, size_t cap)
{
    t->mem = calloc(cap, elem);
    if (!t->mem) return -ENOMEM;
    t->elem = elem;
    t->cap = cap;
    t->count = t->cursor = 0;
    return 0;
}

/* Moves every entry into a table of new_cap slots (a power of two above the count). */
static int otab_resize(const struct relay_table *rt, struct otab *t, size_t new_cap)
{
    struct otab n;
    if (otab_init(&n, t->elem, new_cap) < 0) return -ENOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        struct head *h = slot(t, i);
        if (!h->used) continue;
        struct head *d = insert(rt, &n, &h->key);
        memcpy(d, h, t->elem);
    }
    free(t->mem);
    *t = n;
    return 0;
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 1;
    while (c < n)
        c <<= 1;
    return c;
}

/* Room for max_sessions at a load of at most one half. */
static size_t sessions_cap(size_t max_sessions)
{
    return pow2_at_least(max_sessions * 2 + 2);
}

static struct rkey make_key(const uint8_t *sid, const struct rph_addr *a)
{
    struct rkey k;
    memset(&k, 0, sizeof k);
    memcpy(k.sid, sid, RPH_RELAY_SESSION_LEN);
    if (a) {
        k.addr.family = a->family;
        memcpy(k.addr.ip, a->ip, 16);
        k.addr.port = a->port;
    }
    return k;
}

struct relay_table *relay_table_new(const struct relay_config *cfg)
{
    struct relay_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->cfg = *cfg;
    if (getrandom(&t->seed, sizeof t->seed, 0) != sizeof t->seed) t->seed = (uintptr_t)t;
    if (otab_init(&t->members, sizeof(struct member), MEMBERS_MIN_CAP) < 0 ||
        otab_init(&t->sessions, sizeof(struct rsession), sessions_cap(cfg->max_sessions)) < 0) {
        relay_table_free(t);
        return NULL;
    }
    return t;
}

void relay_table_free(struct relay_table *t)
{
    if (!t) return;
    free(t->members.mem);
    free(t->sessions.mem);
    free(t);
}

int relay_table_reconfigure(struct relay_table *t, const struct relay_config *cfg)
{
    size_t want =
        sessions_cap(cfg->max_sessions > t->sessions.count ? cfg->max_sessions : t->sessions.count);
    if (want != t->sessions.cap && otab_resize(t, &t->sessions, want) < 0) return -ENOMEM;
    t->cfg = *cfg;
    return 0;
}

static bool is_member(const struct relay_table *t, const struct rkey *k, uint64_t now,
                      struct member **out)
{
    long i = find(t, &t->members, k);
    if (i < 0) return false;
    struct member *m = (struct member *)slot(&t->members, (size_t)i);
    if (m->h.expires_ms <= now) return false;
    if (out) *out = m;
    return true;
}

int relay_member_add(struct relay_table *t, const struct rph_session *s,
                     const struct rph_addr *from, const uint8_t cookie[RPH_COOKIE_LEN],
                     uint64_t now_ms)
{
    if (s->len != RPH_RELAY_SESSION_LEN) return RPH_E_SESSION_LEN;
    struct rkey k = make_key(s->id, from);
    long i = find(t, &t->members, &k);
    struct member *m;
    if (i >= 0) {
        m = (struct member *)slot(&t->members, (size_t)i);
    } else {
        if (t->members.count >= t->cfg.max_members) {
            t->stats.members_full++;
            return RPH_E_FULL;
        }
        if ((t->members.count + 1) * 4 > t->members.cap * 3 &&
            otab_resize(t, &t->members, t->members.cap * 2) < 0)
            return -ENOMEM;
        m = (struct member *)insert(t, &t->members, &k);
    }
    memcpy(m->cookie, cookie, RPH_COOKIE_LEN);
    m->h.expires_ms = now_ms + t->cfg.ttl_ms;
    t->stats.members_added++;
    return 0;
}

bool relay_is_member(const struct relay_table *t, const struct rph_session *s,
                     const struct rph_addr *a, uint64_t now_ms)
{
    if (s->len != RPH_RELAY_SESSION_LEN) return false;
    struct rkey k = make_key(s->id, a);
    return is_member(t, &k, now_ms, NULL);
}

/* Constant time: the cookie stands for the source's return routability. */
static bool cookie_equal(const uint8_t *a, const uint8_t *b)
{
    uint8_t d = 0;
    for (size_t i = 0; i < RPH_COOKIE_LEN; i++)
        d |= (uint8_t)(a[i] ^ b[i]);
    return d == 0;
}

/* The session's byte budget: max_kbps, with a burst of a quarter second (at least two of the
 * largest datagrams, so any datagram can pass an idle session). */
static bool budget_take(const struct relay_table *t, struct rsession *s, size_t len, uint64_t now)
{
    if (t->cfg.max_kbps == 0) return true;
    uint64_t rate = (uint64_t)t->cfg.max_kbps * 125; /* bytes a second = milli-bytes a ms */
    uint64_t burst = rate / 4 > 2 * RPH_DATAGRAM_MAX ? rate / 4 : 2 * RPH_DATAGRAM_MAX;
    uint64_t full = burst * 1000;
    if (now > s->last_ms) {
        uint64_t dt = now - s->last_ms; /* no overflow, whatever the clock does */
        s->avail_milli = dt > full / rate ? full : s->avail_milli + dt * rate;
        s->last_ms = now;
    }
    if (s->avail_milli > full) s->avail_milli = full;
    if (s->avail_milli < (uint64_t)len * 1000) return false;
    s->avail_milli -= (uint64_t)len * 1000;
    return true;
}

/* The relayed session, new ones within max_sessions; NULL when the table is at its cap. */
static struct rsession *session_get(struct relay_table *t, const uint8_t *sid, uint64_t now)
{
    struct rkey k = make_key(sid, NULL);
    long i = find(t, &t->sessions, &k);
    if (i >= 0) return (struct rsession *)slot(&t->sessions, (size_t)i);
    if (t->sessions.count >= t->cfg.max_sessions) return NULL;
    struct rsession *s = (struct rsession *)insert(t, &t->sessions, &k);
    s->last_ms = now;
    s->avail_milli = UINT64_MAX / 2; /* a new session starts with a full bucket */
    t->stats.sessions_started++;
    return s;
}

int relay_forward(struct relay_table *t, uint8_t *buf, size_t len, const struct rph_addr *from,
                  uint64_t now_ms, struct rph_addr *to)
{
    struct rph_relay_stats *st = &t->stats;
    if (!t->cfg.enabled) {
        st->disabled++;
        return RPH_E_NOTSUP;
    }
    struct rph_relay_msg m;
    int r = rph_relay_decode(buf, len, &m);
    if (r < 0) {
        st->malformed++;
        return r;
    }
    struct rkey ks = make_key(m.session.id, from);
    struct member *src;
    if (!is_member(t, &ks, now_ms, &src) || !cookie_equal(src->cookie, m.cookie)) {
        st->not_member++;
        return RPH_E_UNKNOWN_PEER;
    }
    struct rkey kd = make_key(m.session.id, &m.peer);
    if (memcmp(&kd, &ks, sizeof kd) == 0 || !is_member(t, &kd, now_ms, NULL)) {
        st->bad_destination++;
        return RPH_E_UNEXPECTED;
    }
    struct rsession *s = session_get(t, m.session.id, now_ms);
    if (!s) {
        st->refused_full++;
        return RPH_E_FULL;
    }
    s->h.expires_ms = now_ms + t->cfg.ttl_ms;
    if (!budget_take(t, s, len, now_ms)) {
        s->rate_limited++;
        st->rate_limited++;
        st->rate_limited_bytes += len;
        return RPH_E_RATE;
    }
    /* In place: the destination becomes the source, the sender's cookie is not passed on. */
    *to = m.peer;
    memset(buf + RPH_RELAY_OFF_COOKIE, 0, RPH_COOKIE_LEN);
    buf[RPH_RELAY_OFF_FAMILY] = from->family;
    memset(buf + RPH_RELAY_OFF_ADDR, 0, 16);
    memcpy(buf + RPH_RELAY_OFF_ADDR, from->ip, from->family == 4 ? 4 : 16);
    rph_put16(buf + RPH_RELAY_OFF_PORT, from->port);
    s->relayed++;
    s->bytes += len;
    st->relayed++;
    st->relayed_bytes += len;
    return 0;
}

typedef void (*gone_fn)(struct relay_table *t, struct head *h, rph_relay_end_fn fn, void *ctx);

static void sweep(struct relay_table *t, struct otab *o, uint64_t now, size_t budget, gone_fn gone,
                  rph_relay_end_fn fn, void *ctx)
{
    if (budget > o->cap) budget = o->cap;
    size_t i = o->cursor % o->cap;
    for (size_t n = 0; n < budget; n++) {
        struct head *h = slot(o, i);
        if (h->used && h->expires_ms <= now) {
            if (gone) gone(t, h, fn, ctx);
            /* The shift may move a later entry into slot i: look at it again. */
            remove_at(t, o, i);
            continue;
        }
        i = (i + 1) & (o->cap - 1);
    }
    o->cursor = i;
}

static void session_gone(struct relay_table *t, struct head *h, rph_relay_end_fn fn, void *ctx)
{
    struct rsession *s = (struct rsession *)h;
    t->stats.sessions_ended++;
    if (!fn) return;
    struct rph_session id = {.len = RPH_RELAY_SESSION_LEN};
    memcpy(id.id, h->key.sid, RPH_RELAY_SESSION_LEN);
    struct rph_relay_session_end e = {&id, s->relayed, s->bytes, s->rate_limited};
    fn(ctx, &e);
}

void relay_expire(struct relay_table *t, uint64_t now_ms, size_t budget, rph_relay_end_fn fn,
                  void *ctx)
{
    sweep(t, &t->members, now_ms, budget, NULL, NULL, NULL);
    sweep(t, &t->sessions, now_ms, budget, session_gone, fn, ctx);
}

const struct rph_relay_stats *relay_stats(const struct relay_table *t)
{
    return &t->stats;
}

size_t relay_session_count(const struct relay_table *t)
{
    return t->sessions.count;
}

size_t relay_member_count(const struct relay_table *t)
{
    return t->members.count;
}

bool relay_session_counters(const struct relay_table *t, const struct rph_session *s,
                            uint64_t *relayed, uint64_t *bytes, uint64_t *rate_limited)
{
    if (s->len != RPH_RELAY_SESSION_LEN) return false;
    struct rkey k = make_key(s->id, NULL);
    long i = find(t, &t->sessions, &k);
    if (i < 0) return false;
    const struct rsession *r = (const struct rsession *)slot(&t->sessions, (size_t)i);
    *relayed = r->relayed;
    *bytes = r->bytes;
    *rate_limited = r->rate_limited;
    return true;
}
