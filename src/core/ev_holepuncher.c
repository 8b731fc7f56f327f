// SPDX-License-Identifier: MIT
// The event-driven holepuncher: one UDP socket per listen address on the caller's libevent base,
// read in recvmmsg batches, replies sent with one sendmmsg per batch, sessions expired each second.
#include "ruphin/ev.h"

#include <errno.h>
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
#define TX_MAX (RPH_PEERINFO6_LEN + RPH_OWNER_LEN)

struct txq {
    int fd;
    size_t n;
    struct mmsghdr msgs[TXQ];
    struct iovec iov[TXQ];
    struct sockaddr_storage dst[TXQ];
    uint8_t data[TXQ][TX_MAX];
};

/* Relayed datagrams leave from the receive buffers they arrived in (rewritten in place by the
 * relay): one sendmmsg per batch and per socket, no copy. */
struct relayq {
    size_t n;
    int fd[RXBATCH_N];
    struct mmsghdr msgs[RXBATCH_N];
    struct iovec iov[RXBATCH_N];
    struct sockaddr_storage dst[RXBATCH_N];
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

/* Sends the queue in runs of one socket; a datagram that cannot go is lost like any UDP one. */
static void relayq_flush(struct relayq *q)
{
    size_t done = 0;
    while (done < q->n) {
        size_t run = 1;
        while (done + run < q->n && q->fd[done + run] == q->fd[done])
            run++;
        int r = sendmmsg(q->fd[done], q->msgs + done, (unsigned)run, 0);
        if (r < 0 && errno == EINTR) continue;
        done += r > 0 ? (size_t)r : 1;
    }
    q->n = 0;
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
    size_t i = q->n++;
    q->fd[i] = s->fd;
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
            size_t len = h->rx.msgs[i].msg_len;
            if (m->msg_flags & MSG_TRUNC) len = RXBATCH_SLOT;
            uint8_t *buf = h->rx.iov[i].iov_base;
            if (rph_relay_is(buf, len))
                hp_relay(h, buf, len, &from, now);
            else
                rph_holepuncher_input(h->hp, buf, len, &from, now);
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
    rxbatch_free(&h->rx);
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
