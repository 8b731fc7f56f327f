// SPDX-License-Identifier: MIT
// The UDP -> TUN direction of ruphin-tund's data path. A packet's way, in the order of the
// functions below:
//   1. The event peer (libruphin) reads a batch of datagrams (recvmmsg, UDP GRO split),
//      unframes, opens and authenticates each, and hands its payload to receive_on_data.
//   2. An announcement goes to the overlay policy (receive_announce), and its verdict to the log.
//   3. The inner IP header is parsed, and the policy (policy_rx) says whether it may enter:
//      on a server its source must be the address the sending peer holds.
//   4. A packet a server forwards to another client (the ad-hoc LAN) is queued to that client
//      (send_to_peer, the one copy), to leave in a GSO train at the end of the batch.
//   5. tun_write writes the packet to the TUN device; with offloads, TCP segments of one flow
//      are held to be coalesced (gro_append) instead.
//   6. gro_flush writes a coalesced super-packet with one writev, no copy; receive_on_flush
//      does so at the end of each received batch.
#include <arpa/inet.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "announce.h"
#include "intro.h"
#include "ippkt.h"
#include "lancand.h"
#include "mapcand.h"
#include "log.h"
#include "naming.h"
#include "nodekey.h"
#include "offload.h"
#include "policy.h"
#include "ruphin/clock.h"
#include "ruphin/ev.h"
#include "tunnel_priv.h"
#include "verdict.h"

static void receive_announce(struct tunnel *t, struct tpeer *p, const uint8_t *d, size_t n);
static void receive_node_key(struct tunnel *t, struct tpeer *p, const struct rph_remote *r);
static void tun_write(struct tunnel *t, const uint8_t *d, size_t n);
static void gro_flush(struct tunnel *t);

void receive_on_data(void *ctx, struct rph_remote *r, const uint8_t *d, size_t n)
{
    struct tunnel *t = ctx;
    struct tpeer *p = r->user;
    if (!p) return;
    /* The core learns the node key in the handshake; the policy needs it before the first
     * announcement, and must see it if another node ever speaks from this slot. */
    if (r->has_node_pk && (!p->has_key || memcmp(p->node_pk, r->node_pk, 32) != 0))
        receive_node_key(t, p, r);
    /* A member is another client: what only a server says (verdicts, names and addresses,
     * member lists, introductions) it cannot say to us. */
    if (r->member && n > 0 &&
        (d[0] == VERDICT_TAG || d[0] == NAME_TAG || d[0] == ASSIGN_TAG || d[0] == MEMBER_TAG ||
         d[0] == INTRO_TAG)) {
        t->drops.bad_control++;
        return;
    }
    if (n > 0 && d[0] == INTRO_TAG) {
        mesh_client_receive(t, r, d, n);
        return;
    }
    if (n > 0 && d[0] == ANNOUNCE_TAG) {
        receive_announce(t, p, d, n);
        tunnel_announce_answer(t, r);
        return;
    }
    if (n > 0 && d[0] == GOODBYE_TAG) {
        tunnel_goodbye_from(t, r, d, n); /* p is gone after this */
        return;
    }
    if (n > 0 && d[0] == VERDICT_TAG) {
        verdict_receive(t, p, d, n, rph_now_ms());
        return;
    }
    /* Names and automatic addresses (naming.c). */
    if (n > 0 && d[0] == NAME_TAG) {
        naming_receive(t, p, d, n);
        return;
    }
    if (n > 0 && d[0] == ASSIGN_TAG) {
        naming_assign_receive(t, p, d, n);
        return;
    }
    if (n > 0 && d[0] == LANCAND_TAG) {
        tunnel_lancand_from(t, r, d, n);
        return;
    }
    if (n > 0 && d[0] == MAPCAND_TAG) {
        tunnel_mapcand_from(t, r, d, n);
        return;
    }
    if (n > 0 && d[0] == MEMBER_TAG) {
        naming_member_receive(t, p, d, n);
        return;
    }
    struct ippkt ip;
    if (ippkt_parse(d, n, &ip) < 0) {
        t->drops.malformed++;
        return;
    }
    p->rx_packets++;
    p->rx_bytes += n;
    struct tpeer *to;
    switch (policy_rx(&t->pol, p, &ip, &to)) {
    case POLICY_RX_DELIVER:
        /* From a member through the server while its direct path rests: it woke (it sent
         * this), so do we. */
        if (!p->member && rph_peer_quiet_members(rph_ev_peer_core(t->ep))) {
            struct tpeer *m = policy_member_of(&t->pol, &ip, false);
            if (m) rph_ev_peer_member_traffic(t->ep, m->remote);
        }
        break;
    case POLICY_RX_SPOOFED:
        t->drops.spoofed_source++;
        return;
    case POLICY_RX_NO_ADDRESS:
        t->drops.no_address++;
        return;
    case POLICY_RX_NO_ROUTE:
        t->drops.no_route++;
        return;
    case POLICY_RX_FORWARD:
        /* Client to client through the server: the ad-hoc LAN (a hub, or a mesh pair not
         * direct yet). Counted: with a direct path this stays still. */
        t->mesh.forwarded_packets++;
        t->mesh.forwarded_bytes += n;
        send_to_peer(t, to, d, n);
        return;
    }
    tun_write(t, d, n);
}

static void receive_node_key(struct tunnel *t, struct tpeer *p, const struct rph_remote *r)
{
    char ep[RPH_ADDR_STRLEN], k1[NODEKEY_SHORT_LEN], k2[NODEKEY_SHORT_LEN];
    bool had = p->has_key;
    nodekey_short(p->has_key, p->node_pk, k1);
    policy_peer_key(&t->pol, p, r->node_pk);
    nodekey_short(p->has_key, p->node_pk, k2);
    rph_addr_format(&r->addr, ep, sizeof ep);
    mesh_server_changed(t, (size_t)(r - t->rbase));
    if (had)
        log_warn("peer %s%s: another node%s speaks from its slot now; what the old one "
                 "announced is released",
                 ep, k1, k2);
    else
        log_debug("peer %s%s: node key proven", ep, k2);
}

static void receive_announce(struct tunnel *t, struct tpeer *p, const uint8_t *d, size_t n)
{
    struct announce a;
    char ep[RPH_ADDR_STRLEN], ep2[RPH_ADDR_STRLEN], ip[64];
    char k1[NODEKEY_SHORT_LEN], k2[NODEKEY_SHORT_LEN];
    if (announce_decode(d, n, &a) < 0) {
        t->drops.bad_control++;
        return;
    }
    struct policy_ann_result res;
    uint64_t now = rph_now_ms();
    /* An address the member table assigned to another node is that node's, live or not. */
    if (t->cfg.role == RPH_ROLE_SERVER && naming_refuses(t, p, &a, now)) return;
    enum policy_announce v = policy_announce(&t->pol, p, &a, now, &res);
    /* A server tells the client what it decided (verdict.c); a refusal is logged once per
     * change, not at every repeated announcement. */
    bool news = true;
    if (t->cfg.role == RPH_ROLE_SERVER) {
        struct verdict vd;
        verdict_of(v, &a, &res, &vd);
        /* A peer that speaks names is told whose the address is. */
        if (v == POLICY_ANN_HELD && p->has_name && res.holder->has_name)
            snprintf(vd.holder, sizeof vd.holder, "%s", res.holder->name);
        news = verdict_send(t, p, &vd, now);
    }
    if (res.family) inet_ntop(res.family == 4 ? AF_INET : AF_INET6, res.addr, ip, sizeof ip);
    rph_addr_format(&p->remote->addr, ep, sizeof ep);
    nodekey_short(p->has_key, p->node_pk, k1);
    if (res.displaced)
        log_info("peer %s%s takes over %s from %s %s%s", ep, k1, ip,
                 res.same_node ? "its own old session (the node restarted),"
                 : res.same_ip ? "its old endpoint at the same IP address (restarted),"
                               : "silent peer",
                 rph_addr_format(&res.displaced->remote->addr, ep2, sizeof ep2),
                 nodekey_short(res.displaced->has_key, res.displaced->node_pk, k2));
    switch (v) {
    case POLICY_ANN_FOREIGN:
        t->drops.address_conflict++;
        if (p->member) {
            log_debug("member %s%s announced %s, not the address the server introduced; ignored",
                      ep, k1, ip);
            return;
        }
        if (news)
            log_warn("peer %s%s announced %s, which is not a peer address of this network; refused "
                     "(the client is told)",
                     ep, k1, ip);
        return;
    case POLICY_ANN_HELD:
        t->drops.address_conflict++;
        if (news)
            log_warn(
                "peer %s%s announced %s, which is held by another peer (%s%s, live); refused (the "
                "client is told)",
                ep, k1, ip, rph_addr_format(&res.holder->remote->addr, ep2, sizeof ep2),
                nodekey_short(res.holder->has_key, res.holder->node_pk, k2));
        return;
    case POLICY_ANN_NEW:
        mesh_server_changed(t, (size_t)(p - t->pol.peers));
        naming_member_changed(t, p); /* the other clients' lists name its new addresses */
        inet_ntop(a.has4 ? AF_INET : AF_INET6, a.has4 ? a.addr4 : a.addr6, ip, sizeof ip);
        log_info("peer %s%s is %s", ep, k1, ip);
        return;
    case POLICY_ANN_SAME:
        return;
    }
}

/* One IP packet to the TUN device. With offloads, TCP segments of one flow are coalesced
 * into a super-packet (one write instead of dozens) until the end of the received batch. */
static void tun_write(struct tunnel *t, const uint8_t *d, size_t n)
{
    if (!t->tun.vnet) {
        if (write(t->tun.fd, d, n) < 0) t->drops.tun_write++;
        return;
    }
    if (t->tun.offload) {
        if (gro_append(t->gro, d, n)) return;
        gro_flush(t);
        if (gro_start(t->gro, d, n)) return;
    }
    struct virtio_net_hdr none;
    memset(&none, 0, sizeof none);
    struct iovec iov[2] = {{&none, VNET_LEN}, {(void *)d, n}};
    if (writev(t->tun.fd, iov, 2) < 0) t->drops.tun_write++;
}

static void gro_flush(struct tunnel *t)
{
    int v6 = t->gro->version == 6;
    int n = gro_finish(t->gro);
    if (n && writev(t->tun.fd, t->gro->iov, n) < 0) {
        t->drops.tun_write++;
    } else if (n > 2) {
        t->off.coalesced[v6]++;
        t->off.coalesced_segs += (uint64_t)(n - 1);
    }
}

void receive_on_flush(void *ctx)
{
    gro_flush(ctx);
}
