// SPDX-License-Identifier: MIT
// The holepuncher as a state machine: Register stores a session, Join introduces the joining
// client and the session's server to each other, HelloReq is answered. Garbage gets no reply.
#include "ruphin/holepuncher.h"

#include <errno.h>
#include <stdlib.h>

#include "ruphin/error.h"
#include "ruphin/store.h"
#include "ruphin/wire.h"

struct rph_holepuncher {
    struct rph_holepuncher_config cfg;
    struct rph_store *store;
    rph_send_fn send;
    void *ctx;
    rph_hp_event_fn on_event;
    void *ev_ctx;
    struct rph_holepuncher_stats stats;
};

void rph_holepuncher_config_defaults(struct rph_holepuncher_config *c)
{
    c->session_ttl_ms = 60000;
    c->max_sessions = 100000;
    c->allow_local_interrupt = false;
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
    uint8_t buf[RPH_PEERINFO6_LEN + RPH_SESSION_MAX];
    int n = rph_wire_encode(m, buf, sizeof buf);
    if (n < 0) return;
    hp->stats.sent++;
    hp->send(hp->ctx, to, buf, (size_t)n);
}

static void on_register(struct rph_holepuncher *hp, const struct rph_msg *m,
                        const struct rph_addr *from, uint64_t now)
{
    hp->stats.registers++;
    const struct rph_addr *old = rph_store_get(hp->store, &m->session, now);
    struct rph_addr prev = old ? *old : (struct rph_addr){0};
    int r = rph_store_put(hp->store, &m->session, from, now + hp->cfg.session_ttl_ms);
    if (r == -ENOMEM) /* nothing was stored, and it is not the cap: no ack, not counted as full */
        return;
    if (r < 0) {
        /* Full: refused without an answer, so the server keeps retrying and sees no ack. */
        hp->stats.refused_full++;
        emit(hp, RPH_HP_REFUSED_FULL, &m->session, from, NULL, r);
        return;
    }
    if (!old)
        emit(hp, RPH_HP_REGISTERED, &m->session, from, NULL, 0);
    else if (!rph_addr_equal(&prev, from))
        emit(hp, RPH_HP_MOVED, &m->session, from, &prev, 0);
    else
        emit(hp, RPH_HP_REFRESHED, &m->session, from, NULL, 0);
    struct rph_msg ack = {.type = RPH_REGISTER_ACK, .session = m->session};
    reply(hp, from, &ack);
}

static void on_join(struct rph_holepuncher *hp, const struct rph_msg *m,
                    const struct rph_addr *from, uint64_t now)
{
    hp->stats.joins++;
    const struct rph_addr *srv = rph_store_get(hp->store, &m->session, now);
    if (!srv) {
        hp->stats.not_found++;
        emit(hp, RPH_HP_NOT_FOUND, &m->session, from, NULL, 0);
        struct rph_msg nf = {.type = RPH_SESSION_NOT_FOUND, .session = m->session};
        reply(hp, from, &nf);
        return;
    }
    struct rph_addr server = *srv;
    struct rph_msg to_client = {.type = RPH_PEER_INFO, .peer = server};
    struct rph_msg to_server = {.type = RPH_PEER_INFO, .peer = *from};
    reply(hp, from, &to_client);
    reply(hp, &server, &to_server);
    hp->stats.peerinfos_sent += 2;
    emit(hp, RPH_HP_JOINED, &m->session, from, &server, 0);
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
    switch (m.type) {
    case RPH_REGISTER:
        on_register(hp, &m, from, now_ms);
        return 0;
    case RPH_JOIN:
        on_join(hp, &m, from, now_ms);
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
