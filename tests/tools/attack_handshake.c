// SPDX-License-Identifier: MIT
// rph_attack hs: attacks on the sealed Noise handshake for tests/e2e/test_attacks_handshake.sh.
//
//   rph_attack hs replay -i IF -f FILE -F TEMPLATE [-n N] [-r PPS] [-T SEC]
//       Sends the ruphin datagram of FILE's first frame (a captured HandshakeInit) N times at
//       PPS out of IF, inside the Ethernet/IPv4/UDP headers of TEMPLATE's first frame (its own
//       frame: from where it came; another capture: from that capture's source). Prints
//       "sent=N seconds=S".
//   rph_attack hs member -i IF -F TEMPLATE -k KEYFILE [-S SESSION] [-T SEC]
//       A member: it has the session key but its own node key. It runs the handshake toward
//       the server inside TEMPLATE's headers (a captured init of a client: from the client's
//       endpoint), reads the server's answers on IF (it is on the path) and finishes. Prints
//       "response=0|1 finished=0|1": finished=1 when the server answered under the new keys.
//
// Every run is bounded: at most 200000 datagrams and 30 s.
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "attack_handshake.h"
#include "ruphin/noise.h"
#include "ruphin/seal.h"
#include "ruphin/wire.h"

#define HS_MAX_COUNT 200000L
#define HS_MAX_SECONDS 30.0
#define FRAME_CAP 2048
#define ETH 14
#define LABEL "ruphin-handshake-v1"

struct hframe {
    size_t len, payload; /* payload: offset of the UDP payload */
    uint8_t b[FRAME_CAP];
};

static int fail(const char *what)
{
    fprintf(stderr, "rph_attack hs: %s\n", what);
    return 2;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    wr16(p, (uint16_t)(v >> 16));
    wr16(p + 2, (uint16_t)v);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)be16(p) << 16 | be16(p + 2);
}

/* The UDP payload's offset in an Ethernet/IPv4/UDP frame, or 0. */
static size_t udp_payload(const uint8_t *f, size_t len)
{
    if (len < ETH + 28 || be16(f + 12) != ETHERTYPE_IP || (f[ETH] >> 4) != 4) return 0;
    size_t ihl = (size_t)(f[ETH] & 15) * 4;
    if (ihl < 20 || f[ETH + 9] != IPPROTO_UDP || ETH + ihl + 8 > len) return 0;
    return ETH + ihl + 8;
}

static bool load_first(const char *path, struct hframe *fr)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    uint32_t len;
    bool ok =
        fread(&len, sizeof len, 1, f) == 1 && len <= FRAME_CAP && fread(fr->b, 1, len, f) == len;
    fclose(f);
    fr->len = len;
    fr->payload = ok ? udp_payload(fr->b, len) : 0;
    return ok && fr->payload;
}

static uint32_t csum(uint32_t sum, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1) sum += (uint32_t)(p[n - 1] << 8);
    return sum;
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* tpl's headers around dg; the frame's length. */
static size_t frame_around(const struct hframe *tpl, const uint8_t *dg, size_t n, uint8_t *out)
{
    memcpy(out, tpl->b, tpl->payload);
    memcpy(out + tpl->payload, dg, n);
    uint8_t *ip = out + ETH, *udp = out + tpl->payload - 8;
    size_t ihl = (size_t)(udp - ip);
    wr16(ip + 2, (uint16_t)(ihl + 8 + n));
    wr16(ip + 4, (uint16_t)randombytes_random());
    wr16(ip + 10, 0);
    wr16(ip + 10, fold(csum(0, ip, ihl)));
    wr16(udp + 4, (uint16_t)(8 + n));
    wr16(udp + 6, 0);
    uint8_t pseudo[12];
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = IPPROTO_UDP;
    wr16(pseudo + 10, (uint16_t)(8 + n));
    uint16_t c = fold(csum(csum(0, pseudo, 12), udp, 8 + n));
    wr16(udp + 6, c ? c : 0xffff);
    return tpl->payload + n;
}

static int raw_socket(const char *ifname, const struct hframe *tpl, struct sockaddr_ll *sll)
{
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (fd < 0) return -1;
    memset(sll, 0, sizeof *sll);
    sll->sll_family = AF_PACKET;
    sll->sll_protocol = htons(ETH_P_ALL);
    sll->sll_ifindex = (int)if_nametoindex(ifname);
    sll->sll_halen = 6;
    memcpy(sll->sll_addr, tpl->b, 6);
    if (!sll->sll_ifindex || bind(fd, (struct sockaddr *)sll, sizeof *sll) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool send_dg(int fd, const struct sockaddr_ll *sll, const struct hframe *tpl,
                    const uint8_t *dg, size_t n)
{
    uint8_t out[FRAME_CAP];
    size_t fl = frame_around(tpl, dg, n, out);
    return sendto(fd, out, fl, 0, (const struct sockaddr *)sll, sizeof *sll) == (ssize_t)fl;
}

struct hs_opts {
    const char *ifname, *file, *tpl, *keyfile, *session;
    long count;
    double rate, max_s;
};

static int hs_replay(const struct hs_opts *o)
{
    struct hframe src, tpl;
    if (!o->ifname || !o->file || !o->tpl) return fail("replay needs -i IF, -f FILE, -F TEMPLATE");
    if (!load_first(o->file, &src) || !load_first(o->tpl, &tpl))
        return fail("a file has no IPv4/UDP frame");
    const uint8_t *dg = src.b + src.payload;
    size_t n = src.len - src.payload;
    struct sockaddr_ll sll;
    int fd = raw_socket(o->ifname, &tpl, &sll);
    if (fd < 0) return fail(strerror(errno));
    long count = o->count > 0 && o->count < HS_MAX_COUNT ? o->count : HS_MAX_COUNT;
    double rate = o->rate > 0 ? o->rate : 1000;
    double max_s = o->max_s > 0 && o->max_s < HS_MAX_SECONDS ? o->max_s : HS_MAX_SECONDS;
    double t0 = mono_s();
    long sent = 0;
    for (long i = 0; i < count; i++) {
        double ahead = (double)i / rate - (mono_s() - t0);
        if (ahead > 0) {
            struct timespec ts = {(time_t)ahead, (long)((ahead - (long)ahead) * 1e9)};
            nanosleep(&ts, NULL);
        }
        if (mono_s() - t0 > max_s) break;
        sent += send_dg(fd, &sll, &tpl, dg, n);
    }
    close(fd);
    printf("sent=%ld seconds=%.2f\n", sent, mono_s() - t0);
    return 0;
}

/* Waits on fd for a datagram of type whose receiver index is idx (at offset roff); copies it. */
static size_t await(int fd, enum rph_type type, size_t roff, uint32_t idx, double until,
                    uint8_t *out)
{
    uint8_t f[65536 + ETH];
    while (mono_s() < until) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) continue;
        ssize_t n = recv(fd, f, sizeof f, MSG_DONTWAIT);
        size_t off = n > 0 ? udp_payload(f, (size_t)n) : 0;
        if (!off || (size_t)n < off + RPH_HEADER_LEN) continue;
        const uint8_t *dg = f + off;
        size_t len = be16(dg);
        if (len > (size_t)n - off || len < roff + 4 || be16(dg + 2) != type) continue;
        if (rd32(dg + roff) != idx) continue;
        memcpy(out, dg, len);
        return len;
    }
    return 0;
}

static int hs_member(const struct hs_opts *o)
{
    struct hframe tpl;
    if (!o->ifname || !o->tpl || !o->keyfile)
        return fail("member needs -i IF, -F TEMPLATE, -k KEY");
    if (!load_first(o->tpl, &tpl)) return fail("the template has no IPv4/UDP frame");
    uint8_t key[RPH_KEY_LEN], s_sk[32], s_pk[32];
    char err[256];
    if (rph_key_load_file(o->keyfile, key, err, sizeof err) < 0) return fail(err);
    const char *session = o->session ? o->session : "office";
    struct rph_seal_keys k;
    if (rph_seal_derive(&k, key, session, strlen(session)) < 0) return fail("derive");
    rph_noise_keygen(s_sk, s_pk); /* a node key of its own */
    uint8_t prologue[sizeof LABEL - 1 + RPH_SESSION_MAX];
    memcpy(prologue, LABEL, sizeof LABEL - 1);
    memcpy(prologue + sizeof LABEL - 1, k.wire_session.id, RPH_SESSION_MAX);
    struct rph_noise_hs hs;
    if (rph_noise_init(&hs, RPH_NOISE_XXPSK0, true, prologue, sizeof prologue, s_sk, NULL,
                       k.noise_psk) < 0)
        return fail("noise init");
    uint32_t idx = randombytes_random();
    uint8_t m1[RPH_HS_INIT_LEN] = {0}, m2[RPH_HS_RESP_LEN], m3[RPH_HS_FINISH_LEN], pl[16];
    wr16(m1, RPH_HS_INIT_LEN);
    wr16(m1 + 2, RPH_HANDSHAKE_INIT);
    wr32(m1 + 4, idx);
    if (rph_noise_write_message(&hs, NULL, 0, m1 + 8, 48) != 48) return fail("noise write 1");
    struct sockaddr_ll sll;
    int fd = raw_socket(o->ifname, &tpl, &sll);
    if (fd < 0) return fail(strerror(errno));
    double max_s = o->max_s > 0 && o->max_s < HS_MAX_SECONDS ? o->max_s : 5;
    double end = mono_s() + max_s;
    size_t got = 0;
    while (!got && mono_s() < end) {
        send_dg(fd, &sll, &tpl, m1, sizeof m1);
        got = await(fd, RPH_HANDSHAKE_RESP, 8, idx, mono_s() + 0.3, m2);
    }
    bool finished = false;
    if (got == RPH_HS_RESP_LEN && rph_noise_read_message(&hs, m2 + 12, 96, pl, sizeof pl) == 0) {
        uint32_t theirs = rd32(m2 + 4);
        wr16(m3, RPH_HS_FINISH_LEN);
        wr16(m3 + 2, RPH_HANDSHAKE_FINISH);
        wr32(m3 + 4, theirs);
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        uint8_t ts[12];
        uint64_t s = 0x400000000000000aull + (uint64_t)now.tv_sec;
        wr32(ts, (uint32_t)(s >> 32));
        wr32(ts + 4, (uint32_t)s);
        wr32(ts + 8, (uint32_t)now.tv_nsec);
        uint8_t ka[64];
        if (rph_noise_write_message(&hs, ts, sizeof ts, m3 + 8, 76) == 76) {
            /* The server answers an accepted finish at once, under the new keys, to our index. */
            for (int i = 0; i < 3 && !finished; i++) {
                send_dg(fd, &sll, &tpl, m3, sizeof m3);
                finished = await(fd, RPH_TRANSPORT, 4, idx, mono_s() + 0.5, ka) > 0;
            }
        }
    }
    close(fd);
    rph_noise_wipe(&hs);
    printf("response=%d finished=%d\n", got > 0, finished);
    return 0;
}

int rph_attack_handshake(int argc, char **argv)
{
    if (argc < 2) return fail("usage: rph_attack hs replay|member [options] (see the source)");
    struct hs_opts o = {0};
    int c;
    optind = 2;
    while ((c = getopt(argc, argv, "i:f:F:k:S:n:r:T:")) != -1) {
        switch (c) {
        case 'i':
            o.ifname = optarg;
            break;
        case 'f':
            o.file = optarg;
            break;
        case 'F':
            o.tpl = optarg;
            break;
        case 'k':
            o.keyfile = optarg;
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
        case 'T':
            o.max_s = atof(optarg);
            break;
        default:
            return 2;
        }
    }
    if (strcmp(argv[1], "replay") == 0) return hs_replay(&o);
    if (strcmp(argv[1], "member") == 0) return hs_member(&o);
    return fail("unknown mode (replay, member)");
}
