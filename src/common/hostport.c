// SPDX-License-Identifier: MIT
// Host:port parsing and resolution shared by the daemons.
#include "hostport.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>

int hostport_split(const char *s, char *host, size_t hostcap, unsigned *port, const char **why)
{
    const char *colon;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':') {
            *why = "expected \"[address]:port\"";
            return -1;
        }
        hlen = (size_t)(close - s - 1);
        s++;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) {
            *why = "missing \":port\"";
            return -1;
        }
        if (memchr(s, ':', (size_t)(colon - s))) {
            *why = "an IPv6 address needs brackets: \"[address]:port\"";
            return -1;
        }
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= hostcap) {
        *why = hlen == 0 ? "empty host" : "host name too long";
        return -1;
    }
    memcpy(host, s, hlen);
    host[hlen] = 0;
    const char *p = colon + 1;
    char *end;
    if (*p < '0' || *p > '9') {
        *why = "port must be a number 1..65535";
        return -1;
    }
    unsigned long v = strtoul(p, &end, 10);
    if (*end || v == 0 || v > 65535) {
        *why = "port must be a number 1..65535";
        return -1;
    }
    *port = (unsigned)v;
    return 0;
}

int hostport_resolve(const char *s, struct rph_addr *out, const char **why)
{
    char host[256];
    unsigned port;
    if (hostport_split(s, host, sizeof host, &port, why) < 0) return -1;
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        *why = rc ? gai_strerror(rc) : "no address";
        return -1;
    }
    int r = rph_addr_from_sockaddr(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (r < 0) {
        *why = "unsupported address family";
        return -1;
    }
    out->port = (uint16_t)port;
    return 0;
}
