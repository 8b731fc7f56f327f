// SPDX-License-Identifier: MIT
// The DNS responder's sockets (dns_server.h): per overlay address one UDP socket and one TCP
// listener on the tunnel's event loop; TCP messages framed by a 2-byte length (RFC 1035 4.2.2),
// at most DNS_TCP_MAX connections, each closed after DNS_TCP_IDLE_S without a query.
#include "dns_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "ruphin/clock.h"

/* Queries and socket errors can come at any rate: at most this many lines a window. */
#define DNS_LOG_LINES 10
#define DNS_LOG_WINDOW_MS 10000u
/* A UDP answer: the EDNS size this responder offers (RFC 9715's safe size). */
#define DNS_UDP_MAX 1232
/* The most one TCP connection may leave unread before it is closed (a client that sends
 * queries and reads no answers). */
#define DNS_TCP_OUT_MAX 65536

struct dns_tcp;

/* One overlay address's sockets. */
struct dns_bound {
    struct dns_server *s; /* the owner, for the listener's callback */
    bool on;
    int family;
    uint8_t addr[16];
    uint16_t port;
    evutil_socket_t udp;
    struct event *udp_ev;
    struct evconnlistener *tcp;
};

struct dns_tcp {
    struct dns_server *s;
    struct bufferevent *bev;
    int slot; /* index into s->bound of the address it came to */
};

struct dns_server {
    struct event_base *base;
    char domain[DNS_DOMAIN_MAX + 1];
    uint16_t port;
    dns_lookup_fn lookup;
    void *ctx;
    struct dns_bound bound[2]; /* [0] IPv4, [1] IPv6 */
    struct dns_tcp *tcp[DNS_TCP_MAX];
    uint64_t queries, outcomes[DNS_DROPPED + 1];
    uint64_t log_window_ms;
    unsigned log_lines;
    uint64_t log_suppressed;
    uint8_t out[65535]; /* one answer; TCP needs the most */
};

/* Rate-limited: true when a line may be logged now (the caller adds the suppressed count). */
static bool log_due(struct dns_server *s, char *sup, size_t n)
{
    uint64_t now = rph_now_ms();
    if (now - s->log_window_ms >= DNS_LOG_WINDOW_MS) {
        s->log_window_ms = now;
        s->log_lines = 0;
    }
    if (s->log_lines >= DNS_LOG_LINES) {
        s->log_suppressed++;
        return false;
    }
    s->log_lines++;
    sup[0] = 0;
    if (s->log_suppressed)
        snprintf(sup, n, " (%llu more not logged)", (unsigned long long)s->log_suppressed);
    s->log_suppressed = 0;
    return true;
}

static const char *fmt_peer(const struct sockaddr *sa, char *b, size_t n)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(b, n, "%s:%u", ip, port);
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        snprintf(b, n, "[%s]:%u", ip, port);
    }
    return b;
}

/* Answers one query; the answer is in s->out. 0: nothing to send. */
static size_t answer(struct dns_server *s, const uint8_t *q, size_t n, bool udp,
                     const struct sockaddr *from)
{
    enum dns_outcome o;
    size_t len = dns_answer(q, n, s->domain, udp, s->lookup, s->ctx, s->out,
                            udp ? DNS_UDP_MAX : sizeof s->out, &o);
    s->queries++;
    s->outcomes[o]++;
    char sup[64], peer[64];
    if (log_get_level() >= LOG_LVL_DEBUG && log_due(s, sup, sizeof sup))
        log_debug("dns: %s query of %zu bytes from %s: %s%s", udp ? "UDP" : "TCP", n,
                  fmt_peer(from, peer, sizeof peer), dns_outcome_name(o), sup);
    return len;
}

static void on_udp(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct dns_server *s = arg;
    uint8_t q[4096];
    /* A few per event: a flood of queries must not starve the tunnel's data path. */
    for (int i = 0; i < 16; i++) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(fd, q, sizeof q, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
        if (n < 0) {
            char sup[64];
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                log_due(s, sup, sizeof sup))
                log_warn("dns: UDP receive: %s%s", strerror(errno), sup);
            return;
        }
        size_t len = answer(s, q, (size_t)n, true, (struct sockaddr *)&from);
        if (len && sendto(fd, s->out, len, MSG_DONTWAIT, (struct sockaddr *)&from, fl) < 0) {
            char sup[64], peer[64];
            if (log_due(s, sup, sizeof sup))
                log_warn("dns: UDP answer to %s: %s%s",
                         fmt_peer((struct sockaddr *)&from, peer, sizeof peer), strerror(errno),
                         sup);
        }
    }
}

static void tcp_close(struct dns_tcp *c)
{
    struct dns_server *s = c->s;
    for (int i = 0; i < DNS_TCP_MAX; i++)
        if (s->tcp[i] == c) s->tcp[i] = NULL;
    bufferevent_free(c->bev);
    free(c);
}

static void on_tcp_read(struct bufferevent *bev, void *arg)
{
    struct dns_tcp *c = arg;
    struct dns_server *s = c->s;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        uint8_t hdr[2];
        if (evbuffer_copyout(in, hdr, 2) < 2) return;
        size_t n = ((size_t)hdr[0] << 8) | hdr[1];
        if (evbuffer_get_length(in) < 2 + n) return;
        uint8_t *q = evbuffer_pullup(in, (ev_ssize_t)(2 + n));
        if (!q) {
            tcp_close(c);
            return;
        }
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        memset(&from, 0, sizeof from);
        getpeername(bufferevent_getfd(bev), (struct sockaddr *)&from, &fl);
        size_t len = answer(s, q + 2, n, false, (struct sockaddr *)&from);
        evbuffer_drain(in, 2 + n);
        if (!len) continue; /* a response or a runt: nothing to say to it */
        uint8_t l2[2] = {(uint8_t)(len >> 8), (uint8_t)len};
        struct evbuffer *out = bufferevent_get_output(bev);
        if (evbuffer_get_length(out) + 2 + len > DNS_TCP_OUT_MAX || evbuffer_add(out, l2, 2) < 0 ||
            evbuffer_add(out, s->out, len) < 0) {
            tcp_close(c); /* it asks and does not read: no memory for that */
            return;
        }
    }
}

static void on_tcp_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what; /* EOF, an error or the idle timeout: the connection is done either way */
    tcp_close(arg);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    (void)l;
    (void)salen;
    struct dns_bound *b = arg;
    struct dns_server *s = b->s;
    int slot = -1;
    for (int i = 0; i < DNS_TCP_MAX && slot < 0; i++)
        if (!s->tcp[i]) slot = i;
    char sup[64], peer[64];
    if (slot < 0) {
        if (log_due(s, sup, sizeof sup))
            log_warn("dns: TCP connection from %s closed: %d are open already%s",
                     fmt_peer(sa, peer, sizeof peer), DNS_TCP_MAX, sup);
        evutil_closesocket(fd);
        return;
    }
    struct dns_tcp *c = calloc(1, sizeof *c);
    struct bufferevent *bev = c ? bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
    if (!bev) {
        free(c);
        evutil_closesocket(fd);
        return;
    }
    c->s = s;
    c->bev = bev;
    c->slot = b->family == 6;
    s->tcp[slot] = c;
    bufferevent_setcb(bev, on_tcp_read, NULL, on_tcp_event, c);
    struct timeval idle = {DNS_TCP_IDLE_S, 0};
    bufferevent_set_timeouts(bev, &idle, &idle);
    /* A query longer than 2 + 65535 bytes cannot be framed: never buffer more than that. */
    bufferevent_setwatermark(bev, EV_READ, 0, 2 + 65535);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void unbind_one(struct dns_server *s, int k)
{
    struct dns_bound *b = &s->bound[k];
    for (int i = 0; i < DNS_TCP_MAX; i++)
        if (s->tcp[i] && s->tcp[i]->slot == k) tcp_close(s->tcp[i]);
    if (b->udp_ev) event_free(b->udp_ev);
    if (b->udp >= 0) close(b->udp);
    if (b->tcp) evconnlistener_free(b->tcp);
    b->udp_ev = NULL;
    b->udp = -1;
    b->tcp = NULL;
    b->on = false;
    b->port = 0;
}

/* One socket bound to addr:port. The address may still be tentative (IPv6 duplicate address
 * detection) or just added: IP_FREEBIND lets the bind succeed before the kernel lists it. */
static int open_bound(int family, int type, const uint8_t *addr, uint16_t port, int *fd_out)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    if (family == 4) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        memcpy(&a->sin_addr, addr, 4);
        sl = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        memcpy(&a->sin6_addr, addr, 16);
        sl = sizeof *a;
    }
    int fd = socket(family == 4 ? AF_INET : AF_INET6, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof one);
    if (family == 6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || (type == SOCK_STREAM && listen(fd, 16) < 0)) {
        int e = -errno;
        close(fd);
        return e;
    }
    *fd_out = fd;
    return 0;
}

static int bind_one(struct dns_server *s, int k, const uint8_t *addr, struct errmsg *err)
{
    struct dns_bound *b = &s->bound[k];
    int family = k ? 6 : 4;
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, ip, sizeof ip);
    int ufd = -1, tfd = -1;
    int rc = open_bound(family, SOCK_DGRAM, addr, s->port, &ufd);
    uint16_t port = s->port;
    if (rc == 0 && port == 0) { /* tests: TCP on the UDP socket's ephemeral port */
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        getsockname(ufd, (struct sockaddr *)&ss, &sl);
        port = ntohs(family == 4 ? ((struct sockaddr_in *)&ss)->sin_port
                                 : ((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    if (rc == 0) rc = open_bound(family, SOCK_STREAM, addr, port, &tfd);
    if (rc < 0) {
        if (ufd >= 0) close(ufd);
        return errmsg_fail(err, rc, "dns: cannot listen on %s%s%s port %u: %s%s",
                           family == 6 ? "[" : "", ip, family == 6 ? "]" : "", port, strerror(-rc),
                           rc == -EACCES       ? " (port 53 takes root or CAP_NET_BIND_SERVICE)"
                           : rc == -EADDRINUSE ? " (another DNS server listens there, maybe on "
                                                 "every address)"
                                               : "");
    }
    b->udp = ufd;
    b->udp_ev = event_new(s->base, ufd, EV_READ | EV_PERSIST, on_udp, s);
    b->tcp = evconnlistener_new(s->base, on_accept, b, LEV_OPT_CLOSE_ON_FREE, -1, tfd);
    if (!b->udp_ev || !b->tcp) {
        if (!b->tcp) close(tfd);
        unbind_one(s, k);
        return errmsg_fail(err, -ENOMEM, "dns: out of memory");
    }
    event_add(b->udp_ev, NULL);
    b->on = true;
    b->family = family;
    b->port = port;
    memcpy(b->addr, addr, family == 4 ? 4 : 16);
    log_info("dns: answering for *.%s on %s%s%s port %u (UDP and TCP)", s->domain,
             family == 6 ? "[" : "", ip, family == 6 ? "]" : "", port);
    return 0;
}

struct dns_server *dns_server_new(struct event_base *base, const char *domain, uint16_t port,
                                  dns_lookup_fn lookup, void *ctx)
{
    struct dns_server *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->base = base;
    snprintf(s->domain, sizeof s->domain, "%s", domain);
    s->port = port;
    s->lookup = lookup;
    s->ctx = ctx;
    for (int k = 0; k < 2; k++) {
        s->bound[k].s = s;
        s->bound[k].udp = -1;
        s->bound[k].family = k ? 6 : 4;
    }
    return s;
}

int dns_server_bind(struct dns_server *s, const struct dns_addrs *a, struct errmsg *err)
{
    int first = 0;
    for (int k = 0; k < 2; k++) {
        bool want = k ? a->has6 : a->has4;
        const uint8_t *addr = k ? a->addr6 : a->addr4;
        struct dns_bound *b = &s->bound[k];
        if (b->on && want && memcmp(b->addr, addr, k ? 16 : 4) == 0) continue;
        if (b->on) unbind_one(s, k);
        if (!want) continue;
        struct errmsg e;
        int rc = bind_one(s, k, addr, &e);
        if (rc < 0 && first == 0) {
            first = rc;
            *err = e;
        }
    }
    return first;
}

uint16_t dns_server_port(const struct dns_server *s, int family, uint8_t *addr)
{
    const struct dns_bound *b = &s->bound[family == 6];
    if (b->on && addr) memcpy(addr, b->addr, family == 6 ? 16 : 4);
    return b->on ? b->port : 0;
}

uint64_t dns_server_queries(const struct dns_server *s)
{
    return s->queries;
}

unsigned dns_server_tcp_open(const struct dns_server *s)
{
    unsigned n = 0;
    for (int i = 0; i < DNS_TCP_MAX; i++)
        n += s->tcp[i] != NULL;
    return n;
}

void dns_server_free(struct dns_server *s)
{
    if (!s) return;
    for (int k = 0; k < 2; k++)
        unbind_one(s, k);
    free(s);
}
