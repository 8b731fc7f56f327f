// SPDX-License-Identifier: MIT
// The client's side of the mesh (docs/PROTOCOL.md "Mesh"): an introduction from its server
// (tag 0x09) makes the member a remote of the core (rph_peer_introduce: punched, handshaken
// with the Noise handshake and node keys, "members" pinning applies) with the candidates the
// server passed on; when it is up its tpeer holds the addresses the server vouched for, so
// that the policy routes them straight to it while its path works and takes from it only
// packets from them. "left" drops it. The core keeps members across a rejoin: with the
// server gone they keep talking; its introductions when it is back reconcile.
#include <arpa/inet.h>
#include <stdlib.h>
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
/* A member the core dropped is introduced to it again this often, this many times (then the
 * next introduction from the server starts over). */
#define MESH_RETRY_MS 30000u
#define MESH_RETRIES 10

/* What the server said about a member: enough to introduce it to the core again. */
struct mesh_known {
    bool used;
    struct intro in;
    uint64_t retry_ms; /* the next re-introduction if the core dropped it */
    unsigned retries;
};

struct mesh_known *mesh_client_table(void)
{
    return calloc(MAX_PEERS, sizeof(struct mesh_known));
}

static struct mesh_known *known_of(struct tunnel *t, const uint8_t *pk, bool add)
{
    struct mesh_known *free_one = NULL;
    for (size_t i = 0; t->known && i < MAX_PEERS; i++) {
        struct mesh_known *k = &t->known[i];
        if (k->used && memcmp(k->in.node_pk, pk, 32) == 0) return k;
        if (!k->used && !free_one) free_one = k;
    }
    return add ? free_one : NULL;
}

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

static void candidates(struct tunnel *t, struct rph_remote *r, struct intro *in, uint64_t now)
{
    struct rph_peer *core = rph_ev_peer_core(t->ep);
    unsigned fam = rph_ev_peer_families(t->ep);
    if (fam & RPH_EV_IPV4) {
        size_t n = tunnel_keep_paths(t, in->lan, in->n_lan, t->local, t->n_local);
        rph_peer_set_lan_candidates(core, r, in->lan, n, now);
        rph_peer_set_mapped_candidate(core, r, in->has_mapped ? &in->mapped : NULL, now);
    }
    if (fam & RPH_EV_IPV6) {
        size_t n = tunnel_keep_paths(t, in->v6, in->n_v6, t->local6, t->n_local6);
        rph_peer_set_v6_candidates(core, r, in->v6, n, now);
    }
}

static void left(struct tunnel *t, const struct intro *in)
{
    struct mesh_known *kn = known_of(t, in->node_pk, false);
    if (kn) kn->used = false;
    struct rph_remote *r = find_member(t, in->node_pk);
    if (!r) return;
    char k[NODEKEY_SHORT_LEN], ep[RPH_ADDR_STRLEN];
    log_info("member %s%s left (the server says)", rph_addr_format(&r->addr, ep, sizeof ep),
             nodekey_short(true, in->node_pk, k));
    t->removing = true;
    rph_peer_remove(rph_ev_peer_core(t->ep), r, rph_now_ms());
    t->removing = false;
}

/* The member's remote from in: new, or the one with its node key (its endpoint follows while
 * no direct path works), with the candidates the server passed on. NULL with *err. */
static struct rph_remote *introduce(struct tunnel *t, struct intro *in, uint64_t now, int *err)
{
    tunnel_local_candidates(t); /* ours, not to be probed as its */
    struct rph_intro ri = {.endpoint = in->endpoint, .rtt_ms = in->rtt_ms};
    memcpy(ri.node_pk, in->node_pk, 32);
    struct rph_remote *r = rph_peer_introduce(rph_ev_peer_core(t->ep), &ri, now, err);
    if (!r) return NULL;
    /* tunnel_keep_paths filters in place; the table keeps what the server said. */
    struct intro c = *in;
    candidates(t, r, &c, now);
    if (r->user) policy_member(&t->pol, r->user, &in->addrs); /* up already: addresses follow */
    return r;
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
              : !t->cfg.seal                 ? "not a sealed tunnel"
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
    int err = 0;
    bool known = find_member(t, in.node_pk) != NULL;
    struct rph_remote *r = introduce(t, &in, now, &err);
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
    struct mesh_known *kn = known_of(t, in.node_pk, true);
    if (kn) *kn = (struct mesh_known){.used = true, .in = in, .retry_ms = now + MESH_RETRY_MS};
    inet_ntop(in.addrs.has4 ? AF_INET : AF_INET6, in.addrs.has4 ? in.addrs.addr4 : in.addrs.addr6,
              ip, sizeof ip);
    if (!known)
        log_info("member %s%s introduced by the server: %s %s", ip,
                 nodekey_short(true, in.node_pk, k),
                 r->initiator ? "handshaking with it at" : "punching toward",
                 rph_addr_format(&in.endpoint, ep, sizeof ep));
    else
        log_debug("member %s%s introduced again at %s", ip, nodekey_short(true, in.node_pk, k),
                  rph_addr_format(&in.endpoint, ep, sizeof ep));
}

void mesh_client_up(struct tunnel *t, struct rph_remote *r)
{
    if (!r->member || !r->user) return;
    const struct mesh_known *kn = known_of(t, r->node_pk, false);
    if (kn) policy_member(&t->pol, r->user, &kn->in.addrs);
}

void mesh_client_retry(struct tunnel *t, uint64_t now_ms)
{
    for (size_t i = 0; t->known && i < MAX_PEERS; i++) {
        struct mesh_known *kn = &t->known[i];
        if (!kn->used || now_ms < kn->retry_ms || find_member(t, kn->in.node_pk)) continue;
        if (kn->retries >= MESH_RETRIES) {
            kn->used = false; /* the server's next introduction starts over */
            continue;
        }
        kn->retries++;
        kn->retry_ms = now_ms + MESH_RETRY_MS;
        int err;
        char k[NODEKEY_SHORT_LEN], ep[RPH_ADDR_STRLEN];
        if (introduce(t, &kn->in, now_ms, &err))
            log_debug("member%s dropped by the core (no answer): punching %s again (%u of %u)",
                      nodekey_short(true, kn->in.node_pk, k),
                      rph_addr_format(&kn->in.endpoint, ep, sizeof ep), kn->retries, MESH_RETRIES);
    }
}

int mesh_client_path_kind(const struct tunnel *t, const struct rph_remote *r)
{
    int kind = rph_remote_path_kind(r);
    if (!r->member || kind != RPH_PATHK_DIRECT4) return kind;
    /* The core tells a LAN path by the endpoint the holepuncher names, which a member has not:
     * the server's introduction names it instead. */
    const struct mesh_known *kn = NULL;
    for (size_t i = 0; t->known && i < MAX_PEERS && !kn; i++)
        if (t->known[i].used && memcmp(t->known[i].in.node_pk, r->node_pk, 32) == 0)
            kn = &t->known[i];
    if (!kn || memcmp(kn->in.endpoint.ip, r->addr.ip, sizeof r->addr.ip) == 0) return kind;
    for (size_t i = 0; i < r->n_cand; i++)
        if (r->cand[i].kind == RPH_CAND_LAN && rph_addr_equal(&r->cand[i].addr, &r->addr))
            return RPH_PATHK_LAN;
    return kind;
}
