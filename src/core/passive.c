// SPDX-License-Identifier: MIT
// The crate's passive modules: a peer state machine on a blocking loop (poll) that the
// caller drives through create / wait_for_data / serve.
#include "ruphin/passive.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ruphin/clock.h"
#include "ruphin/error.h"
#include "udp.h"

/* Shared by server and client: the two public types are this struct under two names. */
struct passive {
    int fd;
    int family;
    struct rph_peer *peer;
    /* Where on_data puts a payload: the caller's buffer during wait_for_data, else the stash. */
    uint8_t *want;
    size_t want_cap;
    ssize_t got;
    struct rph_addr got_from;
    uint8_t *stash;
    ssize_t stash_len;
    struct rph_addr stash_from;
    uint8_t rx[RPH_DATAGRAM_MAX + 1];
};

struct rph_passive_server {
    struct passive p;
};
struct rph_passive_client {
    struct passive p;
};

static void p_send(void *ctx, const struct rph_addr *to, const uint8_t *buf, size_t len)
{
    struct passive *p = ctx;
    rph_udp_send(p->fd, p->family, to, buf, len);
}

static void p_data(void *ctx, struct rph_remote *from, const uint8_t *data, size_t len)
{
    struct passive *p = ctx;
    if (p->want && p->got < 0) {
        if (len > p->want_cap) {
            p->got = RPH_E_NOSPACE;
        } else {
            memcpy(p->want, data, len);
            p->got = (ssize_t)len;
        }
        p->got_from = from->addr;
        return;
    }
    /* Data that arrives while nobody waits (e.g. during create) is kept, one datagram deep. */
    if (p->stash_len < 0 && p->stash) {
        memcpy(p->stash, data, len);
        p->stash_len = (ssize_t)len;
        p->stash_from = from->addr;
    }
}

static int passive_init(struct passive *p, const struct rph_peer_config *cfg)
{
    p->fd = -1;
    p->got = -1;
    p->stash_len = -1;
    p->stash = malloc(RPH_DATA_MAX);
    if (!p->stash) return -ENOMEM;
    int fd = rph_udp_open(NULL, cfg->holepuncher.family, 0, 0);
    if (fd < 0) return fd;
    p->fd = fd;
    p->family = cfg->holepuncher.family;
    struct rph_peer_callbacks cb = {.send = p_send, .on_data = p_data};
    int err = 0;
    p->peer = rph_peer_new(cfg, &cb, p, rph_now_ms(), &err);
    return p->peer ? 0 : err;
}

static void passive_fini(struct passive *p)
{
    rph_peer_free(p->peer);
    if (p->fd >= 0) close(p->fd);
    free(p->stash);
}

/* Reads what the socket holds (stopping after one Data for the caller), then runs timers.
 * Returns RPH_E_INTERRUPTED on LocalInterrupt, or a negative errno from the socket. */
static int pump(struct passive *p, int wait_ms)
{
    struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
    uint64_t now = rph_now_ms();
    uint64_t dl = rph_peer_next_deadline(p->peer);
    if (dl != UINT64_MAX) {
        int until = dl <= now ? 0 : (int)(dl - now > 60000 ? 60000 : dl - now);
        if (wait_ms < 0 || until < wait_ms) wait_ms = until;
    }
    int r = poll(&pfd, 1, wait_ms);
    if (r < 0 && errno != EINTR) return -errno;
    while (r > 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        ssize_t n = recvfrom(p->fd, p->rx, sizeof p->rx, 0, (struct sockaddr *)&ss, &sl);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR || errno == ECONNREFUSED) continue;
            return -errno;
        }
        struct rph_addr from;
        if (rph_addr_from_sockaddr(&from, (struct sockaddr *)&ss, sl) < 0) continue;
        int ir = rph_peer_input(p->peer, p->rx, (size_t)n, &from, rph_now_ms());
        if (ir == RPH_E_INTERRUPTED) return ir;
        if (p->want && p->got != -1) break;
    }
    rph_peer_set_wall_offset(p->peer, rph_wall_offset_ms());
    rph_peer_tick(p->peer, rph_now_ms());
    return 0;
}

/* Runs the loop until the peer reaches `target` or fails. */
static int handshake(struct passive *p, enum rph_peer_state target)
{
    for (;;) {
        enum rph_peer_state s = rph_peer_state(p->peer);
        if (s == target) return 0;
        if (s == RPH_STATE_FAILED) {
            int e = rph_peer_last_error(p->peer);
            return e ? e : RPH_E_TIMEOUT;
        }
        int r = pump(p, 1000);
        if (r < 0) return r;
    }
}

static ssize_t wait_data(struct passive *p, int timeout_ms, void *buf, size_t cap,
                         struct rph_addr *from)
{
    if (p->stash_len >= 0) {
        ssize_t n = p->stash_len;
        p->stash_len = -1;
        if ((size_t)n > cap) return RPH_E_NOSPACE;
        memcpy(buf, p->stash, (size_t)n);
        if (from) *from = p->stash_from;
        return n;
    }
    uint64_t end = rph_now_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
    p->want = buf;
    p->want_cap = cap;
    p->got = -1;
    ssize_t ret = RPH_E_TIMEOUT;
    for (;;) {
        uint64_t now = rph_now_ms();
        if (now >= end && timeout_ms >= 0) break;
        int r = pump(p, timeout_ms < 0 ? -1 : (int)(end - now));
        if (p->got != -1) {
            ret = p->got;
            if (from) *from = p->got_from;
            break;
        }
        if (r < 0) {
            ret = r;
            break;
        }
    }
    p->want = NULL;
    p->got = -1;
    return ret;
}

struct rph_passive_server *rph_passive_server_create(const struct rph_peer_config *cfg, int *err)
{
    struct rph_passive_server *s = calloc(1, sizeof *s);
    int e = s ? 0 : -ENOMEM;
    if (s && cfg->role != RPH_ROLE_SERVER) e = RPH_E_INVALID;
    if (!e) e = passive_init(&s->p, cfg);
    if (!e) e = handshake(&s->p, RPH_STATE_REGISTERED);
    if (e) {
        if (s) passive_fini(&s->p);
        free(s);
        if (err) *err = e;
        return NULL;
    }
    return s;
}

int rph_passive_server_send(struct rph_passive_server *s, const struct rph_addr *to,
                            const void *data, size_t len)
{
    return rph_peer_send_data(s->p.peer, to, data, len);
}

ssize_t rph_passive_server_wait_for_data(struct rph_passive_server *s, int timeout_ms, void *buf,
                                         size_t cap, struct rph_addr *from)
{
    return wait_data(&s->p, timeout_ms, buf, cap, from);
}

struct rph_peer *rph_passive_server_peer(struct rph_passive_server *s)
{
    return s->p.peer;
}

int rph_passive_server_local_addr(struct rph_passive_server *s, struct rph_addr *out)
{
    return rph_udp_local(s->p.fd, out);
}

void rph_passive_server_free(struct rph_passive_server *s)
{
    if (!s) return;
    passive_fini(&s->p);
    free(s);
}

struct rph_passive_client *rph_passive_client_create(const struct rph_peer_config *cfg, int *err)
{
    struct rph_passive_client *c = calloc(1, sizeof *c);
    int e = c ? 0 : -ENOMEM;
    if (c && cfg->role != RPH_ROLE_CLIENT) e = RPH_E_INVALID;
    if (!e) e = passive_init(&c->p, cfg);
    if (!e) e = handshake(&c->p, RPH_STATE_CONNECTED);
    if (e) {
        if (c) passive_fini(&c->p);
        free(c);
        if (err) *err = e;
        return NULL;
    }
    return c;
}

int rph_passive_client_server_addr(struct rph_passive_client *c, struct rph_addr *out)
{
    size_t n;
    struct rph_remote *r = rph_peer_remotes(c->p.peer, &n);
    if (!r[0].in_use) return RPH_E_UNKNOWN_PEER;
    *out = r[0].addr;
    return 0;
}

int rph_passive_client_send(struct rph_passive_client *c, const void *data, size_t len)
{
    struct rph_addr srv;
    int r = rph_passive_client_server_addr(c, &srv);
    if (r < 0) return r;
    return rph_peer_send_data(c->p.peer, &srv, data, len);
}

ssize_t rph_passive_client_wait_for_data(struct rph_passive_client *c, int timeout_ms, void *buf,
                                         size_t cap)
{
    return wait_data(&c->p, timeout_ms, buf, cap, NULL);
}

struct rph_peer *rph_passive_client_peer(struct rph_passive_client *c)
{
    return c->p.peer;
}

void rph_passive_client_free(struct rph_passive_client *c)
{
    if (!c) return;
    passive_fini(&c->p);
    free(c);
}

/* ---- holepuncher ---- */

struct rph_passive_holepuncher {
    int fd;
    int family;
    struct rph_holepuncher *hp;
    uint64_t next_tick_ms;
    uint8_t rx[RPH_DATAGRAM_MAX + 1];
};

static void hp_send(void *ctx, const struct rph_addr *to, const uint8_t *buf, size_t len)
{
    struct rph_passive_holepuncher *h = ctx;
    rph_udp_send(h->fd, h->family, to, buf, len);
}

struct rph_passive_holepuncher *
rph_passive_holepuncher_create(const struct rph_addr *bind,
                               const struct rph_holepuncher_config *cfg, int *err)
{
    struct rph_passive_holepuncher *h = calloc(1, sizeof *h);
    int e = -ENOMEM;
    if (!h) goto fail;
    h->fd = rph_udp_open(bind, 4, 0, 0);
    if (h->fd < 0) {
        e = h->fd;
        free(h);
        goto fail;
    }
    h->family = bind->family;
    h->hp = rph_holepuncher_new(cfg, hp_send, h);
    if (!h->hp) {
        close(h->fd);
        free(h);
        goto fail;
    }
    return h;
fail:
    if (err) *err = e;
    return NULL;
}

int rph_passive_holepuncher_serve(struct rph_passive_holepuncher *h, int timeout_ms)
{
    uint64_t end = rph_now_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
    for (;;) {
        uint64_t now = rph_now_ms();
        if (now >= h->next_tick_ms) {
            rph_holepuncher_tick(h->hp, now);
            h->next_tick_ms = now + 1000;
        }
        if (now >= end) return 0;
        struct pollfd pfd = {.fd = h->fd, .events = POLLIN};
        uint64_t wait = end - now;
        if (h->next_tick_ms - now < wait) wait = h->next_tick_ms - now;
        int r = poll(&pfd, 1, (int)wait);
        if (r < 0 && errno != EINTR) return -errno;
        while (r > 0) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            ssize_t n = recvfrom(h->fd, h->rx, sizeof h->rx, 0, (struct sockaddr *)&ss, &sl);
            if (n < 0) {
                if (errno == EINTR || errno == ECONNREFUSED) continue;
                break;
            }
            struct rph_addr from;
            if (rph_addr_from_sockaddr(&from, (struct sockaddr *)&ss, sl) < 0) continue;
            if (rph_holepuncher_input(h->hp, h->rx, (size_t)n, &from, rph_now_ms()) ==
                RPH_E_INTERRUPTED)
                return RPH_E_INTERRUPTED;
        }
    }
}

int rph_passive_holepuncher_local_addr(struct rph_passive_holepuncher *h, struct rph_addr *out)
{
    return rph_udp_local(h->fd, out);
}

struct rph_holepuncher *rph_passive_holepuncher_core(struct rph_passive_holepuncher *h)
{
    return h->hp;
}

void rph_passive_holepuncher_free(struct rph_passive_holepuncher *h)
{
    if (!h) return;
    rph_holepuncher_free(h->hp);
    close(h->fd);
    free(h);
}
