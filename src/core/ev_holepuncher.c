// SPDX-License-Identifier: MIT
// The event-driven holepuncher: one UDP socket per listen address on the caller's libevent base,
// read in recvmmsg batches, replies sent with one sendmmsg per batch, sessions expired each second.
#include "ruphin/ev.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ruphin/clock.h"
#include "ruphin/error.h"
#include "ruphin/relay.h"
#include "rxbatch.h"
#include "udp.h"

#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#define HP_MAX_LISTEN 8

struct rph_ev_holepuncher;

struct hp_sock {
    struct rph_ev_holepuncher *owner;
    int fd;
    int family;
    struct event *rd;
};

/* Replies wait here and leave with one sendmmsg per batch: a Join makes two. */
#define TXQ (2 * RXBATCH_N)
#define TX_MAX RPH_HP_TX_MAX

struct txq {
    int fd;
    size_t n;
    struct mmsghdr msgs[TXQ];
    struct iovec iov[TXQ];
    struct sockaddr_storage dst[TXQ];
    uint8_t data[TXQ][TX_MAX];
};

/* Relayed datagrams leave from the receive buffers they arrived in (rewritten in place by the
 * relay), no copy: one sendmmsg per batch and per socket. Datagrams that arrived as one UDP GRO
 * train and go on to one destination leave as one UDP GSO send (same size, back to back). */
#define RELAYQ 64
#define RELAY_GSO_BYTES 65000 /* one GSO send carries at most 64 KB with its headers */
#define RELAY_GSO_SEGS 64     /* the kernel's UDP_MAX_SEGMENTS */

struct relayq {
    size_t n;
    /* The shortest segment the kernel refused in a GSO send (0: none): trains of segments at
     * least that long leave datagram by datagram from then on (longer than the route's MTU,
     * or no GSO at all). */
    size_t gso_refused;
    int fd[RELAYQ];
    struct rph_addr to[RELAYQ];
    size_t seg[RELAYQ], segs[RELAYQ]; /* each datagram seg bytes but the last; how many */
    bool closed[RELAYQ];              /* its last datagram is shorter than seg: it takes no more */
    struct mmsghdr msgs[RELAYQ];
    struct iovec iov[RELAYQ];
    struct sockaddr_storage dst[RELAYQ];
    union {
        char b[CMSG_SPACE(sizeof(uint16_t))];
        struct cmsghdr align;
    } ctl[RELAYQ];
    struct rph_ev_hp_io io;
};

struct rph_ev_holepuncher {
    struct hp_sock socks[HP_MAX_LISTEN];
    size_t n;
    struct hp_sock *current; /* the socket the datagram being handled came in on */
    struct event *tick;
    struct rph_holepuncher *hp;
    struct rxbatch rx;
    struct txq tx;
    struct relayq relay;
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

/* A GSO send the kernel refused: its datagrams one by one. */
static void relayq_send_each(struct relayq *q, size_t i)
{
    uint8_t *p = q->iov[i].iov_base;
    size_t left = q->iov[i].iov_len;
    while (left) {
        size_t one = left < q->seg[i] ? left : q->seg[i];
        (void)sendto(q->fd[i], p, one, 0, q->msgs[i].msg_hdr.msg_name,
                     q->msgs[i].msg_hdr.msg_namelen);
        p += one;
        left -= one;
    }
}

/* Sends the queue in runs of one socket; a datagram that cannot go is lost like any UDP one. */
static void relayq_flush(struct relayq *q)
{
    for (size_t i = 0; i < q->n; i++) {
        struct msghdr *mh = &q->msgs[i].msg_hdr;
        mh->msg_control = NULL;
        mh->msg_controllen = 0;
        if (q->segs[i] < 2) continue;
        memset(&q->ctl[i], 0, sizeof q->ctl[i]);
        mh->msg_control = q->ctl[i].b;
        mh->msg_controllen = sizeof q->ctl[i].b;
        struct cmsghdr *c = CMSG_FIRSTHDR(mh);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t gs = (uint16_t)q->seg[i];
        memcpy(CMSG_DATA(c), &gs, sizeof gs);
    }
    size_t done = 0;
    while (done < q->n) {
        size_t run = 1;
        while (done + run < q->n && q->fd[done + run] == q->fd[done])
            run++;
        int r = sendmmsg(q->fd[done], q->msgs + done, (unsigned)run, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r > 0) {
            for (size_t k = done; k < done + (size_t)r; k++)
                if (q->segs[k] > 1) q->io.gso_sends++, q->io.gso_datagrams += q->segs[k];
            done += (size_t)r;
            continue;
        }
        /* The first of the run failed: a GSO send the kernel cannot do goes out datagram by
         * datagram (and no GSO is tried again with segments as long); anything else is lost. */
        if (q->segs[done] > 1 && (errno == EIO || errno == EINVAL || errno == EOPNOTSUPP)) {
            if (!q->gso_refused || q->seg[done] < q->gso_refused) q->gso_refused = q->seg[done];
            relayq_send_each(q, done);
        }
        done++;
    }
    q->n = 0;
}

/* Appends a datagram at buf to the queue's last entry when it continues that entry's GSO train
 * (same socket and destination, right after it in memory, no longer than its segments). */
static bool relayq_join(struct relayq *q, int fd, const struct rph_addr *to, uint8_t *buf,
                        size_t len)
{
    if (q->n == 0) return false;
    size_t i = q->n - 1;
    if (q->gso_refused && q->seg[i] >= q->gso_refused) return false;
    if (q->fd[i] != fd || q->closed[i] || (uint8_t *)q->iov[i].iov_base + q->iov[i].iov_len != buf)
        return false;
    if (len > q->seg[i] || q->segs[i] == RELAY_GSO_SEGS ||
        q->iov[i].iov_len + len > RELAY_GSO_BYTES || !rph_addr_equal(&q->to[i], to))
        return false;
    q->iov[i].iov_len += len;
    q->segs[i]++;
    q->closed[i] = len < q->seg[i];
    return true;
}

/* A RelayData: forwarded from its own buffer when the relay lets it through. */
static void hp_relay(struct rph_ev_holepuncher *h, uint8_t *buf, size_t len,
                     const struct rph_addr *from, uint64_t now)
{
    struct rph_addr to;
    if (rph_holepuncher_relay(h->hp, buf, len, from, now, &to) < 0) return;
    struct hp_sock *s = h->current;
    if (!s || s->family != to.family) {
        s = NULL;
        for (size_t i = 0; i < h->n && !s; i++)
            if (h->socks[i].family == to.family) s = &h->socks[i];
    }
    if (!s) return;
    struct relayq *q = &h->relay;
    if (relayq_join(q, s->fd, &to, buf, len)) return;
    if (q->n == RELAYQ) relayq_flush(q); /* the buffers stay valid until the next receive */
    size_t i = q->n++;
    q->fd[i] = s->fd;
    q->to[i] = to;
    q->seg[i] = len;
    q->segs[i] = 1;
    q->closed[i] = false;
    q->iov[i].iov_base = buf;
    q->iov[i].iov_len = len;
    memset(&q->msgs[i], 0, sizeof q->msgs[i]);
    q->msgs[i].msg_hdr.msg_name = &q->dst[i];
    q->msgs[i].msg_hdr.msg_namelen = rph_addr_to_sockaddr(&to, &q->dst[i], s->family);
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
            size_t len = h->rx.msgs[i].msg_len, seg = rxbatch_gro_size(m);
            if (m->msg_flags & MSG_TRUNC) len = seg = RXBATCH_SLOT;
            if (seg == 0 || seg > len) seg = len;
            if (seg < len) h->relay.io.gro_trains++;
            /* A UDP GRO train: datagrams of seg bytes back to back (the last maybe shorter),
             * from one source; relayed ones keep their place, so they can leave as one train. */
            uint8_t *buf = h->rx.iov[i].iov_base;
            size_t off = 0;
            do {
                size_t one = len - off < seg ? len - off : seg;
                if (rph_relay_is(buf + off, one))
                    hp_relay(h, buf + off, one, &from, now);
                else
                    rph_holepuncher_input(h->hp, buf + off, one, &from, now);
                off += seg;
            } while (off < len);
        }
        txq_flush(&h->tx);
        /* Before the next recvmmsg reuses the buffers the relayed datagrams are in. */
        relayq_flush(&h->relay);
        if (n < RXBATCH_N) break;
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
        if (s->fd >= 0) {
            /* Relayed datagrams are a tunnel's, up to a relay header over its MTU: with the
             * relay on the kernel may fragment them rather than refuse them (EMSGSIZE). */
            if (!cfg->relay_enabled) rph_udp_tiny_replies(s->fd);
            /* Relayed bulk traffic from one member comes as GRO trains (older kernels: no GRO). */
            int one = 1;
            setsockopt(s->fd, SOL_UDP, UDP_GRO, &one, sizeof one);
        }
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
    rxbatch_free(&h->rx);
    free(h);
}

const struct rph_ev_hp_io *rph_ev_holepuncher_io(const struct rph_ev_holepuncher *h)
{
    return &h->relay.io;
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
