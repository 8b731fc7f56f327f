// SPDX-License-Identifier: MIT
// ruphin-tund's data path: TUN -> route by overlay destination -> frame -> UDP to the peer's
// punched endpoint, and UDP -> check the inner source belongs to the sending peer -> TUN.
#include "tunnel.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "announce.h"
#include "control.h"
#include "ippkt.h"
#include "offload.h"
#include "log.h"
#include "route.h"
#include "ruphin/clock.h"
#include "ruphin/aead.h"
#include "ruphin/error.h"
#include "ruphin/ev.h"
#include "tun_linux.h"
#include "tunnel_priv.h"

static const char *fmt_addr(const struct rph_addr *a, char *b)
{
    return rph_addr_format(a, b, RPH_ADDR_STRLEN);
}

static struct tpeer *tp_of(struct tunnel *t, struct rph_remote *r)
{
    return &t->tp[r - t->rbase];
}

static void rebuild_routes(struct tunnel *t)
{
    route_clear(&t->routes);
    for (size_t i = 0; i < t->n_slots; i++) {
        struct tpeer *p = &t->tp[i];
        if (!p->remote || !p->announced) continue;
        if (p->ann.has4) route_add(&t->routes, 4, p->ann.addr4, p);
        if (p->ann.has6) route_add(&t->routes, 6, p->ann.addr6, p);
    }
}

static void send_announce(struct tunnel *t, struct rph_remote *r)
{
    uint8_t b[RPH_FRAME_HEADROOM + ANNOUNCE_LEN + RPH_FRAME_TAILROOM];
    size_t n = announce_encode(&t->self, b + RPH_FRAME_HEADROOM);
    rph_ev_peer_send_frame(t->ep, r, b, n);
}

static bool in_prefix(const uint8_t *a, const uint8_t *net, int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a, net, (size_t)full) != 0) return false;
    if (!rest) return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (net[full] & mask);
}

static bool same_addr(int fam, const uint8_t *a, const uint8_t *b)
{
    return memcmp(a, b, fam == 4 ? 4 : 16) == 0;
}

/* Is this an overlay address the server must know a peer for (in our subnet, not ours)? */
static bool overlay_other(const struct tunnel *t, int fam, const uint8_t *a)
{
    if (fam == 4)
        return in_prefix(a, t->self.addr4, t->self.prefix4) && !same_addr(4, a, t->self.addr4);
    return t->self.has6 && in_prefix(a, t->self.addr6, t->self.prefix6) &&
           !same_addr(6, a, t->self.addr6);
}

static void fmt_ip(int fam, const uint8_t *a, char *out, size_t cap)
{
    inet_ntop(fam == 4 ? AF_INET : AF_INET6, a, out, (socklen_t)cap);
}

static void on_announce(struct tunnel *t, struct tpeer *p, const uint8_t *d, size_t n)
{
    struct announce a;
    char ep[RPH_ADDR_STRLEN], ep2[RPH_ADDR_STRLEN], ip[64];
    if (announce_decode(d, n, &a) < 0) {
        t->drops.bad_control++;
        return;
    }
    if (t->cfg.role == RPH_ROLE_SERVER) {
        /* An address must be in our subnet, not ours, and not held by another live peer:
         * a client cannot take over another client's overlay address. */
        for (int fam = 4; fam <= 6; fam += 2) {
            bool has = fam == 4 ? a.has4 : a.has6;
            const uint8_t *addr = fam == 4 ? a.addr4 : a.addr6;
            if (!has) continue;
            struct tpeer *owner = route_lookup(&t->routes, fam, addr);
            fmt_ip(fam, addr, ip, sizeof ip);
            /* A holder silent for two keepalives is gone (a client restarted elsewhere):
             * its address is free again rather than blocked until peer_timeout. */
            if (owner && owner != p &&
                rph_now_ms() - owner->remote->last_rx_ms >
                    2000ull * (unsigned)t->cfg.keepalive_interval) {
                log_info("peer %s takes over %s from silent peer %s",
                         fmt_addr(&p->remote->addr, ep), ip,
                         rph_addr_format(&owner->remote->addr, ep2, sizeof ep2));
                owner->announced = false;
                owner = NULL;
            }
            if (!overlay_other(t, fam, addr) || (owner && owner != p)) {
                t->drops.address_conflict++;
                log_warn("peer %s announced %s, which is %s; ignored",
                         fmt_addr(&p->remote->addr, ep), ip,
                         owner && owner != p ? "held by another peer"
                                             : "not a peer address of this network");
                return;
            }
        }
    }
    bool changed = !p->announced || memcmp(&p->ann, &a, sizeof a) != 0;
    p->ann = a;
    p->announced = true;
    if (!changed) return;
    if (t->cfg.role == RPH_ROLE_SERVER) rebuild_routes(t);
    fmt_ip(a.has4 ? 4 : 6, a.has4 ? a.addr4 : a.addr6, ip, sizeof ip);
    log_info("peer %s is %s", fmt_addr(&p->remote->addr, ep), ip);
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

static void on_flush(void *ctx)
{
    gro_flush(ctx);
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

static void on_data(void *ctx, struct rph_remote *r, const uint8_t *d, size_t n)
{
    struct tunnel *t = ctx;
    struct tpeer *p = r->user;
    if (!p) return;
    if (n > 0 && d[0] == ANNOUNCE_TAG) {
        on_announce(t, p, d, n);
        return;
    }
    struct ippkt ip;
    if (ippkt_parse(d, n, &ip) < 0) {
        t->drops.malformed++;
        return;
    }
    p->rx_packets++;
    p->rx_bytes += n;
    if (t->cfg.role == RPH_ROLE_CLIENT) {
        /* The server is our router: packets from any overlay address arrive through it. */
        tun_write(t, d, n);
        return;
    }
    bool own =
        p->announced && ((ip.version == 4 && p->ann.has4 && same_addr(4, ip.src, p->ann.addr4)) ||
                         (ip.version == 6 && p->ann.has6 && same_addr(6, ip.src, p->ann.addr6)));
    if (!own) {
        /* Also before the announcement arrives: nothing unattributed enters the network. */
        if (p->announced)
            t->drops.spoofed_source++, p->drop_spoofed++;
        else
            t->drops.no_address++;
        return;
    }
    if (overlay_other(t, ip.version, ip.dst)) {
        struct tpeer *to = route_lookup(&t->routes, ip.version, ip.dst);
        if (!to) {
            t->drops.no_route++;
            return;
        }
        /* Client to client through the server: the ad-hoc LAN. */
        if (rph_ev_peer_send(t->ep, &to->remote->addr, d, n) < 0) {
            t->drops.udp_send++;
            return;
        }
        to->tx_packets++;
        to->tx_bytes += n;
        return;
    }
    tun_write(t, d, n);
}

static bool local_scope(const struct ippkt *ip)
{
    if (ip->version == 4) return ip->dst[0] >= 224; /* multicast, limited broadcast */
    return ip->dst[0] == 0xff || (ip->dst[0] == 0xfe && (ip->dst[1] & 0xc0) == 0x80) ||
           (ip->src[0] == 0xfe && (ip->src[1] & 0xc0) == 0x80);
}

static struct tpeer *client_server(struct tunnel *t)
{
    for (size_t i = 0; i < t->n_slots; i++)
        if (t->tp[i].remote) return &t->tp[i];
    return NULL;
}

static void count_send_error(struct tunnel *t, int sr)
{
    if (sr == RPH_E_NOKEY)
        t->drops.no_key++; /* sealed, and the handshake has not finished yet */
    else
        t->drops.udp_send++;
}

/* Sends the run queued in gso_buf, if any, as one GSO datagram train. */
static void run_flush(struct tunnel *t)
{
    if (!t->run_n) return;
    struct tpeer *to = t->run_to;
    int sr = rph_ev_peer_send_gso(t->ep, &to->remote->addr, t->gso_buf + RPH_FRAME_HEADROOM,
                                  t->run_bytes, t->run_seg);
    if (sr < 0) {
        count_send_error(t, sr);
        if (t->run_n > 1) t->drops.udp_send += (uint64_t)(t->run_n - 1);
    } else {
        to->tx_packets += (uint64_t)t->run_n;
        to->tx_bytes += t->run_payload;
        if (t->run_n > 1) t->off.gso_sends++;
    }
    t->run_n = 0;
    t->run_bytes = 0;
    t->run_payload = 0;
}

/* Queues one packet (framed in t->buf, its datagram at d) behind the run, flushing first when
 * it cannot join: another peer, a size the run cannot take, or a full train. Small packets
 * (ACKs, UDP, ICMP) thus leave in one system call per burst instead of one each. */
static void run_add(struct tunnel *t, struct tpeer *to, const uint8_t *d, size_t fl, size_t payload)
{
    if (t->run_n && (to != t->run_to || fl > t->run_seg || t->run_bytes % t->run_seg != 0 ||
                     t->run_bytes + fl > 65000 || t->run_n == GSO_SEGS))
        run_flush(t);
    if (!t->run_n) {
        t->run_to = to;
        t->run_seg = fl;
    }
    memcpy(t->gso_buf + RPH_FRAME_HEADROOM + t->run_bytes, d, fl);
    t->run_bytes += fl;
    t->run_payload += payload;
    t->run_n++;
}

/* A TSO super-packet: split into MSS-sized segments laid back to back as finished
 * datagrams (framed and sealed in place), sent with UDP GSO: one system call for ~45 packets. */
static void send_gso(struct tunnel *t, struct tpeer *to, const struct virtio_net_hdr *h,
                     const uint8_t *pkt, size_t len)
{
    size_t head, tail;
    rph_peer_frame_overhead(t->peer, &head, &tail);
    int hl = offload_tcp_hdrlen(pkt, len);
    size_t stride = head + (size_t)(hl < 0 ? 0 : hl) + h->gso_size + tail;
    uint8_t *base = t->gso_buf + RPH_FRAME_HEADROOM;
    int n = hl < 0 || stride > t->gso_stride_max
                ? -1
                : offload_split(h, pkt, len, base, stride, head, GSO_SEGS, t->seg_len);
    if (n < 0) {
        t->drops.malformed++;
        return;
    }
    t->off.tso_in[h->gso_type == VIRTIO_NET_HDR_GSO_TCPV6]++;
    t->off.tso_segments += (uint64_t)n;
    size_t bytes = 0, sent_pkts = 0, payload = 0;
    int first = 0;
    /* A GSO send carries at most 64 KB: cut the run where it would not fit. */
    size_t per_send = 65000 / stride;
    for (int k = 0; k < n; k++) {
        uint8_t *slot = base + (size_t)k * stride;
        uint8_t *d;
        int fl = rph_peer_frame(t->peer, to->remote, slot + head - RPH_FRAME_HEADROOM,
                                t->seg_len[k], &d);
        if (fl < 0) {
            count_send_error(t, fl);
            return;
        }
        bytes += (size_t)fl;
        payload += t->seg_len[k];
        if ((size_t)(k - first + 1) == per_send || k == n - 1) {
            int sr = rph_ev_peer_send_gso(t->ep, &to->remote->addr, base + (size_t)first * stride,
                                          bytes, stride);
            if (sr < 0) {
                count_send_error(t, sr);
            } else {
                sent_pkts += (size_t)(k - first + 1);
                if (k > first) t->off.gso_sends++;
            }
            first = k + 1;
            bytes = 0;
        }
    }
    to->tx_packets += sent_pkts;
    to->tx_bytes += payload;
}

static void on_tun(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct tunnel *t = arg;
    /* The virtio header lands in the frame's headroom, so the packet sits where framing wants
     * it; the header is copied out before framing overwrites that room. */
    size_t vl = t->tun.vnet ? VNET_LEN : 0;
    uint8_t *pkt = t->buf + RPH_FRAME_HEADROOM;
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
        if (local_scope(&ip)) {
            /* Multicast and link-local traffic (MLD, DAD) belongs to this link only. */
            t->drops.local_scope++;
            continue;
        }
        struct tpeer *to = t->cfg.role == RPH_ROLE_CLIENT
                               ? client_server(t)
                               : route_lookup(&t->routes, ip.version, ip.dst);
        if (!to) {
            t->drops.no_route++;
            continue;
        }
        if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
            run_flush(t); /* gso_buf is needed, and the order kept */
            send_gso(t, to, &h, pkt, (size_t)n);
            continue;
        }
        if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && offload_csum(&h, pkt, (size_t)n) < 0) {
            t->drops.malformed++;
            continue;
        }
        uint8_t *d;
        int fl = rph_peer_frame(t->peer, to->remote, t->buf, (size_t)n, &d);
        if (fl < 0) {
            count_send_error(t, fl);
            continue;
        }
        if ((size_t)fl > t->gso_stride_max) { /* cannot happen within the MTU; send it alone */
            run_flush(t);
            int sr = rph_ev_peer_send_gso(t->ep, &to->remote->addr, d, (size_t)fl, (size_t)fl);
            if (sr < 0) {
                count_send_error(t, sr);
                continue;
            }
            to->tx_packets++;
            to->tx_bytes += (uint64_t)n;
            continue;
        }
        run_add(t, to, d, (size_t)fl, (size_t)n);
    }
    run_flush(t);
}

static void on_remote(void *ctx, struct rph_remote *r, bool up)
{
    struct tunnel *t = ctx;
    struct tpeer *p = tp_of(t, r);
    char ep[RPH_ADDR_STRLEN];
    if (up) {
        memset(p, 0, sizeof *p);
        p->remote = r;
        r->user = p;
        log_info("peer %s up (handshake %llu ms after PeerInfo)", fmt_addr(&r->addr, ep),
                 (unsigned long long)(r->up_ms - r->added_ms));
        send_announce(t, r);
        return;
    }
    log_info("peer %s down: silent for %d s", fmt_addr(&r->addr, ep), t->cfg.peer_timeout);
    bool routed = p->announced;
    memset(p, 0, sizeof *p);
    r->user = NULL;
    if (routed && t->cfg.role == RPH_ROLE_SERVER) rebuild_routes(t);
}

static void on_state(void *ctx, enum rph_peer_state s, int err)
{
    struct tunnel *t = ctx;
    char hp[RPH_ADDR_STRLEN];
    fmt_addr(&t->cfg.holepuncher_addr, hp);
    switch (s) {
    case RPH_STATE_REGISTERED:
        log_info("session \"%s\" registered with holepuncher %s", t->cfg.session_str, hp);
        break;
    case RPH_STATE_JOINING:
        if (err == RPH_E_NOT_FOUND)
            log_warn("holepuncher %s: session \"%s\" not found (is the server up?); retrying", hp,
                     t->cfg.session_str);
        else
            log_info("joining session \"%s\" through holepuncher %s", t->cfg.session_str, hp);
        break;
    case RPH_STATE_PUNCHING:
        log_info("got the server's endpoint from the holepuncher; punching");
        break;
    case RPH_STATE_CONNECTED:
        log_info("connected to the server");
        break;
    default:
        log_info("state %s", rph_state_name(s));
        break;
    }
}

static void on_announce_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct tunnel *t = arg;
    /* Repeated with the keepalives so a restarted peer learns our address again. */
    for (size_t i = 0; i < t->n_slots; i++)
        if (t->tp[i].remote) send_announce(t, t->tp[i].remote);
}

static char *status_cb(void *ctx)
{
    return tunnel_status_json(ctx);
}

int tunnel_open(struct tunnel **out, const struct tund_config *cfg, struct event_base *base,
                char *err, size_t errlen)
{
    struct tunnel *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    t->cfg = *cfg;
    /* Only keys derived from the caller's copy are kept; this copy is never needed. */
    rph_seal_wipe(t->cfg.seal_key, sizeof t->cfg.seal_key);
    t->base = base;
    t->tun.fd = -1;
    /* Room for a 64 KB TSO super-packet (IPv6: 65535 + 40) besides framing. */
    t->buf_cap = RPH_FRAME_HEADROOM + 65535 + 40 + RPH_FRAME_TAILROOM;
    t->buf = malloc(t->buf_cap);
    int r = -ENOMEM;
    if (!t->buf || route_init(&t->routes, MAX_PEERS) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    t->self.has4 = true;
    memcpy(t->self.addr4, cfg->addr4, 4);
    t->self.prefix4 = (uint8_t)cfg->prefix4;
    if (cfg->has_addr6) {
        t->self.has6 = true;
        memcpy(t->self.addr6, cfg->addr6, 16);
        t->self.prefix6 = (uint8_t)cfg->prefix6;
    }

    r = tun_open_offload(&t->tun, cfg->ifname, err, errlen);
    if (r < 0) goto fail;
    r = tun_configure(&t->tun, cfg->addr4, cfg->prefix4, cfg->has_addr6 ? cfg->addr6 : NULL,
                      cfg->prefix6, cfg->mtu, err, errlen);
    if (r < 0) goto fail;

    struct rph_peer_config pc;
    rph_peer_config_defaults(&pc, cfg->role);
    pc.session = cfg->session;
    pc.holepuncher = cfg->holepuncher_addr;
    pc.keepalive_ms = (uint32_t)cfg->keepalive_interval * 1000u;
    pc.peer_timeout_ms = (uint32_t)cfg->peer_timeout * 1000u;
    pc.handshake_timeout_ms = 0; /* a daemon never gives up */
    pc.max_remotes = MAX_PEERS;
    if (cfg->seal) {
        pc.sealed = true;
        log_info("sealed: ChaCha20-Poly1305 with the %s implementation", rph_aead_impl_name());
        rph_seal_derive(&pc.seal, cfg->seal_key, cfg->session.id, cfg->session.len);
    }
    struct rph_ev_peer_options opt = {
        .sndbuf = 4 << 20, .rcvbuf = 4 << 20, .gro = t->tun.offload, .on_flush = on_flush};
    t->gso_stride_max = RPH_FRAME_HEADROOM + (size_t)cfg->mtu + RPH_FRAME_TAILROOM;
    t->gso_buf = malloc(RPH_FRAME_HEADROOM + GSO_SEGS * t->gso_stride_max);
    t->gro = malloc(sizeof *t->gro);
    if (!t->gso_buf || !t->gro) {
        snprintf(err, errlen, "out of memory");
        r = -ENOMEM;
        goto fail;
    }
    memset(t->gro, 0, sizeof *t->gro);
    opt.bind.family = cfg->holepuncher_addr.family;
    opt.bind.port = cfg->port;
    struct rph_peer_callbacks cb = {
        .on_data = on_data, .on_remote = on_remote, .on_state = on_state};
    t->ep = rph_ev_peer_new(base, &pc, &opt, &cb, t, &r);
    rph_seal_wipe(&pc.seal, sizeof pc.seal);
    if (!t->ep) {
        snprintf(err, errlen, "UDP socket (port %u): %s", cfg->port, rph_strerror(r));
        goto fail;
    }
    t->peer = rph_ev_peer_core(t->ep);
    t->rbase = rph_peer_remotes(t->peer, &t->n_slots);
    t->tp = calloc(t->n_slots, sizeof *t->tp);
    t->tun_ev = event_new(base, t->tun.fd, EV_READ | EV_PERSIST, on_tun, t);
    t->announce_ev = event_new(base, -1, EV_PERSIST, on_announce_timer, t);
    r = -ENOMEM;
    if (!t->tp || !t->tun_ev || !t->announce_ev) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    event_add(t->tun_ev, NULL);
    struct timeval ka = {cfg->keepalive_interval, 0};
    event_add(t->announce_ev, &ka);

    t->ctl = control_new(base, cfg->control_socket, status_cb, t, err, errlen);
    if (!t->ctl) {
        r = -EADDRINUSE;
        goto fail;
    }
    *out = t;
    return 0;
fail:
    tunnel_close(t);
    return r;
}

void tunnel_close(struct tunnel *t)
{
    if (!t) return;
    if (t->ctl) control_free(t->ctl);
    if (t->tun_ev) event_free(t->tun_ev);
    if (t->announce_ev) event_free(t->announce_ev);
    rph_ev_peer_free(t->ep);
    tun_close(&t->tun);
    route_free(&t->routes);
    free(t->tp);
    free(t->buf);
    free(t->gso_buf);
    free(t->gro);
    free(t);
}
