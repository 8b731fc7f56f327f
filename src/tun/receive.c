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
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "announce.h"
#include "ippkt.h"
#include "log.h"
#include "offload.h"
#include "policy.h"
#include "ruphin/clock.h"
#include "ruphin/ev.h"
#include "tunnel_priv.h"

static void receive_announce(struct tunnel *t, struct tpeer *p, const uint8_t *d, size_t n);
static void tun_write(struct tunnel *t, const uint8_t *d, size_t n);
static void gro_flush(struct tunnel *t);

void receive_on_data(void *ctx, struct rph_remote *r, const uint8_t *d, size_t n)
{
    struct tunnel *t = ctx;
    struct tpeer *p = r->user;
    if (!p) return;
    if (n > 0 && d[0] == ANNOUNCE_TAG) {
        receive_announce(t, p, d, n);
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
        /* Client to client through the server: the ad-hoc LAN. */
        send_to_peer(t, to, d, n);
        return;
    }
    tun_write(t, d, n);
}

static void receive_announce(struct tunnel *t, struct tpeer *p, const uint8_t *d, size_t n)
{
    struct announce a;
    char ep[RPH_ADDR_STRLEN], ep2[RPH_ADDR_STRLEN], ip[64];
    if (announce_decode(d, n, &a) < 0) {
        t->drops.bad_control++;
        return;
    }
    struct policy_ann_result res;
    enum policy_announce v = policy_announce(&t->pol, p, &a, rph_now_ms(), &res);
    if (res.family) inet_ntop(res.family == 4 ? AF_INET : AF_INET6, res.addr, ip, sizeof ip);
    if (res.displaced)
        log_info("peer %s takes over %s from silent peer %s",
                 rph_addr_format(&p->remote->addr, ep, sizeof ep), ip,
                 rph_addr_format(&res.displaced->remote->addr, ep2, sizeof ep2));
    switch (v) {
    case POLICY_ANN_FOREIGN:
    case POLICY_ANN_HELD:
        t->drops.address_conflict++;
        log_warn("peer %s announced %s, which is %s; ignored",
                 rph_addr_format(&p->remote->addr, ep, sizeof ep), ip,
                 v == POLICY_ANN_HELD ? "held by another peer"
                                      : "not a peer address of this network");
        return;
    case POLICY_ANN_NEW:
        inet_ntop(a.has4 ? AF_INET : AF_INET6, a.has4 ? a.addr4 : a.addr6, ip, sizeof ip);
        log_info("peer %s is %s", rph_addr_format(&p->remote->addr, ep, sizeof ep), ip);
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
