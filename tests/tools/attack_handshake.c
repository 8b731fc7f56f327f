// SPDX-License-Identifier: MIT
// rph_attack hs: attacks on the sealed Noise handshake for tests/e2e/test_attacks_handshake.sh.
//
//   rph_attack hs replay -i IF -f FILE -F TEMPLATE [-n N] [-r PPS] [-T SEC]
//       Sends the ruphin datagram of FILE's first frame (a captured HandshakeInit) N times at
//       PPS out of IF, inside the Ethernet/IPv4/UDP headers of TEMPLATE's first frame (its own
//       frame: from where it came; another capture: from that capture's source). Prints
//       "sent=N seconds=S rate=R" (R: datagrams per second achieved). Sent in batches
//       (sendmmsg), so 20 000/s and more hold.
//       FILE may hold several captured inits: they are sent in turn.
//   rph_attack hs peerinfo -i IF -a IP:PORT -o FILE [-n N] [-P HP_PORT] [-T SEC]
//       The forged PeerInfo of a join: waits on IF for a client's Join or SealedJoin to the
//       holepuncher (UDP port HP_PORT, default 7700) and answers it at once, ahead of the real
//       answer, with PeerInfos from the holepuncher's address naming IP:PORT; then records the
//       first N HandshakeInits the client sends to IP:PORT into FILE (capture's format).
//       Prints "ready", "peerinfo sent", then "peerinfo=0|1 captured=N"; exit 0 when N came.
//   rph_attack hs forge -i IF -F TEMPLATE [-n N] [-r PPS] [-T SEC]
//       The same with forged HandshakeInits: random bytes of the right length and type (a
//       fresh random index, ephemeral, tag and mac2 each), which fail the session key's tag.
//   rph_attack hs member -i IF -F TEMPLATE -k KEYFILE [-S SESSION] [-T SEC]
//       A member: it has the session key but its own node key. It runs the handshake toward
//       the server inside TEMPLATE's headers (a captured init of a client: from the client's
//       endpoint), reads the server's answers on IF (it is on the path) and finishes. Prints
//       "response=0|1 finished=0|1": finished=1 when the server answered under the new keys.
//
// Every run is bounded: at most 1000000 datagrams and 30 s.
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
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "attack_handshake.h"
#include "ruphin/noise.h"
#include "ruphin/seal.h"
#include "ruphin/wire.h"

#define HS_MAX_COUNT 1000000L
#define HS_MAX_SECONDS 30.0
#define FRAME_CAP 2048
#define HS_BATCH 64
#define HS_FILE_FRAMES 64
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

/* Up to max frames of a capture file; how many (0 when it has none or a frame is no
 * IPv4/UDP one). */
static size_t load_all(const char *path, struct hframe *fr, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = 0;
    uint32_t len;
    while (n < max && fread(&len, sizeof len, 1, f) == 1 && len <= FRAME_CAP &&
           fread(fr[n].b, 1, len, f) == len) {
        fr[n].len = len;
        fr[n].payload = udp_payload(fr[n].b, len);
        if (!fr[n].payload) break;
        n++;
    }
    fclose(f);
    return n;
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
    const char *ifname, *file, *tpl, *keyfile, *session, *addr, *out;
    uint16_t hp_port;
    long count;
    double rate, max_s;
};

/* Sends n frames in one system call: at 20 000 a second one sendto each costs too much. */
static long send_batch(int fd, const struct sockaddr_ll *sll, uint8_t (*bufs)[FRAME_CAP],
                       const size_t *lens, unsigned n)
{
    struct mmsghdr mm[HS_BATCH];
    struct iovec iov[HS_BATCH];
    memset(mm, 0, sizeof mm);
    for (unsigned i = 0; i < n; i++) {
        iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = lens[i]};
        mm[i].msg_hdr.msg_name = (void *)sll;
        mm[i].msg_hdr.msg_namelen = sizeof *sll;
        mm[i].msg_hdr.msg_iov = &iov[i];
        mm[i].msg_hdr.msg_iovlen = 1;
    }
    int r = sendmmsg(fd, mm, n, 0);
    return r > 0 ? r : 0;
}

/* replay (forge false): FILE's datagram again and again; forge: each datagram a fresh
 * HandshakeInit of random bytes (right length and type, random index, random ephemeral, tag
 * and mac2), which fails the PSK's tag. Paced in batches, so rates of 20 000/s and more hold. */
static int hs_flood(const struct hs_opts *o, bool forge)
{
    static struct hframe src[HS_FILE_FRAMES];
    struct hframe tpl;
    size_t nsrc = 0;
    if (!o->ifname || !o->tpl || (!forge && !o->file))
        return fail(forge ? "forge needs -i IF, -F TEMPLATE"
                          : "replay needs -i IF, -f FILE, -F TEMPLATE");
    if ((!forge && !(nsrc = load_all(o->file, src, HS_FILE_FRAMES))) || !load_first(o->tpl, &tpl))
        return fail("a file has no IPv4/UDP frame");
    uint8_t dg[RPH_HS_INIT_LEN];
    struct sockaddr_ll sll;
    int fd = raw_socket(o->ifname, &tpl, &sll);
    if (fd < 0) return fail(strerror(errno));
    static uint8_t bufs[HS_BATCH][FRAME_CAP];
    size_t lens[HS_BATCH];
    long count = o->count > 0 && o->count < HS_MAX_COUNT ? o->count : HS_MAX_COUNT;
    double rate = o->rate > 0 ? o->rate : 1000;
    double max_s = o->max_s > 0 && o->max_s < HS_MAX_SECONDS ? o->max_s : HS_MAX_SECONDS;
    double t0 = mono_s(), t;
    long sent = 0, tried = 0;
    while (tried < count && (t = mono_s() - t0) < max_s) {
        long due = (long)(t * rate) + 1;
        if (due > count) due = count;
        if (due <= tried) {
            double ahead = (double)tried / rate - t;
            struct timespec ts = {0, (long)(ahead * 1e9)};
            if (ts.tv_nsec > 0) nanosleep(&ts, NULL);
            continue;
        }
        unsigned k = (unsigned)(due - tried < HS_BATCH ? due - tried : HS_BATCH);
        for (unsigned i = 0; i < k; i++) {
            if (forge) {
                randombytes_buf(dg, sizeof dg);
                wr16(dg, RPH_HS_INIT_LEN);
                wr16(dg + 2, RPH_HANDSHAKE_INIT);
                lens[i] = frame_around(&tpl, dg, sizeof dg, bufs[i]);
            } else {
                const struct hframe *f = &src[(size_t)(tried + i) % nsrc];
                lens[i] = frame_around(&tpl, f->b + f->payload, f->len - f->payload, bufs[i]);
            }
        }
        sent += send_batch(fd, &sll, bufs, lens, k);
        tried += k;
    }
    close(fd);
    double secs = mono_s() - t0;
    printf("sent=%ld seconds=%.2f rate=%.0f\n", sent, secs, secs > 0 ? (double)sent / secs : 0);
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

/* The reverse of a captured frame's headers (MACs, addresses and ports swapped): a template
 * for an answer "from" the frame's destination. */
static void reverse_headers(const struct hframe *in, struct hframe *out)
{
    *out = *in;
    memcpy(out->b, in->b + 6, 6);
    memcpy(out->b + 6, in->b, 6);
    memcpy(out->b + ETH + 12, in->b + ETH + 16, 4);
    memcpy(out->b + ETH + 16, in->b + ETH + 12, 4);
    memcpy(out->b + in->payload - 8, in->b + in->payload - 6, 2);
    memcpy(out->b + in->payload - 6, in->b + in->payload - 8, 2);
}

static size_t next_frame(int fd, double until, struct hframe *fr)
{
    while (mono_s() < until) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) continue;
        ssize_t n = recv(fd, fr->b, sizeof fr->b, MSG_DONTWAIT);
        if (n <= 0) continue;
        fr->len = (size_t)n;
        fr->payload = udp_payload(fr->b, fr->len);
        if (fr->payload && fr->len >= fr->payload + RPH_HEADER_LEN) return fr->len;
    }
    return 0;
}

/* hs peerinfo: waits on IF for a client's Join or SealedJoin to the holepuncher (UDP port
 * -P, default 7700), answers it at once with PeerInfos "from the holepuncher" naming -a
 * IP:PORT, ahead of the real one, then records up to -n frames of type HandshakeInit sent to
 * IP:PORT into -o FILE (rph_attack capture's format). */
static int hs_peerinfo(const struct hs_opts *o)
{
    if (!o->ifname || !o->addr || !o->out) return fail("peerinfo needs -i IF, -a IP:PORT, -o FILE");
    char host[64];
    const char *colon = strrchr(o->addr, ':');
    struct in_addr atk;
    if (!colon || (size_t)(colon - o->addr) >= sizeof host) return fail("bad -a IP:PORT");
    memcpy(host, o->addr, (size_t)(colon - o->addr));
    host[colon - o->addr] = 0;
    if (inet_pton(AF_INET, host, &atk) != 1) return fail("bad -a IP:PORT");
    uint16_t atk_port = (uint16_t)atoi(colon + 1), hp_port = o->hp_port ? o->hp_port : 7700;
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
    sll.sll_ifindex = (int)if_nametoindex(o->ifname);
    if (fd < 0 || !sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0)
        return fail(strerror(errno));
    FILE *out = fopen(o->out, "wb");
    if (!out) return fail(strerror(errno));
    printf("ready\n");
    fflush(stdout);
    double max_s = o->max_s > 0 && o->max_s < HS_MAX_SECONDS ? o->max_s : HS_MAX_SECONDS;
    double end = mono_s() + max_s;
    long want = o->count > 0 && o->count < HS_FILE_FRAMES ? o->count : 1, got = 0;
    bool answered = false;
    static struct hframe fr;
    while (got < want && next_frame(fd, end, &fr)) {
        const uint8_t *dg = fr.b + fr.payload;
        uint16_t type = be16(dg + 2), dport = be16(fr.b + fr.payload - 6);
        if (!answered && dport == hp_port && (type == RPH_JOIN || type == RPH_SEALED_JOIN)) {
            struct hframe tpl;
            reverse_headers(&fr, &tpl);
            struct rph_msg m = {.type = RPH_PEER_INFO};
            m.peer.family = 4;
            memcpy(m.peer.ip, &atk, 4);
            m.peer.port = atk_port;
            uint8_t pi[64];
            int n = rph_wire_encode(&m, pi, sizeof pi);
            if (n < 0) return fail("encode PeerInfo");
            sll.sll_halen = 6;
            memcpy(sll.sll_addr, tpl.b, 6);
            for (int i = 0; i < 3; i++)
                send_dg(fd, &sll, &tpl, pi, (size_t)n);
            answered = true;
            printf("peerinfo sent\n");
            fflush(stdout);
            continue;
        }
        if (!answered || type != RPH_HANDSHAKE_INIT || dport != atk_port ||
            memcmp(fr.b + ETH + 16, &atk, 4) != 0)
            continue;
        uint32_t len = (uint32_t)fr.len;
        if (fwrite(&len, sizeof len, 1, out) != 1 || fwrite(fr.b, 1, fr.len, out) != fr.len)
            return fail("write");
        fflush(out);
        got++;
    }
    fclose(out);
    close(fd);
    printf("peerinfo=%d captured=%ld\n", answered, got);
    return got >= want ? 0 : 1;
}

int rph_attack_handshake(int argc, char **argv)
{
    if (argc < 2)
        return fail("usage: rph_attack hs replay|forge|member|peerinfo [options] (see the source)");
    struct hs_opts o = {0};
    int c;
    optind = 2;
    while ((c = getopt(argc, argv, "i:f:F:k:S:n:r:T:a:o:P:")) != -1) {
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
        case 'a':
            o.addr = optarg;
            break;
        case 'o':
            o.out = optarg;
            break;
        case 'P':
            o.hp_port = (uint16_t)atoi(optarg);
            break;
        default:
            return 2;
        }
    }
    if (strcmp(argv[1], "replay") == 0) return hs_flood(&o, false);
    if (strcmp(argv[1], "forge") == 0) return hs_flood(&o, true);
    if (strcmp(argv[1], "member") == 0) return hs_member(&o);
    if (strcmp(argv[1], "peerinfo") == 0) return hs_peerinfo(&o);
    return fail("unknown mode (replay, forge, member, peerinfo)");
}
