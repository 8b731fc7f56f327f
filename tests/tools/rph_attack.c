// SPDX-License-Identifier: MIT
// rph_attack: captures and forges hostile ruphin datagrams for tests/e2e/test_attacks.sh.
//
//   rph_attack capture -i IF -o FILE [-s SRC] [-d DST] [-t TYPE] [-l MINLEN] [-n N] [-w SEC]
//       Records up to N IPv4/UDP frames seen on IF (AF_PACKET, both directions) whose payload
//       is a well-formed ruphin datagram of TYPE (GSO super-frames are split into datagrams).
//       Prints "ready" once listening. Exit 0 when N were captured, 1 on timeout.
//   rph_attack inject -i IF -f FILE -m MODE [-n N] [-r PPS] [-T SEC] [-S SESSION] [-a IP:PORT -p K]
//       Sends N frames out of IF built on FILE's frames (first one = template: MACs, IPs,
//       ports), the UDP checksum always recomputed. MODE: replay, tamper, forge-init,
//       garbage-transport, bad-index, flood, empty (toward a peer); peerinfo (naming
//       IP:PORT..+K-1), hp-join (toward a holepuncher). Prints "sent=N" and what the victim should
//       count.
//   rph_attack hs replay|forge|member|peerinfo ...
//       Attacks on the sealed handshake: tests/tools/attack_handshake.c.
//   rph_attack sid -f FILE
//       Prints the 20-byte wire session ID (hex) of a captured SealedRegister/SealedJoin.
//   rph_attack hp -a IP:PORT -m MODE [--id HEX] [-f FILE] [-n N] [-r PPS] [-w SEC] [-x EXPECT]
//       Talks to a holepuncher from an ordinary UDP socket. MODE: register-plain, join-plain,
//       register-forged, join-forged, register-replay, join-replay, hello, flood. Prints
//       "answers=N"; with -x none|some exits 1 unless that many answers came.
//
// Every flood is bounded: at most 200000 datagrams and 10 s, whatever the options say.
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "attack_holepuncher.h"
#include "attack_handshake.h"
#include "ruphin/noise.h"
#include "ruphin/seal.h"
#include "ruphin/wire.h"

#define MAX_COUNT 200000L
#define MAX_SECONDS 10.0
#define MAX_FRAMES 4096
#define FRAME_MAX 2048
#define ETH_LEN 14

struct opts {
    const char *ifname, *file, *out, *mode, *src, *dst, *addr, *id_hex, *session, *expect;
    int type, min_len, spread;
    long count;
    double rate, max_s, wait_s;
};

struct frame {
    size_t len;
    uint8_t b[FRAME_MAX];
};

/* Offsets of the parts of an Ethernet/IPv4/UDP frame. */
struct udpv4 {
    size_t ip, udp, payload, payload_len;
    uint32_t saddr, daddr;
    uint16_t sport, dport;
};

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "rph_attack: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t rnd32(void)
{
    return randombytes_random();
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* ---------------------------------------------------------------- frames */

static bool parse_udpv4(const uint8_t *f, size_t len, struct udpv4 *u)
{
    if (len < ETH_LEN + 20 + 8 || get_be16(f + 12) != ETHERTYPE_IP) return false;
    const uint8_t *ip = f + ETH_LEN;
    size_t ihl = (size_t)(ip[0] & 15) * 4;
    if ((ip[0] >> 4) != 4 || ihl < 20 || ip[9] != IPPROTO_UDP) return false;
    if (get_be16(ip + 6) & 0x3fff) return false; /* a fragment */
    size_t tot = get_be16(ip + 2);
    if (tot < ihl + 8 || ETH_LEN + tot > len) return false;
    const uint8_t *udp = ip + ihl;
    size_t ulen = get_be16(udp + 4);
    if (ulen < 8 || ulen > tot - ihl) return false;
    u->ip = ETH_LEN;
    u->udp = ETH_LEN + ihl;
    u->payload = u->udp + 8;
    u->payload_len = ulen - 8;
    memcpy(&u->saddr, ip + 12, 4);
    memcpy(&u->daddr, ip + 16, 4);
    u->sport = get_be16(udp);
    u->dport = get_be16(udp + 2);
    return true;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1) sum += (uint32_t)(p[n - 1] << 8);
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Builds a frame from the template's headers around a new payload; returns its length. */
static size_t build_frame(const struct frame *tpl, const uint8_t *payload, size_t plen,
                          uint8_t *out)
{
    struct udpv4 u;
    if (!parse_udpv4(tpl->b, tpl->len, &u)) die("%s", "template is not an IPv4/UDP frame");
    if (u.payload + plen > FRAME_MAX) plen = FRAME_MAX - u.payload;
    memcpy(out, tpl->b, u.payload);
    memmove(out + u.payload, payload, plen);
    uint8_t *ip = out + u.ip, *udp = out + u.udp;
    size_t ihl = u.udp - u.ip;
    put_be16(ip + 2, (uint16_t)(ihl + 8 + plen));
    put_be16(ip + 4, (uint16_t)rnd32());
    put_be16(ip + 10, 0);
    put_be16(ip + 10, csum_fold(csum_add(0, ip, ihl)));
    put_be16(udp + 4, (uint16_t)(8 + plen));
    put_be16(udp + 6, 0);
    uint8_t pseudo[12];
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = IPPROTO_UDP;
    put_be16(pseudo + 10, (uint16_t)(8 + plen));
    uint16_t c = csum_fold(csum_add(csum_add(0, pseudo, 12), udp, 8 + plen));
    put_be16(udp + 6, c ? c : 0xffff);
    return u.payload + plen;
}

static size_t load_frames(const char *path, struct frame *fr, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open %s", path);
    size_t n = 0;
    uint32_t len;
    while (n < max && fread(&len, sizeof len, 1, f) == 1) {
        if (len > FRAME_MAX || fread(fr[n].b, 1, len, f) != len) break;
        fr[n].len = len;
        n++;
    }
    fclose(f);
    if (n == 0) die("no frames in %s", path);
    return n;
}

/* The ruphin datagram inside a captured frame (decoded), or false. */
static bool frame_msg(const struct frame *fr, struct rph_msg *m, const uint8_t **dg, size_t *dlen)
{
    struct udpv4 u;
    if (!parse_udpv4(fr->b, fr->len, &u)) return false;
    *dg = fr->b + u.payload;
    *dlen = u.payload_len;
    return rph_wire_decode(*dg, *dlen, m) == 0;
}

/* ---------------------------------------------------------------- capture */

static int cmd_capture(const struct opts *o)
{
    if (!o->ifname || !o->out) die("%s", "capture needs -i IF and -o FILE");
    struct in_addr src = {0}, dst = {0};
    if (o->src && inet_pton(AF_INET, o->src, &src) != 1) die("bad -s %s", o->src);
    if (o->dst && inet_pton(AF_INET, o->dst, &dst) != 1) die("bad -d %s", o->dst);
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (fd < 0) die("socket(AF_PACKET): %s", strerror(errno));
    int rcv = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv);
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
    sll.sll_ifindex = (int)if_nametoindex(o->ifname);
    if (!sll.sll_ifindex) die("no interface %s", o->ifname);
    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) die("bind: %s", strerror(errno));
    FILE *out = fopen(o->out, "wb");
    if (!out) die("cannot write %s", o->out);
    printf("ready\n");
    fflush(stdout);

    long want = o->count > 0 ? o->count : 1, got = 0;
    double deadline = now_s() + (o->wait_s > 0 && o->wait_s < 60 ? o->wait_s : 10);
    /* Room for a whole UDP GSO super-frame: on the bridge, a peer's batch of datagrams
     * (one length, the last maybe shorter) still travels as one frame. */
    static uint8_t big[ETH_LEN + 65536];
    struct frame fr;
    while (got < want) {
        int left = (int)((deadline - now_s()) * 1000);
        if (left <= 0) break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, left) <= 0) continue;
        ssize_t n = recv(fd, big, sizeof big, MSG_DONTWAIT);
        struct udpv4 u;
        if (n <= 0 || !parse_udpv4(big, (size_t)n, &u)) continue;
        if (o->src && u.saddr != src.s_addr) continue;
        if (o->dst && u.daddr != dst.s_addr) continue;
        /* Each ruphin datagram in it becomes a frame of its own, with the same headers. */
        for (size_t off = 0; off + RPH_HEADER_LEN <= u.payload_len && got < want;) {
            const uint8_t *dg = big + u.payload + off;
            size_t dlen = get_be16(dg);
            struct rph_msg m;
            if (dlen < RPH_HEADER_LEN || off + dlen > u.payload_len ||
                u.payload + dlen > FRAME_MAX || rph_wire_decode(dg, dlen, &m) != 0)
                break;
            off += dlen;
            if (o->type && (int)m.type != o->type) continue;
            if ((long)dlen < o->min_len) continue;
            memcpy(fr.b, big, u.payload);
            memcpy(fr.b + u.payload, dg, dlen);
            fr.len = u.payload + dlen;
            put_be16(fr.b + u.ip + 2, (uint16_t)(u.payload - u.ip + dlen));
            put_be16(fr.b + u.udp + 4, (uint16_t)(8 + dlen));
            uint32_t len = (uint32_t)fr.len;
            fwrite(&len, sizeof len, 1, out);
            fwrite(fr.b, 1, fr.len, out);
            if (got == 0) {
                char sa[INET_ADDRSTRLEN], da[INET_ADDRSTRLEN];
                inet_ntop(AF_INET, &u.saddr, sa, sizeof sa);
                inet_ntop(AF_INET, &u.daddr, da, sizeof da);
                printf("first: type %d, %s:%u -> %s:%u, %zu bytes\n", (int)m.type, sa, u.sport, da,
                       u.dport, dlen);
            }
            got++;
        }
    }
    fclose(out);
    close(fd);
    printf("captured=%ld\n", got);
    return got >= want ? 0 : 1;
}

/* ---------------------------------------------------------------- inject */

/* What the victim should count for what was sent (ruphinctl status drop reasons). */
struct expect {
    long sent, malformed, no_key, auth_failed, unexpected, replayed, uncounted;
};

static void add_expect(struct expect *e, const struct expect *one)
{
    e->malformed += one->malformed;
    e->no_key += one->no_key;
    e->auth_failed += one->auth_failed;
    e->unexpected += one->unexpected;
    e->replayed += one->replayed;
    e->uncounted += one->uncounted;
}

static size_t fill_random(uint8_t *p, size_t n)
{
    randombytes_buf(p, n);
    return n;
}

/* A Transport datagram with the given receiver, counter and n bytes of random sealed data. */
static size_t forge_transport(uint8_t *dg, uint32_t receiver, uint64_t counter, size_t n)
{
    uint8_t body[1500];
    if (n < RPH_TAG_LEN) n = RPH_TAG_LEN;
    if (n > sizeof body) n = sizeof body;
    fill_random(body, n);
    struct rph_msg m = {.type = RPH_TRANSPORT, .data = body, .data_len = n};
    m.tr.receiver = receiver;
    m.tr.counter = counter;
    int r = rph_wire_encode(&m, dg, 1600);
    return r > 0 ? (size_t)r : 0;
}

/* A genuine HandshakeInit (Noise_XXpsk0 message 1) made with a key that is not the session's. */
static size_t forge_init(uint8_t *dg, const char *session)
{
    uint8_t key[RPH_KEY_LEN], s_sk[32], s_pk[32];
    struct rph_seal_keys k;
    rph_key_generate(key);
    if (rph_seal_derive(&k, key, session, strlen(session)) < 0) die("%s", "rph_seal_derive failed");
    rph_noise_keygen(s_sk, s_pk);
    uint8_t prologue[sizeof "ruphin-handshake-v1" - 1 + RPH_SESSION_MAX];
    memcpy(prologue, "ruphin-handshake-v1", sizeof "ruphin-handshake-v1" - 1);
    memcpy(prologue + sizeof "ruphin-handshake-v1" - 1, k.wire_session.id, RPH_SESSION_MAX);
    struct rph_noise_hs hs;
    if (rph_noise_init(&hs, RPH_NOISE_XXPSK0, true, prologue, sizeof prologue, s_sk, NULL,
                       k.noise_psk) < 0)
        die("%s", "rph_noise_init failed");
    put_be16(dg, RPH_HS_INIT_LEN);
    put_be16(dg + 2, RPH_HANDSHAKE_INIT);
    uint32_t idx = rnd32();
    memcpy(dg + 4, &idx, 4);
    if (rph_noise_write_message(&hs, NULL, 0, dg + 8, 48) != 48) die("%s", "noise write failed");
    memset(dg + 56, 0, 16);
    return RPH_HS_INIT_LEN;
}

/* One datagram of the garbage flood at a tunnel peer; says what the peer should count. */
static size_t flood_datagram(uint8_t *dg, uint32_t good_index, long i, struct expect *e)
{
    size_t n;
    struct rph_msg m = {0};
    switch (i % 9) {
    case 0: /* random bytes whose length field lies (the empty datagram has its own mode) */
        n = 1 + rnd32() % 1399;
        fill_random(dg, n);
        if (n >= 2) put_be16(dg, (uint16_t)(n + 1 + rnd32() % 100));
        e->malformed++;
        return n;
    case 1: /* a type nobody knows */
        n = 4 + rnd32() % 64;
        fill_random(dg, n);
        put_be16(dg, (uint16_t)n);
        put_be16(dg + 2, (uint16_t)(1000 + rnd32() % 64000));
        e->malformed++;
        return n;
    case 2: /* a Transport too short to hold its header and tag */
        n = 4 + rnd32() % (RPH_TRANSPORT_HEADER_LEN + RPH_TAG_LEN - 4);
        fill_random(dg, n);
        put_be16(dg, (uint16_t)n);
        put_be16(dg + 2, RPH_TRANSPORT);
        e->malformed++;
        return n;
    case 3: /* a receiver index nobody gave out */
        e->no_key++;
        return forge_transport(dg, rnd32(), rnd32(), 16 + rnd32() % 1400);
    case 4: /* the real receiver index, a fresh counter, garbage ciphertext */
        e->auth_failed++;
        return forge_transport(dg, good_index, (1ull << 40) + rnd32(), 16 + rnd32() % 1400);
    case 5: /* a HandshakeInit of random bytes: its tag under the PSK fails */
        fill_random(dg, RPH_HS_INIT_LEN);
        put_be16(dg, RPH_HS_INIT_LEN);
        put_be16(dg + 2, RPH_HANDSHAKE_INIT);
        e->auth_failed++;
        return RPH_HS_INIT_LEN;
    case 6: /* a HandshakeResp to a server */
        fill_random(dg, RPH_HS_RESP_LEN);
        put_be16(dg, RPH_HS_RESP_LEN);
        put_be16(dg + 2, RPH_HANDSHAKE_RESP);
        e->unexpected++;
        return RPH_HS_RESP_LEN;
    case 7: /* plaintext Data, which a sealed peer never takes */
        n = rnd32() % 1400;
        fill_random(dg + 4, n);
        put_be16(dg, (uint16_t)(n + 4));
        put_be16(dg + 2, RPH_DATA);
        e->unexpected++;
        return n + 4;
    default: /* a PeerInfo from a peer, not from the holepuncher */
        m.type = RPH_PEER_INFO;
        m.peer.family = 4;
        m.peer.ip[0] = 203, m.peer.ip[1] = 0, m.peer.ip[2] = 113, m.peer.ip[3] = 99;
        m.peer.port = 4444;
        e->unexpected++;
        return (size_t)rph_wire_encode(&m, dg, 64);
    }
}

static int cmd_inject(const struct opts *o)
{
    if (!o->ifname || !o->file || !o->mode) die("%s", "inject needs -i IF, -f FILE and -m MODE");
    static struct frame fr[MAX_FRAMES];
    size_t nfr = load_frames(o->file, fr, MAX_FRAMES);
    struct rph_msg tm;
    const uint8_t *tdg;
    size_t tlen;
    if (!frame_msg(&fr[0], &tm, &tdg, &tlen)) die("%s", "first frame is no ruphin datagram");
    uint32_t good_index = tm.type == RPH_TRANSPORT ? tm.tr.receiver : rnd32();

    int fd = socket(AF_PACKET, SOCK_RAW, 0);
    if (fd < 0) die("socket(AF_PACKET): %s", strerror(errno));
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP)};
    sll.sll_ifindex = (int)if_nametoindex(o->ifname);
    if (!sll.sll_ifindex) die("no interface %s", o->ifname);
    sll.sll_halen = 6;
    memcpy(sll.sll_addr, fr[0].b, 6);

    long count = o->count > 0 ? o->count : 1;
    if (count > MAX_COUNT) count = MAX_COUNT;
    double rate = o->rate > 0 ? o->rate : 20000, max_s = o->max_s > 0 ? o->max_s : MAX_SECONDS;
    if (max_s > MAX_SECONDS) max_s = MAX_SECONDS;
    const char *session = o->session ? o->session : "office";
    struct rph_addr pi_target = {0};
    if (o->addr) {
        char host[64];
        snprintf(host, sizeof host, "%s", o->addr);
        char *colon = strrchr(host, ':');
        if (!colon) die("bad -a %s", o->addr);
        *colon = 0;
        pi_target.family = 4;
        pi_target.port = (uint16_t)atoi(colon + 1);
        if (inet_pton(AF_INET, host, pi_target.ip) != 1) die("bad -a %s", o->addr);
    }
    struct expect e = {0};
    double t0 = now_s();
    uint8_t dg[FRAME_MAX], out[FRAME_MAX];
    long i;
    for (i = 0; i < count; i++) {
        if ((i & 63) == 0) {
            double ahead = (double)i / rate - (now_s() - t0);
            if (ahead > 0) {
                struct timespec ts = {(time_t)ahead, (long)((ahead - (long)ahead) * 1e9)};
                nanosleep(&ts, NULL);
            }
            if (now_s() - t0 > max_s) break;
        }
        const struct frame *src = &fr[(size_t)i % nfr];
        struct expect one = {0};
        struct rph_msg m;
        const uint8_t *sdg;
        size_t slen, n;
        if (!frame_msg(src, &m, &sdg, &slen)) die("%s", "a captured frame is no ruphin datagram");
        if (strcmp(o->mode, "replay") == 0) {
            /* The genuine datagram, byte for byte. */
            memcpy(dg, sdg, slen);
            n = slen;
            if (m.type == RPH_TRANSPORT)
                one.replayed++;
            else
                one.uncounted++;
        } else if (strcmp(o->mode, "tamper") == 0) {
            /* One bit flipped in the sealed part, and a counter the window has not seen (else
             * the replay check, which comes first, would take it). */
            if (m.type != RPH_TRANSPORT) die("%s", "tamper needs captured Transport frames");
            memcpy(dg, sdg, slen);
            n = slen;
            put_be64(dg + 8, get_be64(dg + 8) + (1ull << 40) + (uint64_t)i);
            size_t sealed = n - RPH_TRANSPORT_HEADER_LEN;
            dg[RPH_TRANSPORT_HEADER_LEN + (size_t)i % sealed] ^= (uint8_t)(1u << (i % 8));
            one.auth_failed++;
        } else if (strcmp(o->mode, "forge-init") == 0) {
            n = forge_init(dg, session);
            one.auth_failed++;
        } else if (strcmp(o->mode, "garbage-transport") == 0) {
            n = forge_transport(dg, good_index, (1ull << 41) + (uint64_t)i, 16 + rnd32() % 1400);
            one.auth_failed++;
        } else if (strcmp(o->mode, "bad-index") == 0) {
            uint32_t idx;
            do
                idx = rnd32();
            while (idx == good_index);
            n = forge_transport(dg, idx, (uint64_t)i, 16 + rnd32() % 200);
            one.no_key++;
        } else if (strcmp(o->mode, "flood") == 0) {
            n = flood_datagram(dg, good_index, i, &one);
        } else if (strcmp(o->mode, "empty") == 0) {
            n = 0; /* a UDP datagram with no payload at all */
            one.malformed++;
        } else if (strcmp(o->mode, "peerinfo") == 0) {
            /* A PeerInfo "from the holepuncher" (the template's source) naming -a IP:PORT,
             * the port stepping through -p distinct values. */
            m = (struct rph_msg){.type = RPH_PEER_INFO};
            m.peer = pi_target;
            m.peer.port = (uint16_t)(pi_target.port + (uint16_t)(i % (o->spread ? o->spread : 1)));
            n = (size_t)rph_wire_encode(&m, dg, sizeof dg);
            one.uncounted++;
        } else if (strcmp(o->mode, "hp-join") == 0) {
            /* Toward a holepuncher: a plaintext Join of a random session, which costs the
             * (spoofed) source one token of its Register/Join budget. */
            m = (struct rph_msg){.type = RPH_JOIN};
            m.session.len = RPH_SESSION_MAX;
            fill_random(m.session.id, RPH_SESSION_MAX);
            n = (size_t)rph_wire_encode(&m, dg, sizeof dg);
            one.uncounted++;
        } else {
            die("unknown inject mode %s", o->mode);
        }
        size_t fl = build_frame(&fr[0], dg, n, out);
        if (sendto(fd, out, fl, 0, (struct sockaddr *)&sll, sizeof sll) < 0) {
            if (errno != ENOBUFS && errno != EAGAIN) die("sendto: %s", strerror(errno));
            /* Not sent, so not expected to be counted: back off a little. */
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
            continue;
        }
        add_expect(&e, &one);
        e.sent++;
    }
    close(fd);
    printf("sent=%ld malformed=%ld no_key=%ld auth_failed=%ld unexpected=%ld replayed=%ld "
           "uncounted=%ld seconds=%.2f\n",
           e.sent, e.malformed, e.no_key, e.auth_failed, e.unexpected, e.replayed, e.uncounted,
           now_s() - t0);
    return 0;
}

/* ---------------------------------------------------------------- sid */

static int cmd_sid(const struct opts *o)
{
    if (!o->file) die("%s", "sid needs -f FILE");
    static struct frame fr[4];
    load_frames(o->file, fr, 4);
    struct rph_msg m;
    const uint8_t *dg;
    size_t dlen;
    if (!frame_msg(&fr[0], &m, &dg, &dlen)) die("%s", "no ruphin datagram in the file");
    uint8_t id[RPH_SESSION_MAX];
    size_t n;
    if (m.type == RPH_SEALED_REGISTER || m.type == RPH_SEALED_JOIN) {
        crypto_generichash(id, RPH_SESSION_MAX, m.owner.pk, 32, NULL, 0);
        n = RPH_SESSION_MAX;
    } else if (m.type == RPH_REGISTER_ACK || m.type == RPH_REGISTER || m.type == RPH_JOIN) {
        n = m.session.len;
        memcpy(id, m.session.id, n);
    } else {
        die("%s", "need a SealedRegister, SealedJoin or RegisterAck");
    }
    for (size_t i = 0; i < n; i++)
        printf("%02x", id[i]);
    printf("\n");
    return 0;
}

/* ---------------------------------------------------------------- hp */

static size_t hex_decode(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (hex[0] && hex[1] && n < cap) {
        unsigned v;
        if (sscanf(hex, "%2x", &v) != 1) die("bad hex %s", hex);
        out[n++] = (uint8_t)v;
        hex += 2;
    }
    return n;
}

/* A SealedRegister/SealedJoin naming the session's public key but signed by another key. */
static size_t forge_owner(uint8_t *dg, enum rph_type type, const uint8_t pk[32])
{
    uint8_t apk[32], ask[64];
    crypto_sign_keypair(apk, ask);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct rph_msg m = {.type = type};
    memcpy(m.owner.pk, pk, 32);
    m.owner.ts_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    if (rph_wire_encode(&m, dg, RPH_OWNER_LEN) != RPH_OWNER_LEN) die("%s", "encode failed");
    crypto_sign_detached(dg + RPH_OWNER_LEN - 64, NULL, dg, RPH_OWNER_LEN - 64, ask);
    return RPH_OWNER_LEN;
}

/* Holepuncher flood: mostly garbage, some Register/Join of random sessions (rate limited). */
static size_t hp_flood_datagram(uint8_t *dg, long i, long *malformed)
{
    struct rph_msg m = {0};
    size_t n;
    switch (i % 6) {
    case 0:
    case 1: /* random bytes whose length field lies */
        n = rnd32() % 1400;
        fill_random(dg, n);
        if (n >= 2) put_be16(dg, (uint16_t)(n + 1 + rnd32() % 100));
        ++*malformed;
        return n;
    case 2: /* a type nobody knows */
        n = 4 + rnd32() % 200;
        fill_random(dg, n);
        put_be16(dg, (uint16_t)n);
        put_be16(dg + 2, (uint16_t)(1000 + rnd32() % 64000));
        ++*malformed;
        return n;
    case 3:
        m.type = RPH_REGISTER;
        break;
    case 4:
        m.type = RPH_JOIN;
        break;
    default: /* a SealedRegister of random bytes: bad signature (or stale clock) */
        fill_random(dg, RPH_OWNER_LEN);
        put_be16(dg, RPH_OWNER_LEN);
        put_be16(dg + 2, RPH_SEALED_REGISTER);
        return RPH_OWNER_LEN;
    }
    m.session.len = RPH_SESSION_MAX;
    fill_random(m.session.id, RPH_SESSION_MAX);
    return (size_t)rph_wire_encode(&m, dg, 64);
}

static long drain(int fd, long *by_type)
{
    long n = 0;
    uint8_t b[2048];
    for (;;) {
        ssize_t r = recv(fd, b, sizeof b, MSG_DONTWAIT);
        if (r < 0) break;
        n++;
        if (r >= 4 && get_be16(b + 2) < 16) by_type[get_be16(b + 2)]++;
    }
    return n;
}

static int cmd_hp(const struct opts *o)
{
    if (!o->addr || !o->mode) die("%s", "hp needs -a IP:PORT and -m MODE");
    char host[64];
    snprintf(host, sizeof host, "%s", o->addr);
    char *colon = strrchr(host, ':');
    if (!colon) die("bad -a %s", o->addr);
    *colon = 0;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &to.sin_addr) != 1) die("bad -a %s", o->addr);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof to) < 0)
        die("socket: %s", strerror(errno));

    uint8_t dg[FRAME_MAX];
    size_t n = 0;
    const char *md = o->mode;
    bool flood = strcmp(md, "flood") == 0;
    if (strcmp(md, "register-plain") == 0 || strcmp(md, "join-plain") == 0) {
        if (!o->id_hex) die("%s", "needs --id HEX");
        struct rph_msg m = {.type = md[0] == 'r' ? RPH_REGISTER : RPH_JOIN};
        m.session.len = (uint8_t)hex_decode(o->id_hex, m.session.id, RPH_SESSION_MAX);
        n = (size_t)rph_wire_encode(&m, dg, sizeof dg);
    } else if (strcmp(md, "register-forged") == 0 || strcmp(md, "join-forged") == 0 ||
               strcmp(md, "register-replay") == 0 || strcmp(md, "join-replay") == 0) {
        if (!o->file) die("%s", "needs -f FILE (a captured SealedRegister or SealedJoin)");
        static struct frame fr[4];
        load_frames(o->file, fr, 4);
        struct rph_msg m;
        const uint8_t *cdg;
        size_t clen;
        if (!frame_msg(&fr[0], &m, &cdg, &clen) ||
            (m.type != RPH_SEALED_REGISTER && m.type != RPH_SEALED_JOIN))
            die("%s: no SealedRegister/SealedJoin", o->file);
        if (strstr(md, "replay")) {
            memcpy(dg, cdg, clen);
            n = clen;
        } else {
            n = forge_owner(dg, md[0] == 'r' ? RPH_SEALED_REGISTER : RPH_SEALED_JOIN, m.owner.pk);
        }
        /* Sealed requests need holepuncherd's cookie first, as a peer gets it. */
        n = hpx_with_cookie(fd, dg, n);
    } else if (strcmp(md, "hello") == 0) {
        struct rph_msg m = {.type = RPH_HELLO_REQ};
        n = (size_t)rph_wire_encode(&m, dg, sizeof dg);
    } else if (!flood) {
        die("unknown hp mode %s", md);
    }

    long answers = 0, by_type[16] = {0}, sent = 0, malformed = 0, mal_one;
    long count = flood ? (o->count > 0 ? o->count : 1) : 1;
    if (count > MAX_COUNT) count = MAX_COUNT;
    double rate = o->rate > 0 ? o->rate : 20000, t0 = now_s(), secs;
    for (long i = 0; i < count; i++) {
        if ((i & 63) == 0) {
            double ahead = (double)i / rate - (now_s() - t0);
            if (ahead > 0) {
                struct timespec ts = {(time_t)ahead, (long)((ahead - (long)ahead) * 1e9)};
                nanosleep(&ts, NULL);
            }
            if (now_s() - t0 > MAX_SECONDS) break;
            answers += drain(fd, by_type);
        }
        mal_one = 0;
        if (flood) n = hp_flood_datagram(dg, i, &mal_one);
        if (send(fd, dg, n, 0) < 0) {
            if (errno != ECONNREFUSED && errno != ENOBUFS && errno != EAGAIN)
                die("send: %s", strerror(errno));
            continue;
        }
        sent++;
        malformed += mal_one;
    }
    secs = now_s() - t0;
    /* Answers may still be on the way. */
    double until = now_s() + (o->wait_s > 0 ? o->wait_s : 1.0);
    while (now_s() < until) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int left = (int)((until - now_s()) * 1000);
        if (left > 0 && poll(&pfd, 1, left) > 0) answers += drain(fd, by_type);
    }
    answers += drain(fd, by_type);
    close(fd);
    printf("sent=%ld answers=%ld register_ack=%ld peer_info=%ld not_found=%ld hello_resp=%ld "
           "malformed=%ld seconds=%.2f\n",
           sent, answers, by_type[RPH_REGISTER_ACK], by_type[RPH_PEER_INFO],
           by_type[RPH_SESSION_NOT_FOUND], by_type[RPH_HELLO_RESP], malformed, secs);
    if (o->expect && strcmp(o->expect, "none") == 0) return answers == 0 ? 0 : 1;
    if (o->expect && strcmp(o->expect, "some") == 0) return answers > 0 ? 0 : 1;
    return 0;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: rph_attack capture|inject|sid|hp [options] (see the source)\n");
        return 2;
    }
    if (sodium_init() < 0 || rph_seal_init() < 0) die("%s", "libsodium init failed");
    if (strcmp(argv[1], "hpx") == 0) return cmd_hpx(argc, argv); /* its own options */
    if (strcmp(argv[1], "hs") == 0) return rph_attack_handshake(argc - 1, argv + 1);
    static const struct option lo[] = {{"id", required_argument, NULL, 'I'}, {0, 0, 0, 0}};
    struct opts o = {0};
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "i:f:o:m:s:d:a:S:x:t:l:n:r:T:w:p:", lo, NULL)) != -1) {
        switch (c) {
        case 'i':
            o.ifname = optarg;
            break;
        case 'f':
            o.file = optarg;
            break;
        case 'o':
            o.out = optarg;
            break;
        case 'm':
            o.mode = optarg;
            break;
        case 's':
            o.src = optarg;
            break;
        case 'd':
            o.dst = optarg;
            break;
        case 'a':
            o.addr = optarg;
            break;
        case 'S':
            o.session = optarg;
            break;
        case 'x':
            o.expect = optarg;
            break;
        case 'I':
            o.id_hex = optarg;
            break;
        case 't':
            o.type = atoi(optarg);
            break;
        case 'l':
            o.min_len = atoi(optarg);
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
        case 'w':
            o.wait_s = atof(optarg);
            break;
        case 'p':
            o.spread = atoi(optarg);
            break;
        default:
            return 2;
        }
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "capture") == 0) return cmd_capture(&o);
    if (strcmp(cmd, "inject") == 0) return cmd_inject(&o);
    if (strcmp(cmd, "sid") == 0) return cmd_sid(&o);
    if (strcmp(cmd, "hp") == 0) return cmd_hp(&o);
    die("unknown command %s", cmd);
    return 2;
}
