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
#include "ippkt.h"
#include "offload.h"
#include "log.h"
#include "policy.h"
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

static void send_announce(struct tunnel *t, struct rph_remote *r)
{
    uint8_t b[RPH_FRAME_HEADROOM + ANNOUNCE_LEN + RPH_FRAME_TAILROOM];
    size_t n = announce_encode(&t->pol.self, b + RPH_FRAME_HEADROOM);
    rph_ev_peer_send_frame(t->ep, r, b, n);
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
    struct policy_ann_result res;
    enum policy_announce v = policy_announce(&t->pol, p, &a, rph_now_ms(), &res);
    if (res.family) fmt_ip(res.family, res.addr, ip, sizeof ip);
    if (res.displaced)
        log_info("peer %s takes over %s from silent peer %s", fmt_addr(&p->remote->addr, ep), ip,
                 fmt_addr(&res.displaced->remote->addr, ep2));
    switch (v) {
    case POLICY_ANN_FOREIGN:
    case POLICY_ANN_HELD:
        t->drops.address_conflict++;
        log_warn("peer %s announced %s, which is %s; ignored", fmt_addr(&p->remote->addr, ep), ip,
                 v == POLICY_ANN_HELD ? "held by another peer"
                                      : "not a peer address of this network");
        return;
    case POLICY_ANN_NEW:
        fmt_ip(a.has4 ? 4 : 6, a.has4 ? a.addr4 : a.addr6, ip, sizeof ip);
        log_info("peer %s is %s", fmt_addr(&p->remote->addr, ep), ip);
        return;
    case POLICY_ANN_SAME:
        return;
    }
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
        struct tpeer *to;
        enum policy_tx v = policy_tx(&t->pol, &ip, &to);
        if (v != POLICY_TX_SEND) {
            if (v == POLICY_TX_LOCAL_SCOPE)
                t->drops.local_scope++;
            else
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
    char ep[RPH_ADDR_STRLEN];
    if (up) {
        r->user = policy_peer_up(&t->pol, (size_t)(r - t->rbase), r);
        log_info("peer %s up (handshake %llu ms after PeerInfo)", fmt_addr(&r->addr, ep),
                 (unsigned long long)(r->up_ms - r->added_ms));
        send_announce(t, r);
        return;
    }
    log_info("peer %s down: silent for %d s", fmt_addr(&r->addr, ep), t->cfg.peer_timeout);
    if (r->user) policy_peer_down(&t->pol, r->user);
    r->user = NULL;
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
    for (size_t i = 0; i < t->pol.n_peers; i++)
        if (t->pol.peers[i].remote) send_announce(t, t->pol.peers[i].remote);
}

int tunnel_new(struct tunnel **out, const struct tund_config *cfg, struct event_base *base,
               const struct tun_dev *tun, struct errmsg *err)
{
    struct tunnel *t = calloc(1, sizeof *t);
    if (!t) {
        struct tun_dev dev = *tun;
        tun_close(&dev);
        return errmsg_fail(err, -ENOMEM, "out of memory");
    }
    t->cfg = *cfg;
    /* Only keys derived from the caller's copy are kept; this copy is never needed. */
    rph_seal_wipe(t->cfg.seal_key, sizeof t->cfg.seal_key);
    t->base = base;
    t->tun = *tun;
    /* Room for a 64 KB TSO super-packet (IPv6: 65535 + 40) besides framing. */
    t->buf_cap = RPH_FRAME_HEADROOM + 65535 + 40 + RPH_FRAME_TAILROOM;
    t->buf = malloc(t->buf_cap);
    int r = -ENOMEM;
    if (!t->buf) {
        errmsg_set(err, "out of memory");
        goto fail;
    }

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
        r = rph_aead_select(RPH_AEAD_AUTO); /* the default, or RUPHIN_AEAD's choice */
        if (r < 0) {
            /* The benchmarks name an implementation: running another would measure it. */
            const char *env = getenv("RUPHIN_AEAD");
            if (r == RPH_E_NOTSUP && env)
                errmsg_set(err,
                           "sealing: RUPHIN_AEAD=\"%s\" names no implementation this build "
                           "and CPU have (sodium, avx512, openssl)",
                           env);
            else if (r == RPH_E_CRYPTO)
                errmsg_set(err, "sealing: OpenSSL failed to set up ChaCha20-Poly1305");
            else
                errmsg_set(err, "sealing: libsodium failed to initialise");
            goto fail;
        }
        log_info("sealed: ChaCha20-Poly1305 with the %s implementation", rph_aead_impl_name());
        r = rph_seal_derive(&pc.seal, cfg->seal_key, cfg->session.id, cfg->session.len);
        if (r < 0) {
            errmsg_set(err, "sealing: deriving the session's keys: %s", rph_strerror(r));
            goto fail;
        }
        /* Tests only (ruphin-tund(8)): rekey every few seconds, to attack many rekeys. */
        const char *rekey = getenv("RUPHIN_TEST_REKEY_MS");
        if (rekey) {
            char *end;
            long v = strtol(rekey, &end, 10);
            if (!*rekey || *end || v < 500 || v > 3600000) {
                errmsg_set(err,
                           "RUPHIN_TEST_REKEY_MS=\"%s\": not a number of ms from 500 to 3600000",
                           rekey);
                r = -EINVAL;
                goto fail;
            }
            pc.rekey_ms = (uint32_t)v;
            log_warn("RUPHIN_TEST_REKEY_MS: rekeying every %ld ms (a test setting)", v);
        }
    }
    struct rph_ev_peer_options opt = {
        .sndbuf = 4 << 20, .rcvbuf = 4 << 20, .gro = t->tun.offload, .on_flush = on_flush};
    t->gso_stride_max = RPH_FRAME_HEADROOM + (size_t)cfg->mtu + RPH_FRAME_TAILROOM;
    t->gso_buf = malloc(RPH_FRAME_HEADROOM + GSO_SEGS * t->gso_stride_max);
    t->gro = malloc(sizeof *t->gro);
    if (!t->gso_buf || !t->gro) {
        errmsg_set(err, "out of memory");
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
        errmsg_set(err, "UDP socket (port %u): %s", cfg->port, rph_strerror(r));
        goto fail;
    }
    t->peer = rph_ev_peer_core(t->ep);
    t->rbase = rph_peer_remotes(t->peer, &t->n_slots);
    struct announce self = {.has4 = true, .prefix4 = (uint8_t)cfg->prefix4};
    memcpy(self.addr4, cfg->addr4, 4);
    if (cfg->has_addr6) {
        self.has6 = true;
        memcpy(self.addr6, cfg->addr6, 16);
        self.prefix6 = (uint8_t)cfg->prefix6;
    }
    /* Two keepalives of silence and a holder is gone (policy.h). */
    r = policy_init(&t->pol, cfg->role, &self, 2000ull * (unsigned)cfg->keepalive_interval,
                    t->n_slots);
    t->tun_ev = event_new(base, t->tun.fd, EV_READ | EV_PERSIST, on_tun, t);
    t->announce_ev = event_new(base, -1, EV_PERSIST, on_announce_timer, t);
    if (r < 0 || !t->tun_ev || !t->announce_ev) {
        errmsg_set(err, "out of memory");
        r = -ENOMEM;
        goto fail;
    }
    event_add(t->tun_ev, NULL);
    struct timeval ka = {cfg->keepalive_interval, 0};
    event_add(t->announce_ev, &ka);
    *out = t;
    return 0;
fail:
    tunnel_close(t);
    return r;
}

void tunnel_close(struct tunnel *t)
{
    if (!t) return;
    if (t->tun_ev) event_free(t->tun_ev);
    if (t->announce_ev) event_free(t->announce_ev);
    rph_ev_peer_free(t->ep);
    tun_close(&t->tun);
    policy_free(&t->pol);
    free(t->buf);
    free(t->gso_buf);
    free(t->gro);
    free(t);
}

const struct tund_config *tunnel_config(const struct tunnel *t)
{
    return &t->cfg;
}

bool tunnel_offload_enabled(const struct tunnel *t)
{
    return t->tun.offload;
}

const struct tunnel_drops *tunnel_drops(const struct tunnel *t)
{
    return &t->drops;
}

const struct tunnel_offload *tunnel_offload(const struct tunnel *t)
{
    return &t->off;
}

const struct rph_peer_stats *tunnel_proto_stats(const struct tunnel *t)
{
    return rph_peer_stats(t->peer);
}

int tunnel_local_addr(const struct tunnel *t, struct rph_addr *out)
{
    return rph_ev_peer_local_addr(t->ep, out);
}

const char *tunnel_holepuncher_state(const struct tunnel *t, uint64_t now_ms, uint64_t *last_ms)
{
    *last_ms = rph_peer_holepuncher_last_ms(t->peer);
    return rph_peer_holepuncher_status(t->peer, now_ms);
}

size_t tunnel_peer_slots(const struct tunnel *t)
{
    return t->n_slots;
}

bool tunnel_peer_info(const struct tunnel *t, size_t i, struct tunnel_peer_info *out)
{
    if (i >= t->n_slots || !t->rbase[i].in_use) return false;
    const struct rph_remote *r = &t->rbase[i];
    const struct tpeer *p = &t->pol.peers[i];
    memset(out, 0, sizeof *out);
    bool ann = p->remote && p->announced;
    out->has4 = ann && p->ann.has4;
    out->has6 = ann && p->ann.has6;
    memcpy(out->addr4, p->ann.addr4, 4);
    memcpy(out->addr6, p->ann.addr6, 16);
    out->endpoint = r->addr;
    out->up = r->up;
    out->last_handshake_ms = r->last_hello_ms;
    out->last_rx_ms = r->last_rx_ms;
    out->rx_packets = p->rx_packets;
    out->rx_bytes = p->rx_bytes;
    out->tx_packets = p->tx_packets;
    out->tx_bytes = p->tx_bytes;
    out->drop_spoofed = p->drop_spoofed;
    return true;
}
