// SPDX-License-Identifier: MIT
// rph_attack hpx: attacks on holepuncherd with spoofed sources, for
// tests/e2e/test_attacks_holepuncher.sh.
//
//   rph_attack hpx spoof -i IF -M MAC -a HP_IP:PORT -m MODE (-s SRC_IP:PORT | -N NET/LEN)
//                        [-n N] [-r PPS] [-S SESSION] [-c]
//       Sends N requests to holepuncherd as Ethernet frames out of IF (to MAC, holepuncherd's),
//       each from SRC (one spoofed victim) or from a random address and port of NET (churned
//       sources). MODE: join, register (plaintext, session SESSION, or a random unknown one
//       when SESSION is "?"), sealed-register, sealed-join (a fresh self-made key pair and a
//       correct signature each time; -c adds a guessed cookie). Prints "sent=N bytes=B" with B
//       the IPv4 bytes sent (headers included).
//   rph_attack hpx real -a HP_IP:PORT -S SESSION [-n N] [-r PPS] [-w SEC]
//       N plaintext Joins of SESSION from an ordinary socket (the attacker's real address);
//       prints "sent=N answers=A seconds=T".
//
// Every run is bounded: at most 200000 datagrams and 10 s.
#include "attack_holepuncher.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ruphin/be.h"
#include "ruphin/wire.h"

#define HPX_MAX_COUNT 200000L
#define HPX_MAX_SECONDS 10.0

struct hpx_opts {
    const char *ifname, *mac, *hp, *mode, *src, *net, *session;
    long count;
    double rate, wait_s;
    bool cookie;
};

static int fail(const char *what)
{
    fprintf(stderr, "rph_attack hpx: %s\n", what);
    return 2;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Sleeps so that request i leaves at i / rate seconds after t0; false past the time bound. */
static bool pace(long i, double rate, double t0)
{
    if ((i & 15) != 0) return true;
    double ahead = (double)i / rate - (mono_s() - t0);
    if (ahead > 0) {
        struct timespec ts = {(time_t)ahead, (long)((ahead - (long)ahead) * 1e9)};
        nanosleep(&ts, NULL);
    }
    return mono_s() - t0 <= HPX_MAX_SECONDS;
}

static bool parse_v4(const char *text, struct in_addr *ip, uint16_t *port)
{
    char host[64];
    snprintf(host, sizeof host, "%s", text);
    char *colon = strrchr(host, ':');
    if (colon) {
        *colon = 0;
        if (port) *port = (uint16_t)atoi(colon + 1);
    }
    return inet_pton(AF_INET, host, ip) == 1;
}

static uint16_t csum(const uint8_t *p, size_t n, uint32_t sum)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1) sum += (uint32_t)(p[n - 1] << 8);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* An Ethernet/IPv4/UDP frame around payload; returns its length. */
static size_t frame(uint8_t *f, const uint8_t mac[6], struct in_addr src, uint16_t sport,
                    struct in_addr dst, uint16_t dport, const uint8_t *payload, size_t plen)
{
    static const uint8_t smac[6] = {0x02, 0, 0, 0, 0x11, 0x11};
    memcpy(f, mac, 6);
    memcpy(f + 6, smac, 6);
    rph_put16(f + 12, ETHERTYPE_IP);
    uint8_t *ip = f + 14, *udp = ip + 20;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    rph_put16(ip + 2, (uint16_t)(28 + plen));
    rph_put16(ip + 4, (uint16_t)randombytes_random());
    ip[8] = 64;
    ip[9] = IPPROTO_UDP;
    memcpy(ip + 12, &src, 4);
    memcpy(ip + 16, &dst, 4);
    rph_put16(ip + 10, csum(ip, 20, 0));
    rph_put16(udp, sport);
    rph_put16(udp + 2, dport);
    rph_put16(udp + 4, (uint16_t)(8 + plen));
    rph_put16(udp + 6, 0);
    memcpy(udp + 8, payload, plen);
    uint8_t pseudo[12];
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = IPPROTO_UDP;
    rph_put16(pseudo + 10, (uint16_t)(8 + plen));
    uint32_t s = 0;
    for (size_t i = 0; i < 12; i += 2)
        s += (uint32_t)(pseudo[i] << 8 | pseudo[i + 1]);
    uint16_t c = csum(udp, 8 + plen, s);
    rph_put16(udp + 6, c ? c : 0xffff);
    return 14 + 28 + plen;
}

/* A sealed request signed correctly by a fresh self-made key (anyone can make one). */
static size_t sealed_request(uint8_t *dg, uint16_t type, bool cookie)
{
    uint8_t pk[32], sk[64];
    crypto_sign_keypair(pk, sk);
    size_t n = RPH_OWNER_LEN;
    rph_put16(dg, RPH_OWNER_LEN);
    rph_put16(dg + 2, type);
    memcpy(dg + 4, pk, 32);
    uint64_t t = wall_ms();
    for (int i = 0; i < 8; i++)
        dg[36 + i] = (uint8_t)(t >> (56 - 8 * i));
    crypto_sign_detached(dg + 44, NULL, dg, 44, sk);
    if (cookie) {
        randombytes_buf(dg + RPH_OWNER_LEN, RPH_COOKIE_LEN); /* a guess */
        rph_put16(dg, RPH_OWNER_COOKIE_LEN);
        n = RPH_OWNER_COOKIE_LEN;
    }
    return n;
}

static size_t plain_request(uint8_t *dg, uint16_t type, const char *session)
{
    size_t len;
    if (strcmp(session, "?") == 0) {
        len = RPH_SESSION_MAX;
        randombytes_buf(dg + 4, len);
    } else {
        len = strlen(session);
        if (len > RPH_SESSION_MAX) len = RPH_SESSION_MAX;
        memcpy(dg + 4, session, len);
    }
    rph_put16(dg, (uint16_t)(4 + len));
    rph_put16(dg + 2, type);
    return 4 + len;
}

static int hpx_spoof(const struct hpx_opts *o)
{
    if (!o->ifname || !o->mac || !o->hp || !o->mode || (!o->src && !o->net))
        return fail("spoof needs -i IF -M MAC -a HP:PORT -m MODE and -s SRC:PORT or -N NET/LEN");
    uint8_t mac[6];
    if (sscanf(o->mac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4],
               &mac[5]) != 6)
        return fail("bad -M MAC");
    struct in_addr hp, src = {0};
    uint16_t hport = 0, sport = 0;
    if (!parse_v4(o->hp, &hp, &hport)) return fail("bad -a HP:PORT");
    uint32_t net = 0, mask = 0;
    if (o->src && !parse_v4(o->src, &src, &sport)) return fail("bad -s SRC:PORT");
    if (o->net) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", o->net);
        char *slash = strchr(buf, '/');
        int bits = slash ? atoi(slash + 1) : 32;
        if (slash) *slash = 0;
        struct in_addr a;
        if (inet_pton(AF_INET, buf, &a) != 1 || bits < 8 || bits > 32) return fail("bad -N");
        mask = bits == 32 ? 0 : (0xffffffffu >> bits);
        net = ntohl(a.s_addr) & ~mask;
    }
    const char *session = o->session ? o->session : "?";
    int fd = socket(AF_PACKET, SOCK_RAW, 0);
    if (fd < 0) return fail("socket(AF_PACKET) failed (root?)");
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP)};
    sll.sll_ifindex = (int)if_nametoindex(o->ifname);
    if (!sll.sll_ifindex) return fail("no such interface");
    sll.sll_halen = 6;
    memcpy(sll.sll_addr, mac, 6);
    long count = o->count > 0 ? o->count : 1, sent = 0;
    if (count > HPX_MAX_COUNT) count = HPX_MAX_COUNT;
    double rate = o->rate > 0 ? o->rate : 5000, t0 = mono_s();
    unsigned long long bytes = 0;
    uint8_t dg[256], f[512];
    for (long i = 0; i < count && pace(i, rate, t0); i++) {
        size_t n;
        if (strcmp(o->mode, "join") == 0)
            n = plain_request(dg, RPH_JOIN, session);
        else if (strcmp(o->mode, "register") == 0)
            n = plain_request(dg, RPH_REGISTER, session);
        else if (strcmp(o->mode, "sealed-register") == 0)
            n = sealed_request(dg, RPH_SEALED_REGISTER, o->cookie);
        else if (strcmp(o->mode, "sealed-join") == 0)
            n = sealed_request(dg, RPH_SEALED_JOIN, o->cookie);
        else
            return fail("unknown spoof mode");
        struct in_addr from = src;
        uint16_t fport = sport;
        if (o->net) {
            uint32_t r = randombytes_random();
            from.s_addr = htonl(net | (r & mask));
            fport = (uint16_t)(1024 + (r >> 16) % 60000);
        }
        size_t fl = frame(f, mac, from, fport, hp, hport, dg, n);
        if (sendto(fd, f, fl, 0, (struct sockaddr *)&sll, sizeof sll) < 0) {
            if (errno != ENOBUFS && errno != EAGAIN) return fail("sendto failed");
            continue;
        }
        sent++;
        bytes += fl - 14;
    }
    close(fd);
    printf("sent=%ld bytes=%llu seconds=%.2f\n", sent, bytes, mono_s() - t0);
    return 0;
}

static long drain_answers(int fd)
{
    long n = 0;
    uint8_t b[512];
    while (recv(fd, b, sizeof b, MSG_DONTWAIT) > 0)
        n++;
    return n;
}

static int hpx_real(const struct hpx_opts *o)
{
    if (!o->hp || !o->session) return fail("real needs -a HP:PORT and -S SESSION");
    struct sockaddr_in to = {.sin_family = AF_INET};
    uint16_t port = 0;
    if (!parse_v4(o->hp, &to.sin_addr, &port)) return fail("bad -a HP:PORT");
    to.sin_port = htons(port);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof to) < 0) return fail("socket");
    long count = o->count > 0 ? o->count : 1, sent = 0, answers = 0;
    if (count > HPX_MAX_COUNT) count = HPX_MAX_COUNT;
    double rate = o->rate > 0 ? o->rate : 1000, t0 = mono_s();
    uint8_t dg[64];
    size_t n = plain_request(dg, RPH_JOIN, o->session);
    for (long i = 0; i < count && pace(i, rate, t0); i++) {
        if (send(fd, dg, n, 0) == (ssize_t)n) sent++;
        answers += drain_answers(fd);
    }
    double secs = mono_s() - t0;
    double until = mono_s() + (o->wait_s > 0 ? o->wait_s : 0.5);
    while (mono_s() < until) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) > 0) answers += drain_answers(fd);
    }
    close(fd);
    printf("sent=%ld answers=%ld seconds=%.2f\n", sent, answers, secs);
    return 0;
}

size_t hpx_with_cookie(int fd, uint8_t *dg, size_t n)
{
    /* A server's SealedRegister names its node (the longer form); then the cookie, then, in the
     * timed forms, the sender's round trip (2 bytes, unsigned) go last. */
    size_t base = n >= RPH_OWNER_NODE_LEN ? RPH_OWNER_NODE_LEN : RPH_OWNER_LEN;
    size_t extra = n - base;
    if (n < RPH_OWNER_LEN || (extra != 0 && extra != RPH_COOKIE_LEN && extra != RPH_RTT_LEN &&
                              extra != RPH_COOKIE_LEN + RPH_RTT_LEN))
        return n;
    bool timed = extra == RPH_RTT_LEN || extra == RPH_COOKIE_LEN + RPH_RTT_LEN;
    uint8_t rtt[RPH_RTT_LEN] = {0};
    if (timed) memcpy(rtt, dg + n - RPH_RTT_LEN, RPH_RTT_LEN);
    /* Someone else's cookie (and round trip) off: the request as the peer first sent it. */
    rph_put16(dg, (uint16_t)base);
    if (send(fd, dg, base, 0) != (ssize_t)base) return n;
    uint8_t b[512];
    double until = mono_s() + 1.0;
    while (mono_s() < until) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) continue;
        ssize_t r = recv(fd, b, sizeof b, MSG_DONTWAIT);
        struct rph_msg m;
        if (r <= 0 || rph_wire_decode(b, (size_t)r, &m) != 0 || m.type != RPH_HP_COOKIE) continue;
        size_t len = base;
        memcpy(dg + len, m.hpc.cookie, RPH_COOKIE_LEN);
        len += RPH_COOKIE_LEN;
        if (timed) {
            memcpy(dg + len, rtt, RPH_RTT_LEN);
            len += RPH_RTT_LEN;
        }
        rph_put16(dg, (uint16_t)len);
        return len;
    }
    return base;
}

int cmd_hpx(int argc, char **argv)
{
    if (argc < 3) return fail("usage: rph_attack hpx spoof|real [options] (see the source)");
    struct hpx_opts o = {0};
    int c;
    optind = 3;
    while ((c = getopt(argc, argv, "i:M:a:m:s:N:S:n:r:w:c")) != -1) {
        switch (c) {
        case 'i':
            o.ifname = optarg;
            break;
        case 'M':
            o.mac = optarg;
            break;
        case 'a':
            o.hp = optarg;
            break;
        case 'm':
            o.mode = optarg;
            break;
        case 's':
            o.src = optarg;
            break;
        case 'N':
            o.net = optarg;
            break;
        case 'S':
            o.session = optarg;
            break;
        case 'n':
            o.count = atol(optarg);
            break;
        case 'r':
            o.rate = atof(optarg);
            break;
        case 'w':
            o.wait_s = atof(optarg);
            break;
        case 'c':
            o.cookie = true;
            break;
        default:
            return 2;
        }
    }
    if (strcmp(argv[2], "spoof") == 0) return hpx_spoof(&o);
    if (strcmp(argv[2], "real") == 0) return hpx_real(&o);
    return fail("unknown hpx command");
}
