// SPDX-License-Identifier: MIT
// The TUN -> UDP direction of ruphin-tund's data path. A packet's way, in the order of the
// functions below:
//   1. send_on_tun reads a burst of packets from the TUN device (each behind a virtio header
//      when the device has offloads) into t->buf.
//   2. The policy (policy_tx) names the peer it goes to: a client's server, or on a server the
//      holder of the destination overlay address; what belongs to this link only (multicast,
//      link-local) or to nobody is dropped.
//   3. A TSO super-packet: send_tso splits it into MSS-sized segments straight into the event
//      peer's send queue, where each is framed (and sealed) in place (the one copy).
//      Any other packet: its checksum is completed if the kernel left it to us, and
//      send_to_peer queues it, copied once into the queue and framed there. The server's
//      client-to-client forwarding (receive.c) queues through send_to_peer too.
//   4. At the end of the burst rph_ev_peer_flush sends the queue: each run of datagrams for one
//      peer leaves as one UDP GSO train (the event peer flushes after each received batch).
//   5. send_on_sent counts what left or was lost, per peer.
#include <errno.h>
#include <event2/event.h>
#include <string.h>
#include <unistd.h>

#include "ippkt.h"
#include "log.h"
#include "offload.h"
#include "policy.h"
#include "ruphin/clock.h"
#include "ruphin/error.h"
#include "ruphin/ev.h"
#include "tunnel_priv.h"

static void send_tso(struct tunnel *t, struct tpeer *to, const struct virtio_net_hdr *h,
                     const uint8_t *pkt, size_t len);
static void count_send_error(struct tunnel *t, int sr);

void send_on_tun(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct tunnel *t = arg;
    /* The packet lands at an aligned offset with its virtio header just before it; the
     * header is copied out first. */
    size_t vl = t->tun.vnet ? VNET_LEN : 0;
    uint8_t *pkt = t->buf + RPH_FRAME_HEADROOM;
    uint64_t now = rph_now_ms(); /* once a batch: whether a member's path is usable */
    for (int i = 0; i < TUN_BURST; i++) {
        ssize_t n = read(fd, pkt - vl, t->buf_cap - RPH_FRAME_HEADROOM - RPH_FRAME_TAILROOM + vl);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                log_warn("%s: read: %s", t->tun.name, strerror(errno));
            break;
        }
        struct virtio_net_hdr h;
        memset(&h, 0, sizeof h);
        if (vl) {
            if ((size_t)n < vl) continue;
            memcpy(&h, pkt - vl, vl);
            n -= (ssize_t)vl;
        }
        struct ippkt ip;
        if (ippkt_parse(pkt, (size_t)n, &ip) < 0) {
            t->drops.malformed++;
            continue;
        }
        struct tpeer *to;
        enum policy_tx v = policy_tx(&t->pol, &ip, now, &to);
        if (v != POLICY_TX_SEND) {
            if (v == POLICY_TX_LOCAL_SCOPE)
                t->drops.local_scope++;
            else
                t->drops.no_route++;
            continue;
        }
        /* To a member whose direct path rests (idle): through the server, and the member wakes
         * (both ends look for the direct path again, a round trip). */
        if (!to->member && rph_peer_quiet_members(rph_ev_peer_core(t->ep))) {
            struct tpeer *m = policy_member_of(&t->pol, &ip, true);
            if (m) rph_ev_peer_member_traffic(t->ep, m->remote);
        }
        if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
            send_tso(t, to, &h, pkt, (size_t)n);
            continue;
        }
        if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && offload_csum(&h, pkt, (size_t)n) < 0) {
            t->drops.malformed++;
            continue;
        }
        send_to_peer(t, to, pkt, (size_t)n);
    }
    rph_ev_peer_flush(t->ep);
}

/* A TSO super-packet: its segments are written straight into the queue's slots, one stride
 * apart, framed there and sent as GSO trains: one system call for ~45 packets. */
static void send_tso(struct tunnel *t, struct tpeer *to, const struct virtio_net_hdr *h,
                     const uint8_t *pkt, size_t len)
{
    int hl = offload_tcp_hdrlen(pkt, len);
    size_t mss = h->gso_size;
    size_t nseg = hl < 0 || mss == 0 ? 0 : (len - (size_t)hl + mss - 1) / mss;
    uint8_t *slots;
    size_t stride;
    int n = -1;
    /* More segments than seg_len holds, or longer than a slot of the queue: not one to split. */
    if (nseg > 0 && nseg <= GSO_SEGS &&
        rph_ev_peer_reserve(t->ep, to->remote, (size_t)hl + mss, nseg, &slots, &stride) == 0)
        n = offload_split(h, pkt, len, slots, stride, 0, nseg, t->seg_len);
    if (n < 0) {
        t->drops.malformed++;
        return;
    }
    t->off.tso_in[h->gso_type == VIRTIO_NET_HDR_GSO_TCPV6]++;
    t->off.tso_segments += (uint64_t)n;
    int e = rph_ev_peer_commit(t->ep, (size_t)n, t->seg_len);
    if (e < 0) count_send_error(t, e);
}

void send_to_peer(struct tunnel *t, struct tpeer *to, const uint8_t *pkt, size_t len)
{
    int e = rph_ev_peer_queue(t->ep, to->remote, pkt, len);
    if (e < 0) count_send_error(t, e);
}

static void count_send_error(struct tunnel *t, int sr)
{
    if (sr == RPH_E_NOKEY)
        t->drops.no_key++; /* sealed, and the handshake has not finished yet */
    else
        t->drops.udp_send++;
}

void send_on_sent(void *ctx, const struct rph_ev_sent *s)
{
    struct tunnel *t = ctx;
    if (s->err) {
        t->drops.udp_send += s->datagrams;
        return;
    }
    struct tpeer *p = s->to->user; /* NULL: the peer went down meanwhile */
    if (p) {
        p->tx_packets += s->datagrams;
        p->tx_bytes += s->payload_bytes;
    }
    if (s->gso) t->off.gso_sends++;
}
