// SPDX-License-Identifier: MIT
// Host:port parsing and resolution shared by the daemons.
#include "hostport.h"

#include <errno.h>
#include <stdbool.h>
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

int hostport_check_name(const char *host, struct errmsg *err)
{
    size_t len = strlen(host);
    if (len > 253) return errmsg_fail(err, -EINVAL, "a host name has at most 253 characters");
    size_t label = 0;
    for (size_t i = 0; i <= len; i++) {
        char ch = host[i];
        if (ch == '.' || ch == 0) {
            /* One trailing dot (an absolute name) is fine; an empty label elsewhere is not. */
            if (label == 0 && !(ch == 0 && i > 0 && host[i - 1] == '.'))
                return errmsg_fail(err, -EINVAL, "empty label in host name \"%s\"", host);
            if (label > 63)
                return errmsg_fail(err, -EINVAL,
                                   "a label of host name \"%.64s...\" is longer "
                                   "than 63 characters",
                                   host);
            if (label && (host[i - 1] == '-' || host[i - label] == '-'))
                return errmsg_fail(err, -EINVAL,
                                   "a label of host name \"%s\" starts or ends "
                                   "with '-'",
                                   host);
            label = 0;
            continue;
        }
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
        if (!ok)
            return errmsg_fail(err, -EINVAL,
                               "host name \"%s\" holds '%c'; letters, digits, "
                               "'-', '_' and '.' only",
                               host, ch);
        label++;
    }
    return 0;
}

int hostport_resolve(const char *s, struct rph_addr *out, struct errmsg *err)
{
    char host[256];
    unsigned port;
    int rc = hostport_split(s, host, sizeof host, &port, err);
    if (rc < 0) return rc;
    /* A numeric address never reaches the syntax check (getaddrinfo takes it as is). */
    struct rph_addr numeric;
    if (rph_addr_parse(s, &numeric) < 0 && (rc = hostport_check_name(host, err)) < 0) return rc;
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    int gai = getaddrinfo(host, NULL, &hints, &res);
    /* Every failure of a well-formed name may pass: no network yet (EAI_AGAIN), no resolver
     * reachable, or a name not published yet (EAI_NONAME); the caller decides to retry. */
    if (gai != 0 || !res)
        return errmsg_fail(err, -EAGAIN, "%s",
                           gai == EAI_SYSTEM ? strerror(errno)
                           : gai             ? gai_strerror(gai)
                                             : "no address");
    int r = rph_addr_from_sockaddr(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (r < 0) return errmsg_fail(err, -EINVAL, "unsupported address family");
    out->port = (uint16_t)port;
    return 0;
}
