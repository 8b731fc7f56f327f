// SPDX-License-Identifier: MIT
// The client's side of the mesh (docs/PROTOCOL.md "Mesh"): an introduction from its server
// (tag 0x09) makes the member a remote of the core (rph_peer_introduce: punched, handshaken
// with the Noise handshake and node keys, "members" pinning applies) with the candidates the
// server passed on; when it is up its tpeer holds the addresses the server vouched for, so
// that the policy routes them straight to it while its path works and takes from it only
// packets from them. "left" drops it. The core keeps members across a rejoin: with the
// server gone they keep talking; its introductions when it is back reconcile.
#include <arpa/inet.h>
#include <string.h>

#include "intro.h"
#include "lancand.h"
#include "log.h"
#include "nodekey.h"
#include "ruphin/clock.h"
#include "ruphin/error.h"
#include "ruphin/ev.h"
#include "tunnel_priv.h"

/* A refused introduction: at most one line per this. */
#define MESH_LOG_MS 10000u

static bool log_due(struct tunnel *t, uint64_t now)
{
    if (t->mesh_log_ms && now - t->mesh_log_ms < MESH_LOG_MS) return false;
    t->mesh_log_ms = now;
    return true;
}

static struct rph_remote *find_member(struct tunnel *t, const uint8_t *pk)
{
    for (size_t i = 1; i < t->n_slots; i++) {
        struct rph_remote *r = &t->rbase[i];
        if (r->in_use && r->member && memcmp(r->node_pk, pk, 32) == 0) return r;
    }
    return NULL;
}

/* Candidates in our overlay would route the member's traffic into the tunnel itself, and our
 * own addresses to ourselves: neither is a path to it. */
static size_t keep_paths(struct tunnel *t, struct rph_addr *a, size_t n, const struct rph_addr *own,
                         int n_own)
{
    const struct announce *s = &t->pol.self;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        bool overlay = a[i].family == 4 ? s->has4 && route_in_prefix(a[i].ip, s->addr4, s->prefix4)
                                        : s->has6 && route_in_prefix(a[i].ip, s->addr6, s->prefix6);
        if (!overlay) a[m++] = a[i];
    }
    return lancand_drop_own(a, m, own, n_own > 0 ? (size_t)n_own : 0);
}

static void candidates(struct tunnel *t, struct rph_remote *r, struct intro *in, uint64_t now)
{
    struct rph_peer *core = rph_ev_peer_core(t->ep);
    unsigned fam = rph_ev_peer_families(t->ep);
    if (fam & RPH_EV_IPV4) {
        size_t n = keep_paths(t, in->lan, in->n_lan, t->local, t->n_local);
        rph_peer_set_lan_candidates(core, r, in->lan, n, now);
        rph_peer_set_mapped_candidate(core, r, in->has_mapped ? &in->mapped : NULL, now);
    }
    if (fam & RPH_EV_IPV6) {
        size_t n = keep_paths(t, in->v6, in->n_v6, t->local6, t->n_local6);
        rph_peer_set_v6_candidates(core, r, in->v6, n, now);
    }
}

static void left(struct tunnel *t, const struct intro *in)
{
    struct rph_remote *r = find_member(t, in->node_pk);
    if (!r) return;
    char k[NODEKEY_SHORT_LEN], ep[RPH_ADDR_STRLEN];
    log_info("member%s at %s left (the server says)", nodekey_short(true, in->node_pk, k),
             rph_addr_format(&r->addr, ep, sizeof ep));
    t->removing = true;
    rph_peer_remove(rph_ev_peer_core(t->ep), r, rph_now_ms());
    t->removing = false;
    t->member_known[r - t->rbase] = false;
}

void mesh_client_receive(struct tunnel *t, struct rph_remote *from, const uint8_t *d, size_t n)
{
    struct intro in;
    const char *why = NULL;
    uint64_t now = rph_now_ms();
    char k[NODEKEY_SHORT_LEN], ep[RPH_ADDR_STRLEN], ip[RPH_ADDR_STRLEN];
    /* Only a server introduces, and only to its own clients: a member (or a client talking
     * to a server) sending one is a peer misbehaving. */
    if (t->cfg.role != RPH_ROLE_CLIENT || from->member || !t->cfg.seal) {
        why = t->cfg.role != RPH_ROLE_CLIENT ? "a server takes no introductions"
                                             : "an introduction not from our server";
    } else if (intro_decode(d, n, &in, &why) == 0) {
        why = NULL;
    }
    if (why) {
        t->drops.bad_control++;
        if (log_due(t, now))
            log_debug("introduction from %s dropped: %s",
                      rph_addr_format(&from->addr, ep, sizeof ep), why);
        return;
    }
    if (!t->cfg.mesh) return; /* "mesh": false here: a hub client, all through the server */
    if (in.left) {
        left(t, &in);
        return;
    }
    tunnel_local_candidates(t); /* ours, not to be probed as its */
    struct rph_intro ri = {.endpoint = in.endpoint, .rtt_ms = in.rtt_ms};
    memcpy(ri.node_pk, in.node_pk, 32);
    int err = 0;
    bool known = find_member(t, in.node_pk) != NULL;
    struct rph_remote *r = rph_peer_introduce(rph_ev_peer_core(t->ep), &ri, now, &err);
    if (!r) {
        t->mesh.intros_refused++;
        if (log_due(t, now))
            log_warn("introduction of member%s (%s) refused: %s",
                     nodekey_short(true, in.node_pk, k),
                     rph_addr_format(&in.endpoint, ep, sizeof ep),
                     err == RPH_E_INVALID ? "our own node key, not in \"members\", or no endpoint"
                     : err == RPH_E_FULL  ? "no free member slot"
                                          : rph_strerror(err));
        return;
    }
    t->mesh.intros_received++;
    size_t slot = (size_t)(r - t->rbase);
    t->member_addrs[slot] = in.addrs;
    t->member_known[slot] = true;
    candidates(t, r, &in, now);
    if (r->user) policy_member(&t->pol, r->user, &in.addrs); /* up already: addresses follow */
    inet_ntop(in.addrs.has4 ? AF_INET : AF_INET6, in.addrs.has4 ? in.addrs.addr4 : in.addrs.addr6,
              ip, sizeof ip);
    if (!known)
        log_info("member%s (%s) introduced by the server: %s %s",
                 nodekey_short(true, in.node_pk, k), ip,
                 r->initiator ? "handshaking with it at" : "punching toward",
                 rph_addr_format(&in.endpoint, ep, sizeof ep));
    else
        log_debug("member%s (%s) introduced again at %s", nodekey_short(true, in.node_pk, k), ip,
                  rph_addr_format(&in.endpoint, ep, sizeof ep));
}

void mesh_client_up(struct tunnel *t, struct rph_remote *r)
{
    size_t slot = (size_t)(r - t->rbase);
    if (!r->member || !r->user || !t->member_known[slot]) return;
    policy_member(&t->pol, r->user, &t->member_addrs[slot]);
}
