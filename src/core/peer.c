// SPDX-License-Identifier: MIT
// A ruphin peer as a state machine. Server: Register until acknowledged, re-Register as a
// keepalive, punch toward each client a PeerInfo names. Client: Join until PeerInfo, punch
// with HelloReq until the server answers, keep alive, re-join when the server goes silent.
// Sealed mode swaps in signed Register/Join, an authenticated handshake and AEAD transport
// (peer_seal.h, which this file calls and which never calls back); the state machine around
// them is the same.
#include "ruphin/peer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "candidates.h"
#include "fresh_port.h"
#include "peer_seal.h"
#include "ruphin/be.h"
#include "ruphin/clock.h"
#include "ruphin/error.h"
#include "ruphin/noise.h"
#include "ruphin/relay.h"

/* The crate's handshake window: retries at retry_ms for this long, then back off. */
#define HANDSHAKE_WINDOW_MS 10000u
/* A server punches a client that has not answered at most this often per PeerInfo (fewer
 * when the Join that caused it was small: punch_budget). */
#define MAX_UNANSWERED_PUNCHES 8

/* Punches remembered before our PeerInfo (struct rph_peer's early[]): how many, how long. */
#define EARLY_PUNCHES 4
#define EARLY_PUNCH_MS 2000u

struct rph_peer {
    struct rph_peer_config cfg;
    struct rph_peer_callbacks cb;
    void *ctx;
    enum rph_peer_state state;
    size_t n_quiet;      /* members quiet now (rph_remote.quiet) */
    uint64_t started_ms; /* start of the current handshake attempt */
    uint64_t next_hp_ms; /* next Register/Join */
    uint32_t hp_backoff_ms;
    bool hp_pending; /* a Register/Join is unanswered */
    uint64_t hp_pending_since_ms;
    uint64_t hp_last_ms;  /* last RegisterAck / PeerInfo */
    uint64_t hp_heard_ms; /* last message of any kind from the holepuncher */
    uint64_t hp_sent_ms;  /* our last Register/Join */
    uint64_t arrived_ms;  /* while input runs: when the datagram arrived (0: now) */
    bool hp_heard;
    /* Client: data to the server went unanswered (or punching got no answer) for
     * RPH_PROBE_AFTER_MS: Joins every RPH_PROBE_JOIN_MS (after the handshake window every
     * RPH_WAIT_JOIN_MS, or backing off when the holepuncher is silent too) until the server
     * answers; a PeerInfo naming another endpoint moves us there. */
    bool probing;
    uint64_t probe_since_ms, next_probe_ms;
    uint32_t probe_backoff_ms;
    int last_err;
    int64_t wall_offset_ms;
    struct rph_remote *remotes;
    size_t n_slots;
    struct rph_peer_stats stats;
    struct seal *seal; /* sealed mode; its slots are remotes' indices */
    /* Sealed: holepuncherd's return-routability cookie for our endpoint, sent with every
     * Register/Join until it answers with a new one; echo names our last request. */
    uint8_t hp_cookie[RPH_COOKIE_LEN];
    bool has_hp_cookie;
    uint8_t hp_echo[RPH_COOKIE_ECHO_LEN];
    bool hp_echo_valid;
    /* the last sealed request, to repeat with a cookie (and our round trip, if timed) */
    uint8_t hp_req[RPH_OWNER_NODE_COOKIE_LEN + RPH_RTT_LEN];
    size_t hp_req_len; /* its length without a cookie; 0: none sent */
    /* Timed punches: our requests carry our round trip to the holepuncher (the timed forms)
     * unless it seems older (it answered only an untimed one after a timed one went
     * unanswered); the unanswered count alternates the forms until one is answered. */
    bool hp_req_timed, hp_timed_heard, hp_untimed;
    uint32_t hp_unanswered;
    /* The last round trips to the holepuncher: the smallest is the one used (a busy moment
     * of either host only ever adds to a sample). */
    uint16_t hp_rtts[4];
    size_t hp_rtt_next;
    uint8_t node_id[RPH_NODE_ID_LEN]; /* sealed server: named in every Register */
    bool has_node_id;
    bool hp_refused;           /* sealed server: RegisterRefused since the last RegisterAck */
    struct rph_addr hp_holder; /* the endpoint it named as the session's live server */
    /* Relay: the cookie of our last request the holepuncher accepted (RegisterAck, PeerInfo):
     * the one it keeps for our membership, so the one every RelayData must carry. */
    uint8_t relay_cookie[RPH_COOKIE_LEN];
    bool has_relay_cookie;
    uint64_t next_relay_join_ms; /* client, relay on: the next membership-keeping Join */
    uint8_t relaybuf[RPH_DATAGRAM_MAX];
    uint64_t now_ms;         /* of the call in progress (input, tick): stamps for the RTT */
    struct rph_addr resp_to; /* responder: where our last HandshakeResp went, and when */
    uint64_t resp_sent_ms;
    uint8_t txbuf[RPH_DATAGRAM_MAX + RPH_FRAME_HEADROOM + RPH_FRAME_TAILROOM];
    /* Fresh-port retries (sealed client with a fresh_port callback, fresh_port.h): the
     * schedule; whether the server was dropped without answering (the punch window ran out,
     * relay off); the Join from a new port, repeated until its PeerInfo, whose answer is a
     * timed handshake from there: FP_JOIN_COOKIE until holepuncherd's cookie for the new
     * endpoint came (a PeerInfo before it answers a Join from the old port), then FP_JOIN_INFO. */
    struct fresh_port fp;
    bool fp_unanswered;
    enum { FP_JOIN_NONE, FP_JOIN_COOKIE, FP_JOIN_INFO } fp_join;
    bool relay_old_port; /* the relay has us at the port before the fresh one (its cookie) */
    uint64_t fp_join_since_ms, fp_next_join_ms;
    /* Sealed client: plain punches from endpoints that were none of our remotes, the last
     * EARLY_PUNCHES within EARLY_PUNCH_MS. A symmetric server's first punch can beat our
     * PeerInfo (holepuncherd sends both at once, and ours may come later): when the PeerInfo
     * names that IP, its port is probed at once instead of after the server's next punch. */
    struct {
        struct rph_addr from;
        uint64_t at_ms;
    } early[EARLY_PUNCHES];
    size_t n_early;
};

void rph_peer_config_defaults(struct rph_peer_config *c, enum rph_role role)
{
    memset(c, 0, sizeof *c);
    c->role = role;
    c->retry_ms = 400;
    c->keepalive_ms = 10000;
    c->peer_timeout_ms = 30000;
    c->handshake_timeout_ms = 10000;
    c->max_remotes = 256;
    c->rekey_ms = 120000;
}

/* Cheap when nobody listens: one test of a pointer. */
static void trace(struct rph_peer *p, enum rph_trace_event what, const struct rph_remote *r,
                  const struct rph_addr *addr, const struct rph_addr *addr2, int code)
{
    if (!p->cb.on_trace) return;
    struct rph_trace t = {.what = what, .remote = r, .code = code};
    if (addr) t.addr = *addr;
    if (addr2) t.addr2 = *addr2;
    p->cb.on_trace(p->ctx, &t);
}

const char *rph_trace_name(enum rph_trace_event e)
{
    switch (e) {
    case RPH_TRACE_HP_SENT:
        return "hp-sent";
    case RPH_TRACE_HP_ANSWER:
        return "hp-answer";
    case RPH_TRACE_PUNCH_SENT:
        return "punch-sent";
    case RPH_TRACE_HS_SENT:
        return "handshake-sent";
    case RPH_TRACE_HS_TAKEN:
        return "handshake-taken";
    case RPH_TRACE_KEYS:
        return "keys";
    case RPH_TRACE_MOVED:
        return "moved";
    case RPH_TRACE_UP:
        return "up";
    case RPH_TRACE_DOWN:
        return "down";
    case RPH_TRACE_DROP:
        return "drop";
    case RPH_TRACE_PROBE:
        return "probe";
    case RPH_TRACE_PATH:
        return "path";
    case RPH_TRACE_CANDIDATE:
        return "candidate";
    case RPH_TRACE_PUNCH_TIMED:
        return "punch-timed";
    case RPH_TRACE_FRESH_PORT:
        return "fresh-port";
    }
    return "?";
}

const char *rph_path_reason_name(int reason)
{
    switch (reason) {
    case RPH_PATH_NO_DIRECT:
        return "no direct answer";
    case RPH_PATH_DIRECT_SILENT:
        return "direct path silent";
    case RPH_PATH_RELAYED_IN:
        return "it speaks through the relay";
    case RPH_PATH_DIRECT_IN:
        return "authenticated datagram arrived directly";
    case RPH_PATH_KIND:
        return "authenticated datagram arrived from another endpoint";
    case RPH_PATH_IDLE:
        return "idle, its direct path rests";
    }
    return "?";
}

static void send_raw(struct rph_peer *p, const struct rph_addr *to, const uint8_t *buf, size_t len)
{
    p->stats.sent++;
    p->cb.send(p->ctx, to, buf, len);
}

static bool relay_possible(const struct rph_peer *p, const struct rph_remote *r)
{
    return p->cfg.relay && p->cfg.sealed && p->has_relay_cookie && r->has_relay_addr;
}

int rph_peer_relay_wrap(const struct rph_peer *p, const struct rph_remote *r, uint8_t *buf,
                        size_t cap, size_t payload_len)
{
    if (!relay_possible(p, r)) return RPH_E_NOTSUP;
    return rph_relay_wrap(buf, cap, &p->cfg.seal.wire_session, p->relay_cookie, &r->relay_addr,
                          payload_len);
}

/* One sealed datagram to member `to` through the holepuncher's relay (a copy: the core's own
 * datagrams are small and rare; the data path wraps in place). */
static void send_relayed(struct rph_peer *p, const struct rph_addr *to, const uint8_t *buf,
                         size_t len)
{
    if (!p->cfg.relay || !p->has_relay_cookie || len > RPH_RELAY_PAYLOAD_MAX) return;
    memcpy(p->relaybuf + RPH_RELAY_HEADER_LEN, buf, len);
    int n = rph_relay_wrap(p->relaybuf, sizeof p->relaybuf, &p->cfg.seal.wire_session,
                           p->relay_cookie, to, len);
    if (n <= 0) return;
    p->stats.relay_out++;
    send_raw(p, &p->cfg.holepuncher, p->relaybuf, (size_t)n);
}

/* A datagram to r by its path: relayed, or straight to its endpoint. */
static void send_path(struct rph_peer *p, struct rph_remote *r, const uint8_t *buf, size_t len)
{
    if (r->relayed && relay_possible(p, r))
        send_relayed(p, &r->relay_addr, buf, len);
    else
        send_raw(p, &r->addr, buf, len);
}

/* A handshake message (init, resp, cookie reply) sealing made, to `to`: straight there (it
 * punches too), and through the relay as well while r is relayed. */
static void send_hs(struct rph_peer *p, struct rph_remote *r, const struct rph_addr *to,
                    struct seal_dgram d)
{
    if (!d.len) return;
    send_raw(p, to, d.data, d.len);
    if (r) {
        r->hs_sent_ms = p->now_ms;
        if (r->relayed && relay_possible(p, r)) send_relayed(p, &r->relay_addr, d.data, d.len);
    }
    trace(p, RPH_TRACE_HS_SENT, r, to, NULL, d.len > 3 ? d.data[3] : 0);
}

/* A round-trip sample from a handshake message sent at sent_ms and answered now: smoothed
 * 7/8 old, 1/8 new. Samples over 5 s are a lost message answered by a resend: ignored. */
static void note_rtt(struct rph_remote *r, uint64_t sent_ms, uint64_t now)
{
    if (!sent_ms || now < sent_ms || now - sent_ms >= 5000) return;
    uint64_t s = now - sent_ms ? now - sent_ms : 1;
    r->rtt_ms = r->rtt_ms ? (7 * r->rtt_ms + s) / 8 : s;
}

/* A handshake answer back the way its question came: through the relay to `to` (a member
 * endpoint), or straight there. */
static void send_hs_reply(struct rph_peer *p, struct rph_remote *r, const struct rph_addr *to,
                          struct seal_dgram d, bool via_relay)
{
    if (!d.len) return;
    if (via_relay)
        send_relayed(p, to, d.data, d.len);
    else
        send_raw(p, to, d.data, d.len);
    if (d.len > 3 && d.data[3] == RPH_HANDSHAKE_RESP) {
        p->resp_to = *to;
        p->resp_sent_ms = p->now_ms;
    }
    trace(p, RPH_TRACE_HS_SENT, r, to, NULL, d.len > 3 ? d.data[3] : 0);
}

static void send_msg(struct rph_peer *p, const struct rph_addr *to, const struct rph_msg *m)
{
    uint8_t buf[RPH_PEERINFO6_LEN + RPH_SESSION_MAX];
    int n = rph_wire_encode(m, buf, sizeof buf);
    if (n > 0) send_raw(p, to, buf, (size_t)n);
}

static void send_hello(struct rph_peer *p, struct rph_remote *r, enum rph_type t)
{
    struct rph_msg m = {.type = t};
    if (t == RPH_HELLO_REQ) p->stats.hellos_sent++;
    r->rx_unanswered = false; /* it heard from us */
    send_msg(p, &r->addr, &m);
}

static void set_state(struct rph_peer *p, enum rph_peer_state s, int err)
{
    p->state = s;
    if (err) p->last_err = err;
    if (p->cb.on_state) p->cb.on_state(p->ctx, s, err);
}

/* The session ID the holepuncher knows us by: the name, or in sealed mode the key's hash. */
static const struct rph_session *wire_session(const struct rph_peer *p)
{
    return p->cfg.sealed ? &p->cfg.seal.wire_session : &p->cfg.session;
}

/* Appends our round trip to a sealed request of n bytes (its timed form); the new length. */
static int put_rtt(const struct rph_peer *p, uint8_t *buf, size_t n)
{
    rph_put16(buf + n, (uint16_t)p->stats.hp_rtt_ms);
    rph_put16(buf, (uint16_t)(n + RPH_RTT_LEN));
    return (int)(n + RPH_RTT_LEN);
}

/* The holepuncher answered our last request (sent at hp_sent_ms): which form it reads, and,
 * when only that one was outstanding, our round trip to it, the one our next timed request
 * carries and our punch timing uses. */
static void hp_answered(struct rph_peer *p, uint64_t now)
{
    if (!p->cfg.sealed) return;
    if (p->hp_req_timed)
        p->hp_timed_heard = true;
    else if (!p->hp_timed_heard && p->hp_unanswered >= 2)
        p->hp_untimed = true; /* an older holepuncher: its decoder drops the timed forms */
    /* Karn's rule: after a retry (or with nothing outstanding) the answer may be to an
     * earlier copy, and timing it from the last send gives a round trip near 0. That one
     * sample, the least of the last 4, made a far client believe it was the nearer side and
     * time every punch the wrong way round for the next 4 requests. */
    bool ambiguous = p->hp_unanswered != 1;
    p->hp_unanswered = 0;
    if (ambiguous) return;
    /* Timed to the answer's arrival at our socket, not to when we got round to reading it. */
    uint64_t at = p->arrived_ms >= p->hp_sent_ms && p->arrived_ms ? p->arrived_ms : now;
    uint64_t rtt = at - p->hp_sent_ms;
    p->hp_rtts[p->hp_rtt_next++ % 4] = rtt == 0 ? 1 : rtt > UINT16_MAX ? UINT16_MAX : (uint16_t)rtt;
    uint16_t min = UINT16_MAX;
    for (size_t i = 0; i < 4; i++)
        if (p->hp_rtts[i] && p->hp_rtts[i] < min) min = p->hp_rtts[i];
    p->stats.hp_rtt_ms = min;
}

/* One Register or Join (sealed: with holepuncherd's cookie once we have one). */
static void send_request(struct rph_peer *p, uint64_t now)
{
    bool server = p->cfg.role == RPH_ROLE_SERVER;
    if (server)
        p->stats.registers_sent++;
    else
        p->stats.joins_sent++;
    p->hp_sent_ms = now;
    if (p->cfg.sealed) {
        uint8_t buf[RPH_OWNER_NODE_COOKIE_LEN + RPH_RTT_LEN];
        uint64_t wall = (uint64_t)((int64_t)now + p->wall_offset_ms);
        /* A server names its node, so that holepuncherd tells this server restarting (or its
         * NAT moving) from a second server registering the same session. */
        if (server && !p->has_node_id) {
            uint8_t pk[32];
            rph_peer_node_public(p, pk);
            rph_node_id(pk, p->node_id);
            p->has_node_id = true;
        }
        int n = rph_owner_encode_node(&p->cfg.seal, server ? RPH_SEALED_REGISTER : RPH_SEALED_JOIN,
                                      wall, server ? p->node_id : NULL,
                                      p->has_hp_cookie ? p->hp_cookie : NULL, buf, sizeof buf);
        if (n <= 0) return;
        p->hp_req_timed = !p->hp_untimed && (p->hp_timed_heard || p->hp_unanswered % 2 == 0);
        p->hp_unanswered++;
        if (p->hp_req_timed) n = put_rtt(p, buf, (size_t)n);
        size_t base = server ? RPH_OWNER_NODE_LEN : RPH_OWNER_LEN;
        memcpy(p->hp_echo, buf + base - 64, RPH_COOKIE_ECHO_LEN);
        p->hp_echo_valid = true;
        memcpy(p->hp_req, buf, base);
        p->hp_req_len = base;
        send_raw(p, &p->cfg.holepuncher, buf, (size_t)n);
    } else {
        struct rph_msg m = {.type = server ? RPH_REGISTER : RPH_JOIN, .session = p->cfg.session};
        send_msg(p, &p->cfg.holepuncher, &m);
    }
    trace(p, RPH_TRACE_HP_SENT, NULL, &p->cfg.holepuncher, NULL,
          p->cfg.sealed ? (server ? RPH_SEALED_REGISTER : RPH_SEALED_JOIN)
                        : (server ? RPH_REGISTER : RPH_JOIN));
}

/* The back-off is for a dead holepuncher. A client whose holepuncher answers (SessionNotFound,
 * a stale PeerInfo) waits for its server: it asks every RPH_WAIT_JOIN_MS, so a server back
 * from a reboot is found within about a second of registering, not a keepalive. */
static void cap_client_wait(const struct rph_peer *p, uint32_t *backoff, uint64_t now)
{
    bool answers = p->hp_heard && (now - p->hp_heard_ms) < HANDSHAKE_WINDOW_MS;
    if (p->cfg.role == RPH_ROLE_CLIENT && answers && (*backoff) > RPH_WAIT_JOIN_MS)
        *backoff = RPH_WAIT_JOIN_MS;
}

/* Register or Join, with the crate's fixed retry inside the handshake window and an
 * exponential back-off after it, so a daemon facing a dead holepuncher stays quiet. */
static void send_to_holepuncher(struct rph_peer *p, uint64_t now)
{
    send_request(p, now);
    if (!p->hp_pending) {
        p->hp_pending = true;
        p->hp_pending_since_ms = now;
        p->hp_backoff_ms = p->cfg.retry_ms;
    } else if (now - p->hp_pending_since_ms >= HANDSHAKE_WINDOW_MS) {
        uint32_t cap =
            p->cfg.keepalive_ms > p->cfg.retry_ms ? p->cfg.keepalive_ms : p->cfg.retry_ms;
        p->hp_backoff_ms = p->hp_backoff_ms * 2 > cap ? cap : p->hp_backoff_ms * 2;
    }
    cap_client_wait(p, &p->hp_backoff_ms, now);
    p->next_hp_ms = now + p->hp_backoff_ms;
}

struct rph_peer *rph_peer_new(const struct rph_peer_config *cfg,
                              const struct rph_peer_callbacks *cb, void *ctx, uint64_t now_ms,
                              int *err)
{
    int e = RPH_E_INVALID;
    struct rph_peer *p = NULL;
    if (!cfg || !cb || !cb->send ||
        (cfg->role != RPH_ROLE_SERVER && cfg->role != RPH_ROLE_CLIENT) ||
        cfg->holepuncher.family == 0 || cfg->retry_ms == 0 || cfg->keepalive_ms == 0 ||
        cfg->peer_timeout_ms == 0 || cfg->session.len > RPH_SESSION_MAX ||
        (cfg->sealed && (cfg->rekey_ms == 0 || cfg->max_remotes > SEAL_MAX_SLOTS)))
        goto fail;
    /* libsodium's one-time set-up (RPH_E_NOTSUP in a build without it). */
    if (cfg->sealed && (e = rph_seal_init()) < 0) goto fail;
    e = -ENOMEM;
    p = calloc(1, sizeof *p);
    if (!p) goto fail;
    p->cfg = *cfg;
    p->cb = *cb;
    p->ctx = ctx;
    if (cfg->mesh_max &&
        (!cfg->sealed || cfg->role != RPH_ROLE_CLIENT || cfg->mesh_max >= SEAL_MAX_SLOTS))
        goto fail;
    /* A client's slot 0 is its server's; a mesh client's members follow it. */
    p->n_slots = cfg->role == RPH_ROLE_CLIENT ? 1 + (size_t)cfg->mesh_max
                                              : (cfg->max_remotes ? cfg->max_remotes : 1);
    p->remotes = calloc(p->n_slots, sizeof *p->remotes);
    if (!p->remotes) goto fail;
    if (cfg->sealed) {
        /* No node key given: one for this run, so the handshake still names this node. */
        uint8_t zero[32] = {0}, pk[32];
        if (memcmp(p->cfg.node_sk, zero, 32) == 0 && (e = rph_noise_keygen(p->cfg.node_sk, pk)) < 0)
            goto fail;
        struct seal_config sc = {.keys = &p->cfg.seal,
                                 .initiator = cfg->role == RPH_ROLE_CLIENT,
                                 .respond = cfg->mesh_max > 0,
                                 .slots = p->n_slots,
                                 .retry_ms = cfg->retry_ms,
                                 .rekey_ms = cfg->rekey_ms,
                                 .pending_ms = HANDSHAKE_WINDOW_MS,
                                 .node_sk = p->cfg.node_sk,
                                 .members = cfg->members,
                                 .n_members = cfg->n_members,
                                 .wall_offset_ms = &p->wall_offset_ms,
                                 .stats = &p->stats};
        p->seal = seal_new(&sc, &e);
        if (!p->seal) goto fail;
    }
    /* The first Register/Join goes out below; callers may set another offset (tests). */
    p->wall_offset_ms = rph_wall_offset_ms();
    p->started_ms = now_ms;
    p->now_ms = now_ms;
    p->state = cfg->role == RPH_ROLE_SERVER ? RPH_STATE_REGISTERING : RPH_STATE_JOINING;
    send_to_holepuncher(p, now_ms);
    return p;
fail:
    rph_peer_free(p);
    if (err) *err = e;
    return NULL;
}

void rph_peer_free(struct rph_peer *p)
{
    if (!p) return;
    free(p->remotes);
    seal_free(p->seal);
    rph_seal_wipe(p, sizeof *p);
    free(p);
}

void rph_peer_set_wall_offset(struct rph_peer *p, int64_t offset_ms)
{
    p->wall_offset_ms = offset_ms;
}

struct rph_remote *rph_peer_find(struct rph_peer *p, const struct rph_addr *addr)
{
    for (size_t i = 0; i < p->n_slots; i++)
        if (p->remotes[i].in_use && rph_addr_equal(&p->remotes[i].addr, addr))
            return &p->remotes[i];
    return NULL;
}

static size_t slot_of(const struct rph_peer *p, const struct rph_remote *r)
{
    return (size_t)(r - p->remotes);
}

static void drop_remote(struct rph_peer *p, struct rph_remote *r)
{
    /* Tell the caller while the slot still holds the address and its user pointer. */
    trace(p, RPH_TRACE_DOWN, r, &r->addr, NULL, r->up);
    if (r->up && p->cb.on_remote) p->cb.on_remote(p->ctx, r, false);
    if (p->seal) seal_forget(p->seal, slot_of(p, r));
    if (r->quiet) p->n_quiet--;
    memset(r, 0, sizeof *r);
}

static uint32_t punch_window(const struct rph_peer *p)
{
    return p->cfg.handshake_timeout_ms ? p->cfg.handshake_timeout_ms : HANDSHAKE_WINDOW_MS;
}

/* A free slot among [first, end), else the one of the oldest remote that never answered. */
static struct rph_remote *alloc_in(struct rph_peer *p, size_t first, size_t end, uint64_t now)
{
    struct rph_remote *r = NULL, *oldest = NULL;
    for (size_t i = first; i < end && !r; i++) {
        struct rph_remote *x = &p->remotes[i];
        if (!x->in_use)
            r = x;
        else if (!x->up && (!oldest || x->added_ms < oldest->added_ms))
            oldest = x;
    }
    if (!r && oldest) {
        /* Only remotes that answered hold slots for good: PeerInfos for addresses that never
         * answer (spoofed Joins) cannot fill the table against real clients. */
        p->stats.remotes_evicted++;
        drop_remote(p, oldest);
        r = oldest;
    }
    if (!r) {
        p->stats.remotes_full++;
        return NULL;
    }
    memset(r, 0, sizeof *r);
    r->in_use = true;
    r->added_ms = now;
    r->punch_until_ms = now + punch_window(p);
    return r;
}

static struct rph_remote *alloc_remote(struct rph_peer *p, const struct rph_addr *addr,
                                       uint64_t now)
{
    /* A client's server lives in slot 0 only; the others are its mesh members'. */
    struct rph_remote *r = alloc_in(p, 0, p->cfg.role == RPH_ROLE_CLIENT ? 1 : p->n_slots, now);
    if (r) r->addr = *addr;
    return r;
}

/* Bytes a datagram with this payload takes on the wire (IPv4 20 + 8, IPv6 40 + 8 headers):
 * what a victim's link carries, so what the amplification bound counts. */
static size_t wire_bytes(size_t payload, int family)
{
    return payload + (family == 6 ? 48u : 28u);
}

/* Punches a server may send toward a client that has not answered, so that the
 * holepuncher's PeerInfo to that address and these punches stay within 3x the bytes of the
 * Join (join_len bytes) that caused them: the bound of docs/PROTOCOL.md "Amplification". */
static uint8_t punch_budget(const struct rph_peer *p, size_t join_len, int family)
{
    size_t allowed = 3 * wire_bytes(join_len, family);
    /* The PeerInfo names us: an IPv6 one if we reach the holepuncher over IPv6. */
    size_t info = wire_bytes(p->cfg.holepuncher.family == 6 ? RPH_PEERINFO6_LEN : 11, family);
    size_t n = allowed > info ? (allowed - info) / wire_bytes(RPH_HEADER_LEN, family) : 0;
    return (uint8_t)(n > MAX_UNANSWERED_PUNCHES ? MAX_UNANSWERED_PUNCHES : n);
}

/* A server's punch toward a remote; one that has not answered gets only its budget. */
static void punch(struct rph_peer *p, struct rph_remote *r, uint64_t now)
{
    if (!r->up && p->cfg.role == RPH_ROLE_SERVER) {
        if (r->punches_left == 0) {
            r->next_hello_ms = UINT64_MAX; /* until it answers or a new PeerInfo comes */
            return;
        }
        r->punches_left--;
    }
    send_hello(p, r, RPH_HELLO_REQ);
    if (!r->up) trace(p, RPH_TRACE_PUNCH_SENT, r, &r->addr, NULL, 0);
    r->next_hello_ms = now + (r->up ? p->cfg.keepalive_ms : p->cfg.retry_ms);
}

/* How long our first packet toward a new remote waits (timed punches): the remote's round trip
 * to the holepuncher came with its PeerInfo (0: none). */
static uint32_t first_delay(struct rph_peer *p, struct rph_remote *r, uint16_t other_rtt)
{
    uint32_t d = p->cfg.sealed && !r->up
                     ? rph_punch_delay_role_ms(p->stats.hp_rtt_ms, other_rtt, p->cfg.role)
                     : 0;
    r->punch_delay_ms = d;
    if (d) {
        p->stats.timed_punches++;
        trace(p, RPH_TRACE_PUNCH_TIMED, r, &r->addr, NULL, (int)d);
    }
    return d;
}

static void probe_candidates(struct rph_peer *p, struct rph_remote *r, uint64_t now);

/* Sealed client, our server's PeerInfo: the punches that came from its IP before it (the
 * remembered ones, EARLY_PUNCH_MS at most) are candidates now, probed at once. */
static void take_early_punches(struct rph_peer *p, struct rph_remote *r, uint64_t now)
{
    bool added = false;
    for (size_t i = 0; i < p->n_early; i++)
        if (now - p->early[i].at_ms <= EARLY_PUNCH_MS &&
            cand_add_punched(r, &p->early[i].from, now) > 0) {
            p->stats.cand_added++;
            added = true;
        }
    p->n_early = 0;
    if (added) probe_candidates(p, r, now);
}

/* PeerInfo named addr, caused by a Join of join_len bytes: punch toward it (and, as a sealed
 * client, start the handshake), at once or after the wait of timed punches. */
static struct rph_remote *add_remote(struct rph_peer *p, const struct rph_addr *addr, uint64_t now,
                                     size_t join_len, uint16_t other_rtt)
{
    struct rph_remote *r = rph_peer_find(p, addr);
    /* A remote that moved to a direct endpoint of its own (a symmetric NAT's) is still the one
     * the holepuncher names at its old one (a relay client's re-Join): no second slot for it. */
    for (size_t i = 0; !r && p->cfg.relay && p->cfg.sealed && i < p->n_slots; i++)
        if (p->remotes[i].in_use && p->remotes[i].up && p->remotes[i].has_relay_addr &&
            rph_addr_equal(&p->remotes[i].relay_addr, addr))
            r = &p->remotes[i];
    if (!r) r = alloc_remote(p, addr, now);
    if (!r) return NULL;
    r->punch_until_ms = now + punch_window(p);
    /* The holepuncher's endpoint of it: where RelayData to it is addressed. */
    r->relay_addr = *addr;
    r->has_relay_addr = true;
    if (p->cfg.sealed && p->cfg.role == RPH_ROLE_CLIENT) {
        /* The handshake's resends are sealing's timers; keepalives start once it is up. An
         * unset (0) time here made the deadline "now" and the event loop spin while punching. */
        if (!r->up) r->next_hello_ms = UINT64_MAX;
        uint32_t d = first_delay(p, r, other_rtt);
        r->hs_at_ms = d ? now + d : 0; /* sealed_tick sends it then */
        if (!d) send_hs(p, r, &r->addr, seal_start(p->seal, slot_of(p, r), now));
        take_early_punches(p, r, now);
    } else {
        /* The server's punches open its NAT toward the client; in sealed mode the
         * client ignores them and the handshake does the rest. */
        if (!r->up) r->punches_left = punch_budget(p, join_len, addr->family);
        /* A sealed client up on a direct path that joins again (its relay membership, every
         * RPH_RELAY_JOIN_MS) needs no punch: its keepalives and our answers hold both NATs
         * open, and a client whose NAT moved is named at its new endpoint, a new remote. */
        if (p->cfg.sealed && r->up && !r->relayed) return r;
        uint32_t d = first_delay(p, r, other_rtt);
        if (d)
            r->next_hello_ms = now + d; /* sealed_tick punches then */
        else
            punch(p, r, now);
    }
    return r;
}

static void member_path(struct rph_peer *p, struct rph_remote *r, bool via_server, int reason,
                        uint64_t now);

/* A member's keepalives and silence follow the mesh's slower pace (peer.h); the server's do
 * not change. */
static uint32_t keepalive_of(const struct rph_peer *p, const struct rph_remote *r)
{
    return r->member ? RPH_MEMBER_KEEPALIVE_MS : p->cfg.keepalive_ms;
}

/* Sealed: one side of each pair keeps it alive and the other answers each keepalive, which
 * refreshes its NATs just the same: a member pair's initiator keeps it, and a client its
 * server's (a server with 63 idle clients woke twice per client and interval, for its own
 * keepalive and for the client's; now once). */
static bool answers_keepalives(const struct rph_peer *p, const struct rph_remote *r)
{
    return p->cfg.sealed && (r->member ? !r->initiator : p->cfg.role == RPH_ROLE_SERVER);
}

static uint32_t timeout_of(const struct rph_peer *p, const struct rph_remote *r)
{
    uint32_t t = p->cfg.peer_timeout_ms;
    return r->member && t < RPH_MEMBER_TIMEOUT_MS ? RPH_MEMBER_TIMEOUT_MS : t;
}

/* When an up remote is dropped for silence; never while it is a quiet member (it sends nothing
 * on purpose; the server says when it leaves), and a woken one's silence counts from waking. */
static uint64_t silence_deadline(const struct rph_peer *p, const struct rph_remote *r)
{
    if (r->quiet) return UINT64_MAX;
    uint64_t from = r->woke_ms > r->last_rx_ms ? r->woke_ms : r->last_rx_ms;
    return from + timeout_of(p, r);
}

static void member_unquiet(struct rph_peer *p, struct rph_remote *r, uint64_t now)
{
    if (!r->quiet) return;
    r->quiet = false;
    p->n_quiet--;
    p->stats.member_wakes++;
    r->woke_ms = now;
    r->data_ms = now;
    /* The lower key keeps the pair alive again (sealed_tick); the other only answers. */
    r->next_hello_ms = r->initiator ? now + RPH_MEMBER_KEEPALIVE_MS : UINT64_MAX;
}

static void remote_alive(struct rph_peer *p, struct rph_remote *r, bool hello, uint64_t now)
{
    r->last_rx_ms = now;
    r->tx_unanswered = false;
    /* A handshake from a quiet member: it woke (traffic reached it), and this is its path
     * proving itself. Not a keepalive: the two ends rest at about the same moment, and the
     * last keepalive of the one that rests later must not wake the other. */
    if (hello) member_unquiet(p, r, now);
    if (r->quiet) return;
    /* The server answered: whatever the probe was looking for, it is here. */
    if (p->cfg.role == RPH_ROLE_CLIENT && !r->member) p->probing = false;
    if (hello) r->last_hello_ms = now;
    if (r->via_server) member_path(p, r, false, RPH_PATH_DIRECT_IN, now);
    if (r->up) return;
    r->up = true;
    r->up_ms = now;
    r->data_ms = now; /* a member's idle time counts from its coming up */
    trace(p, RPH_TRACE_UP, r, &r->addr, NULL, 0);
    r->next_hello_ms = answers_keepalives(p, r) ? UINT64_MAX : now + keepalive_of(p, r);
    if (p->cfg.role == RPH_ROLE_CLIENT && !r->member && p->state != RPH_STATE_CONNECTED)
        set_state(p, RPH_STATE_CONNECTED, 0);
    if (p->cb.on_remote) p->cb.on_remote(p->ctx, r, true);
}

static void deliver(struct rph_peer *p, struct rph_remote *r, const uint8_t *d, size_t n,
                    uint64_t now)
{
    p->stats.data_in++;
    r->data_rx_ms = now;
    if (r->quiet) { /* data straight from a resting member: it is awake, and so is its path */
        member_unquiet(p, r, now);
        member_path(p, r, false, RPH_PATH_DIRECT_IN, now);
    }
    r->data_ms = now;
    if (!r->rx_unanswered) {
        r->rx_unanswered = true;
        r->rx_unanswered_ms = now;
    }
    if (p->cb.on_data) p->cb.on_data(p->ctx, r, d, n);
}

/* Direct before and after, but the kind of r's path is no longer `was` (public -> LAN): a path
 * change too, told like the others. */
static void kind_changed(struct rph_peer *p, struct rph_remote *r, enum rph_path_kind was,
                         uint64_t now)
{
    if (r->relayed || !r->direct_ok || rph_remote_path_kind(r) == was) return;
    r->path_ms = now;
    p->stats.path_changes++;
    trace(p, RPH_TRACE_PATH, r, &r->addr, NULL, RPH_PATH_KIND);
    if (p->cb.on_path) p->cb.on_path(p->ctx, r, RPH_PATH_KIND);
}

static void move_endpoint(struct rph_peer *p, struct rph_remote *r, const struct rph_addr *from,
                          uint64_t now)
{
    if (rph_addr_equal(&r->addr, from)) return;
    enum rph_path_kind was = rph_remote_path_kind(r);
    trace(p, RPH_TRACE_MOVED, r, &r->addr, from, 0);
    r->addr = *from;
    p->stats.roamed++;
    kind_changed(p, r, was, now);
}

/* Sealed: an empty transport packet, a keepalive (or the initiator's key confirmation). */
static void send_keepalive(struct rph_peer *p, struct rph_remote *r)
{
    uint8_t *d;
    int n = seal_frame(p->seal, slot_of(p, r), p->txbuf, 0, &d);
    if (n > 0) send_path(p, r, d, (size_t)n);
    r->rx_unanswered = false;
}

/* Relayed: a keepalive straight to its endpoint, the background direct attempt (an answer
 * straight back moves it to direct; it also opens our NAT toward that endpoint). */
static void send_direct_try(struct rph_peer *p, struct rph_remote *r)
{
    uint8_t *d;
    int n = seal_frame(p->seal, slot_of(p, r), p->txbuf, 0, &d);
    if (n > 0) send_raw(p, &r->addr, d, (size_t)n);
}

static void set_path(struct rph_peer *p, struct rph_remote *r, bool relayed, int reason,
                     uint64_t now)
{
    if (r->relayed == relayed) return;
    r->relayed = relayed;
    r->path_ms = now;
    p->stats.path_changes++;
    if (relayed) r->next_direct_try_ms = now + RPH_DIRECT_RETRY_MS;
    trace(p, RPH_TRACE_PATH, r, relayed ? &r->relay_addr : &r->addr, NULL, reason);
    if (p->cb.on_path) p->cb.on_path(p->ctx, r, reason);
}

/* An authenticated datagram from r came through the relay (from: its member endpoint) or
 * straight: the path follows. Straight wins at once; through the relay moves a direct remote
 * only when direct has been quiet (the other side gave up on it), so replies go back the way
 * the traffic comes. */
static void rx_path(struct rph_peer *p, struct rph_remote *r, const struct rph_addr *from,
                    bool via_relay, uint64_t now)
{
    if (via_relay) {
        /* It speaks from another endpoint as the holepuncher sees it (a fresh local port, a
         * rebinding) while direct does not work: the direct tries follow it there instead of
         * going to the old one for ever, one retry later, so that a timed punch toward it goes
         * first. Only an authenticated datagram gets here. */
        if (r->relayed && r->has_relay_addr && !rph_addr_equal(&r->relay_addr, from) &&
            rph_addr_equal(&r->addr, &r->relay_addr)) {
            move_endpoint(p, r, from, now);
            r->next_direct_try_ms = now + RPH_DIRECT_RETRY_MS;
        }
        r->relay_addr = *from;
        r->has_relay_addr = true;
        r->relay_rx_ms = now;
        if (!r->relayed && !(r->direct_ok && now - r->direct_rx_ms < RPH_RELAY_FALLBACK_MS))
            set_path(p, r, true, RPH_PATH_RELAYED_IN, now);
        return;
    }
    r->direct_ok = true;
    r->direct_rx_ms = now;
    if (r->relayed) set_path(p, r, false, RPH_PATH_DIRECT_IN, now);
}

static void set_node(struct rph_remote *r, const uint8_t pk[32])
{
    memcpy(r->node_pk, pk, 32);
    r->has_node_pk = true;
}

/* The remote a finished handshake of node key pk from `from` goes to: the one with that node
 * key, else the one at its address if no node key holds it yet (the client a SealedPeerInfo
 * announced), else a new one. A live remote of another node key is never taken. */
static struct rph_remote *remote_for(struct rph_peer *p, const struct seal_event *ev,
                                     const struct rph_addr *from, uint64_t now)
{
    if (ev->slot < p->n_slots) return &p->remotes[ev->slot];
    struct rph_remote *at = rph_peer_find(p, from);
    if (at && !at->has_node_pk) return at;
    if (at) p->stats.node_conflict++;
    return alloc_remote(p, from, now);
}

/* A sealed handshake or transport datagram: sealing authenticates it and says what happened;
 * the remote's state, its endpoint and the sends follow here, in this order. */
static int sealed_input(struct rph_peer *p, const struct rph_msg *m, uint8_t *buf,
                        const struct rph_addr *from, bool via_relay, uint64_t now)
{
    struct seal_event ev;
    int e;
    if (m->type == RPH_TRANSPORT) {
        e = seal_open(p->seal, m, buf, &ev);
    } else {
        struct rph_remote *at = rph_peer_find(p, from);
        e = seal_handshake(p->seal, m, buf, from, at ? slot_of(p, at) : SEAL_NO_SLOT, now, &ev);
    }
    if (e < 0) return e;
    struct rph_remote *r = ev.slot < p->n_slots ? &p->remotes[ev.slot] : NULL;
    if (m->type != RPH_TRANSPORT) trace(p, RPH_TRACE_HS_TAKEN, r, from, NULL, (int)m->type);
    /* Our init answered: a round trip. */
    if (m->type == RPH_HANDSHAKE_RESP && r && r->in_use && p->cfg.role == RPH_ROLE_CLIENT)
        note_rtt(r, r->hs_sent_ms, now);
    /* The endpoint follows the newest authenticated datagram before the path is judged, so a
     * path change names where it goes. */
    if (r && (ev.what == SEAL_ESTABLISHED || ev.what == SEAL_DATA) && ev.newest && !via_relay)
        move_endpoint(p, r, from, now);
    if (r && ev.what != SEAL_NONE && ev.what != SEAL_REPLY && ev.what != SEAL_ADOPT)
        rx_path(p, r, from, via_relay, now);
    switch (ev.what) {
    case SEAL_NONE:
        return 0;
    case SEAL_REPLY:
        send_hs_reply(p, r, from, ev.reply, via_relay);
        return 0;
    case SEAL_ADOPT:
        /* A handshake finished: its keys go to its node key's remote, which answers at once
         * under them (the initiator switches to them when that arrives). */
        r = remote_for(p, &ev, from, now);
        if ((e = seal_adopt(p->seal, &ev, r ? slot_of(p, r) : SEAL_NO_SLOT)) < 0) return e;
        /* A node back from a new address had a placeholder there (its SealedPeerInfo): gone. */
        for (size_t i = 0; i < p->n_slots; i++) {
            struct rph_remote *o = &p->remotes[i];
            if (o != r && o->in_use && !o->up && !o->has_node_pk && !o->member &&
                rph_addr_equal(&o->addr, from))
                drop_remote(p, o);
        }
        set_node(r, ev.node_pk);
        trace(p, RPH_TRACE_KEYS, r, from, NULL, r->up);
        /* Our HandshakeResp answered with the Finish: a round trip. */
        if (rph_addr_equal(from, &p->resp_to)) note_rtt(r, p->resp_sent_ms, now);
        if (!via_relay) move_endpoint(p, r, from, now);
        rx_path(p, r, from, via_relay, now);
        remote_alive(p, r, true, now);
        send_keepalive(p, r);
        return 0;
    case SEAL_RECONFIRM:
        send_keepalive(p, r);
        return 0;
    case SEAL_ESTABLISHED:
        set_node(r, ev.node_pk);
        trace(p, RPH_TRACE_KEYS, r, from, NULL, r->up);
        remote_alive(p, r, true, now);
        break;
    case SEAL_DATA:
        remote_alive(p, r, false, now);
        /* A keepalive (empty) to the side that does not send its own: answered. */
        if (ev.plain_len == 0 && answers_keepalives(p, r) && !r->quiet) send_keepalive(p, r);
        break;
    }
    if (ev.plain_len > 0) deliver(p, r, ev.plain, ev.plain_len, now);
    return 0;
}

/* A PeerInfo while up or punching: an answer to a probe's Join (else a duplicate answer to a
 * retried Join). The endpoint we already use changes nothing; another one means the server
 * came back elsewhere (restarted on a new port, moved): a new remote there, punched and, when
 * sealed, handshaken with. The probe goes on until that remote answers. */
static int probe_answer(struct rph_peer *p, const struct rph_addr *peer, uint16_t other_rtt,
                        uint64_t now)
{
    if (!p->probing) return 0;
    p->hp_last_ms = now;
    struct rph_remote *cur = &p->remotes[0]; /* a client has one slot: its server */
    if (cur->in_use && rph_addr_equal(&cur->addr, peer)) return 0;
    p->stats.moved++;
    trace(p, RPH_TRACE_MOVED, cur->in_use ? cur : NULL, cur->in_use ? &cur->addr : NULL, peer, 1);
    if (cur->in_use && cur->up && p->seal) {
        /* Most often the same server, whose NAT gave it a new port (a rebinding): its keys
         * still hold, so the tunnel stays up and only the endpoint changes; a handshake there
         * gets fresh keys from a server that restarted instead. The probe goes on until an
         * authenticated answer comes, and until then nothing else moves us. */
        cur->addr = *peer;
        cur->relay_addr = *peer;
        cur->has_relay_addr = true;
        send_hs(p, cur, &cur->addr, seal_start(p->seal, 0, now));
        return 0;
    }
    if (cur->in_use) drop_remote(p, cur);
    if (!add_remote(p, peer, now, 0, other_rtt)) return RPH_E_FULL;
    p->started_ms = now;
    set_state(p, RPH_STATE_PUNCHING, 0);
    return 0;
}

/* The holepuncher acted on our last Register/Join (RegisterAck, PeerInfo): the cookie it
 * carried is the one our relay membership holds now. */
static void accepted(struct rph_peer *p)
{
    if (!p->cfg.sealed || !p->has_hp_cookie) return;
    memcpy(p->relay_cookie, p->hp_cookie, RPH_COOKIE_LEN);
    p->has_relay_cookie = true;
    p->relay_old_port = false; /* the cookie is the current endpoint's */
}

bool rph_peer_relay_old_port(const struct rph_peer *p)
{
    return p->relay_old_port;
}

static void fresh_port_answer(struct rph_peer *p, const struct rph_addr *peer, uint16_t other_rtt,
                              uint64_t now);

static int from_holepuncher(struct rph_peer *p, const struct rph_msg *m, uint64_t now)
{
    bool server = p->cfg.role == RPH_ROLE_SERVER;
    bool info = m->type == RPH_PEER_INFO || m->type == RPH_SEALED_PEER_INFO ||
                m->type == RPH_TIMED_PEER_INFO;
    p->hp_heard = true; /* it is alive, whatever it says */
    p->hp_heard_ms = now;
    trace(p, RPH_TRACE_HP_ANSWER, NULL, info ? &m->peer : &p->cfg.holepuncher, NULL, (int)m->type);
    switch (m->type) {
    case RPH_REGISTER_ACK:
        if (!server) break;
        if (!rph_session_equal(&m->session, wire_session(p))) goto mismatch;
        p->hp_last_ms = now;
        p->hp_refused = false;
        accepted(p);
        if (p->hp_pending) hp_answered(p, now);
        if (p->hp_pending) {
            p->hp_pending = false;
            p->next_hp_ms = now + p->cfg.keepalive_ms;
        }
        if (p->state == RPH_STATE_REGISTERING) set_state(p, RPH_STATE_REGISTERED, 0);
        return 0;
    case RPH_REGISTER_REFUSED:
        /* Another node's server holds the session. Only an answer to our last Register
         * counts: the echo is its signature's first bytes, which no off-path sender knows. */
        if (!server || !p->cfg.sealed || !p->hp_req_len ||
            memcmp(m->hpc.echo, p->hp_echo, RPH_COOKIE_ECHO_LEN) != 0)
            break;
        if (!rph_session_equal(&m->session, wire_session(p))) goto mismatch;
        p->hp_last_ms = now;
        hp_answered(p, now);
        p->hp_refused = true;
        p->hp_holder = m->peer;
        p->stats.hp_refused++;
        /* Answered: ask again at the keepalive pace (the holder may go), not every retry;
         * with a handshake timeout (not a daemon) it is an answer that ends the attempt, as
         * SessionNotFound is for a client. */
        p->hp_pending = false;
        p->next_hp_ms = now + p->cfg.keepalive_ms;
        set_state(p, p->cfg.handshake_timeout_ms ? RPH_STATE_FAILED : RPH_STATE_REGISTERING,
                  RPH_E_HELD);
        return 0;
    case RPH_SESSION_NOT_FOUND:
        if (server || p->state != RPH_STATE_JOINING) break;
        if (!rph_session_equal(&m->session, wire_session(p))) goto mismatch;
        hp_answered(p, now);
        if (p->cfg.handshake_timeout_ms) {
            set_state(p, RPH_STATE_FAILED, RPH_E_NOT_FOUND);
        } else {
            /* A daemon waits for the server to register; every answer is reported (the caller
             * rate-limits), so it can tell "not yet" from "many times: maybe a wrong key". */
            set_state(p, RPH_STATE_JOINING, RPH_E_NOT_FOUND);
        }
        return 0;
    case RPH_SEALED_PEER_INFO:
        if (!server || !p->cfg.sealed) break;
        {
            int e = seal_check_join(p->seal, m, now, p->wall_offset_ms);
            if (e < 0) return e;
        }
        p->hp_last_ms = now;
        return add_remote(p, &m->peer, now, m->data_len, m->has_rtt ? m->rtt_ms : 0) ? 0
                                                                                     : RPH_E_FULL;
    case RPH_TIMED_PEER_INFO:
        /* A PeerInfo with the server's round trip: only for a sealed client. */
        if (server || !p->cfg.sealed) break;
        /* fall through */
    case RPH_PEER_INFO:
        if (!server) accepted(p);
        if (server) {
            /* A sealed server punches only for a client's signed Join (SealedPeerInfo). */
            if (p->cfg.sealed) break;
            p->hp_last_ms = now;
            /* The Join named our session: it was this long. */
            return add_remote(p, &m->peer, now, RPH_HEADER_LEN + p->cfg.session.len, 0)
                       ? 0
                       : RPH_E_FULL;
        }
        if (p->fp_join == FP_JOIN_INFO)
            fresh_port_answer(p, &m->peer, m->has_rtt ? m->rtt_ms : 0, now);
        if (p->state != RPH_STATE_JOINING)
            return probe_answer(p, &m->peer, m->has_rtt ? m->rtt_ms : 0, now);
        p->hp_last_ms = now;
        if (p->hp_pending) hp_answered(p, now);
        p->hp_pending = false;
        p->last_err = 0;
        if (!add_remote(p, &m->peer, now, 0, m->has_rtt ? m->rtt_ms : 0)) return RPH_E_FULL;
        p->next_relay_join_ms = now + RPH_RELAY_JOIN_MS;
        set_state(p, RPH_STATE_PUNCHING, 0);
        return 0;
    case RPH_HELLO_RESP:
        return 0;
    case RPH_HP_COOKIE:
        /* Only an answer to our last request counts (a forged one cannot make us send more),
         * and it is repeated at once with the cookie, outside the retry schedule. */
        if (!p->cfg.sealed || !p->hp_echo_valid ||
            memcmp(m->hpc.echo, p->hp_echo, RPH_COOKIE_ECHO_LEN) != 0)
            break;
        memcpy(p->hp_cookie, m->hpc.cookie, RPH_COOKIE_LEN);
        p->has_hp_cookie = true;
        p->hp_echo_valid = false;
        /* A fresh port's Join answered (we sent it without a cookie): PeerInfos from now on
         * name the endpoint it came from. */
        if (p->fp_join == FP_JOIN_COOKIE) p->fp_join = FP_JOIN_INFO;
        p->stats.hp_cookies++;
        /* Its round trip is the first we measure: the repeat carries it. */
        hp_answered(p, now);
        /* The same signed request with the cookie added: one signature per attempt, so a
         * recording of the first copy is a replay of the one holepuncherd accepts. Same form:
         * the holepuncher read this one. */
        memcpy(p->hp_req + p->hp_req_len, p->hp_cookie, RPH_COOKIE_LEN);
        size_t n = p->hp_req_len + RPH_COOKIE_LEN;
        rph_put16(p->hp_req, (uint16_t)n);
        if (p->hp_req_timed) n = (size_t)put_rtt(p, p->hp_req, n);
        p->hp_unanswered = 1;
        p->hp_sent_ms = now;
        /* A new request: its retry is due a retry interval from now, not from the first copy
         * (a slow cookie round trip made the retry go just before this copy's answer). */
        if (p->hp_pending) p->next_hp_ms = now + p->hp_backoff_ms;
        if (server)
            p->stats.registers_sent++;
        else
            p->stats.joins_sent++;
        send_raw(p, &p->cfg.holepuncher, p->hp_req, n);
        return 0;
    default:
        break;
    }
    p->stats.unexpected++;
    return RPH_E_UNEXPECTED;
mismatch:
    p->stats.session_mismatch++;
    return RPH_E_SESSION_MISMATCH;
}

static int peer_input(struct rph_peer *p, uint8_t *buf, size_t len, const struct rph_addr *from,
                      uint64_t now_ms);

int rph_peer_input(struct rph_peer *p, uint8_t *buf, size_t len, const struct rph_addr *from,
                   uint64_t now_ms)
{
    return rph_peer_input_at(p, buf, len, from, now_ms, now_ms);
}

int rph_peer_input_at(struct rph_peer *p, uint8_t *buf, size_t len, const struct rph_addr *from,
                      uint64_t now_ms, uint64_t arrived_ms)
{
    p->arrived_ms = arrived_ms <= now_ms ? arrived_ms : now_ms;
    int e = peer_input(p, buf, len, from, now_ms);
    p->arrived_ms = 0;
    if (e < 0 && e != RPH_E_INTERRUPTED) trace(p, RPH_TRACE_DROP, NULL, from, NULL, e);
    return e;
}

/* A RelayData from our holepuncher: the sealed datagram inside, from the member endpoint it
 * names, goes to the usual sealed input flagged "via relay" (its endpoint is not the remote's
 * direct one: no roaming to it). The payload's AEAD or handshake authenticates it. */
static int relay_input(struct rph_peer *p, uint8_t *buf, size_t len, uint64_t now)
{
    struct rph_addr src;
    const uint8_t *pl;
    size_t pl_len;
    struct rph_msg m;
    int e = rph_relay_unwrap(buf, len, &p->cfg.seal.wire_session, &src, &pl, &pl_len);
    if (e == 0) e = rph_wire_decode(pl, pl_len, &m);
    if (e < 0) {
        p->stats.relay_refused++;
        return e;
    }
    p->stats.relay_in++;
    /* pl points into buf, which is ours to write (opened in place). */
    return sealed_input(p, &m, buf + (pl - buf), &src, true, now);
}

/* Sealed: one probe to candidate c of r: a keepalive under r's keys, or before keys exist a
 * client's init in flight. Whatever answers from there authenticates itself; only then does
 * the remote move (sealed_input). */
static void probe_candidate(struct rph_peer *p, struct rph_remote *r, struct rph_candidate *c,
                            uint64_t now)
{
    uint8_t *d;
    int n = seal_frame(p->seal, slot_of(p, r), p->txbuf, 0, &d);
    if (n > 0) {
        send_raw(p, &c->addr, d, (size_t)n);
    } else if (r->member && !r->initiator) {
        /* No keys yet and the other side starts the handshake: a plain punch opens our NAT
         * or firewall toward the candidate, so its init gets in. */
        struct rph_msg m = {.type = RPH_HELLO_REQ};
        send_msg(p, &c->addr, &m);
    } else {
        struct seal_dgram ini = seal_pending_init(p->seal, slot_of(p, r));
        if (ini.len) {
            send_raw(p, &c->addr, ini.data, ini.len);
            r->hs_sent_ms = now;
        }
    }
    p->stats.cand_probes++;
    trace(p, RPH_TRACE_CANDIDATE, r, &c->addr, NULL, c->kind);
    cand_probed(c, now, p->cfg.retry_ms);
}

/* A client's timed first handshake message, held until its time (timed punches). */
static void send_held_hs(struct rph_peer *p, struct rph_remote *r, uint64_t now)
{
    r->hs_at_ms = 0;
    send_hs(p, r, &r->addr, seal_start(p->seal, slot_of(p, r), now));
}

static void probe_candidates(struct rph_peer *p, struct rph_remote *r, uint64_t now)
{
    /* Before keys a client's probe is its init: while that is held (timed punches), so are the
     * probes, uncounted (a probe with nothing to carry was spent, and the next came only 400
     * ms later, after the relay had taken over); it goes as its time comes, then they do. */
    if (r->hs_at_ms) {
        if (now < r->hs_at_ms) {
            cand_defer(r, r->hs_at_ms);
            return;
        }
        send_held_hs(p, r, now);
    }
    for (struct rph_candidate *c; (c = cand_due(r, now));)
        probe_candidate(p, r, c, now);
}

/* Mesh (docs/PROTOCOL.md "Mesh"): members are remotes of a client like its server, with three
 * differences: the lower node key starts handshakes (the other punches in plain), neither side
 * rejoins or probes the holepuncher for them, and a member whose data goes unanswered is not
 * relayed but left to the server (the caller routes through it) while handshakes from either
 * side look for the path again. */
static bool member_stale(const struct rph_remote *r, uint64_t now)
{
    return r->member && r->up && r->tx_unanswered &&
           now >= r->tx_unanswered_ms + RPH_RELAY_FALLBACK_MS; /* not now - x: a send stamped
                                                                * after this now would wrap */
}

bool rph_remote_usable(const struct rph_remote *r, uint64_t now_ms)
{
    return r->in_use && r->up && !r->quiet && !member_stale(r, now_ms);
}

size_t rph_peer_quiet_members(const struct rph_peer *p)
{
    return p->n_quiet;
}

/* Whether our server carries members' traffic now: a quiet member's first packets go through
 * it, so a member may rest only while it does. */
static bool server_carries(const struct rph_peer *p)
{
    const struct rph_remote *s = &p->remotes[0];
    return p->cfg.role == RPH_ROLE_CLIENT && p->state == RPH_STATE_CONNECTED && s->in_use &&
           s->up && !s->member;
}

/* A member whose idle time counts: direct, answering, our server there to take over. */
static bool member_may_rest(const struct rph_peer *p, const struct rph_remote *r)
{
    return r->member && r->up && !r->quiet && !r->via_server && !r->tx_unanswered &&
           server_carries(p);
}

static void member_path(struct rph_peer *p, struct rph_remote *r, bool via_server, int reason,
                        uint64_t now)
{
    if (r->via_server == via_server) return;
    r->via_server = via_server;
    r->path_ms = now;
    p->stats.path_changes++;
    trace(p, RPH_TRACE_PATH, r, &r->addr, NULL, reason);
    if (p->cb.on_path) p->cb.on_path(p->ctx, r, reason);
}

/* Idle RPH_MEMBER_IDLE_MS (peer.h): both sides come here on their own clock, from the same
 * data, so the pair rests on both ends at about the same moment. */
static void member_rest(struct rph_peer *p, struct rph_remote *r, uint64_t now)
{
    r->quiet = true;
    p->n_quiet++;
    p->stats.member_quiets++;
    r->next_hello_ms = UINT64_MAX;
    r->rx_unanswered = false; /* nothing owed: the last data was a minute ago */
    member_path(p, r, true, RPH_PATH_IDLE, now);
}

/* A quiet member wakes: its path is looked for as one that stopped answering, a handshake now
 * and every RPH_DIRECT_RETRY_MS until the other answers (the answer moves it direct again),
 * traffic through the server meanwhile. */
static void member_wake(struct rph_peer *p, struct rph_remote *r, uint64_t now)
{
    member_unquiet(p, r, now);
    r->tx_unanswered = true;
    r->tx_unanswered_ms = now >= RPH_RELAY_FALLBACK_MS ? now - RPH_RELAY_FALLBACK_MS : 0;
    r->next_direct_try_ms = now;
}

/* A member that is up: its path stopped answering, or it is looking for it again. */
static void member_tick(struct rph_peer *p, struct rph_remote *r, uint64_t now)
{
    if (!member_stale(r, now)) return;
    member_path(p, r, true, RPH_PATH_DIRECT_SILENT, now);
    if (now < r->next_direct_try_ms) return;
    /* A new handshake from either side: its answer, from wherever the other is now, proves
     * the path (the keys it makes answer the other's keepalives too). */
    send_hs(p, r, &r->addr, seal_start(p->seal, slot_of(p, r), now));
    r->next_direct_try_ms = now + RPH_DIRECT_RETRY_MS;
}

bool rph_peer_member_traffic(struct rph_peer *p, struct rph_remote *r, uint64_t now_ms)
{
    if (!r->in_use || !r->member || !r->quiet) return false;
    p->now_ms = now_ms;
    member_wake(p, r, now_ms);
    member_tick(p, r, now_ms);
    return true;
}

static uint64_t member_deadline(const struct rph_remote *r)
{
    if (!r->tx_unanswered) return UINT64_MAX;
    uint64_t stale = r->tx_unanswered_ms + RPH_RELAY_FALLBACK_MS;
    if (!r->via_server) return stale;
    return r->next_direct_try_ms > stale ? r->next_direct_try_ms : stale;
}

static struct rph_remote *alloc_member(struct rph_peer *p, uint64_t now)
{
    struct rph_remote *r = alloc_in(p, 1, p->n_slots, now);
    if (r) r->member = true;
    return r;
}

static bool member_key_ok(struct rph_peer *p, const uint8_t pk[32])
{
    uint8_t own[32];
    rph_peer_node_public(p, own);
    if (memcmp(own, pk, 32) == 0) return false;
    if (p->remotes[0].has_node_pk && memcmp(p->remotes[0].node_pk, pk, 32) == 0) return false;
    if (p->cfg.n_members == 0) return true;
    for (size_t i = 0; i < p->cfg.n_members; i++)
        if (memcmp(p->cfg.members[i], pk, 32) == 0) return true;
    return false;
}

/* The first packet toward a member just introduced: a handshake (the lower key) or a punch,
 * at once or after the wait of timed punches (both were introduced at the same moment, so the
 * nearer one to the server waits; round trips to the server stand for the holepuncher's). */
static void member_start(struct rph_peer *p, struct rph_remote *r, uint16_t other_rtt, uint64_t now)
{
    uint64_t own = p->remotes[0].rtt_ms;
    uint32_t d = rph_punch_delay_ms(own > UINT16_MAX ? UINT16_MAX : (uint32_t)own, other_rtt);
    r->punch_delay_ms = d;
    if (d) {
        p->stats.timed_punches++;
        trace(p, RPH_TRACE_PUNCH_TIMED, r, &r->addr, NULL, (int)d);
    }
    if (r->initiator) {
        r->next_hello_ms = UINT64_MAX; /* sealing resends the init; keepalives once up */
        r->hs_at_ms = d ? now + d : 0;
        if (!d) send_hs(p, r, &r->addr, seal_start(p->seal, slot_of(p, r), now));
    } else if (d) {
        r->next_hello_ms = now + d;
    } else {
        punch(p, r, now);
    }
}

struct rph_remote *rph_peer_introduce(struct rph_peer *p, const struct rph_intro *in,
                                      uint64_t now_ms, int *err)
{
    int e = 0;
    struct rph_remote *r = NULL;
    if (!p->cfg.sealed || p->cfg.role != RPH_ROLE_CLIENT || !p->cfg.mesh_max) {
        e = RPH_E_NOTSUP;
        goto out;
    }
    const struct rph_addr *ep = &in->endpoint;
    if ((ep->family != 4 && ep->family != 6) || ep->port == 0 || !member_key_ok(p, in->node_pk)) {
        e = RPH_E_INVALID;
        goto out;
    }
    p->now_ms = now_ms;
    for (size_t i = 1; i < p->n_slots && !r; i++)
        if (p->remotes[i].in_use && memcmp(p->remotes[i].node_pk, in->node_pk, 32) == 0)
            r = &p->remotes[i];
    if (r) {
        r->intro_addr = *ep;
        r->has_intro_addr = true;
        /* Known: the server hears it elsewhere now. Only while our own path to it does not
         * work does the endpoint follow (a working one moves only on authenticated packets). */
        if (rph_addr_equal(&r->addr, ep) || rph_remote_usable(r, now_ms)) goto out;
        trace(p, RPH_TRACE_MOVED, r, &r->addr, ep, 1);
        r->addr = *ep;
        if (!r->up) {
            r->punch_until_ms = now_ms + punch_window(p);
            member_start(p, r, in->rtt_ms, now_ms);
        } else {
            r->next_direct_try_ms = 0; /* a handshake there at the next tick */
        }
        goto out;
    }
    if (!(r = alloc_member(p, now_ms))) {
        e = RPH_E_FULL;
        goto out;
    }
    r->addr = *ep;
    r->intro_addr = *ep;
    r->has_intro_addr = true;
    memcpy(r->node_pk, in->node_pk, 32); /* expected; has_node_pk once a handshake proves it */
    uint8_t own[32];
    rph_peer_node_public(p, own);
    r->initiator = memcmp(own, in->node_pk, 32) < 0;
    seal_set_member(p->seal, slot_of(p, r), in->node_pk, r->initiator);
    member_start(p, r, in->rtt_ms, now_ms);
out:
    if (err) *err = e;
    return e ? NULL : r;
}

/* Sealed client: a plain punch from an endpoint that is none of our remotes. Its server's NAT
 * may be symmetric: its punch to us left from a port of its own, not the one the holepuncher
 * saw, and only that port lets us in. If it is our server's IP and no direct path works yet,
 * it becomes a candidate, probed at once. The punch itself proves nothing: only the
 * authenticated answer moves the server there. */
static bool punched_from(struct rph_peer *p, const struct rph_addr *from, uint64_t now)
{
    if (p->cfg.role != RPH_ROLE_CLIENT) return false;
    /* Its server (slot 0), or a mesh member whose NAT is symmetric the same way. */
    struct rph_remote *r = NULL;
    int added = -1;
    for (size_t i = 0; i < p->n_slots && added < 0; i++) {
        r = &p->remotes[i];
        if (!r->in_use || (r->direct_ok && !r->relayed && !member_stale(r, now))) continue;
        added = cand_add_punched(r, from, now);
    }
    if (added < 0) {
        /* No remote could take it: perhaps our server's, ahead of our PeerInfo. */
        size_t k = p->n_early;
        if (k < EARLY_PUNCHES) {
            p->n_early++;
        } else { /* full: the oldest goes */
            k = 0;
            for (size_t i = 1; i < EARLY_PUNCHES; i++)
                if (p->early[i].at_ms < p->early[k].at_ms) k = i;
        }
        p->early[k].from = *from;
        p->early[k].at_ms = now;
        return false;
    }
    p->stats.plain_ignored++;
    if (added) {
        p->stats.cand_added++;
        probe_candidates(p, r, now);
    }
    return true;
}

int rph_peer_set_lan_candidates(struct rph_peer *p, struct rph_remote *r, const struct rph_addr *a,
                                size_t n, uint64_t now_ms)
{
    if (!p->cfg.sealed) return RPH_E_NOTSUP;
    if (!r || !r->in_use) return RPH_E_INVALID;
    size_t refused = 0;
    enum rph_path_kind was = rph_remote_path_kind(r);
    size_t taken = cand_set_lan(r, a, n, now_ms, &refused);
    /* It moved to its LAN address before it said that was one: the kind changes now. */
    kind_changed(p, r, was, now_ms);
    p->stats.cand_added += taken;
    p->stats.cand_refused += refused;
    p->now_ms = now_ms;
    probe_candidates(p, r, now_ms);
    return (int)taken;
}

int rph_peer_set_v6_candidates(struct rph_peer *p, struct rph_remote *r, const struct rph_addr *a,
                               size_t n, uint64_t now_ms)
{
    if (!p->cfg.sealed) return RPH_E_NOTSUP;
    if (!r || !r->in_use) return RPH_E_INVALID;
    size_t refused = 0;
    size_t taken = cand_set_v6(r, a, n, now_ms, &refused);
    p->stats.cand_added += taken;
    p->stats.cand_refused += refused;
    p->now_ms = now_ms;
    probe_candidates(p, r, now_ms);
    return (int)taken;
}

int rph_peer_set_mapped_candidate(struct rph_peer *p, struct rph_remote *r,
                                  const struct rph_addr *a, uint64_t now_ms)
{
    if (!p->cfg.sealed) return RPH_E_NOTSUP;
    if (!r || !r->in_use) return RPH_E_INVALID;
    enum rph_path_kind was = rph_remote_path_kind(r);
    int taken = cand_set_mapped(r, a, now_ms);
    kind_changed(p, r, was, now_ms);
    if (taken < 0) {
        p->stats.cand_refused++;
        return taken;
    }
    p->stats.cand_added += (uint64_t)taken;
    p->now_ms = now_ms;
    probe_candidates(p, r, now_ms);
    return taken;
}

static int peer_input(struct rph_peer *p, uint8_t *buf, size_t len, const struct rph_addr *from,
                      uint64_t now_ms)
{
    struct rph_msg m;
    p->stats.received++;
    p->now_ms = now_ms;
    /* Type 22 is no message of the crate's: only a sealed peer with the relay on takes it, and
     * only from its holepuncher. */
    if (p->cfg.sealed && p->cfg.relay && rph_relay_is(buf, len) &&
        rph_addr_equal(from, &p->cfg.holepuncher))
        return relay_input(p, buf, len, now_ms);
    int r = rph_wire_decode(buf, len, &m);
    if (r < 0) {
        p->stats.malformed++;
        return r;
    }
    if (m.type == RPH_LOCAL_INTERRUPT && rph_addr_is_loopback(from)) return RPH_E_INTERRUPTED;
    /* Sealed messages authenticate themselves, whatever address they come from (roaming). */
    if (p->cfg.sealed &&
        (m.type == RPH_TRANSPORT || m.type == RPH_HANDSHAKE_INIT || m.type == RPH_HANDSHAKE_RESP ||
         m.type == RPH_HANDSHAKE_FINISH || m.type == RPH_COOKIE_REPLY))
        return sealed_input(p, &m, buf, from, false, now_ms);
    struct rph_remote *rem = rph_peer_find(p, from);
    if (!rem) {
        /* PeerInfo is believed only from the holepuncher we talk to (a fix over the crate). */
        if (rph_addr_equal(from, &p->cfg.holepuncher)) return from_holepuncher(p, &m, now_ms);
        if (p->cfg.sealed && m.type == RPH_HELLO_REQ && punched_from(p, from, now_ms)) return 0;
        p->stats.unknown_peer++;
        return RPH_E_UNKNOWN_PEER;
    }
    if (p->cfg.sealed) {
        /* Plain hellos are only punches here: they prove nothing and get no answer. But a
         * server's punch means its NAT is open now: a waiting init need not wait 400 ms. */
        if (m.type == RPH_HELLO_REQ && p->cfg.role == RPH_ROLE_CLIENT)
            send_hs(p, rem, &rem->addr, seal_punched(p->seal, slot_of(p, rem)));
        p->stats.plain_ignored++;
        return m.type == RPH_HELLO_REQ || m.type == RPH_HELLO_RESP ? 0 : RPH_E_UNEXPECTED;
    }
    switch (m.type) {
    case RPH_HELLO_REQ:
        remote_alive(p, rem, true, now_ms);
        send_hello(p, rem, RPH_HELLO_RESP);
        return 0;
    case RPH_HELLO_RESP:
        remote_alive(p, rem, true, now_ms);
        return 0;
    case RPH_DATA:
        remote_alive(p, rem, false, now_ms);
        deliver(p, rem, m.data, m.data_len, now_ms);
        return 0;
    default:
        p->stats.unexpected++;
        return RPH_E_UNEXPECTED;
    }
}

/* From a fresh port nothing goes straight to the server before the timed handshake (its Join
 * waits for the PeerInfo, then the handshake for its time): it would reach the server's router
 * before the server's punch leaves it, the race again. */
static bool fresh_port_holds(const struct rph_peer *p, const struct rph_remote *r)
{
    return r == &p->remotes[0] && !r->member &&
           (p->fp_join != FP_JOIN_NONE || (p->fp.tries > 0 && r->hs_at_ms));
}

static void sealed_tick(struct rph_peer *p, struct rph_remote *r, uint64_t now)
{
    if (r->hs_at_ms && now >= r->hs_at_ms) send_held_hs(p, r, now); /* its wait is over */
    struct seal_dgram d = seal_tick(p->seal, slot_of(p, r), r->up, now);
    /* A fresh port's first packet toward the server is its timed handshake (lost meanwhile). */
    if (!fresh_port_holds(p, r)) send_hs(p, r, &r->addr, d);
    if (r->member && r->up) member_tick(p, r, now);
    if ((p->cfg.role == RPH_ROLE_SERVER || (r->member && !r->initiator)) && !r->up) {
        if (now >= r->next_hello_ms) punch(p, r, now); /* opens our NAT toward the other */
    } else if (r->up && r->member) {
        if (r->quiet) return; /* resting: nothing to keep alive */
        /* Only the initiator keeps a member pair alive; the other answers each keepalive
         * (sealed_input), which refreshes its NAT too and wakes the initiator once for all
         * the answers to its batch. Any wake-up sends the member keepalives due soon: they
         * stay in step, one timer. */
        if (!r->initiator) {
            r->next_hello_ms = UINT64_MAX; /* its punches' timer: no deadline while up */
            return;
        }
        if (now + RPH_MEMBER_KEEPALIVE_SLACK_MS < r->next_hello_ms) return;
        if (seal_rekey_due(p->seal, slot_of(p, r), now))
            send_hs(p, r, &r->addr, seal_start(p->seal, slot_of(p, r), now));
        else
            send_keepalive(p, r);
        r->next_hello_ms = now + RPH_MEMBER_KEEPALIVE_MS;
    } else if (r->up && answers_keepalives(p, r)) {
        r->next_hello_ms = UINT64_MAX; /* the client keeps it alive; we answer (sealed_input) */
    } else if (r->up && now >= r->next_hello_ms) {
        send_keepalive(p, r);
        r->next_hello_ms = now + p->cfg.keepalive_ms;
    }
}

static void client_rejoin(struct rph_peer *p, uint64_t now)
{
    /* Only the server: sessions with mesh members go on without it (the mesh outlives it). */
    if (p->remotes[0].in_use) drop_remote(p, &p->remotes[0]);
    p->stats.rejoins++;
    p->probing = false; /* joining retries on its own schedule */
    p->started_ms = now;
    p->hp_pending = false;
    set_state(p, RPH_STATE_JOINING, 0);
    send_to_holepuncher(p, now);
}

void rph_peer_rejoin(struct rph_peer *p, uint64_t now_ms)
{
    if (p->cfg.role == RPH_ROLE_CLIENT && p->state != RPH_STATE_FAILED) client_rejoin(p, now_ms);
}

bool rph_peer_note_sent(struct rph_peer *p, struct rph_remote *r, uint64_t now_ms)
{
    /* both roles act on it (a client probes, a server registers again) */
    if (!r->in_use) return false; /* dropped while its datagrams waited in a train */
    r->rx_unanswered = false;
    r->data_ms = now_ms;
    if (r->member && r->up && seal_rekey_due(p->seal, slot_of(p, r), now_ms)) {
        /* A member's lazy rekey: data flows again past rekey_ms (or wore the keys out). */
        p->now_ms = now_ms;
        send_hs(p, r, &r->addr, seal_start(p->seal, slot_of(p, r), now_ms));
        if (!r->tx_unanswered) {
            r->tx_unanswered = true;
            r->tx_unanswered_ms = now_ms;
        }
        return true;
    }
    if (r->tx_unanswered) return false;
    r->tx_unanswered = true;
    r->tx_unanswered_ms = now_ms;
    return true;
}

void rph_peer_remove(struct rph_peer *p, struct rph_remote *r, uint64_t now_ms)
{
    if (!r || !r->in_use) return;
    p->stats.removed++;
    bool member = r->member;
    drop_remote(p, r);
    if (p->cfg.role == RPH_ROLE_CLIENT && !member && p->state != RPH_STATE_FAILED)
        client_rejoin(p, now_ms);
}

/* A probe's Join: every RPH_PROBE_JOIN_MS inside the handshake window, then every
 * RPH_WAIT_JOIN_MS while the holepuncher answers, backing off to the keepalive when it does
 * not either (a dead holepuncher). */
static void probe_join(struct rph_peer *p, uint64_t now)
{
    send_request(p, now);
    uint32_t step = RPH_PROBE_JOIN_MS;
    if (now - p->probe_since_ms >= HANDSHAKE_WINDOW_MS) {
        uint32_t cap = p->cfg.keepalive_ms > step ? p->cfg.keepalive_ms : step;
        p->probe_backoff_ms = p->probe_backoff_ms * 2 > cap ? cap : p->probe_backoff_ms * 2;
        cap_client_wait(p, &p->probe_backoff_ms, now);
        step = p->probe_backoff_ms;
    }
    p->next_probe_ms = now + step;
}

/* The server went quiet (or a new endpoint does not answer): ask it for fresh keys where it
 * was (a restarted server on the same port answers a handshake, never our old keys) and ask
 * the holepuncher where it is now. The current keys stay until new ones exist. */
static void start_probe(struct rph_peer *p, struct rph_remote *r, uint64_t now)
{
    p->probing = true;
    p->probe_since_ms = now;
    p->probe_backoff_ms = RPH_PROBE_JOIN_MS;
    p->stats.probes++;
    trace(p, RPH_TRACE_PROBE, r, &r->addr, NULL, r->up);
    if (r->up) {
        if (p->seal) {
            send_hs(p, r, &r->addr, seal_start(p->seal, slot_of(p, r), now));
        } else {
            send_hello(p, r, RPH_HELLO_REQ);
        }
    }
    probe_join(p, now);
}

/* When a client's probe of r is due; UINT64_MAX for none. */
static uint64_t probe_due(const struct rph_peer *p, const struct rph_remote *r)
{
    if (p->cfg.role != RPH_ROLE_CLIENT || p->probing || r->member) return UINT64_MAX;
    if (r->up) return r->tx_unanswered ? r->tx_unanswered_ms + RPH_PROBE_AFTER_MS : UINT64_MAX;
    return p->state == RPH_STATE_PUNCHING ? r->added_ms + RPH_PROBE_AFTER_MS : UINT64_MAX;
}

/* Data keeps arriving and we sent nothing back: one keepalive, so the sender does not take
 * one-way traffic for a dead peer. */
static void passive_keepalive(struct rph_peer *p, struct rph_remote *r)
{
    p->stats.passive_keepalives++;
    if (p->seal)
        send_keepalive(p, r);
    else
        send_hello(p, r, RPH_HELLO_REQ);
    r->rx_unanswered = false;
}

/* Server: when its NAT gives it a new port (a rebinding, a router's restart), only the
 * holepuncher sees that, and a client that lost us asks the holepuncher (its probe). So a client
 * sending data that goes silent, or data to it that goes unanswered, for RPH_PROBE_AFTER_MS makes
 * us register again at once (retried until acknowledged). Once per silence: a Register sent since
 * it was due covers it; at most one every RPH_PROBE_JOIN_MS. UINT64_MAX: none due. */
static uint64_t reregister_due(const struct rph_peer *p, const struct rph_remote *r)
{
    if (p->cfg.role != RPH_ROLE_SERVER || !r->up) return UINT64_MAX;
    uint64_t due = UINT64_MAX;
    if (r->data_rx_ms && r->last_rx_ms - r->data_rx_ms < RPH_PROBE_AFTER_MS)
        due = r->last_rx_ms + RPH_PROBE_AFTER_MS;
    if (r->tx_unanswered && r->tx_unanswered_ms + RPH_PROBE_AFTER_MS < due)
        due = r->tx_unanswered_ms + RPH_PROBE_AFTER_MS;
    if (due == UINT64_MAX || p->hp_sent_ms >= due) return UINT64_MAX;
    uint64_t paced = p->hp_sent_ms + RPH_PROBE_JOIN_MS;
    return paced > due ? paced : due;
}

static void reregister(struct rph_peer *p, struct rph_remote *r, uint64_t now)
{
    p->stats.reregisters++;
    trace(p, RPH_TRACE_PROBE, r, &r->addr, NULL, 2);
    send_to_holepuncher(p, now);
}

static bool handshaking(const struct rph_peer *p)
{
    return p->state == RPH_STATE_REGISTERING || p->state == RPH_STATE_JOINING ||
           p->state == RPH_STATE_PUNCHING;
}

/* Relay on: the path of r follows what works (docs/PROTOCOL.md "Relay"). */
static void relay_tick(struct rph_peer *p, struct rph_remote *r, uint64_t now)
{
    if (!r->relayed && relay_possible(p, r)) {
        if (!r->direct_ok && now >= r->added_ms + RPH_RELAY_AFTER_MS)
            set_path(p, r, true, RPH_PATH_NO_DIRECT, now);
        else if (r->up && r->tx_unanswered && now >= r->tx_unanswered_ms + RPH_RELAY_FALLBACK_MS)
            set_path(p, r, true, RPH_PATH_DIRECT_SILENT, now);
    }
    if (r->relayed && r->up && now >= r->next_direct_try_ms && !fresh_port_holds(p, r)) {
        send_direct_try(p, r);
        r->next_direct_try_ms = now + RPH_DIRECT_RETRY_MS;
    }
}

static uint64_t relay_deadline(const struct rph_peer *p, const struct rph_remote *r)
{
    if (!p->cfg.relay || !p->cfg.sealed) return UINT64_MAX;
    if (r->relayed) return r->up ? r->next_direct_try_ms : UINT64_MAX;
    if (!relay_possible(p, r)) return UINT64_MAX;
    if (!r->direct_ok) return r->added_ms + RPH_RELAY_AFTER_MS;
    if (r->up && r->tx_unanswered) return r->tx_unanswered_ms + RPH_RELAY_FALLBACK_MS;
    return UINT64_MAX;
}

/* A client with the relay on joins again every RPH_RELAY_JOIN_MS: the relay keeps it a member
 * (session_ttl), and the SealedPeerInfo makes its server punch again. */
static bool relay_join_due(const struct rph_peer *p)
{
    return p->cfg.relay && p->cfg.sealed && p->cfg.role == RPH_ROLE_CLIENT && !p->probing &&
           (p->state == RPH_STATE_PUNCHING || p->state == RPH_STATE_CONNECTED);
}

/* Fresh-port retries (docs/PROTOCOL.md "Fresh-port retries"): only a sealed client (its
 * datagrams authenticate from any endpoint) whose caller can open a new socket. */
static bool fresh_port_on(const struct rph_peer *p)
{
    return p->cb.fresh_port && p->cfg.sealed && p->cfg.role == RPH_ROLE_CLIENT;
}

/* The direct path to the server failed: from a new local port, a Join (the holepuncher then
 * has the server punch our new endpoint, timed again) and, at its PeerInfo, a handshake. */
static void fresh_port_try(struct rph_peer *p, uint64_t now)
{
    unsigned k = fresh_port_take(&p->fp, now);
    p->stats.fresh_port_retries++;
    int e = p->cb.fresh_port(p->ctx, k);
    trace(p, RPH_TRACE_FRESH_PORT, p->remotes[0].in_use ? &p->remotes[0] : NULL, &p->fp.server,
          NULL, e < 0 ? e : (int)k);
    if (e < 0) return;
    /* Holepuncherd's cookie is for our old endpoint: the new one gets its own. Until it accepts
     * a Join from there, its relay knows us at the old one (rph_peer_relay_old_port). */
    p->has_hp_cookie = false;
    p->relay_old_port = p->has_relay_cookie;
    if (p->state == RPH_STATE_JOINING) {
        p->hp_pending = false; /* a new attempt: the retries start over */
        send_to_holepuncher(p, now);
        return;
    }
    p->fp_join = FP_JOIN_COOKIE;
    p->fp_join_since_ms = now;
    p->fp_next_join_ms = now + p->cfg.retry_ms;
    send_request(p, now);
}

/* The PeerInfo answering a fresh port's Join: the server punches our new endpoint now, and our
 * handshake from there (a rekey while the tunnel is up through the relay) opens our NAT toward
 * it, held as a first packet is (timed punches). A PeerInfo naming another endpoint is the
 * probe's (probe_answer). */
static void fresh_port_answer(struct rph_peer *p, const struct rph_addr *peer, uint16_t other_rtt,
                              uint64_t now)
{
    p->fp_join = FP_JOIN_NONE;
    struct rph_remote *r = &p->remotes[0];
    if (!r->in_use || r->member || !rph_addr_equal(&r->addr, peer)) return;
    if (!r->up) r->punch_until_ms = now + punch_window(p);
    r->next_direct_try_ms = now + RPH_DIRECT_RETRY_MS;
    uint32_t d = rph_punch_delay_role_ms(p->stats.hp_rtt_ms, other_rtt, RPH_ROLE_CLIENT);
    r->punch_delay_ms = d;
    if (d) {
        p->stats.timed_punches++;
        trace(p, RPH_TRACE_PUNCH_TIMED, r, &r->addr, NULL, (int)d);
        r->hs_at_ms = now + d; /* sealed_tick sends it then */
    } else {
        send_hs(p, r, &r->addr, seal_start(p->seal, slot_of(p, r), now));
    }
}

static void fresh_port_tick(struct rph_peer *p, uint64_t now)
{
    struct rph_remote *r = &p->remotes[0];
    bool have = r->in_use && !r->member;
    if (have && r->up && !r->relayed) p->fp_unanswered = false;
    bool failed = (have && r->up && r->relayed) || p->fp_unanswered;
    const struct rph_addr *server = have ? &r->addr : p->fp.has_server ? &p->fp.server : NULL;
    fresh_port_observe(&p->fp, server, failed, now);
    if (now >= fresh_port_due(&p->fp)) {
        fresh_port_try(p, now);
    } else if (p->fp_join && now >= p->fp_next_join_ms) {
        /* The holepuncher silent for a handshake window: the relay's Joins and the probe go on
         * as before. */
        if (now - p->fp_join_since_ms >= HANDSHAKE_WINDOW_MS) {
            p->fp_join = FP_JOIN_NONE;
        } else {
            send_request(p, now);
            p->fp_next_join_ms = now + p->cfg.retry_ms;
        }
    }
}

static uint64_t fresh_port_deadline(const struct rph_peer *p)
{
    if (!fresh_port_on(p)) return UINT64_MAX;
    uint64_t d = fresh_port_due(&p->fp);
    return p->fp_join && p->fp_next_join_ms < d ? p->fp_next_join_ms : d;
}

void rph_peer_tick(struct rph_peer *p, uint64_t now)
{
    if (p->state == RPH_STATE_FAILED) return;
    p->now_ms = now;
    if (relay_join_due(p) && now >= p->next_relay_join_ms) {
        send_request(p, now);
        p->next_relay_join_ms = now + RPH_RELAY_JOIN_MS;
    }
    if (handshaking(p) && p->cfg.handshake_timeout_ms &&
        now - p->started_ms >= p->cfg.handshake_timeout_ms) {
        set_state(p, RPH_STATE_FAILED, RPH_E_TIMEOUT);
        return;
    }
    /* A server keeps registering (keepalive); a client talks to the holepuncher only to join. */
    bool hp_due = p->cfg.role == RPH_ROLE_SERVER || p->state == RPH_STATE_JOINING;
    if (hp_due && now >= p->next_hp_ms) send_to_holepuncher(p, now);
    if (p->probing && p->state != RPH_STATE_JOINING && now >= p->next_probe_ms) probe_join(p, now);
    if (p->seal) seal_expire_pending(p->seal, now);

    bool client = p->cfg.role == RPH_ROLE_CLIENT;
    for (size_t i = 0; i < p->n_slots; i++) {
        struct rph_remote *r = &p->remotes[i];
        if (!r->in_use) continue;
        if (!r->up && now >= r->punch_until_ms) {
            bool member = r->member;
            drop_remote(p, r);
            /* The server never answered our punches: ask the holepuncher again. (A member
             * that never answered waits for its server to introduce it again.) */
            if (client && !member) {
                p->fp_unanswered = true;
                client_rejoin(p, now);
            }
            continue;
        }
        if (p->cfg.sealed && member_may_rest(p, r) && now >= r->data_ms + RPH_MEMBER_IDLE_MS)
            member_rest(p, r, now);
        if (r->up && now >= silence_deadline(p, r)) {
            bool member = r->member;
            drop_remote(p, r);
            if (client && !member) client_rejoin(p, now);
            continue;
        }
        if (p->cfg.relay && p->cfg.sealed) relay_tick(p, r, now);
        if (p->cfg.sealed) probe_candidates(p, r, now);
        if (now >= probe_due(p, r)) start_probe(p, r, now);
        if (now >= reregister_due(p, r)) reregister(p, r, now);
        if (r->up && r->rx_unanswered && now >= r->rx_unanswered_ms + RPH_PASSIVE_KEEPALIVE_MS)
            passive_keepalive(p, r);
        if (p->cfg.sealed)
            sealed_tick(p, r, now);
        else if (now >= r->next_hello_ms)
            punch(p, r, now);
    }
    /* Our server went away (or is joining again): the direct paths are the only ones now. */
    if (p->n_quiet && !server_carries(p))
        for (size_t i = 0; i < p->n_slots; i++)
            if (p->remotes[i].in_use && p->remotes[i].quiet) {
                member_wake(p, &p->remotes[i], now);
                member_tick(p, &p->remotes[i], now);
            }
    if (fresh_port_on(p)) fresh_port_tick(p, now);
}

uint64_t rph_peer_next_deadline(const struct rph_peer *p)
{
    if (p->state == RPH_STATE_FAILED) return UINT64_MAX;
    uint64_t d = UINT64_MAX;
#define MIN_D(x)                                                                                   \
    do {                                                                                           \
        uint64_t v_ = (x);                                                                         \
        if (v_ < d) d = v_;                                                                        \
    } while (0)
    if (handshaking(p) && p->cfg.handshake_timeout_ms)
        MIN_D(p->started_ms + p->cfg.handshake_timeout_ms);
    if (p->cfg.role == RPH_ROLE_SERVER || p->state == RPH_STATE_JOINING) MIN_D(p->next_hp_ms);
    if (p->probing && p->state != RPH_STATE_JOINING) MIN_D(p->next_probe_ms);
    for (size_t i = 0; i < p->n_slots; i++) {
        const struct rph_remote *r = &p->remotes[i];
        if (!r->in_use) continue;
        MIN_D(r->up ? silence_deadline(p, r) : r->punch_until_ms);
        if (p->cfg.sealed && member_may_rest(p, r)) MIN_D(r->data_ms + RPH_MEMBER_IDLE_MS);
        MIN_D(r->next_hello_ms);
        MIN_D(probe_due(p, r));
        MIN_D(reregister_due(p, r));
        if (r->up && r->rx_unanswered) MIN_D(r->rx_unanswered_ms + RPH_PASSIVE_KEEPALIVE_MS);
        if (p->seal) MIN_D(seal_deadline(p->seal, slot_of(p, r), r->up));
        MIN_D(relay_deadline(p, r));
        if (p->seal) MIN_D(cand_deadline(r));
        if (r->hs_at_ms) MIN_D(r->hs_at_ms);
        if (r->member && r->up) MIN_D(member_deadline(r));
    }
    if (p->n_quiet && !server_carries(p)) MIN_D(p->now_ms); /* wake them (rph_peer_tick) */
    if (relay_join_due(p)) MIN_D(p->next_relay_join_ms);
    MIN_D(fresh_port_deadline(p));
    if (p->seal) MIN_D(seal_pending_deadline(p->seal, punch_window(p)));
#undef MIN_D
    return d;
}

int rph_peer_frame(struct rph_peer *p, struct rph_remote *r, uint8_t *buf, size_t payload_len,
                   uint8_t **dgram)
{
    if (p->cfg.sealed) return seal_frame(p->seal, slot_of(p, r), buf, payload_len, dgram);
    uint8_t *h = buf + RPH_FRAME_HEADROOM - RPH_HEADER_LEN;
    int n = rph_wire_put_data_header(h, payload_len);
    if (n < 0) return n;
    *dgram = h;
    return n;
}

void rph_peer_frame_overhead(const struct rph_peer *p, size_t *head, size_t *tail)
{
    *head = p->cfg.sealed ? RPH_TRANSPORT_HEADER_LEN : RPH_HEADER_LEN;
    *tail = p->cfg.sealed ? RPH_TAG_LEN : 0;
}

int rph_peer_send_data(struct rph_peer *p, const struct rph_addr *to, const void *data, size_t len)
{
    if (len > RPH_DATA_MAX) return RPH_E_TOOBIG;
    struct rph_remote *r = rph_peer_find(p, to);
    if (!r && p->cfg.sealed) return RPH_E_UNKNOWN_PEER;
    memcpy(p->txbuf + RPH_FRAME_HEADROOM, data, len);
    uint8_t *d;
    int n;
    if (r) {
        n = rph_peer_frame(p, r, p->txbuf, len, &d);
    } else {
        /* Plaintext, as the crate: Data may go to any address the caller names. */
        d = p->txbuf + RPH_FRAME_HEADROOM - RPH_HEADER_LEN;
        n = rph_wire_put_data_header(d, len);
    }
    if (n < 0) return n;
    if (r) {
        r->rx_unanswered = false;
        send_path(p, r, d, (size_t)n);
    } else {
        send_raw(p, to, d, (size_t)n);
    }
    return 0;
}

enum rph_peer_state rph_peer_state(const struct rph_peer *p)
{
    return p->state;
}

const char *rph_state_name(enum rph_peer_state s)
{
    switch (s) {
    case RPH_STATE_REGISTERING:
        return "registering";
    case RPH_STATE_REGISTERED:
        return "registered";
    case RPH_STATE_JOINING:
        return "joining";
    case RPH_STATE_PUNCHING:
        return "punching";
    case RPH_STATE_CONNECTED:
        return "connected";
    case RPH_STATE_FAILED:
        return "failed";
    }
    return "?";
}

const char *rph_peer_holepuncher_status(const struct rph_peer *p, uint64_t now_ms)
{
    if (p->cfg.role == RPH_ROLE_CLIENT) return p->state == RPH_STATE_JOINING ? "joining" : "joined";
    if (p->hp_refused) return "refused";
    if (p->state == RPH_STATE_REGISTERING) return "registering";
    if (p->hp_pending && now_ms - p->hp_pending_since_ms > 2u * p->cfg.retry_ms)
        return "unreachable";
    return "registered";
}

int rph_peer_last_error(const struct rph_peer *p)
{
    return p->last_err;
}

bool rph_peer_refused_by(const struct rph_peer *p, struct rph_addr *holder)
{
    if (p->hp_refused && holder) *holder = p->hp_holder;
    return p->hp_refused;
}

enum rph_role rph_peer_role(const struct rph_peer *p)
{
    return p->cfg.role;
}

const struct rph_peer_config *rph_peer_config(const struct rph_peer *p)
{
    return &p->cfg;
}

void rph_peer_node_public(const struct rph_peer *p, uint8_t out[32])
{
    /* Zeroes without libsodium, where no sealed peer exists to have a node key. */
    if (rph_noise_public_key(out, p->cfg.node_sk) < 0) memset(out, 0, 32);
}

const struct rph_peer_stats *rph_peer_stats(const struct rph_peer *p)
{
    return &p->stats;
}

uint64_t rph_peer_holepuncher_last_ms(const struct rph_peer *p)
{
    return p->hp_last_ms;
}

struct rph_remote *rph_peer_remotes(struct rph_peer *p, size_t *count)
{
    *count = p->n_slots;
    return p->remotes;
}
