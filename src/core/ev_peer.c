// SPDX-License-Identifier: MIT
// The event-driven peer: a peer on the caller's libevent base. Reads in recvmmsg batches until
// the socket would block, sends queued data in UDP GSO trains, a timer follows the next deadline.
#include "ruphin/ev.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#include "ruphin/clock.h"
#include "ruphin/error.h"
#include "ruphin/relay.h"
#include "rxbatch.h"
#include "txtrain.h"
#include "udp.h"

/* After a fresh-port swap the old socket stays readable this long: datagrams in flight to the
 * old port (relayed ones too, until the server hears from the new one) are not lost. */
#define FRESH_PORT_LINGER_MS 5000u

struct rph_ev_peer {
    struct event_base *base;
    int fd;
    struct rph_ev_peer_options opt; /* as created: a fresh port's socket is made the same way */
    int old_fd;                     /* the socket before the last fresh port, -1: none */
    struct event *old_rd, *linger;  /* its reads, and the timer that closes it */
    int family;                     /* of the socket: 6 for a dual-stack one */
    bool dual;
    struct event *rd;
    struct event *timer;
    struct rph_peer *peer;
    struct rph_peer_callbacks user;
    void *ctx;
    void (*on_flush)(void *ctx);
    void (*on_tick)(void *ctx, uint64_t now_ms);
    void (*on_sent)(void *ctx, const struct rph_ev_sent *s);
    struct rxbatch rx;
    struct txtrain tx;
    size_t head, tail; /* framing around a payload */
    /* the reservation rph_ev_peer_commit fills in: n slots of stride from tx.base + off */
    struct rph_remote *rsv_to;
    size_t rsv_off, rsv_stride, rsv_head, rsv_n;
    bool rearm;         /* a flush told the core of data sent: its next deadline may be earlier */
    bool relay;         /* sealed with the relay on: slots keep room for a RelayData header */
    bool train_relayed; /* the train being built goes through the relay */
    uint8_t relaybuf[RPH_DATAGRAM_MAX]; /* rph_ev_peer_send_frame through the relay */
    uint64_t other_mode;                /* refused datagrams only the other mode sends */
    struct rph_addr other_from;         /* the last one's sender */
};

/* A datagram the core refused whose type only a peer of the other mode sends: sealed
 * handshake or transport at a plaintext peer, plain Data or HelloResp at a sealed one (a
 * sealed peer sends neither). Looked at on the error path only: no cost per packet. */
static void note_other_mode(struct rph_ev_peer *p, const uint8_t *d, size_t len,
                            const struct rph_addr *from)
{
    if (len < RPH_HEADER_LEN || ((size_t)d[0] << 8 | d[1]) != len) return;
    unsigned t = (unsigned)d[2] << 8 | d[3];
    bool other = rph_peer_config(p->peer)->sealed
                     ? t == RPH_DATA || t == RPH_HELLO_RESP
                     : t == RPH_TRANSPORT || (t >= RPH_HANDSHAKE_INIT && t <= RPH_COOKIE_REPLY);
    if (!other) return;
    p->other_mode++;
    p->other_from = *from;
}

/* The socket a datagram to the holepuncher leaves from: RelayData from the old one (after a
 * fresh port) while the relay knows us only there, everything else from the current one. */
static int fd_for(const struct rph_ev_peer *p, bool relay_data)
{
    return relay_data && p->old_fd >= 0 && rph_peer_relay_old_port(p->peer) ? p->old_fd : p->fd;
}

static void peer_send(void *ctx, const struct rph_addr *to, const uint8_t *buf, size_t len)
{
    struct rph_ev_peer *p = ctx;
    rph_udp_send(fd_for(p, rph_relay_is(buf, len)), p->family, to, buf, len);
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

static void peer_path(void *ctx, struct rph_remote *r, int reason)
{
    struct rph_ev_peer *p = ctx;
    /* Queued datagrams follow the path they were framed for; new ones take the new one. */
    p->user.on_path(p->ctx, r, reason);
}

static void peer_trace(void *ctx, const struct rph_trace *t)
{
    struct rph_ev_peer *p = ctx;
    p->user.on_trace(p->ctx, t);
}

static void train_sent(void *ctx, const struct txtrain_report *r)
{
    struct rph_ev_peer *p = ctx;
    /* Once per train, not per packet: the core watches for answers to what we send. */
    if (!r->err && rph_peer_note_sent(p->peer, (struct rph_remote *)r->key, rph_now_ms()))
        p->rearm = true;
    if (!p->on_sent) return;
    /* The train reported is the one built last (train_relayed changes after it leaves). */
    size_t over = p->head + p->tail + (p->train_relayed ? RPH_RELAY_HEADER_LEN : 0);
    struct rph_ev_sent s = {.to = (struct rph_remote *)r->key,
                            .datagrams = r->datagrams,
                            .payload_bytes = r->bytes - r->datagrams * over,
                            .relayed = p->train_relayed,
                            .gso = r->gso,
                            .err = r->err};
    p->on_sent(p->ctx, &s);
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
    /* A tick may drop remotes: nothing queued for one may wait past it. */
    rph_ev_peer_flush(p);
    /* The wall clock may be stepped (NTP); sealed Register/Join carry it. */
    rph_peer_set_wall_offset(p->peer, rph_wall_offset_ms());
    uint64_t now = rph_now_ms();
    rph_peer_tick(p->peer, now);
    arm_timer(p);
    if (p->on_tick) p->on_tick(p->ctx, now);
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
        int64_t wall_offset = rph_wall_offset_ms();
        for (int i = 0; i < n; i++) {
            struct msghdr *h = &p->rx.msgs[i].msg_hdr;
            struct rph_addr from;
            if (h->msg_flags & MSG_TRUNC) continue;
            if (rph_addr_from_sockaddr(&from, (struct sockaddr *)&p->rx.src[i], h->msg_namelen) < 0)
                continue;
            uint8_t *d = p->rx.iov[i].iov_base;
            size_t len = p->rx.msgs[i].msg_len, seg = rxbatch_gro_size(h);
            if (seg == 0 || seg > len) seg = len;
            uint64_t arrived = rxbatch_arrival_ms(h, wall_offset);
            if (!arrived) arrived = now; /* no stamp */
            /* do/while: an empty datagram is input too (and counted as malformed). */
            size_t off = 0;
            do {
                size_t one = len - off < seg ? len - off : seg;
                if (rph_peer_input_at(p->peer, d + off, one, &from, now, arrived) < 0)
                    note_other_mode(p, d + off, one, &from);
                off += seg;
            } while (off < len);
        }
        if (p->on_flush) p->on_flush(p->ctx);
        rph_ev_peer_flush(p); /* what the callbacks queued (e.g. forwarded to another remote) */
        if (n < RXBATCH_N) break;
    }
    uint64_t now = rph_now_ms();
    rph_peer_tick(p->peer, now);
    arm_timer(p);
    if (p->on_tick) p->on_tick(p->ctx, now);
}

/* The peer's UDP socket on port (0: an ephemeral one), with the options it was created with. A
 * dual-stack one sends every datagram as family 6 (IPv4 ones mapped): GSO, GRO and the relay
 * work the same on it, and received IPv4 sources come back as family 4. When the host cannot
 * open one (no IPv6), a plain socket of the holepuncher's family. */
static int open_socket(struct rph_ev_peer *p, uint16_t port)
{
    struct rph_addr bind = p->opt.bind;
    bind.port = port;
    int fd = -1;
    if (p->dual) {
        fd = rph_udp_open_dual(port, p->opt.sndbuf, p->opt.rcvbuf);
        if (fd >= 0) p->family = 6;
        p->dual = fd >= 0;
    }
    if (fd < 0) fd = rph_udp_open(&bind, p->family, p->opt.sndbuf, p->opt.rcvbuf);
    if (fd >= 0 && p->opt.gro) {
        int one = 1;
        setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one); /* older kernels: no GRO */
    }
    /* Round trips to the holepuncher are timed to arrival (timed punches); without stamps,
     * to reading. */
    if (fd >= 0) (void)rxbatch_stamp_arrivals(fd);
    return fd;
}

static void close_old(struct rph_ev_peer *p)
{
    if (p->old_rd) event_free(p->old_rd);
    p->old_rd = NULL;
    if (p->old_fd >= 0) close(p->old_fd);
    p->old_fd = -1;
}

static void on_linger(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct rph_ev_peer *p = arg;
    /* What was in flight to the old port has arrived by now: nothing else is sent there. */
    on_read(p->old_fd, EV_READ, p);
    close_old(p);
}

/* The core's fresh-port retry: a new socket on an ephemeral port (same family, bind address and
 * options) takes over sending and receiving; the old one stays readable FRESH_PORT_LINGER_MS. */
static int peer_fresh_port(void *ctx, unsigned attempt)
{
    struct rph_ev_peer *p = ctx;
    int fd = open_socket(p, 0);
    if (fd < 0) return fd;
    struct event *rd = event_new(p->base, fd, EV_READ | EV_PERSIST, on_read, p);
    if (!rd) {
        close(fd);
        return -ENOMEM;
    }
    /* What is queued was framed for the old socket's path: it leaves from there. */
    txtrain_flush(&p->tx);
    close_old(p); /* a swap before the last one's linger ended: that one is two ports old */
    p->old_fd = p->fd;
    p->old_rd = p->rd;
    p->fd = fd;
    p->rd = rd;
    p->tx.fd = fd;
    event_add(rd, NULL);
    struct timeval tv = {FRESH_PORT_LINGER_MS / 1000, (FRESH_PORT_LINGER_MS % 1000) * 1000};
    evtimer_add(p->linger, &tv);
    if (p->user.fresh_port) p->user.fresh_port(p->ctx, attempt);
    return 0;
}

struct rph_ev_peer *rph_ev_peer_new(struct event_base *base, const struct rph_peer_config *cfg,
                                    const struct rph_ev_peer_options *opt,
                                    const struct rph_peer_callbacks *cb, void *ctx, int *err)
{
    int e = -ENOMEM;
    struct rph_ev_peer *p = calloc(1, sizeof *p);
    if (!p) goto fail;
    p->fd = p->old_fd = -1;
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
    p->opt = *opt;
    bool any_ip = true;
    for (size_t i = 0; i < sizeof opt->bind.ip; i++)
        any_ip = any_ip && opt->bind.ip[i] == 0;
    p->dual = opt->dual_stack && p->family == 4 && any_ip;
    p->fd = open_socket(p, opt->bind.port);
    if (p->fd < 0) {
        e = p->fd;
        goto fail;
    }
    p->on_flush = opt->on_flush;
    p->on_tick = opt->on_tick;
    p->on_sent = opt->on_sent;
    p->rd = event_new(base, p->fd, EV_READ | EV_PERSIST, on_read, p);
    p->timer = evtimer_new(base, on_timer, p);
    p->linger = evtimer_new(base, on_linger, p);
    if (!p->rd || !p->timer || !p->linger) goto fail;
    struct rph_peer_callbacks inner = {.send = peer_send,
                                       .on_data = peer_data,
                                       .on_remote = peer_remote,
                                       .on_state = peer_state,
                                       .on_trace = cb->on_trace ? peer_trace : NULL,
                                       .on_path = cb->on_path ? peer_path : NULL,
                                       /* A fixed port was chosen for a reason (a port
                                        * forward, a firewall rule): it stays. */
                                       .fresh_port = opt->bind.port ? NULL : peer_fresh_port};
    p->peer = rph_peer_new(cfg, &inner, p, rph_now_ms(), &e);
    if (!p->peer) goto fail;
    rph_peer_frame_overhead(p->peer, &p->head, &p->tail);
    p->relay = cfg->sealed && cfg->relay;
    size_t payload_max = opt->queue_payload_max ? opt->queue_payload_max : 1400;
    if (payload_max > RPH_DATA_MAX) payload_max = RPH_DATA_MAX;
    /* A relayed datagram is RPH_RELAY_HEADER_LEN longer: relayed trains are tried with the
     * longer segments, which fit when the tunnel's MTU leaves room for the relay header (the
     * default does); when the kernel refuses them, such datagrams leave alone and fragment. */
    size_t slot = p->head + payload_max + p->tail;
    size_t longest = p->head + RPH_DATA_MAX + p->tail;
    size_t seg_try = slot + (p->relay ? RPH_RELAY_HEADER_LEN : 0);
    if (p->relay) longest += RPH_RELAY_HEADER_LEN;
    e = txtrain_init(&p->tx, p->fd, p->family, slot, seg_try, longest, RPH_FRAME_HEADROOM,
                     !opt->no_gso);
    if (e < 0) goto fail;
    p->tx.report = train_sent;
    p->tx.ctx = p;
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
    close_old(p);
    if (p->linger) event_free(p->linger);
    rph_peer_free(p->peer);
    if (p->fd >= 0) close(p->fd);
    rxbatch_free(&p->rx);
    txtrain_free(&p->tx);
    free(p);
}

int rph_ev_peer_send(struct rph_ev_peer *p, const struct rph_addr *to, const void *data, size_t len)
{
    rph_ev_peer_flush(p);
    return rph_peer_send_data(p->peer, to, data, len);
}

/* Whether datagrams to r go through the relay now (and can: cookie and endpoint known). */
static bool relayed(const struct rph_ev_peer *p, const struct rph_remote *r)
{
    return p->relay && r->relayed && r->has_relay_addr;
}

/* Bytes in front of a payload in a queue slot for r: the framing, and the RelayData header
 * when r is relayed (written in place, so a relayed train is one GSO send too). */
static size_t head_for(const struct rph_ev_peer *p, const struct rph_remote *r)
{
    return p->head + (relayed(p, r) ? RPH_RELAY_HEADER_LEN : 0);
}

int rph_ev_peer_send_frame(struct rph_ev_peer *p, struct rph_remote *r, uint8_t *buf,
                           size_t payload_len)
{
    rph_ev_peer_flush(p);
    uint8_t *d;
    int n = rph_peer_frame(p->peer, r, buf, payload_len, &d);
    if (n < 0) return n;
    if (relayed(p, r) && (size_t)n <= RPH_RELAY_PAYLOAD_MAX) {
        memcpy(p->relaybuf + RPH_RELAY_HEADER_LEN, d, (size_t)n);
        int w = rph_peer_relay_wrap(p->peer, r, p->relaybuf, sizeof p->relaybuf, (size_t)n);
        if (w > 0)
            return rph_udp_send(fd_for(p, true), p->family, &rph_peer_config(p->peer)->holepuncher,
                                p->relaybuf, (size_t)w);
    }
    return rph_udp_send(p->fd, p->family, &r->addr, d, (size_t)n);
}

/* Frames the payload at its place in the slot at tx.base + off and adds the datagram to the
 * train: straight to r, or behind a RelayData header to the holepuncher. */
static int frame_and_add(struct rph_ev_peer *p, struct rph_remote *r, size_t off, size_t len)
{
    bool rel = relayed(p, r);
    size_t rh = rel ? RPH_RELAY_HEADER_LEN : 0;
    uint8_t *dgram = p->tx.base + off + rh, *d;
    /* rph_peer_frame wants RPH_FRAME_HEADROOM before the payload but writes only p->head of
     * it, so the datagram starts exactly at off + rh (tx.mem has the rest before the first). */
    int n = rph_peer_frame(p->peer, r, dgram + p->head - RPH_FRAME_HEADROOM, len, &d);
    if (n < 0) return n;
    const struct rph_addr *to = &r->addr;
    if (rel) {
        n = rph_peer_relay_wrap(p->peer, r, p->tx.base + off, rh + (size_t)n, (size_t)n);
        if (n < 0) return n;
        to = &rph_peer_config(p->peer)->holepuncher;
    }
    /* A train keyed by r was built for the other path (it changed during a batch): it leaves
     * first, so no datagram goes to the wrong place. */
    if (p->tx.n && p->tx.key == r && p->train_relayed != rel) txtrain_flush(&p->tx);
    /* Likewise a train from the other socket (the relay took our fresh port meanwhile). */
    int fd = fd_for(p, rel);
    if (p->tx.n && p->tx.fd != fd) txtrain_flush(&p->tx);
    p->tx.fd = fd;
    txtrain_add(&p->tx, r, to, off, (size_t)n);
    p->train_relayed = rel;
    return 0;
}

int rph_ev_peer_queue(struct rph_ev_peer *p, struct rph_remote *r, const void *payload, size_t len)
{
    p->rsv_n = 0;
    if (len > RPH_DATA_MAX) return RPH_E_TOOBIG;
    size_t off, h = head_for(p, r);
    /* Cannot fail: the buffer holds the longest datagram. */
    if (txtrain_reserve(&p->tx, r, h + len + p->tail, 1, &off) < 0) return RPH_E_TOOBIG;
    memcpy(p->tx.base + off + h, payload, len);
    return frame_and_add(p, r, off, len);
}

int rph_ev_peer_reserve(struct rph_ev_peer *p, struct rph_remote *r, size_t payload_max, size_t n,
                        uint8_t **slots, size_t *stride)
{
    p->rsv_n = 0;
    size_t h = head_for(p, r), s = h + payload_max + p->tail;
    size_t off;
    if (n == 0) return RPH_E_INVALID;
    /* slot_max is the direct path's; a relayed slot is its header longer. */
    if (s - (h - p->head) > p->tx.slot_max || txtrain_reserve(&p->tx, r, s, n, &off) < 0)
        return RPH_E_TOOBIG;
    p->rsv_to = r;
    p->rsv_off = off;
    p->rsv_stride = s;
    p->rsv_head = h;
    p->rsv_n = n;
    *slots = p->tx.base + off + h;
    *stride = s;
    return 0;
}

int rph_ev_peer_commit(struct rph_ev_peer *p, size_t n, const size_t *len)
{
    size_t max = p->rsv_n;
    p->rsv_n = 0;
    if (n > max) return RPH_E_INVALID;
    for (size_t k = 0; k < n; k++) {
        if (len[k] > p->rsv_stride - p->rsv_head - p->tail) return RPH_E_TOOBIG;
        int e = frame_and_add(p, p->rsv_to, p->rsv_off + k * p->rsv_stride, len[k]);
        if (e < 0) return e;
    }
    return 0;
}

void rph_ev_peer_flush(struct rph_ev_peer *p)
{
    p->rsv_n = 0;
    txtrain_flush(&p->tx);
    if (p->rearm) {
        p->rearm = false;
        arm_timer(p);
    }
}

struct rph_peer *rph_ev_peer_core(struct rph_ev_peer *p)
{
    return p->peer;
}

void rph_ev_peer_member_traffic(struct rph_ev_peer *p, struct rph_remote *r)
{
    if (rph_peer_member_traffic(p->peer, r, rph_now_ms())) p->rearm = true;
}

int rph_ev_peer_fd(const struct rph_ev_peer *p)
{
    return p->fd;
}

uint64_t rph_ev_peer_other_mode(const struct rph_ev_peer *p, struct rph_addr *last_from)
{
    if (p->other_mode && last_from) *last_from = p->other_from;
    return p->other_mode;
}

int rph_ev_peer_local_addr(const struct rph_ev_peer *p, struct rph_addr *out)
{
    return rph_udp_local(p->fd, out);
}

unsigned rph_ev_peer_families(const struct rph_ev_peer *p)
{
    if (p->dual) return RPH_EV_IPV4 | RPH_EV_IPV6;
    return p->family == 6 ? RPH_EV_IPV6 : RPH_EV_IPV4;
}
