// SPDX-License-Identifier: MIT
// Names and automatic addresses at runtime (naming.h): the server decides, remembers per node
// key and tells; the client believes and configures its device.
#include "naming.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addrpool.h"
#include "lan_dns.h"
#include "log.h"
#include "name.h"
#include "nodekey.h"
#include "ruphin/clock.h"
#include "ruphin/ev.h"
#include "tunnel_priv.h"
#include "verdict.h"

/* Member-table errors (a full table, an exhausted prefix, a failed save) repeat with every
 * name message: one line per this. */
#define POOL_WARN_EVERY_MS 10000u
/* Requests for an address (one per keepalive) before a client says none came. */
#define NAMING_ASKS_WARN 4u

int naming_init(struct tunnel *t, struct errmsg *err)
{
    if (t->cfg.role != RPH_ROLE_SERVER || !t->cfg.seal || !t->cfg.state_dir[0]) return 0;
    pool_init(&t->pool, &t->pol.self);
    int rc = pool_load(&t->pool, t->cfg.state_dir, err);
    if (rc < 0) return rc;
    t->pool_on = true;
    if (t->pool.n)
        log_info("member table %s/" ADDRPOOL_FILE ": %zu node%s remembered", t->cfg.state_dir,
                 t->pool.n, t->pool.n == 1 ? "" : "s");
    return 0;
}

void naming_free(struct tunnel *t)
{
    pool_free(&t->pool);
    free(t->listed);
    t->listed = NULL;
}

const char *naming_self(const struct tunnel *t)
{
    return t->granted[0] ? t->granted : t->cfg.name;
}

static void send_name(struct tunnel *t, struct rph_remote *r, uint8_t flags, const char *name)
{
    struct name_msg m = {.flags = flags};
    snprintf(m.name, sizeof m.name, "%s", name);
    uint8_t b[RPH_FRAME_HEADROOM + NAME_MAX_LEN + RPH_FRAME_TAILROOM];
    size_t n = name_msg_encode(&m, b + RPH_FRAME_HEADROOM);
    rph_ev_peer_send_frame(t->ep, r, b, n);
}

void naming_send(struct tunnel *t, struct rph_remote *r)
{
    if (t->cfg.role != RPH_ROLE_CLIENT) return;
    send_name(t, r, t->cfg.addr_auto ? NAME_WANT_ADDRESS : 0, t->cfg.name);
    /* An older server drops the request without a word, one out of addresses answers none:
     * say so once (the count restarts with the next assignment), not every keepalive. */
    if (t->cfg.addr_auto && ++t->assign_asks == NAMING_ASKS_WARN)
        log_warn("the server answered none of %u requests for an overlay address: is it older "
                 "than this version (then give this client a fixed \"address\"), or out of "
                 "addresses (its log says so)? still asking",
                 t->assign_asks);
}

static bool same_node(const struct tpeer *a, const struct tpeer *b)
{
    return a->has_key && b->has_key && memcmp(a->node_pk, b->node_pk, 32) == 0;
}

struct taken_ctx {
    struct tunnel *t;
    const struct tpeer *p;
    const struct pool_entry *e;
};

/* A name is taken by the server, another live member (not this node's old session) or
 * another node the member table remembers. */
static bool name_taken(void *ctx, const char *name)
{
    const struct taken_ctx *c = ctx;
    struct tunnel *t = c->t;
    if (strcmp(name, t->cfg.name) == 0) return true;
    for (size_t i = 0; i < t->pol.n_peers; i++) {
        const struct tpeer *q = &t->pol.peers[i];
        if (q == c->p || !q->remote || !q->has_name || same_node(q, c->p)) continue;
        if (strcmp(q->name, name) == 0) return true;
    }
    if (t->pool_on)
        for (size_t i = 0; i < t->pool.n; i++) {
            const struct pool_entry *o = &t->pool.e[i];
            if (o != c->e && strcmp(o->name, name) == 0) return true;
        }
    return false;
}

/* Is the address used by a live member other than this node (a fixed one too)? */
static bool addr_busy(void *ctx, int fam, const uint8_t *addr)
{
    const struct taken_ctx *c = ctx;
    const struct tpeer *h = route_lookup(&c->t->pol.routes, fam, addr);
    return h && h != c->p && !same_node(h, c->p);
}

static bool pool_warn_due(struct tunnel *t)
{
    uint64_t now = rph_now_ms();
    if (t->pool_warn_ms && now - t->pool_warn_ms < POOL_WARN_EVERY_MS) return false;
    t->pool_warn_ms = now;
    return true;
}

static void send_assign(struct tunnel *t, struct tpeer *p, const struct pool_entry *e)
{
    struct announce a = {.has4 = true, .prefix4 = t->pol.self.prefix4};
    memcpy(a.addr4, e->addr4, 4);
    if (e->has6) {
        a.has6 = true;
        a.prefix6 = t->pol.self.prefix6;
        memcpy(a.addr6, e->addr6, 16);
    }
    uint8_t b[RPH_FRAME_HEADROOM + ASSIGN_LEN + RPH_FRAME_TAILROOM];
    size_t n = assign_encode(&a, b + RPH_FRAME_HEADROOM);
    rph_ev_peer_send_frame(t->ep, p->remote, b, n);
}

/* Server: q's entry (name, addresses, node key) to p; or that q left. */
static void send_entry(struct tunnel *t, struct tpeer *p, const struct tpeer *q, bool left)
{
    struct member_msg m;
    memset(&m, 0, sizeof m);
    if (q->announced && !left) m.addrs = q->ann;
    m.left = left;
    m.has_key = q->has_key;
    memcpy(m.pk, q->node_pk, 32);
    snprintf(m.name, sizeof m.name, "%s", q->name);
    uint8_t b[RPH_FRAME_HEADROOM + MEMBER_MAX_LEN + RPH_FRAME_TAILROOM];
    size_t n = member_msg_encode(&m, b + RPH_FRAME_HEADROOM);
    rph_ev_peer_send_frame(t->ep, p->remote, b, n);
}

/* Server: every other live member with a name, one entry each, to p (which speaks names):
 * repeated with each of p's name messages (every keepalive, sealed every minute), so the list
 * a client keeps is that fresh; a new or changed entry goes to everyone at once
 * (naming_member_changed). */
static void list_members(struct tunnel *t, struct tpeer *p)
{
    for (size_t i = 0; i < t->pol.n_peers; i++) {
        const struct tpeer *q = &t->pol.peers[i];
        if (q == p || !q->remote || !q->has_name) continue;
        send_entry(t, p, q, false);
    }
}

/* Server: q's entry (or that it left) to every other live client that speaks names. */
static void tell_others(struct tunnel *t, const struct tpeer *q, bool left)
{
    for (size_t i = 0; i < t->pol.n_peers; i++) {
        struct tpeer *p = &t->pol.peers[i];
        if (p == q || !p->remote || !p->has_name) continue;
        send_entry(t, p, q, left);
    }
}

void naming_member_changed(struct tunnel *t, const struct tpeer *q)
{
    if (t->cfg.role != RPH_ROLE_SERVER || !q->remote || !q->has_name) return;
    tell_others(t, q, false);
}

void naming_member_left(struct tunnel *t, const struct tpeer *q)
{
    if (t->cfg.role != RPH_ROLE_SERVER || !q->has_name) return;
    for (size_t i = 0; i < t->pol.n_peers; i++) {
        const struct tpeer *o = &t->pol.peers[i];
        /* A restart or a move: the node is up again from another endpoint, still listed. */
        if (o != q && o->remote && q->has_key && o->has_key &&
            memcmp(o->node_pk, q->node_pk, 32) == 0)
            return;
    }
    tell_others(t, q, true);
}

/* Server: a client said its name (and maybe asked for addresses). */
static void server_name(struct tunnel *t, struct tpeer *p, const struct name_msg *m)
{
    char ep[RPH_ADDR_STRLEN], k[NODEKEY_SHORT_LEN];
    rph_addr_format(&p->remote->addr, ep, sizeof ep);
    nodekey_short(p->has_key, p->node_pk, k);
    struct errmsg err;
    struct pool_entry *e = NULL;
    if (t->pool_on && p->has_key) {
        e = pool_entry(&t->pool, p->node_pk, &err);
        if (!e && pool_warn_due(t)) log_error("peer %s%s: %s", ep, k, err.msg);
    }
    struct taken_ctx c = {t, p, e};
    /* A name granted before (with its suffix) stays while the node asks for the same. */
    const char *had = e && e->name[0] ? e->name : p->has_name ? p->name : NULL;
    char granted[NAME_LABEL_MAX + 1];
    if (had && name_grants(had, m->name) && !name_taken(&c, had)) {
        snprintf(granted, sizeof granted, "%s", had);
    } else if (name_unique(m->name, name_taken, &c, granted) < 0) {
        if (pool_warn_due(t))
            log_error("peer %s%s asks for name \"%s\": it and 998 suffixes are taken", ep, k,
                      m->name);
        return;
    }
    bool dirty = false;
    bool renamed = !p->has_name || strcmp(p->name, granted) != 0;
    if (renamed) {
        if (strcmp(granted, m->name) != 0)
            log_warn("peer %s%s asks for name \"%s\", which another member has; it is \"%s\"", ep,
                     k, m->name, granted);
        else
            log_info("peer %s%s is member \"%s\"", ep, k, granted);
    }
    p->has_name = true;
    snprintf(p->name, sizeof p->name, "%s", granted);
    if (e && strcmp(e->name, granted) != 0) {
        snprintf(e->name, sizeof e->name, "%s", granted);
        dirty = true;
    }
    if (m->flags & NAME_WANT_ADDRESS) {
        if (!e) {
            /* Plaintext has no node keys to keep an address for (the client's config check
             * prevents this; a server that lost its table's memory says so). */
            if (pool_warn_due(t))
                log_error("peer %s%s \"%s\" asks for an automatic address, which this server "
                          "cannot give (%s)",
                          ep, k, granted,
                          !t->pool_on  ? "not sealed"
                          : p->has_key ? "member table"
                                       : "no node key");
        } else {
            int rc = pool_assign(&t->pool, e, addr_busy, &c, &err);
            if (rc < 0) {
                if (pool_warn_due(t))
                    log_error("peer %s%s \"%s\" asks for an automatic address: %s", ep, k, granted,
                              err.msg);
            } else {
                if (rc == 1) {
                    char a4[INET_ADDRSTRLEN], a6[INET6_ADDRSTRLEN] = "";
                    inet_ntop(AF_INET, e->addr4, a4, sizeof a4);
                    if (e->has6) inet_ntop(AF_INET6, e->addr6, a6, sizeof a6);
                    log_info("assigned %s%s%s to member \"%s\" (peer %s%s)", a4,
                             e->has6 ? " and " : "", a6, granted, ep, k);
                    dirty = true;
                }
                send_assign(t, p, e);
            }
        }
    }
    if (dirty && pool_save(&t->pool, t->cfg.state_dir, &err) < 0 && pool_warn_due(t))
        log_error("%s; the assignment holds until a restart", err.msg);
    send_name(t, p->remote, NAME_GRANTED, granted);
    send_name(t, p->remote, 0, t->cfg.name);
    list_members(t, p);
    if (renamed) naming_member_changed(t, p);
}

void naming_receive(struct tunnel *t, struct tpeer *p, const uint8_t *d, size_t n)
{
    struct name_msg m;
    if (name_msg_decode(d, n, &m) < 0) {
        t->drops.bad_control++;
        return;
    }
    if (t->cfg.role == RPH_ROLE_SERVER) {
        if (m.flags & NAME_GRANTED) {
            t->drops.bad_control++; /* a server grants names, it takes none */
            return;
        }
        server_name(t, p, &m);
        return;
    }
    if (m.flags & NAME_WANT_ADDRESS) {
        t->drops.bad_control++;
        return;
    }
    if (m.flags & NAME_GRANTED) {
        if (strcmp(t->granted, m.name) == 0) return;
        snprintf(t->granted, sizeof t->granted, "%s", m.name);
        if (strcmp(m.name, t->cfg.name) != 0)
            log_warn("the server named this member \"%s\": \"%s\" is taken by another member "
                     "(set another \"name\" to choose)",
                     m.name, t->cfg.name);
        else
            log_info("member name \"%s\" granted by the server", m.name);
        return;
    }
    if (p->has_name && strcmp(p->name, m.name) == 0) return;
    p->has_name = true;
    snprintf(p->name, sizeof p->name, "%s", m.name);
    char ep[RPH_ADDR_STRLEN];
    log_info("server %s is member \"%s\"", rph_addr_format(&p->remote->addr, ep, sizeof ep),
             m.name);
}

static int put_addresses(struct tunnel *t, const struct announce *old, const struct announce *a)
{
    struct errmsg err;
    /* Tests run the tunnel on a socketpair: no device to configure. */
    if (t->tun.ifindex <= 0) return 0;
    if (old->has4 && (memcmp(old->addr4, a->addr4, 4) || old->prefix4 != a->prefix4))
        tun_address(&t->tun, false, 4, old->addr4, old->prefix4, &err);
    if (old->has6 && (!a->has6 || memcmp(old->addr6, a->addr6, 16) || old->prefix6 != a->prefix6))
        tun_address(&t->tun, false, 6, old->addr6, old->prefix6, &err);
    int rc = tun_address(&t->tun, true, 4, a->addr4, a->prefix4, &err);
    if (rc == 0 && a->has6) rc = tun_address(&t->tun, true, 6, a->addr6, a->prefix6, &err);
    if (rc < 0 && rc != -EEXIST) {
        log_error("automatic address: %s; retrying with the server's next assignment", err.msg);
        return rc;
    }
    return 0;
}

void naming_assign_receive(struct tunnel *t, struct tpeer *p, const uint8_t *d, size_t n)
{
    struct announce a;
    /* Only a client that asked takes an assignment; a fixed address is the user's word. */
    if (t->cfg.role != RPH_ROLE_CLIENT || !t->cfg.addr_auto || assign_decode(d, n, &a) < 0) {
        t->drops.bad_control++;
        return;
    }
    t->assign_asks = 0;
    if (t->assigned && memcmp(&a, &t->pol.self, sizeof a) == 0) return;
    struct announce old = t->assigned ? t->pol.self : (struct announce){0};
    if (put_addresses(t, &old, &a) < 0) return;
    t->pol.self = a;
    t->assigned = true;
    char a4[INET_ADDRSTRLEN], a6[INET6_ADDRSTRLEN] = "";
    inet_ntop(AF_INET, a.addr4, a4, sizeof a4);
    if (a.has6) inet_ntop(AF_INET6, a.addr6, a6, sizeof a6);
    if (a.has6)
        log_info("the server assigned overlay address %s/%u and %s/%u%s", a4, a.prefix4, a6,
                 a.prefix6, old.has4 ? " (changed)" : "");
    else
        log_info("the server assigned overlay address %s/%u%s", a4, a.prefix4,
                 old.has4 ? " (changed)" : "");
    lan_dns_update(t); /* the responder moves to the new address */
    tunnel_announce_now(t, p->remote);
}

bool naming_refuses(struct tunnel *t, struct tpeer *p, const struct announce *a, uint64_t now_ms)
{
    if (!t->pool_on) return false;
    for (int k = 0; k < 2; k++) {
        int fam = k ? 6 : 4;
        if (!(fam == 4 ? a->has4 : a->has6)) continue;
        const uint8_t *addr = fam == 4 ? a->addr4 : a->addr6;
        const struct pool_entry *h = pool_holder(&t->pool, fam, addr);
        if (!h || (p->has_key && memcmp(h->pk, p->node_pk, 32) == 0)) continue;
        struct verdict vd;
        memset(&vd, 0, sizeof vd);
        /* A peer that sent no name is older: it knows only "held". */
        vd.reason = p->has_name ? VERDICT_ASSIGNED : VERDICT_HELD;
        vd.family = (uint8_t)fam;
        vd.prefix = fam == 4 ? a->prefix4 : a->prefix6;
        memcpy(vd.addr, addr, fam == 4 ? 4 : 16);
        if (p->has_name) snprintf(vd.holder, sizeof vd.holder, "%s", h->name);
        t->drops.address_conflict++;
        if (verdict_send(t, p, &vd, now_ms)) {
            char ep[RPH_ADDR_STRLEN], k1[NODEKEY_SHORT_LEN], k2[NODEKEY_SHORT_LEN], ip[64];
            inet_ntop(fam == 4 ? AF_INET : AF_INET6, addr, ip, sizeof ip);
            log_warn("peer %s%s \"%s\" announced %s, which is assigned to member \"%s\"%s; "
                     "refused (the client is told)",
                     rph_addr_format(&p->remote->addr, ep, sizeof ep),
                     nodekey_short(p->has_key, p->node_pk, k1), p->has_name ? p->name : "?", ip,
                     h->name, nodekey_short(true, h->pk, k2));
        }
        return true;
    }
    return false;
}

void naming_member_receive(struct tunnel *t, struct tpeer *p, const uint8_t *d, size_t n)
{
    (void)p;
    struct member_msg m;
    if (t->cfg.role != RPH_ROLE_CLIENT || member_msg_decode(d, n, &m) < 0) {
        t->drops.bad_control++; /* a server lists members, it takes no list */
        return;
    }
    if (!t->listed && !(t->listed = calloc(MAX_PEERS, sizeof *t->listed))) return;
    uint64_t now = rph_now_ms();
    struct listed_member *slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < t->n_listed && !slot; i++) {
        struct listed_member *l = &t->listed[i];
        bool same = m.has_key ? l->m.has_key && memcmp(l->m.pk, m.pk, 32) == 0
                              : !l->m.has_key && strcmp(l->m.name, m.name) == 0;
        if (same) slot = l;
        if (!oldest || l->seen_ms < oldest->seen_ms) oldest = l;
    }
    if (m.left) {
        /* Forgotten at once: its name no longer resolves, status no longer lists it. */
        if (!slot) return;
        char k[NODEKEY_SHORT_LEN];
        log_info("member \"%s\"%s left the session (the server says)", slot->m.name,
                 nodekey_short(slot->m.has_key, slot->m.pk, k));
        *slot = t->listed[--t->n_listed];
        return;
    }
    if (!slot) slot = t->n_listed < MAX_PEERS ? &t->listed[t->n_listed++] : oldest;
    slot->m = m;
    slot->seen_ms = now;
}
