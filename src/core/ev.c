// SPDX-License-Identifier: MIT
// Event-driven modules: a peer or a holepuncher on the caller's libevent base. Reads in
// batches with recvmmsg until the socket would block; a timer follows the next deadline.
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
#include "udp.h"

#define BATCH 16
#define SLOT (RPH_DATAGRAM_MAX + 1)

/* Buffers for one recvmmsg batch, shared by both module kinds. */
struct rxbatch {
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_storage src[BATCH];
    /* room for the UDP_GRO segment size */
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl[BATCH];
    uint8_t *buf; /* BATCH * SLOT */
};

static int rxbatch_init(struct rxbatch *b)
{
    b->buf = malloc((size_t)BATCH * SLOT);
    return b->buf ? 0 : -ENOMEM;
}

/* Receives up to BATCH datagrams; returns the count, 0 when it would block, or -errno. */
static int rxbatch_recv(struct rxbatch *b, int fd)
{
    for (int i = 0; i < BATCH; i++) {
        b->iov[i].iov_base = b->buf + (size_t)i * SLOT;
        b->iov[i].iov_len = SLOT;
        memset(&b->msgs[i].msg_hdr, 0, sizeof b->msgs[i].msg_hdr);
        b->msgs[i].msg_hdr.msg_iov = &b->iov[i];
        b->msgs[i].msg_hdr.msg_iovlen = 1;
        b->msgs[i].msg_hdr.msg_name = &b->src[i];
        b->msgs[i].msg_hdr.msg_namelen = sizeof b->src[i];
        b->msgs[i].msg_hdr.msg_control = b->ctl[i].buf;
        b->msgs[i].msg_hdr.msg_controllen = sizeof b->ctl[i].buf;
    }
    for (;;) {
        int n = recvmmsg(fd, b->msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n >= 0) return n;
        if (errno == EINTR || errno == ECONNREFUSED) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return -errno;
    }
}

/* The size of each datagram in a GRO-coalesced buffer, or 0 when it holds one datagram. */
static size_t gro_size(struct msghdr *h)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
            int v;
            memcpy(&v, CMSG_DATA(c), sizeof v);
            return v > 0 ? (size_t)v : 0;
        }
    }
    return 0;
}

/* ---- peer ---- */

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
            size_t len = p->rx.msgs[i].msg_len, seg = gro_size(h);
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
        if (n < BATCH) break;
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
    free(p->rx.buf);
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

/* ---- holepuncher ---- */

#define HP_MAX_LISTEN 8

struct rph_ev_holepuncher;

struct hp_sock {
    struct rph_ev_holepuncher *owner;
    int fd;
    int family;
    struct event *rd;
};

/* Replies wait here and leave with one sendmmsg per batch: a Join makes two. */
#define TXQ (2 * BATCH)
#define TX_MAX (RPH_PEERINFO6_LEN + RPH_OWNER_LEN)

struct txq {
    int fd;
    size_t n;
    struct mmsghdr msgs[TXQ];
    struct iovec iov[TXQ];
    struct sockaddr_storage dst[TXQ];
    uint8_t data[TXQ][TX_MAX];
};

struct rph_ev_holepuncher {
    struct hp_sock socks[HP_MAX_LISTEN];
    size_t n;
    struct hp_sock *current; /* the socket the datagram being handled came in on */
    struct event *tick;
    struct rph_holepuncher *hp;
    struct rxbatch rx;
    struct txq tx;
};

static void txq_flush(struct txq *q)
{
    size_t done = 0;
    while (done < q->n) {
        int r = sendmmsg(q->fd, q->msgs + done, (unsigned)(q->n - done), 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            /* A reply that cannot go (buffer full, unreachable) is lost like any UDP datagram;
             * skip it and send the rest. */
            done++;
            continue;
        }
        done += (size_t)r;
    }
    q->n = 0;
}

static void hp_send(void *ctx, const struct rph_addr *to, const uint8_t *buf, size_t len)
{
    struct rph_ev_holepuncher *h = ctx;
    struct hp_sock *s = h->current;
    /* A PeerInfo toward the session's server may need the other family's socket. */
    if (!s || s->family != to->family) {
        s = NULL;
        for (size_t i = 0; i < h->n && !s; i++)
            if (h->socks[i].family == to->family) s = &h->socks[i];
    }
    if (!s || len > TX_MAX) return;
    struct txq *q = &h->tx;
    if (q->n == TXQ || (q->n && q->fd != s->fd)) txq_flush(q);
    q->fd = s->fd;
    size_t i = q->n++;
    memcpy(q->data[i], buf, len);
    q->iov[i].iov_base = q->data[i];
    q->iov[i].iov_len = len;
    memset(&q->msgs[i], 0, sizeof q->msgs[i]);
    q->msgs[i].msg_hdr.msg_name = &q->dst[i];
    q->msgs[i].msg_hdr.msg_namelen = rph_addr_to_sockaddr(to, &q->dst[i], s->family);
    q->msgs[i].msg_hdr.msg_iov = &q->iov[i];
    q->msgs[i].msg_hdr.msg_iovlen = 1;
}

static void hp_read(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct hp_sock *s = arg;
    struct rph_ev_holepuncher *h = s->owner;
    h->current = s;
    for (int round = 0; round < 64; round++) {
        int n = rxbatch_recv(&h->rx, fd);
        if (n <= 0) break;
        uint64_t now = rph_now_ms();
        for (int i = 0; i < n; i++) {
            struct msghdr *m = &h->rx.msgs[i].msg_hdr;
            struct rph_addr from;
            if (rph_addr_from_sockaddr(&from, (struct sockaddr *)&h->rx.src[i], m->msg_namelen) < 0)
                continue;
            /* A truncated datagram is oversized: hand its real size so it fails the length check.
             */
            size_t len = h->rx.msgs[i].msg_len;
            if (m->msg_flags & MSG_TRUNC) len = SLOT;
            rph_holepuncher_input(h->hp, h->rx.iov[i].iov_base, len, &from, now);
        }
        txq_flush(&h->tx);
        if (n < BATCH) break;
    }
    h->current = NULL;
}

static void hp_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct rph_ev_holepuncher *h = arg;
    rph_holepuncher_set_wall_offset(h->hp, rph_wall_offset_ms());
    rph_holepuncher_tick(h->hp, rph_now_ms());
}

struct rph_ev_holepuncher *rph_ev_holepuncher_new(struct event_base *base,
                                                  const struct rph_holepuncher_config *cfg,
                                                  const struct rph_addr *listen, size_t n_listen,
                                                  int *err)
{
    int e = -ENOMEM;
    if (n_listen == 0 || n_listen > HP_MAX_LISTEN) {
        if (err) *err = RPH_E_INVALID;
        return NULL;
    }
    struct rph_ev_holepuncher *h = calloc(1, sizeof *h);
    if (!h) goto fail;
    for (size_t i = 0; i < HP_MAX_LISTEN; i++)
        h->socks[i].fd = -1;
    if (rxbatch_init(&h->rx) < 0) goto fail;
    h->hp = rph_holepuncher_new(cfg, hp_send, h);
    if (!h->hp) goto fail;
    rph_holepuncher_set_wall_offset(h->hp, rph_wall_offset_ms());
    for (size_t i = 0; i < n_listen; i++) {
        struct hp_sock *s = &h->socks[i];
        s->owner = h;
        s->fd = rph_udp_open(&listen[i], listen[i].family, 0, 4 << 20);
        if (s->fd >= 0) rph_udp_tiny_replies(s->fd);
        if (s->fd < 0) {
            e = s->fd;
            goto fail;
        }
        s->family = listen[i].family;
        h->n = i + 1;
        s->rd = event_new(base, s->fd, EV_READ | EV_PERSIST, hp_read, s);
        if (!s->rd) goto fail;
        event_add(s->rd, NULL);
    }
    h->tick = event_new(base, -1, EV_PERSIST, hp_tick, h);
    if (!h->tick) goto fail;
    struct timeval sec = {1, 0};
    event_add(h->tick, &sec);
    return h;
fail:
    rph_ev_holepuncher_free(h);
    if (err) *err = e;
    return NULL;
}

void rph_ev_holepuncher_free(struct rph_ev_holepuncher *h)
{
    if (!h) return;
    for (size_t i = 0; i < HP_MAX_LISTEN; i++) {
        if (h->socks[i].rd) event_free(h->socks[i].rd);
        if (h->socks[i].fd >= 0) close(h->socks[i].fd);
    }
    if (h->tick) event_free(h->tick);
    rph_holepuncher_free(h->hp);
    free(h->rx.buf);
    free(h);
}

struct rph_holepuncher *rph_ev_holepuncher_core(struct rph_ev_holepuncher *h)
{
    return h->hp;
}

int rph_ev_holepuncher_local_addr(const struct rph_ev_holepuncher *h, size_t i,
                                  struct rph_addr *out)
{
    if (i >= h->n) return RPH_E_INVALID;
    return rph_udp_local(h->socks[i].fd, out);
}
