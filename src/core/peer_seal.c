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
#include "seal_handshake.h"
#include "seal_keyring.h"

/* Responder handshakes waiting for their first transport packet (key confirmation). */
#define SEAL_PENDING 16
/* Local index = random high bits | a 12-bit code saying where its keypair lives. */
#define IDX_CODE_BITS 12
#define IDX_PENDING_BASE 4000u
#define CODE_MASK ((1u << IDX_CODE_BITS) - 1)
#define JOIN_SEEN 64

_Static_assert(SEAL_MAX_SLOTS <= IDX_PENDING_BASE, "slot codes must stay below pending codes");
_Static_assert(IDX_PENDING_BASE + SEAL_PENDING <= (1u << IDX_CODE_BITS), "codes fit the bits");

struct seal_slot {
    struct keyring keys;
    struct hs_initiator ini; /* initiator: the handshake in flight */
    struct hs_answer ans;    /* responder: the answer to the last init */
    uint8_t next_id[8];      /* sender_id of the init that made keys.kp[KP_NEXT] */
    uint8_t id[8];           /* the initiator whose keys are current (found again on roaming) */
    bool has_id;
    uint64_t next_rekey_ms;
};

/* Keys of an init from a peer with no slot: it gets one once a packet proves them. */
struct seal_pending {
    bool used;
    struct rph_addr addr;
    uint8_t sender_id[8];
    struct rph_keypair kp;
    struct hs_answer ans;
    uint64_t created_ms;
    /* After adoption the initiator still addresses these keys by their waiting index until
     * its next rekey: the entry then points at the slot that holds them. */
    bool fwd;
    uint32_t fwd_index;
    size_t fwd_slot;
};

struct seal {
    struct seal_config cfg;
    uint8_t sender_id[8];
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
    if (cfg->slots > SEAL_MAX_SLOTS) {
        *err = -EINVAL;
        return NULL;
    }
    struct seal *s = calloc(1, seal_size(cfg->slots));
    if (!s) {
        *err = -ENOMEM;
        return NULL;
    }
    s->cfg = *cfg;
    if (getrandom(s->sender_id, sizeof s->sender_id, 0) != sizeof s->sender_id) {
        free(s);
        *err = -EIO;
        return NULL;
    }
    return s;
}

void seal_free(struct seal *s)
{
    if (!s) return;
    rph_seal_wipe(s, seal_size(s->cfg.slots));
    free(s);
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

static struct seal_dgram init_dgram(const struct seal_slot *sl)
{
    return dgram(sl->ini.init, RPH_HS_INIT_LEN);
}

struct seal_dgram seal_start(struct seal *s, size_t slot, uint64_t now)
{
    struct seal_slot *sl = &s->slot[slot];
    if (hs_initiate(&sl->ini, s->cfg.keys, new_index((uint32_t)slot), s->sender_id, now,
                    s->cfg.retry_ms) < 0)
        return dgram(NULL, 0);
    s->cfg.stats->handshakes_sent++;
    return init_dgram(sl);
}

struct seal_dgram seal_punched(struct seal *s, size_t slot)
{
    struct seal_slot *sl = &s->slot[slot];
    return hs_resend_punched(&sl->ini) ? init_dgram(sl) : dgram(NULL, 0);
}

struct seal_dgram seal_tick(struct seal *s, size_t slot, bool up, uint64_t now)
{
    struct seal_slot *sl = &s->slot[slot];
    keyring_expire(&sl->keys, now, key_lifetime(s));
    if (!s->cfg.initiator) return dgram(NULL, 0);
    if (hs_resend_due(&sl->ini, now, s->cfg.retry_ms)) return init_dgram(sl);
    /* Rekey on time, or early when the keys have sealed too much. */
    if (up && !sl->ini.pending && (now >= sl->next_rekey_ms || keyring_worn(&sl->keys)))
        return seal_start(s, slot, now);
    return dgram(NULL, 0);
}

uint64_t seal_deadline(const struct seal *s, size_t slot, bool up)
{
    const struct seal_slot *sl = &s->slot[slot];
    uint64_t d = hs_deadline(&sl->ini);
    if (s->cfg.initiator && up && !sl->ini.pending && sl->next_rekey_ms < d) d = sl->next_rekey_ms;
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

static size_t find_by_id(const struct seal *s, const uint8_t id[8])
{
    for (size_t i = 0; i < s->cfg.slots; i++)
        if (s->slot[i].has_id && memcmp(s->slot[i].id, id, 8) == 0) return i;
    return SEAL_NO_SLOT;
}

/* The responder's side of an init: the answer to send back, and keys that wait (in the slot
 * as next, or without a slot) until the initiator's first packet under them arrives. */
static int on_init(struct seal *s, const struct rph_msg *m, const uint8_t *raw,
                   const struct rph_addr *from, size_t at_from, uint64_t now, struct seal_event *ev)
{
    struct rph_peer_stats *st = s->cfg.stats;
    if (s->cfg.initiator) {
        st->unexpected++;
        return RPH_E_UNEXPECTED;
    }
    if (hs_verify(s->cfg.keys, raw) < 0) {
        st->auth_failed++;
        return RPH_E_AUTH;
    }
    const uint8_t *id = hs_init_id(m);
    size_t slot = at_from != SEAL_NO_SLOT ? at_from : find_by_id(s, id);
    ev->what = SEAL_REPLY;
    if (slot != SEAL_NO_SLOT) {
        struct seal_slot *sl = &s->slot[slot];
        if (!hs_answered(&sl->ans, raw)) {
            int e = hs_answer(&sl->ans, s->cfg.keys, raw, m, new_index((uint32_t)slot), now,
                              &sl->keys.kp[KP_NEXT]);
            if (e < 0) {
                st->auth_failed++;
                return e;
            }
            memcpy(sl->next_id, id, 8);
        }
        ev->reply = dgram(sl->ans.resp, RPH_HS_RESP_LEN);
        return 0;
    }
    /* A peer we have no slot for: keys wait in a small table until it proves them. */
    struct seal_pending *pe = NULL, *oldest = &s->pending[0];
    for (size_t i = 0; i < SEAL_PENDING && !pe; i++) {
        struct seal_pending *c = &s->pending[i];
        if (c->used && rph_addr_equal(&c->addr, from)) pe = c;
        /* Reuse a free entry first, a forwarding one only when all are taken. */
        bool c_free = !c->used && !c->fwd, o_free = !oldest->used && !oldest->fwd;
        if (o_free) continue;
        if (c_free || c->created_ms < oldest->created_ms) oldest = c;
    }
    if (pe && hs_answered(&pe->ans, raw)) {
        ev->reply = dgram(pe->ans.resp, RPH_HS_RESP_LEN);
        return 0;
    }
    if (!pe) pe = oldest;
    uint32_t code = IDX_PENDING_BASE + (uint32_t)(pe - s->pending);
    struct seal_pending fresh = {.used = true, .addr = *from, .created_ms = now};
    memcpy(fresh.sender_id, id, 8);
    int e = hs_answer(&fresh.ans, s->cfg.keys, raw, m, new_index(code), now, &fresh.kp);
    if (e < 0) {
        st->auth_failed++;
        return e;
    }
    *pe = fresh;
    rph_seal_wipe(&fresh, sizeof fresh);
    ev->reply = dgram(pe->ans.resp, RPH_HS_RESP_LEN);
    return 0;
}

/* The initiator's side: the response to our init gives the keys (the client has one slot). */
static int on_resp(struct seal *s, const struct rph_msg *m, const uint8_t *raw, uint64_t now,
                   struct seal_event *ev)
{
    struct rph_peer_stats *st = s->cfg.stats;
    struct seal_slot *sl = &s->slot[0];
    if (!s->cfg.initiator || s->cfg.slots == 0 || !sl->ini.pending) {
        st->unexpected++;
        return RPH_E_UNEXPECTED;
    }
    struct rph_keypair kp;
    int e = hs_complete(&sl->ini, s->cfg.keys, raw, m, now, &kp);
    if (e < 0) {
        st->auth_failed++;
        return e;
    }
    keyring_install(&sl->keys, &kp);
    sl->next_rekey_ms = now + s->cfg.rekey_ms;
    st->handshakes_done++;
    ev->what = SEAL_ESTABLISHED;
    ev->slot = 0;
    ev->newest = true;
    return 0;
}

int seal_handshake(struct seal *s, const struct rph_msg *m, const uint8_t *raw,
                   const struct rph_addr *from, size_t at_from, uint64_t now, struct seal_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->slot = SEAL_NO_SLOT;
    if (m->type == RPH_HANDSHAKE_INIT) return on_init(s, m, raw, from, at_from, now, ev);
    if (m->type == RPH_HANDSHAKE_RESP) return on_resp(s, m, raw, now, ev);
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
        size_t i = code - IDX_PENDING_BASE;
        struct seal_pending *pe = i < SEAL_PENDING ? &s->pending[i] : NULL;
        if (pe && !pe->used && pe->fwd && pe->fwd_index == m->tr.receiver) {
            code = (uint32_t)pe->fwd_slot; /* adopted: the keys live in that slot now */
            goto in_slot;
        }
        if (!pe || !pe->used || pe->kp.local_index != m->tr.receiver) {
            s->cfg.stats->no_key++;
            return RPH_E_NOKEY;
        }
        int e = open_counted(s, &pe->kp, raw, m, ev);
        if (e < 0) return e;
        /* Confirmed: the same initiator from a new address (roaming) keeps its slot. */
        ev->what = SEAL_ADOPT;
        ev->pending = i;
        ev->slot = find_by_id(s, pe->sender_id);
        ev->newest = true;
        memcpy(ev->id, pe->sender_id, 8);
        return 0;
    }
in_slot:;
    struct seal_slot *sl = code < s->cfg.slots ? &s->slot[code] : NULL;
    int k = sl ? keyring_find(&sl->keys, m->tr.receiver) : -1;
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
        keyring_install(&sl->keys, &sl->keys.kp[KP_NEXT]);
        memcpy(sl->id, sl->next_id, 8);
        sl->has_id = true;
        s->cfg.stats->handshakes_done++;
        memcpy(ev->id, sl->id, 8);
        ev->what = SEAL_CONFIRMED;
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
    uint32_t index = pe->kp.local_index;
    uint64_t created = pe->created_ms;
    keyring_install(&sl->keys, &pe->kp);
    memcpy(sl->id, pe->sender_id, 8);
    sl->has_id = true;
    rph_seal_wipe(pe, sizeof *pe);
    pe->fwd = true;
    pe->fwd_index = index;
    pe->fwd_slot = slot;
    pe->created_ms = created;
    s->cfg.stats->handshakes_done++;
    return 0;
}
