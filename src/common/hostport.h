/* SPDX-License-Identifier: MIT */
/* "host:port" / "[v6]:port" parsing and name resolution for the daemons' configs. */
#ifndef RUPHIN_COMMON_HOSTPORT_H
#define RUPHIN_COMMON_HOSTPORT_H

#include <stddef.h>

#include "errmsg.h"
#include "ruphin/addr.h"

/* Splits "host:port", "[v6]:port"; host may be a name. 0, or -EINVAL with err saying why
 * (e.g. "missing \":port\""). */
int hostport_split(const char *s, char *host, size_t hostcap, unsigned *port, struct errmsg *err);
/* Checks a host name's syntax (RFC 1123 labels: 1..63 letters, digits, '-', '_' not at a
 * label's ends; 253 in all) without asking any resolver. 0, or -EINVAL with err saying why. */
int hostport_check_name(const char *host, struct errmsg *err);
/* Resolves (getaddrinfo, UDP: may block on DNS) to the first address; 0, or -EINVAL for a
 * malformed value (never looked up) or -EAGAIN for a well-formed name that does not resolve
 * now (whatever getaddrinfo said: it is in err), which a retry may cure. */
int hostport_resolve(const char *s, struct rph_addr *out, struct errmsg *err);

#endif
