/* SPDX-License-Identifier: MIT */
/* A NAT-PMP (RFC 6886) gateway for the e2e NAT test bed: answers on the router's LAN address and
 * installs each UDP mapping with nft (inbound DNAT and outbound SNAT of that one internal
 * endpoint, so the mapping holds both ways, as RFC 6886 asks). Debian's miniupnpd refuses the
 * reserved addresses the test bed uses, so this stands in for a home router's NAT-PMP.
 *
 *   natpmp_responder --lan 192.168.101.1 --wan 203.0.113.1 --table pmp [--lifetime-max S]
 *
 * The nft table (ip family) must exist with maps "in4" (typeof udp dport : ip daddr . udp dport)
 * and "out4" (typeof ip saddr . udp sport : ip saddr . udp sport) used by dnat/snat rules:
 * tests/e2e/nat_lib.sh's nat_pmp sets it up. Logs one line per request to stdout. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_MAPS 64

struct mapping {
    bool used;
    struct in_addr client;
    uint16_t priv, pub;
    time_t expires;
};

static struct mapping maps[MAX_MAPS];
static const char *table = "pmp";
static char wan_text[INET_ADDRSTRLEN];
static time_t started;
static volatile sig_atomic_t stop;

static void on_signal(int s)
{
    (void)s;
    stop = 1;
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

/* Runs one nft command on the mapping's elements; 0 on success. */
static int nft_elements(const char *verb, const struct mapping *m)
{
    char ip[INET_ADDRSTRLEN], cmd[512];
    inet_ntop(AF_INET, &m->client, ip, sizeof ip);
    snprintf(cmd, sizeof cmd,
             "nft %s element ip %s in4 '{ %u : %s . %u }' && "
             "nft %s element ip %s out4 '{ %s . %u : %s . %u }'",
             verb, table, m->pub, ip, m->priv, verb, table, ip, m->priv, wan_text, m->pub);
    int rc = system(cmd);
    return rc == 0 ? 0 : -1;
}

static struct mapping *find(struct in_addr c, uint16_t priv)
{
    for (int i = 0; i < MAX_MAPS; i++)
        if (maps[i].used && maps[i].client.s_addr == c.s_addr && maps[i].priv == priv)
            return &maps[i];
    return NULL;
}

static bool pub_taken(uint16_t pub)
{
    for (int i = 0; i < MAX_MAPS; i++)
        if (maps[i].used && maps[i].pub == pub) return true;
    return false;
}

static void unmap(struct mapping *m, const char *why)
{
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &m->client, ip, sizeof ip);
    if (nft_elements("delete", m) < 0) printf("error: nft could not delete %u\n", m->pub);
    printf("unmapped %s:%u <- %s:%u (%s)\n", ip, m->priv, wan_text, m->pub, why);
    m->used = false;
}

int main(int argc, char **argv)
{
    const char *lan = NULL, *wan = NULL;
    unsigned long lifetime_max = 7200;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--lan") && i + 1 < argc)
            lan = argv[++i];
        else if (!strcmp(argv[i], "--wan") && i + 1 < argc)
            wan = argv[++i];
        else if (!strcmp(argv[i], "--table") && i + 1 < argc)
            table = argv[++i];
        else if (!strcmp(argv[i], "--lifetime-max") && i + 1 < argc)
            lifetime_max = strtoul(argv[++i], NULL, 10);
        else {
            fprintf(
                stderr,
                "usage: natpmp_responder --lan IP --wan IP [--table NAME] [--lifetime-max S]\n");
            return 2;
        }
    }
    struct in_addr lan_a, wan_a;
    if (!lan || !wan || inet_pton(AF_INET, lan, &lan_a) != 1 ||
        inet_pton(AF_INET, wan, &wan_a) != 1 || lifetime_max == 0) {
        fprintf(stderr, "natpmp_responder: --lan and --wan must be IPv4 addresses\n");
        return 2;
    }
    for (const char *c = table; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_')) {
            fprintf(stderr, "natpmp_responder: --table must be [a-z0-9_]\n");
            return 2;
        }
    snprintf(wan_text, sizeof wan_text, "%s", wan);
    setvbuf(stdout, NULL, _IOLBF, 0);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(5351), .sin_addr = lan_a};
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        fprintf(stderr, "natpmp_responder: bind %s:5351: %s\n", lan, strerror(errno));
        return 1;
    }
    struct sigaction act = {.sa_handler = on_signal};
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    started = time(NULL);
    printf("listening on %s:5351, external address %s\n", lan, wan);
    while (!stop) {
        time_t now = time(NULL);
        for (int i = 0; i < MAX_MAPS; i++)
            if (maps[i].used && maps[i].expires <= now) unmap(&maps[i], "expired");
        uint8_t req[64], resp[16];
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(fd, req, sizeof req, 0, (struct sockaddr *)&from, &fl);
        if (n < 0) continue;
        memset(resp, 0, sizeof resp);
        uint32_t epoch = (uint32_t)(now - started);
        if (n < 2 || req[0] != 0) {
            printf("ignored a malformed request (%zd bytes)\n", n);
            continue;
        }
        uint8_t op = req[1];
        resp[1] = (uint8_t)(128 + op);
        wr32(resp + 4, epoch);
        size_t rlen = 8;
        if (op == 0 && n >= 2) {
            memcpy(resp + 8, &wan_a, 4);
            rlen = 12;
            printf("public address request: %s\n", wan);
        } else if ((op == 1 || op == 2) && n >= 12) {
            uint16_t priv = rd16(req + 4), want = rd16(req + 6);
            uint32_t life = rd32(req + 8);
            wr16(resp + 8, priv);
            rlen = 16;
            struct mapping *m = find(from.sin_addr, priv);
            if (op == 2) {
                wr16(resp + 2, 5); /* unsupported opcode: this gateway maps UDP only */
            } else if (life == 0) {
                if (m) unmap(m, "deleted by the client");
            } else {
                if (life > lifetime_max) life = (uint32_t)lifetime_max;
                if (!m) {
                    uint16_t pub = want ? want : priv;
                    while (pub_taken(pub) || pub < 1024)
                        pub = (uint16_t)(pub < 1024 ? 40000 : pub + 1);
                    for (int i = 0; i < MAX_MAPS && !m; i++)
                        if (!maps[i].used) m = &maps[i];
                    if (m) {
                        *m = (struct mapping){true, from.sin_addr, priv, pub, 0};
                        if (nft_elements("add", m) < 0) {
                            m->used = false;
                            m = NULL;
                        }
                    }
                }
                if (!m) {
                    wr16(resp + 2, 4); /* out of resources */
                    printf("refused a mapping of port %u\n", priv);
                } else {
                    m->expires = now + (time_t)life;
                    wr16(resp + 10, m->pub);
                    wr32(resp + 12, life);
                    char ip[INET_ADDRSTRLEN];
                    inet_ntop(AF_INET, &m->client, ip, sizeof ip);
                    printf("mapped %s:%u <- %s:%u for %u s\n", ip, priv, wan, m->pub, life);
                }
            }
        } else {
            wr16(resp + 2, 5);
            printf("unsupported opcode %u\n", op);
        }
        sendto(fd, resp, rlen, 0, (struct sockaddr *)&from, fl);
    }
    for (int i = 0; i < MAX_MAPS; i++)
        if (maps[i].used) unmap(&maps[i], "responder stopping");
    return 0;
}
