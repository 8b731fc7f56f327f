/* SPDX-License-Identifier: MIT */
/* Test tool for tests/e2e/test_relay_hp.sh: two members of one sealed session (a signed
 * SealedRegister and SealedJoin, each past holepuncherd's cookie check) that exchange RelayData
 * through holepuncherd and check what arrives; or a sender of RelayData that is no member
 * (from its own address, or spoofed from a member's, without that member's cookie).
 *
 *   relay_member pair  HP A B SEED COUNT SIZE LISTEN_MS [TRAIN]
 *       A registers, B joins; COUNT datagrams of SIZE bytes (RelayData, on the wire) each way,
 *       sent one by one or in UDP GSO trains of TRAIN;
 *       then LISTEN_MS more of listening. Prints "a_to_b=N b_to_a=N bad=N late=N" where bad
 *       counts datagrams that arrived changed (size, source, session, payload) and late those
 *       that arrived after the exchange. Exit 0 when the line is printed.
 *   relay_member send  HP FROM TO SEED COUNT SIZE
 *       COUNT RelayData of SIZE bytes for session SEED from FROM (any address: a spoofed one
 *       by IP_TRANSPARENT, as root) to TO, with a cookie of zeros. Prints "sent=N". */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../src/core/udp.h"
#include "ruphin/be.h"
#include "ruphin/clock.h"
#include "ruphin/error.h"
#include "ruphin/relay.h"
#include "ruphin/seal.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

struct member {
    int fd;
    struct rph_addr addr;
    uint8_t cookie[RPH_COOKIE_LEN];
};

static int fail(const char *what)
{
    fprintf(stderr, "relay_member: %s\n", what);
    return 1;
}

static int parse_addr(const char *s, struct rph_addr *a)
{
    if (rph_addr_parse(s, a) < 0 || a->port == 0) {
        fprintf(stderr, "relay_member: \"%s\" is not a numeric address:port\n", s);
        return -1;
    }
    return 0;
}

static void keys_of(const char *seed, struct rph_seal_keys *k)
{
    uint8_t key[RPH_KEY_LEN] = {0};
    key[0] = (uint8_t)atoi(seed);
    rph_seal_derive(k, key, "relayhp", 7);
}

/* One datagram within ms; its length, 0 on timeout, or a negative errno. */
static ssize_t recv_within(int fd, uint8_t *buf, size_t cap, int ms, struct rph_addr *from)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, ms);
    if (r <= 0) return r < 0 ? -errno : 0;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    ssize_t n = recvfrom(fd, buf, cap, 0, (struct sockaddr *)&ss, &sl);
    if (n < 0) return -errno;
    rph_addr_from_sockaddr(from, (struct sockaddr *)&ss, sl);
    return n;
}

/* A signed request, then again with the HpCookie it got (as a peer does); the answer must be
 * a RegisterAck (Register) or a PeerInfo (Join). The member keeps its cookie for RelayData. */
static int prove(struct member *m, const struct rph_seal_keys *k, enum rph_type t,
                 const struct rph_addr *hp)
{
    uint8_t buf[512];
    for (int attempt = 0; attempt < 20; attempt++) {
        uint64_t wall = rph_now_ms() + (uint64_t)rph_wall_offset_ms();
        int n = rph_owner_encode(k, t, wall, buf, sizeof buf);
        if (n < 0 || rph_udp_send(m->fd, 4, hp, buf, (size_t)n) < 0) return -1;
        struct rph_addr from;
        ssize_t got = recv_within(m->fd, buf, sizeof buf, 500, &from);
        struct rph_msg c;
        if (got <= 0 || rph_wire_decode(buf, (size_t)got, &c) < 0 || c.type != RPH_HP_COOKIE)
            continue;
        memcpy(m->cookie, c.hpc.cookie, RPH_COOKIE_LEN);
        n = rph_owner_encode_cookie(k, t, wall, m->cookie, buf, sizeof buf);
        if (n < 0 || rph_udp_send(m->fd, 4, hp, buf, (size_t)n) < 0) return -1;
        got = recv_within(m->fd, buf, sizeof buf, 500, &from);
        struct rph_msg a;
        if (got <= 0 || rph_wire_decode(buf, (size_t)got, &a) < 0) continue;
        if (t == RPH_SEALED_REGISTER && a.type == RPH_REGISTER_ACK) return 0;
        if (t == RPH_SEALED_JOIN && a.type == RPH_PEER_INFO) return 0;
    }
    return -1;
}

/* Payload i: a Transport header, then bytes derived from i, so a changed one is seen. */
static size_t make(uint8_t *buf, size_t size, uint32_t i, const struct rph_seal_keys *k,
                   const uint8_t *cookie, const struct rph_addr *to)
{
    size_t n = size - RPH_RELAY_HEADER_LEN;
    uint8_t *p = buf + RPH_RELAY_HEADER_LEN;
    rph_put16(p, (uint16_t)n);
    rph_put16(p + 2, RPH_TRANSPORT);
    for (size_t j = 4; j < n; j++)
        p[j] = (uint8_t)(i + j * 13);
    rph_put32(p + 4, i);
    int r = rph_relay_wrap(buf, size, &k->wire_session, cookie, to, n);
    return r > 0 ? (size_t)r : 0;
}

/* Whether buf is what make() built for some i, arriving at `at` from `src` via hp. */
static bool intact(const uint8_t *buf, size_t len, size_t size, const struct rph_seal_keys *k,
                   const struct rph_addr *src, const struct rph_addr *hp,
                   const struct rph_addr *from)
{
    struct rph_addr s;
    const uint8_t *pl;
    size_t pn;
    if (len != size || !rph_addr_equal(from, hp)) return false;
    if (rph_relay_unwrap(buf, len, &k->wire_session, &s, &pl, &pn) < 0) return false;
    if (!rph_addr_equal(&s, src)) return false;
    uint32_t i = rph_get32(pl + 4);
    for (size_t j = 8; j < pn; j++)
        if (pl[j] != (uint8_t)(i + j * 13)) return false;
    return true;
}

static int open_member(struct member *m, const char *addr)
{
    if (parse_addr(addr, &m->addr) < 0) return -1;
    m->fd = rph_udp_open(&m->addr, 4, 0, 8 << 20);
    if (m->fd < 0) {
        fprintf(stderr, "relay_member: cannot bind %s: %s\n", addr, rph_strerror(m->fd));
        return -1;
    }
    return 0;
}

/* Sends count datagrams from `from` to `to`, then counts what arrives at `to` until quiet. */
/* Sends the n datagrams of size bytes at buf as one UDP GSO train: the way bulk traffic
 * reaches holepuncherd as a GRO train. */
static void send_train(int fd, const struct rph_addr *hp, const uint8_t *buf, size_t size, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t sl = rph_addr_to_sockaddr(hp, &ss, 4);
    struct iovec iov = {(void *)buf, size * n};
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
    uint16_t gs = (uint16_t)size;
    memcpy(CMSG_DATA(c), &gs, sizeof gs);
    if (sendmsg(fd, &mh, 0) < 0) perror("relay_member: GSO send");
}

/* Sends count datagrams from `from` to `to` (GSO trains of up to `train`), then counts what
 * arrives at `to` until quiet. */
static void one_way(struct member *from, struct member *to, const struct rph_seal_keys *k,
                    const struct rph_addr *hp, uint32_t count, size_t size, size_t train,
                    unsigned *ok, unsigned *bad)
{
    static uint8_t buf[RPH_DATAGRAM_MAX + 1];
    static uint8_t tr[65536];
    for (uint32_t i = 0; i < count;) {
        if (train < 2) {
            size_t n = make(buf, size, i++, k, from->cookie, &to->addr);
            if (n) rph_udp_send(from->fd, 4, hp, buf, n);
            continue;
        }
        size_t n = 0;
        while (n < train && i < count && (n + 1) * size <= sizeof tr)
            make(tr + n++ * size, size, i++, k, from->cookie, &to->addr);
        send_train(from->fd, hp, tr, size, n);
    }
    struct rph_addr src;
    ssize_t got;
    while ((got = recv_within(to->fd, buf, sizeof buf, 1000, &src)) > 0) {
        /* A's SealedPeerInfo (B's Join) may still be waiting: only RelayData counts. */
        if (!rph_relay_is(buf, (size_t)got)) continue;
        if (intact(buf, (size_t)got, size, k, &from->addr, hp, &src))
            (*ok)++;
        else
            (*bad)++;
    }
}

static int cmd_pair(char **av)
{
    struct rph_addr hp;
    struct member a, b;
    struct rph_seal_keys k;
    if (parse_addr(av[0], &hp) < 0 || open_member(&a, av[1]) < 0 || open_member(&b, av[2]) < 0)
        return 2;
    keys_of(av[3], &k);
    uint32_t count = (uint32_t)atoi(av[4]);
    size_t size = (size_t)atoi(av[5]);
    int listen_ms = atoi(av[6]);
    size_t train = av[7] ? (size_t)atoi(av[7]) : 1;
    if (train > 64) return fail("bad TRAIN (at most 64)");
    if (size < RPH_RELAY_HEADER_LEN + 8 || size > RPH_DATAGRAM_MAX) return fail("bad SIZE");
    if (prove(&a, &k, RPH_SEALED_REGISTER, &hp) < 0) return fail("A's SealedRegister failed");
    if (prove(&b, &k, RPH_SEALED_JOIN, &hp) < 0) return fail("B's SealedJoin failed");
    unsigned ab = 0, ba = 0, bad = 0, late = 0;
    one_way(&a, &b, &k, &hp, count, size, train, &ab, &bad);
    one_way(&b, &a, &k, &hp, count, size, train, &ba, &bad);
    printf("ready a_to_b=%u b_to_a=%u\n", ab, ba);
    fflush(stdout);
    /* Anything arriving now was sent by someone else (the test's non-members). */
    uint64_t end = rph_now_ms() + (uint64_t)listen_ms;
    static uint8_t buf[RPH_DATAGRAM_MAX + 1];
    while (rph_now_ms() < end) {
        struct pollfd p[2] = {{.fd = a.fd, .events = POLLIN}, {.fd = b.fd, .events = POLLIN}};
        if (poll(p, 2, (int)(end - rph_now_ms())) <= 0) continue;
        for (int i = 0; i < 2; i++)
            if (p[i].revents & POLLIN) {
                ssize_t n = recv(p[i].fd, buf, sizeof buf, 0);
                if (n > 0 && rph_relay_is(buf, (size_t)n)) late++;
            }
    }
    printf("a_to_b=%u b_to_a=%u bad=%u late=%u\n", ab, ba, bad, late);
    close(a.fd);
    close(b.fd);
    return 0;
}

/* A socket that may send from any address (root): IP_TRANSPARENT, then bind. */
static int open_any(struct member *m, const char *addr)
{
    if (parse_addr(addr, &m->addr) < 0) return -1;
    m->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_storage ss;
    socklen_t sl = rph_addr_to_sockaddr(&m->addr, &ss, 4);
    if (m->fd < 0 || setsockopt(m->fd, SOL_IP, IP_TRANSPARENT, &one, sizeof one) < 0 ||
        bind(m->fd, (struct sockaddr *)&ss, sl) < 0) {
        fprintf(stderr, "relay_member: cannot send from %s: %s\n", addr, strerror(errno));
        return -1;
    }
    return 0;
}

static int cmd_send(char **av)
{
    struct rph_addr hp, to;
    struct member x;
    struct rph_seal_keys k;
    if (parse_addr(av[0], &hp) < 0 || open_any(&x, av[1]) < 0 || parse_addr(av[2], &to) < 0)
        return 2;
    keys_of(av[3], &k);
    uint32_t count = (uint32_t)atoi(av[4]);
    size_t size = (size_t)atoi(av[5]);
    if (size < RPH_RELAY_HEADER_LEN + 8 || size > RPH_DATAGRAM_MAX) return fail("bad SIZE");
    static uint8_t buf[RPH_DATAGRAM_MAX];
    memset(x.cookie, 0, sizeof x.cookie);
    unsigned sent = 0;
    for (uint32_t i = 0; i < count; i++) {
        size_t n = make(buf, size, i, &k, x.cookie, &to);
        if (n && rph_udp_send(x.fd, 4, &hp, buf, n) == 0) sent++;
    }
    printf("sent=%u\n", sent);
    close(x.fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: relay_member pair HP A B SEED COUNT SIZE LISTEN_MS [TRAIN]\n"
               "       relay_member send HP FROM TO SEED COUNT SIZE\n");
        return 0;
    }
    if (rph_seal_init() < 0) return fail("no libsodium");
    if ((argc == 9 || argc == 10) && !strcmp(argv[1], "pair")) return cmd_pair(argv + 2);
    if (argc == 8 && !strcmp(argv[1], "send")) return cmd_send(argv + 2);
    fprintf(stderr, "usage: relay_member pair HP A B SEED COUNT SIZE LISTEN_MS [TRAIN] | "
                    "send HP FROM TO SEED COUNT SIZE\n");
    return 2;
}
