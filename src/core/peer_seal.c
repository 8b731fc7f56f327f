// SPDX-License-Identifier: MIT
// Sealed mode of the peer: the client initiates an authenticated handshake toward the server
// (re-keying every rekey_ms), both sides send AEAD transport packets (empty ones as
// keepalives), and only authenticated packets make a peer up, deliver data or move an endpoint.
// This file maps handshakes and transport keys to the peer's slots; peer.c acts on the results.
#include "peer_seal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ruphin/error.h"
#include "seal_keyring.h"
#include "seal_noise.h"
#include "token_bucket.h"

/* Answered inits waiting for their HandshakeFinish: a fixed table, whatever arrives. */
#define SEAL_PENDING 64
/* Local index = random high bits | a 12-bit code saying where its keypair lives. */
#define IDX_CODE_BITS 12
#define IDX_PENDING_BASE 4000u
#define CODE_MASK ((1u << IDX_CODE_BITS) - 1)
#define JOIN_SEEN 64
/* Under load, HandshakeInits with a valid mac2 per source address: WireGuard's figures. */
#define SRC_PER_S 20u
#define SRC_BURST 20u

_Static_assert(SEAL_MAX_SLOTS <= IDX_PENDING_BASE, "slot codes must stay below pending codes");
_Static_assert(IDX_PENDING_BASE + SEAL_PENDING <= (1u << IDX_CODE_BITS), "codes fit the bits");

struct seal_slot {
    struct keyring keys;
    struct sn_initiator ini; /* initiator: the handshake in flight */
    uint8_t node_pk[32];     /* the remote's node key (of the current keys) */
    bool has_pk;
    uint8_t next_pk[32];        /* initiator: the responder's node key of keys.kp[KP_NEXT] */
    uint8_t last_ts[SN_TS_LEN]; /* responder: the newest timestamp node_pk sent */
    uint32_t finish_index;      /* responder: the index of the last finish adopted here */
    uint8_t finish_tag[16];     /* ... and its last bytes: a repeat gets a keepalive */
    uint64_t reconfirm_ms;      /* responder: the last keepalive for a repeated finish */
    uint64_t next_rekey_ms;
    /* Mesh: another client (seal_set_member). Its node key is known before any handshake and
     * no other may take the slot; the side with the lower key rekeys, either side may start. */
    bool member;
    bool no_rekey;
};

/* An answered init; once finished, the handshake's keys until seal_adopt. */
struct seal_pending {
    bool used;
    struct sn_answer ans;
    uint64_t created_ms;
    uint64_t answered_ms; /* resp last sent: a duplicate init gets it again, not at once */
    bool finished;
    struct rph_keypair kp;
    uint8_t rs[32];
    uint8_t ts[SN_TS_LEN];
    uint8_t finish_tag[16]; /* the finish's last bytes */
    /* Keys adopted into another slot than their index names (a first contact from a new
     * address, roaming) are still addressed by that index until the initiator's next rekey:
     * the entry then points at the slot that holds them. */
    bool fwd;
    uint32_t fwd_index;
    size_t fwd_slot;
};

struct seal {
    struct seal_config cfg;
    struct sn_proto proto;
    struct sn_proto rproto;     /* the responder's side (a responder, or an initiator that
                                   responds too: a mesh client) */
    uint8_t last_ts[SN_TS_LEN]; /* initiator: timestamps only grow, whatever the clock does */
    struct sn_cookies cookies;
    uint8_t cookie_out[RPH_COOKIE_REPLY_LEN];
    struct token_bucket *per_src; /* responder */
    uint64_t load_window_ms;
    uint32_t load_count;
    struct seal_pending pending[SEAL_PENDING];
    uint64_t join_seen[JOIN_SEEN]; /* signatures of SealedPeerInfo joins already acted on */
    size_t join_next;
    struct seal_slot slot[];
};

static uint32_t new_index(uint32_t code)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, 0) != sizeof r) r = (uint32_t)(uintptr_t)&r;
    return (r & ~CODE_MASK) | code;
}

/* Keys are retired well after the client's rekey: a stuck peer cannot use them forever. */
static uint64_t key_lifetime(const struct seal *s)
{
    return 2ull * s->cfg.rekey_ms + 60000u;
}

static size_t seal_size(size_t slots)
{
    return sizeof(struct seal) + slots * sizeof(struct seal_slot);
}

struct seal *seal_new(const struct seal_config *cfg, int *err)
{
    if (cfg->slots > SEAL_MAX_SLOTS || !cfg->node_sk) {
        *err = -EINVAL;
        return NULL;
    }
    struct seal *s = calloc(1, seal_size(cfg->slots));
    if (!s) {
        *err = -ENOMEM;
        return NULL;
    }
    s->cfg = *cfg;
    if (!s->cfg.load_per_s) s->cfg.load_per_s = SEAL_LOAD_DEFAULT;
    int e = sn_proto_init(&s->proto, cfg->keys, cfg->node_sk, cfg->initiator, cfg->members,
                          cfg->n_members);
    if (e == 0)
        e = sn_proto_init(&s->rproto, cfg->keys, cfg->node_sk, false, cfg->members, cfg->n_members);
    if (e == 0 && (!cfg->initiator || cfg->respond)) {
        s->per_src = malloc(sizeof *s->per_src);
        if (s->per_src)
            tb_init(s->per_src, SRC_PER_S, SRC_BURST);
        else
            e = -ENOMEM;
    }
    if (e < 0) {
        seal_free(s);
        *err = e;
        return NULL;
    }
    return s;
}

void seal_free(struct seal *s)
{
    if (!s) return;
    free(s->per_src);
    rph_seal_wipe(s, seal_size(s->cfg.slots));
    free(s);
}

void seal_set_member(struct seal *s, size_t slot, const uint8_t pk[32], bool rekeys)
{
    struct seal_slot *sl = &s->slot[slot];
    if (!sl->has_pk) {
        memcpy(sl->node_pk, pk, 32);
        sl->has_pk = true;
    }
    sl->member = true;
    sl->no_rekey = !rekeys;
}

/* Whether this seal answers handshakes at all. */
static bool responds(const struct seal *s)
{
    return !s->cfg.initiator || s->cfg.respond;
}

void seal_forget(struct seal *s, size_t slot)
{
    rph_seal_wipe(&s->slot[slot], sizeof s->slot[slot]);
    for (size_t i = 0; i < SEAL_PENDING; i++)
        if (s->pending[i].fwd && s->pending[i].fwd_slot == slot) s->pending[i].fwd = false;
}

static struct seal_dgram dgram(const uint8_t *data, size_t len)
{
    return (struct seal_dgram){.data = data, .len = len};
}

static struct seal_dgram ini_dgram(const struct seal_slot *sl)
{
    return dgram(sl->ini.msg, sl->ini.msg_len);
}

struct seal_dgram seal_start(struct seal *s, size_t slot, uint64_t now)
{
    struct seal_slot *sl = &s->slot[slot];
    if (sn_initiate(&sl->ini, &s->proto, new_index((uint32_t)slot), now, s->cfg.retry_ms) < 0)
        return dgram(NULL, 0);
    s->cfg.stats->handshakes_sent++;
    return ini_dgram(sl);
}

struct seal_dgram seal_punched(struct seal *s, size_t slot)
{
    struct seal_slot *sl = &s->slot[slot];
    return sn_resend_punched(&sl->ini) ? ini_dgram(sl) : dgram(NULL, 0);
}

struct seal_dgram seal_pending_init(const struct seal *s, size_t slot)
{
    const struct seal_slot *sl = &s->slot[slot];
    if (!s->cfg.initiator || sl->ini.phase != SN_INIT) return dgram(NULL, 0);
    return ini_dgram(sl);
}

struct seal_dgram seal_tick(struct seal *s, size_t slot, bool up, uint64_t now)
{
    struct seal_slot *sl = &s->slot[slot];
    keyring_expire(&sl->keys, now, key_lifetime(s));
    if (!s->cfg.initiator) return dgram(NULL, 0);
    bool restart;
    if (sn_resend_due(&sl->ini, now, s->cfg.retry_ms, &restart)) return ini_dgram(sl);
    if (restart) return seal_start(s, slot, now);
    /* Rekey on time, or early when the keys have sealed too much. A member's rekey is lazy
     * (seal_rekey_due): an idle member costs no timer of its own. */
    if (up && !sl->member && seal_rekey_due(s, slot, now)) return seal_start(s, slot, now);
    return dgram(NULL, 0);
}

bool seal_rekey_due(const struct seal *s, size_t slot, uint64_t now)
{
    const struct seal_slot *sl = &s->slot[slot];
    return s->cfg.initiator && sl->ini.phase == SN_IDLE && !sl->no_rekey &&
           (now >= sl->next_rekey_ms || keyring_worn(&sl->keys));
}

uint64_t seal_deadline(const struct seal *s, size_t slot, bool up)
{
    const struct seal_slot *sl = &s->slot[slot];
    uint64_t d = sn_deadline(&sl->ini);
    if (s->cfg.initiator && up && sl->ini.phase == SN_IDLE && !sl->no_rekey && !sl->member &&
        sl->next_rekey_ms < d)
        d = sl->next_rekey_ms;
    return d;
}

void seal_expire_pending(struct seal *s, uint64_t now)
{
    for (size_t i = 0; i < SEAL_PENDING; i++)
        if (s->pending[i].used && now - s->pending[i].created_ms >= s->cfg.pending_ms)
            rph_seal_wipe(&s->pending[i], sizeof s->pending[i]);
}

uint64_t seal_pending_deadline(const struct seal *s, uint32_t window_ms)
{
    uint64_t d = UINT64_MAX;
    for (size_t i = 0; i < SEAL_PENDING; i++)
        if (s->pending[i].used && s->pending[i].created_ms + window_ms < d)
            d = s->pending[i].created_ms + window_ms;
    return d;
}

int seal_frame(struct seal *s, size_t slot, uint8_t *buf, size_t len, uint8_t **dgram_out)
{
    int n = rph_transport_seal(&s->slot[slot].keys.kp[KP_CUR], buf, len);
    if (n < 0) return n;
    *dgram_out = buf;
    return n;
}

int seal_check_join(struct seal *s, const struct rph_msg *m, uint64_t now, int64_t wall_offset_ms)
{
    struct rph_peer_stats *st = s->cfg.stats;
    struct rph_msg j;
    struct rph_session sess;
    if (rph_wire_decode(m->data, RPH_OWNER_LEN, &j) < 0 || j.type != RPH_SEALED_JOIN) {
        st->auth_failed++;
        return RPH_E_AUTH;
    }
    if (!rph_owner_fresh(j.owner.ts_ms, now, wall_offset_ms, 300000)) {
        st->replayed++;
        return RPH_E_REPLAY;
    }
    if (rph_owner_verify(m->data, &j, &sess) < 0 ||
        !rph_session_equal(&sess, &s->cfg.keys->wire_session)) {
        st->auth_failed++;
        return RPH_E_AUTH;
    }
    uint64_t tag;
    memcpy(&tag, j.owner.sig, sizeof tag);
    for (size_t i = 0; i < JOIN_SEEN; i++) {
        if (s->join_seen[i] == tag) {
            st->replayed++;
            return RPH_E_REPLAY;
        }
    }
    s->join_seen[s->join_next] = tag;
    s->join_next = (s->join_next + 1) % JOIN_SEEN;
    return 0;
}

static size_t find_by_pk(const struct seal *s, const uint8_t pk[32])
{
    for (size_t i = 0; i < s->cfg.slots; i++)
        if (s->slot[i].has_pk && memcmp(s->slot[i].node_pk, pk, 32) == 0) return i;
    return SEAL_NO_SLOT;
}

/* Counts an init; whether this second has seen more than the load threshold. */
static bool under_load(struct seal *s, uint64_t now)
{
    if (now - s->load_window_ms >= 1000) {
        s->load_window_ms = now;
        s->load_count = 0;
    }
    return ++s->load_count > s->cfg.load_per_s;
}

/* A free entry first, else the oldest answered init, a forwarding one only when all are
 * taken: an init never touches a slot, only this table. */
static struct seal_pending *pending_victim(struct seal *s)
{
    struct seal_pending *v = NULL;
    int vr = 3;
    for (size_t i = 0; i < SEAL_PENDING && vr > 0; i++) {
        struct seal_pending *c = &s->pending[i];
        int cr = c->used ? 1 : c->fwd ? 2 : 0;
        if (cr < vr || (cr == vr && c->created_ms < v->created_ms)) v = c, vr = cr;
    }
    return v;
}

/* The entry of a handshake by our index: answered, finished, or forwarding. */
static struct seal_pending *pending_of(struct seal *s, uint32_t index)
{
    for (size_t i = 0; i < SEAL_PENDING; i++) {
        struct seal_pending *pe = &s->pending[i];
        if (pe->used && pe->ans.local_index == index) return pe;
        if (pe->fwd && pe->fwd_index == index) return pe;
    }
    return NULL;
}

/* The responder's side of an init: nothing but the PSK's tag is checked before any DH; under
 * load a source must first show it receives (mac2), and sources are rate limited. */
static int on_init(struct seal *s, const struct rph_msg *m, const uint8_t *raw,
                   const struct rph_addr *from, size_t at_from, uint64_t now, struct seal_event *ev)
{
    struct rph_peer_stats *st = s->cfg.stats;
    if (!responds(s)) {
        st->unexpected++;
        return RPH_E_UNEXPECTED;
    }
    struct rph_noise_hs hs;
    if (sn_read_init(&hs, &s->rproto, m) < 0) {
        st->auth_failed++;
        return RPH_E_AUTH;
    }
    /* A duplicate (a retransmission, or a replay from anywhere) gets the same answer, not new
     * keys, and at most once per half retry period. */
    const uint8_t *e = sn_init_ephemeral(m);
    for (size_t i = 0; i < SEAL_PENDING; i++) {
        struct seal_pending *pe = &s->pending[i];
        if (!pe->used || pe->finished || memcmp(pe->ans.re, e, 32) != 0) continue;
        rph_noise_wipe(&hs);
        if (now - pe->answered_ms < s->cfg.retry_ms / 2) {
            st->replayed++;
            return RPH_E_REPLAY;
        }
        pe->answered_ms = now;
        ev->what = SEAL_REPLY;
        ev->reply = dgram(pe->ans.resp, RPH_HS_RESP_LEN);
        return 0;
    }
    if (under_load(s, now)) {
        if (!sn_mac2_ok(&s->cookies, raw, from, now)) {
            rph_noise_wipe(&hs);
            int n = sn_cookie_reply(&s->cookies, s->cfg.keys, raw, m, from, now, s->cookie_out);
            if (n < 0) return n;
            st->cookies_sent++;
            ev->what = SEAL_REPLY;
            ev->reply = dgram(s->cookie_out, (size_t)n);
            return 0;
        }
        if (!tb_take(s->per_src, from, now)) {
            rph_noise_wipe(&hs);
            st->hs_limited++;
            return RPH_E_RATE;
        }
    }
    struct seal_pending *pe = pending_victim(s);
    /* Keys are found by the code in their index: a guess at the slot they will live in (the
     * remote at this address: a rekey, or the client a SealedPeerInfo announced), else the
     * table entry, which then forwards to the slot its node key gets. */
    uint32_t code = at_from != SEAL_NO_SLOT ? (uint32_t)at_from
                                            : IDX_PENDING_BASE + (uint32_t)(pe - s->pending);
    struct seal_pending fresh = {.used = true, .created_ms = now, .answered_ms = now};
    int r = sn_answer(&fresh.ans, &hs, m, new_index(code));
    if (r < 0) {
        rph_seal_wipe(&fresh, sizeof fresh);
        st->auth_failed++;
        return r;
    }
    rph_seal_wipe(pe, sizeof *pe);
    *pe = fresh;
    rph_seal_wipe(&fresh, sizeof fresh);
    ev->what = SEAL_REPLY;
    ev->reply = dgram(pe->ans.resp, RPH_HS_RESP_LEN);
    return 0;
}

static void count_refusal(struct seal *s, int e)
{
    if (e == RPH_E_UNKNOWN_PEER)
        s->cfg.stats->not_member++;
    else
        s->cfg.stats->auth_failed++;
}

/* The responder's side of a finish: the initiator's node key and timestamp, the keys. */
static int on_finish(struct seal *s, const struct rph_msg *m, const uint8_t *raw, uint64_t now,
                     struct seal_event *ev)
{
    struct rph_peer_stats *st = s->cfg.stats;
    if (!responds(s)) {
        st->unexpected++;
        return RPH_E_UNEXPECTED;
    }
    struct seal_pending *pe = pending_of(s, m->hs.receiver);
    const uint8_t *tag = raw + RPH_HS_FINISH_LEN - 16;
    if (!pe || !pe->used) {
        /* Finished already: the initiator missed our packet. It gets one more, not often. */
        size_t slot = pe ? pe->fwd_slot : m->hs.receiver & CODE_MASK;
        struct seal_slot *sl = slot < s->cfg.slots ? &s->slot[slot] : NULL;
        if (!sl || !sl->has_pk || sl->finish_index != m->hs.receiver) {
            st->no_key++;
            return RPH_E_NOKEY;
        }
        if (memcmp(sl->finish_tag, tag, 16) != 0 || now - sl->reconfirm_ms < s->cfg.retry_ms / 2) {
            st->replayed++;
            return RPH_E_REPLAY;
        }
        sl->reconfirm_ms = now;
        ev->what = SEAL_RECONFIRM;
        ev->slot = slot;
        return 0;
    }
    if (pe->finished) {
        st->replayed++;
        return RPH_E_REPLAY;
    }
    uint8_t rs[32], ts[SN_TS_LEN];
    struct rph_keypair kp;
    int e = sn_finish(&pe->ans, &s->rproto, m, now, rs, ts, &kp);
    if (e < 0) {
        count_refusal(s, e);
        return e;
    }
    size_t slot = find_by_pk(s, rs);
    if (s->cfg.initiator && (slot == SEAL_NO_SLOT || !s->slot[slot].member)) {
        /* A mesh client answers only the members its server introduced: no other node key
         * gets keys here, and none takes the server's slot. The answered init stays: its
         * finish, repeated, counts once the server's introduction has come (they race). */
        rph_seal_wipe(&kp, sizeof kp);
        st->not_member++;
        return RPH_E_UNKNOWN_PEER;
    }
    if (slot != SEAL_NO_SLOT && memcmp(ts, s->slot[slot].last_ts, SN_TS_LEN) <= 0) {
        /* Not newer than what this node key sent before: an old handshake of its own. */
        rph_seal_wipe(&kp, sizeof kp);
        rph_seal_wipe(pe, sizeof *pe);
        st->replayed++;
        return RPH_E_REPLAY;
    }
    rph_noise_wipe(&pe->ans.hs);
    pe->finished = true;
    pe->kp = kp;
    rph_seal_wipe(&kp, sizeof kp);
    memcpy(pe->rs, rs, 32);
    memcpy(pe->ts, ts, SN_TS_LEN);
    memcpy(pe->finish_tag, tag, 16);
    ev->what = SEAL_ADOPT;
    ev->slot = slot;
    ev->pending = (size_t)(pe - s->pending);
    ev->newest = true;
    memcpy(ev->node_pk, rs, 32);
    return 0;
}

/* The initiator's next timestamp: the wall clock, but always past the last one. */
static void next_ts(struct seal *s, uint64_t now, uint8_t ts[SN_TS_LEN])
{
    int64_t off = s->cfg.wall_offset_ms ? *s->cfg.wall_offset_ms : 0;
    sn_tai64n(ts, now + (uint64_t)off);
    if (memcmp(ts, s->last_ts, SN_TS_LEN) <= 0) {
        memcpy(ts, s->last_ts, SN_TS_LEN);
        for (int k = SN_TS_LEN - 1; k >= 0 && ++ts[k] == 0; k--)
            ;
    }
    memcpy(s->last_ts, ts, SN_TS_LEN);
}

/* The initiator's slot of an answer to our init: its index names it. NULL if none waits. */
static struct seal_slot *init_slot(struct seal *s, uint32_t receiver, size_t *slot)
{
    size_t i = receiver & CODE_MASK;
    if (!s->cfg.initiator || i >= s->cfg.slots) return NULL;
    struct seal_slot *sl = &s->slot[i];
    if (sl->ini.phase != SN_INIT || receiver != sl->ini.index) return NULL;
    *slot = i;
    return sl;
}

/* The initiator's side: the response to our init gives the keys, which wait as next until the
 * responder's first packet under them. */
static int on_resp(struct seal *s, const struct rph_msg *m, uint64_t now, struct seal_event *ev)
{
    struct rph_peer_stats *st = s->cfg.stats;
    size_t slot;
    struct seal_slot *sl = init_slot(s, m->hs.receiver, &slot);
    if (!sl) {
        st->unexpected++;
        return RPH_E_UNEXPECTED;
    }
    uint8_t ts[SN_TS_LEN], rs[32];
    struct rph_keypair kp;
    next_ts(s, now, ts);
    int e = sn_complete(&sl->ini, &s->proto, m, ts, now, s->cfg.retry_ms, &kp, rs);
    if (e < 0) {
        count_refusal(s, e);
        return e;
    }
    if (sl->member && memcmp(rs, sl->node_pk, 32) != 0) {
        /* Whoever answered at a member's endpoint is not the member introduced there. */
        rph_seal_wipe(&kp, sizeof kp);
        st->not_member++;
        return RPH_E_UNKNOWN_PEER;
    }
    rph_seal_wipe(&sl->keys.kp[KP_NEXT], sizeof sl->keys.kp[KP_NEXT]);
    sl->keys.kp[KP_NEXT] = kp;
    rph_seal_wipe(&kp, sizeof kp);
    memcpy(sl->next_pk, rs, 32);
    ev->what = SEAL_REPLY;
    ev->slot = slot;
    ev->reply = ini_dgram(sl);
    return 0;
}

static int on_cookie(struct seal *s, const struct rph_msg *m, uint64_t now, struct seal_event *ev)
{
    size_t slot;
    struct seal_slot *sl = init_slot(s, m->hs.receiver, &slot);
    if (!sl) {
        s->cfg.stats->unexpected++;
        return RPH_E_UNEXPECTED;
    }
    int e = sn_take_cookie(&sl->ini, &s->proto, m, now);
    if (e < 0) {
        if (e == RPH_E_UNEXPECTED)
            s->cfg.stats->unexpected++;
        else
            s->cfg.stats->auth_failed++;
        return e;
    }
    /* The same init again, now with mac2: the responder spends its DH on it. */
    ev->what = SEAL_REPLY;
    ev->slot = slot;
    ev->reply = ini_dgram(sl);
    return 0;
}

int seal_handshake(struct seal *s, const struct rph_msg *m, const uint8_t *raw,
                   const struct rph_addr *from, size_t at_from, uint64_t now, struct seal_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->slot = SEAL_NO_SLOT;
    switch (m->type) {
    case RPH_HANDSHAKE_INIT:
        return on_init(s, m, raw, from, at_from, now, ev);
    case RPH_HANDSHAKE_RESP:
        return on_resp(s, m, now, ev);
    case RPH_HANDSHAKE_FINISH:
        if (!responds(s)) break;
        return on_finish(s, m, raw, now, ev);
    case RPH_COOKIE_REPLY:
        return on_cookie(s, m, now, ev);
    default:
        break;
    }
    s->cfg.stats->unexpected++;
    return RPH_E_UNEXPECTED;
}

static int open_counted(struct seal *s, struct rph_keypair *kp, uint8_t *raw,
                        const struct rph_msg *m, struct seal_event *ev)
{
    int e = rph_transport_open(kp, raw, m, &ev->plain, &ev->plain_len);
    if (e == RPH_E_REPLAY)
        s->cfg.stats->replayed++;
    else if (e < 0)
        s->cfg.stats->auth_failed++;
    return e;
}

int seal_open(struct seal *s, const struct rph_msg *m, uint8_t *raw, struct seal_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->slot = SEAL_NO_SLOT;
    uint32_t code = m->tr.receiver & CODE_MASK;
    if (code >= IDX_PENDING_BASE) {
        /* Keys made by a finished handshake live in the slot they were adopted into. */
        size_t i = code - IDX_PENDING_BASE;
        struct seal_pending *pe = i < SEAL_PENDING ? &s->pending[i] : NULL;
        if (!pe || !pe->fwd || pe->fwd_index != m->tr.receiver) {
            s->cfg.stats->no_key++;
            return RPH_E_NOKEY;
        }
        code = (uint32_t)pe->fwd_slot;
    }
    struct seal_slot *sl = code < s->cfg.slots ? &s->slot[code] : NULL;
    int k = sl ? keyring_find(&sl->keys, m->tr.receiver) : -1;
    if (k < 0 && sl) {
        /* Keys whose index guessed another slot than their node key's (rare: a roam). */
        struct seal_pending *pe = pending_of(s, m->tr.receiver);
        if (pe && pe->fwd) {
            code = (uint32_t)pe->fwd_slot;
            sl = &s->slot[code];
            k = keyring_find(&sl->keys, m->tr.receiver);
        }
    }
    if (k < 0) {
        s->cfg.stats->no_key++;
        return RPH_E_NOKEY;
    }
    int e = open_counted(s, &sl->keys.kp[k], raw, m, ev);
    if (e < 0) return e;
    ev->slot = code;
    /* NAT rebinding and roaming follow the newest authenticated packet only. */
    ev->newest = sl->keys.kp[k].replay.top == m->tr.counter + 1;
    ev->what = SEAL_DATA;
    if (k == KP_NEXT) {
        /* Initiator: the responder has our finish; these keys are current from now on. */
        sl->next_rekey_ms = sl->keys.kp[KP_NEXT].created_ms + s->cfg.rekey_ms;
        keyring_install(&sl->keys, &sl->keys.kp[KP_NEXT]);
        sn_done(&sl->ini);
        memcpy(sl->node_pk, sl->next_pk, 32);
        sl->has_pk = true;
        s->cfg.stats->handshakes_done++;
        memcpy(ev->node_pk, sl->node_pk, 32);
        ev->what = SEAL_ESTABLISHED;
    }
    return 0;
}

int seal_adopt(struct seal *s, const struct seal_event *ev, size_t slot)
{
    struct seal_pending *pe = &s->pending[ev->pending];
    if (slot == SEAL_NO_SLOT) {
        rph_seal_wipe(pe, sizeof *pe);
        return RPH_E_FULL;
    }
    struct seal_slot *sl = &s->slot[slot];
    if (sl->has_pk && memcmp(sl->node_pk, pe->rs, 32) != 0) {
        /* Another node's slot; the peer never gives one, but keys stay with their node key. */
        rph_seal_wipe(pe, sizeof *pe);
        return RPH_E_INVALID;
    }
    uint32_t index = pe->kp.local_index;
    uint64_t created = pe->kp.created_ms;
    keyring_install(&sl->keys, &pe->kp);
    memcpy(sl->node_pk, pe->rs, 32);
    sl->has_pk = true;
    memcpy(sl->last_ts, pe->ts, SN_TS_LEN);
    sl->finish_index = index;
    memcpy(sl->finish_tag, pe->finish_tag, 16);
    rph_seal_wipe(pe, sizeof *pe);
    if ((index & CODE_MASK) != slot) {
        pe->fwd = true;
        pe->fwd_index = index;
        pe->fwd_slot = slot;
        pe->created_ms = created;
    }
    s->cfg.stats->handshakes_done++;
    return 0;
}
