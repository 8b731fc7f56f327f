// SPDX-License-Identifier: MIT
// The holepuncher as a state machine: Register stores a session, Join introduces the joining
// client and the session's server to each other, HelloReq is answered. Garbage gets no reply.
// Sealed requests pass cheap checks, then a return-routability cookie, then the source's and the
// global budget, and only then cost a signature check.
#include "ruphin/holepuncher.h"

#include <errno.h>
#include <stdlib.h>

#include <string.h>

#include "hp_cookie.h"
#include "relay_table.h"
#include "source_count.h"
#include "token_bucket.h"
#include "ruphin/clock.h"
#include "ruphin/error.h"
#include "ruphin/seal.h"
#include "ruphin/store.h"
#include "ruphin/wire.h"

/* Signatures of recently accepted SealedJoins: a replayed Join is refused, not answered. */
#define JOIN_CACHE 4096

struct rph_holepuncher {
    struct rph_holepuncher_config cfg;
    struct rph_store *store;
    rph_send_fn send;
    void *ctx;
    rph_hp_event_fn on_event;
    void *ev_ctx;
    struct rph_holepuncher_stats stats;
    int64_t wall_offset_ms;
    struct token_bucket tb;        /* plaintext Register/Join per source */
    struct token_bucket tb_sealed; /* sealed requests whose cookie proved their source */
    struct source_count sc;        /* sessions per source */
    struct hp_cookie cookie;
    uint64_t verify_milli, verify_last_ms;
    uint64_t join_seen[JOIN_CACHE];
    size_t join_next;
    struct relay_table *relay;
    rph_relay_end_fn on_relay_end;
    void *relay_end_ctx;
};

void rph_holepuncher_config_defaults(struct rph_holepuncher_config *c)
{
    c->session_ttl_ms = 60000;
    c->max_sessions = 100000;
    c->allow_local_interrupt = false;
    c->rate_per_s = 20;
    c->rate_burst = 40;
    c->sealed_skew_ms = 300000;
    c->verify_per_s = 10000;
    c->max_sessions_per_source = 32;
    c->relay_enabled = false;
    c->relay_max_sessions = 1000;
    c->relay_max_kbps = 20000;
}

/* Members: a server and a few clients per session on average. */
static void relay_cfg(const struct rph_holepuncher_config *c, struct relay_config *rc)
{
    rc->enabled = c->relay_enabled;
    rc->max_sessions = c->relay_max_sessions;
    rc->max_kbps = c->relay_max_kbps;
    rc->ttl_ms = c->session_ttl_ms;
    rc->max_members = c->max_sessions * 4 > 64 ? c->max_sessions * 4 : 64;
}

struct rph_holepuncher *rph_holepuncher_new(const struct rph_holepuncher_config *cfg,
                                            rph_send_fn send, void *ctx)
{
    struct rph_holepuncher *hp = calloc(1, sizeof *hp);
    if (!hp) return NULL;
    hp->cfg = *cfg;
    hp->send = send;
    hp->ctx = ctx;
    hp->store = rph_store_new(cfg->max_sessions);
    if (!hp->store) {
        free(hp);
        return NULL;
    }
    struct relay_config rc;
    relay_cfg(cfg, &rc);
    hp->relay = relay_table_new(&rc);
    if (!hp->relay) {
        rph_store_free(hp->store);
        free(hp);
        return NULL;
    }
    tb_init(&hp->tb, cfg->rate_per_s, cfg->rate_burst);
    tb_init(&hp->tb_sealed, cfg->rate_per_s, cfg->rate_burst);
    sc_init(&hp->sc);
    hp->verify_milli = (uint64_t)cfg->verify_per_s * 1000u;
    /* Sealed Register/Join are verified with libsodium; a build without it refuses them. */
    (void)rph_seal_init();
    hp->wall_offset_ms = rph_wall_offset_ms();
    return hp;
}

void rph_holepuncher_free(struct rph_holepuncher *hp)
{
    if (!hp) return;
    rph_store_free(hp->store);
    relay_table_free(hp->relay);
    hp_cookie_wipe(&hp->cookie);
    free(hp);
}

void rph_holepuncher_set_event_cb(struct rph_holepuncher *hp, rph_hp_event_fn fn, void *ctx)
{
    hp->on_event = fn;
    hp->ev_ctx = ctx;
}

void rph_holepuncher_reconfigure(struct rph_holepuncher *hp,
                                 const struct rph_holepuncher_config *cfg)
{
    struct relay_config rc;
    relay_cfg(cfg, &rc);
    /* Out of memory for a larger relay table: the relay keeps its old limits. */
    (void)relay_table_reconfigure(hp->relay, &rc);
    hp->cfg = *cfg;
    rph_store_set_max(hp->store, cfg->max_sessions);
    /* New rates; what each bucket's sources have spent stays spent. */
    hp->tb.per_s = hp->tb_sealed.per_s = cfg->rate_per_s;
    hp->tb.burst = hp->tb_sealed.burst = cfg->rate_burst ? cfg->rate_burst : cfg->rate_per_s;
}

void rph_holepuncher_set_wall_offset(struct rph_holepuncher *hp, int64_t offset_ms)
{
    hp->wall_offset_ms = offset_ms;
}

static void emit(struct rph_holepuncher *hp, enum rph_hp_event_type t,
                 const struct rph_session *sess, const struct rph_addr *from,
                 const struct rph_addr *server, int err)
{
    if (!hp->on_event) return;
    struct rph_hp_event ev = {t, sess, from, server, err};
    hp->on_event(hp->ev_ctx, &ev);
}

static void reply(struct rph_holepuncher *hp, const struct rph_addr *to, const struct rph_msg *m)
{
    uint8_t buf[RPH_HP_TX_MAX];
    int n = rph_wire_encode(m, buf, sizeof buf);
    if (n < 0) return;
    hp->stats.sent++;
    hp->send(hp->ctx, to, buf, (size_t)n);
}

static void refuse(struct rph_holepuncher *hp, const struct rph_session *s,
                   const struct rph_addr *from, int why)
{
    switch (why) {
    case RPH_E_AUTH:
        hp->stats.bad_signature++;
        break;
    case RPH_E_REPLAY:
        hp->stats.stale++;
        break;
    case RPH_E_RATE:
        hp->stats.rate_limited++;
        break;
    case RPH_E_NOTSUP:
        hp->stats.no_crypto++;
        break;
    default:
        hp->stats.refused_sealed++;
        break;
    }
    emit(hp, RPH_HP_REFUSED, s, from, NULL, why);
}

/* Sealed and plaintext sessions are counted apart per source, so plaintext Registers spoofed
 * from an address cannot use up that address's sealed sessions. */
static unsigned source_class(const struct rph_store_entry *e)
{
    return e->sealed ? 1 : 0;
}

static bool same_source(const struct rph_store_entry *a, const struct rph_store_entry *b)
{
    size_t n = a->server.family == 4 ? 4 : 8; /* an IPv6 source is its /64 */
    return a->sealed == b->sealed && a->server.family == b->server.family &&
           memcmp(a->server.ip, b->server.ip, n) == 0;
}

/* Stores (session -> from) and acknowledges; e says whether the session is sealed. */
static void do_register(struct rph_holepuncher *hp, const struct rph_session *sess,
                        const struct rph_store_entry *e, bool existed, const struct rph_addr *prev,
                        const struct rph_addr *from, uint64_t now)
{
    /* The entry this one replaces, even expired and not yet swept: it is still counted. */
    struct rph_store_entry held;
    bool was_held = rph_store_peek(hp->store, sess, &held);
    bool moves = !was_held || !same_source(&held, e);
    uint32_t cap = hp->cfg.max_sessions_per_source;
    if (cap && moves && sc_get(&hp->sc, &e->server, source_class(e)) >= cap) {
        /* Silence, as for a full table: the server retries and sees no ack. */
        hp->stats.refused_per_source++;
        emit(hp, RPH_HP_REFUSED, sess, from, NULL, RPH_E_FULL);
        return;
    }
    int r = rph_store_put_entry(hp->store, sess, e, now + hp->cfg.session_ttl_ms);
    if (r == -ENOMEM) return;
    if (r < 0) {
        /* Full: refused without an answer, so the server keeps retrying and sees no ack. */
        hp->stats.refused_full++;
        emit(hp, RPH_HP_REFUSED_FULL, sess, from, NULL, r);
        return;
    }
    if (moves) {
        if (was_held) sc_sub(&hp->sc, &held.server, source_class(&held));
        sc_add(&hp->sc, &e->server, source_class(e));
    }
    if (!existed)
        emit(hp, RPH_HP_REGISTERED, sess, from, NULL, 0);
    else if (!rph_addr_equal(prev, from))
        emit(hp, RPH_HP_MOVED, sess, from, prev, 0);
    else
        emit(hp, RPH_HP_REFRESHED, sess, from, NULL, 0);
    struct rph_msg ack = {.type = RPH_REGISTER_ACK, .session = *sess};
    reply(hp, from, &ack);
}

static void on_register(struct rph_holepuncher *hp, const struct rph_msg *m,
                        const struct rph_addr *from, uint64_t now)
{
    hp->stats.registers++;
    struct rph_store_entry old, e = {.server = *from};
    bool existed = rph_store_find(hp->store, &m->session, now, &old);
    if (existed && old.sealed) {
        /* The crate lets any Register take a session over; a sealed one only its key holder. */
        refuse(hp, &m->session, from, RPH_E_UNEXPECTED);
        return;
    }
    do_register(hp, &m->session, &e, existed, &old.server, from, now);
}

/* What the session table keeps of a node ID (rph_store_entry.node). */
static uint16_t node_tag(const struct rph_msg *m)
{
    return (uint16_t)(m->owner.node[0] << 8 | m->owner.node[1]);
}

/* A live sealed session held by another node: the Register is refused and its sender told
 * where the holder is (it proved it holds the key: the endpoint is what a Join would tell
 * it). 51 bytes for the 156 it sent, only after its cookie proved its source. */
static void refuse_held(struct rph_holepuncher *hp, const struct rph_msg *m,
                        const struct rph_session *sess, const struct rph_store_entry *holder,
                        const struct rph_addr *from)
{
    hp->stats.refused_held++;
    emit(hp, RPH_HP_REFUSED, sess, from, &holder->server, RPH_E_HELD);
    struct rph_msg r = {.type = RPH_REGISTER_REFUSED, .session = *sess, .peer = holder->server};
    memcpy(r.hpc.echo, m->owner.sig, RPH_COOKIE_ECHO_LEN);
    reply(hp, from, &r);
}

static void on_sealed_register(struct rph_holepuncher *hp, const struct rph_msg *m,
                               const struct rph_session *sess, const struct rph_addr *from,
                               uint64_t now)
{
    uint32_t ts_s = (uint32_t)(m->owner.ts_ms / 1000);
    struct rph_store_entry old, e = {.server = *from,
                                     .sealed = true,
                                     .ts_s = ts_s,
                                     .has_node = m->owner.has_node,
                                     .node = m->owner.has_node ? node_tag(m) : 0,
                                     /* Timed: kept for its clients' PeerInfo (0 is "none"). */
                                     .rtt_ms = m->has_rtt ? (m->rtt_ms ? m->rtt_ms : 1) : 0};
    bool existed = rph_store_find(hp->store, sess, now, &old);
    /* Only newer proofs move a sealed session; the same second is a retry from the same
     * address. A plaintext squatter on the ID is simply replaced. */
    if (existed && old.sealed &&
        !(ts_s > old.ts_s || (ts_s == old.ts_s && rph_addr_equal(&old.server, from)))) {
        refuse(hp, sess, from, RPH_E_REPLAY);
        return;
    }
    /* One live server per sealed session: from another endpoint, only the same node (a
     * restarted server, a NAT that moved its port) takes it over. A Register without a
     * node ID (an older peer) is an unknown node and moves it, as it always did. */
    if (existed && old.sealed && !rph_addr_equal(&old.server, from) && old.has_node && e.has_node &&
        old.node != e.node) {
        refuse_held(hp, m, sess, &old, from);
        return;
    }
    if (existed && old.sealed && ts_s < old.ts_s) e.ts_s = old.ts_s;
    do_register(hp, sess, &e, existed, &old.server, from, now);
}
/* Join (sealed or not) of a session: PeerInfo both ways, or SessionNotFound. join is the
 * sealed Join (NULL for a plaintext one): timed, its round trip goes to a timed server. */
static void do_join(struct rph_holepuncher *hp, const struct rph_session *sess,
                    const uint8_t *join_raw, const struct rph_msg *join,
                    const struct rph_addr *from, uint64_t now)
{
    bool sealed = join_raw != NULL;
    struct rph_store_entry e;
    bool found = rph_store_find(hp->store, sess, now, &e);
    if (found && e.sealed && !sealed) {
        /* Silence, not SessionNotFound: a plaintext Join learns nothing of a sealed session. */
        refuse(hp, sess, from, RPH_E_UNEXPECTED);
        return;
    }
    if (!found || (sealed && !e.sealed)) {
        hp->stats.not_found++;
        emit(hp, RPH_HP_NOT_FOUND, sess, from, NULL, 0);
        struct rph_msg nf = {.type = RPH_SESSION_NOT_FOUND, .session = *sess};
        reply(hp, from, &nf);
        return;
    }
    struct rph_addr server = e.server;
    /* Timed punches (docs/PROTOCOL.md): each side learns the other's round trip to us, each
     * only in a form it said it reads (a timed Register or Join); older peers get the old. */
    bool client_timed = sealed && join->has_rtt, server_timed = sealed && e.rtt_ms != 0;
    struct rph_msg to_client = {.type = client_timed && server_timed ? RPH_TIMED_PEER_INFO
                                                                     : RPH_PEER_INFO,
                                .peer = server,
                                .rtt_ms = e.rtt_ms};
    /* Sealed: the server also gets the client's signed Join, so that a forged PeerInfo (from
     * anyone who can fake our address) cannot make it punch, nor fill its peer table. */
    struct rph_msg to_server = {.type = sealed ? RPH_SEALED_PEER_INFO : RPH_PEER_INFO,
                                .peer = *from,
                                .data = join_raw,
                                .data_len = sealed ? RPH_OWNER_LEN : 0,
                                .has_rtt = server_timed,
                                .rtt_ms = client_timed ? join->rtt_ms : 0};
    reply(hp, from, &to_client);
    reply(hp, &server, &to_server);
    hp->stats.peerinfos_sent += 2;
    emit(hp, RPH_HP_JOINED, sess, from, &server, 0);
}

static void on_join(struct rph_holepuncher *hp, const struct rph_msg *m,
                    const struct rph_addr *from, uint64_t now)
{
    hp->stats.joins++;
    do_join(hp, &m->session, NULL, NULL, from, now);
}

static uint64_t join_tag(const struct rph_msg *m)
{
    uint64_t tag;
    memcpy(&tag, m->owner.sig, sizeof tag);
    return tag;
}

/* A signature is accepted once: replayed, it would tell a stranger the server's endpoint. */
static bool join_seen(const struct rph_holepuncher *hp, const struct rph_msg *m)
{
    uint64_t tag = join_tag(m);
    for (size_t i = 0; i < JOIN_CACHE; i++)
        if (hp->join_seen[i] == tag) return true;
    return false;
}

static void on_sealed_join(struct rph_holepuncher *hp, const uint8_t *raw, const struct rph_msg *m,
                           const struct rph_session *sess, const struct rph_addr *from,
                           uint64_t now)
{
    hp->join_seen[hp->join_next] = join_tag(m);
    hp->join_next = (hp->join_next + 1) % JOIN_CACHE;
    /* The server gets the Join as signed: 108 bytes, without our cookie (the client's). */
    uint8_t join[RPH_OWNER_LEN];
    memcpy(join, raw, sizeof join);
    join[0] = (uint8_t)(RPH_OWNER_LEN >> 8);
    join[1] = (uint8_t)RPH_OWNER_LEN;
    do_join(hp, sess, join, m, from, now);
}

/* The global token bucket of signature verifications (CPU is what it protects). */
static bool verify_take(struct rph_holepuncher *hp, uint64_t now)
{
    uint32_t rate = hp->cfg.verify_per_s;
    if (rate == 0) return true;
    uint64_t t = hp->verify_milli + (now - hp->verify_last_ms) * rate;
    if (t > rate * 1000ull) t = rate * 1000ull;
    hp->verify_last_ms = now;
    if (t < 1000) {
        hp->verify_milli = t;
        return false;
    }
    hp->verify_milli = t - 1000;
    return true;
}

/* Answers a sealed request that carries no valid cookie: 28 bytes for its 108 or 124, and no
 * signature check. The echo lets the peer tell our answer from a forged one. */
static void send_cookie(struct rph_holepuncher *hp, const struct rph_msg *m,
                        const struct rph_addr *from, uint64_t now)
{
    struct rph_msg c = {.type = RPH_HP_COOKIE};
    memcpy(c.hpc.echo, m->owner.sig, RPH_COOKIE_ECHO_LEN);
    hp_cookie_make(&hp->cookie, from, now, c.hpc.cookie);
    hp->stats.cookies_sent++;
    emit(hp, RPH_HP_COOKIE_SENT, NULL, from, NULL, 0);
    reply(hp, from, &c);
}

/* The checks before a sealed request is acted on, cheapest first: the clock window, the
 * cookie (a spoofed source never gets past it, so it can spend nobody's budget), the source's
 * budget, a Join's replay cache, the global budget of signature checks, the signature.
 * 0 with *sess set; 1 when a cookie was sent instead; or the reason to refuse. */
static int sealed_admit(struct rph_holepuncher *hp, const uint8_t *raw, const struct rph_msg *m,
                        const struct rph_addr *from, uint64_t now, struct rph_session *sess)
{
    if (!rph_seal_available()) return RPH_E_NOTSUP;
    if (!rph_owner_fresh(m->owner.ts_ms, now, hp->wall_offset_ms, hp->cfg.sealed_skew_ms))
        return RPH_E_REPLAY;
    if (!m->owner.has_cookie || !hp_cookie_check(&hp->cookie, from, now, m->owner.cookie)) {
        send_cookie(hp, m, from, now);
        return 1;
    }
    if (!tb_take(&hp->tb_sealed, from, now)) return RPH_E_RATE;
    if (m->type == RPH_SEALED_JOIN && join_seen(hp, m)) return RPH_E_REPLAY;
    if (!verify_take(hp, now)) return RPH_E_RATE;
    return rph_owner_verify(raw, m, sess);
}

/* The relay's members: an endpoint whose SealedRegister (now the session's server) or
 * SealedJoin (of a live sealed session) was acted on proved the key and, by its cookie, that it
 * receives at its address. */
static void relay_learn(struct rph_holepuncher *hp, const struct rph_msg *m,
                        const struct rph_session *sess, const struct rph_addr *from, uint64_t now)
{
    struct rph_store_entry e;
    if (!hp->cfg.relay_enabled || !rph_store_find(hp->store, sess, now, &e) || !e.sealed) return;
    if (m->type == RPH_SEALED_REGISTER && !rph_addr_equal(&e.server, from)) return;
    (void)relay_member_add(hp->relay, sess, from, m->owner.cookie, now);
}

static int on_sealed(struct rph_holepuncher *hp, const uint8_t *raw, const struct rph_msg *m,
                     const struct rph_addr *from, uint64_t now)
{
    bool reg = m->type == RPH_SEALED_REGISTER;
    if (reg)
        hp->stats.sealed_registers++;
    else
        hp->stats.sealed_joins++;
    struct rph_session sess;
    int r = sealed_admit(hp, raw, m, from, now, &sess);
    if (r == 1) return 0;
    if (r < 0) {
        refuse(hp, NULL, from, r);
        return r == RPH_E_RATE ? r : 0;
    }
    if (reg)
        on_sealed_register(hp, m, &sess, from, now);
    else
        on_sealed_join(hp, raw, m, &sess, from, now);
    relay_learn(hp, m, &sess, from, now);
    return 0;
}

int rph_holepuncher_input(struct rph_holepuncher *hp, const uint8_t *buf, size_t len,
                          const struct rph_addr *from, uint64_t now_ms)
{
    struct rph_msg m;
    hp->stats.received++;
    int r = rph_wire_decode(buf, len, &m);
    if (r < 0) {
        hp->stats.malformed++;
        emit(hp, RPH_HP_DROPPED, NULL, from, NULL, r);
        return r;
    }
    /* Plaintext requests are limited per source as they come: a spoofed flood can spend an
     * address's plaintext budget. Sealed ones are limited per source only once a cookie
     * proved the source (sealed_admit), so such a flood never starves a signed Register. */
    if ((m.type == RPH_REGISTER || m.type == RPH_JOIN) && !tb_take(&hp->tb, from, now_ms)) {
        refuse(hp, &m.session, from, RPH_E_RATE);
        return RPH_E_RATE;
    }
    switch (m.type) {
    case RPH_REGISTER:
        on_register(hp, &m, from, now_ms);
        return 0;
    case RPH_JOIN:
        on_join(hp, &m, from, now_ms);
        return 0;
    case RPH_SEALED_REGISTER:
    case RPH_SEALED_JOIN:
        return on_sealed(hp, buf, &m, from, now_ms);
    case RPH_HELLO_REQ: {
        hp->stats.hellos++;
        struct rph_msg resp = {.type = RPH_HELLO_RESP};
        reply(hp, from, &resp);
        return 0;
    }
    case RPH_LOCAL_INTERRUPT:
        if (hp->cfg.allow_local_interrupt && rph_addr_is_loopback(from)) return RPH_E_INTERRUPTED;
        break;
    default:
        break;
    }
    hp->stats.unexpected++;
    emit(hp, RPH_HP_DROPPED, NULL, from, NULL, RPH_E_UNEXPECTED);
    return RPH_E_UNEXPECTED;
}

static void on_expire(void *ctx, const struct rph_session *id, const struct rph_store_entry *e)
{
    struct rph_holepuncher *hp = ctx;
    hp->stats.expired++;
    sc_sub(&hp->sc, &e->server, source_class(e));
    emit(hp, RPH_HP_EXPIRED, id, NULL, &e->server, 0);
}

void rph_holepuncher_tick(struct rph_holepuncher *hp, uint64_t now_ms)
{
    /* A bounded sweep per tick keeps the loop responsive at a million sessions. */
    rph_store_expire(hp->store, now_ms, 65536, on_expire, hp);
    relay_expire(hp->relay, now_ms, 65536, hp->on_relay_end, hp->relay_end_ctx);
}

int rph_holepuncher_relay(struct rph_holepuncher *hp, uint8_t *buf, size_t len,
                          const struct rph_addr *from, uint64_t now_ms, struct rph_addr *to)
{
    return relay_forward(hp->relay, buf, len, from, now_ms, to);
}

const struct rph_relay_stats *rph_holepuncher_relay_stats(const struct rph_holepuncher *hp)
{
    return relay_stats(hp->relay);
}

size_t rph_holepuncher_relay_sessions(const struct rph_holepuncher *hp)
{
    return relay_session_count(hp->relay);
}

void rph_holepuncher_set_relay_end_cb(struct rph_holepuncher *hp, rph_relay_end_fn fn, void *ctx)
{
    hp->on_relay_end = fn;
    hp->relay_end_ctx = ctx;
}

const struct rph_holepuncher_stats *rph_holepuncher_stats(const struct rph_holepuncher *hp)
{
    return &hp->stats;
}

size_t rph_holepuncher_session_count(const struct rph_holepuncher *hp)
{
    return rph_store_count(hp->store);
}

struct rph_store *rph_holepuncher_store(struct rph_holepuncher *hp)
{
    return hp->store;
}
