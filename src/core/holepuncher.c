// SPDX-License-Identifier: MIT
// The holepuncher as a state machine: Register stores a session, Join introduces the joining
// client and the session's server to each other, HelloReq is answered. Garbage gets no reply.
#include "ruphin/holepuncher.h"

#include <errno.h>
#include <stdlib.h>

#include <string.h>

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
    struct token_bucket tb;
    uint64_t verify_milli, verify_last_ms;
    uint64_t join_seen[JOIN_CACHE];
    size_t join_next;
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
    tb_init(&hp->tb, cfg->rate_per_s, cfg->rate_burst);
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
    hp->cfg = *cfg;
    rph_store_set_max(hp->store, cfg->max_sessions);
    tb_init(&hp->tb, cfg->rate_per_s, cfg->rate_burst);
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
    uint8_t buf[RPH_PEERINFO6_LEN + RPH_OWNER_LEN];
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

/* Stores (session -> from) and acknowledges; e says whether the session is sealed. */
static void do_register(struct rph_holepuncher *hp, const struct rph_session *sess,
                        const struct rph_store_entry *e, bool existed, const struct rph_addr *prev,
                        const struct rph_addr *from, uint64_t now)
{
    int r = rph_store_put_entry(hp->store, sess, e, now + hp->cfg.session_ttl_ms);
    if (r == -ENOMEM) return;
    if (r < 0) {
        /* Full: refused without an answer, so the server keeps retrying and sees no ack. */
        hp->stats.refused_full++;
        emit(hp, RPH_HP_REFUSED_FULL, sess, from, NULL, r);
        return;
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

/* A signed, fresh SealedRegister/SealedJoin: 0 with *sess set, or the reason to refuse. */
static int check_owner(struct rph_holepuncher *hp, const uint8_t *raw, const struct rph_msg *m,
                       uint64_t now, struct rph_session *sess)
{
    if (!rph_seal_available()) return RPH_E_NOTSUP;
    /* Check the cheap clock window before the costly signature. */
    if (!rph_owner_fresh(m->owner.ts_ms, now, hp->wall_offset_ms, hp->cfg.sealed_skew_ms))
        return RPH_E_REPLAY;
    return rph_owner_verify(raw, m, sess);
}

static void on_sealed_register(struct rph_holepuncher *hp, const uint8_t *raw,
                               const struct rph_msg *m, const struct rph_addr *from, uint64_t now)
{
    hp->stats.sealed_registers++;
    struct rph_session sess;
    int r = check_owner(hp, raw, m, now, &sess);
    if (r < 0) {
        refuse(hp, NULL, from, r);
        return;
    }
    uint32_t ts_s = (uint32_t)(m->owner.ts_ms / 1000);
    struct rph_store_entry old, e = {.server = *from, .sealed = true, .ts_s = ts_s};
    bool existed = rph_store_find(hp->store, &sess, now, &old);
    /* Only newer proofs move a sealed session; the same second is a retry from the same
     * address. A plaintext squatter on the ID is simply replaced. */
    if (existed && old.sealed &&
        !(ts_s > old.ts_s || (ts_s == old.ts_s && rph_addr_equal(&old.server, from)))) {
        refuse(hp, &sess, from, RPH_E_REPLAY);
        return;
    }
    if (existed && old.sealed && ts_s < old.ts_s) e.ts_s = old.ts_s;
    do_register(hp, &sess, &e, existed, &old.server, from, now);
}
/* Join (sealed or not) of a session: PeerInfo both ways, or SessionNotFound. */
static void do_join(struct rph_holepuncher *hp, const struct rph_session *sess,
                    const uint8_t *join_raw, const struct rph_addr *from, uint64_t now)
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
    struct rph_msg to_client = {.type = RPH_PEER_INFO, .peer = server};
    /* Sealed: the server also gets the client's signed Join, so that a forged PeerInfo (from
     * anyone who can fake our address) cannot make it punch, nor fill its peer table. */
    struct rph_msg to_server = {.type = sealed ? RPH_SEALED_PEER_INFO : RPH_PEER_INFO,
                                .peer = *from,
                                .data = join_raw,
                                .data_len = sealed ? RPH_OWNER_LEN : 0};
    reply(hp, from, &to_client);
    reply(hp, &server, &to_server);
    hp->stats.peerinfos_sent += 2;
    emit(hp, RPH_HP_JOINED, sess, from, &server, 0);
}

static void on_join(struct rph_holepuncher *hp, const struct rph_msg *m,
                    const struct rph_addr *from, uint64_t now)
{
    hp->stats.joins++;
    do_join(hp, &m->session, NULL, from, now);
}

static void on_sealed_join(struct rph_holepuncher *hp, const uint8_t *raw, const struct rph_msg *m,
                           const struct rph_addr *from, uint64_t now)
{
    hp->stats.sealed_joins++;
    struct rph_session sess;
    int r = check_owner(hp, raw, m, now, &sess);
    if (r < 0) {
        refuse(hp, NULL, from, r);
        return;
    }
    /* A signature is accepted once: replayed, it would tell a stranger the server's endpoint. */
    uint64_t tag;
    memcpy(&tag, m->owner.sig, sizeof tag);
    for (size_t i = 0; i < JOIN_CACHE; i++) {
        if (hp->join_seen[i] == tag) {
            refuse(hp, &sess, from, RPH_E_REPLAY);
            return;
        }
    }
    hp->join_seen[hp->join_next] = tag;
    hp->join_next = (hp->join_next + 1) % JOIN_CACHE;
    do_join(hp, &sess, raw, from, now);
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
    /* Plaintext requests are limited per source IP. Sealed ones are not: a source address
     * can be faked, and a flood faked from a server's address must not starve its genuine,
     * signed Register. They share a global budget of signature checks instead. */
    bool plain = m.type == RPH_REGISTER || m.type == RPH_JOIN;
    bool sealed = m.type == RPH_SEALED_REGISTER || m.type == RPH_SEALED_JOIN;
    if ((plain && !tb_take(&hp->tb, from, now_ms)) || (sealed && !verify_take(hp, now_ms))) {
        refuse(hp, plain ? &m.session : NULL, from, RPH_E_RATE);
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
        on_sealed_register(hp, buf, &m, from, now_ms);
        return 0;
    case RPH_SEALED_JOIN:
        on_sealed_join(hp, buf, &m, from, now_ms);
        return 0;
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

static void on_expire(void *ctx, const struct rph_session *id, const struct rph_addr *server)
{
    struct rph_holepuncher *hp = ctx;
    hp->stats.expired++;
    emit(hp, RPH_HP_EXPIRED, id, NULL, server, 0);
}

void rph_holepuncher_tick(struct rph_holepuncher *hp, uint64_t now_ms)
{
    /* A bounded sweep per tick keeps the loop responsive at a million sessions. */
    rph_store_expire(hp->store, now_ms, 65536, on_expire, hp);
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
