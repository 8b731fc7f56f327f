// SPDX-License-Identifier: MIT
// LAN candidates: the tag 0x07 control message's codec and the local addresses it offers.
#include "lancand.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

size_t lancand_encode(const struct rph_addr *a, size_t n, uint8_t out[LANCAND_MAX_LEN])
{
    size_t k = 0;
    out[0] = LANCAND_TAG;
    out[1] = LANCAND_VERSION;
    for (size_t i = 0; i < n && k < LANCAND_MAX; i++) {
        if (a[i].family != 4) continue;
        uint8_t *e = out + LANCAND_HDR_LEN + k * LANCAND_ENTRY_LEN;
        memcpy(e, a[i].ip, 4);
        e[4] = (uint8_t)(a[i].port >> 8);
        e[5] = (uint8_t)a[i].port;
        k++;
    }
    out[2] = (uint8_t)k;
    return LANCAND_HDR_LEN + k * LANCAND_ENTRY_LEN;
}

int lancand_decode(const uint8_t *buf, size_t len, struct rph_addr out[LANCAND_MAX], size_t *n,
                   const char **why)
{
    const char *w = NULL;
    *n = 0;
    if (len < LANCAND_HDR_LEN)
        w = "shorter than its header";
    else if (buf[0] != LANCAND_TAG)
        w = "not tag 0x07";
    else if (buf[1] != LANCAND_VERSION)
        w = "unknown version";
    else if (buf[2] > LANCAND_MAX)
        w = "more than 8 candidates";
    else if (len != LANCAND_HDR_LEN + (size_t)buf[2] * LANCAND_ENTRY_LEN)
        w = "length does not match the count";
    for (size_t i = 0; !w && i < buf[2]; i++) {
        const uint8_t *e = buf + LANCAND_HDR_LEN + i * LANCAND_ENTRY_LEN;
        struct rph_addr *a = &out[i];
        memset(a, 0, sizeof *a);
        a->family = 4;
        memcpy(a->ip, e, 4);
        a->port = (uint16_t)(e[4] << 8 | e[5]);
        if (a->port == 0)
            w = "a candidate with port 0";
        else if (!e[0] && !e[1] && !e[2] && !e[3])
            w = "a candidate 0.0.0.0";
    }
    if (w) {
        if (why) *why = w;
        return -1;
    }
    *n = buf[2];
    return 0;
}

size_t lancand_drop_own(struct rph_addr *a, size_t n, const struct rph_addr *own, size_t n_own)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool mine = false;
        for (size_t j = 0; j < n_own && !mine; j++)
            mine = a[i].family == own[j].family && memcmp(a[i].ip, own[j].ip, sizeof a[i].ip) == 0;
        if (!mine) a[k++] = a[i];
    }
    return k;
}

static bool in_prefix(const uint8_t a[4], const uint8_t p[4], int prefix)
{
    uint32_t x = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
    uint32_t y = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    uint32_t mask = prefix <= 0 ? 0 : prefix >= 32 ? UINT32_MAX : ~(UINT32_MAX >> prefix);
    return prefix > 0 && (x & mask) == (y & mask);
}

int lancand_local(struct rph_addr out[LANCAND_MAX], uint16_t port, const char *skip_ifname,
                  const uint8_t overlay4[4], int prefix4)
{
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) < 0) return -errno;
    int n = 0;
    for (struct ifaddrs *i = ifs; i && n < LANCAND_MAX; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
        if (!(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
        if (skip_ifname && strcmp(i->ifa_name, skip_ifname) == 0) continue;
        const struct sockaddr_in *sin = (const struct sockaddr_in *)i->ifa_addr;
        uint8_t ip[4];
        memcpy(ip, &sin->sin_addr, 4);
        if (overlay4 && in_prefix(ip, overlay4, prefix4)) continue;
        struct rph_addr *a = &out[n];
        memset(a, 0, sizeof *a);
        a->family = 4;
        memcpy(a->ip, ip, 4);
        a->port = port;
        n++;
    }
    freeifaddrs(ifs);
    return n;
}
