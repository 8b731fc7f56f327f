// SPDX-License-Identifier: MIT
// Conversions between struct rph_addr, sockaddr and text.
#include "ruphin/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruphin/error.h"

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int rph_addr_from_sockaddr(struct rph_addr *a, const struct sockaddr *sa, socklen_t len)
{
    memset(a, 0, sizeof *a);
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        a->family = 4;
        memcpy(a->ip, &s4->sin_addr, 4);
        a->port = ntohs(s4->sin_port);
        return 0;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        if (memcmp(&s6->sin6_addr, v4mapped, 12) == 0) {
            a->family = 4;
            memcpy(a->ip, (const uint8_t *)&s6->sin6_addr + 12, 4);
        } else {
            a->family = 6;
            memcpy(a->ip, &s6->sin6_addr, 16);
        }
        a->port = ntohs(s6->sin6_port);
        return 0;
    }
    return RPH_E_INVALID;
}

socklen_t rph_addr_to_sockaddr(const struct rph_addr *a, struct sockaddr_storage *ss,
                               int want_family)
{
    memset(ss, 0, sizeof *ss);
    if (a->family == 4 && want_family != 6) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, a->ip, 4);
        s4->sin_port = htons(a->port);
        return sizeof *s4;
    }
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6;
    if (a->family == 4) {
        memcpy(&s6->sin6_addr, v4mapped, 12);
        memcpy((uint8_t *)&s6->sin6_addr + 12, a->ip, 4);
    } else {
        memcpy(&s6->sin6_addr, a->ip, 16);
    }
    s6->sin6_port = htons(a->port);
    return sizeof *s6;
}

bool rph_addr_equal(const struct rph_addr *a, const struct rph_addr *b)
{
    return a->family == b->family && a->port == b->port &&
           memcmp(a->ip, b->ip, a->family == 4 ? 4 : 16) == 0;
}

bool rph_addr_is_loopback(const struct rph_addr *a)
{
    static const uint8_t lo6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (a->family == 4) return a->ip[0] == 127;
    if (a->family == 6) return memcmp(a->ip, lo6, 16) == 0;
    return false;
}

int rph_addr_parse(const char *s, struct rph_addr *out)
{
    char host[64];
    const char *portstr;
    memset(out, 0, sizeof *out);
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof host)
            return RPH_E_INVALID;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = 0;
        if (inet_pton(AF_INET6, host, out->ip) != 1) return RPH_E_INVALID;
        out->family = 6;
        /* A mapped address is an IPv4 endpoint, as the kernel reports it. */
        if (memcmp(out->ip, v4mapped, 12) == 0) {
            memmove(out->ip, out->ip + 12, 4);
            memset(out->ip + 4, 0, 12);
            out->family = 4;
        }
        portstr = close + 2;
    } else {
        const char *colon = strchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof host) return RPH_E_INVALID;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = 0;
        if (inet_pton(AF_INET, host, out->ip) != 1) return RPH_E_INVALID;
        out->family = 4;
        portstr = colon + 1;
    }
    if (*portstr < '0' || *portstr > '9') return RPH_E_INVALID;
    char *end;
    unsigned long p = strtoul(portstr, &end, 10);
    if (*end || p > 65535) return RPH_E_INVALID;
    out->port = (uint16_t)p;
    return 0;
}

char *rph_addr_format(const struct rph_addr *a, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    if (a->family == 4) {
        inet_ntop(AF_INET, a->ip, ip, sizeof ip);
        snprintf(buf, cap, "%s:%u", ip, a->port);
    } else if (a->family == 6) {
        inet_ntop(AF_INET6, a->ip, ip, sizeof ip);
        snprintf(buf, cap, "[%s]:%u", ip, a->port);
    } else {
        snprintf(buf, cap, "(none)");
    }
    return buf;
}

uint32_t rph_addr_hash(const struct rph_addr *a)
{
    /* FNV-1a over the significant bytes: cheap and good enough for endpoint tables. */
    uint32_t h = 2166136261u;
    size_t n = a->family == 4 ? 4 : 16;
    for (size_t i = 0; i < n; i++)
        h = (h ^ a->ip[i]) * 16777619u;
    h = (h ^ (a->port & 0xff)) * 16777619u;
    h = (h ^ (a->port >> 8)) * 16777619u;
    return h ^ a->family;
}
