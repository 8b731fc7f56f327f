// SPDX-License-Identifier: MIT
// Fuzzes the holepuncher state machine with datagrams from a few sources as time passes.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ruphin/error.h"
#include "ruphin/holepuncher.h"
#include "ruphin/seal.h"
#include "ruphin/store.h"
#include "ruphin/wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW0 1000000ull
#define WALL0 1764000000000ull
#define MAX_OPS 256
#define MAX_REPLIES 8
#define MAX_SHADOW 512
#define HISTORY 16
#define MAX_ANSWERED 128
/* The largest answer to a sender: a RegisterAck echoing a 20-byte session ID. */
/* The larger of RegisterAck and an IPv6 TimedPeerInfo. */
#define REPLY_MAX (RPH_PEERINFO6_LEN + RPH_RTT_LEN)
/* The largest datagram at all: a SealedPeerInfo (IPv6 client) to a session's server. */
#define SENT_MAX RPH_HP_TX_MAX

static struct rph_addr sources[8];
static struct rph_seal_keys seal_keys[2];
static struct rph_session sessions[8];       /* names the templates use, sealed IDs included */
static uint8_t node_ids[4][RPH_NODE_ID_LEN]; /* 1..3: the nodes op_sealed's Registers name */

struct reply {
    struct rph_addr to;
    uint8_t buf[SENT_MAX];
    size_t len;
};

/* What the store must hold, learned from the holepuncher's own events. */
struct shadow {
    struct rph_session id;
    struct rph_addr server;
    bool sealed;
    bool has_node; /* sealed: the Register named a node; node: its ID's first 2 bytes */
    uint16_t node;
    uint64_t refreshed_ms;
};

struct run {
    struct rph_holepuncher *hp;
    uint64_t now;
    uint32_t ttl_ms;
    size_t max_sessions_ever;
    struct reply replies[MAX_REPLIES];
    size_t n_replies;
    struct shadow shadow[MAX_SHADOW];
    size_t n_shadow;
    /* the datagram being handled */
    struct rph_msg cur;
    bool cur_decoded;
    bool cur_genuine;                 /* a SealedRegister/Join whose signature verifies */
    struct rph_session cur_sealed_id; /* ... and the session it proves */
    /* datagrams for replays */
    uint8_t hist[HISTORY][RPH_OWNER_NODE_COOKIE_LEN];
    size_t hist_len[HISTORY];
    size_t n_hist;
    uint64_t answered[MAX_ANSWERED]; /* genuine SealedJoins that got an answer */
    size_t n_answered;
    /* proofs op_sealed signed: known genuine without a second (slow) verification */
    uint64_t signed_hash[MAX_OPS];
    int signed_key[MAX_OPS];
    size_t n_signed;
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_rng_install();
    static const char *const srcs[8] = {
        "198.51.100.1:40000", "198.51.100.2:40001", "198.51.100.1:40009", "[2001:db8::1]:7700",
        "[2001:db8::2]:7701", "127.0.0.1:5555",     "[::1]:5555",         "203.0.113.7:1"};
    for (int i = 0; i < 8; i++)
        FZ_CHECK(rph_addr_parse(srcs[i], &sources[i]) == 0);
    static const char *const names[6] = {"office", "home", "", "01234567890123456789", "a", "b"};
    for (int i = 0; i < 6; i++)
        rph_session_set(&sessions[i], names[i], strlen(names[i]));
    if (rph_seal_available()) {
        static const uint8_t k[2][RPH_KEY_LEN] = {{1, 2, 3}, {9, 8, 7}};
        for (int i = 0; i < 2; i++) {
            FZ_CHECK(rph_seal_derive(&seal_keys[i], k[i], "office", 6) == 0);
            sessions[6 + i] = seal_keys[i].wire_session;
        }
    } else {
        rph_session_set(&sessions[6], "c", 1);
        rph_session_set(&sessions[7], "d", 1);
    }
    for (int i = 1; i < 4; i++) {
        uint8_t pk[32] = {(uint8_t)i};
        rph_node_id(pk, node_ids[i]);
    }
    return 0;
}

static uint64_t expiry_s(const struct run *r, uint64_t refreshed_ms)
{
    return (refreshed_ms + r->ttl_ms + 999) / 1000; /* the store rounds up to seconds */
}

static bool shadow_live(const struct run *r, const struct shadow *s)
{
    return r->now / 1000 < expiry_s(r, s->refreshed_ms);
}

static struct shadow *shadow_find(struct run *r, const struct rph_session *id)
{
    for (size_t i = 0; i < r->n_shadow; i++)
        if (rph_session_equal(&r->shadow[i].id, id)) return &r->shadow[i];
    return NULL;
}

static void on_send(void *ctx, const struct rph_addr *to, const uint8_t *buf, size_t len)
{
    struct run *r = ctx;
    FZ_CHECK(to != NULL);
    FZ_CHECK(len >= RPH_HEADER_LEN && len <= SENT_MAX);
    FZ_CHECK(r->n_replies < MAX_REPLIES);
    struct reply *rp = &r->replies[r->n_replies++];
    rp->to = *to;
    memcpy(rp->buf, buf, len);
    rp->len = len;
}

/* What the store keeps of the current request's node ID. */
static uint16_t cur_node(const struct run *r)
{
    return (uint16_t)(r->cur.owner.node[0] << 8 | r->cur.owner.node[1]);
}

static void on_event(void *ctx, const struct rph_hp_event *ev)
{
    struct run *r = ctx;
    switch (ev->type) {
    case RPH_HP_REFUSED:
        if (ev->err != RPH_E_HELD) break;
        {
            /* One live server per sealed session: refused only for a live sealed session
             * whose server is another node at another endpoint. */
            FZ_CHECK(ev->session && ev->from && ev->server && r->cur_decoded && r->cur_genuine);
            FZ_CHECK(r->cur.type == RPH_SEALED_REGISTER && r->cur.owner.has_node);
            struct shadow *s = shadow_find(r, ev->session);
            FZ_CHECK(s && s->sealed && shadow_live(r, s) && s->has_node);
            FZ_CHECK(s->node != cur_node(r));
            FZ_CHECK(rph_addr_equal(&s->server, ev->server));
            FZ_CHECK(!rph_addr_equal(&s->server, ev->from));
        }
        break;
    case RPH_HP_REGISTERED:
    case RPH_HP_REFRESHED:
    case RPH_HP_MOVED: {
        FZ_CHECK(ev->session && ev->from && r->cur_decoded);
        bool sealed_msg = r->cur.type == RPH_SEALED_REGISTER;
        FZ_CHECK(sealed_msg || r->cur.type == RPH_REGISTER);
        if (sealed_msg)
            FZ_CHECK(r->cur_genuine && rph_session_equal(ev->session, &r->cur_sealed_id));
        struct shadow *s = shadow_find(r, ev->session);
        /* Only the key holder touches a live sealed session: no takeover, no refresh. */
        if (s && s->sealed && shadow_live(r, s)) FZ_CHECK(sealed_msg);
        if (ev->type == RPH_HP_MOVED) FZ_CHECK(s && !rph_addr_equal(&s->server, ev->from));
        /* A live sealed session moves only to its own node, or from or to an unknown one. */
        if (ev->type == RPH_HP_MOVED && s->sealed && shadow_live(r, s) && s->has_node &&
            sealed_msg && r->cur.owner.has_node)
            FZ_CHECK(s->node == cur_node(r));
        if (!s) {
            /* Room: live sessions are at most max_sessions (240), so a dead one is free. */
            if (r->n_shadow < MAX_SHADOW) {
                s = &r->shadow[r->n_shadow++];
            } else {
                for (size_t i = 0; i < MAX_SHADOW && !s; i++)
                    if (!shadow_live(r, &r->shadow[i])) s = &r->shadow[i];
                FZ_CHECK(s != NULL);
            }
            s->id = *ev->session;
        }
        s->server = *ev->from;
        s->sealed = sealed_msg;
        s->has_node = sealed_msg && r->cur.owner.has_node;
        s->node = s->has_node ? cur_node(r) : 0;
        s->refreshed_ms = r->now;
        break;
    }
    case RPH_HP_EXPIRED: {
        FZ_CHECK(ev->session && ev->server);
        struct shadow *s = shadow_find(r, ev->session);
        /* Nothing but time removes a session. */
        if (s) FZ_CHECK(!shadow_live(r, s));
        break;
    }
    case RPH_HP_JOINED: {
        FZ_CHECK(ev->session && ev->from && ev->server && r->cur_decoded);
        FZ_CHECK(r->cur.type == RPH_JOIN || r->cur.type == RPH_SEALED_JOIN);
        struct shadow *s = shadow_find(r, ev->session);
        if (s && shadow_live(r, s)) {
            FZ_CHECK(rph_addr_equal(&s->server, ev->server));
            /* A plaintext Join learns nothing of a sealed session, and the reverse. */
            FZ_CHECK(s->sealed == (r->cur.type == RPH_SEALED_JOIN));
        }
        if (r->cur.type == RPH_SEALED_JOIN) FZ_CHECK(r->cur_genuine);
        break;
    }
    default:
        break;
    }
}

/* Each answer is small, well-formed and goes where the protocol says. */
static void check_replies(struct run *r, const uint8_t *req, size_t req_len, int rc,
                          const struct rph_addr *from)
{
    if (rc != 0) FZ_CHECK(r->n_replies == 0);
    FZ_CHECK(r->n_replies <= 2);
    for (size_t i = 0; i < r->n_replies; i++) {
        struct reply *rp = &r->replies[i];
        struct rph_msg m;
        FZ_CHECK(rph_wire_decode(rp->buf, rp->len, &m) == 0);
        if (m.type == RPH_HP_COOKIE) {
            /* The only answer to a sealed request without a valid cookie: smaller than it,
             * to its sender, echoing its signature, and alone. */
            FZ_CHECK(r->cur.type == RPH_SEALED_REGISTER || r->cur.type == RPH_SEALED_JOIN);
            FZ_CHECK(r->n_replies == 1 && rph_addr_equal(&rp->to, from));
            FZ_CHECK(rp->len == RPH_HP_COOKIE_LEN && rp->len < req_len);
            size_t sig = r->cur.owner.has_node ? 44 + RPH_NODE_ID_LEN : 44;
            FZ_CHECK(memcmp(m.hpc.echo, req + sig, RPH_COOKIE_ECHO_LEN) == 0);
            continue;
        }
        if (m.type == RPH_REGISTER_REFUSED) {
            /* Only to a genuine node-naming Register that passed the cookie check: smaller
             * than it, to its sender, alone, echoing its signature, naming the holder. */
            FZ_CHECK(r->cur.type == RPH_SEALED_REGISTER && r->cur_genuine);
            FZ_CHECK(r->cur.owner.has_cookie && r->cur.owner.has_node);
            FZ_CHECK(r->n_replies == 1 && rph_addr_equal(&rp->to, from));
            FZ_CHECK(rp->len == RPH_REGISTER_REFUSED_LEN && rp->len < req_len);
            FZ_CHECK(memcmp(m.hpc.echo, req + 44 + RPH_NODE_ID_LEN, RPH_COOKIE_ECHO_LEN) == 0);
            FZ_CHECK(rph_session_equal(&m.session, &r->cur_sealed_id));
            struct shadow *s = shadow_find(r, &m.session);
            FZ_CHECK(s && rph_addr_equal(&m.peer, &s->server));
            continue;
        }
        FZ_CHECK(m.type == RPH_REGISTER_ACK || m.type == RPH_SESSION_NOT_FOUND ||
                 m.type == RPH_PEER_INFO || m.type == RPH_HELLO_RESP ||
                 m.type == RPH_SEALED_PEER_INFO || m.type == RPH_TIMED_PEER_INFO);
        bool to_server = m.type == RPH_SEALED_PEER_INFO ||
                         (m.type == RPH_PEER_INFO && i == 1); /* a Join's second answer */
        if (!to_server) {
            FZ_CHECK(rph_addr_equal(&rp->to, from));
            /* The amplification bound of docs/PROTOCOL.md. */
            FZ_CHECK(rp->len <= REPLY_MAX &&
                     rp->len <= (req_len > REPLY_MAX ? req_len : REPLY_MAX));
        } else {
            /* The only datagram to a third party: the session's server learns of a client,
             * and in sealed mode gets the client's signed Join as it came. */
            FZ_CHECK(rph_addr_equal(&m.peer, from));
            if (r->cur.type == RPH_SEALED_JOIN) {
                /* The Join as signed: without the cookie, its length field 108. */
                FZ_CHECK(m.type == RPH_SEALED_PEER_INFO && m.data_len == RPH_OWNER_LEN);
                FZ_CHECK(r->cur.owner.has_cookie &&
                         req_len == RPH_OWNER_COOKIE_LEN + (r->cur.has_rtt ? RPH_RTT_LEN : 0));
                FZ_CHECK(m.data[0] == 0 && m.data[1] == RPH_OWNER_LEN);
                FZ_CHECK(memcmp(m.data + 2, req + 2, RPH_OWNER_LEN - 2) == 0);
            } else {
                FZ_CHECK(r->cur.type == RPH_JOIN && m.type == RPH_PEER_INFO);
            }
        }
        switch (r->cur.type) {
        case RPH_REGISTER:
        case RPH_JOIN:
            if (m.type != RPH_PEER_INFO) {
                FZ_CHECK(rph_session_equal(&m.session, &r->cur.session));
                FZ_CHECK(rp->len == req_len);
            }
            break;
        case RPH_SEALED_REGISTER:
        case RPH_SEALED_JOIN:
            /* Acted on only with a cookie, and only when genuine. */
            FZ_CHECK(r->cur_genuine && r->cur.owner.has_cookie);
            if (m.type == RPH_REGISTER_ACK || m.type == RPH_SESSION_NOT_FOUND)
                FZ_CHECK(rph_session_equal(&m.session, &r->cur_sealed_id));
            break;
        case RPH_HELLO_REQ:
            FZ_CHECK(m.type == RPH_HELLO_RESP);
            break;
        default:
            FZ_CHECK(false);
        }
    }
}

static void input(struct run *r, const uint8_t *buf, size_t len, const struct rph_addr *from)
{
    uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees any overread */
    FZ_CHECK(copy != NULL);
    memcpy(copy, buf, len);
    r->cur_decoded = rph_wire_decode(copy, len, &r->cur) == 0;
    r->cur_genuine = false;
    if (r->cur_decoded && (r->cur.type == RPH_SEALED_REGISTER || r->cur.type == RPH_SEALED_JOIN) &&
        rph_seal_available()) {
        uint64_t h = fz_hash(copy, len);
        for (size_t i = 0; i < r->n_signed && !r->cur_genuine; i++) {
            if (r->signed_hash[i] != h) continue;
            r->cur_genuine = true;
            r->cur_sealed_id = seal_keys[r->signed_key[i]].wire_session;
        }
        if (!r->cur_genuine)
            r->cur_genuine = rph_owner_verify(copy, &r->cur, &r->cur_sealed_id) == 0;
    }
    /* A plaintext message for a live sealed session must get no answer at all. */
    bool silent = false;
    if (r->cur_decoded && (r->cur.type == RPH_REGISTER || r->cur.type == RPH_JOIN)) {
        struct shadow *s = shadow_find(r, &r->cur.session);
        silent = s && s->sealed && shadow_live(r, s);
    }
    uint64_t tag = 0;
    bool seen = false;
    if (r->cur_genuine && r->cur.type == RPH_SEALED_JOIN) {
        tag = fz_hash(copy, len);
        for (size_t i = 0; i < r->n_answered; i++)
            seen |= r->answered[i] == tag;
    }

    r->n_replies = 0;
    int rc = rph_holepuncher_input(r->hp, copy, len, from, r->now);
    if (!r->cur_decoded) FZ_CHECK(rc < 0 && rc != RPH_E_INTERRUPTED);
    if (rc == RPH_E_INTERRUPTED) FZ_CHECK(rph_addr_is_loopback(from));
    check_replies(r, copy, len, rc, from);
    if (silent) FZ_CHECK(r->n_replies == 0);
    /* A SealedJoin is answered once: replayed, it is silence (or a cookie, when it has none
     * that is valid now: the answer that costs nothing). */
    bool cookie_only = r->n_replies == 1 && r->replies[0].len == RPH_HP_COOKIE_LEN &&
                       r->replies[0].buf[3] == RPH_HP_COOKIE;
    if (seen) FZ_CHECK(r->n_replies == 0 || cookie_only);
    if (tag && r->n_replies && !cookie_only && r->n_answered < MAX_ANSWERED)
        r->answered[r->n_answered++] = tag;

    if (len <= sizeof r->hist[0]) {
        size_t h = r->n_hist++ % HISTORY;
        memcpy(r->hist[h], copy, len);
        r->hist_len[h] = len;
    }
    free(copy);
}

static void check_store(struct run *r)
{
    size_t count = rph_holepuncher_session_count(r->hp);
    FZ_CHECK(count <= r->max_sessions_ever);
    struct rph_store *st = rph_holepuncher_store(r->hp);
    size_t live = 0;
    for (size_t i = 0; i < r->n_shadow; i++) {
        struct shadow *s = &r->shadow[i];
        struct rph_store_entry e;
        bool found = rph_store_find(st, &s->id, r->now, &e);
        /* Present exactly until its TTL (in the store's whole seconds) runs out. */
        FZ_CHECK(found == shadow_live(r, s));
        if (!found) continue;
        live++;
        FZ_CHECK(rph_addr_equal(&e.server, &s->server));
        FZ_CHECK(e.sealed == s->sealed);
        FZ_CHECK(e.has_node == s->has_node && (!e.has_node || e.node == s->node));
    }
    FZ_CHECK(live <= count);
}

/* Register, Join or HelloReq with a session from a small set (so they collide). */
static void op_template(struct run *r, struct fz *f, const struct rph_addr *from)
{
    uint8_t sel = fz_u8(f);
    static const uint8_t types[4] = {RPH_REGISTER, RPH_JOIN, RPH_HELLO_REQ, RPH_REGISTER};
    uint8_t buf[RPH_HEADER_LEN + 24];
    const struct rph_session *s = &sessions[(sel >> 2) & 7];
    uint8_t type = types[sel & 3];
    size_t len = RPH_HEADER_LEN + (type == RPH_HELLO_REQ ? 0 : s->len);
    if (sel & 0x20 && type != RPH_HELLO_REQ) {
        /* A session ID straight from the input, possibly over the 20-byte limit. */
        const uint8_t *id;
        size_t n = fz_bytes(f, fz_u8(f) % 24, &id);
        memcpy(buf + RPH_HEADER_LEN, id, n);
        len = RPH_HEADER_LEN + n;
    } else {
        memcpy(buf + RPH_HEADER_LEN, s->id, len - RPH_HEADER_LEN);
    }
    buf[0] = (uint8_t)(len >> 8);
    buf[1] = (uint8_t)len;
    buf[2] = 0;
    buf[3] = type;
    input(r, buf, len, from);
}

/* A genuine SealedRegister/SealedJoin, fresh or stale by the input's choice; a Register may
 * name one of three nodes. */
static void op_sealed(struct run *r, struct fz *f, const struct rph_addr *from)
{
    uint8_t sel = fz_u8(f);
    int16_t skew = (int16_t)fz_u16(f);
    if (!rph_seal_available()) return;
    uint64_t wall = r->now + (WALL0 - NOW0) + (uint64_t)((int64_t)skew * 20);
    uint8_t buf[RPH_OWNER_NODE_COOKIE_LEN];
    enum rph_type t = sel & 2 ? RPH_SEALED_JOIN : RPH_SEALED_REGISTER;
    unsigned node = t == RPH_SEALED_REGISTER ? (sel >> 3) & 3 : 0;
    size_t base = node ? RPH_OWNER_NODE_LEN : RPH_OWNER_LEN;
    FZ_CHECK(rph_owner_encode_node(&seal_keys[sel & 1], t, wall, node ? node_ids[node] : NULL, NULL,
                                   buf, sizeof buf) == (int)base);
    if (sel & 4) {
        buf[4 + (sel >> 5) * 13 % (base - 4)] ^= 0x40; /* tampered */
    } else if (r->n_signed + 1 < MAX_OPS) {
        r->signed_hash[r->n_signed] = fz_hash(buf, base);
        r->signed_key[r->n_signed++] = sel & 1;
    }
    input(r, buf, base, from);
    /* As a peer does: answered with HpCookie, the same request again with the cookie. */
    if (r->n_replies != 1 || r->replies[0].len != RPH_HP_COOKIE_LEN) return;
    struct rph_msg c;
    FZ_CHECK(rph_wire_decode(r->replies[0].buf, r->replies[0].len, &c) == 0);
    FZ_CHECK(c.type == RPH_HP_COOKIE);
    memcpy(buf + base, c.hpc.cookie, RPH_COOKIE_LEN);
    buf[1] = (uint8_t)(base + RPH_COOKIE_LEN);
    if (!(sel & 4) && r->n_signed < MAX_OPS) {
        r->signed_hash[r->n_signed] = fz_hash(buf, base + RPH_COOKIE_LEN);
        r->signed_key[r->n_signed++] = sel & 1;
    }
    input(r, buf, base + RPH_COOKIE_LEN, from);
}

/* max_sessions from 4 bits: 1..8, or 100..240 (beyond the table's first growth at 48). */
static size_t max_sessions_of(uint8_t b)
{
    return b & 8 ? 100 + (size_t)(b & 7) * 20 : 1 + (size_t)(b & 7);
}

/* Many Registers at once (the table grows, probe runs wrap): IDs are 2 input bytes + a count. */
static void op_bulk(struct run *r, struct fz *f, const struct rph_addr *from)
{
    unsigned n = fz_u8(f) % 128 + 1;
    uint8_t buf[RPH_HEADER_LEN + 3] = {0, sizeof buf, 0, RPH_REGISTER, fz_u8(f), fz_u8(f), 0};
    for (unsigned i = 0; i < n; i++) {
        buf[6] = (uint8_t)i;
        input(r, buf, sizeof buf, from);
    }
}

/* The input after the config byte is a list of ops. Op byte: bits 0-2 the op, bits 3-5 the
 * source address. 0: raw datagram (u16 length, bytes); 1: up to 128 Registers (count, 2 ID
 * bytes); 2: template (selector: bits 0-1
 * Register/Join/HelloReq, bits 2-4 session, bit 5: session bytes from the input); 3: genuine
 * sealed proof (selector: bit 0 key, bit 1 Join, bit 2 tampered, bits 3-4 a Register's node
 * (0: none, the old form), bits 5-7 where a tampered one is changed; i16 clock skew in 20 ms);
 * 4: time passes (byte: bit 7 seconds, else 10 ms steps) and tick; 5: time passes only;
 * 6: replay one of the last 16 datagrams; 7: reconfigure (max_sessions, rate limits). */
static void run_ops(struct run *r, struct fz *f)
{
    for (int ops = 0; ops < MAX_OPS && !fz_done(f); ops++) {
        uint8_t op = fz_u8(f);
        const struct rph_addr *from = &sources[(op >> 3) & 7];
        switch (op & 7) {
        case 0: {
            const uint8_t *b;
            size_t n = fz_bytes(f, fz_u16(f) & 0x1ff, &b);
            input(r, b, n, from);
            break;
        }
        case 1:
            op_bulk(r, f, from);
            break;
        case 2:
            op_template(r, f, from);
            break;
        case 3:
            op_sealed(r, f, from);
            break;
        case 4:
        case 5: {
            uint8_t b = fz_u8(f);
            r->now += b & 0x80 ? (uint64_t)(b & 0x7f) * 1000 : (uint64_t)b * 10;
            if ((op & 7) == 4) rph_holepuncher_tick(r->hp, r->now);
            break;
        }
        case 6:
            if (r->n_hist) {
                size_t h = fz_u8(f) % (r->n_hist < HISTORY ? r->n_hist : HISTORY);
                uint8_t again[sizeof r->hist[0]];
                memcpy(again, r->hist[h], r->hist_len[h]);
                input(r, again, r->hist_len[h], from);
            }
            break;
        default: {
            struct rph_holepuncher_config c;
            rph_holepuncher_config_defaults(&c);
            uint8_t b = fz_u8(f);
            c.max_sessions = max_sessions_of(b);
            c.session_ttl_ms = r->ttl_ms;
            c.rate_per_s = b & 0x10 ? 2 : 0;
            c.rate_burst = 3;
            if (b & 0x20) c.verify_per_s = 2;
            rph_holepuncher_reconfigure(r->hp, &c);
            if (c.max_sessions > r->max_sessions_ever) r->max_sessions_ever = c.max_sessions;
            break;
        }
        }
        check_store(r);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz f = {data, size};
    fz_rng_seed(0);
    struct run *r = calloc(1, sizeof *r);
    FZ_CHECK(r != NULL);
    /* Config byte: bits 0-3 max_sessions (max_sessions_of), bit 4 rate limit, bit 5 LocalInterrupt
     * allowed, bit 6 a 5 s session TTL (else 60 s), bit 7 two signature checks a second. */
    uint8_t cfgb = fz_u8(&f);
    struct rph_holepuncher_config c;
    rph_holepuncher_config_defaults(&c);
    c.max_sessions = max_sessions_of(cfgb);
    c.rate_per_s = cfgb & 0x10 ? 2 : 0;
    c.rate_burst = 3;
    c.allow_local_interrupt = cfgb & 0x20;
    c.session_ttl_ms = cfgb & 0x40 ? 5000 : 60000;
    if (cfgb & 0x80) c.verify_per_s = 2;
    r->ttl_ms = c.session_ttl_ms;
    r->max_sessions_ever = c.max_sessions;
    r->now = NOW0;
    r->hp = rph_holepuncher_new(&c, on_send, r);
    FZ_CHECK(r->hp != NULL);
    rph_holepuncher_set_wall_offset(r->hp, (int64_t)(WALL0 - NOW0));
    rph_holepuncher_set_event_cb(r->hp, on_event, r);
    run_ops(r, &f);
    rph_holepuncher_free(r->hp);
    free(r);
    return 0;
}
