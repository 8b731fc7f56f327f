// SPDX-License-Identifier: MIT
// Fuzzes server and client peers (plaintext and sealed) on a small simulated network with a
// real holepuncher, where the input schedules delivery, loss, time, replays and forgeries.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ruphin/clock.h"
#include "ruphin/error.h"
#include "ruphin/holepuncher.h"
#include "ruphin/noise.h"
#include "ruphin/peer.h"
#include "ruphin/seal.h"
#include "ruphin/wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW0 1000000ull
#define MAX_OPS 256
#define MAX_DELIVERIES 4096
#define QCAP 128
#define CAPTURED 16
#define MAX_SENT 256
#define SET_CAP 8192 /* power of two */
#define MAX_SLOTS 4

enum { HP = 0, SRV = 1, CLI1 = 2, CLI2 = 3, N_NODES = 4 };

static int64_t wall_offset;
static struct rph_addr base_addr[N_NODES];
static struct rph_addr strangers[4];
static struct rph_seal_keys keys[2]; /* keys[1]: another session key, same session name */

/* A set of 64-bit hashes (0 is never stored). */
struct hset {
    uint64_t v[SET_CAP];
    size_t n;
};

static bool hset_has(const struct hset *s, uint64_t h)
{
    h |= 1;
    for (size_t i = h & (SET_CAP - 1);; i = (i + 1) & (SET_CAP - 1)) {
        if (s->v[i] == h) return true;
        if (!s->v[i]) return false;
    }
}

/* false when full: the run stops rather than check against a set that forgot things. */
static bool hset_add(struct hset *s, uint64_t h)
{
    h |= 1;
    if (hset_has(s, h)) return true;
    if (s->n >= SET_CAP / 2) return false;
    size_t i = h & (SET_CAP - 1);
    while (s->v[i])
        i = (i + 1) & (SET_CAP - 1);
    s->v[i] = h;
    s->n++;
    return true;
}

struct pkt {
    struct rph_addr from, to;
    uint8_t *b;
    size_t len;
};

struct run;

struct node {
    struct run *run;
    int idx;
    bool present;
    struct rph_addr addr;
    struct rph_peer *peer;
    int key;
    unsigned roams;
    struct hset taken;   /* datagrams this node's rph_peer_input returned 0 for */
    uint8_t node_sk[32]; /* sealed: its node key, one per node */
    uint8_t node_pk[32];
};

/* A payload the harness sent through a sealed peer: "FZ", sender, sequence number. */
struct sent {
    uint32_t seq;
    int sender, intended;
    uint64_t hash;
    unsigned delivered; /* bit per node */
};

struct run {
    uint64_t now;
    bool sealed;
    bool full; /* a shadow set is full: stop */
    struct rph_holepuncher *hp;
    struct node nodes[N_NODES];
    struct pkt q[QCAP];
    size_t qhead, qlen;
    struct pkt cap[CAPTURED];
    size_t ncap;
    size_t deliveries;
    struct hset genuine; /* hash of (bytes, sender node) of every datagram a peer sent */
    struct sent sent[MAX_SENT];
    size_t n_sent;
    uint8_t reg_echo[RPH_COOKIE_ECHO_LEN]; /* the server's last SealedRegister's signature */
    bool has_reg_echo;
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_rng_install();
    wall_offset = rph_wall_offset_ms();
    static const char *const addrs[N_NODES] = {"203.0.113.10:7700", "198.51.100.1:40000",
                                               "198.51.100.2:40001", "198.51.100.3:40002"};
    for (int i = 0; i < N_NODES; i++)
        FZ_CHECK(rph_addr_parse(addrs[i], &base_addr[i]) == 0);
    static const char *const others[4] = {"192.0.2.66:666", "[2001:db8::66]:666", "127.0.0.1:1",
                                          "198.51.100.1:40099"};
    for (int i = 0; i < 4; i++)
        FZ_CHECK(rph_addr_parse(others[i], &strangers[i]) == 0);
    if (rph_seal_available()) {
        static const uint8_t k[2][RPH_KEY_LEN] = {{0x6f, 0x66, 0x66}, {0x61, 0x74, 0x74}};
        for (int i = 0; i < 2; i++)
            FZ_CHECK(rph_seal_derive(&keys[i], k[i], "office", 6) == 0);
    }
    return 0;
}

static uint64_t tagged(const uint8_t *b, size_t len, int sender)
{
    return fz_hash(b, len) ^ ((uint64_t)(sender + 1) * 0x9e3779b97f4a7c15ull);
}

/* Bytes another node with the same session key sent, never taken by this node before. */
static bool fresh_genuine(struct run *r, int to, const uint8_t *b, size_t len)
{
    if (hset_has(&r->nodes[to].taken, fz_hash(b, len))) return false;
    for (int n = SRV; n < N_NODES; n++)
        if (n != to && r->nodes[n].present && r->nodes[n].key == r->nodes[to].key &&
            hset_has(&r->genuine, tagged(b, len, n)))
            return true;
    return false;
}

static void enqueue(struct run *r, const struct rph_addr *from, const struct rph_addr *to,
                    const uint8_t *b, size_t len)
{
    if (r->qlen == QCAP) return; /* the network drops it */
    struct pkt *p = &r->q[(r->qhead + r->qlen++) % QCAP];
    p->from = *from;
    p->to = *to;
    p->b = malloc(len);
    FZ_CHECK(p->b != NULL);
    memcpy(p->b, b, len);
    p->len = len;
}

static void hp_send(void *ctx, const struct rph_addr *to, const uint8_t *buf, size_t len)
{
    struct run *r = ctx;
    struct rph_msg m;
    FZ_CHECK(len <= RPH_HP_TX_MAX);
    FZ_CHECK(rph_wire_decode(buf, len, &m) == 0);
    FZ_CHECK(m.type == RPH_REGISTER_ACK || m.type == RPH_SESSION_NOT_FOUND ||
             m.type == RPH_PEER_INFO || m.type == RPH_HELLO_RESP ||
             m.type == RPH_SEALED_PEER_INFO || m.type == RPH_HP_COOKIE ||
             m.type == RPH_TIMED_PEER_INFO);
    enqueue(r, &r->nodes[HP].addr, to, buf, len);
}

/* What each role sends (docs/PROTOCOL.md): a sealed peer sends nothing in the clear but
 * its Register/Join proofs and, from the server, the NAT-opening HelloReq. */
static bool type_allowed(bool sealed, bool server, enum rph_type t)
{
    if (sealed && server)
        return t == RPH_HELLO_REQ || t == RPH_SEALED_REGISTER || t == RPH_HANDSHAKE_RESP ||
               t == RPH_COOKIE_REPLY || t == RPH_TRANSPORT;
    if (sealed)
        return t == RPH_SEALED_JOIN || t == RPH_HANDSHAKE_INIT || t == RPH_HANDSHAKE_FINISH ||
               t == RPH_TRANSPORT;
    return t == (server ? RPH_REGISTER : RPH_JOIN) || t == RPH_DATA || t == RPH_HELLO_REQ ||
           t == RPH_HELLO_RESP;
}

static void peer_send(void *ctx, const struct rph_addr *to, const uint8_t *buf, size_t len)
{
    struct node *n = ctx;
    struct run *r = n->run;
    FZ_CHECK(to != NULL);
    FZ_CHECK(len >= RPH_HEADER_LEN && len <= RPH_DATAGRAM_MAX);
    struct rph_msg m;
    FZ_CHECK(rph_wire_decode(buf, len, &m) == 0);
    FZ_CHECK(type_allowed(r->sealed, n->idx == SRV, m.type));
    if (m.type == RPH_SEALED_REGISTER) {
        /* A server names its node (the 140/156-byte form). */
        FZ_CHECK(m.owner.has_node);
        memcpy(r->reg_echo, m.owner.sig, RPH_COOKIE_ECHO_LEN);
        r->has_reg_echo = true;
    }
    if (!hset_add(&r->genuine, tagged(buf, len, n->idx))) r->full = true;
    enqueue(r, &n->addr, to, buf, len);
}

static void peer_data(void *ctx, struct rph_remote *from, const uint8_t *d, size_t len)
{
    struct node *n = ctx;
    struct run *r = n->run;
    FZ_CHECK(from != NULL && from->in_use && from->up);
    FZ_CHECK(len <= RPH_DATA_MAX);
    if (!r->sealed) return; /* plaintext: anyone can send anything, as in the crate */
    /* Sealed: only what a key holder sent, once, to the peer it was meant for. */
    FZ_CHECK(len >= 7 && d[0] == 'F' && d[1] == 'Z');
    uint32_t seq = ((uint32_t)d[3] << 24) | ((uint32_t)d[4] << 16) | ((uint32_t)d[5] << 8) | d[6];
    FZ_CHECK(seq < r->n_sent);
    struct sent *s = &r->sent[seq];
    FZ_CHECK(s->hash == fz_hash(d, len) && s->sender == d[2]);
    FZ_CHECK(s->sender != n->idx && r->nodes[s->sender].key == n->key);
    if (s->intended >= 0) FZ_CHECK(s->intended == n->idx);
    FZ_CHECK(!(s->delivered & (1u << n->idx)));
    s->delivered |= 1u << n->idx;
}

static void peer_remote(void *ctx, struct rph_remote *rem, bool up)
{
    struct node *n = ctx;
    size_t count;
    struct rph_remote *all = rph_peer_remotes(n->peer, &count);
    FZ_CHECK(rem >= all && rem < all + count && rem->in_use);
    FZ_CHECK(rem->up == up || !up);
}

static bool make_peer(struct run *r, int idx, uint8_t flags)
{
    struct node *n = &r->nodes[idx];
    struct rph_peer_config c;
    rph_peer_config_defaults(&c, idx == SRV ? RPH_ROLE_SERVER : RPH_ROLE_CLIENT);
    c.holepuncher = r->nodes[HP].addr;
    rph_session_set(&c.session, "office", 6);
    c.handshake_timeout_ms = flags & 0x08 ? 10000 : 0;
    c.max_remotes = flags & 0x10 ? 1 : MAX_SLOTS;
    if (flags & 0x40) {
        c.keepalive_ms = 2000;
        c.peer_timeout_ms = 5000;
        c.rekey_ms = 10000;
    }
    n->key = idx == CLI2 && (flags & 0x04) ? 1 : 0;
    if (r->sealed) {
        c.sealed = true;
        c.seal = keys[n->key];
        memset(n->node_sk, 0, 32);
        n->node_sk[1] = (uint8_t)(0x40 + idx); /* byte 0 is clamped: not there */
        memcpy(c.node_sk, n->node_sk, 32);
        FZ_CHECK(rph_noise_public_key(n->node_pk, n->node_sk) == 0);
    } else if (n->key) {
        rph_session_set(&c.session, "elsewhere", 9);
    }
    struct rph_peer_callbacks cb = {
        .send = peer_send, .on_data = peer_data, .on_remote = peer_remote};
    int err = 0;
    n->peer = rph_peer_new(&c, &cb, n, r->now, &err);
    FZ_CHECK(n->peer != NULL);
    rph_peer_set_wall_offset(n->peer, wall_offset);
    return true;
}

static struct node *node_at(struct run *r, const struct rph_addr *a)
{
    for (int i = 0; i < N_NODES; i++)
        if (r->nodes[i].present && rph_addr_equal(&r->nodes[i].addr, a)) return &r->nodes[i];
    return NULL;
}

static void capture(struct run *r, const struct pkt *p)
{
    struct pkt *c = &r->cap[r->ncap++ % CAPTURED];
    free(c->b);
    *c = *p;
    c->b = malloc(p->len);
    FZ_CHECK(c->b != NULL);
    memcpy(c->b, p->b, p->len);
}

/* One datagram into a peer, with the sealed-mode checks around it. */
static void peer_input(struct run *r, struct node *n, const uint8_t *b, size_t len,
                       const struct rph_addr *from)
{
    size_t count;
    struct rph_remote *rem = rph_peer_remotes(n->peer, &count);
    FZ_CHECK(count <= MAX_SLOTS);
    struct rph_remote before[MAX_SLOTS];
    memcpy(before, rem, count * sizeof *rem);
    bool fresh = fresh_genuine(r, n->idx, b, len);

    uint8_t *buf = malloc(len ? len : 1); /* exact size, writable: sealed opens in place */
    FZ_CHECK(buf != NULL);
    memcpy(buf, b, len);
    int rc = rph_peer_input(n->peer, buf, len, from, r->now);
    free(buf);
    if (rc == RPH_E_INTERRUPTED) FZ_CHECK(rph_addr_is_loopback(from));
    if (rc == 0 && !hset_add(&n->taken, fz_hash(b, len))) r->full = true;

    rem = rph_peer_remotes(n->peer, &count);
    for (size_t i = 0; i < count; i++) {
        if (!rem[i].in_use || !r->sealed) continue;
        bool was = before[i].in_use;
        /* Only a fresh authenticated packet moves a live peer's endpoint or brings a peer up.
         * A slot whose remote never answered may be given to another PeerInfo's address (a
         * full server evicts the oldest unanswered remote): that is a new remote, not a move. */
        if (was && before[i].up && !rph_addr_equal(&before[i].addr, &rem[i].addr)) FZ_CHECK(fresh);
        if (rem[i].up && !(was && before[i].up)) FZ_CHECK(fresh);
    }
}

static void deliver(struct run *r, const struct pkt *p)
{
    r->deliveries++;
    capture(r, p);
    if (rph_addr_equal(&p->to, &r->nodes[HP].addr)) {
        if (r->hp) {
            uint8_t *buf = malloc(p->len);
            FZ_CHECK(buf != NULL);
            memcpy(buf, p->b, p->len);
            rph_holepuncher_input(r->hp, buf, p->len, &p->from, r->now);
            free(buf);
        }
        return;
    }
    struct node *n = node_at(r, &p->to);
    if (n && n->peer) peer_input(r, n, p->b, p->len, &p->from);
}

static void deliver_next(struct run *r, bool drop)
{
    if (!r->qlen) return;
    struct pkt p = r->q[r->qhead];
    r->qhead = (r->qhead + 1) % QCAP;
    r->qlen--;
    if (!drop) deliver(r, &p);
    free(p.b);
}

static void tick_all(struct run *r)
{
    if (r->hp) rph_holepuncher_tick(r->hp, r->now);
    for (int i = SRV; i < N_NODES; i++)
        if (r->nodes[i].peer) rph_peer_tick(r->nodes[i].peer, r->now);
}

static const struct rph_addr *pick_source(struct run *r, uint8_t b)
{
    b %= N_NODES + 4;
    return b < N_NODES ? &r->nodes[b].addr : &strangers[b - N_NODES];
}

static struct node *pick_peer(struct run *r, uint8_t b)
{
    struct node *n = &r->nodes[SRV + b % 3];
    return n->peer ? n : NULL;
}

/* The client a server's slot has keys for: the one whose node key its handshake proved. */
static int slot_owner(struct run *r, const struct rph_remote *rem)
{
    if (!rem->has_node_pk) return -1;
    for (int i = CLI1; i < N_NODES; i++)
        if (r->nodes[i].present && memcmp(r->nodes[i].node_pk, rem->node_pk, 32) == 0) return i;
    return -1;
}

/* Sends a payload "FZ", sender, sequence number, input bytes from a peer to one of its remotes,
 * through rph_peer_send_data or (as ruphin-tund does) rph_peer_frame in place. */
static void op_send(struct run *r, struct fz *f)
{
    struct node *n = pick_peer(r, fz_u8(f));
    uint8_t slot = fz_u8(f);
    uint8_t want = fz_u8(f);
    if (!n || r->n_sent == MAX_SENT) return;
    size_t count;
    struct rph_remote *rem = rph_peer_remotes(n->peer, &count);
    struct rph_remote *to = &rem[slot % count];
    if (!to->in_use) return;
    uint8_t buf[RPH_FRAME_HEADROOM + 7 + 127 + RPH_FRAME_TAILROOM];
    uint8_t *payload = buf + RPH_FRAME_HEADROOM;
    uint32_t seq = (uint32_t)r->n_sent;
    payload[0] = 'F';
    payload[1] = 'Z';
    payload[2] = (uint8_t)n->idx;
    payload[3] = (uint8_t)(seq >> 24);
    payload[4] = (uint8_t)(seq >> 16);
    payload[5] = (uint8_t)(seq >> 8);
    payload[6] = (uint8_t)seq;
    const uint8_t *b;
    size_t len = 7 + fz_bytes(f, want & 0x7f, &b);
    memcpy(payload + 7, b, len - 7);
    /* Recorded first: sending only queues, nothing is delivered inside. */
    struct sent *s = &r->sent[r->n_sent];
    s->seq = seq;
    s->sender = n->idx;
    s->intended = n->idx == SRV ? slot_owner(r, to) : SRV;
    s->hash = fz_hash(payload, len);
    s->delivered = 0;
    int rc;
    if (want & 0x80) {
        uint8_t *d;
        rc = rph_peer_frame(n->peer, to, buf, len, &d);
        if (rc > 0) {
            FZ_CHECK(d >= buf && d + rc <= buf + RPH_FRAME_HEADROOM + len + RPH_FRAME_TAILROOM);
            peer_send(n, &to->addr, d, (size_t)rc);
            rc = 0;
        }
    } else {
        rc = rph_peer_send_data(n->peer, &to->addr, payload, len);
    }
    if (rc == 0)
        r->n_sent++;
    else
        FZ_CHECK(r->sealed && rc == RPH_E_NOKEY);
}

static void op_inject(struct run *r, struct fz *f)
{
    uint8_t sel = fz_u8(f);
    const struct rph_addr *from = pick_source(r, sel);
    struct node *to = &r->nodes[(sel >> 4) % N_NODES];
    const uint8_t *b;
    size_t len = fz_bytes(f, fz_u16(f) % 1500, &b);
    if (!to->present) return;
    r->deliveries++;
    if (to->idx == HP) {
        if (r->hp) {
            uint8_t *buf = malloc(len ? len : 1);
            FZ_CHECK(buf != NULL);
            memcpy(buf, b, len);
            rph_holepuncher_input(r->hp, buf, len, from, r->now);
            free(buf);
        }
        return;
    }
    peer_input(r, to, b, len, from);
}

/* A captured datagram again: to its destination or another, from its source or another. */
static void op_replay(struct run *r, struct fz *f, bool mutate)
{
    uint8_t i = fz_u8(f), sel = fz_u8(f);
    uint16_t pos = fz_u16(f);
    uint8_t x = fz_u8(f);
    size_t have = r->ncap < CAPTURED ? r->ncap : CAPTURED;
    if (!have) return;
    struct pkt p = r->cap[i % have];
    uint8_t *b = malloc(p.len);
    FZ_CHECK(b != NULL);
    memcpy(b, p.b, p.len);
    if (mutate) b[pos % p.len] ^= x;
    if (sel & 1) p.from = *pick_source(r, sel >> 1);
    if (sel & 0x10) p.to = r->nodes[(sel >> 5) % N_NODES].addr;
    p.b = b;
    deliver(r, &p);
    free(b);
}

/* The holepuncher (forged by the input) says another server holds the session: with the
 * echo of the server's last Register it is believed, with any other it is not. */
static void op_refused(struct run *r, uint8_t b)
{
    struct node *n = &r->nodes[SRV];
    if (!n->peer || !r->sealed || !r->has_reg_echo) return;
    const struct rph_peer_config *c = rph_peer_config(n->peer);
    struct rph_msg m = {.type = RPH_REGISTER_REFUSED,
                        .session = c->seal.wire_session,
                        .peer = strangers[(b >> 4) & 3]};
    memcpy(m.hpc.echo, r->reg_echo, RPH_COOKIE_ECHO_LEN);
    bool forged = b & 8;
    if (forged) m.hpc.echo[(b >> 4) & 7] ^= 1;
    uint8_t buf[RPH_REGISTER_REFUSED_LEN];
    FZ_CHECK(rph_wire_encode(&m, buf, sizeof buf) == RPH_REGISTER_REFUSED_LEN);
    bool was = rph_peer_refused_by(n->peer, NULL);
    r->deliveries++;
    int rc = rph_peer_input(n->peer, buf, sizeof buf, &r->nodes[HP].addr, r->now);
    struct rph_addr holder;
    if (forged) {
        FZ_CHECK(rc == RPH_E_UNEXPECTED);
        FZ_CHECK(rph_peer_refused_by(n->peer, NULL) == was);
        return;
    }
    FZ_CHECK(rc == 0);
    FZ_CHECK(rph_peer_refused_by(n->peer, &holder) && rph_addr_equal(&holder, &m.peer));
    FZ_CHECK(strcmp(rph_peer_holepuncher_status(n->peer, r->now), "refused") == 0);
    /* A daemon keeps asking; with a handshake timeout the refusal ends the attempt. */
    FZ_CHECK(rph_peer_state(n->peer) ==
             (c->handshake_timeout_ms ? RPH_STATE_FAILED : RPH_STATE_REGISTERING));
}

static void op_roam(struct run *r, uint8_t b)
{
    struct node *n = &r->nodes[CLI1 + (b & 1)];
    if (!n->peer) return;
    /* A NAT rebinding: a new port, never one another node had. */
    n->roams++;
    n->addr.port = (uint16_t)(base_addr[n->idx].port + 1000 * n->roams % 20000);
}

/* The input after the flags byte is a list of ops, op byte mod 12: 0, 1 deliver the next
 * queued datagram; 2 deliver up to 64; 3 drop the next; 4 time passes (byte: bit 7 seconds,
 * else 10 ms steps) and everyone ticks; 5 jump to the earliest peer deadline and tick;
 * 6, 11 send a payload (peer, remote slot, length | 0x80 for rph_peer_frame, bytes);
 * 7 inject raw bytes (selector: bits 0-2 source, bits 4-5 destination; u16 length, bytes);
 * 8 replay a captured datagram, 9 the same with a flipped byte (index, selector: bit 0 new
 * source, bit 4 new destination; u16 position, xor); 10 (byte) the server is refused by
 * the holepuncher (bit 2: RegisterRefused with its last Register's echo, or bit 3 a wrong
 * one; bits 4-5 the holder), else a client roams (bit 1) or rejoins. */
static void run_ops(struct run *r, struct fz *f)
{
    for (int ops = 0; ops < MAX_OPS && !fz_done(f) && !r->full; ops++) {
        if (r->deliveries > MAX_DELIVERIES) break;
        uint8_t op = fz_u8(f);
        switch (op % 12) {
        case 0:
        case 1:
            deliver_next(r, false);
            break;
        case 2:
            for (int i = 0; i < 64 && r->qlen && !r->full; i++)
                deliver_next(r, false);
            break;
        case 3:
            deliver_next(r, true);
            break;
        case 4: {
            uint8_t b = fz_u8(f);
            r->now += b & 0x80 ? (uint64_t)(b & 0x7f) * 1000 : (uint64_t)b * 10;
            tick_all(r);
            break;
        }
        case 5: {
            /* Straight to the next timer of any peer (at most an hour ahead). */
            uint64_t d = UINT64_MAX;
            for (int i = SRV; i < N_NODES; i++) {
                if (!r->nodes[i].peer) continue;
                uint64_t v = rph_peer_next_deadline(r->nodes[i].peer);
                if (v < d) d = v;
            }
            if (d != UINT64_MAX && d > r->now) r->now = d < r->now + 3600000 ? d : r->now + 3600000;
            tick_all(r);
            break;
        }
        case 6:
            op_send(r, f);
            break;
        case 7:
            op_inject(r, f);
            break;
        case 8:
            op_replay(r, f, false);
            break;
        case 9:
            op_replay(r, f, true);
            break;
        case 10: {
            uint8_t b = fz_u8(f);
            if (b & 4) {
                op_refused(r, b);
            } else if (b & 2) {
                op_roam(r, b);
            } else {
                struct node *n = &r->nodes[CLI1 + (b & 1)];
                if (n->peer) rph_peer_rejoin(n->peer, r->now);
            }
            break;
        }
        default:
            op_send(r, f);
            break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz f = {data, size};
    fz_rng_seed(0);
    /* Flags: bit 0 sealed, 1 a second client, 2 that client has another key (plaintext:
     * another session), 3 handshake timeout 10 s (else none), 4 one remote slot on the server,
     * 5 holepuncher rate limit, 6 short timers, 7 no holepuncher (the input plays it). */
    uint8_t flags = fz_u8(&f);
    struct run *r = calloc(1, sizeof *r);
    FZ_CHECK(r != NULL);
    r->now = NOW0;
    r->sealed = (flags & 0x01) && rph_seal_available();
    for (int i = 0; i < N_NODES; i++) {
        r->nodes[i].run = r;
        r->nodes[i].idx = i;
        r->nodes[i].addr = base_addr[i];
        r->nodes[i].present = i != CLI2 || (flags & 0x02);
    }
    if (!(flags & 0x80)) {
        struct rph_holepuncher_config hc;
        rph_holepuncher_config_defaults(&hc);
        hc.max_sessions = 8;
        if (!(flags & 0x20)) hc.rate_per_s = 0;
        r->hp = rph_holepuncher_new(&hc, hp_send, r);
        FZ_CHECK(r->hp != NULL);
        rph_holepuncher_set_wall_offset(r->hp, wall_offset);
    }
    for (int i = SRV; i < N_NODES; i++)
        if (r->nodes[i].present) make_peer(r, i, flags);
    run_ops(r, &f);

    for (int i = SRV; i < N_NODES; i++)
        rph_peer_free(r->nodes[i].peer);
    rph_holepuncher_free(r->hp);
    while (r->qlen)
        deliver_next(r, true);
    for (size_t i = 0; i < CAPTURED; i++)
        free(r->cap[i].b);
    free(r);
    return 0;
}
