// SPDX-License-Identifier: MIT
// The event-driven peer: a peer on the caller's libevent base. Reads in recvmmsg batches until
// the socket would block; a timer follows the next deadline.
#include "ruphin/ev.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#include "ruphin/clock.h"
#include "ruphin/error.h"
#include "rxbatch.h"
#include "udp.h"

struct rph_ev_peer {
    struct event_base *base;
    int fd;
    int family;
    struct event *rd;
    struct event *timer;
    struct rph_peer *peer;
    struct rph_peer_callbacks user;
    void *ctx;
    void (*on_flush)(void *ctx);
    bool gso_ok; /* UDP GSO worked (or has not failed yet) */
    struct rxbatch rx;
};

static void peer_send(void *ctx, const struct rph_addr *to, const uint8_t *buf, size_t len)
{
    struct rph_ev_peer *p = ctx;
    rph_udp_send(p->fd, p->family, to, buf, len);
}

static void peer_data(void *ctx, struct rph_remote *from, const uint8_t *data, size_t len)
{
    struct rph_ev_peer *p = ctx;
    if (p->user.on_data) p->user.on_data(p->ctx, from, data, len);
}

static void peer_remote(void *ctx, struct rph_remote *r, bool up)
{
    struct rph_ev_peer *p = ctx;
    if (p->user.on_remote) p->user.on_remote(p->ctx, r, up);
}

static void peer_state(void *ctx, enum rph_peer_state s, int err)
{
    struct rph_ev_peer *p = ctx;
    if (p->user.on_state) p->user.on_state(p->ctx, s, err);
}

static void arm_timer(struct rph_ev_peer *p)
{
    uint64_t now = rph_now_ms();
    uint64_t dl = rph_peer_next_deadline(p->peer);
    if (dl == UINT64_MAX) {
        evtimer_del(p->timer);
        return;
    }
    uint64_t wait = dl > now ? dl - now : 0;
    struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)((wait % 1000) * 1000)};
    evtimer_add(p->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct rph_ev_peer *p = arg;
    /* The wall clock may be stepped (NTP); sealed Register/Join carry it. */
    rph_peer_set_wall_offset(p->peer, rph_wall_offset_ms());
    rph_peer_tick(p->peer, rph_now_ms());
    arm_timer(p);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct rph_ev_peer *p = arg;
    /* Bounded: after 64 batches yield to the loop so the TUN side gets its turn. */
    for (int round = 0; round < 64; round++) {
        int n = rxbatch_recv(&p->rx, fd);
        if (n <= 0) break;
        uint64_t now = rph_now_ms();
        for (int i = 0; i < n; i++) {
            struct msghdr *h = &p->rx.msgs[i].msg_hdr;
            struct rph_addr from;
            if (h->msg_flags & MSG_TRUNC) continue;
            if (rph_addr_from_sockaddr(&from, (struct sockaddr *)&p->rx.src[i], h->msg_namelen) < 0)
                continue;
            uint8_t *d = p->rx.iov[i].iov_base;
            size_t len = p->rx.msgs[i].msg_len, seg = rxbatch_gro_size(h);
            if (seg == 0 || seg > len) seg = len;
            /* do/while: an empty datagram is input too (and counted as malformed). */
            size_t off = 0;
            do {
                size_t one = len - off < seg ? len - off : seg;
                rph_peer_input(p->peer, d + off, one, &from, now);
                off += seg;
            } while (off < len);
        }
        if (p->on_flush) p->on_flush(p->ctx);
        if (n < RXBATCH_N) break;
    }
    rph_peer_tick(p->peer, rph_now_ms());
    arm_timer(p);
}

struct rph_ev_peer *rph_ev_peer_new(struct event_base *base, const struct rph_peer_config *cfg,
                                    const struct rph_ev_peer_options *opt,
                                    const struct rph_peer_callbacks *cb, void *ctx, int *err)
{
    int e = -ENOMEM;
    struct rph_ev_peer *p = calloc(1, sizeof *p);
    if (!p) goto fail;
    p->fd = -1;
    p->base = base;
    p->user = *cb;
    p->ctx = ctx;
    if (rxbatch_init(&p->rx) < 0) goto fail;
    struct rph_ev_peer_options none = {0};
    if (!opt) opt = &none;
    p->family = opt->bind.family ? opt->bind.family : cfg->holepuncher.family;
    if (p->family != cfg->holepuncher.family) {
        e = RPH_E_INVALID;
        goto fail;
    }
    p->fd = rph_udp_open(&opt->bind, p->family, opt->sndbuf, opt->rcvbuf);
    if (p->fd < 0) {
        e = p->fd;
        goto fail;
    }
    p->on_flush = opt->on_flush;
    p->gso_ok = true;
    if (opt->gro) {
        int one = 1;
        setsockopt(p->fd, SOL_UDP, UDP_GRO, &one, sizeof one); /* older kernels: no GRO */
    }
    p->rd = event_new(base, p->fd, EV_READ | EV_PERSIST, on_read, p);
    p->timer = evtimer_new(base, on_timer, p);
    if (!p->rd || !p->timer) goto fail;
    struct rph_peer_callbacks inner = {
        .send = peer_send, .on_data = peer_data, .on_remote = peer_remote, .on_state = peer_state};
    p->peer = rph_peer_new(cfg, &inner, p, rph_now_ms(), &e);
    if (!p->peer) goto fail;
    event_add(p->rd, NULL);
    arm_timer(p);
    return p;
fail:
    rph_ev_peer_free(p);
    if (err) *err = e;
    return NULL;
}

void rph_ev_peer_free(struct rph_ev_peer *p)
{
    if (!p) return;
    if (p->rd) event_free(p->rd);
    if (p->timer) event_free(p->timer);
    rph_peer_free(p->peer);
    if (p->fd >= 0) close(p->fd);
    rxbatch_free(&p->rx);
    free(p);
}

int rph_ev_peer_send(struct rph_ev_peer *p, const struct rph_addr *to, const void *data, size_t len)
{
    return rph_peer_send_data(p->peer, to, data, len);
}

int rph_ev_peer_send_frame(struct rph_ev_peer *p, struct rph_remote *r, uint8_t *buf,
                           size_t payload_len)
{
    uint8_t *d;
    int n = rph_peer_frame(p->peer, r, buf, payload_len, &d);
    if (n < 0) return n;
    return rph_udp_send(p->fd, p->family, &r->addr, d, (size_t)n);
}

int rph_ev_peer_send_gso(struct rph_ev_peer *p, const struct rph_addr *to, const uint8_t *buf,
                         size_t total, size_t seg)
{
    if (p->gso_ok && total > seg) {
        struct sockaddr_storage ss;
        socklen_t sl = rph_addr_to_sockaddr(to, &ss, p->family);
        struct iovec iov = {(void *)buf, total};
        union {
            char b[CMSG_SPACE(sizeof(uint16_t))];
            struct cmsghdr align;
        } ctl;
        memset(&ctl, 0, sizeof ctl);
        struct msghdr mh = {.msg_name = &ss,
                            .msg_namelen = sl,
                            .msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = ctl.b,
                            .msg_controllen = sizeof ctl.b};
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t gs = (uint16_t)seg;
        memcpy(CMSG_DATA(c), &gs, sizeof gs);
        for (;;) {
            if (sendmsg(p->fd, &mh, 0) >= 0) return 0;
            if (errno == EINTR) continue;
            break;
        }
        /* No GSO here (old kernel, or a device without it): fall back for good. */
        if (errno != EIO && errno != EINVAL && errno != EOPNOTSUPP) return -errno;
        p->gso_ok = false;
    }
    for (size_t off = 0; off < total; off += seg) {
        size_t one = total - off < seg ? total - off : seg;
        int r = rph_udp_send(p->fd, p->family, to, buf + off, one);
        if (r < 0) return r;
    }
    return 0;
}

struct rph_peer *rph_ev_peer_core(struct rph_ev_peer *p)
{
    return p->peer;
}

int rph_ev_peer_fd(const struct rph_ev_peer *p)
{
    return p->fd;
}

int rph_ev_peer_local_addr(const struct rph_ev_peer *p, struct rph_addr *out)
{
    return rph_udp_local(p->fd, out);
}
