// SPDX-License-Identifier: MIT
// The overlay policy: pure rules over the peer table and the route table (policy.h), so every
// rule is unit-tested without a device, a socket or root.
#include "policy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool same_addr(int fam, const uint8_t *a, const uint8_t *b)
{
    return memcmp(a, b, fam == 4 ? 4 : 16) == 0;
}

/* An overlay address the server must know a peer for: in our prefix, and not ours. */
static bool overlay_other(const struct policy *p, int fam, const uint8_t *a)
{
    const struct announce *s = &p->self;
    if (fam == 4)
        return s->has4 && route_in_prefix(a, s->addr4, s->prefix4) && !same_addr(4, a, s->addr4);
    return s->has6 && route_in_prefix(a, s->addr6, s->prefix6) && !same_addr(6, a, s->addr6);
}

static void rebuild_routes(struct policy *p)
{
    route_clear(&p->routes);
    for (size_t i = 0; i < p->n_peers; i++) {
        struct tpeer *tp = &p->peers[i];
        if (!tp->remote || !tp->announced) continue;
        if (tp->ann.has4) route_add(&p->routes, 4, tp->ann.addr4, tp);
        if (tp->ann.has6) route_add(&p->routes, 6, tp->ann.addr6, tp);
    }
}

int policy_init(struct policy *p, enum rph_role role, const struct announce *self,
                uint64_t silent_ms, size_t n_peers)
{
    memset(p, 0, sizeof *p);
    p->role = role;
    p->self = *self;
    p->silent_ms = silent_ms;
    p->n_peers = n_peers;
    p->peers = calloc(n_peers ? n_peers : 1, sizeof *p->peers);
    if (!p->peers || route_init(&p->routes, n_peers ? n_peers : 1) < 0) {
        policy_free(p);
        return -ENOMEM;
    }
    return 0;
}

void policy_free(struct policy *p)
{
    free(p->peers);
    p->peers = NULL;
    route_free(&p->routes);
}

struct tpeer *policy_peer_up(struct policy *p, size_t i, struct rph_remote *r)
{
    struct tpeer *tp = &p->peers[i];
    bool routed = tp->remote && tp->announced;
    memset(tp, 0, sizeof *tp);
    tp->remote = r;
    if (r->has_node_pk) {
        tp->has_key = true;
        memcpy(tp->node_pk, r->node_pk, sizeof tp->node_pk);
    }
    if (routed) rebuild_routes(p);
    return tp;
}

void policy_peer_down(struct policy *p, struct tpeer *tp)
{
    bool routed = tp->remote && tp->announced;
    memset(tp, 0, sizeof *tp);
    if (routed) rebuild_routes(p);
}

bool policy_peer_key(struct policy *p, struct tpeer *tp, const uint8_t *node_pk)
{
    if (!node_pk || (tp->has_key && memcmp(tp->node_pk, node_pk, sizeof tp->node_pk) == 0))
        return false;
    /* Another node in this slot must earn its addresses itself, not inherit the last one's. */
    bool routed = tp->has_key && tp->announced;
    if (tp->has_key) tp->announced = false;
    tp->has_key = true;
    memcpy(tp->node_pk, node_pk, sizeof tp->node_pk);
    if (routed) rebuild_routes(p);
    return true;
}

void policy_member(struct policy *p, struct tpeer *tp, const struct announce *a)
{
    tp->member = true;
    tp->ann = *a;
    tp->announced = true;
    rebuild_routes(p);
}

static bool same_node(const struct tpeer *a, const struct tpeer *b)
{
    return a->has_key && b->has_key && memcmp(a->node_pk, b->node_pk, sizeof a->node_pk) == 0;
}

/* Plaintext has no node keys: a new endpoint at the holder's IP address is most likely the
 * same client restarted on a new UDP port (or another behind the same NAT, which the holder's
 * next packet within a second would show). */
static bool same_ip_plain(const struct tpeer *holder, const struct tpeer *from)
{
    const struct rph_addr *h = &holder->remote->addr, *f = &from->remote->addr;
    return !holder->has_key && !from->has_key && h->family == f->family &&
           memcmp(h->ip, f->ip, sizeof h->ip) == 0;
}

enum policy_announce policy_announce(struct policy *p, struct tpeer *from, const struct announce *a,
                                     uint64_t now_ms, struct policy_ann_result *res)
{
    memset(res, 0, sizeof *res);
    if (from->member) {
        /* The server vouched for the member's addresses; the member cannot claim others. */
        if (memcmp(&from->ann, a, sizeof *a) == 0) return POLICY_ANN_SAME;
        res->family = a->has4 ? 4 : 6;
        memcpy(res->addr, a->has4 ? a->addr4 : a->addr6, a->has4 ? 4 : 16);
        res->prefix = a->has4 ? a->prefix4 : a->prefix6;
        return POLICY_ANN_FOREIGN;
    }
    if (p->role == RPH_ROLE_SERVER) {
        /* Check both families before taking either: an announcement is taken whole or not. */
        struct tpeer *gone[2] = {NULL, NULL};
        for (int k = 0; k < 2; k++) {
            int fam = k ? 6 : 4;
            bool has = fam == 4 ? a->has4 : a->has6;
            const uint8_t *addr = fam == 4 ? a->addr4 : a->addr6;
            if (!has) continue;
            res->family = fam;
            memcpy(res->addr, addr, fam == 4 ? 4 : 16);
            res->prefix = fam == 4 ? a->prefix4 : a->prefix6;
            if (!overlay_other(p, fam, addr)) {
                res->own = fam == 4 ? p->self.has4 && same_addr(4, addr, p->self.addr4)
                                    : p->self.has6 && same_addr(6, addr, p->self.addr6);
                return POLICY_ANN_FOREIGN;
            }
            struct tpeer *owner = route_lookup(&p->routes, fam, addr);
            if (!owner || owner == from) continue;
            uint64_t last = owner->remote->last_rx_ms;
            uint64_t silent = now_ms > last ? now_ms - last : 0;
            /* The same node key is the same node, back from a restart before its old session
             * fell silent: waiting would cut it off for two keepalives. */
            if (same_node(owner, from) || silent > p->silent_ms ||
                (same_ip_plain(owner, from) && silent >= POLICY_SAME_IP_SILENT_MS)) {
                gone[k] = owner;
            } else {
                res->holder = owner;
                return POLICY_ANN_HELD;
            }
        }
        for (int k = 0; k < 2; k++) {
            if (!gone[k]) continue;
            /* The old holder loses everything it announced: it is gone. */
            gone[k]->announced = false;
            if (res->displaced) continue; /* the result names the first address taken over */
            res->displaced = gone[k];
            res->same_node = same_node(gone[k], from);
            res->same_ip = !res->same_node && same_ip_plain(gone[k], from);
            res->family = k ? 6 : 4;
            memcpy(res->addr, k ? a->addr6 : a->addr4, k ? 16 : 4);
        }
    }
    bool changed = !from->announced || memcmp(&from->ann, a, sizeof *a) != 0;
    from->ann = *a;
    from->announced = true;
    if (!changed && !res->displaced) return POLICY_ANN_SAME;
    rebuild_routes(p);
    return changed ? POLICY_ANN_NEW : POLICY_ANN_SAME;
}

enum policy_rx policy_rx(struct policy *p, struct tpeer *from, const struct ippkt *ip,
                         struct tpeer **to)
{
    *to = NULL;
    /* A client's server is its router: packets from any overlay address arrive through it. */
    if (p->role == RPH_ROLE_CLIENT && !from->member) return POLICY_RX_DELIVER;
    /* Also before the announcement arrives: nothing unattributed enters the network. */
    if (!from->announced) return POLICY_RX_NO_ADDRESS;
    const struct announce *a = &from->ann;
    bool own = (ip->version == 4 && a->has4 && same_addr(4, ip->src, a->addr4)) ||
               (ip->version == 6 && a->has6 && same_addr(6, ip->src, a->addr6));
    if (!own) {
        from->drop_spoofed++;
        return POLICY_RX_SPOOFED;
    }
    /* A member sends to us, never through us. */
    if (from->member || !overlay_other(p, ip->version, ip->dst)) return POLICY_RX_DELIVER;
    *to = route_lookup(&p->routes, ip->version, ip->dst);
    return *to ? POLICY_RX_FORWARD : POLICY_RX_NO_ROUTE;
}

static bool local_scope(const struct ippkt *ip)
{
    if (ip->version == 4) return ip->dst[0] >= 224; /* multicast, limited broadcast */
    return ip->dst[0] == 0xff || (ip->dst[0] == 0xfe && (ip->dst[1] & 0xc0) == 0x80) ||
           (ip->src[0] == 0xfe && (ip->src[1] & 0xc0) == 0x80);
}

struct tpeer *policy_member_of(const struct policy *p, const struct ippkt *ip, bool dst)
{
    if (p->role != RPH_ROLE_CLIENT) return NULL;
    struct tpeer *m = route_lookup(&p->routes, ip->version, dst ? ip->dst : ip->src);
    return m && m->member && m->remote ? m : NULL;
}

enum policy_tx policy_tx(const struct policy *p, const struct ippkt *ip, uint64_t now_ms,
                         struct tpeer **to)
{
    *to = NULL;
    /* Multicast and link-local traffic (MLD, DAD) belongs to this link only. */
    if (local_scope(ip)) return POLICY_TX_LOCAL_SCOPE;
    if (p->role == RPH_ROLE_CLIENT) {
        struct tpeer *m = route_lookup(&p->routes, ip->version, ip->dst);
        if (m && (!m->member || !m->remote)) m = NULL;
        /* A member still punching, or whose path stopped answering: through the server, which
         * forwards, so nothing is lost while the direct path comes (back). */
        if (m && rph_remote_usable(m->remote, now_ms)) {
            *to = m;
            return POLICY_TX_SEND;
        }
        for (size_t i = 0; i < p->n_peers && !*to; i++)
            if (p->peers[i].remote && !p->peers[i].member) *to = &p->peers[i];
        /* No server (its daemon stopped): the member's path is the only one. */
        if (!*to && m && m->remote->up) *to = m;
    } else {
        *to = route_lookup(&p->routes, ip->version, ip->dst);
    }
    return *to ? POLICY_TX_SEND : POLICY_TX_NO_ROUTE;
}
