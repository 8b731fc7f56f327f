// SPDX-License-Identifier: MIT
// Sealed mode of the peer: the client initiates an authenticated handshake toward the server
// (re-keying every rekey_ms), both sides send AEAD transport packets (empty ones as
// keepalives), and only authenticated packets make a peer up, deliver data or move an endpoint.
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "peer_priv.h"
#include "ruphin/error.h"

#define CODE_MASK ((1u << IDX_CODE_BITS) - 1)

static uint32_t new_index(uint32_t code)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, 0) != sizeof r) r = (uint32_t)(uintptr_t)&r;
    return (r & ~CODE_MASK) | code;
}

static size_t slot_of(const struct rph_peer *p, const struct rph_remote *r)
{
    return (size_t)(r - p->remotes);
}

/* Keys are retired well after the client's rekey: a stuck peer cannot use them forever. */
static uint64_t key_lifetime(const struct rph_peer *p)
{
    return 2ull * p->cfg.rekey_ms + 60000u;
}

int seal_setup(struct rph_peer *p)
{
    p->sr = calloc(p->n_slots, sizeof *p->sr);
    if (!p->sr) return -12;
    if (getrandom(p->sender_id, sizeof p->sender_id, 0) != sizeof p->sender_id) return -5;
    return 0;
}

void seal_forget(struct rph_peer *p, struct rph_remote *r)
{
    rph_seal_wipe(&p->sr[slot_of(p, r)], sizeof p->sr[0]);
}

static void send_keepalive(struct rph_peer *p, struct rph_remote *r)
{
    struct rph_keypair *kp = &p->sr[slot_of(p, r)].kp[KP_CUR];
    if (!kp->valid) return;
    int n = rph_transport_seal(kp, p->txbuf, 0);
    if (n > 0) peer_send_raw(p, &r->addr, p->txbuf, (size_t)n);
}

void seal_start(struct rph_peer *p, struct rph_remote *r, uint64_t now)
{
    struct seal_remote *sr = &p->sr[slot_of(p, r)];
    if (rph_hs_init_encode(&p->cfg.seal, new_index((uint32_t)slot_of(p, r)), p->sender_id, sr->e_sk,
                           sr->init_raw) < 0)
        return;
    sr->init_pending = true;
    sr->early_sent = false;
    sr->next_init_ms = now + p->cfg.retry_ms;
    p->stats.handshakes_sent++;
    peer_send_raw(p, &r->addr, sr->init_raw, RPH_HS_INIT_LEN);
}

/* The client's SealedJoin inside a SealedPeerInfo: signed by our session's key, fresh, new. */
int seal_check_join(struct rph_peer *p, const struct rph_msg *m, uint64_t now)
{
    struct rph_msg j;
    struct rph_session s;
    if (rph_wire_decode(m->data, RPH_OWNER_LEN, &j) < 0 || j.type != RPH_SEALED_JOIN) {
        p->stats.auth_failed++;
        return RPH_E_AUTH;
    }
    if (!rph_owner_fresh(j.owner.ts_ms, now, p->wall_offset_ms, 300000)) {
        p->stats.replayed++;
        return RPH_E_REPLAY;
    }
    if (rph_owner_verify(m->data, &j, &s) < 0 ||
        !rph_session_equal(&s, &p->cfg.seal.wire_session)) {
        p->stats.auth_failed++;
        return RPH_E_AUTH;
    }
    uint64_t tag;
    memcpy(&tag, j.owner.sig, sizeof tag);
    for (size_t i = 0; i < sizeof p->join_seen / sizeof p->join_seen[0]; i++) {
        if (p->join_seen[i] == tag) {
            p->stats.replayed++;
            return RPH_E_REPLAY;
        }
    }
    p->join_seen[p->join_next] = tag;
    p->join_next = (p->join_next + 1) % (sizeof p->join_seen / sizeof p->join_seen[0]);
    return 0;
}

void seal_punched(struct rph_peer *p, struct rph_remote *r, uint64_t now)
{
    struct seal_remote *sr = &p->sr[slot_of(p, r)];
    /* One early resend per retry period at most, whoever sends the hellos. */
    if (!sr->init_pending || sr->early_sent) return;
    sr->early_sent = true;
    peer_send_raw(p, &r->addr, sr->init_raw, RPH_HS_INIT_LEN);
    (void)now;
}

void seal_tick_remote(struct rph_peer *p, struct rph_remote *r, uint64_t now)
{
    struct seal_remote *sr = &p->sr[slot_of(p, r)];
    for (int k = 0; k < 3; k++)
        if (sr->kp[k].valid && now - sr->kp[k].created_ms >= key_lifetime(p))
            rph_seal_wipe(&sr->kp[k], sizeof sr->kp[k]);
    if (p->cfg.role == RPH_ROLE_CLIENT) {
        if (sr->init_pending && now >= sr->next_init_ms) {
            /* The same init again: a duplicate gets the same answer from the server. */
            peer_send_raw(p, &r->addr, sr->init_raw, RPH_HS_INIT_LEN);
            sr->next_init_ms = now + p->cfg.retry_ms;
            sr->early_sent = false;
        }
        /* Rekey on time, or early after 2^48 packets under one key (far below nonce reuse). */
        if (r->up && !sr->init_pending &&
            (now >= sr->next_rekey_ms || sr->kp[KP_CUR].send_counter >= (1ull << 48)))
            seal_start(p, r, now);
    } else if (!r->up && now >= r->next_hello_ms) {
        static const uint8_t hello[4] = {0, 4, 0, RPH_HELLO_REQ};
        p->stats.hellos_sent++;
        peer_send_raw(p, &r->addr, hello, sizeof hello); /* opens our NAT toward the client */
        r->next_hello_ms = now + p->cfg.retry_ms;
        return;
    }
    if (r->up && now >= r->next_hello_ms) {
        send_keepalive(p, r);
        r->next_hello_ms = now + p->cfg.keepalive_ms;
    }
}

uint64_t seal_deadline(const struct rph_peer *p, const struct rph_remote *r)
{
    const struct seal_remote *sr = &p->sr[r - p->remotes];
    uint64_t d = r->next_hello_ms;
    if (sr->init_pending && sr->next_init_ms < d) d = sr->next_init_ms;
    if (p->cfg.role == RPH_ROLE_CLIENT && r->up && !sr->init_pending && sr->next_rekey_ms < d)
        d = sr->next_rekey_ms;
    return d;
}

void seal_expire_pending(struct rph_peer *p, uint64_t now)
{
    for (size_t i = 0; i < SEAL_PENDING; i++)
        if (p->pending[i].used && now - p->pending[i].created_ms >= HANDSHAKE_WINDOW_MS)
            rph_seal_wipe(&p->pending[i], sizeof p->pending[i]);
}

int seal_frame(struct rph_peer *p, struct rph_remote *r, uint8_t *buf, size_t len, uint8_t **dgram)
{
    struct rph_keypair *kp = &p->sr[slot_of(p, r)].kp[KP_CUR];
    int n = rph_transport_seal(kp, buf, len);
    if (n < 0) return n;
    *dgram = buf;
    return n;
}

static struct rph_remote *find_by_id(struct rph_peer *p, const uint8_t id[8])
{
    for (size_t i = 0; i < p->n_slots; i++) {
        struct rph_remote *r = &p->remotes[i];
        if (r->in_use && r->has_id && memcmp(r->sender_id, id, 8) == 0) return r;
    }
    return NULL;
}

static void install(struct seal_remote *sr, struct rph_keypair *kp)
{
    sr->kp[KP_PREV] = sr->kp[KP_CUR];
    sr->kp[KP_CUR] = *kp;
    sr->kp[KP_CUR].confirmed = true;
    rph_seal_wipe(kp, sizeof *kp);
}

static void move_endpoint(struct rph_peer *p, struct rph_remote *r, const struct rph_addr *from)
{
    if (rph_addr_equal(&r->addr, from)) return;
    r->addr = *from;
    p->stats.roamed++;
}

static int on_init(struct rph_peer *p, const struct rph_msg *m, const uint8_t *raw,
                   const struct rph_addr *from, uint64_t now)
{
    if (p->cfg.role != RPH_ROLE_SERVER) {
        p->stats.unexpected++;
        return RPH_E_UNEXPECTED;
    }
    if (rph_hs_init_verify(&p->cfg.seal, raw) < 0) {
        p->stats.auth_failed++;
        return RPH_E_AUTH;
    }
    const uint8_t *mac = raw + RPH_HS_INIT_LEN - RPH_MAC_LEN;
    struct rph_remote *r = rph_peer_find(p, from);
    if (!r) r = find_by_id(p, m->hs.sender_id);
    if (r) {
        struct seal_remote *sr = &p->sr[slot_of(p, r)];
        if (!(sr->resp_valid && memcmp(sr->resp_to_mac, mac, RPH_MAC_LEN) == 0)) {
            int e = rph_hs_respond(&p->cfg.seal, raw, m, new_index((uint32_t)slot_of(p, r)), now,
                                   sr->resp_raw, &sr->kp[KP_NEXT]);
            if (e < 0) {
                p->stats.auth_failed++;
                return e;
            }
            memcpy(sr->resp_to_mac, mac, RPH_MAC_LEN);
            memcpy(sr->next_id, m->hs.sender_id, 8);
            sr->resp_valid = true;
        }
        peer_send_raw(p, from, sr->resp_raw, RPH_HS_RESP_LEN);
        return 0;
    }
    /* A peer we have no slot for: keys wait in a small table until it proves them. */
    struct seal_pending *pe = NULL, *oldest = &p->pending[0];
    for (size_t i = 0; i < SEAL_PENDING && !pe; i++) {
        struct seal_pending *c = &p->pending[i];
        if (c->used && rph_addr_equal(&c->addr, from)) pe = c;
        if (c->created_ms < oldest->created_ms || !c->used) oldest = !oldest->used ? oldest : c;
    }
    if (pe && memcmp(pe->init_mac, mac, RPH_MAC_LEN) == 0) {
        peer_send_raw(p, from, pe->resp_raw, RPH_HS_RESP_LEN);
        return 0;
    }
    if (!pe) pe = oldest;
    uint32_t code = IDX_PENDING_BASE + (uint32_t)(pe - p->pending);
    struct seal_pending fresh = {.used = true, .addr = *from, .created_ms = now};
    memcpy(fresh.sender_id, m->hs.sender_id, 8);
    memcpy(fresh.init_mac, mac, RPH_MAC_LEN);
    int e = rph_hs_respond(&p->cfg.seal, raw, m, new_index(code), now, fresh.resp_raw, &fresh.kp);
    if (e < 0) {
        p->stats.auth_failed++;
        return e;
    }
    *pe = fresh;
    rph_seal_wipe(&fresh, sizeof fresh);
    peer_send_raw(p, from, pe->resp_raw, RPH_HS_RESP_LEN);
    return 0;
}

static int on_resp(struct rph_peer *p, const struct rph_msg *m, const uint8_t *raw,
                   const struct rph_addr *from, uint64_t now)
{
    struct rph_remote *r = &p->remotes[0];
    struct seal_remote *sr = &p->sr[0];
    if (p->cfg.role != RPH_ROLE_CLIENT || !r->in_use || !sr->init_pending) {
        p->stats.unexpected++;
        return RPH_E_UNEXPECTED;
    }
    struct rph_keypair kp;
    int e = rph_hs_complete(&p->cfg.seal, sr->init_raw, sr->e_sk, raw, m, now, &kp);
    if (e < 0) {
        p->stats.auth_failed++;
        return e;
    }
    sr->init_pending = false;
    rph_seal_wipe(sr->e_sk, sizeof sr->e_sk);
    install(sr, &kp);
    sr->next_rekey_ms = now + p->cfg.rekey_ms;
    p->stats.handshakes_done++;
    move_endpoint(p, r, from);
    peer_remote_alive(p, r, true, now);
    /* Key confirmation: the server switches to these keys when this arrives. */
    send_keepalive(p, r);
    r->next_hello_ms = now + p->cfg.keepalive_ms;
    return 0;
}

static int open_counted(struct rph_peer *p, struct rph_keypair *kp, uint8_t *raw,
                        const struct rph_msg *m, uint8_t **pt, size_t *pl)
{
    int e = rph_transport_open(kp, raw, m, pt, pl);
    if (e == RPH_E_REPLAY)
        p->stats.replayed++;
    else if (e < 0)
        p->stats.auth_failed++;
    return e;
}

static int on_transport(struct rph_peer *p, const struct rph_msg *m, uint8_t *raw,
                        const struct rph_addr *from, uint64_t now)
{
    uint32_t code = m->tr.receiver & CODE_MASK;
    uint8_t *pt;
    size_t pl;
    struct rph_remote *r;
    if (code >= IDX_PENDING_BASE) {
        size_t i = code - IDX_PENDING_BASE;
        struct seal_pending *pe = i < SEAL_PENDING ? &p->pending[i] : NULL;
        if (!pe || !pe->used || pe->kp.local_index != m->tr.receiver) {
            p->stats.no_key++;
            return RPH_E_NOKEY;
        }
        int e = open_counted(p, &pe->kp, raw, m, &pt, &pl);
        if (e < 0) return e;
        /* Confirmed: the same peer from a new address (roaming) keeps its slot. */
        r = find_by_id(p, pe->sender_id);
        if (!r) r = rph_peer_find(p, from);
        if (!r) r = peer_alloc_remote(p, from, now);
        if (!r) {
            rph_seal_wipe(pe, sizeof *pe);
            return RPH_E_FULL;
        }
        install(&p->sr[slot_of(p, r)], &pe->kp);
        memcpy(r->sender_id, pe->sender_id, 8);
        r->has_id = true;
        rph_seal_wipe(pe, sizeof *pe);
        p->stats.handshakes_done++;
        move_endpoint(p, r, from);
        peer_remote_alive(p, r, true, now);
    } else {
        r = code < p->n_slots ? &p->remotes[code] : NULL;
        struct seal_remote *sr = r && r->in_use ? &p->sr[code] : NULL;
        int k = -1;
        for (int j = 0; sr && j < 3 && k < 0; j++)
            if (sr->kp[j].valid && sr->kp[j].local_index == m->tr.receiver) k = j;
        if (k < 0) {
            p->stats.no_key++;
            return RPH_E_NOKEY;
        }
        int e = open_counted(p, &sr->kp[k], raw, m, &pt, &pl);
        if (e < 0) return e;
        bool newest = sr->kp[k].replay.top == m->tr.counter + 1;
        if (k == KP_NEXT) {
            install(sr, &sr->kp[KP_NEXT]);
            memcpy(r->sender_id, sr->next_id, 8);
            r->has_id = true;
            r->last_hello_ms = now;
            p->stats.handshakes_done++;
            peer_remote_alive(p, r, true, now);
        }
        /* NAT rebinding and roaming follow the newest authenticated packet only. */
        if (newest) move_endpoint(p, r, from);
        peer_remote_alive(p, r, false, now);
    }
    if (pl > 0) peer_deliver(p, r, pt, pl);
    return 0;
}

int seal_input(struct rph_peer *p, const struct rph_msg *m, uint8_t *buf, size_t len,
               const struct rph_addr *from, uint64_t now)
{
    (void)len;
    switch (m->type) {
    case RPH_HANDSHAKE_INIT:
        return on_init(p, m, buf, from, now);
    case RPH_HANDSHAKE_RESP:
        return on_resp(p, m, buf, from, now);
    default:
        return on_transport(p, m, buf, from, now);
    }
}
