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
/* Resolves (getaddrinfo, UDP: may block on DNS) to the first address; 0, or -EINVAL for a
 * malformed value or -ENOENT for a name that does not resolve, with err saying why. */
int hostport_resolve(const char *s, struct rph_addr *out, struct errmsg *err);

#endif
