// SPDX-License-Identifier: MIT
// LAN and IPv6 candidates: the tag 0x07 control message's codec and the local addresses it
// offers.
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

size_t lancand_encode_v2(const struct rph_addr *a, size_t n, uint8_t out[LANCAND_MAX_LEN])
{
    size_t k = 0, len = LANCAND_HDR_LEN;
    out[0] = LANCAND_TAG;
    out[1] = LANCAND_VERSION_V6;
    for (size_t i = 0; i < n && k < LANCAND_MAX; i++) {
        if (a[i].family != 4 && a[i].family != 6) continue;
        size_t alen = a[i].family == 4 ? 4 : 16;
        out[len] = a[i].family;
        memcpy(out + len + 1, a[i].ip, alen);
        out[len + 1 + alen] = (uint8_t)(a[i].port >> 8);
        out[len + 2 + alen] = (uint8_t)a[i].port;
        len += 3 + alen;
        k++;
    }
    out[2] = (uint8_t)k;
    return len;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
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
    else if (buf[1] != LANCAND_VERSION && buf[1] != LANCAND_VERSION_V6)
        w = "unknown version";
    else if (buf[2] > LANCAND_MAX)
        w = "more than 8 candidates";
    else if (buf[1] == LANCAND_VERSION &&
             len != LANCAND_HDR_LEN + (size_t)buf[2] * LANCAND_ENTRY_LEN)
        w = "length does not match the count";
    size_t off = LANCAND_HDR_LEN;
    for (size_t i = 0; !w && i < buf[2]; i++) {
        struct rph_addr *a = &out[i];
        memset(a, 0, sizeof *a);
        a->family = 4;
        if (buf[1] == LANCAND_VERSION_V6) {
            if (off >= len) {
                w = "length does not match the count";
                break;
            }
            a->family = buf[off++];
            if (a->family != 4 && a->family != 6) {
                w = "a candidate of unknown family";
                break;
            }
        }
        size_t alen = a->family == 4 ? 4 : 16;
        if (len - off < alen + 2) {
            w = "length does not match the count";
            break;
        }
        const uint8_t *e = buf + off;
        memcpy(a->ip, e, alen);
        a->port = (uint16_t)(e[alen] << 8 | e[alen + 1]);
        off += alen + 2;
        if (a->port == 0)
            w = "a candidate with port 0";
        else if (all_zero(e, alen))
            w = a->family == 4 ? "a candidate 0.0.0.0" : "a candidate ::";
    }
    if (!w && off != len) w = "length does not match the count";
    if (w) {
        if (why) *why = w;
        return -1;
    }
    *n = buf[2];
    return buf[1];
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

static bool in_prefix6(const uint8_t a[16], const uint8_t p[16], int prefix)
{
    if (prefix <= 0) return false;
    for (int bit = 0; bit < prefix && bit < 128; bit += 8) {
        int left = prefix - bit;
        uint8_t mask = left >= 8 ? 0xff : (uint8_t)(0xff << (8 - left));
        if ((a[bit / 8] & mask) != (p[bit / 8] & mask)) return false;
    }
    return true;
}

int lancand_local6(struct rph_addr out[LANCAND_MAX], uint16_t port, const char *skip_ifname,
                   const uint8_t *overlay6, int prefix6)
{
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) < 0) return -errno;
    int n = 0;
    for (struct ifaddrs *i = ifs; i && n < LANCAND_MAX; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET6) continue;
        if (!(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
        if (skip_ifname && strcmp(i->ifa_name, skip_ifname) == 0) continue;
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)i->ifa_addr;
        uint8_t ip[16];
        memcpy(ip, &sin6->sin6_addr, 16);
        /* Global unicast only: no link-local, ULA, multicast or mapped address. */
        if ((ip[0] & 0xe0) != 0x20) continue;
        if (overlay6 && in_prefix6(ip, overlay6, prefix6)) continue;
        struct rph_addr *a = &out[n];
        memset(a, 0, sizeof *a);
        a->family = 6;
        memcpy(a->ip, ip, 16);
        a->port = port;
        n++;
    }
    freeifaddrs(ifs);
    return n;
}
