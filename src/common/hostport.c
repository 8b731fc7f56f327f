// SPDX-License-Identifier: MIT
// Host:port parsing and resolution shared by the daemons.
#include "hostport.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

int hostport_split(const char *s, char *host, size_t hostcap, unsigned *port, struct errmsg *err)
{
    const char *colon;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return errmsg_fail(err, -EINVAL, "expected \"[address]:port\"");
        hlen = (size_t)(close - s - 1);
        s++;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) return errmsg_fail(err, -EINVAL, "missing \":port\"");
        if (memchr(s, ':', (size_t)(colon - s)))
            return errmsg_fail(err, -EINVAL, "an IPv6 address needs brackets: \"[address]:port\"");
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= hostcap)
        return errmsg_fail(err, -EINVAL, "%s", hlen == 0 ? "empty host" : "host name too long");
    memcpy(host, s, hlen);
    host[hlen] = 0;
    const char *p = colon + 1;
    char *end;
    if (*p < '0' || *p > '9') return errmsg_fail(err, -EINVAL, "port must be a number 1..65535");
    unsigned long v = strtoul(p, &end, 10);
    if (*end || v == 0 || v > 65535)
        return errmsg_fail(err, -EINVAL, "port must be a number 1..65535");
    *port = (unsigned)v;
    return 0;
}

int hostport_resolve(const char *s, struct rph_addr *out, struct errmsg *err)
{
    char host[256];
    unsigned port;
    int rc = hostport_split(s, host, sizeof host, &port, err);
    if (rc < 0) return rc;
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    int gai = getaddrinfo(host, NULL, &hints, &res);
    if (gai != 0 || !res)
        return errmsg_fail(err, -ENOENT, "%s", gai ? gai_strerror(gai) : "no address");
    int r = rph_addr_from_sockaddr(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (r < 0) return errmsg_fail(err, -EINVAL, "unsupported address family");
    out->port = (uint16_t)port;
    return 0;
}
